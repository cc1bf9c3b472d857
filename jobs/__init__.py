"""Background work: what webhooks, the collector and the schedule hand over, run inline or on Celery.

`submit_changes` is the one door for real-time work: webhook receivers call it with verified,
parsed `sync.changes.Change`s. Without ``CELERY_BROKER_URL`` the work runs in the serving process on
one background thread (the request answers at once, as it must for a vendor's webhook timeout);
with it, on a Celery worker (`jobs.celery`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sync.changes import Change

log = logging.getLogger("canary.jobs")

QUEUE_KEY = "canary.jobs"


class InlineQueue:
    """Runs submitted work in order on one thread of this process (no broker needed)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="canary-jobs")
        self._lock = threading.Lock()
        self._pending: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future = self._pool.submit(fn, *args)
        future.add_done_callback(_log_failure)
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()] + [future]
        return future

    def drain(self, timeout: float = 60.0) -> None:
        """Wait for everything submitted so far (tests; a clean shutdown)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout=timeout)


def _log_failure(future: Future[Any]) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("background job failed: %s: %s", type(exc).__name__, exc)


def queue_of(app: Any) -> InlineQueue:
    queue = app.extensions.get(QUEUE_KEY)
    if queue is None:
        queue = app.extensions[QUEUE_KEY] = InlineQueue()
    assert isinstance(queue, InlineQueue)
    return queue


def submit_changes(app: Any, tenant_id: int, changes: Sequence[Change]) -> int:
    """Hand verified changes of one workspace over for processing; returns how many were handed over."""
    if not changes:
        return 0
    from sync.realtime import process_changes_for_app

    queue_of(app).submit(process_changes_for_app, app, tenant_id, [c.as_dict() for c in changes])
    return len(changes)
