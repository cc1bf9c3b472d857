"""Campaigns: one e-mail step of an active campaign to N people — enrolled, walked, rendered with tracked links,
stored in the outbox (`campaigns.runner.run_due`) and handed to SMTP (`mail.outbox.deliver`) — per second, next
to the same SMTP server receiving N pre-rendered messages over one connection, in the same run.

People are N product users with e-mails at N/5 accounts on a fresh SQLite store (no quiet hours, no cap in the
way: the workspace's rules are set so every person is due). Prints both rates, the run and deliver parts apart,
and the ratio; exits 1 unless the server received exactly N messages in each round and every person has one
sent step. ``BENCH_CAMPAIGN_PEOPLE`` (10,000) sizes it; a quick run: ``BENCH_CAMPAIGN_PEOPLE=500``.
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

from sqlalchemy import func, select  # noqa: E402

from campaigns.manage import create_campaign, save_campaign_settings, set_status  # noqa: E402
from campaigns.runner import MailContext, run_due  # noqa: E402
from mail.message import Unsubscribe, build_message  # noqa: E402
from mail.outbox import OutboxPolicy, deliver, new_message_id  # noqa: E402
from mail.smtp import SmtpSettings  # noqa: E402
from mail.templates import MailTemplate, render  # noqa: E402
from store.db import Store  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import Account, CampaignStepRun, ProductUser  # noqa: E402
from store.tenants import create_tenant  # noqa: E402
from tests.smtp_server import Inbox, smtp_server  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mail import hand_prerendered  # noqa: E402

PEOPLE = int(os.environ.get("BENCH_CAMPAIGN_PEOPLE", "10000"))
NOW = dt.datetime(2026, 11, 30, 14, tzinfo=dt.UTC)
SENDER = "success@alpha.example"
PUBLIC_URL = "https://canary.alpha.example"
STEP = {"kind": "send_email", "subject": "{{ account.name }}: getting started, {{ user.name }}",
        "html": ("<html><body><p>Hi {{ user.name }},</p><p>{{ account.name }} can now build reports.</p>"
                 '<p><a href="https://docs.example/reports">Read the guide</a> or '
                 '<a href="https://app.example/reports/new">build one</a>.</p>'
                 '<p style="color:#888"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>')}


def settings(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, starttls=False, from_address=SENDER, timeout=60)


def address(i: int) -> str:
    return f"person{i}@customer{i // 5}.example"


def floor_round(port: int, inbox: Inbox) -> float:
    template = MailTemplate(subject=STEP["subject"], html=STEP["html"])
    messages = []
    for i in range(PEOPLE):
        url = f"{PUBLIC_URL}/u/t{i:042d}"
        rendered = render(template, {"account": {"name": f"Account {i // 5}"}, "user": {"name": f"Person {i}"},
                                     "health": {}, "workspace": {"name": "Alpha"}, "unsubscribe_url": url})
        messages.append((address(i), build_message(rendered, to=address(i), sender=SENDER,
                                                   message_id=new_message_id(SENDER), date=NOW,
                                                   unsubscribe=Unsubscribe(url, f"{SENDER}?subject=u"))))
    return hand_prerendered(settings(port), inbox, messages)


def campaign_round(port: int, inbox: Inbox, folder: Path) -> tuple[float, float]:
    url = f"sqlite:///{folder / 'campaigns.db'}"
    upgrade(url)
    store = Store(url)
    with store.session() as s:
        tenant, _ = create_tenant(s, "alpha", "Alpha")
    with store.session(tenant.id) as s:
        accounts = [Account(name=f"Account {a}", tier="growth") for a in range(PEOPLE // 5 + 1)]
        s.add_all(accounts)
        s.flush()
        s.add_all([ProductUser(user_key=f"u{i}", account_id=accounts[i // 5].id, email=address(i),
                               name=f"Person {i}", first_seen=NOW - dt.timedelta(days=30),
                               last_seen=NOW - dt.timedelta(days=1)) for i in range(PEOPLE)])
        save_campaign_settings(s, weekly_cap=3, quiet_start=0, quiet_end=0, time_zone="UTC")
        campaign = create_campaign(s, name="Reports launch", audience={"tiers": ["growth"]}, steps=[STEP])
        set_status(campaign, "active", NOW)
    mail = MailContext(SENDER, PUBLIC_URL, "bench-secret-0123456789")
    before = inbox.count
    started = time.perf_counter()
    summary = run_due(store, tenant.id, NOW, mail=mail, queue_message=None)
    ran = time.perf_counter()
    sent = deliver(store, tenant.id, settings(port), policy=OutboxPolicy(batch=200), clock=lambda: NOW)
    done = time.perf_counter()
    with store.session(tenant.id) as s:
        steps = s.scalar(select(func.count()).select_from(CampaignStepRun).where(CampaignStepRun.outcome == "sent"))
    store.dispose()
    if (summary.enrolled, summary.sent, sent.sent, steps, inbox.count - before) != (PEOPLE,) * 5:
        raise SystemExit(f"campaign: enrolled {summary.enrolled}, queued {summary.sent}, sent {sent.sent}, "
                         f"{steps} steps sent, server received {inbox.count - before}; expected {PEOPLE} each")
    return ran - started, done - ran


def main() -> None:
    inbox = Inbox(keep=False)
    with smtp_server(inbox) as (_, port), tempfile.TemporaryDirectory() as folder:
        floor = floor_round(port, inbox)
        run_s, deliver_s = campaign_round(port, inbox, Path(folder))
    total = run_s + deliver_s
    print(f"campaign e-mail step to {PEOPLE:,} people, one SMTP server on loopback (aiosmtpd), SQLite")
    print(f"  floor: pre-rendered messages handed to SMTP     {PEOPLE / floor:9.0f} e-mails/s  ({floor:.2f} s)")
    print(f"  campaign: enrolled, rendered, tracked, sent     {PEOPLE / total:9.0f} e-mails/s  ({total:.2f} s: "
          f"run_due {run_s:.2f} s = {PEOPLE / run_s:.0f}/s, deliver {deliver_s:.2f} s = {PEOPLE / deliver_s:.0f}/s)")
    print(f"  ratio campaign/floor: {total / floor:.2f}x the time of SMTP alone")


if __name__ == "__main__":
    main()
