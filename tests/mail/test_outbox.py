"""The outbox against a real SMTP server on loopback: once-only sending, both unsubscribe headers, both parts,
STARTTLS with login, retries with backoff, permanent failures, suppressions, and a sender killed mid-send."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mail.outbox import OutboxPolicy, deliver, enqueue
from mail.smtp import SmtpSettings
from store.models import OutboxMessage, Suppression
from tests.mail.conftest import CAMPAIGN, PUBLIC_URL, SENDER, VARIABLES
from tests.shared import WORLD_NOW, pinned_clock
from tests.smtp_server import Inbox, self_signed, smtp_server

REPOSITORY = Path(__file__).resolve().parents[2]


def queue(store: Any, tenant_id: int, key: str, to: str = "ann@acme.test", category: str = "customer_success",
          now: dt.datetime = WORLD_NOW) -> OutboxMessage:
    with store.session(tenant_id) as s:
        row = enqueue(s, key=key, category=category, to=to, sender=SENDER, template=CAMPAIGN, variables=VARIABLES,
                      public_url=PUBLIC_URL, now=now)
        s.flush()
        s.expunge(row)
    return row


def rows(store: Any, tenant_id: int) -> list[OutboxMessage]:
    with store.session(tenant_id) as s:
        found = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        s.expunge_all()
    return found


def plain(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, starttls=False, from_address=SENDER, timeout=10)


def at(seconds: float) -> Any:
    return lambda: WORLD_NOW + dt.timedelta(seconds=seconds)


def test_a_campaign_e_mail_is_received_once_with_both_unsubscribe_headers_and_both_parts(mail_store: Any) -> None:
    store, tenant_id = mail_store
    with pinned_clock(), smtp_server() as (inbox, port):
        first = queue(store, tenant_id, "campaign:1:step:1:person:7")
        again = queue(store, tenant_id, "campaign:1:step:1:person:7")  # the same key: the same row, nothing new
        assert again.id == first.id and len(rows(store, tenant_id)) == 1
        summary = deliver(store, tenant_id, plain(port), clock=at(0))
        assert summary.as_dict() == {"sent": 1, "retried": 0, "failed": 0, "dead": 0, "suppressed": 0,
                                     "requeued": 0, "unknown": 0}
        assert deliver(store, tenant_id, plain(port), clock=at(1)).sent == 0
    assert inbox.count == 1 and inbox.data_calls == 1
    mail_from, rcpt, _ = inbox.accepted[0]
    assert (mail_from, rcpt) == (SENDER, ["ann@acme.test"])
    message = inbox.messages()[0]
    token = first.unsubscribe_token
    assert token is not None and len(token) == 43
    assert message["List-Unsubscribe"] == (f"<{PUBLIC_URL}/u/{token}>, "
                                           f"<mailto:{SENDER}?subject=unsubscribe%20{token}>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"] == first.message_id and first.message_id.endswith("@alpha.example>")
    assert message["Subject"] == "Acme is poor" and message.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content().replace("\r\n", "\n") for p in message.iter_parts()}
    assert list(parts) == ["text/plain", "text/html"]
    assert "<strong>Acme</strong> scores 41." in parts["text/html"]
    assert f'href="{PUBLIC_URL}/u/{token}"' in parts["text/html"]
    assert parts["text/plain"].startswith("Hi Ann,\n\nAcme scores 41.\n\nUnsubscribe (https://canary.alpha.example/u/")
    (row,) = rows(store, tenant_id)
    assert (row.state, row.attempts, row.sent_at, row.claim) == ("sent", 1, WORLD_NOW, None)


def test_transactional_mail_carries_no_unsubscribe_header(mail_store: Any) -> None:
    from mail.templates import MailTemplate, TemplateError

    store, tenant_id = mail_store
    with pytest.raises(TemplateError, match="html line 1: unknown variable: 'unsubscribe_url' is undefined"):
        queue(store, tenant_id, "test:1:abc", category="transactional")  # no unsubscribe link outside campaigns
    with pinned_clock(), smtp_server() as (inbox, port), store.session(tenant_id) as s:
        row = enqueue(s, key="test:1:abc", category="transactional", to="ann@acme.test", sender=SENDER,
                      template=MailTemplate("Test", "<p>Hello {{ user.name }}</p>"), variables=VARIABLES,
                      public_url=PUBLIC_URL, now=WORLD_NOW)
        s.commit()
        assert row.unsubscribe_token is None
        deliver(store, tenant_id, plain(port), clock=at(0))
    assert inbox.count == 1 and inbox.messages()[0]["List-Unsubscribe"] is None
    assert inbox.messages()[0]["List-Unsubscribe-Post"] is None and inbox.messages()[0]["Subject"] == "Test"


def test_starttls_with_a_self_signed_certificate_and_a_login(mail_store: Any, tmp_path: Path) -> None:
    store, tenant_id = mail_store
    cert, key = self_signed(tmp_path)
    with pinned_clock(), smtp_server(tls=(cert, key), login=("mailer", "s3cret pass")) as (inbox, port):
        queue(store, tenant_id, "k1")
        good = SmtpSettings(host="127.0.0.1", port=port, starttls=True, username="mailer", password="s3cret pass",
                            from_address=SENDER, timeout=10, ca_file=str(cert))
        # Without STARTTLS this server refuses the transaction (530): a 5xx, tried again later.
        refused = deliver(store, tenant_id, SmtpSettings(host="127.0.0.1", port=port, starttls=False,
                                                         from_address=SENDER, timeout=10), clock=at(0))
        assert (refused.sent, refused.retried, inbox.count) == (0, 1, 0)
        sent = deliver(store, tenant_id, good, clock=at(3600))
    assert sent.sent == 1 and inbox.count == 1 and inbox.tls_sessions == 1
    (row,) = rows(store, tenant_id)
    assert (row.state, row.attempts, row.permanent_failures) == ("sent", 2, 1)


def test_a_wrong_password_never_appears_in_the_error(mail_store: Any, tmp_path: Path) -> None:
    store, tenant_id = mail_store
    cert, key = self_signed(tmp_path)
    with pinned_clock(), smtp_server(tls=(cert, key), login=("mailer", "right")) as (inbox, port):
        queue(store, tenant_id, "k1")
        wrong = SmtpSettings(host="127.0.0.1", port=port, starttls=True, username="mailer", password="wrong-pw-42",
                             from_address=SENDER, timeout=10, ca_file=str(cert))
        summary = deliver(store, tenant_id, wrong, clock=at(0))
    (row,) = rows(store, tenant_id)
    assert summary.retried == 1 and inbox.count == 0
    assert row.last_error is not None and row.last_error.startswith("login refused: 535")
    assert "wrong-pw-42" not in row.last_error and "mailer" not in row.last_error


def test_a_4xx_is_retried_with_backoff_then_sent_once_with_the_same_message_id(mail_store: Any) -> None:
    store, tenant_id = mail_store
    inbox = Inbox(replies=["451 4.3.0 try again later", "452 4.3.1 out of room"])
    policy = OutboxPolicy(backoff_seconds=60)
    with pinned_clock(), smtp_server(inbox) as (_, port):
        stored = queue(store, tenant_id, "k1")
        assert deliver(store, tenant_id, plain(port), policy=policy, clock=at(0)).retried == 1
        first = rows(store, tenant_id)[0]
        assert (first.state, first.attempts) == ("queued", 1)
        assert first.next_attempt_at == WORLD_NOW + dt.timedelta(seconds=60)
        assert first.last_error == "message refused: 451 4.3.0 try again later"
        assert deliver(store, tenant_id, plain(port), policy=policy, clock=at(59)).as_dict()["retried"] == 0
        assert inbox.data_calls == 1  # not due yet: not tried
        assert deliver(store, tenant_id, plain(port), policy=policy, clock=at(60)).retried == 1
        second = rows(store, tenant_id)[0]
        assert (second.attempts, second.next_attempt_at) == (2, WORLD_NOW + dt.timedelta(seconds=60 + 120))
        assert deliver(store, tenant_id, plain(port), policy=policy, clock=at(180)).sent == 1
    (row,) = rows(store, tenant_id)
    assert (row.state, row.attempts, row.last_error) == ("sent", 3, None)
    assert inbox.data_calls == 3 and inbox.count == 1
    assert inbox.messages()[0]["Message-ID"] == stored.message_id


def test_a_5xx_fails_after_the_permanent_attempts_and_a_refused_recipient_at_once(mail_store: Any) -> None:
    store, tenant_id = mail_store
    inbox = Inbox(replies=["554 5.6.0 message refused"] * 3)
    policy = OutboxPolicy(backoff_seconds=10, permanent_attempts=3)
    with pinned_clock(), smtp_server(inbox) as (_, port):
        queue(store, tenant_id, "refused", to="ann@acme.test")
        for n, when in enumerate((0, 10, 30)):
            summary = deliver(store, tenant_id, plain(port), policy=policy, clock=at(when))
            assert (summary.failed, summary.retried) == ((1, 0) if n == 2 else (0, 1))
        inbox.rcpt_replies.append("550 5.1.1 no such user")
        queue(store, tenant_id, "nobody", to="nobody@acme.test", now=WORLD_NOW + dt.timedelta(seconds=30))
        assert deliver(store, tenant_id, plain(port), policy=policy, clock=at(100)).failed == 1
    refused, nobody = rows(store, tenant_id)
    assert (refused.state, refused.attempts, refused.permanent_failures) == ("failed", 3, 3)
    assert refused.last_error == "message refused: 554 5.6.0 message refused"
    assert (nobody.state, nobody.attempts) == ("failed", 1)
    assert nobody.last_error == "recipient refused: 550 5.1.1 no such user"
    assert inbox.count == 0 and inbox.data_calls == 3


def test_no_server_is_a_temporary_failure_until_the_message_is_dead(mail_store: Any) -> None:
    from tests.smtp_server import free_port

    store, tenant_id = mail_store
    port = free_port()  # nothing listens there
    policy = OutboxPolicy(backoff_seconds=1, max_attempts=3)
    with pinned_clock():
        queue(store, tenant_id, "a")
        queue(store, tenant_id, "b")
        states = []
        for when in (0, 1, 3):
            summary = deliver(store, tenant_id, plain(port), policy=policy, clock=at(when))
            states.append((summary.retried, summary.dead))
    assert states == [(2, 0), (2, 0), (0, 2)]
    assert [(r.state, r.attempts) for r in rows(store, tenant_id)] == [("dead", 3), ("dead", 3)]
    assert all(r.last_error and r.last_error.startswith("ConnectionRefusedError") for r in rows(store, tenant_id))


def test_a_suppressed_address_is_never_sent_to_in_that_category(mail_store: Any) -> None:
    from mail.consent import suppress

    store, tenant_id = mail_store
    with pinned_clock(), smtp_server() as (inbox, port):
        queue(store, tenant_id, "before", to="Ann@Acme.test")
        with store.session(tenant_id) as s:
            assert suppress(s, "ann@acme.test", "customer_success", "admin") is True
            assert suppress(s, "ANN@acme.test", "customer_success", "admin") is False
        queue(store, tenant_id, "after")
        queue(store, tenant_id, "marketing", category="marketing")
        summary = deliver(store, tenant_id, plain(port), clock=at(0))
    assert (summary.suppressed, summary.sent) == (1, 1)
    assert [(r.idempotency_key, r.state) for r in rows(store, tenant_id)] == [
        ("before", "suppressed"), ("after", "suppressed"), ("marketing", "sent")]
    assert inbox.count == 1 and inbox.messages()[0]["Subject"] == "Acme is poor"


SENDER_SCRIPT = """
import datetime as dt, sys
from mail.outbox import OutboxPolicy, deliver
from mail.smtp import SmtpSettings
from store.db import Store
url, tenant_id, port, now = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), dt.datetime.fromisoformat(sys.argv[4])
settings = SmtpSettings(host="127.0.0.1", port=port, starttls=False, from_address="success@alpha.example", timeout=60)
print("delivering", flush=True)
deliver(Store(url), tenant_id, settings, policy=OutboxPolicy(batch=10), clock=lambda: now)
print("finished", flush=True)
"""


def test_a_sender_killed_mid_send_sends_no_duplicate_and_requeues_what_it_never_handed(mail_store: Any,
                                                                                       sqlite_url: str) -> None:
    store, tenant_id = mail_store
    inbox = Inbox(hold=threading.Event())  # the server takes the first message and holds its answer
    with pinned_clock(), smtp_server(inbox) as (_, port):
        first = queue(store, tenant_id, "person:1", to="one@acme.test")
        second = queue(store, tenant_id, "person:2", to="two@acme.test")
        env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
        worker = subprocess.Popen([sys.executable, "-c", SENDER_SCRIPT, sqlite_url, str(tenant_id), str(port),
                                   WORLD_NOW.isoformat()], cwd=REPOSITORY, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            assert inbox.got_one.wait(60), "the sender never handed a message over"
            os.kill(worker.pid, signal.SIGKILL)
            _, err = worker.communicate(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=30)
        assert worker.returncode == -signal.SIGKILL, err
        assert inbox.hold is not None
        inbox.hold.set()
        assert [(r.state, r.handed_at is not None) for r in rows(store, tenant_id)] == [
            ("sending", True), ("sending", False)]
        # Within the lease the claim is the dead sender's: another sender leaves both alone.
        assert deliver(store, tenant_id, plain(port), clock=at(60)).as_dict() == {
            "sent": 0, "retried": 0, "failed": 0, "dead": 0, "suppressed": 0, "requeued": 0, "unknown": 0}
        # After it: the handed one may be delivered (unknown, never resent), the other goes now, once.
        restarted = deliver(store, tenant_id, plain(port), clock=at(601))
        assert (restarted.unknown, restarted.requeued, restarted.sent) == (1, 1, 1)
        assert deliver(store, tenant_id, plain(port), clock=at(2000)).sent == 0
    one, two = rows(store, tenant_id)
    assert (one.state, one.attempts) == ("unknown", 0)
    assert one.last_error is not None and first.message_id in one.last_error and "not sent again" in one.last_error
    assert (two.state, two.attempts) == ("sent", 1)
    assert inbox.count == 2
    assert sorted(m["Message-ID"] for m in inbox.messages()) == sorted([first.message_id, second.message_id])
    assert [rcpt for _, rcpt, _ in inbox.accepted] == [["one@acme.test"], ["two@acme.test"]]


def test_bad_input_is_refused_with_a_clear_error(mail_store: Any) -> None:
    from mail.outbox import OutboxError

    store, tenant_id = mail_store
    with pytest.raises(OutboxError, match="recipient 'ann at acme' is not an e-mail address"):
        queue(store, tenant_id, "k", to="ann at acme")
    with pytest.raises(OutboxError, match="category must be one of customer_success, marketing, transactional"):
        queue(store, tenant_id, "k", category="news")
    with pytest.raises(OutboxError, match="idempotency key"):
        queue(store, tenant_id, "")
    assert rows(store, tenant_id) == [] and Suppression.__tablename__ == "mail_suppressions"


def test_enqueue_many_skips_stored_keys_and_refuses_a_bad_batch_whole(mail_store: Any) -> None:
    from mail.outbox import MailRequest, OutboxError, enqueue_many

    store, tenant_id = mail_store
    stored = queue(store, tenant_id, "p:1", to="one@acme.test")
    asks = [MailRequest("p:1", "one@acme.test", CAMPAIGN, VARIABLES),
            MailRequest("p:2", "two@acme.test", CAMPAIGN, VARIABLES),
            MailRequest("p:2", "two@acme.test", CAMPAIGN, VARIABLES)]
    with store.session(tenant_id) as s:
        got = enqueue_many(s, asks, sender=SENDER, public_url=PUBLIC_URL, now=WORLD_NOW)
        assert len(got) == 3 and got[0].id == stored.id and got[1] is got[2]
    assert [r.idempotency_key for r in rows(store, tenant_id)] == ["p:1", "p:2"]
    bad = [MailRequest("p:3", "three@acme.test", CAMPAIGN, VARIABLES), MailRequest("p:4", "four", CAMPAIGN, VARIABLES)]
    with pytest.raises(OutboxError, match=r"recipient 'four' is not an e-mail address .* \(e-mail 'p:4'\)"), \
            store.session(tenant_id) as s:
        enqueue_many(s, bad, sender=SENDER, public_url=PUBLIC_URL, now=WORLD_NOW)
    assert len(rows(store, tenant_id)) == 2


def test_two_senders_at_once_send_each_message_once(mail_store: Any) -> None:
    from mail.outbox import MailRequest, enqueue_many

    store, tenant_id = mail_store
    with pinned_clock(), smtp_server() as (inbox, port):
        with store.session(tenant_id) as s:
            enqueue_many(s, [MailRequest(f"p:{i}", f"p{i}@acme.test", CAMPAIGN, VARIABLES) for i in range(60)],
                         sender=SENDER, public_url=PUBLIC_URL, now=WORLD_NOW)
        results: list[Any] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                results.append(deliver(store, tenant_id, plain(port), policy=OutboxPolicy(batch=7), clock=at(0)))
            except BaseException as exc:  # reported below
                errors.append(exc)

        senders = [threading.Thread(target=run) for _ in range(2)]
        for t in senders:
            t.start()
        for t in senders:
            t.join(120)
    assert errors == [] and len(results) == 2
    assert sum(r.sent for r in results) == 60 and inbox.count == 60
    assert sorted(rcpt[0] for _, rcpt, _ in inbox.accepted) == sorted(f"p{i}@acme.test" for i in range(60))
    assert {r.state for r in rows(store, tenant_id)} == {"sent"}
