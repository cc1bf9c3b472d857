"""The collector's column path (`read_body` → `UsualColumns` → `accept_usual`) answers and stores what the message path
(`parse_body` → `accept`) does, on SQLite and PostgreSQL: the same counts, the same claimed ids, the same inbox rows
(read back), the same usage once folded. Two workspaces of one database take the same batches, one by each path."""

from __future__ import annotations

import json
import random
from typing import Any

import msgspec
from sqlalchemy import select

from collector.inbox import accept, accept_usual, decode_messages, fold_pending
from collector.jsonbody import decode
from collector.messages import UsualColumns, parse_batch, parse_body, read_body
from extensions import canary_store
from store.models import CollectedMessage, CollectorInbox, UsageDaily
from tests.collector.test_collector_fast_path import _SHAPES, _usual
from tests.shared import WORLD_NOW

MILESTONES = frozenset({"Report Created"})


def _stored(app: Any, tenant_id: int) -> tuple[list[str], list[Any], list[tuple[Any, ...]]]:
    with canary_store(app).session(tenant_id) as s:
        ids = sorted(s.scalars(select(CollectedMessage.message_id)))
        blobs = [(decode_messages(payload), count, when) for payload, count, when in s.execute(
            select(CollectorInbox.payload, CollectorInbox.messages, CollectorInbox.received_at)
            .order_by(CollectorInbox.id))]
        usage = sorted(tuple(row) for row in s.execute(select(
            UsageDaily.user_key, UsageDaily.event, UsageDaily.day, UsageDaily.count, UsageDaily.minutes)))
    return ids, blobs, usage


def _batches(rng: random.Random) -> list[bytes]:
    """Bodies of usual messages: every shape of the generator, message ids drawn from a small set (repeated within a
    batch and across batches), now and then an NPS answer (the column path hands such a batch to `accept`)."""
    bodies = []
    for _ in range(60):
        shape = rng.choice(_SHAPES)
        raws = [_usual(rng, shape, i) for i in range(rng.randint(1, 12))]
        for raw in raws:
            raw["messageId"] = f"m-{rng.randrange(80)}"
        if rng.random() < 0.1:
            raws[0]["event"] = "NPS Survey Submitted"
            raws[0]["properties"] = {"score": rng.choice([3, 11]), "comment": "ok", "groupId": "g1"}
        bodies.append(json.dumps({"batch": raws}).encode())
    return bodies


def test_the_column_path_answers_and_stores_what_the_message_path_does(collector_app: Any) -> None:
    store = canary_store(collector_app)
    by_messages, by_columns = collector_app.config["TEST_TENANT"], collector_app.config["OTHER_TENANT"]
    rng = random.Random(1818)
    columns_taken = 0
    for body in _batches(rng):
        read = read_body(body, WORLD_NOW)
        if type(read) is not UsualColumns:
            continue
        columns_taken += 1
        parsed = parse_body(body, WORLD_NOW)
        assert parsed == (read.messages(), []) == parse_batch(decode(body), WORLD_NOW)
        expected = accept(store, by_messages, parsed[0], [], milestones=MILESTONES, received_at=WORLD_NOW)
        got = accept_usual(store, by_columns, read, milestones=MILESTONES, received_at=WORLD_NOW)
        assert got.as_dict() == expected.as_dict()
        assert (got.accounts_created, got.users_created, got.usage_accounts) == (0, 0, set())
        assert _stored(collector_app, by_columns)[:2] == _stored(collector_app, by_messages)[:2]
    assert columns_taken > 30, columns_taken
    fold_pending(store, by_messages)
    fold_pending(store, by_columns)
    messages_path, columns_path = _stored(collector_app, by_messages), _stored(collector_app, by_columns)
    assert columns_path == messages_path
    assert len(messages_path[0]) > 40 and messages_path[2]  # ids claimed, usage folded


def test_a_bench_shaped_batch_sent_twice_is_accepted_then_counted_as_duplicates(collector_app: Any) -> None:
    store = canary_store(collector_app)
    tenant = collector_app.config["TEST_TENANT"]
    raws = [{"type": "track", "messageId": f"m-{i}", "userId": f"u-{i % 5}", "event": "Logged In",
             "properties": {"minutes": 5}, "context": {"groupId": f"g-{i % 3}"}, "timestamp": "2026-11-30T10:00:00Z"}
            for i in range(50)]
    raws.append(dict(raws[7]))  # a repeated id inside the batch
    body = json.dumps({"batch": raws}).encode()
    read = read_body(body, WORLD_NOW)
    assert type(read) is UsualColumns
    first = accept_usual(store, tenant, read, received_at=WORLD_NOW)
    assert first.as_dict() == {"success": True, "accepted": 50, "duplicates": 1, "rejected": [], "rejectedCount": 0}
    again = accept_usual(store, tenant, read, received_at=WORLD_NOW)
    assert again.as_dict() == {"success": True, "accepted": 0, "duplicates": 51, "rejected": [], "rejectedCount": 0}
    ids, blobs, _ = _stored(collector_app, tenant)
    assert ids == sorted(f"m-{i}" for i in range(50))
    assert len(blobs) == 1
    (messages, kinds), count, when = blobs[0]
    assert (count, when) == (50, WORLD_NOW)
    assert [m.index for m in messages] == list(range(50)) and kinds == {"Logged In": "login"}
    assert messages == read.messages()[:50]


def test_bodies_of_the_commonest_messages_take_their_own_decoder_and_give_what_the_plain_one_gives() -> None:
    """Seeded: usual bodies of every shape, half with one odd value. A body `_decode_tracks` reads (track-shaped
    messages only) gives the columns the plain typed decoder's messages give, or, when a check fails, the same
    answers as decode and parse_batch."""
    from collector.messages import _decode_plain, _decode_tracks, _usual_columns
    from tests.collector.test_collector_fast_path import seeded_bodies

    rng = random.Random(4242)
    tracks_usual = tracks_checked = plain = 0
    for body in seeded_bodies(rng, 600):
        try:
            _decode_tracks(body)
        except msgspec.DecodeError:
            plain += 1
            continue
        read = read_body(body, WORLD_NOW)
        if type(read) is UsualColumns:
            tracks_usual += 1
            assert read == _usual_columns(_decode_plain(body).batch, body, WORLD_NOW), body
        else:
            tracks_checked += 1
            assert _usual_columns(_decode_plain(body).batch, body, WORLD_NOW) is None, body
            assert read == parse_batch(decode(body), WORLD_NOW), body
    assert tracks_usual > 100 and tracks_checked > 20 and plain > 100, (tracks_usual, tracks_checked, plain)
