"""The usage collector over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from extensions import canary_store
from store.models import Account, EventType, ProductUser, SourceLink, SurveyResponse, UsageDaily
from tests.collector.conftest import OTHER_KEY
from tests.collector.conftest import group as _group
from tests.collector.conftest import post as _post
from tests.collector.conftest import track as _track


def test_mixed_batch_keeps_the_valid_half_and_counts_duplicates_once(collector_app: Any) -> None:
    client = collector_app.test_client()
    batch = [
        _group("acct-1", "u1", name="Initech", website="https://www.initech.io"),
        _track("m1", "u1", "Logged In", "acct-1", minutes=30),
        _track("m2", "u1", "Report Created", "acct-1"),
        _track("m2", "u1", "Report Created", "acct-1"),  # same messageId twice in one batch
        {"type": "track", "messageId": "bad-1", "event": "Logged In"},  # no user id
        {"type": "track", "messageId": "bad-2", "userId": "u1", "event": "X", "timestamp": "yesterday"},
        {"type": "nonsense", "messageId": "bad-3", "userId": "u1"},
        _track("m3", "u1", "Logged In", "acct-1", minutes=15),
    ]
    response = _post(client, "/v1/batch", {"batch": batch})
    assert response.status_code == 200
    body = response.get_json()
    assert body["accepted"] == 4  # group, m1, m2, m3
    assert body["duplicates"] == 1
    assert body["success"] is False
    rejected = {r["messageId"]: r for r in body["rejected"]}
    assert set(rejected) == {"bad-1", "bad-2", "bad-3"}
    assert rejected["bad-1"]["index"] == 4
    assert "userId or anonymousId is required" in json.dumps(rejected["bad-1"]["errors"])
    assert "not an ISO 8601 timestamp" in json.dumps(rejected["bad-2"]["errors"])
    assert "type" in rejected["bad-3"]["errors"]

    # the same batch again: everything valid is a duplicate, nothing is counted twice
    again = _post(client, "/v1/batch", {"batch": batch}).get_json()
    assert again["accepted"] == 0 and again["duplicates"] == 5

    store = canary_store(collector_app)
    with store.session(collector_app.config["TEST_TENANT"]) as s:
        account = s.scalars(select(Account).where(Account.name == "Initech")).one()
        assert account.domain == "initech.io"
        link = s.scalars(select(SourceLink).where(SourceLink.system == "product")).one()
        assert (link.external_id, link.account_id, link.method) == ("acct-1", account.id, "new")
        rows = {(r.event, r.count, r.minutes) for r in s.scalars(select(UsageDaily))}
        assert rows == {("Logged In", 2, 45.0), ("Report Created", 1, 0.0)}
        kinds = dict(s.execute(select(EventType.name, EventType.kind)).all())
        assert kinds == {"Logged In": "login", "Report Created": "feature"}
        user = s.scalars(select(ProductUser)).one()
        assert (user.user_key, user.account_id) == ("u1", account.id)


def test_product_account_links_to_a_synced_account_by_domain(collector_app: Any) -> None:
    client = collector_app.test_client()
    response = _post(client, "/v1/batch", {"batch": [
        _group("g-77", "u9", name="Globex", domain="globex.com"),
        _track("t1", "u9", "Dashboard Viewed"),  # no group: the user's group call tells the account
    ]})
    assert response.status_code == 200 and response.get_json()["accepted"] == 2
    with canary_store(collector_app).session(collector_app.config["TEST_TENANT"]) as s:
        accounts = s.scalars(select(Account)).all()
        assert [a.name for a in accounts] == ["Globex Corporation"]  # no new account
        link = s.scalars(select(SourceLink).where(SourceLink.system == "product")).one()
        assert (link.method, link.account_id, link.name, link.domain) == ("domain", accounts[0].id, "Globex",
                                                                          "globex.com")
        assert "globex.com" in link.reason
        assert s.scalars(select(UsageDaily.account_id)).all() == [accounts[0].id]


def test_a_subsidiary_on_its_parents_domain_gets_its_own_account(collector_app: Any) -> None:
    """The identity rules refuse "Globex" and "Globex Europe" on globex.com as one customer, here too;
    and two product accounts are never folded into one."""
    client = collector_app.test_client()
    response = _post(client, "/v1/batch", {"batch": [
        _group("g-78", "u8", name="Globex Europe", domain="globex.com"),
        _group("g-79", "u7", name="Initech", domain="initech.com"),
        _group("g-80", "u6", name="Initech", domain="initech.com"),
    ]})
    assert response.status_code == 200
    with canary_store(collector_app).session(collector_app.config["TEST_TENANT"]) as s:
        placed = dict(s.execute(select(SourceLink.external_id, SourceLink.account_id)
                                .where(SourceLink.system == "product")).all())
        globex = s.scalar(select(Account.id).where(Account.name == "Globex Corporation"))
        assert set(placed) == {"g-78", "g-79", "g-80"}
        assert len(set(placed.values()) | {globex}) == 4


def test_nps_answers_become_survey_responses(collector_app: Any) -> None:
    client = collector_app.test_client()
    body = _post(client, "/v1/batch", {"batch": [
        _track("n1", "u1", "NPS Survey Submitted", "acct-5", score=3, comment="Too slow"),
        _track("n2", "u1", "NPS Survey Submitted", "acct-5", score=11),
    ]}).get_json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["messageId"] == "n2"
    with canary_store(collector_app).session(collector_app.config["TEST_TENANT"]) as s:
        survey = s.scalars(select(SurveyResponse)).one()
        assert (survey.kind, survey.score, survey.comment, survey.source_ref) == ("nps", 3, "Too slow", "n1")


def test_track_without_any_account_is_rejected_with_a_reason(collector_app: Any) -> None:
    response = _post(collector_app.test_client(), "/v1/track",
                     {"messageId": "lonely", "userId": "nobody", "event": "Logged In"})
    assert response.status_code == 400
    assert "send context.groupId or a group call" in json.dumps(response.get_json())


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{not json", 400, "not valid JSON"),
        ({"messages": []}, 400, '"batch" list'),
        ([1, 2], 400, '"batch" list'),
        ({"batch": [{"type": "track", "userId": "u", "event": "E", "timestamp": "2999-01-01T00:00:00Z"}]},
         400, "in the future"),
        ({"batch": [{"type": "group", "userId": "u"}]}, 400, "needs a groupId"),
        ({"batch": [{"type": "track", "userId": "u"}]}, 400, "needs an event name"),
    ],
)
def test_bad_requests_get_clear_errors(collector_app: Any, body: Any, status: int, fragment: str) -> None:
    response = _post(collector_app.test_client(), "/v1/batch", body)
    assert response.status_code == status
    payload = response.get_json()
    text = payload.get("error") or json.dumps(payload["rejected"])
    assert fragment in text


def test_oversize_batch_gets_413(collector_app: Any) -> None:
    big = {"batch": [_track(f"m{i}", "u1", "Logged In", "a", pad="x" * 1000) for i in range(600)]}
    response = _post(collector_app.test_client(), "/v1/batch", big)
    assert response.status_code == 413
    assert "500 KB" in response.get_json()["error"]


@pytest.mark.parametrize("key", ["wk_wrong", ""])
def test_unknown_write_key_gets_401(collector_app: Any, key: str) -> None:
    response = _post(collector_app.test_client(), "/v1/batch", {"batch": []}, key=key)
    assert response.status_code == 401
    assert "write key" in response.get_json()["error"]


def test_write_keys_keep_tenants_apart(collector_app: Any) -> None:
    client = collector_app.test_client()
    batch = {"batch": [_track("x1", "u1", "Logged In", "acct-1")]}
    _post(client, "/v1/batch", batch, key=OTHER_KEY)
    store = canary_store(collector_app)
    with store.session(collector_app.config["TEST_TENANT"]) as s:
        assert s.scalars(select(UsageDaily)).all() == []
    with store.session(collector_app.config["OTHER_TENANT"]) as s:
        assert len(s.scalars(select(UsageDaily)).all()) == 1
