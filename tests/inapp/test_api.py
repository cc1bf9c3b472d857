"""The snippet's API: the user hash decides whose messages are read; origins decide who may call."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select

from inapp.rules import EVENT_CTA_CLICKED, user_hash
from inapp.web import snippet_version
from store.models import InAppMessage, UsageDaily
from tests.inapp.conftest import ORIGIN, InAppWorld, queue
from tests.shared import WORLD_NOW

MESSAGES = "/inapp/v1/w/alpha/messages"


def test_the_right_hash_reads_only_that_users_messages(world: InAppWorld) -> None:
    ann = queue(world, "u-ann", "campaign:1:step:1")
    queue(world, "u-bob", "campaign:1:step:1")
    answer = world.app.test_client().get(MESSAGES, headers=world.headers("u-ann"))
    assert answer.status_code == 200
    assert [(m["id"], m["title"], m["kind"], m["ctaUrl"]) for m in answer.json["messages"]] == [
        (ann, "campaign:1:step:1 for u-ann", "banner", "https://app.alpha.example/billing")]
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Access-Control-Allow-Credentials" not in answer.headers
    upper = dict(world.headers("u-ann"))
    upper["X-Canary-User-Hash"] = upper["X-Canary-User-Hash"].upper()
    assert world.app.test_client().get(MESSAGES, headers=upper).status_code == 200


@pytest.mark.parametrize("case", ["wrong hash", "other user's id", "no hash", "unknown workspace", "other secret"])
def test_a_bad_identity_answers_403_with_nothing(world: InAppWorld, case: str) -> None:
    queue(world, "u-ann", "campaign:1:step:1")
    queue(world, "u-bob", "campaign:1:step:1")
    path = MESSAGES
    if case == "wrong hash":
        headers = {**world.headers("u-ann"), "X-Canary-User-Hash": "0" * 64}
    elif case == "other user's id":  # Bob's browser, signed for Bob, asking as Ann
        headers = world.headers("u-ann", as_user="u-bob")
    elif case == "no hash":
        headers = {"X-Canary-User": "u-ann", "Origin": ORIGIN}
    elif case == "unknown workspace":
        headers, path = world.headers("u-ann"), "/inapp/v1/w/bravo/messages"
    else:
        headers = {**world.headers("u-ann"), "X-Canary-User-Hash": user_hash("another-secret", "u-ann")}
    answer = world.app.test_client().get(path, headers=headers)
    assert answer.status_code == 403
    assert "messages" not in answer.json
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_marks_need_the_owners_hash(world: InAppWorld) -> None:
    ann = queue(world, "u-ann", "campaign:1:step:1")
    client = world.app.test_client()
    assert client.post(f"{MESSAGES}/{ann}/dismissed", headers=world.headers("u-bob")).status_code == 404
    assert client.post(f"{MESSAGES}/{ann}/dismissed",
                       headers=world.headers("u-ann", as_user="u-bob")).status_code == 403
    with world.store.session(world.tenant_id) as s:
        row = s.get(InAppMessage, ann)
        assert row is not None and row.dismissed_at is None
    answer = client.post(f"{MESSAGES}/{ann}/dismissed", headers=world.headers("u-ann"))
    assert answer.status_code == 200 and answer.json["first"] is True
    with world.store.session(world.tenant_id) as s:
        row = s.get(InAppMessage, ann)
        assert row is not None and row.dismissed_at is not None and row.shown_at == row.dismissed_at
    assert client.get(MESSAGES, headers=world.headers("u-ann")).json["messages"] == []


def test_origins_other_than_the_workspaces_are_refused(world: InAppWorld) -> None:
    queue(world, "u-ann", "campaign:1:step:1")
    client = world.app.test_client()
    evil = client.get(MESSAGES, headers=world.headers("u-ann", origin="https://evil.example"))
    assert evil.status_code == 403 and "Access-Control-Allow-Origin" not in evil.headers
    preflight = client.options(MESSAGES, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET",
                                                  "Access-Control-Request-Headers": "x-canary-user"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert preflight.headers["Access-Control-Allow-Headers"] == "Content-Type, X-Canary-User, X-Canary-User-Hash"
    refused = client.options(MESSAGES, headers={"Origin": "https://evil.example",
                                                "Access-Control-Request-Method": "GET"})
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers
    server_side = client.get(MESSAGES, headers=world.headers("u-ann", origin=None))
    assert server_side.status_code == 200 and len(server_side.json["messages"]) == 1


def test_messages_disappear_when_they_expire(world: InAppWorld) -> None:
    queue(world, "u-ann", "campaign:1:step:1")
    client = world.app.test_client()
    with time_machine.travel(WORLD_NOW + dt.timedelta(days=29), tick=False):
        assert len(client.get(MESSAGES, headers=world.headers("u-ann")).json["messages"]) == 1
    with time_machine.travel(WORLD_NOW + dt.timedelta(days=31), tick=False):
        assert client.get(MESSAGES, headers=world.headers("u-ann")).json["messages"] == []


def test_a_cta_click_is_recorded_and_reaches_usage_once(world: InAppWorld) -> None:
    ann = queue(world, "u-ann", "campaign:3:step:2")
    client = world.app.test_client()
    first = client.post(f"{MESSAGES}/{ann}/clicked", headers=world.headers("u-ann"))
    again = client.post(f"{MESSAGES}/{ann}/clicked", headers=world.headers("u-ann"))
    assert (first.json["usageRecorded"], again.json["usageRecorded"], again.json["first"]) == (1, 0, False)
    with world.store.session(world.tenant_id) as s:
        rows = s.execute(select(UsageDaily.account_id, UsageDaily.user_key, UsageDaily.event, UsageDaily.count)
                         .where(UsageDaily.event == EVENT_CTA_CLICKED)).all()
        row = s.get(InAppMessage, ann)
        assert row is not None and row.clicked_at is not None and row.dismissed_at is None
    assert [tuple(r) for r in rows] == [(world.account_id, "u-ann", EVENT_CTA_CLICKED, 1)]


def test_the_snippet_is_served_versioned(world: InAppWorld) -> None:
    client = world.app.test_client()
    current = client.get(f"/inapp/v1/canary-inapp.js?v={snippet_version()}")
    assert current.status_code == 200 and b"window.Canary" in current.data
    assert current.headers["Content-Type"].startswith("text/javascript")
    assert "max-age=31536000" in current.headers["Cache-Control"]
    stale = client.get("/inapp/v1/canary-inapp.js?v=000000000000")
    assert "max-age=300" in stale.headers["Cache-Control"]
    worker = client.get("/inapp/v1/canary-inapp-sw.js")
    assert worker.status_code == 200 and b"showNotification" in worker.data


def test_a_workspace_over_its_rate_gets_429_with_retry_after(world: InAppWorld) -> None:
    from collector.limits import RateLimiter
    from inapp.web import LIMITER

    now = [0.0]
    world.app.extensions[LIMITER] = RateLimiter(rate=1, burst=2, clock=lambda: now[0])
    client = world.app.test_client()
    codes = [client.get(MESSAGES, headers=world.headers("u-ann")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = client.get(MESSAGES, headers=world.headers("u-ann"))
    assert limited.headers["Retry-After"] == "1" and "messages" not in limited.json
    now[0] = 1.0
    assert client.get(MESSAGES, headers=world.headers("u-ann")).status_code == 200
