"""The console's notification pages: the bell in the header (unread count), the list, mark read, acknowledge,
snooze; each user's settings page (validated, audited); the admin's workspace page (admins only, the Slack
secret encrypted and never shown back). Every page is signed in and shows only the user's own notifications."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from extensions import canary_store
from jobs.work import notify_job
from store.models import AuditEvent, NotifyDelivery, NotifyPreference, NotifySettings
from tests.console.conftest import CHEAP_ARGON2, Workspace, seed_workspace, seeded_workspaces, signed_in_client
from tests.dbtemplate import Templates
from tests.notify.conftest import BOT_TOKEN


@pytest.fixture
def console_app(app_factory: Any) -> Any:
    return app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False)


@pytest.fixture
def seeded(console_app: Any, db_templates: Templates) -> tuple[Workspace, Workspace]:
    alpha, bravo = seeded_workspaces(console_app, db_templates, ("alpha", "Alpha"), ("bravo", "Bravo"))
    for ws in (alpha, bravo):
        notify_job(console_app, ws.tenant_id)
    return alpha, bravo


def _bell_ids(app: Any, ws: Workspace, user: str) -> list[int]:
    with canary_store(app).session(ws.tenant_id) as s:
        return list(s.scalars(select(NotifyDelivery.id).where(NotifyDelivery.user_id == ws.users[user],
                                                              NotifyDelivery.channel == "bell")
                              .order_by(NotifyDelivery.id)))


def test_the_bell_counts_lists_and_marks_read_only_the_users_own(console_app: Any, seeded: Any) -> None:
    alpha, bravo = seeded
    mine = _bell_ids(console_app, alpha, "csm")
    assert len(mine) == 3  # the alerts of the CSM's three accounts (defaults: my accounts → bell + digest)
    assert _bell_ids(console_app, alpha, "csm2") and not _bell_ids(console_app, alpha, "manager")
    client = signed_in_client(console_app, alpha.emails["csm"])
    page = client.get("/notifications").get_data(as_text=True)
    assert 'data-testid="bell-unread">3<' in page
    assert page.count('class="unread"') == 3 and "Alpha Poor Renewing" in page and "Alpha Other Poor" not in page
    assert "Bravo" not in page.replace(alpha.slug, "")
    other = _bell_ids(console_app, alpha, "csm2")[0]
    assert client.post("/notifications/read", data={"id": str(other), "csrf_token": _csrf(client)}).status_code == 404
    foreign = _bell_ids(console_app, bravo, "csm")[0]
    assert client.post("/notifications/read", data={"id": str(foreign), "csrf_token": _csrf(client)}).status_code == 404
    assert client.post("/notifications/read", data={"id": str(mine[0]), "csrf_token": _csrf(client)}).status_code == 302
    assert 'data-testid="bell-unread">2<' in client.get("/my-day").get_data(as_text=True)
    client.post("/notifications/read", data={"csrf_token": _csrf(client)})
    page = client.get("/notifications").get_data(as_text=True)
    assert 'data-testid="bell-unread"' not in page and page.count('class="read"') == 3
    with canary_store(console_app).session(alpha.tenant_id) as s:
        read = {d.id: d.read_at for d in s.scalars(select(NotifyDelivery).where(NotifyDelivery.channel == "bell"))}
    assert all(read[i] is not None for i in mine) and read[other] is None


def test_signed_out_people_get_no_notifications_page(console_app: Any, seeded: Any) -> None:
    answer = console_app.test_client().get("/notifications")
    assert answer.status_code == 302 and "/sign-in" in answer.headers["Location"]


def test_acknowledge_and_snooze_from_the_bell(console_app: Any, seeded: Any) -> None:
    alpha, _ = seeded
    client = signed_in_client(console_app, alpha.emails["csm"])
    page = client.get("/notifications").get_data(as_text=True)
    alert_id = int(page.split("/notifications/alerts/")[1].split("/")[0])
    assert client.post(f"/notifications/alerts/{alert_id}/acknowledge",
                       data={"csrf_token": _csrf(client)}).status_code == 302
    other = signed_in_client(console_app, alpha.emails["csm2"])
    assert other.post(f"/notifications/alerts/{alert_id}/acknowledge",
                      data={"csrf_token": _csrf(other)}).status_code == 404
    bad = client.post("/notifications/snooze", data={"hours": "0", "csrf_token": _csrf(client)})
    assert bad.status_code == 400 and "1 hour to 90 days" in bad.get_data(as_text=True)
    assert client.post("/notifications/snooze", data={"hours": "8", "csrf_token": _csrf(client)}).status_code == 302
    page = client.get("/notifications").get_data(as_text=True)
    assert 'data-testid="bell-empty"' in page and 'data-testid="bell-unread"' not in page


def test_preferences_are_validated_saved_and_audited(console_app: Any, seeded: Any) -> None:
    alpha, _ = seeded
    client = signed_in_client(console_app, alpha.emails["csm"])
    assert 'name="alert.scope"' in client.get("/notifications/settings").get_data(as_text=True)
    for form, message in (({"alert.scope": "everyone"}, "alert: scope must be one of mine, team, all"),
                          ({"time_zone": "Mars/Olympus"}, "time zone &#39;Mars/Olympus&#39; is unknown"),
                          ({"slack_user": "bob"}, "Slack member id must look like U0123ABCD")):
        answer = client.post("/notifications/settings", data={**form, "csrf_token": _csrf(client)})
        assert answer.status_code == 400 and message in answer.get_data(as_text=True), message
    good = {"alert.scope": "team", "alert.bell": "1", "alert.slack": "1", "alert.min_severity": "high",
            "time_zone": "Europe/Berlin", "slack_user": "U0CSM1", "csrf_token": _csrf(client)}
    assert client.post("/notifications/settings", data=good).status_code == 302
    with canary_store(console_app).session(alpha.tenant_id) as s:
        row = s.scalars(select(NotifyPreference).where(NotifyPreference.user_id == alpha.users["csm"])).one()
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "notify.preferences")).one()
    assert row.rules["alert"] == {"scope": "team", "channels": ["bell", "slack"], "min_severity": "high"}
    assert row.rules["task_assigned"]["channels"] == ["bell", "email"]  # a kind not on the form keeps its default
    assert (row.time_zone, row.slack_user) == ("Europe/Berlin", "U0CSM1")
    assert audit.actor == alpha.emails["csm"] and audit.detail["changed"] == ["alert", "slack_user", "time_zone"]


def test_the_workspace_page_is_for_admins_and_never_shows_the_slack_secret(console_app: Any, seeded: Any) -> None:
    alpha, _ = seeded
    csm = signed_in_client(console_app, alpha.emails["csm"])
    assert csm.get("/admin/notifications").status_code == 403
    assert csm.post("/admin/notifications", data={"slack_mode": "", "csrf_token": _csrf(csm)}).status_code == 403
    admin = signed_in_client(console_app, alpha.emails["admin"])
    refused = admin.post("/admin/notifications", data={"slack_mode": "bot", "slack_secret": "hunter2",
                                                       "csrf_token": _csrf(admin)})
    assert refused.status_code == 400 and "starts with xoxb-" in refused.get_data(as_text=True)
    saved = admin.post("/admin/notifications", data={
        "slack_mode": "bot", "slack_secret": BOT_TOKEN, "slack_channel": "#cs-alerts",
        "slack_routes": "usage_drop = #cs-usage", "escalation_hours": "6", "business_start": "8",
        "business_end": "18", "time_zone": "Europe/Berlin", "csrf_token": _csrf(admin)})
    assert saved.status_code == 302
    page = admin.get("/admin/notifications").get_data(as_text=True)
    assert 'data-testid="secret-stored"' in page and "usage_drop = #cs-usage" in page and BOT_TOKEN not in page
    with canary_store(console_app).session(alpha.tenant_id) as s:
        row = s.scalars(select(NotifySettings)).one()
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "notify.settings")).one()
    assert row.slack_secret_encrypted is not None and BOT_TOKEN.encode() not in row.slack_secret_encrypted
    assert (row.escalation_hours, row.business_start, row.business_end) == (6, 8, 18)
    assert "slack_secret" in audit.detail["changed"] and BOT_TOKEN not in str(audit.detail)
    assert "secret=[redacted]" in repr(row)


def _csrf(client: Any) -> str:
    from tests.console.conftest import csrf_of

    return csrf_of(client)


def test_canary_notify_run_sends_e_mail_now_through_real_smtp(app_factory: Any) -> None:
    from app import cli
    from notify.settings import save_user
    from tests.smtp_server import smtp_server

    with smtp_server() as (inbox, port):
        app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, SMTP_HOST="127.0.0.1", SMTP_PORT=port,
                          SMTP_FROM="canary@alpha.example")
        alpha = seed_workspace(app, "alpha", "Alpha")
        with canary_store(app).session(alpha.tenant_id) as s:
            save_user(s, alpha.users["csm"], {"alert.scope": "mine", "alert.email": "1"}, alpha.emails["csm"])
        first = app.test_cli_runner().invoke(cli, ["notify", "run", "--tenant", "alpha"], catch_exceptions=False)
        again = app.test_cli_runner().invoke(cli, ["notify", "run", "--tenant", "alpha"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "emails 3" in first.output and first.output.strip().endswith("Slack: not set up")
    assert "events 0" in again.output and "emails 0" in again.output
    assert inbox.count == 3
    assert {tuple(rcpt) for _, rcpt, _ in inbox.accepted} == {(alpha.emails["csm"],)}
    subjects = sorted(m["Subject"] for m in inbox.messages())
    assert subjects[0].startswith("New alert — Alpha Good Steady: Usage dropped")
