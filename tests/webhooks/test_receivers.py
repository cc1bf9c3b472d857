"""The receivers: verified, de-duplicated, loop-guarded deliveries become exactly these `Change`s."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

import jobs
from sync.changes import Change
from tests.shared import WORLD_NOW, pinned_clock
from tests.webhooks.helpers import (
    APP_ID,
    INTEGRATION_USER,
    ORG,
    PORTAL,
    ZENDESK_API_USER,
    Recorder,
    connect_workspace,
    hubspot_event,
    hubspot_post,
    salesforce_body,
    salesforce_post,
    zendesk_event,
    zendesk_post,
)

NOW = WORLD_NOW


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(jobs, "submit_changes", rec)
    return rec


@pytest.fixture
def setup(app: Any, recorder: Recorder) -> Iterator[tuple[Any, int, Recorder]]:
    tenant_id = connect_workspace(app)
    with pinned_clock(NOW):
        yield app.test_client(), tenant_id, recorder


# --- HubSpot ------------------------------------------------------------------------


def test_hubspot_batch_becomes_changes(setup: Any) -> None:
    client, tenant_id, rec = setup
    events = [hubspot_event(1, "company.propertyChange", 501, at=NOW, propertyName="name", propertyValue="A"),
              hubspot_event(2, "contact.creation", 601, at=NOW),
              hubspot_event(3, "deal.deletion", 701, at=NOW),
              hubspot_event(4, "company.merge", 502, at=NOW, primaryObjectId=502, mergedObjectIds=[503, 504]),
              hubspot_event(5, "object.propertyChange", 801, at=NOW, objectTypeId="0-5"),
              hubspot_event(6, "line_item.creation", 901, at=NOW)]
    answer = hubspot_post(client, events, at=NOW)
    assert answer.status_code == 200, answer.json
    at = dt.datetime.fromtimestamp(int(NOW.timestamp() * 1000) / 1000, dt.UTC)
    assert rec.calls == [(tenant_id, [
        Change("hubspot", "accounts", "501", "upsert", "1", at),
        Change("hubspot", "contacts", "601", "upsert", "2", at),
        Change("hubspot", "deals", "701", "delete", "3", at),
        Change("hubspot", "accounts", "503", "merge", "4", at, "502"),
        Change("hubspot", "accounts", "504", "merge", "4", at, "502"),
        Change("hubspot", "accounts", "502", "upsert", "4", at),
        Change("hubspot", "tickets", "801", "upsert", "5", at),
    ])]
    assert answer.json == {"handed_over": 7, "duplicates": 0, "own_changes": 0, "unknown_accounts": 0}


@pytest.mark.parametrize(("secret", "offset_s", "message"), [
    ("not-the-client-secret", 0, "does not match"),
    (None, -301, "older than 5 minutes"),
    (None, 120, "in the future"),
])
def test_hubspot_forged_or_stale_is_refused(setup: Any, secret: str | None, offset_s: int, message: str) -> None:
    client, _, rec = setup
    kwargs: dict[str, Any] = {"secret": secret} if secret else {}
    answer = hubspot_post(client, [hubspot_event(1, at=NOW)], at=NOW + dt.timedelta(seconds=offset_s), **kwargs)
    assert answer.status_code == 401
    assert message in answer.json["error"]
    assert rec.calls == []


def test_hubspot_replayed_request_is_refused(setup: Any) -> None:
    client, _, rec = setup
    first = hubspot_post(client, [hubspot_event(1, at=NOW)], at=NOW)
    again = hubspot_post(client, [hubspot_event(1, at=NOW)], at=NOW)  # the same signed request, byte for byte
    assert (first.status_code, again.status_code) == (200, 401)
    assert "replayed" in again.json["error"]
    assert len(rec.changes) == 1


def test_hubspot_duplicate_and_out_of_order_deliveries_hand_over_each_event_once(setup: Any) -> None:
    client, _, rec = setup
    later = [hubspot_event(2, at=NOW + dt.timedelta(seconds=5)), hubspot_event(3, "company.deletion", at=NOW)]
    earlier = [hubspot_event(1, at=NOW - dt.timedelta(seconds=5))]
    assert hubspot_post(client, later, at=NOW).status_code == 200
    assert hubspot_post(client, earlier, at=NOW + dt.timedelta(seconds=1)).status_code == 200
    retried = hubspot_post(client, [*earlier, *later], at=NOW + dt.timedelta(seconds=2))  # a retry, signed anew
    assert retried.status_code == 200
    assert retried.json["duplicates"] == 3 and retried.json["handed_over"] == 0
    assert sorted(c.event_id or "" for c in rec.changes) == ["1", "2", "3"]
    assert len(rec.calls[-1][1]) == 0


def test_hubspot_own_app_changes_are_dropped(setup: Any) -> None:
    client, _, rec = setup
    own = hubspot_event(1, at=NOW, changeSource="INTEGRATION", sourceId=APP_ID)
    other_app = hubspot_event(2, at=NOW, changeSource="INTEGRATION", sourceId="123")
    answer = hubspot_post(client, [own, other_app], at=NOW)
    assert answer.json["own_changes"] == 1
    assert [c.event_id for c in rec.changes] == ["2"]


def test_hubspot_portals_route_to_their_workspaces(app: Any, setup: Any) -> None:
    client, tenant_id, rec = setup
    other = connect_workspace(app, "beta", portal="555", subdomain="beta-support", org="00D000000000002AAA")
    events = [hubspot_event(1, at=NOW), hubspot_event(2, at=NOW, portal="555"), hubspot_event(3, at=NOW, portal="9")]
    answer = hubspot_post(client, events, at=NOW)
    assert answer.status_code == 200
    assert [(t, [c.event_id for c in cs]) for t, cs in rec.calls] == [(tenant_id, ["1"]), (other, ["2"])]
    assert answer.json["unknown_accounts"] == 1


@pytest.mark.parametrize("body", [b"{not json", b'{"eventId": 1}', b"[]", b'[{"eventId": 1, "portalId": "x"}]'])
def test_hubspot_malformed_body_is_400(setup: Any, body: bytes) -> None:
    client, _, rec = setup
    stamp = str(int(NOW.timestamp() * 1000))
    from integrations.hubspot.signatures import hubspot_v3_signature

    answer = client.post("/webhooks/hubspot", data=body, content_type="application/json", headers={
        "X-HubSpot-Request-Timestamp": stamp,
        "X-HubSpot-Signature-v3": hubspot_v3_signature("POST", "http://localhost/webhooks/hubspot", body, stamp,
                                                       "hubspot-webhook-client-secret")})
    assert answer.status_code == 400 and answer.json["error"]
    assert rec.calls == []


def test_hubspot_signed_event_without_its_id_is_400(setup: Any) -> None:
    client, _, rec = setup
    event = hubspot_event(1, at=NOW)
    del event["eventId"]
    answer = hubspot_post(client, [event], at=NOW)
    assert answer.status_code == 400 and "eventId" in answer.json["error"]
    assert rec.calls == []


def test_hubspot_unknown_portal_is_404(setup: Any) -> None:
    client, _, rec = setup
    answer = hubspot_post(client, [hubspot_event(1, at=NOW, portal="999")], at=NOW)
    assert answer.status_code == 404 and "no Canary workspace" in answer.json["error"]
    assert rec.calls == []


def test_a_full_batch_is_answered_within_two_seconds(setup: Any) -> None:
    client, _, rec = setup
    events = [hubspot_event(i, object_id=1000 + i, at=NOW) for i in range(1, 101)]
    started = time.perf_counter()
    answer = hubspot_post(client, events, at=NOW)
    assert answer.status_code == 200 and answer.json["handed_over"] == 100
    assert time.perf_counter() - started < 2.0
    assert len(rec.changes) == 100


# --- Zendesk ------------------------------------------------------------------------


def test_zendesk_events_and_ticket_trigger_become_changes(setup: Any) -> None:
    client, tenant_id, rec = setup
    assert zendesk_post(client, zendesk_event("e-1", "organization.created", "42", at=NOW), at=NOW).status_code == 200
    assert zendesk_post(client, zendesk_event("e-2", "user.deleted", "77", at=NOW), at=NOW).status_code == 200
    ticket = {"type": "canary:ticket", "ticket_id": "5150", "organization_id": "42",
              "updated_at": "2026-11-30T09:59:58Z", "actor_id": "123"}
    assert zendesk_post(client, ticket, at=NOW).status_code == 200
    assert rec.changes == [
        Change("zendesk", "accounts", "42", "upsert", "e-1", NOW),
        Change("zendesk", "contacts", "77", "delete", "e-2", NOW),
        Change("zendesk", "tickets", "5150", "upsert", "ticket:5150:2026-11-30T09:59:58+00:00",
               dt.datetime(2026, 11, 30, 9, 59, 58, tzinfo=dt.UTC)),
    ]
    assert {t for t, _ in rec.calls} == {tenant_id}


@pytest.mark.parametrize(("secret", "offset_s", "message"), [
    ("wrong-secret", 0, "does not match"),
    (None, -301, "older than 5 minutes"),
    (None, 120, "in the future"),
])
def test_zendesk_forged_or_stale_is_refused(setup: Any, secret: str | None, offset_s: int, message: str) -> None:
    client, _, rec = setup
    kwargs: dict[str, Any] = {"secret": secret} if secret else {}
    answer = zendesk_post(client, zendesk_event("e-1", at=NOW), at=NOW + dt.timedelta(seconds=offset_s), **kwargs)
    assert answer.status_code == 401 and message in answer.json["error"]
    assert rec.calls == []


def test_zendesk_replayed_request_is_refused_and_a_redelivery_is_handed_over_once(setup: Any) -> None:
    client, _, rec = setup
    event = zendesk_event("e-1", at=NOW)
    assert zendesk_post(client, event, at=NOW).status_code == 200
    replay = zendesk_post(client, event, at=NOW)
    assert replay.status_code == 401 and "replayed" in replay.json["error"]
    resent = zendesk_post(client, event, at=NOW + dt.timedelta(seconds=30))  # Zendesk's retry: signed anew
    assert resent.status_code == 200 and resent.json["duplicates"] == 1
    assert [c.event_id for c in rec.changes] == ["e-1"]


def test_zendesk_loop_guard(setup: Any) -> None:
    client, _, rec = setup
    canary_field = zendesk_event("e-1", "organization.custom_field_changed", at=NOW, event={
        "current": "72", "previous": "70", "custom_field": {"id": "1", "key": "canary_health_score", "title": "Score"}})
    their_field = zendesk_event("e-2", "organization.custom_field_changed", at=NOW, event={
        "current": "x", "previous": "y", "custom_field": {"id": "2", "key": "success_manager", "title": "CSM"}})
    by_canary = {"type": "canary:ticket", "ticket_id": "1", "updated_at": "2026-11-30T09:00:00Z",
                 "actor_id": ZENDESK_API_USER}
    for payload in (canary_field, their_field, by_canary):
        assert zendesk_post(client, payload, at=NOW).status_code == 200
    assert [c.event_id for c in rec.changes] == ["e-2"]


def test_zendesk_bad_requests(setup: Any) -> None:
    client, _, rec = setup
    assert zendesk_post(client, {}, at=NOW, raw=b"[1, 2").status_code == 400
    assert zendesk_post(client, {"type": "zen:event-type:ticket.created", "id": "x"}, at=NOW).status_code == 400
    unknown = zendesk_post(client, zendesk_event("e-1", at=NOW), at=NOW, subdomain="nobody")
    assert unknown.status_code == 404
    assert client.post("/webhooks/zendesk", data=b"{}").status_code == 404  # the account is in the path
    assert client.post("/webhooks/intercom", data=b"{}").status_code == 404
    assert rec.calls == []


# --- Salesforce ---------------------------------------------------------------------


def test_salesforce_outbound_message_is_acked_and_handed_over(setup: Any) -> None:
    client, tenant_id, rec = setup
    body = salesforce_body([("04l000000000001AAA", "Account", "001000000000001AAA"),
                            ("04l000000000002AAA", "Opportunity", "006000000000001AAA"),
                            ("04l000000000003AAA", "Lead", "00Q000000000001AAA")], at=NOW)
    answer = salesforce_post(client, body)
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/xml")
    assert b"<notificationsResponse" in answer.data and b"<Ack>true</Ack>" in answer.data
    assert rec.calls == [(tenant_id, [
        Change("salesforce", "accounts", "001000000000001AAA", "upsert", "04l000000000001AAA", NOW),
        Change("salesforce", "deals", "006000000000001AAA", "upsert", "04l000000000002AAA", NOW),
    ])]


def test_salesforce_forged_token_stale_message_and_resend(setup: Any) -> None:
    client, _, rec = setup
    body = salesforce_body([("04l000000000001AAA", "Account", "001000000000001AAA")], at=NOW)
    forged = salesforce_post(client, body, token="guessed")
    assert forged.status_code == 401 and b"<soapenv:Fault>" in forged.data and b"Ack" not in forged.data
    stale = salesforce_post(client, salesforce_body([("04l000000000009AAA", "Account", "001000000000001AAA")],
                                                    at=NOW - dt.timedelta(hours=25)))
    assert stale.status_code == 401 and b"stale" in stale.data
    assert rec.calls == []
    assert salesforce_post(client, body).status_code == 200
    resent = salesforce_post(client, body)  # the ack was lost: Salesforce sends it again
    assert resent.status_code == 200 and b"<Ack>true</Ack>" in resent.data
    assert [c.event_id for c in rec.changes] == ["04l000000000001AAA"]


def test_salesforce_loop_guard_drops_the_integration_users_changes(setup: Any) -> None:
    client, _, rec = setup
    ours = salesforce_body([("04l000000000001AAA", "Account", "001000000000001AAA")], at=NOW,
                           modified_by=INTEGRATION_USER[:15])
    assert salesforce_post(client, ours).status_code == 200
    assert rec.changes == []


def test_salesforce_bad_requests(setup: Any) -> None:
    client, _, rec = setup
    assert salesforce_post(client, b"<not xml").status_code == 400
    entity = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'
    assert salesforce_post(client, entity).status_code == 400
    other_org = salesforce_body([("04l000000000001AAA", "Account", "001000000000001AAA")], at=NOW,
                                org="00D000000000999AAA")
    assert salesforce_post(client, other_org).status_code == 404
    empty = salesforce_body([], at=NOW)
    assert salesforce_post(client, empty).status_code == 400
    assert rec.calls == []
    assert ORG and PORTAL  # the workspace's ids, used by the helpers


def test_answers_name_no_secret(setup: Any) -> None:
    client, _, _ = setup
    answers = [hubspot_post(client, [hubspot_event(1, at=NOW)], at=NOW, secret="bad").data,
               zendesk_post(client, zendesk_event("e-1", at=NOW), at=NOW, secret="bad").data,
               salesforce_post(client, salesforce_body([("04l000000000001AAA", "Account", "001000000000001AAA")],
                                                       at=NOW), token="bad").data]
    for data in answers:
        text = data.decode()
        assert "hubspot-webhook-client-secret" not in text and "zendesk-webhook-signing-secret" not in text
        assert "salesforce-outbound-token" not in text
    assert json.loads(answers[0])["error"]


def test_connect_stores_the_webhook_secret_encrypted_and_the_receiver_uses_it(app: Any, recorder: Recorder,
                                                                              tmp_path: Any) -> None:
    from sqlalchemy import select

    from app import cli
    from extensions import canary_store, credential_cipher
    from store.models import Connection

    connect_workspace(app)
    secret = "a-fresh-zendesk-signing-secret"
    (tmp_path / "hook.secret").write_text(secret + "\n")
    result = app.test_cli_runner().invoke(cli, ["connect", "zendesk", "--tenant", "acme",
                                                "--webhook-secret-file", str(tmp_path / "hook.secret")])
    assert result.exit_code == 0, result.output
    assert secret not in result.output and "webhook secret" in result.output
    with canary_store(app).session() as s:
        conn = s.scalars(select(Connection).where(Connection.system == "zendesk")).one()
        assert secret.encode() not in bytes(conn.credentials_encrypted or b"")
        assert credential_cipher(app).load(conn)["webhook_secret"] == secret
    with pinned_clock(NOW):
        client = app.test_client()
        assert zendesk_post(client, zendesk_event("e-1", at=NOW), at=NOW).status_code == 401  # the old secret
        assert zendesk_post(client, zendesk_event("e-1", at=NOW), at=NOW, secret=secret).status_code == 200
    assert [c.event_id for c in recorder.changes] == ["e-1"]
