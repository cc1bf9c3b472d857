"""The console's e-mail settings (admin only, password encrypted, audited, a test e-mail through the outbox and
the send job) and the public unsubscribe pages (RFC 8058 one-click POST; a GET never suppresses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from extensions import canary_store, credential_cipher
from mail.outbox import enqueue
from store.models import AuditEvent, MailSettings, OutboxMessage, Suppression
from tests.console.conftest import CHEAP_ARGON2, csrf_of, seed_workspace, signed_in_client
from tests.mail.conftest import CAMPAIGN, PUBLIC_URL, SENDER, VARIABLES
from tests.shared import WORLD_NOW, pinned_clock
from tests.smtp_server import self_signed, smtp_server


def test_an_admin_sets_smtp_encrypted_and_audited_and_the_test_e_mail_arrives(app_factory: Any,
                                                                               tmp_path: Path) -> None:
    from jobs import queue_of

    cert, key = self_signed(tmp_path)
    with pinned_clock(), smtp_server(tls=(cert, key), login=("mailer", "pa55 word!")) as (inbox, port):
        app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, SMTP_CA_FILE=str(cert),
                          PUBLIC_URL=PUBLIC_URL)
        ws = seed_workspace(app, "alpha", "Alpha")
        admin = signed_in_client(app, ws.emails["admin"])
        form = {"host": "127.0.0.1", "port": str(port), "starttls": "on", "username": "mailer",
                "password": "pa55 word!", "from_address": SENDER}
        saved = admin.post("/admin/settings/mail", data={**form, "csrf_token": csrf_of(admin)})
        assert saved.status_code == 302 and "E-mail+settings+saved" in saved.headers["Location"]
        store = canary_store(app)
        with store.session(ws.tenant_id) as s:
            row = s.scalars(select(MailSettings)).one()
            assert (row.host, row.port, row.starttls, row.username, row.from_address) == (
                "127.0.0.1", port, True, "mailer", SENDER)
            assert row.password_encrypted is not None and b"pa55" not in row.password_encrypted
            assert credential_cipher(app).decrypt(row.password_encrypted) == {"password": "pa55 word!"}
            events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "mail.settings")))
        assert [(e.actor, e.detail) for e in events] == [
            (ws.emails["admin"], {"changed": ["from_address", "host", "password", "port", "starttls", "username"]})]
        # The password is never shown back; saving again without one keeps it and changes nothing.
        page = admin.get("/admin/settings").get_data(as_text=True)
        assert 'value="127.0.0.1"' in page and "pa55" not in page and "stored — leave empty to keep" in page
        again = admin.post("/admin/settings/mail", data={**form, "password": "", "csrf_token": csrf_of(admin)})
        assert "Nothing+changed" in again.headers["Location"]

        sent = admin.post("/admin/settings/mail/test", data={"csrf_token": csrf_of(admin)})
        assert sent.status_code == 302
        queue_of(app).drain()
        assert inbox.count == 1 and inbox.tls_sessions == 1
        message = inbox.messages()[0]
        assert message["To"] == ws.emails["admin"] and message["Subject"] == "Canary test e-mail for Alpha"
        assert message["List-Unsubscribe"] is None
        with store.session(ws.tenant_id) as s:
            test_rows = list(s.scalars(select(OutboxMessage)))
        assert [(r.category, r.state, r.attempts) for r in test_rows] == [("transactional", "sent", 1)]
        listed = admin.get("/admin/settings").get_data(as_text=True)
        assert 'data-testid="mail-tests"' in listed and "<td>sent</td>" in listed


def test_only_an_admin_changes_mail_settings_and_bad_values_are_named(app_factory: Any) -> None:
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False)
    ws = seed_workspace(app, "alpha", "Alpha")
    csm = signed_in_client(app, ws.emails["csm"])
    form = {"host": "smtp.alpha.example", "port": "587", "from_address": SENDER}
    assert csm.post("/admin/settings/mail", data={**form, "csrf_token": csrf_of(csm)}).status_code == 403
    admin = signed_in_client(app, ws.emails["admin"])
    bad_port = admin.post("/admin/settings/mail", data={**form, "port": "70000", "csrf_token": csrf_of(admin)})
    assert bad_port.status_code == 400
    assert "SMTP port must be a number from 1 to 65535" in bad_port.get_data(as_text=True)
    bad_from = admin.post("/admin/settings/mail", data={**form, "from_address": "me", "csrf_token": csrf_of(admin)})
    assert bad_from.status_code == 400 and "from address &#39;me&#39; is not an e-mail address" in bad_from.get_data(
        as_text=True)
    no_server = admin.post("/admin/settings/mail/test", data={"csrf_token": csrf_of(admin)})
    assert no_server.status_code == 400 and "set up an SMTP server first" in no_server.get_data(as_text=True)
    with canary_store(app).session(ws.tenant_id) as s:
        assert s.scalars(select(MailSettings)).all() == [] and s.scalars(select(OutboxMessage)).all() == []


def _queue(app: Any, tenant_id: int, key: str, category: str = "customer_success") -> OutboxMessage:
    with canary_store(app).session(tenant_id) as s:
        row = enqueue(s, key=key, category=category, to="Ann@Acme.test", sender=SENDER, template=CAMPAIGN,
                      variables=VARIABLES, public_url=PUBLIC_URL, now=WORLD_NOW)
        s.flush()
        s.expunge(row)
    return row


def _suppressions(app: Any, tenant_id: int) -> list[tuple[str, str, str]]:
    with canary_store(app).session(tenant_id) as s:
        return [(r.address, r.category, r.source) for r in s.scalars(select(Suppression).order_by(Suppression.id))]


def test_the_one_click_post_suppresses_at_once_and_a_get_never_does(app_factory: Any) -> None:
    from mail.outbox import deliver
    from mail.smtp import SmtpSettings

    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, PUBLIC_URL=PUBLIC_URL)
    alpha, bravo = seed_workspace(app, "alpha", "Alpha"), seed_workspace(app, "bravo", "Bravo")
    with pinned_clock():
        first = _queue(app, alpha.tenant_id, "campaign:1:step:1:person:1")
        other = _queue(app, bravo.tenant_id, "campaign:1:step:1:person:1")
        pending = _queue(app, alpha.tenant_id, "campaign:1:step:2:person:1")
        client = app.test_client()  # nobody signed in, no CSRF token
        url = f"/u/{first.unsubscribe_token}"
        page = client.get(url)
        body = page.get_data(as_text=True)
        assert page.status_code == 200 and 'data-testid="unsubscribe"' in body and "ann@acme.test" in body
        assert page.headers["Cache-Control"] == "no-store" and "form-action 'self'" in page.headers[
            "Content-Security-Policy"]
        assert _suppressions(app, alpha.tenant_id) == []  # a scanner's GET changes nothing

        done = client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and 'data-testid="done"' in done.get_data(as_text=True)
        assert _suppressions(app, alpha.tenant_id) == [("ann@acme.test", "customer_success", "one-click")]
        assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # twice: still once
        assert _suppressions(app, alpha.tenant_id) == [("ann@acme.test", "customer_success", "one-click")]
        assert _suppressions(app, bravo.tenant_id) == []  # another workspace's mail to the address is theirs

        # The next step is never sent; marketing mail is another category and still goes.
        later = _queue(app, alpha.tenant_id, "campaign:1:step:3:person:1")
        news = _queue(app, alpha.tenant_id, "newsletter:12:person:1", category="marketing")
        assert later.state == "suppressed" and news.state == "queued"
        with smtp_server() as (inbox, port):
            summary = deliver(canary_store(app), alpha.tenant_id, SmtpSettings("127.0.0.1", port, starttls=False,
                                                                               from_address=SENDER),
                              clock=lambda: WORLD_NOW)
        assert (summary.suppressed, summary.sent) == (2, 1) and inbox.count == 1  # steps 1 and 2, still queued
        assert inbox.messages()[0]["Message-ID"] == news.message_id
        with canary_store(app).session(alpha.tenant_id) as s:
            assert s.get(OutboxMessage, pending.id).state == "suppressed"  # type: ignore[union-attr]
        assert other.state == "queued"

        unknown = "x" * 43
        assert client.get(f"/u/{unknown}").status_code == 404
        assert client.post(f"/u/{unknown}", data={"List-Unsubscribe": "One-Click"}).status_code == 404
        assert client.post("/u/..%2F..", data={}).status_code == 404


def test_the_page_button_records_its_own_source(app_factory: Any) -> None:
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, PUBLIC_URL=PUBLIC_URL)
    ws = seed_workspace(app, "alpha", "Alpha")
    with pinned_clock():
        row = _queue(app, ws.tenant_id, "news:1", category="marketing")
        answer = app.test_client().post(f"/u/{row.unsubscribe_token}",
                                        data={"List-Unsubscribe": "One-Click", "via": "page"})
    assert answer.status_code == 200
    assert _suppressions(app, ws.tenant_id) == [("ann@acme.test", "marketing", "page")]


def test_the_preference_form_keeps_categories_apart_and_takes_an_unsubscribe_back(app_factory: Any) -> None:
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, PUBLIC_URL=PUBLIC_URL)
    alpha, bravo = seed_workspace(app, "alpha", "Alpha"), seed_workspace(app, "bravo", "Bravo")
    with pinned_clock():
        row = _queue(app, alpha.tenant_id, "campaign:1:step:1:person:1")
        _queue(app, bravo.tenant_id, "campaign:1:step:1:person:1", category="marketing")
        client = app.test_client()  # nobody signed in: the link's token is the key
        url = f"/u/{row.unsubscribe_token}"
        page = client.get(url).get_data(as_text=True)
        assert 'data-testid="receive-customer_success" checked>' in page
        assert 'data-testid="receive-marketing" checked>' in page
        # Marketing off, customer success kept: only the unticked category is suppressed.
        saved = client.post(f"{url}/preferences", data={"receive": ["customer_success"]})
        assert saved.status_code == 200 and 'data-testid="saved"' in saved.get_data(as_text=True)
        assert 'data-testid="receive-marketing">' in saved.get_data(as_text=True)  # shown unticked now
        assert _suppressions(app, alpha.tenant_id) == [("ann@acme.test", "marketing", "preferences")]
        # Unsubscribed from customer success by one click, then ticked again: received again, marketing still off.
        client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert {c for _, c, _ in _suppressions(app, alpha.tenant_id)} == {"marketing", "customer_success"}
        client.post(f"{url}/preferences", data={"receive": ["customer_success"]})
        assert _suppressions(app, alpha.tenant_id) == [("ann@acme.test", "marketing", "preferences")]
        after = _queue(app, alpha.tenant_id, "campaign:1:step:2:person:1")
        news = _queue(app, alpha.tenant_id, "news:2:person:1", category="marketing")
        assert (after.state, news.state) == ("queued", "suppressed")
        assert _suppressions(app, bravo.tenant_id) == []  # another workspace's consent is its own
        bad = client.post(f"{url}/preferences", data={"receive": ["everything"]})
        assert bad.status_code == 400 and "category must be one of" in bad.get_data(as_text=True)
        assert client.post("/u/not-a-token/preferences", data={}).status_code == 404
        assert len(_suppressions(app, alpha.tenant_id)) == 1


def test_the_send_job_without_a_server_sends_nothing(app_factory: Any) -> None:
    from jobs.work import send_job

    app = app_factory()
    ws = seed_workspace(app, "alpha", "Alpha")
    with pinned_clock():
        _queue(app, ws.tenant_id, "k")
        assert send_job(app, ws.tenant_id) == {"skipped": "no SMTP server is configured"}
    with canary_store(app).session(ws.tenant_id) as s:
        assert [r.state for r in s.scalars(select(OutboxMessage))] == ["queued"]


def test_canary_mail_send_uses_the_configured_server_when_the_workspace_has_none(app_factory: Any) -> None:
    from app import cli

    with pinned_clock(), smtp_server() as (inbox, port):
        app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_FROM=SENDER, PUBLIC_URL=PUBLIC_URL)
        ws = seed_workspace(app, "alpha", "Alpha")
        row = _queue(app, ws.tenant_id, "campaign:1:step:1:person:1")
        runner = app.test_cli_runner()
        assert runner.invoke(cli, ["mail", "outbox", "--tenant", "alpha"]).output == "queued 1\n"
        sent = runner.invoke(cli, ["mail", "send", "--tenant", "alpha"])
        assert sent.exit_code == 0, sent.output
        assert sent.output.startswith("sent 1, retried 0, failed 0")
        assert runner.invoke(cli, ["mail", "outbox", "--tenant", "alpha"]).output == "sent 1\n"
    assert inbox.count == 1 and inbox.messages()[0]["Message-ID"] == row.message_id


def test_a_template_gets_account_user_and_health_from_the_store(app_factory: Any) -> None:
    """A preview with a real account: its name and owner, the contact's name, the latest snapshot's band,
    score and reasons — and nothing of another workspace."""
    from mail.context import variables_for
    from mail.templates import MailTemplate, render

    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2)
    alpha, bravo = seed_workspace(app, "alpha", "Alpha"), seed_workspace(app, "bravo", "Bravo")
    template = MailTemplate(
        subject="{{ account.name }} — {{ health.band }}",
        html=("<p>Hi {{ user.name }} ({{ user.role }}),</p><p>{{ account.name }} scores {{ health.score }} "
              "(owner {{ account.owner }}, renewal {{ account.renewal_date }}).</p>"
              "{% for r in health.reasons %}<p>{{ r }}</p>{% endfor %}<p>{{ workspace.name }}</p>"))
    with canary_store(app).session(alpha.tenant_id) as s:
        variables = variables_for(s, alpha.accounts["Alpha Poor Renewing"], "Champion0@Alpha0.example")
        foreign = variables_for(s, bravo.accounts["Bravo Poor Renewing"], "champion0@bravo0.example")
    out = render(template, variables)
    assert out.subject == "Alpha Poor Renewing — poor"
    assert out.text == ("Hi Alpha Champion 0 (champion),\n\nAlpha Poor Renewing scores 30 (owner "
                        f"{alpha.emails['csm']}, renewal 2027-01-14).\n\n"
                        "Weekly active users fell from 12 to 3\n\nAlpha\n")
    assert foreign["account"] == {} and foreign["health"] == {} and foreign["user"]["name"] is None
