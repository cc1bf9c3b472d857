"""Issue 17's Done-when line for notifications, against a local Slack receiver and a real SMTP server (aiosmtpd):
an alert raised for an account sends its CSM exactly one Slack message and one digest line the next morning at
08:00 in their time zone, and nobody else gets anything (other CSMs, the manager, the other workspace)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, select

from mail.outbox import deliver
from mail.smtp import SmtpSettings
from notify.service import MailContext, run_round
from notify.settings import slack_target
from store.models import NotifyDelivery, NotifyEvent, OutboxMessage
from tests.notify.conftest import (
    BOT_TOKEN,
    PUBLIC_URL,
    SENDER,
    FakeTime,
    World,
    cipher,
    raise_alert,
    set_prefs,
    set_workspace,
)
from tests.notify.slack_receiver import slack_receiver
from tests.shared import WORLD_NOW
from tests.smtp_server import smtp_server

MONDAY_10_UTC = WORLD_NOW  # 11:00 in Berlin
TUESDAY_0700_UTC = WORLD_NOW + dt.timedelta(hours=21)  # 08:00 in Berlin (CET, UTC+1)


def _round(w: World, tenant: int, at: dt.datetime, api: str) -> Any:
    with w.store.session(tenant) as s:
        target = slack_target(s, cipher(), {"SLACK_API_URL": api})
    fake = FakeTime(at)
    return run_round(w.store, tenant, at, mail=MailContext(SENDER, PUBLIC_URL, "Alpha"), slack=target,
                     public_url=PUBLIC_URL, clock=fake.clock, sleeper=fake.sleep)


def _count(w: World, tenant: int, model: Any, *where: Any) -> int:
    with w.store.session(tenant) as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_an_alert_reaches_its_csm_once_on_slack_and_once_in_the_next_mornings_digest(world: World) -> None:
    w = world
    with slack_receiver() as slack, smtp_server() as (inbox, port):
        set_workspace(w, {"slack_mode": "bot", "slack_secret": BOT_TOKEN, "slack_channel": "#cs-alerts",
                          "slack_routes": "usage_drop = #cs-usage\nrenewal = #renewals"})
        set_workspace(w, {"slack_mode": "bot", "slack_secret": "xoxb-9-bravo", "slack_channel": "#bravo"},
                      tenant=w.bravo)
        set_prefs(w, "csm", time_zone="Europe/Berlin", slack_user="U0CSM1",
                  rules=json.dumps({"alert": {"scope": "mine", "channels": ["slack", "digest"]}}))
        alert_id = raise_alert(w, "acme", MONDAY_10_UTC)

        first = _round(w, w.alpha, MONDAY_10_UTC, slack.url)
        bravo = _round(w, w.bravo, MONDAY_10_UTC, slack.url)
        assert (first.events, first.deliveries, first.slack and first.slack.sent) == (1, 2, 1)
        assert (bravo.events, bravo.deliveries) == (0, 0)
        (message,) = slack.requests
        assert message.path == "/chat.postMessage"
        assert message.headers["authorization"] == f"Bearer {BOT_TOKEN}"
        assert message.body["channel"] == "#cs-usage"  # routed by the alert's reason
        assert message.body["text"].startswith("<@U0CSM1> *New alert* — Acme: Weekly active users fell")

        # Later that day and just before 08:00 in Berlin: no digest, no second Slack message.
        for at in (MONDAY_10_UTC + dt.timedelta(hours=10), TUESDAY_0700_UTC - dt.timedelta(minutes=1)):
            again = _round(w, w.alpha, at, slack.url)
            assert (again.events, again.deliveries, again.digests, again.slack and again.slack.sent) == (0, 0, 0, 0)
        assert _count(w, w.alpha, OutboxMessage) == 0

        morning = _round(w, w.alpha, TUESDAY_0700_UTC, slack.url)
        assert morning.digests == 1
        assert _round(w, w.alpha, TUESDAY_0700_UTC + dt.timedelta(minutes=5), slack.url).digests == 0
        settings = SmtpSettings(host="127.0.0.1", port=port, starttls=False, from_address=SENDER, timeout=10)
        later = lambda: TUESDAY_0700_UTC + dt.timedelta(minutes=10)  # noqa: E731
        assert deliver(w.store, w.alpha, settings, clock=later).sent == 1
        assert deliver(w.store, w.bravo, settings, clock=later).sent == 0

    assert len(slack.requests) == 1
    assert inbox.count == 1
    _, rcpt, _ = inbox.accepted[0]
    assert rcpt == ["csm@alpha.example"]
    mail = inbox.messages()[0]
    assert mail["Subject"] == "Canary daily digest: 1 update(s)"
    text = mail.get_body(("plain",)).get_content()
    lines = [line for line in text.splitlines() if "Acme" in line]
    assert lines == ["- New alert — Acme: Weekly active users fell from 12 to 3"]
    with w.store.session(w.alpha) as s:
        delivered = sorted((d.user_id, d.channel, d.state) for d in s.scalars(select(NotifyDelivery)))
        (event,) = s.scalars(select(NotifyEvent)).all()
        assert (event.kind, event.alert_id, event.key) == ("alert", alert_id, f"alert:{alert_id}")
        keys = list(s.scalars(select(OutboxMessage.idempotency_key)))
    assert delivered == [(w.users["csm"], "digest", "sent"), (w.users["csm"], "slack", "sent")]
    assert keys == [f"notify:digest:{w.users['csm']}:2026-12-01"]
    assert _count(w, w.bravo, NotifyDelivery) == 0 and _count(w, w.bravo, NotifyEvent) == 0
