"""Issue 18: the collector's fast paths decide exactly as the checked paths they stand in front of.

msgspec decodes a body only when it gives what ``json.loads`` gives; a plain message accepted by the
hand-written checks is the `Message` the marshmallow schema builds; the set-based user update keeps
every rule the per-object one had (group call moves a user, e-mail and name, last_seen only forward).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from collector.jsonbody import NOT_A_NUMBER, decode
from collector.messages import Message, _checked_message, _fast_message, parse_message
from extensions import canary_store
from store.models import Account, ProductUser, SourceLink
from tests.collector.conftest import group, post, track, ts
from tests.shared import WORLD_NOW

TEXTS = st.sampled_from(["u1", "  u1 ", "", "   ", "x" * 255, "x" * 256, "nul\x00", "lone\ud800", "é", 7, 0, -3,
                         True, None, 1.5, [], {}])
EVENTS = st.sampled_from(["Logged In", "  ", "", "E" * 200, "E" * 201, "nul\x00", "NPS Survey Submitted", 5, None])
TIMES = st.sampled_from([ts(1), "2026-11-20T10:15:00", "2026-11-20t10:15:00z", "yesterday", "", 5, None,
                         "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+05:00", "2099-01-01T00:00:00Z"])
MAPPINGS = st.sampled_from([{}, {"groupId": "g1"}, {"groupId": " "}, {"groupId": "g" * 256}, {"minutes": 5},
                            {"email": "A@Example.com", "name": "N"}, {"name": "N" * 301}, {"website": "http://[x"},
                            {"score": 9, "comment": "ok"}, {"deep": json.loads("[" * 30 + "]" * 30)},
                            {"deep": json.loads("[" * 31 + "]" * 31)},
                            {"x": float("nan")}, None, [], "text"])
MESSAGES = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "identify", "group", "page", "screen", "alias", "Track", 3, None])},
    optional={"messageId": TEXTS, "userId": TEXTS, "anonymousId": TEXTS, "groupId": TEXTS, "event": EVENTS,
              "name": st.sampled_from(["Home", 3, None]), "timestamp": TIMES, "originalTimestamp": TIMES,
              "properties": MAPPINGS, "traits": MAPPINGS, "context": MAPPINGS, "extra": st.integers()},
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(MESSAGES)
def test_the_fast_checks_accept_only_what_the_schema_accepts_and_build_the_same_message(raw: dict[str, Any]) -> None:
    fast = _fast_message(raw, 3, WORLD_NOW)
    checked = _checked_message(raw, 3, WORLD_NOW)
    if fast is not None:
        assert fast == checked
    assert parse_message(raw, 3, WORLD_NOW) == checked


def test_plain_messages_take_the_fast_path() -> None:
    raws = [track("m1", "u1", "Logged In", "g1", minutes=5), group("g1", "u1", name="Initech", domain="initech.io"),
            {"type": "identify", "userId": 42, "traits": {"email": "a@b.io"}, "timestamp": ts(2)},
            {"type": "page", "anonymousId": "a1", "name": "Home", "context": {"groupId": "g1"}}]
    for index, raw in enumerate(raws):
        fast = _fast_message(raw, index, WORLD_NOW)
        assert isinstance(fast, Message)
        assert fast == _checked_message(raw, index, WORLD_NOW)
    assert _fast_message({**raws[0], "userId": "u" * 256}, 0, WORLD_NOW) is None


BODIES = [b'{"batch":[{"a":1.5,"b":[1,2,{"c":null}],"d":"\\u00e9\\n","e":-0,"f":1e-400,"g":12345678901234567890123}]}',
          b' {"a": true, "a": false} ', b'{"deep":' + b"[" * 40 + b"]" * 40 + b"}", b"[]", b'"text"']


@pytest.mark.parametrize("body", BODIES)
def test_bodies_msgspec_decodes_come_out_as_json_loads_gives_them(body: bytes) -> None:
    assert decode(body) == json.loads(body)
    assert type(decode(body)) is type(json.loads(body))


@pytest.mark.parametrize("body", [b"{not json", b'{"a":1', b'{"a":"\xff"}', b'{"a":"\x01"}', b"", b'{"a":1} x'])
def test_a_body_msgspec_refuses_gets_the_plain_parsers_error(body: bytes) -> None:
    with pytest.raises(ValueError) as plain:
        json.loads(body)
    with pytest.raises(ValueError) as ours:
        decode(body)
    assert str(ours.value) == str(plain.value)


def test_values_msgspec_refuses_are_left_to_the_plain_parser() -> None:
    body = b'{"batch":[{"n":NaN},{"n":1e999},{"n":"\\ud800"},{"n":7}]}'
    batch = decode(body)["batch"]
    assert batch[0]["n"] is NOT_A_NUMBER
    assert batch[1]["n"] == float("inf")
    assert batch[2:] == [{"n": "\ud800"}, {"n": 7}]


def _users(app: Any) -> dict[str, tuple[Any, ...]]:
    with canary_store(app).session(app.config["TEST_TENANT"]) as s:
        accounts = {account_id: ref for account_id, ref in s.execute(
            select(SourceLink.account_id, SourceLink.external_id).where(SourceLink.system == "product"))}
        return {u.user_key: (accounts.get(u.account_id), u.email, u.name, u.last_seen.isoformat() if u.last_seen
                             else None) for u in s.scalars(select(ProductUser))}


def test_users_keep_every_rule_through_the_set_based_update(collector_app: Any) -> None:
    client = collector_app.test_client()

    def send(*messages: dict[str, Any]) -> None:
        response = post(client, "/v1/batch", {"batch": list(messages)})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["rejectedCount"] == 0

    send(group("acct-a", "u1"), track("t1", "u1", "Logged In", "acct-a"),
         {"type": "identify", "messageId": "i1", "userId": "u2", "traits": {"email": " Two@Example.COM ",
                                                                             "name": "Two"}, "timestamp": ts(3)})
    assert _users(collector_app) == {"u1": ("acct-a", None, None, ts(1).replace("Z", "+00:00")),
                                     "u2": (None, "two@example.com", "Two", None)}
    # u2 takes the account its event names (it had none); an older event does not move last_seen back.
    late = {**track("t2", "u2", "Logged In", "acct-a"), "timestamp": ts(1, hour=12)}
    early = {**track("t3", "u1", "Logged In", "acct-a"), "timestamp": ts(5)}
    send(late, early)
    assert _users(collector_app)["u2"] == ("acct-a", "two@example.com", "Two", ts(1, hour=12).replace("Z", "+00:00"))
    assert _users(collector_app)["u1"][3] == ts(1).replace("Z", "+00:00")
    # An event naming another account does not move a user; a group call does; a new e-mail replaces the old.
    send(track("t4", "u1", "Logged In", "acct-b"))
    assert _users(collector_app)["u1"][0] == "acct-a"
    send(group("acct-b", "u1", email="one@b.io"))
    assert _users(collector_app)["u1"][:2] == ("acct-b", "one@b.io")
    # Name comes from identify calls only; a user's event without a group id counts under its account.
    send({"type": "track", "messageId": "t5", "userId": "u2", "event": "Report Created", "traits": {"name": "No"},
          "timestamp": ts(0, hour=1)})
    assert _users(collector_app)["u2"] == ("acct-a", "two@example.com", "Two", ts(0, hour=1).replace("Z", "+00:00"))


def test_unnamed_groups_get_accounts_together_and_a_named_one_between_them_is_still_matched(
        collector_app: Any) -> None:
    client = collector_app.test_client()
    batch = [track("e1", "u1", "Logged In", "acct-c"), track("e2", "u2", "Logged In", "acct-a"),
             group("acct-b", "u3", name="Globex", domain="globex.com"), track("e3", "u4", "Logged In", "acct-d"),
             track("e4", "u5", "Logged In", "acct-a")]
    response = post(client, "/v1/batch", {"batch": batch})
    assert response.status_code == 200
    assert response.get_json()["accepted"] == 5
    with canary_store(collector_app).session(collector_app.config["TEST_TENANT"]) as s:
        links = {link.external_id: (link.account_id, link.method, link.reason) for link in s.scalars(
            select(SourceLink).where(SourceLink.system == "product"))}
        names = {a.id: a.name for a in s.scalars(select(Account))}
        globex = s.scalars(select(Account.id).where(Account.name == "Globex Corporation")).one()
        users = {u.user_key: u.account_id for u in s.scalars(select(ProductUser))}
    assert sorted(links) == ["acct-a", "acct-b", "acct-c", "acct-d"]
    assert links["acct-b"][0] == globex and links["acct-b"][1] != "new"
    for ref in ("acct-a", "acct-c", "acct-d"):
        account_id, method, reason = links[ref]
        assert (names[account_id], method) == (ref, "new")
        assert reason == f"product account {ref!r} first seen by the usage collector"
    assert links["acct-a"][0] < links["acct-c"][0] < links["acct-d"][0]  # placed in group id order
    assert users == {"u1": links["acct-c"][0], "u2": links["acct-a"][0], "u3": globex, "u4": links["acct-d"][0],
                     "u5": links["acct-a"][0]}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(MESSAGES, min_size=1, max_size=3))
def test_the_typed_decoder_parses_a_body_as_decode_and_parse_batch_do(raws: list[dict[str, Any]]) -> None:
    from collector.messages import parse_batch, parse_body

    body = json.dumps({"batch": raws, "sentAt": ts(0)}).encode()
    typed = parse_body(body, WORLD_NOW)
    if typed is not None:
        assert typed == parse_batch(decode(body), WORLD_NOW)


def test_a_body_of_usual_messages_takes_the_typed_decoder_with_every_answer_of_the_checked_path() -> None:
    from collector.messages import parse_batch, parse_body

    raws = [track("m1", "u1", "Logged In", "g1", minutes=5), group("g1", "u1", name="Initech", domain="initech.io"),
            {"type": "identify", "userId": 42, "traits": {"email": "a@b.io"}, "timestamp": ts(2)},
            {"type": "page", "anonymousId": "a1", "name": "Home", "context": {"groupId": "g1", "library": {"v": 1}}},
            {"type": "track", "userId": "u2", "event": "Logged In"},  # no messageId: the content's id
            {"type": "track", "userId": "u2", "event": "  "},  # rejected, worded by the checked path
            {"type": "track", "userId": "u2", "event": "x", "timestamp": "2099-01-01T00:00:00Z"}]
    body = json.dumps({"batch": raws}).encode()
    typed = parse_body(body, WORLD_NOW)
    assert typed is not None
    assert typed == parse_batch(decode(body), WORLD_NOW)
    good, bad = typed
    assert [m.index for m in good] == [0, 1, 2, 3, 4] and good[4].message_id.startswith("sha256:")
    assert [(r.index, sorted(r.errors)) for r in bad] == [(5, ["event"]), (6, ["timestamp"])]
    # an unknown field or a null object: the plain decoder and every check decide
    for odd in ({**raws[0], "extra": 1}, {**raws[0], "properties": None}, {**raws[0], "userId": [1]}):
        assert parse_body(json.dumps({"batch": [odd]}).encode(), WORLD_NOW) is None
    for big in ({**raws[0], "userId": 10 ** 30}, {**raws[0], "properties": {"n": 10 ** 400}}):
        body = json.dumps({"batch": [big]}).encode()
        assert parse_body(body, WORLD_NOW) in (None, parse_batch(decode(body), WORLD_NOW))


# Batches of mostly usual messages for the column-wise path (`_usual_batch`): each batch shares one shape (which
# id, where the group id is, which times), and about half of them get one odd value in one message.
_SHAPES: list[dict[str, Any]] = [
    {}, {"anonymous": True}, {"top_group": True}, {"no_time": True}, {"original": True}, {"both_times": True},
    {"properties_group": True}, {"no_group": True}, {"zone": "Europe/Paris"}, {"zone": "Nowhere/Land"},
    {"zone": 5}, {"zone": ""}, {"nested": True}, {"floats": True}, {"pages": True}, {"long_ids": True},
    {"unicode": True},
]
_ODD: list[tuple[str, Any]] = [
    ("messageId", ""), ("messageId", "  "), ("messageId", " m "), ("messageId", "x" * 256), ("messageId", "nul\x00"),
    ("messageId", 7), ("messageId", None), ("messageId", _MISSING := object()),
    ("userId", ""), ("userId", "u\x00"), ("userId", " u"), ("userId", "u" * 256), ("userId", 42), ("userId", _MISSING),
    ("anonymousId", "a1"), ("groupId", "g9"), ("groupId", " "), ("groupId", "g" * 256),
    ("event", ""), ("event", " "), ("event", "E" * 201), ("event", "E" * 200), ("event", "nul\x00"),
    ("event", "NPS Survey Submitted"), ("event", " nps survey submitted "), ("event", None), ("event", _MISSING),
    ("event", "Émoji ✓"), ("timestamp", "2026-11-20T10:15:00"), ("timestamp", "2026-11-20T10:15:00+02:00"),
    ("timestamp", "2026-11-20T10:15:00+00:00"), ("timestamp", "2099-01-01T00:00:00Z"), ("timestamp", "yesterday"),
    ("timestamp", "2026-11-20t10:15:00z"), ("timestamp", ""), ("timestamp", None),
    ("timestamp", "2026-12-01T09:59:59Z"), ("timestamp", "2026-12-01T10:00:01Z"), ("originalTimestamp", "nope"),
    ("originalTimestamp", ts(3)),
    ("type", "group"), ("type", "identify"), ("type", "alias"), ("type", "page"), ("type", "screen"), ("type", "Track"),
    ("traits", {"name": "N"}), ("traits", {"email": "a@b.io"}), ("traits", {}),
    ("context", {"groupId": " "}), ("context", {"groupId": "g" * 256}), ("context", {"groupId": 7}),
    ("context", {"groupId": "g\x00"}), ("context", {}), ("context", {"timezone": "Asia/Tokyo", "groupId": "g1"}),
    ("context", {"timezone": {"a": 1}, "groupId": "g1"}),
    ("context", {"groupId": "g1", "deep": json.loads("[" * 30 + "]" * 30)}),
    ("context", {"groupId": "g1", "deep": json.loads("[" * 31 + "]" * 31)}),
    ("properties", {"groupId": "p1"}), ("properties", {"comment": "x" * 40000}), ("properties", {"blob": "x" * 20000}),
    ("properties", {"blob": "é" * 17000}), ("properties", {"floats": [1e15] * 1000}),
    ("properties", {"floats": [1e15] * 2500}), ("properties", {"n": 10 ** 30}), ("properties", None),
    ("name", "Home"), ("extra", 1),
]


def _usual(rng: random.Random, shape: dict[str, Any], index: int) -> dict[str, Any]:
    user = f"u{rng.randrange(5)}" + ("é" if shape.get("unicode") else "")
    raw: dict[str, Any] = {"type": "page" if shape.get("pages") and index % 2 else "track",
                           "messageId": ("m" * 250 if shape.get("long_ids") else "m") + str(index),
                           "event": rng.choice(["Logged In", "Report Created", "x" * 200])}
    raw["anonymousId" if shape.get("anonymous") else "userId"] = user
    group_id = f"g{rng.randrange(3)}"
    context: dict[str, Any] = {}
    properties: dict[str, Any] = {"minutes": rng.choice([5, 2.5, 0])}
    if shape.get("top_group"):
        raw["groupId"] = group_id
    elif shape.get("properties_group"):
        properties["groupId"] = group_id
    elif not shape.get("no_group"):
        context["groupId"] = group_id
    if "zone" in shape:
        context["timezone"] = shape["zone"]
    if shape.get("nested"):
        context["library"] = {"name": "analytics.js", "version": [2, {"minor": 1}]}
    if shape.get("floats"):
        properties["ratio"] = [1e15, 0.1, -3.5e-7]
    when = ts(rng.randrange(0, 40), rng.randrange(24))
    if not shape.get("no_time"):
        raw["originalTimestamp" if shape.get("original") else "timestamp"] = when
    if shape.get("both_times"):
        raw["originalTimestamp"] = ts(50)
    raw["properties"], raw["context"] = properties, context
    return raw


def seeded_bodies(rng: random.Random, count: int) -> Iterator[bytes]:
    """`count` bodies of usual messages of every shape, half of them with one odd value (`_ODD`)."""
    for _ in range(count):
        shape = rng.choice(_SHAPES)
        raws = [_usual(rng, shape, i) for i in range(rng.randint(1, 12))]
        if rng.random() < 0.5:
            key, value = rng.choice(_ODD)
            target = rng.choice(raws)
            if value is _MISSING:
                target.pop(key, None)
            else:
                target[key] = value
        yield json.dumps({"batch": raws}).encode()


def test_the_column_wise_path_gives_what_decode_and_parse_batch_give() -> None:
    from collector.messages import _decode_plain, _usual_batch, parse_batch, parse_body

    rng = random.Random(18)
    took = fell_back = typed_none = 0
    for body in seeded_bodies(rng, 600):
        expected = parse_batch(decode(body), WORLD_NOW)
        parsed = parse_body(body, WORLD_NOW)
        if parsed is None:
            typed_none += 1
            continue
        assert parsed == expected, body
        usual = _usual_batch(_decode_plain(body).batch, body, WORLD_NOW)
        if usual is None:
            fell_back += 1
        else:
            took += 1
            assert (usual, []) == expected, body
            assert [m.index for m in usual] == list(range(len(json.loads(body)["batch"])))
    # the generator reaches all three ways through parse_body
    assert took > 150 and fell_back > 100 and typed_none > 5, (took, fell_back, typed_none)


def test_the_column_wise_path_takes_a_batch_of_usual_messages_and_leaves_an_odd_one_to_the_checks() -> None:
    from collector.messages import _decode_plain, _usual_batch, parse_batch

    raws = [track(f"m{i}", "u1", "Logged In", None, minutes=5) for i in range(20)]
    for raw in raws:
        raw["context"] = {"groupId": "g1", "timezone": "Europe/Paris"}
    body = json.dumps({"batch": raws}).encode()
    usual = _usual_batch(_decode_plain(body).batch, body, WORLD_NOW)
    assert usual is not None and len(usual) == 20
    assert {(m.group_id, m.time_zone, m.user_key) for m in usual} == {("g1", "Europe/Paris", "u1")}
    assert (usual, []) == parse_batch(decode(body), WORLD_NOW)
    raws[7]["messageId"] = " "  # blank: rejected by the checked path, so the batch is not usual
    body = json.dumps({"batch": raws}).encode()
    assert _usual_batch(_decode_plain(body).batch, body, WORLD_NOW) is None
    good, bad = parse_batch(decode(body), WORLD_NOW)
    assert len(good) == 19 and [r.index for r in bad] == [7]
