"""Issue 18, part 2: the collector's batch path (one fast check per message, one claim of the batch's message ids,
accounts and users looked up once, one upsert of the daily aggregates) keeps every guarantee, on SQLite and
PostgreSQL: duplicates inside a batch and across batches count once, the valid half of a mixed batch is stored with
each bad message's reason under its index, and accounts and users first seen in the middle of a batch are placed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from collector.messages import Message, _checked_message, _fast_message, parse_batch
from extensions import canary_store
from store.models import Account, CollectedMessage, ProductUser, SourceLink, UsageDaily, UsageMonthly
from tests.collector.conftest import post, track, ts
from tests.shared import WORLD_NOW


def _bench_track(i: int) -> dict[str, Any]:
    """A message shaped like `bench/bench_collector.py`'s."""
    return {"type": "track", "messageId": f"m-{i}", "userId": f"u-{i % 7}",
            "event": ["Logged In", "Report Created"][i % 2], "properties": {"minutes": 5},
            "context": {"groupId": f"g-{i % 3}"}, "timestamp": ts(1 + i % 3)}


PLAIN = [
    _bench_track(0),
    _bench_track(1),
    {"type": "identify", "userId": 42, "traits": {"email": " A@Example.com ", "name": "Ann"}, "timestamp": ts(2)},
    {"type": "group", "userId": "u1", "groupId": " g1 ",
     "traits": {"name": "Initech", "website": "https://initech.io/x"}, "originalTimestamp": ts(3)},
    {"type": "page", "anonymousId": "a1", "name": "Home", "properties": {"groupId": 7},
     "context": {"timezone": "Europe/Paris"}},
    {"type": "screen", "userId": "u2", "event": "ignored for a screen",
     "context": {"groupId": "g2", "timezone": "Nowhere"}, "timestamp": "2026-11-20t10:15:00z",
     "originalTimestamp": ts(5)},
    {"type": "track", "userId": "u3", "event": "NPS Survey Submitted", "properties": {"score": 9, "comment": "fine"},
     "context": {"groupId": "g3"}, "extra": [1, {"deep": [None, 1.5]}]},
    {"type": "alias", "userId": "u4", "messageId": 12345, "timestamp": "2026-11-20T10:15:00"},
]


def test_plain_messages_of_every_type_take_the_fast_path_and_build_what_the_schema_builds() -> None:
    for index, raw in enumerate(PLAIN):
        fast = _fast_message(raw, index, WORLD_NOW)
        assert isinstance(fast, Message), raw
        assert fast == _checked_message(raw, index, WORLD_NOW)
    page = _fast_message(PLAIN[4], 4, WORLD_NOW)
    assert page is not None
    assert (page.event, page.group_id, page.user_key, page.time_zone, page.timestamp) == (
        "Page Viewed", "7", "anon:a1", "Europe/Paris", WORLD_NOW)
    screen = _fast_message(PLAIN[5], 5, WORLD_NOW)
    assert screen is not None
    assert (screen.event, screen.group_id, screen.time_zone, screen.timestamp) == (
        "Screen Viewed", "g2", None, dt.datetime(2026, 11, 20, 10, 15, tzinfo=dt.UTC))
    alias = _fast_message(PLAIN[7], 7, WORLD_NOW)
    assert alias is not None and alias.message_id == "12345"


def test_a_message_the_fast_checks_doubt_gets_the_schemas_reason_under_its_index() -> None:
    bad = [
        {**_bench_track(0), "context": {"groupId": "g" * 256}},
        {**_bench_track(1), "traits": {"email": "x@" + "e" * 400}},  # traits: not the fast path
        {**_bench_track(2), "timestamp": ts(-3)},
        {**_bench_track(3), "properties": None},
        {**_bench_track(4), "event": "NPS Survey Submitted", "properties": {"score": 3, "comment": "\x00"}},
    ]
    good, rejected = parse_batch({"batch": [_bench_track(9), *bad]}, WORLD_NOW)
    assert [m.message_id for m in good] == ["m-9"]
    future = (WORLD_NOW.replace(hour=10) + dt.timedelta(days=3)).isoformat()
    assert [(r.index, r.message_id, r.errors) for r in rejected] == [
        (1, "m-0", {"context": {"groupId": ["must be 1 to 255 characters of valid text"]}}),
        (2, "m-1", {"traits": {"email": ["must be at most 320 characters (got 402)"]}}),
        (3, "m-2", {"timestamp": [f"{future} is in the future"]}),
        (4, "m-3", {"properties": ["Field may not be null."]}),
        (5, "m-4", {"properties": {"comment": ["must not contain NUL characters"]}}),
    ]


def _counts(app: Any) -> dict[str, Any]:
    with canary_store(app).session(app.config["TEST_TENANT"]) as s:
        return {
            "messages": s.scalar(select(func.count()).select_from(CollectedMessage)),
            "usage": {(r.user_key, r.event, r.day): (r.count, r.minutes) for r in s.scalars(select(UsageDaily))},
            "any_event": {(r.user_key, r.month): r.count for r in s.scalars(
                select(UsageMonthly).where(UsageMonthly.event == ""))},
            "users": {u.user_key: u.account_id for u in s.scalars(select(ProductUser))},
            "links": {link.external_id: link.account_id for link in s.scalars(
                select(SourceLink).where(SourceLink.system == "product"))},
            "accounts": {a.id: a.name for a in s.scalars(select(Account))},
        }


