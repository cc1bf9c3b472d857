"""Plays' e-mail steps go through the outbox (issue 17 B): queued in the run's transaction under the key
``play:<play>:run:<run>:step:<n>``, customer-success category, then handed to a real SMTP server on loopback —
once, even when the step runs twice (a run set back by a crash between its e-mail and its next step)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select

from console.mail import play_effects
from console.people import add_user
from mail.outbox import deliver
from mail.smtp import SmtpSettings
from plays import load_definition
from store.models import Account, Alert, OutboxMessage, PlayRun
from sync.plays import active_key, create_play, evaluate_plays, publish
from tests.mail.conftest import PUBLIC_URL
from tests.shared import WORLD_AS_OF
from tests.smtp_server import smtp_server

PLAY = {"name": "Tell the CSM", "trigger": {"type": "alert", "rule": "usage_drop"},
        "steps": [{"type": "email", "to": "owner", "subject": "{account} dropped", "body": "Why: {reasons}"}]}


def _world(store: Any, tenant_id: int) -> tuple[int, int]:
    with store.session(tenant_id) as s:
        add_user(s, "ana@cs.example", "csm")
        account = Account(name="Dropping {braces}", owner="ana@cs.example")
        s.add(account)
        s.flush()
        s.add(Alert(account_id=account.id, rule="usage_drop", dedupe_key=f"usage_drop:{account.id}",
                    title="Usage dropped", reasons=["Weekly active users fell 70 %"],
                    raised_at=dt.datetime.combine(WORLD_AS_OF - dt.timedelta(days=1), dt.time(6), dt.UTC)))
        play = create_play(s, load_definition(PLAY), "boss@cs.example")
        publish(s, play, "boss@cs.example", None, WORLD_AS_OF)
        return play.id, account.id


def test_a_play_e_mail_goes_through_the_outbox_once_even_when_its_step_runs_twice(mail_store: Any,
                                                                                   tmp_path: Path) -> None:
    store, tenant_id = mail_store
    play_id, _ = _world(store, tenant_id)
    with smtp_server() as (inbox, port):
        config = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_FROM": "canary@cs.example",
                  "PUBLIC_URL": PUBLIC_URL}
        first = evaluate_plays(store, tenant_id, WORLD_AS_OF, effects=play_effects(config))
        assert first.emails_sent == 1 and inbox.count == 0  # queued, not sent inline
        with store.session(tenant_id) as s:
            run = s.scalars(select(PlayRun)).one()
            assert run.state == "done" and "step 1: e-mail to ana@cs.example queued" in [e["message"] for e in run.log]
            # The step comes round again: the run as it was before its e-mail step (a replayed evaluation).
            run.state, run.step, run.ended_at = "running", 0, None
            run.active_key = active_key(run.play_id, run.account_id, run.reason)
            run_id = run.id
        again = evaluate_plays(store, tenant_id, WORLD_AS_OF, effects=play_effects(config))
        assert again.emails_sent == 1  # the step ran a second time ...
        with store.session(tenant_id) as s:
            rows = list(s.scalars(select(OutboxMessage)))
        assert [(r.idempotency_key, r.category, r.to_address, r.state) for r in rows] == [
            (f"play:{play_id}:run:{run_id}:step:1", "customer_success", "ana@cs.example", "queued")]  # ... one row
        settings = SmtpSettings(host="127.0.0.1", port=port, starttls=False, username=None, password=None,
                                from_address="canary@cs.example", timeout=5.0)
        sent = deliver(store, tenant_id, settings)
        assert (sent.sent, deliver(store, tenant_id, settings).sent) == (1, 0)
        assert inbox.count == 1
        message = inbox.messages()[0]
    assert message["To"] == "ana@cs.example" and message["Subject"] == "Dropping {braces} dropped"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"<{PUBLIC_URL}/u/" in message["List-Unsubscribe"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert text.startswith("Why: Weekly active users fell 70 %") and f"{PUBLIC_URL}/u/" in text


def test_without_a_mail_server_the_step_says_so_and_queues_nothing(mail_store: Any) -> None:
    store, tenant_id = mail_store
    _world(store, tenant_id)
    summary = evaluate_plays(store, tenant_id, WORLD_AS_OF, effects=play_effects({"PUBLIC_URL": PUBLIC_URL}))
    assert summary.emails_sent == 0
    with store.session(tenant_id) as s:
        assert s.scalars(select(OutboxMessage)).all() == []
        log = [entry["message"] for entry in s.scalars(select(PlayRun)).one().log]
    assert "step 1: e-mail to ana@cs.example not sent: no mail server is configured" in log


def test_a_play_started_by_hand_in_the_console_mails_through_the_outbox_after_its_run_commits(
        app_factory: Any) -> None:
    """The console's *Start by hand*: the run and its e-mail commit together, then the send job hands it over."""
    from jobs import queue_of
    from tests.console.conftest import CHEAP_ARGON2, csrf_of, seed_workspace, signed_in_client

    manual = {"name": "Say hello", "trigger": {"type": "manual"},
              "steps": [{"type": "email", "to": "owner", "subject": "Hello {account}", "body": "Time to call."}]}
    with smtp_server() as (inbox, port):
        app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, PUBLIC_URL=PUBLIC_URL,
                          SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_FROM="canary@alpha.example")
        ws = seed_workspace(app, "alpha", "Alpha")
        from extensions import canary_store

        store = canary_store(app)
        with store.session(ws.tenant_id) as s:
            play = create_play(s, load_definition(manual), ws.emails["manager"])
            publish(s, play, ws.emails["manager"], None, WORLD_AS_OF)
            play_id = play.id
            account_id = s.scalars(select(Account.id).where(Account.owner == ws.emails["csm"]).order_by(
                Account.id)).first()
        manager = signed_in_client(app, ws.emails["manager"])
        started = manager.post(f"/plays/{play_id}/start", data={"account_id": str(account_id),
                                                                "csrf_token": csrf_of(manager)})
        assert started.status_code == 302
        queue_of(app).drain()
        assert inbox.count == 1
        message = inbox.messages()[0]
        with store.session(ws.tenant_id) as s:
            rows = [(r.idempotency_key.startswith(f"play:{play_id}:run:"), r.state) for r in
                    s.scalars(select(OutboxMessage))]
    assert rows == [(True, "sent")]
    assert message["To"] == ws.emails["csm"] and message["Subject"].startswith("Hello ")
