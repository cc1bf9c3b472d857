"""Accept, then fold (`collector.inbox`): the answer comes before the fold, duplicates are told at once, a fold is
all or nothing and happens once, whoever runs it — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select

import collector.ingest
import jobs
from collector.inbox import decode_messages, encode_messages, fold_pending, pending_batches
from collector.messages import parse_batch
from extensions import canary_store
from scoring import default_model
from store.models import CollectedMessage, CollectorInbox, ProductUser, UsageDaily
from sync.health import score_tenant
from tests.collector.conftest import group, post, track
from tests.shared import WORLD_NOW


@contextmanager
def fold_held(app: Any) -> Iterator[None]:
    """The inline queue busy until the block ends: the folds the requests queue wait behind it."""
    release = threading.Event()
    jobs.queue_of(app).submit(release.wait, 60)
    try:
        yield
    finally:
        release.set()
        jobs.queue_of(app).drain()


def _usage(app: Any) -> list[tuple[str, str, int]]:
    with canary_store(app).session(app.config["TEST_TENANT"]) as s:
        return sorted((u, e, c) for u, e, c in s.execute(select(UsageDaily.user_key, UsageDaily.event,
                                                                UsageDaily.count)))


def _inbox(app: Any) -> list[int]:
    with canary_store(app).session(app.config["TEST_TENANT"]) as s:
        return list(s.scalars(select(CollectorInbox.messages).order_by(CollectorInbox.id)))


def test_the_answer_comes_before_the_fold_and_the_fold_stores_the_usage(collector_app: Any) -> None:
    client = collector_app.test_client()
    batch = {"batch": [group("acct-1", "ann", name="Acme"), track("t1", "ann", "Report Created", "acct-1"),
                       track("t2", "ann", "Report Created", "acct-1")]}
    with fold_held(collector_app):
        answer = post(client, "/v1/batch", batch, drain=False)
        assert answer.status_code == 200
        assert answer.get_json() == {"success": True, "accepted": 3, "duplicates": 0, "rejected": [],
                                     "rejectedCount": 0}
        assert _inbox(collector_app) == [3]
        assert _usage(collector_app) == []
        with canary_store(collector_app).session(collector_app.config["TEST_TENANT"]) as s:
            assert s.scalar(select(func.count()).select_from(CollectedMessage)) == 3
            assert s.scalar(select(func.count()).select_from(ProductUser)) == 0
    assert _inbox(collector_app) == []
    assert _usage(collector_app) == [("ann", "Report Created", 2)]


def test_a_resent_batch_is_counted_as_duplicates_before_the_first_is_folded(collector_app: Any) -> None:
    client = collector_app.test_client()
    first = {"batch": [track(f"m{i}", "bob", "Logged In", "acct-2") for i in range(3)]}
    again = {"batch": [track("m0", "bob", "Logged In", "acct-2"), track("m2", "bob", "Logged In", "acct-2"),
                       track("m9", "bob", "Logged In", "acct-2")]}
    with fold_held(collector_app):
        assert post(client, "/v1/batch", first, drain=False).get_json()["accepted"] == 3
        body = post(client, "/v1/batch", again, drain=False).get_json()
        assert (body["accepted"], body["duplicates"]) == (1, 2)
        assert _inbox(collector_app) == [3, 1]
    assert _usage(collector_app) == [("bob", "Logged In", 4)]


def test_a_user_placed_by_a_batch_not_folded_yet_is_not_rejected(collector_app: Any) -> None:
    """The request that cannot place a user folds what is pending first, as a request after that fold would."""
    client = collector_app.test_client()
    with fold_held(collector_app):
        assert post(client, "/v1/batch", {"batch": [group("acct-3", "cy", name="Cy Co")]},
                    drain=False).get_json()["accepted"] == 1
        body = post(client, "/v1/batch", {"batch": [track("late-1", "cy", "Logged In")]}, drain=False).get_json()
        assert (body["accepted"], body["rejectedCount"]) == (1, 0)
        stranger = post(client, "/v1/batch", {"batch": [track("late-2", "nobody", "Logged In")]},
                        drain=False).get_json()
        assert stranger["rejected"][0]["errors"] == {"groupId": [
            "cannot tell which account this user belongs to: send context.groupId or a group call for the user first"]}
    assert _usage(collector_app) == [("cy", "Logged In", 1)]


def test_a_fold_that_fails_midway_loses_nothing_and_the_next_folds_once(collector_app: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    client = collector_app.test_client()
    store = canary_store(collector_app)
    tenant = collector_app.config["TEST_TENANT"]
    real = collector.ingest._store_usage
    calls: list[int] = []

    def failing(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 2:  # the second batch of the fold
            raise RuntimeError("the database went away")
        real(*args)

    with fold_held(collector_app):
        for n in range(3):
            post(client, "/v1/batch", {"batch": [track(f"f{n}-{i}", "dee", "Data Exported", "acct-4")
                                                 for i in range(n + 1)]}, drain=False)
        monkeypatch.setattr(collector.ingest, "_store_usage", failing)
        with pytest.raises(RuntimeError, match="went away"):
            fold_pending(store, tenant)
        assert _inbox(collector_app) == [1, 2, 3]
        assert _usage(collector_app) == []
        monkeypatch.setattr(collector.ingest, "_store_usage", real)
        folded = fold_pending(store, tenant)
        assert (folded.batches, folded.messages) == (3, 6)
        assert fold_pending(store, tenant).batches == 0
    assert _usage(collector_app) == [("dee", "Data Exported", 6)]


def test_folds_racing_over_the_same_inbox_fold_each_batch_once(collector_app: Any) -> None:
    client = collector_app.test_client()
    store = canary_store(collector_app)
    tenant = collector_app.config["TEST_TENANT"]
    racers = 4
    folded: list[int] = []
    with fold_held(collector_app):
        for n in range(8):
            post(client, "/v1/batch", {"batch": [group(f"acct-r{n % 2}", f"user-{n}", name=f"Racer {n % 2}"),
                                                 *(track(f"r{n}-{i}", f"user-{n}", "Logged In", f"acct-r{n % 2}")
                                                   for i in range(5))]}, drain=False)
        assert pending_batches(store, tenant) == 8
        barrier = threading.Barrier(racers)

        def fold() -> None:
            barrier.wait(timeout=30)
            folded.append(fold_pending(store, tenant, rows=1).batches)

        threads = [threading.Thread(target=fold) for _ in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert sum(folded) == 8 and len(folded) == racers
    assert _usage(collector_app) == sorted((f"user-{n}", "Logged In", 5) for n in range(8))
    with store.session(tenant) as s:
        assert s.scalar(select(func.count()).select_from(ProductUser)) == 8


def test_a_score_run_folds_what_the_collector_accepted_first(collector_app: Any) -> None:
    client = collector_app.test_client()
    store = canary_store(collector_app)
    tenant = collector_app.config["TEST_TENANT"]
    with fold_held(collector_app):
        post(client, "/v1/batch", {"batch": [group("acct-5", "eve", name="Eve Inc"),
                                             track("s1", "eve", "Logged In", "acct-5")]}, drain=False)
        assert _inbox(collector_app) == [2]
        score_tenant(store, tenant, default_model(), WORLD_NOW.date())
        assert _inbox(collector_app) == []
        assert _usage(collector_app) == [("eve", "Logged In", 1)]
    assert _usage(collector_app) == [("eve", "Logged In", 1)]


def test_collector_fold_request_folds_before_the_answer(collector_app: Any) -> None:
    collector_app.config["COLLECTOR_FOLD"] = "request"
    client = collector_app.test_client()
    with fold_held(collector_app):
        assert post(client, "/v1/batch", {"batch": [track("q1", "fay", "Logged In", "acct-6")]},
                    drain=False).get_json()["accepted"] == 1
        assert _inbox(collector_app) == []
        assert _usage(collector_app) == [("fay", "Logged In", 1)]


def test_the_inbox_blob_keeps_the_properties_as_sent() -> None:
    """A fold reads ``minutes``, an NPS score and comment, each checked where it is read: the blob keeps the properties
    as sent (no check per message in the request), a minutes value out of range included (`DailyFold` skips it)."""
    sent = {"minutes": 99999, "plan": "pro", "score": "not a number", "nested": {"a": [1, 2.5, None]}}
    good, bad = parse_batch({"batch": [
        {"type": "track", "messageId": "m", "userId": "u", "event": "Report Created",
         "timestamp": "2026-11-20T10:00:00Z", "properties": sent, "context": {"groupId": "acct"}}]}, WORLD_NOW)
    assert bad == []
    messages, _ = decode_messages(encode_messages(good, {"Report Created": "feature"}))
    assert messages[0].properties == sent
    fold = collector.ingest.DailyFold()
    fold.add(7, messages[0])
    assert list(fold.usage.values()) == [[1, 0.0]]  # counted once, the out-of-range minutes not added


def test_the_inbox_blob_keeps_what_a_fold_reads() -> None:
    """Properties msgpack cannot hold (an integer past 64 bits) are cut down to what a fold reads, checked."""
    good, bad = parse_batch({"batch": [
        {"type": "group", "messageId": "g", "userId": "u", "groupId": "acct", "timestamp": "2026-11-20T23:30:00Z",
         "traits": {"name": "Acme", "website": "https://acme.test", "plan": {"deep": [1, 2]}}},
        {"type": "track", "messageId": "n", "userId": "u", "event": "NPS Survey Submitted",
         "timestamp": "2026-11-20T10:00:00+02:00", "properties": {"score": 9, "comment": "good", "big": 10 ** 30,
                                                                  "minutes": 12.5},
         "context": {"groupId": "acct", "timezone": "Europe/Paris"}},
    ]}, WORLD_NOW)
    assert bad == []
    messages, kinds = decode_messages(encode_messages(good, {"NPS Survey Submitted": "survey"}))
    assert kinds == {"NPS Survey Submitted": "survey"}
    assert [(m.type, m.message_id, m.user_key, m.timestamp, m.index, m.event, m.group_id, m.time_zone)
            for m in messages] == [(m.type, m.message_id, m.user_key, m.timestamp, m.index, m.event, m.group_id,
                                    m.time_zone) for m in good]
    assert messages[0].traits == {"name": "Acme", "website": "https://acme.test"}
    assert messages[1].properties == {"score": 9, "comment": "good", "minutes": 12.5}
    assert messages[1].timestamp.date() == good[1].timestamp.date() and messages[1].timestamp.utcoffset() is not None


def test_a_forked_worker_gets_its_own_queue_and_pending_folds(collector_app: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`canary serve` loads the app (and `canary demo` posts its usage) in the master before forking: a worker must
    not inherit the master's queue, whose thread does not exist in it, nor its marks of folds queued there."""
    import os

    queue, folds = jobs.queue_of(collector_app), jobs.folds_of(collector_app)
    assert folds.add(7) is True and folds.add(7) is False
    parent = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: parent + 1)
    assert jobs.queue_of(collector_app) is not queue
    assert jobs.folds_of(collector_app).add(7) is True
    assert jobs.pending_of(collector_app).pid == parent + 1


