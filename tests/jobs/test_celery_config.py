"""Messages go to Canary's queue whatever set the broker URL first (no worker or broker needed)."""

from __future__ import annotations

from typing import Any

import pytest

from jobs import worker


def test_a_broker_url_from_the_environment_still_gets_canarys_queue(
        app_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "redis://127.0.0.1:1/0"
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    app = app_factory(CELERY_BROKER_URL=url)
    # As in a serving process where Celery read CELERY_BROKER_URL from the environment by itself.
    monkeypatch.setattr(worker, "_configured_for", [])
    monkeypatch.setitem(worker.celery.conf, "broker_url", url)
    monkeypatch.setitem(worker.celery.conf, "task_default_queue", "celery")
    celery = worker.celery_for(app)
    assert celery.conf.task_default_queue == "canary"
    assert celery.conf.task_acks_late is True
    assert worker._configured_for == [url]
