"""The in-process queue (`jobs.InlineQueue`): `drain` waits for every job whose effects can already be seen."""

from __future__ import annotations

import threading
import time
from typing import Any

from jobs import InlineQueue


def test_drain_waits_for_a_job_that_started_before_its_submitter_returned() -> None:
    """A job submitted from another thread (a coalescing timer) may start before `submit` returns; a
    `drain` called as soon as the job's first effect shows must still wait for the job to finish."""
    queue = InlineQueue()
    real_submit = queue._pool.submit

    def slow_submit(fn: Any, *args: Any) -> Any:
        future = real_submit(fn, *args)
        time.sleep(0.2)  # the submitting thread descheduled right after the job was handed to the pool
        return future

    queue._pool.submit = slow_submit  # type: ignore[method-assign, assignment]
    started, finished = threading.Event(), threading.Event()

    def job() -> None:
        started.set()
        time.sleep(0.05)
        finished.set()

    submitter = threading.Thread(target=queue.submit, args=(job,))
    submitter.start()
    assert started.wait(5)
    queue.drain(timeout=5)
    assert finished.is_set()
    submitter.join()