def test_duplicates_inside_a_batch_and_across_batches_are_stored_once(collector_app: Any) -> None:
    client = collector_app.test_client()
    first = [track("d1", "u1", "Logged In", "acct-d", minutes=10), track("d2", "u1", "Logged In", "acct-d", minutes=5),
             track("d1", "u1", "Logged In", "acct-d", minutes=10), track("d3", "u2", "Report Created", "acct-d"),
             track("d2", "u1", "Logged In", "acct-d", minutes=5), track("d1", "u1", "Logged In", "acct-d", minutes=10)]
    body = post(client, "/v1/batch", {"batch": first}).get_json()
    assert (body["accepted"], body["duplicates"], body["rejectedCount"]) == (3, 3, 0)
    # d1 and d3 again, d4 new, d4 twice, and a new user u3
    second = [first[0], track("d4", "u3", "Logged In", "acct-d", minutes=1), first[3],
              track("d4", "u3", "Logged In", "acct-d", minutes=1)]
    body = post(client, "/v1/batch", {"batch": second}).get_json()
    assert (body["accepted"], body["duplicates"], body["rejectedCount"]) == (1, 3, 0)
    stored = _counts(collector_app)
    day = (WORLD_NOW - dt.timedelta(days=1)).date()
    assert stored["messages"] == 4
    assert stored["usage"] == {("u1", "Logged In", day): (2, 15.0), ("u2", "Report Created", day): (1, 0.0),
                               ("u3", "Logged In", day): (1, 1.0)}
    month = day.replace(day=1)
    assert stored["any_event"] == {("u1", month): 2, ("u2", month): 1, ("u3", month): 1}
    (account,) = set(stored["users"].values())
    assert stored["users"] == {"u1": account, "u2": account, "u3": account}


def test_a_mixed_batch_stores_its_valid_half_and_places_accounts_and_users_first_seen_in_it(
        collector_app: Any) -> None:
    client = collector_app.test_client()
    batch = [
        track("x0", "u1", "Logged In", "new-1", minutes=3),  # a new account from context.groupId
        {"type": "track", "messageId": "x1", "userId": "u1"},  # no event
        track("x2", "u2", "Report Created", minutes=2),  # no group id: u2's group call comes later in the batch
        {"type": "group", "messageId": "x3", "userId": "u2", "groupId": "new-2", "traits": {"name": "Hooli"},
         "timestamp": ts(2)},
        {**track("x4", "u1", "Logged In", "new-1"), "timestamp": ts(-3)},  # in the future
        {"type": "identify", "messageId": "x5", "userId": "u3", "traits": {"email": "C@Example.com"}},
        track("x6", "u3", "Logged In"),  # u3 has no account anywhere
        track("x7", "u4", "Logged In", "0015g00000Globex"),  # a product group id nobody linked yet
        "not an object",
    ]
    response = post(client, "/v1/batch", {"batch": batch})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["accepted"], body["duplicates"], body["rejectedCount"]) == (5, 0, 4)
    future = (WORLD_NOW.replace(hour=10) + dt.timedelta(days=3)).isoformat()
    assert body["rejected"] == [
        {"index": 1, "messageId": "x1", "errors": {"event": ["a track call needs an event name"]}},
        {"index": 4, "messageId": "x4", "errors": {"timestamp": [f"{future} is in the future"]}},
        {"index": 6, "messageId": "x6", "errors": {"groupId": [
            "cannot tell which account this user belongs to: send context.groupId or a group call for the user "
            "first"]}},
        {"index": 8, "messageId": None, "errors": {"_schema": ["each message must be a JSON object"]}},
    ]
    stored = _counts(collector_app)
    links = stored["links"]
    assert set(links) == {"new-1", "new-2", "0015g00000Globex"}
    assert stored["accounts"][links["new-1"]] == "new-1"
    assert stored["accounts"][links["new-2"]] == "Hooli"
    assert len(set(links.values())) == 3
    assert stored["users"] == {"u1": links["new-1"], "u2": links["new-2"], "u3": None,
                               "u4": links["0015g00000Globex"]}
    day = (WORLD_NOW - dt.timedelta(days=1)).date()
    assert stored["usage"] == {("u1", "Logged In", day): (1, 3.0), ("u2", "Report Created", day): (1, 2.0),
                               ("u4", "Logged In", day): (1, 0.0)}
    assert stored["messages"] == 5


_DROP = object()
NEAR_VALUES: st.SearchStrategy[Any] = st.sampled_from([
    None, "", "  ", " g1 ", "g" * 256, "nul\x00", "lone\ud800", "é", 7, True, 1.5, [], {},
    {"groupId": " "}, {"groupId": 3}, {"groupId": "g" * 256}, {"timezone": "Asia/Tokyo"},
    {"timezone": 5}, {"email": "x@y.io"}, {"website": "http://[x"}, {"score": 11},
    {"comment": "\x00"}, "NPS Survey Submitted", "2026-11-20T10:15:00+02:00", "2099-01-01"])
NEAR_KEYS = st.sampled_from(["type", "messageId", "userId", "anonymousId", "groupId", "event", "name", "timestamp",
                             "originalTimestamp", "properties", "traits", "context"])


@settings(max_examples=600, deadline=None, derandomize=True)
@given(st.sampled_from(range(len(PLAIN))), st.lists(st.tuples(NEAR_KEYS, NEAR_VALUES | st.just(_DROP)), max_size=3))
def test_near_valid_messages_get_the_same_decision_from_the_fast_checks(which: int,
                                                                        changes: list[tuple[str, Any]]) -> None:
    raw = dict(PLAIN[which])
    for key, value in changes:
        if value is _DROP:
            raw.pop(key, None)
        else:
            raw[key] = value
    fast = _fast_message(raw, 2, WORLD_NOW)
    if fast is not None:
        assert fast == _checked_message(raw, 2, WORLD_NOW)
