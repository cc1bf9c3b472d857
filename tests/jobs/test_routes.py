"""Queues by kind and partitions by workspace, checked on a real Redis without a worker: what `submit`
sends lands in its kind's (and workspace's partition's) queue, and `canary worker` consumes the queues asked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from jobs import submit
from jobs.worker import LEGACY_QUEUE, TASK_QUEUES, celery, configure, queue_name, worker_queues
from tests.redis_server import redis_server
from tests.shared import pinned_clock

SECRET = "routes-test-secret-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    with pinned_clock():
        yield


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    with redis_server() as url:
        yield url


def make_app(broker_url: str, partitions: int) -> Any:
    from app import create_app

    return create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": SECRET, "CELERY_BROKER_URL": broker_url,
                       "JOB_PARTITIONS": partitions, "TESTING": True})


def queued(url: str) -> dict[str, list[str]]:
    """Per queue (a Redis list), the task names waiting in it, oldest first (kombu pushes at the head and
    takes from the tail)."""
    import json

    client = redis.Redis.from_url(url)
    out: dict[str, list[str]] = {}
    for key in sorted(client.keys("canary*")):
        if client.type(key) == b"list":
            out[key.decode()] = [json.loads(m)["headers"]["task"] for m in reversed(client.lrange(key, 0, -1))]
    return out


def test_each_kind_goes_to_its_own_queue(broker: str) -> None:
    redis.Redis.from_url(broker).flushall()
    app = make_app(broker, 1)
    configure(app)
    submit(app, "refresh", 5)
    submit(app, "sync", 5, system="hubspot")
    submit(app, "score", 6, history_days=30)
    submit(app, "push", 7, system="zendesk")
    submit(app, "changes", 8, changes=[])
    submit(app, "send", 9)
    assert queued(broker) == {"canary.changes": ["canary.changes"], "canary.push": ["canary.push"],
                              "canary.score": ["canary.score"], "canary.send": ["canary.send"],
                              "canary.sync": ["canary.refresh", "canary.sync"]}


def test_partitions_split_each_kind_by_workspace_id(broker: str) -> None:
    redis.Redis.from_url(broker).flushall()
    app = make_app(broker, 3)
    configure(app)
    for tenant_id in (3, 4, 5, 6):
        submit(app, "refresh", tenant_id)
    submit(app, "push", 7, system="hubspot")
    assert queued(broker) == {"canary.push.1": ["canary.push"], "canary.sync.0": ["canary.refresh", "canary.refresh"],
                              "canary.sync.1": ["canary.refresh"], "canary.sync.2": ["canary.refresh"]}
    # the schedule's fan-outs name no workspace: partition 0 of their kind
    assert celery.amqp.router.route({}, "canary.rescore_all", args=(), kwargs={})["queue"].name == "canary.score.0"
    assert celery.amqp.router.route({}, "canary.send", args=(5,), kwargs={})["queue"].name == "canary.send.2"
    assert celery.amqp.router.route({}, "canary.send_due", args=(), kwargs={})["queue"].name == "canary.send.0"
    configure(make_app(broker, 1))


def test_every_canary_task_has_a_kind() -> None:
    import jobs.worker  # noqa: F401 - registers the tasks

    names = sorted(n for n in celery.tasks if n.startswith("canary."))
    assert names == sorted(TASK_QUEUES)


def test_worker_queues_and_bad_input() -> None:
    assert worker_queues() == ["canary.changes", "canary.sync", "canary.score", "canary.push", "canary.send",
                               LEGACY_QUEUE]
    assert worker_queues(["changes"]) == ["canary.changes"]
    assert worker_queues(["sync", "push"], partitions=4, only=[3, 1]) == [
        "canary.sync.1", "canary.sync.3", "canary.push.1", "canary.push.3"]
    assert worker_queues(partitions=2)[-1] == LEGACY_QUEUE and len(worker_queues(partitions=2)) == 11
    assert queue_name("score", 10, 4) == "canary.score.2"
    with pytest.raises(ValueError, match="queue kinds must be among changes, sync, score, push, send, not webhook"):
        worker_queues(["webhook"])
    with pytest.raises(ValueError, match=r"partitions must be between 0 and 3 \(JOB_PARTITIONS = 4\)"):
        worker_queues(partitions=4, only=[4])
    with pytest.raises(ValueError, match="JOB_PARTITIONS is 1"):
        worker_queues(only=[1])
    with pytest.raises(ValueError, match="JOB_PARTITIONS must be 1 or more"):
        queue_name("sync", 1, 0)


def test_canary_worker_consumes_the_queues_asked(broker: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.jobs import worker

    started: list[list[str]] = []
    monkeypatch.setattr(celery, "worker_main", lambda argv: started.append(argv), raising=False)
    app = make_app(broker, 4)
    runner = app.test_cli_runner()
    result = runner.invoke(worker, ["--queues", "sync,push", "--partitions", "2"])
    assert result.exit_code == 0, result.output
    argv = started[0]
    assert argv[argv.index("--queues") + 1] == "canary.sync.2,canary.push.2"

    result = runner.invoke(worker, ["--queues", "campaigns"])
    assert result.exit_code == 2
    assert "queue kinds must be among changes, sync, score, push, send, not campaigns" in result.output
    result = runner.invoke(worker, ["--partitions", "x"])
    assert result.exit_code == 2 and "not a number" in result.output
    assert len(started) == 1
    configure(make_app(broker, 1))
