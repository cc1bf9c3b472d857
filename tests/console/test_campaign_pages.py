"""The campaign console (issue 17 C): audiences with a live count, the draft editor (steps added, moved and
removed without losing what was typed; bad input named, nothing lost), the template preview with a real person,
a test e-mail to oneself through a real SMTP server, activation behind a confirmation, the audit trail, the
dashboard per campaign and per step with its chart, table and CSV, and the read-only roles."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from extensions import canary_store
from mail.outbox import deliver
from store.models import AuditEvent, Campaign, SavedAudience
from tests.campaigns.conftest import MAIL, STEP_ONE, STEP_TWO, active_campaign, seed_segment, smtp
from tests.console.conftest import CHEAP_ARGON2, PASSWORD, Workspace, csrf_of, signed_in_client
from tests.shared import WORLD_NOW, pinned_clock
from tests.smtp_server import smtp_server

PUBLIC_URL = "https://canary.alpha.example"


@pytest.fixture(autouse=True)
def _pinned() -> Iterator[None]:
    with pinned_clock():
        yield


def team_workspace(app: Any, slug: str) -> Workspace:
    """A workspace with an admin, a manager, a CSM and a viewer, and no accounts or people of its own."""
    from console.auth import passwords
    from console.people import add_user
    from store.tenants import create_tenant

    store = canary_store(app)
    with store.session() as s:
        tenant, _ = create_tenant(s, slug, slug.title())
    ws = Workspace(tenant.id, slug)
    with store.session(tenant.id) as s:
        for role in ("admin", "manager", "csm", "viewer"):
            user = add_user(s, f"{role}@{slug}.example", role, name=f"{slug.title()} {role.title()}",
                            password=PASSWORD, hasher=passwords(app))
            ws.users[role], ws.emails[role] = user.id, user.email
    return ws


@pytest.fixture
def console_world(app_factory: Any) -> tuple[Any, Any, Any]:
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, PUBLIC_URL=PUBLIC_URL)
    ws = team_workspace(app, "alpha")
    segment = seed_segment(canary_store(app), ws.tenant_id)
    return app, ws, segment


def _audit(app: Any, tenant_id: int, action: str) -> list[dict[str, Any]]:
    with canary_store(app).session(tenant_id) as s:
        return [e.detail for e in s.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                            .order_by(AuditEvent.id))]


def test_an_audience_is_counted_live_saved_and_listed_and_bad_input_keeps_what_was_typed(console_world: Any) -> None:
    app, ws, _ = console_world
    manager = signed_in_client(app, ws.emails["manager"])
    live = manager.post("/audiences/preview", data={"roles": "champion", "csrf_token": csrf_of(manager)})
    assert live.status_code == 200
    assert live.get_json() == {"count": 1, "people": [
        {"email": "ann@acme.test", "name": "Ann", "account_id": live.get_json()["people"][0]["account_id"],
         "time_zone": "Europe/Amsterdam"}]}
    everyone = manager.post("/audiences/preview", data={"csrf_token": csrf_of(manager)}).get_json()
    assert everyone["count"] == 3 and sorted(p["email"] for p in everyone["people"]) == [
        "ann@acme.test", "bob@acme.test", "cy@globex.test"]
    bad = manager.post("/audiences/preview", data={"active_within_days": "soon", "csrf_token": csrf_of(manager)})
    assert bad.status_code == 400 and bad.get_json() == {"error": "active within days must be a whole number, "
                                                                  "not 'soon'"}

    saved = manager.post("/audiences/new", data={"name": "Champions", "roles": "champion", "used": "report_created",
                                                 "op": "save", "csrf_token": csrf_of(manager)})
    assert saved.status_code == 302
    listed = manager.get("/audiences").get_data(as_text=True)
    assert "Champions" in listed and 'data-testid="audience-size">1<' in listed
    assert "role: champion · used report_created in the last 30 days" in listed
    clash = manager.post("/audiences/new", data={"name": "Champions", "tiers": "starter", "op": "save",
                                                 "csrf_token": csrf_of(manager)})
    page = clash.get_data(as_text=True)
    assert clash.status_code == 400 and "there is already an audience called “Champions”" in page
    assert 'value="starter"' in page  # what was typed is still there
    both = manager.post("/audiences/new", data={"name": "Odd", "used": "export", "not_used": "export", "op": "save",
                                                "csrf_token": csrf_of(manager)})
    assert both.status_code == 400 and "export cannot be both used and not used" in both.get_data(as_text=True)
    with canary_store(app).session(ws.tenant_id) as s:
        assert [(a.name, a.definition) for a in s.scalars(select(SavedAudience))] == [
            ("Champions", {"roles": ["champion"], "used": ["report_created"], "usage_window_days": 30})]
    assert _audit(app, ws.tenant_id, "audience.create") == [{"name": "Champions"}]
    csm = signed_in_client(app, ws.emails["csm"])
    assert csm.get("/audiences").status_code == 200
    assert csm.post("/audiences/new", data={"name": "X", "csrf_token": csrf_of(csm)}).status_code == 403


def _editor_form(page_steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    form: dict[str, Any] = {"name": "Welcome track", "category": "customer_success", "conversion_days": "14",
                            "goal_kind": "event", "goal_event": "report_created", "step_count": str(len(page_steps))}
    for i, step in enumerate(page_steps, start=1):
        for key, value in step.items():
            form[f"step-{i}-{key}"] = str(value)
    form.update(extra)
    return form


def test_the_draft_editor_adds_moves_removes_and_saves_steps_and_names_bad_input(console_world: Any) -> None:
    app, ws, _ = console_world
    admin = signed_in_client(app, ws.emails["admin"])
    created = admin.post("/campaigns/new", data={"csrf_token": csrf_of(admin)})
    assert created.status_code == 302
    with canary_store(app).session(ws.tenant_id) as s:
        campaign_id = s.scalars(select(Campaign.id)).one()
    url = f"/campaigns/{campaign_id}/edit"
    steps = [{"kind": "send_email", **{k: v for k, v in STEP_ONE.items() if k != "kind"}}]
    added = admin.post(url, data={**_editor_form(steps), "op": "add:wait", "csrf_token": csrf_of(admin)})
    page = added.get_data(as_text=True)
    assert added.status_code == 200 and "Wait added as step 2 (not saved yet)" in page
    assert 'data-testid="step-2" data-kind="wait"' in page and 'value="Welcome track"' in page
    steps.append({"kind": "wait", "days": "2"})
    steps.append({"kind": "send_email", **{k: v for k, v in STEP_TWO.items() if k != "kind"}})
    moved = admin.post(url, data={**_editor_form(steps), "op": "up:3", "csrf_token": csrf_of(admin)})
    page = moved.get_data(as_text=True)
    assert 'data-testid="step-2" data-kind="send_email"' in page and 'data-testid="step-3" data-kind="wait"' in page
    removed = admin.post(url, data={**_editor_form(steps), "op": "remove:1", "csrf_token": csrf_of(admin)})
    assert 'data-testid="step-1" data-kind="wait"' in removed.get_data(as_text=True)

    broken = [dict(steps[0], subject="Hi {{ user.name"), *steps[1:]]
    refused = admin.post(url, data={**_editor_form(broken), "op": "save", "csrf_token": csrf_of(admin)})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "step 1: subject line 1:" in page
    assert 'value="Hi {{ user.name"' in page  # nothing typed is lost
    bad_days = admin.post(url, data={**_editor_form(steps, conversion_days="ever"), "op": "save",
                                     "csrf_token": csrf_of(admin)})
    assert bad_days.status_code == 400 and "conversion window: a whole number of days" in bad_days.get_data(
        as_text=True)

    saved = admin.post(url, data={**_editor_form(steps), "op": "save", "csrf_token": csrf_of(admin)})
    assert saved.status_code == 302
    with canary_store(app).session(ws.tenant_id) as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        assert (campaign.name, campaign.conversion_days, campaign.goal) == (
            "Welcome track", 14, {"kind": "event", "event": "report_created"})
        assert [(st.position, st.kind) for st in campaign.steps] == [(1, "send_email"), (2, "wait"), (3, "send_email")]
        assert campaign.steps[1].config == {"days": 2}
    assert _audit(app, ws.tenant_id, "campaign.update") == [
        {"changed": ["conversion_days", "goal_event", "goal_kind", "name", "steps"]}]
    viewer = signed_in_client(app, ws.emails["viewer"])
    assert viewer.post(url, data={**_editor_form(steps), "csrf_token": csrf_of(viewer)}).status_code == 403


def test_an_in_app_step_saved_with_the_push_box_asks_for_a_push_and_without_it_does_not(console_world: Any) -> None:
    app, ws, _ = console_world
    admin = signed_in_client(app, ws.emails["admin"])
    admin.post("/campaigns/new", data={"csrf_token": csrf_of(admin)})
    with canary_store(app).session(ws.tenant_id) as s:
        campaign_id = s.scalars(select(Campaign.id)).one()
    url = f"/campaigns/{campaign_id}/edit"
    in_app = {"kind": "send_in_app", "title": "New reports", "body": "Try them", "in_app_kind": "banner"}
    steps = [dict(in_app, push="on"), in_app]
    saved = admin.post(url, data={**_editor_form(steps), "op": "save", "csrf_token": csrf_of(admin)})
    assert saved.status_code == 302
    with canary_store(app).session(ws.tenant_id) as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        assert [st.config.get("push") for st in campaign.steps] == [True, None]
    page = admin.get(url).get_data(as_text=True)
    assert 'data-testid="step-1-push" checked>' in page and 'data-testid="step-2-push">' in page


def test_preview_with_a_real_person_shows_template_errors_with_their_line_and_a_test_reaches_me(
        app_factory: Any) -> None:
    from jobs import queue_of

    with smtp_server() as (inbox, port):
        app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, PUBLIC_URL=PUBLIC_URL,
                          SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_FROM="success@alpha.example")
        ws = team_workspace(app, "alpha")
        store = canary_store(app)
        seed_segment(store, ws.tenant_id)
        bad = {"kind": "send_email", "subject": "Hello", "html": "<p>Hi</p>\n<p>{{ account.owner.name }}</p>"}
        with store.session(ws.tenant_id) as s:
            from campaigns.manage import create_campaign

            campaign = create_campaign(s, name="Preview", audience={"roles": ["champion"]}, steps=[STEP_ONE, bad])
            campaign_id = campaign.id
        admin = signed_in_client(app, ws.emails["admin"])
        shown = admin.get(f"/campaigns/{campaign_id}/preview?step=1")
        page = shown.get_data(as_text=True)
        assert shown.status_code == 200 and 'data-testid="rendered-subject">Welcome, Ann Archer<' in page
        assert "Hi Ann Archer of Acme" in page and f"{PUBLIC_URL}/u/preview" in page
        html = admin.get(f"/campaigns/{campaign_id}/preview.html?step=1&person=ann@acme.test")
        assert "script-src" not in html.headers["Content-Security-Policy"]
        assert html.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert "<p>Hi Ann Archer of Acme</p>" in html.get_data(as_text=True)
        broken = admin.get(f"/campaigns/{campaign_id}/preview?step=2&person=ann@acme.test")
        text = broken.get_data(as_text=True)
        assert broken.status_code == 400 and 'data-testid="template-error"' in text
        assert '<span class="line-no">html line 2</span>' in text
        assert admin.get(f"/campaigns/{campaign_id}/preview?step=1&person=nobody@x.test").status_code == 404

        sent = admin.post(f"/campaigns/{campaign_id}/test", data={"step": "1", "person": "ann@acme.test",
                                                                  "csrf_token": csrf_of(admin)})
        assert sent.status_code == 302
        queue_of(app).drain()
        assert inbox.count == 1
        message = inbox.messages()[0]
    assert message["To"] == ws.emails["admin"] and message["Subject"] == "[Test] Welcome, Ann Archer"
    assert message["List-Unsubscribe"] is None  # a test is transactional: nobody can be unsubscribed by it
    assert _audit(app, ws.tenant_id, "campaign.test") == [{"step": 1, "rendered_for": "ann@acme.test"}]


def test_activation_needs_confirmation_and_is_audited_then_pause(console_world: Any) -> None:
    app, ws, _ = console_world
    admin = signed_in_client(app, ws.emails["admin"])
    admin.post("/campaigns/new", data={"csrf_token": csrf_of(admin)})
    with canary_store(app).session(ws.tenant_id) as s:
        campaign_id = s.scalars(select(Campaign.id)).one()
    confirm = admin.get(f"/campaigns/{campaign_id}/status?to=active").get_data(as_text=True)
    assert "3 people are in its audience now" in confirm
    unconfirmed = admin.post(f"/campaigns/{campaign_id}/status", data={"status": "active",
                                                                        "csrf_token": csrf_of(admin)})
    assert unconfirmed.status_code == 400 and "confirm the change" in unconfirmed.get_data(as_text=True)
    wrong = admin.post(f"/campaigns/{campaign_id}/status", data={"status": "paused", "confirm": "yes",
                                                                  "csrf_token": csrf_of(admin)})
    assert wrong.status_code == 400 and "a draft campaign can become active, not &#39;paused&#39;" in wrong.get_data(
        as_text=True)
    done = admin.post(f"/campaigns/{campaign_id}/status", data={"status": "active", "confirm": "yes",
                                                                 "csrf_token": csrf_of(admin)})
    assert done.status_code == 302
    admin.post(f"/campaigns/{campaign_id}/status", data={"status": "paused", "confirm": "yes",
                                                          "csrf_token": csrf_of(admin)})
    with canary_store(app).session(ws.tenant_id) as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "paused" and campaign.activated_at is not None
    assert _audit(app, ws.tenant_id, "campaign.status") == [{"before": "draft", "after": "active"},
                                                            {"before": "active", "after": "paused"}]
    page = admin.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "status · before: draft; after: active" in page and "create · name: New campaign" in page
    assert admin.get(f"/campaigns/{campaign_id}/edit").status_code == 409  # only drafts are edited


def test_the_dashboard_counts_per_campaign_and_step_with_a_chart_table_and_csv(console_world: Any) -> None:
    from campaigns.runner import run_due

    app, ws, _ = console_world
    store = canary_store(app)
    campaign_id = active_campaign(store, ws.tenant_id, [STEP_ONE, {"kind": "wait", "days": 1}, STEP_TWO],
                                  audience={"roles": ["champion", "user"]})
    with smtp_server() as (inbox, port):
        run_due(store, ws.tenant_id, WORLD_NOW, mail=MAIL, queue_message=None)
        summary = deliver(store, ws.tenant_id, smtp(port))
        assert summary.sent == 2 and inbox.count == 2
    with store.session(ws.tenant_id) as s:
        from store.models import OutboxMessage

        token = s.scalars(select(OutboxMessage.unsubscribe_token).where(
            OutboxMessage.to_address == "bob@acme.test")).one()
    assert app.test_client().post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    csm = signed_in_client(app, ws.emails["csm"])
    page = csm.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    for key, value in (("enrolled", 2), ("sent", 2), ("delivered", 2), ("unsubscribed", 1), ("bounced", 0)):
        assert f'data-testid="figure-{key}"><div class="figure-label">' in page
        assert f'{key.replace("_", " ").capitalize()}</div><div class="figure-value">{value}</div>' in page
    assert '<svg' in page and 'data-testid="chart-campaign-progress"' in page
    assert ('<tr data-step="1"><th scope="row">1. Send an e-mail</th><td class="num">2</td><td class="num">2</td>'
            in page)
    rows = list(csv.reader(io.StringIO(csm.get(f"/campaigns/{campaign_id}/stats.csv").get_data(as_text=True))))
    assert rows[0] == ["day", "sent", "delivered", "bounced", "opened", "clicked", "unsubscribed", "goal_reached"]
    assert rows[-1][1:] == ["2", "2", "0", "0", "0", "1", "0"]
    steps = list(csv.reader(io.StringIO(csm.get(f"/campaigns/{campaign_id}/stats.csv?view=steps").get_data(
        as_text=True))))
    assert steps == [["step", "kind", "sent", "delivered", "bounced", "opened", "clicked", "unsubscribed"],
                     ["1", "send_email", "2", "2", "0", "0", "0", "1"], ["2", "wait", "0", "0", "0", "0", "0", "0"],
                     ["3", "send_email", "0", "0", "0", "0", "0", "0"]]
    listed = csm.get("/campaigns").get_data(as_text=True)
    assert "Onboarding" in listed and 'data-testid="enrolled">2<' in listed
    assert csm.post("/campaigns/new", data={"csrf_token": csrf_of(csm)}).status_code == 403


def test_campaign_pages_are_tenant_scoped(console_world: Any, app_factory: Any) -> None:
    app, ws, _ = console_world
    other = team_workspace(app, "beta")
    campaign_id = active_campaign(canary_store(app), ws.tenant_id, [STEP_ONE])
    stranger = signed_in_client(app, other.emails["admin"])
    assert stranger.get(f"/campaigns/{campaign_id}").status_code == 404
    assert stranger.get(f"/campaigns/{campaign_id}/stats.csv").status_code == 404
    assert "Onboarding" not in stranger.get("/campaigns").get_data(as_text=True)
    assert app.test_client().get("/campaigns").status_code in (302, 401)


def test_the_api_lists_campaigns_and_their_stats_for_the_token_workspace_only(console_world: Any) -> None:
    from campaigns.runner import run_due
    from tests.api.test_api_v1 import bearer

    app, ws, _ = console_world
    store = canary_store(app)
    campaign_id = active_campaign(store, ws.tenant_id, [STEP_ONE], audience={"roles": ["champion"]})
    run_due(store, ws.tenant_id, WORLD_NOW, mail=MAIL, queue_message=None)
    other = team_workspace(app, "beta")
    client = app.test_client()
    listed = client.get("/api/v1/campaigns", headers=bearer(app, ws, "viewer")).get_json()
    assert [(c["id"], c["name"], c["status"], c["enrolled"], c["steps"]) for c in listed["data"]] == [
        (campaign_id, "Onboarding", "active", 1, [{"position": 1, "kind": "send_email"}])]
    assert client.get("/api/v1/campaigns?status=sent", headers=bearer(app, ws, "viewer")).status_code == 400
    stats = client.get(f"/api/v1/campaigns/{campaign_id}/stats?as_of={WORLD_NOW.date()}",
                       headers=bearer(app, ws, "viewer")).get_json()
    assert (stats["campaign"]["sent"], stats["campaign"]["enrolled"], stats["steps"][0]["sent"]) == (1, 1, 1)
    assert stats["days"][-1] == {"day": WORLD_NOW.date().isoformat(), "sent": 1, "delivered": 0, "bounced": 0,
                                 "opened": 0, "clicked": 0, "unsubscribed": 0, "goal_reached": 0}
    assert client.get(f"/api/v1/campaigns/{campaign_id}/stats?as_of=soon",
                      headers=bearer(app, ws, "viewer")).status_code == 400
    assert client.get(f"/api/v1/campaigns/{campaign_id}/stats", headers=bearer(app, other, "viewer")).status_code == 404
    assert client.get("/api/v1/campaigns", headers=bearer(app, other, "viewer")).get_json()["data"] == []