def test_a_batch_where_every_message_names_its_group_still_checks_scores_and_repeated_ids(collector_app: Any) -> None:
    """`accept`'s shortcut for the usual batch (every message grouped, no survey) answers as the general path."""
    client = collector_app.test_client()
    plain = [track("p1", "ann", "Report Created", "acct-1"), track("p2", "bob", "Report Created", "acct-2"),
             track("p1", "ann", "Report Created", "acct-1")]  # p1 twice in one batch: one duplicate
    with fold_held(collector_app):
        answer = post(client, "/v1/batch", {"batch": plain}, drain=False)
        assert answer.get_json() == {"success": True, "accepted": 2, "duplicates": 1, "rejected": [],
                                     "rejectedCount": 0}
        surveyed = [track("s1", "ann", "NPS Survey Submitted", "acct-1", score=9),
                    track("s2", "bob", "NPS Survey Submitted", "acct-2", score=11), track("p2", "bob", "X", "acct-2")]
        answer = post(client, "/v1/batch", {"batch": surveyed}, drain=False)
        body = answer.get_json()
        assert (body["accepted"], body["duplicates"], body["rejectedCount"]) == (1, 1, 1)
        assert body["rejected"][0]["index"] == 1 and "score" in body["rejected"][0]["errors"]["properties"]
        assert _inbox(collector_app) == [2, 1]
    assert _usage(collector_app) == [("ann", "NPS Survey Submitted", 1), ("ann", "Report Created", 1),
                                     ("bob", "Report Created", 1)]
