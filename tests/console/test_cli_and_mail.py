"""`canary user` / `canary token` verbs, reset links by real SMTP on loopback, and the history backfill."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import socket
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from sqlalchemy import func, select

from extensions import canary_store
from store.models import ApiToken, AuditEvent, HealthSnapshot, PasswordResetToken, User
from tests.console.conftest import PASSWORD, Workspace, csrf_of, sign_in


def run(app: Any, *args: str, stdin: str | None = None) -> Any:
    from app import cli

    return app.test_cli_runner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def test_a_token_shows_once_and_is_stored_hashed(console_app: Any,
                                                 two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    result = run(console_app, "token", "create", "--user", a.emails["csm"], "--tenant", "alpha", "--name", "laptop")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"cny_[A-Za-z0-9_-]{43}", token)
    store = canary_store(console_app)
    with store.session(a.tenant_id) as s:
        row = s.scalar(select(ApiToken))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        stored = [str(v) for v in (row.token_hash, row.prefix, row.name)]
        assert all(token not in v for v in stored) and len(row.prefix) < 12
        assert s.scalar(select(AuditEvent.action).where(AuditEvent.action == "token.create")) == "token.create"
    listing = run(console_app, "token", "list", "--tenant", "alpha").output
    assert row.prefix in listing and token not in listing
    headers = {"Authorization": f"Bearer {token}"}
    client = console_app.test_client()
    assert client.get("/api/v1/users", headers=headers).status_code == 200
    assert run(console_app, "token", "revoke", str(row.id), "--tenant", "alpha").exit_code == 0
    assert client.get("/api/v1/users", headers=headers).status_code == 401


def test_user_add_and_reset_link(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    added = run(console_app, "user", "add", "New.Person@Alpha.example", "--role", "csm", "--tenant", "alpha",
                "--manager", a.emails["manager"], "--name", "New Person")
    assert added.exit_code == 0, added.output
    link = added.output.strip().splitlines()[-1].split(": ")[-1]
    assert link.startswith("http://127.0.0.1:5000/reset/new?token=")
    client = console_app.test_client()
    form = client.get(link.removeprefix("http://127.0.0.1:5000")).get_data(as_text=True)
    token = link.split("token=")[1]
    assert f'name="token" value="{token}"' in form
    reset = client.post("/reset/new", data={"token": token, "password": "a fine new password",
                                            "confirm": "a fine new password", "csrf_token": csrf_of(client)})
    assert reset.status_code == 302
    assert sign_in(console_app.test_client(), "new.person@alpha.example", "a fine new password").status_code == 302
    printed = run(console_app, "user", "reset-link", "new.person@alpha.example", "--tenant", "alpha")
    assert "works once, within 60 minutes" in printed.output
    refused = run(console_app, "user", "add", "not-an-address", "--role", "csm", "--tenant", "alpha")
    assert refused.exit_code == 1 and "is not an e-mail address" in refused.output
    store = canary_store(console_app)
    with store.session(a.tenant_id) as s:
        person = s.scalar(select(User).where(User.email == "new.person@alpha.example"))
        assert person.manager_id == a.users["manager"] and person.password_hash.startswith("$argon2id$")
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.target == person.email)))
        assert actions == ["user.add", "user.password_reset", "sign_in", "user.reset_link"]
        method = s.scalar(select(AuditEvent.detail).where(AuditEvent.action == "sign_in",
                                                          AuditEvent.target == person.email))
        assert method == {"method": "password"}


def test_password_from_stdin_must_be_long_enough(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    short = run(console_app, "user", "add", "x@alpha.example", "--role", "viewer", "--tenant", "alpha",
                "--password-stdin", stdin="short\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output


@pytest.fixture
def smtp_server() -> Iterator[Any]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Inbox(Message):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[Any] = []

        def handle_message(self, message: Any) -> None:
            self.messages.append(message)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_reset_link_by_e_mail_through_smtp(app_factory: Any, smtp_server: Any) -> None:
    inbox, port = smtp_server
    from tests.console.conftest import CHEAP_ARGON2, seed_workspace

    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, SMTP_HOST="127.0.0.1", SMTP_PORT=port,
                      SMTP_FROM="canary@alpha.example", PUBLIC_URL="https://canary.alpha.example")
    a = seed_workspace(app, "alpha", "Alpha")
    client = app.test_client()
    asked = client.post("/reset", data={"email": a.emails["csm"], "csrf_token": csrf_of(client)})
    assert asked.status_code == 200 and 'data-testid="reset-sent"' in asked.get_data(as_text=True)
    unknown = client.post("/reset", data={"email": "nobody@alpha.example", "csrf_token": csrf_of(client)})
    assert unknown.get_data(as_text=True).count('data-testid="reset-sent"') == 1  # the same answer
    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert mail["To"] == a.emails["csm"] and mail["From"] == "canary@alpha.example"
    body = message_from_bytes(mail.as_bytes()).get_payload(decode=True).decode()
    link = re.search(r"https://canary\.alpha\.example(/reset/new\?token=(\S+))", body)
    assert link is not None and "60 minutes" in body
    store = canary_store(app)
    with store.session(a.tenant_id) as s:
        hashes = list(s.scalars(select(PasswordResetToken.token_hash)))
    token = link.group(2)
    assert hashes == [hashlib.sha256(token.encode()).hexdigest()]
    browser = app.test_client()
    assert browser.get(link.group(1)).status_code == 200
    data = {"token": token, "password": "chosen by e-mail link", "confirm": "chosen by e-mail link",
            "csrf_token": csrf_of(browser)}
    assert browser.post("/reset/new", data=data).status_code == 302
    again = browser.post("/reset/new", data={**data, "csrf_token": csrf_of(browser)})
    assert again.status_code == 400 and "already used" in again.get_data(as_text=True)
    assert sign_in(app.test_client(), a.emails["csm"], PASSWORD).status_code == 401


def test_first_score_backfills_180_days_then_scores_one(store: Any) -> None:
    """On SQLite and PostgreSQL: the first score of a workspace writes 180 daily snapshots per account."""
    from scoring import default_model
    from store.models import Account, UsageDaily
    from store.tenants import create_tenant
    from sync.health import first_score
    from tests.shared import WORLD_AS_OF

    with store.session() as s:
        tenant, _ = create_tenant(s, "hist", "History")
    with store.session(tenant.id) as s:
        for i in range(3):
            account = Account(name=f"Account {i}")
            s.add(account)
            s.flush()
            for back in range(0, 200, 2 + i):
                s.add(UsageDaily(account_id=account.id, user_key=f"u{i}", event="Logged In",
                                 day=WORLD_AS_OF - dt.timedelta(days=back), count=1))
    summary = first_score(store, tenant.id, default_model(), WORLD_AS_OF)
    assert summary.days == 180 and summary.accounts == 3
    with store.session(tenant.id) as s:
        days = s.execute(select(func.min(HealthSnapshot.day), func.max(HealthSnapshot.day),
                                func.count())).one()
        assert days == (WORLD_AS_OF - dt.timedelta(days=179), WORLD_AS_OF, 540)
        trends = [t for t in s.scalars(select(HealthSnapshot.trend).where(HealthSnapshot.day == WORLD_AS_OF))]
        assert len(trends) == 3 and all(t is not None for t in trends)
    again = first_score(store, tenant.id, default_model(), WORLD_AS_OF + dt.timedelta(days=1))
    assert again.days == 1


def test_reset_links_and_api_tokens_are_masked_in_log_lines(console_app: Any,
                                                            two_workspaces: tuple[Workspace, Workspace]) -> None:
    """A reset token rides in the query string (never the path) and an API token in the bearer header,
    both of which the log filter masks; no password or hash is ever in an answer or log line."""
    from cli.logs import redact

    a, _ = two_workspaces
    link = run(console_app, "user", "reset-link", a.emails["viewer"], "--tenant", "alpha").output.strip().split()[-1]
    token = link.split("token=")[1]
    api = run(console_app, "token", "create", "--user", a.emails["viewer"], "--tenant", "alpha").output.split()[-1]
    line = f'127.0.0.1 "GET {link.split("5000")[1]} HTTP/1.1" 200 Authorization: Bearer {api}'
    cleaned = redact(line)
    assert token not in cleaned and api not in cleaned and "/reset/new?token=" in cleaned
