"""A campaign's ``send_in_app`` step with ``push``: the send job Web-Pushes each queued message once, to a local
receiver standing in for the push service (the payload decrypted with each browser's key); a message is claimed
(committed) before any HTTP call, so a sender that dies after the claim never pushes it again."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import http_ece
import pytest
from sqlalchemy import select, update

from campaigns.definition import DefinitionError, parse_steps
from campaigns.manage import create_campaign, set_status
from campaigns.runner import run_due
from extensions import credential_cipher
from inapp.messages import queue_message
from inapp.push import send_due_pushes, subscribe
from inapp.rules import LIFETIME, InAppError
from inapp.settings import generate_vapid
from jobs.work import send_job, workspaces_with_mail_due
from store.models import InAppMessage, ProductUser
from tests.inapp.conftest import Browser, InAppWorld, Receiver, new_browser
from tests.shared import WORLD_NOW

STEP = {"kind": "send_in_app", "title": "Reports are here", "body": "Build your first report.",
        "cta_label": "Open", "cta_url": "https://app.alpha.example/reports", "push": True}


def _people(world: InAppWorld) -> None:
    """u-ann and u-bob get e-mails (so a campaign reaches them), and u-cy joins them at the account."""
    with world.store.session(world.tenant_id) as s:
        for user in ("u-ann", "u-bob"):
            s.execute(update(ProductUser).where(ProductUser.user_key == user).values(email=f"{user[2:]}@alpha.example"))
        s.add(ProductUser(user_key="u-cy", account_id=world.account_id, email="cy@alpha.example",
                          first_seen=WORLD_NOW, last_seen=WORLD_NOW))


def _push_ready(world: InAppWorld, receiver: Receiver, *users: str) -> dict[str, Browser]:
    """VAPID keys, and one browser subscribed per user; the app accepts the loopback receiver (tests only)."""
    world.app.config["INAPP_PUSH_ALLOW_LOOPBACK"] = True
    browsers = {u: new_browser(receiver, u) for u in users}
    with world.store.session(world.tenant_id) as s:
        generate_vapid(s, credential_cipher(world.app), "mailto:success@alpha.example", "admin@alpha.example", None)
        for user, browser in browsers.items():
            subscribe(s, user, browser.subscription(), allow_loopback=True)
    return browsers


def _campaign(world: InAppWorld, step: dict[str, Any]) -> None:
    with world.store.session(world.tenant_id) as s:
        campaign = create_campaign(s, name="Reports", audience={}, steps=[step])
        set_status(campaign, "active", WORLD_NOW)
    summary = run_due(world.store, world.tenant_id, WORLD_NOW, mail=None)
    assert summary.in_app == 3


def _messages(world: InAppWorld) -> dict[str, tuple[bool, bool, str | None]]:
    """Per user: (push wanted, claimed, outcome)."""
    with world.store.session(world.tenant_id) as s:
        return {m.user_key: (m.push_wanted, m.pushed_at is not None, m.push_outcome)
                for m in s.scalars(select(InAppMessage))}


def test_a_push_step_pushes_once_per_subscribed_user_and_never_again(world: InAppWorld, receiver: Receiver) -> None:
    _people(world)
    browsers = _push_ready(world, receiver, "u-ann", "u-bob")
    _campaign(world, STEP)
    assert workspaces_with_mail_due(world.app) == [world.tenant_id]

    first = send_job(world.app, world.tenant_id)
    assert first == {"skipped": "no SMTP server is configured",
                     "push": {"claimed": 3, "sent": 2, "failed": 0, "no_keys": 0, "no_subscription": 1,
                              "expired": 0, "notifications": 2}}
    assert sorted(r["path"] for r in receiver.requests) == ["/push/u-ann", "/push/u-bob"]
    for request in receiver.requests:
        browser = browsers[request["path"].rsplit("/", 1)[1]]
        plain = http_ece.decrypt(request["body"], private_key=browser.private_key, auth_secret=browser.auth,
                                 version="aes128gcm")
        assert json.loads(plain) == {"title": "Reports are here", "body": "Build your first report.",
                                     "url": "https://app.alpha.example/reports"}
    # u-cy has no subscription: the in-app message is there, no push went out.
    assert _messages(world) == {"u-ann": (True, True, "sent"), "u-bob": (True, True, "sent"),
                                "u-cy": (True, True, "no_subscription")}

    again = send_job(world.app, world.tenant_id)
    assert again == {"skipped": "no SMTP server is configured"}
    assert len(receiver.requests) == 2
    assert workspaces_with_mail_due(world.app) == []


def test_a_step_without_push_sends_no_push(world: InAppWorld, receiver: Receiver) -> None:
    _people(world)
    _push_ready(world, receiver, "u-ann", "u-bob", "u-cy")
    _campaign(world, {k: v for k, v in STEP.items() if k != "push"})
    assert send_job(world.app, world.tenant_id) == {"skipped": "no SMTP server is configured"}
    assert receiver.requests == []
    assert _messages(world) == {u: (False, False, None) for u in ("u-ann", "u-bob", "u-cy")}


def test_a_sender_dying_after_the_claim_never_pushes_twice(world: InAppWorld, receiver: Receiver,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import pywebpush

    _people(world)
    _push_ready(world, receiver, "u-ann", "u-bob")
    _campaign(world, STEP)
    in_flight: list[str] = []

    def crash(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Read in sessions of their own: the claim was committed before this HTTP call.
        in_flight.extend(u for u, (_, claimed, outcome) in _messages(world).items() if claimed and outcome is None)
        raise RuntimeError("the worker died mid-push")

    monkeypatch.setattr(pywebpush.WebPusher, "send", crash)
    with pytest.raises(RuntimeError, match="died mid-push"):
        send_job(world.app, world.tenant_id)
    assert len(in_flight) == 1
    crashed, other = in_flight[0], ({"u-ann", "u-bob"} - set(in_flight)).pop()
    assert _messages(world) == {crashed: (True, True, None), other: (True, False, None),
                                "u-cy": (True, True, "no_subscription")}

    monkeypatch.undo()
    after = send_job(world.app, world.tenant_id)
    assert after["push"] == {"claimed": 1, "sent": 1, "failed": 0, "no_keys": 0, "no_subscription": 0,
                             "expired": 0, "notifications": 1}
    assert [r["path"] for r in receiver.requests] == [f"/push/{other}"]
    assert _messages(world)[crashed] == (True, True, None)  # claimed, no outcome: maybe sent, never again
    assert send_job(world.app, world.tenant_id) == {"skipped": "no SMTP server is configured"}
    assert len(receiver.requests) == 1


def test_no_vapid_keys_and_expired_messages_are_skipped_and_counted(world: InAppWorld, receiver: Receiver) -> None:
    cipher = credential_cipher(world.app)
    with world.store.session(world.tenant_id) as s:
        queue_message(s, tenant_id=world.tenant_id, user_key="u-ann", account_id=None, title="Hello", body="Hi",
                      cta_label=None, cta_url=None, kind="banner", ref="t:1", push=True)
    no_keys = send_due_pushes(world.store, world.tenant_id, cipher, WORLD_NOW, allow_loopback=True)
    assert (no_keys.claimed, no_keys.no_keys, no_keys.sent) == (1, 1, 0)

    _push_ready(world, receiver, "u-ann")
    with world.store.session(world.tenant_id) as s:
        queue_message(s, tenant_id=world.tenant_id, user_key="u-ann", account_id=None, title="Later", body="Hi",
                      cta_label=None, cta_url=None, kind="banner", ref="t:2", push=True)
    late = WORLD_NOW + LIFETIME + dt.timedelta(days=1)
    expired = send_due_pushes(world.store, world.tenant_id, cipher, late, allow_loopback=True)
    assert (expired.claimed, expired.expired, expired.sent) == (1, 1, 0)
    assert receiver.requests == []
    with world.store.session(world.tenant_id) as s:
        assert sorted((m.ref, m.push_outcome) for m in s.scalars(select(InAppMessage))) == [
            ("t:1", "no_keys"), ("t:2", "expired")]
    assert not send_due_pushes(world.store, world.tenant_id, cipher, late)


def test_push_must_be_a_boolean_on_the_step_and_the_queue(world: InAppWorld) -> None:
    assert parse_steps([STEP])[0].config["push"] is True
    assert "push" not in parse_steps([{**STEP, "push": False}])[0].config
    with pytest.raises(DefinitionError, match=r"^step 1: push must be true or false, not 'yes'$"):
        parse_steps([{**STEP, "push": "yes"}])
    with world.store.session(world.tenant_id) as s, pytest.raises(InAppError, match="push must be true or false"):
        queue_message(s, tenant_id=world.tenant_id, user_key="u-ann", account_id=None, title="Hello", body="Hi",
                      cta_label=None, cta_url=None, kind="banner", ref="t:1", push=1)  # type: ignore[arg-type]


def test_canary_mail_send_reports_the_pushes_without_an_smtp_server(world: InAppWorld, receiver: Receiver) -> None:
    from app import cli

    _people(world)
    _push_ready(world, receiver, "u-ann")
    _campaign(world, STEP)
    runner = world.app.test_cli_runner()
    first = runner.invoke(cli, ["mail", "send", "--tenant", "alpha"])
    assert first.exit_code == 0, first.output
    assert first.output == ("web push: claimed 3, sent 1, no_subscription 2, notifications 1\n"
                            "e-mail: nothing sent: no SMTP server is configured\n")
    assert [r["path"] for r in receiver.requests] == ["/push/u-ann"]
    again = runner.invoke(cli, ["mail", "send", "--tenant", "alpha"])
    assert again.exit_code == 1 and "nothing sent: no SMTP server is configured" in again.output
    assert len(receiver.requests) == 1
