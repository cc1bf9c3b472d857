"""Quiet hours and ISO weeks in a time zone (pure), and the mail events a campaign e-mail's SMTP outcome records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from campaigns.timing import next_allowed, week_bounds, zone
from mail.outbox import deliver
from store.models import MailEvent, OutboxMessage
from tests.campaigns.conftest import STEP_ONE, active_campaign, run, smtp
from tests.shared import WORLD_NOW
from tests.smtp_server import Inbox, smtp_server

UTC = dt.UTC


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_quiet_hours_wrap_midnight_or_not_and_an_unknown_zone_falls_back() -> None:
    berlin = zone("Europe/Berlin", "UTC")
    night, lunch = (21 * 60, 8 * 60), (12 * 60, 13 * 60)
    assert next_allowed(at(30, 19, 59), berlin, *night) == at(30, 19, 59)  # 20:59 local: still allowed
    assert next_allowed(at(30, 20, 0), berlin, *night) == dt.datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # → 08:00
    assert next_allowed(at(30, 3, 0), berlin, *night) == at(30, 7, 0)  # 04:00 local → 08:00 the same day
    assert next_allowed(at(30, 11, 30), berlin, *lunch) == at(30, 12, 0)  # 12:30 local → 13:00
    assert next_allowed(at(30, 3, 0), berlin, 0, 0) == at(30, 3, 0)  # start == end: no quiet hours
    assert zone("Mars/Olympus", "Asia/Tokyo").key == "Asia/Tokyo"
    assert zone(None, "Nowhere/Else").key == "UTC"
    start, end = week_bounds(at(29, 23, 30), zone("Asia/Tokyo", "UTC"))  # Monday 08:30 in Tokyo
    assert (start, end) == (at(29, 15, 0), dt.datetime(2026, 12, 6, 15, 0, tzinfo=UTC))


def test_delivered_and_bounced_are_recorded_from_the_smtp_outcome(world: Any) -> None:
    _, store, seg = world
    t = seg.tenant_id
    active_campaign(store, t, [STEP_ONE], audience={"lists": [seg.starters]})  # Ann and Cy
    when = WORLD_NOW + dt.timedelta(hours=4)
    assert run(store, t, when).sent == 2
    with smtp_server(Inbox(rcpt_replies=["250 OK", "550 5.1.1 no such user"])) as (inbox, port):
        summary = deliver(store, t, smtp(port), clock=lambda: when)
    assert (summary.sent, summary.failed, inbox.count) == (1, 1, 1)
    with store.session(t) as s:
        events = sorted((row.to_address, kind) for row, kind in s.execute(
            select(OutboxMessage, MailEvent.kind).join(MailEvent, MailEvent.outbox_id == OutboxMessage.id)))
    assert events == [("ann@acme.test", "delivered"), ("cy@globex.test", "bounced")]
