"""E-mail: a campaign step to N people rendered, stored in the outbox and handed to SMTP, per second — next to
the same SMTP server receiving the same number of pre-rendered messages over one connection, in the same run.

One real SMTP server on loopback (aiosmtpd, `tests.smtp_server`, counting messages without keeping them)
serves both rounds:

- floor: N messages rendered and built before the clock starts, then handed over one connection with
  `mail.smtp.SmtpSender` — what the server and smtplib do with no Canary work at all;
- outbox: the whole path on a fresh SQLite store — `mail.outbox.enqueue_many` for each 500 people (template render
  in the sandbox, plain-text part, MIME with the unsubscribe headers, the rows; one transaction each), then
  `mail.outbox.deliver` (claim batches, the hand commit per message, SMTP, the mark commit).

Prints both rates, the enqueue and deliver parts apart, and the ratio; the exit status is 1 when the server
did not receive exactly N messages in a round, or the outbox does not end with N rows sent.
``BENCH_MAIL_PEOPLE`` (10,000) sizes it; a quick run: ``BENCH_MAIL_PEOPLE=500 python bench/bench_mail.py``.
The server runs on a thread of this process, so both rounds share its CPU the same way.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mail.message import Unsubscribe, build_message  # noqa: E402
from mail.outbox import MailRequest, OutboxPolicy, deliver, enqueue_many, new_message_id  # noqa: E402
from mail.smtp import SmtpSender, SmtpSettings  # noqa: E402
from mail.templates import MailTemplate, render  # noqa: E402
from store.db import Store  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import OutboxMessage  # noqa: E402
from store.tenants import create_tenant  # noqa: E402
from tests.smtp_server import Inbox, smtp_server  # noqa: E402

PEOPLE = int(os.environ.get("BENCH_MAIL_PEOPLE", "10000"))
PER_TRANSACTION = 500
NOW = dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)
SENDER = "success@alpha.example"
PUBLIC_URL = "https://canary.alpha.example"
TEMPLATE = MailTemplate(
    subject="{{ account.name }}: your health is {{ health.band }}",
    html=("<html><body><p>Hi {{ user.name }},</p>"
          "<p>{{ account.name }} scores <strong>{{ health.score }}</strong> this week "
          "({{ health.band }}).</p><ul>{% for r in health.reasons %}<li>{{ r }}</li>{% endfor %}</ul>"
          "<p>Your CSM, {{ account.owner }}, will be in touch before the renewal on {{ account.renewal_date }}.</p>"
          '<p style="color:#888"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'))


def person(i: int) -> tuple[str, dict[str, object]]:
    variables = {
        "account": {"name": f"Account {i // 5:05d} & Co", "owner": f"csm{i % 17}@alpha.example",
                    "renewal_date": (NOW.date() + dt.timedelta(days=i % 365)).isoformat()},
        "user": {"name": f"Person <{i}>", "email": f"person{i}@customer{i // 5}.example"},
        "health": {"score": i % 100, "band": ("good", "average", "poor")[i % 3],
                   "reasons": ["Weekly active users fell from 12 to 3", "Two P1 tickets open"][: i % 3]},
        "workspace": {"name": "Alpha"}}
    return f"person{i}@customer{i // 5}.example", variables


def settings(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, starttls=False, from_address=SENDER, timeout=60)


def floor_round(port: int, inbox: Inbox) -> float:
    messages = []
    for i in range(PEOPLE):
        to, variables = person(i)
        token = f"t{i:042d}"
        url = f"{PUBLIC_URL}/u/{token}"
        rendered = render(TEMPLATE, {**variables, "unsubscribe_url": url})
        messages.append((to, build_message(rendered, to=to, sender=SENDER, message_id=new_message_id(SENDER),
                                           date=NOW, unsubscribe=Unsubscribe(url, f"{SENDER}?subject=u"))))
    return hand_prerendered(settings(port), inbox, messages)


def hand_prerendered(smtp_settings: SmtpSettings, inbox: Inbox, messages: list[tuple[str, bytes]]) -> float:
    """Seconds to hand ``messages`` (recipient, MIME bytes), rendered beforehand, to the SMTP server over one
    connection: the floor the mail benches measure against. Fails unless the server received every one."""
    before = inbox.count
    started = time.perf_counter()
    with SmtpSender(smtp_settings) as smtp:
        for to, raw in messages:
            smtp.send(SENDER, to, raw)
    elapsed = time.perf_counter() - started
    if inbox.count - before != len(messages):
        raise SystemExit(f"floor: the server received {inbox.count - before}, not {len(messages)}")
    return elapsed


def outbox_round(port: int, inbox: Inbox, folder: Path) -> tuple[float, float]:
    url = f"sqlite:///{folder / 'mail.db'}"
    upgrade(url)
    store = Store(url)
    with store.session() as s:
        tenant, _ = create_tenant(s, "alpha", "Alpha")
    before = inbox.count
    started = time.perf_counter()
    for first in range(0, PEOPLE, PER_TRANSACTION):
        people = [(i, *person(i)) for i in range(first, min(PEOPLE, first + PER_TRANSACTION))]
        requests = [MailRequest(f"campaign:1:step:1:person:{i}", to, TEMPLATE, variables)
                    for i, to, variables in people]
        with store.session(tenant.id) as s:
            enqueue_many(s, requests, sender=SENDER, public_url=PUBLIC_URL, now=NOW)
    enqueued = time.perf_counter()
    summary = deliver(store, tenant.id, settings(port), policy=OutboxPolicy(batch=200), clock=lambda: NOW)
    done = time.perf_counter()
    if inbox.count - before != PEOPLE or summary.sent != PEOPLE:
        raise SystemExit(f"outbox: the server received {inbox.count - before} and {summary.sent} were marked "
                         f"sent, not {PEOPLE}")
    from sqlalchemy import func, select

    with store.session(tenant.id) as s:
        sent = s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "sent"))
    store.dispose()
    if sent != PEOPLE:
        raise SystemExit(f"outbox: {sent} rows sent, not {PEOPLE}")
    return enqueued - started, done - enqueued


def main() -> None:
    inbox = Inbox(keep=False)
    with smtp_server(inbox) as (_, port), tempfile.TemporaryDirectory() as folder:
        floor = floor_round(port, inbox)
        enqueue_s, deliver_s = outbox_round(port, inbox, Path(folder))
    total = enqueue_s + deliver_s
    print(f"e-mail to {PEOPLE:,} people, one SMTP server on loopback (aiosmtpd), SQLite outbox")
    print(f"  floor: pre-rendered messages handed to SMTP   {PEOPLE / floor:9.0f} e-mails/s  ({floor:.2f} s)")
    print(f"  outbox: rendered, stored, claimed and sent   {PEOPLE / total:9.0f} e-mails/s  ({total:.2f} s: "
          f"render+store {enqueue_s:.2f} s = {PEOPLE / enqueue_s:.0f}/s, deliver {deliver_s:.2f} s = "
          f"{PEOPLE / deliver_s:.0f}/s)")
    print(f"  ratio floor/outbox: {total / floor:.2f}x the time of SMTP alone")


if __name__ == "__main__":
    main()
