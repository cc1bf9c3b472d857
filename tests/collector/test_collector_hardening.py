"""Issue 11, findings 4, 5, 7 and 14: no message can fail its batch, rejections name the batch index,
answers and request rates are bounded, and every value validation allows fits its column."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from collector.api import LIMITER
from collector.limits import RateLimiter
from collector.messages import MAX_BATCH_MESSAGES
from extensions import canary_store
from store.models import Account, CollectedMessage, ProductUser, SourceLink, SurveyResponse, UsageDaily
from tests.collector.conftest import OTHER_KEY, group, post, track, ts

DEEP = 3000


def _deep(value: str = "1") -> str:
    return "[" * DEEP + value + "]" * DEEP


# (raw JSON text of one message, a fragment its rejection must contain)
BAD_MESSAGES: list[tuple[str, str]] = [
    ('{"type":"track","userId":"u1","event":"E","timestamp":"9999-12-31T23:59:59-23:59",'
     '"context":{"groupId":"acct-h"}}', "outside the years"),
    ('{"type":"track","userId":"u1","event":"E","timestamp":"0001-01-01T00:00:00+05:00",'
     '"context":{"groupId":"acct-h"}}', "outside the years"),
    ('{"type":"track","userId":"u1","event":"E","properties":{"a":' + _deep() + '},"context":{"groupId":"acct-h"}}',
     "nested deeper than 32"),
    ('{"type":"identify","userId":"u1","traits":' + _deep("{}") + "}", "nested deeper than 32"),
    ('{"type":"track","userId":"u1","event":"E","context":{"groupId":"acct-h","x":' + _deep('"]}["') + "}}",
     "nested deeper than 32"),
    (json.dumps({"type": "track", "userId": "u1", "event": "E", "context": {"groupId": "acct-h"},
                 "properties": {"p": json.loads("[" * 40 + "]" * 40)}}), "nested deeper than 32"),
    ('{"type":"track","userId":"u1","event":"E","properties":{"minutes":NaN},"context":{"groupId":"acct-h"}}',
     "NaN and Infinity"),
    ('{"type":"track","userId":"u1","event":"E","properties":{"x":-Infinity},"context":{"groupId":"acct-h"}}',
     "NaN and Infinity"),
    ('{"type":"track","userId":"u1","event":"E","properties":{"x":1e999},"context":{"groupId":"acct-h"}}',
     "NaN and Infinity"),
    ('{"type":"track","userId":"u1","event":"E","properties":{"x":' + "7" * 5000 + '},"context":{"groupId":"h"}}',
     "longer than 40 digits"),
    (json.dumps(group("g" * 256, "u1")), "1 to 255 characters"),
    (json.dumps(track("m-long-ctx", "u1", "E", "c" * 256)), "groupId"),
    (json.dumps(track("i" * 256, "u1", "E", "acct-h")), "1 to 255 characters"),
    (json.dumps(track("m-long-user", "u" * 256, "E", "acct-h")), "1 to 255 characters"),
    (json.dumps({"type": "track", "anonymousId": "a" * 256, "event": "E", "context": {"groupId": "acct-h"}}),
     "1 to 255 characters"),
    (json.dumps(track("m-long-event", "u1", "E" * 201, "acct-h")), "at most 200 characters"),
    (json.dumps(group("acct-named", "u1", name="N" * 301)), "at most 300 characters"),
    (json.dumps({"type": "identify", "userId": "u1", "traits": {"name": "N" * 301}}), "at most 300 characters"),
    (json.dumps({"type": "identify", "userId": "u1", "traits": {"email": "e" * 310 + "@example.com"}}),
     "at most 320 characters"),
    (json.dumps(group("acct-url", "u1", website="http://[broken")), "does not parse"),
    (json.dumps(group("acct-url2", "u1", domain="fine.example", url="http://[broken")), "does not parse"),
    (json.dumps(group("acct-url3", "u1", website="https://" + "h" * 250 + ".example/")), "at most 255 characters"),
    (json.dumps(track("m-nul", "u1\x00x", "E", "acct-h")), "NUL"),
    ('{"type":"track","userId":"u1","event":"Bad \\ud800 event","context":{"groupId":"acct-h"}}', "surrogate"),
    (json.dumps(track("m-nps-nul", "u1", "NPS Survey Submitted", "acct-h", score=5, comment="a\x00b")), "NUL"),
    ('{"type":"track","userId":"u1","event":"E","properties":"not a dict"}', "mapping"),
    ('{"type":"track","userId":{"id":1},"event":"E"}', "string or a number"),
    ('{"type":"track","userId":"u1","event":["E"]}', "Not a valid string"),
    ('{"type":"track","userId":"u1","event":"E","timestamp":12345}', "ISO 8601"),
    ('{"type":"track","userId":"u1","event":"E","timestamp":"' + "9" * 20000 + '"}', "ISO 8601"),
    ('["not", "an", "object"]', "must be a JSON object"),
    ("null", "must be a JSON object"),
    (json.dumps(track("m-no-account", "nobody", "E")), "cannot tell which account"),
    (json.dumps(track("m-nps-11", "u1", "NPS Survey Submitted", "acct-h", score=11)), "whole-number score"),
]


def _mixed_body() -> tuple[str, dict[int, str]]:
    """500 valid tracks with one of each bad message after every 15th; returns the body and index → fragment."""
    valid = [json.dumps(track(f"ok-{i}", f"user-{i % 7}", "Report Created", "acct-h", minutes=1)) for i in range(500)]
    entries: list[str] = []
    expected: dict[int, str] = {}
    for n, (raw, fragment) in enumerate(BAD_MESSAGES):
        entries.extend(valid[n * 15 : (n + 1) * 15])
        expected[len(entries)] = fragment
        entries.append(raw)
    entries.extend(valid[len(BAD_MESSAGES) * 15 :])
    return '{"batch":[' + ",".join(entries) + "]}", expected


def test_a_batch_mixing_500_valid_messages_with_every_bad_input_stores_exactly_the_500(collector_app: Any) -> None:
    body, expected = _mixed_body()
    assert len(body) < 500 * 1024 and len(expected) == len(BAD_MESSAGES)
    response = post(collector_app.test_client(), "/v1/batch", body)
    assert response.status_code == 200
    answer = response.get_json()
    assert (answer["accepted"], answer["duplicates"], answer["rejectedCount"]) == (500, 0, len(BAD_MESSAGES))
    reasons = {r["index"]: json.dumps(r["errors"], ensure_ascii=False) for r in answer["rejected"]}
    assert set(reasons) == set(expected)
    wrong = {i: (fragment, reasons[i]) for i, fragment in expected.items() if fragment not in reasons[i]}
    assert wrong == {}

    store = canary_store(collector_app)
    with store.session(collector_app.config["TEST_TENANT"]) as s:
        assert s.scalar(select(func.count()).select_from(CollectedMessage)) == 500
        assert s.scalar(select(func.sum(UsageDaily.count))) == 500
        usage_rows = s.execute(select(UsageDaily.user_key, UsageDaily.event, UsageDaily.count)).all()
        assert sorted(usage_rows) == [(f"user-{u}", "Report Created", len(range(u, 500, 7))) for u in range(7)]
        assert s.scalars(select(SourceLink.external_id).where(SourceLink.system == "product")).all() == ["acct-h"]
        assert s.scalar(select(func.count()).select_from(SurveyResponse)) == 0

    # a retry of the same body: nothing new, the same rejections
    again = post(collector_app.test_client(), "/v1/batch", body).get_json()
    assert (again["accepted"], again["duplicates"], again["rejectedCount"]) == (0, 500, len(BAD_MESSAGES))


@pytest.mark.parametrize("path", ["/v1/track", "/v1/identify"])
def test_a_single_call_nested_too_deep_gets_a_reason_not_a_500(collector_app: Any, path: str) -> None:
    body = '{"userId":"u1","event":"E","properties":{"p":' + _deep() + "}}"
    response = post(collector_app.test_client(), path, body)
    assert response.status_code == 400
    assert response.get_json()["rejected"][0]["errors"] == {"properties": ["nested deeper than 32 levels of "
                                                                          "objects and arrays"]}


def test_rejections_decided_in_ingest_carry_the_batch_index(collector_app: Any) -> None:
    batch = [
        {"type": "track", "messageId": "no-user", "event": "E"},                              # 0: schema
        track("ok-1", "u1", "Logged In", "acct-5"),                                           # 1
        track("no-account", "stranger", "Logged In"),                                         # 2: ingest
        track("ok-2", "u1", "Report Created", "acct-5"),                                      # 3
        track("nps-11", "u1", "NPS Survey Submitted", "acct-5", score=11),                    # 4: ingest
        track("nps-3", "u1", "NPS Survey Submitted", "acct-5", score=3),                      # 5
    ]
    answer = post(collector_app.test_client(), "/v1/batch", {"batch": batch}).get_json()
    assert answer["accepted"] == 3
    assert [(r["index"], r["messageId"]) for r in answer["rejected"]] == [(0, "no-user"), (2, "no-account"),
                                                                          (4, "nps-11")]


def test_a_batch_of_100000_empty_messages_is_refused_cheaply_and_briefly(collector_app: Any) -> None:
    body = '{"batch":[' + ",".join(["{}"] * 100_000) + "]}"
    assert len(body) < 300 * 1024
    response = post(collector_app.test_client(), "/v1/batch", body)
    assert response.status_code == 413
    assert f"at most {MAX_BATCH_MESSAGES} messages" in response.get_json()["error"]
    assert len(response.data) < 300


def test_the_answer_lists_a_capped_number_of_rejections_and_counts_them_all(collector_app: Any) -> None:
    long_ts = "2026-" + "1" * 20_000
    batch = [{"messageId": "x" * 5000, "timestamp": long_ts}] * 12 + [{}] * (MAX_BATCH_MESSAGES - 12)
    response = post(collector_app.test_client(), "/v1/batch", {"batch": batch})
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["rejectedCount"] == MAX_BATCH_MESSAGES
    assert [r["index"] for r in answer["rejected"]] == list(range(100))
    assert len(answer["rejected"][0]["messageId"]) == 255
    assert len(response.data) < 64 * 1024

    collector_app.config["COLLECTOR_REJECTIONS_LISTED"] = 3
    answer = post(collector_app.test_client(), "/v1/batch", {"batch": [{}] * 10}).get_json()
    assert (len(answer["rejected"]), answer["rejectedCount"]) == (3, 10)


def test_the_message_cap_is_configurable(collector_app: Any) -> None:
    collector_app.config["COLLECTOR_MAX_BATCH_MESSAGES"] = 2
    batch = [track(f"m{i}", "u1", "Logged In", "acct-1") for i in range(3)]
    assert post(collector_app.test_client(), "/v1/batch", {"batch": batch}).status_code == 413
    assert post(collector_app.test_client(), "/v1/batch", {"batch": batch[:2]}).status_code == 200


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_collector_answers_are_rate_limited_per_write_key(collector_app: Any) -> None:
    clock = _Clock()
    collector_app.extensions[LIMITER] = RateLimiter(rate=0.5, burst=2, clock=clock)
    client = collector_app.test_client()
    batch = {"batch": [track("r1", "u1", "Logged In", "acct-1")]}
    assert [post(client, "/v1/batch", batch).status_code for _ in range(2)] == [200, 200]
    refused = post(client, "/v1/batch", batch)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "2"
    assert "Retry-After" in refused.get_json()["error"]
    assert post(client, "/v1/batch", batch, key=OTHER_KEY).status_code == 200  # another key, its own bucket
    clock.now += 1.0
    assert post(client, "/v1/batch", batch).status_code == 429
    clock.now += 1.0
    assert post(client, "/v1/batch", batch).status_code == 200


def test_the_rate_limit_is_configured_from_the_app_and_generous_by_default(app_factory: Any) -> None:
    default = app_factory().extensions[LIMITER]
    assert (default.rate, default.burst) == (50.0, 500.0)
    tuned = app_factory(COLLECTOR_RATE_PER_SECOND=2, COLLECTOR_RATE_BURST=5).extensions[LIMITER]
    assert (tuned.rate, tuned.burst) == (2.0, 5.0)


def test_the_longest_values_validation_allows_are_stored(collector_app: Any) -> None:
    gid, uid, anon = "G" * 255, "U" * 255, "A" * 255
    name, email = "N" * 300, "e" * 308 + "@example.com"
    batch = [
        {**group(gid, uid, name=name), "messageId": "M" * 255},
        {"type": "identify", "messageId": "id-1", "userId": uid, "traits": {"name": name, "email": email}},
        {**track("nps-" + "9" * 251, uid, "NPS Survey Submitted", gid, score=9, comment="c" * 5000)},
        {"type": "track", "messageId": "anon-1", "anonymousId": anon, "event": "E" * 200,
         "context": {"groupId": gid}, "timestamp": ts(1)},
    ]
    assert len(email) == 320
    response = post(collector_app.test_client(), "/v1/batch", {"batch": batch})
    assert response.status_code == 200
    assert (response.get_json()["accepted"], response.get_json()["rejectedCount"]) == (4, 0)
    with canary_store(collector_app).session(collector_app.config["TEST_TENANT"]) as s:
        assert s.scalars(select(SourceLink.external_id).where(SourceLink.system == "product")).one() == gid
        assert s.scalars(select(Account.name).where(Account.name == name)).one() == name
        assert {(u.user_key, u.name, u.email) for u in s.scalars(select(ProductUser))} == {
            (uid, name, email), ("anon:" + anon, None, None)}
        assert s.scalars(select(SurveyResponse.source_ref)).one() == "nps-" + "9" * 251
        assert set(s.scalars(select(CollectedMessage.message_id))) == {"M" * 255, "id-1", "nps-" + "9" * 251, "anon-1"}
        assert set(s.scalars(select(UsageDaily.event))) == {"NPS Survey Submitted", "E" * 200}
