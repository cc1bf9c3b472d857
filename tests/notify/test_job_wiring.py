"""The notify job's wiring: a known job kind, the Celery task on the send queue, and the beat round every minute."""

from __future__ import annotations

import pytest

from jobs import KINDS, submit
from jobs.worker import SCHEDULE, TASK_QUEUES, celery, route


def test_notify_is_a_job_kind_with_a_task_a_queue_and_a_minute_round() -> None:
    assert "notify" in KINDS
    assert "canary.notify" in celery.tasks and "canary.notify_all" in celery.tasks
    assert TASK_QUEUES["canary.notify"] == TASK_QUEUES["canary.notify_all"] == "send"
    assert route("canary.notify", [7], {}, {}) == {"queue": "canary.send"}
    assert SCHEDULE["notify every workspace"] == {"task": "canary.notify_all", "schedule": 60.0}


def test_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"job kind must be one of .*notify.*, not 'notfy'"):
        submit(object(), "notfy", 1)
