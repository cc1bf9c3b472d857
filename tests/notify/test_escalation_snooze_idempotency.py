"""Escalation after N business hours (across a weekend), acknowledgement, snooze of one alert and of the bell,
and idempotency: a second fan-out or round sends nothing more."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from notify.service import MailContext, acknowledge, bell, fan_out, mark_read, run_round, snooze, unread_count
from store.models import Alert, NotifyDelivery, NotifyEvent, OutboxMessage
from tests.notify.conftest import PUBLIC_URL, SENDER, World, raise_alert, set_prefs, set_workspace
from tests.shared import WORLD_NOW

FRIDAY_15_UTC = WORLD_NOW - dt.timedelta(days=3) + dt.timedelta(hours=5)  # Fri 27 Nov 2026, 15:00 UTC
MAIL = MailContext(SENDER, PUBLIC_URL, "Alpha")


def _round(w: World, at: dt.datetime) -> Any:
    return run_round(w.store, w.alpha, at, mail=MAIL, slack=None)


def _rows(w: World, model: Any, *where: Any) -> list[Any]:
    with w.store.session(w.alpha) as s:
        rows = list(s.scalars(select(model).where(*where).order_by(model.id)))
        s.expunge_all()
    return rows


def test_an_unacknowledged_alert_escalates_to_the_manager_after_business_hours_across_a_weekend(world: World
                                                                                                ) -> None:
    w = world
    assert FRIDAY_15_UTC.weekday() == 4
    set_workspace(w, {"escalation_hours": "4", "business_start": "9", "business_end": "17", "time_zone": "UTC"})
    alert_id = raise_alert(w, "acme", FRIDAY_15_UTC)
    _round(w, FRIDAY_15_UTC)
    # Friday 15:00 + 4 business hours (9-17, Mon-Fri) = 2 h on Friday + 2 h on Monday = Monday 11:00 UTC.
    for at in (FRIDAY_15_UTC + dt.timedelta(hours=3), FRIDAY_15_UTC + dt.timedelta(days=1),
               FRIDAY_15_UTC + dt.timedelta(days=2, hours=8), WORLD_NOW + dt.timedelta(hours=1) - dt.timedelta(
                   minutes=1)):
        assert _round(w, at).escalations == 0, at
    due = _round(w, WORLD_NOW + dt.timedelta(hours=1))
    assert due.escalations == 1
    (escalation,) = _rows(w, NotifyEvent, NotifyEvent.kind == "escalation")
    assert (escalation.user_id, escalation.alert_id) == (w.users["manager"], alert_id)
    assert escalation.title.startswith("Unacknowledged for 4 business hours: Acme:")
    got = [(d.user_id, d.channel) for d in _rows(w, NotifyDelivery, NotifyDelivery.event_id == escalation.id)]
    assert got == [(w.users["manager"], "bell"), (w.users["manager"], "email")]
    mails = sorted((m.to_address, m.idempotency_key) for m in _rows(w, OutboxMessage))
    assert mails == [("csm@alpha.example", f"notify:digest:{w.users['csm']}:2026-11-28"),  # Saturday 08:00
                     ("manager@alpha.example", f"notify:{escalation.id}:{w.users['manager']}:email")]
    assert _round(w, WORLD_NOW + dt.timedelta(days=1)).escalations == 0  # once


def test_an_acknowledged_or_resolved_alert_does_not_escalate(world: World) -> None:
    w = world
    set_workspace(w, {"escalation_hours": "2", "time_zone": "UTC"})
    acked = raise_alert(w, "acme", WORLD_NOW, rule="usage_drop")
    resolved = raise_alert(w, "acme", WORLD_NOW, rule="renewal_risk")
    _round(w, WORLD_NOW)
    with w.store.session(w.alpha) as s:
        assert acknowledge(s, w.users["csm2"], acked, WORLD_NOW) is False  # never notified of it
        assert acknowledge(s, w.users["csm"], acked, WORLD_NOW + dt.timedelta(minutes=5)) is True
        alert = s.get(Alert, resolved)
        assert alert is not None
        alert.status = "resolved"
    assert _round(w, WORLD_NOW + dt.timedelta(days=2)).escalations == 0
    assert _rows(w, NotifyEvent, NotifyEvent.kind == "escalation") == []
    (event,) = _rows(w, NotifyEvent, NotifyEvent.alert_id == acked)
    assert event.acknowledged_by_user_id == w.users["csm"]


def test_a_snoozed_alert_is_not_delivered_until_the_snooze_ends(world: World) -> None:
    w = world
    set_prefs(w, "csm", rules=json.dumps({"alert": {"scope": "mine", "channels": ["bell", "email"]}}))
    first = raise_alert(w, "acme", WORLD_NOW, rule="usage_drop")
    with w.store.session(w.alpha) as s:
        snooze(s, w.users["csm"], WORLD_NOW + dt.timedelta(hours=4), WORLD_NOW, alert_id=first)
    assert _round(w, WORLD_NOW).emails == 0
    with w.store.session(w.alpha) as s:
        assert unread_count(s, w.users["csm"], WORLD_NOW) == 0
        assert bell(s, w.users["csm"], WORLD_NOW) == []
    assert _round(w, WORLD_NOW + dt.timedelta(hours=3, minutes=59)).emails == 0
    assert _round(w, WORLD_NOW + dt.timedelta(hours=4)).emails == 1
    with w.store.session(w.alpha) as s:
        assert unread_count(s, w.users["csm"], WORLD_NOW + dt.timedelta(hours=4)) == 1


def test_snoozing_the_bell_holds_everything_already_waiting_and_what_comes_meanwhile(world: World) -> None:
    w = world
    raise_alert(w, "acme", WORLD_NOW, rule="usage_drop")
    _round(w, WORLD_NOW)
    with w.store.session(w.alpha) as s:
        assert unread_count(s, w.users["csm"], WORLD_NOW) == 1
        assert snooze(s, w.users["csm"], WORLD_NOW + dt.timedelta(days=1), WORLD_NOW) == 2  # bell item + digest line
    raise_alert(w, "acme", WORLD_NOW + dt.timedelta(hours=1), rule="renewal_risk")
    _round(w, WORLD_NOW + dt.timedelta(hours=1))
    with w.store.session(w.alpha) as s:
        assert unread_count(s, w.users["csm"], WORLD_NOW + dt.timedelta(hours=2)) == 0
        assert unread_count(s, w.users["csm"], WORLD_NOW + dt.timedelta(days=1)) == 2


def test_the_fan_out_run_twice_stores_and_sends_once(world: World) -> None:
    w = world
    set_prefs(w, "csm", rules=json.dumps({"alert": {"scope": "mine", "channels": ["bell", "email", "digest"]}}))
    raise_alert(w, "acme", WORLD_NOW)
    first = _round(w, WORLD_NOW)
    with w.store.session(w.alpha) as s:  # as if a crashed round never marked the event fanned out
        for event in s.scalars(select(NotifyEvent)):
            event.fanned_out_at = None
    with w.store.session(w.alpha) as s:
        assert fan_out(s, WORLD_NOW) == 0
    again = _round(w, WORLD_NOW + dt.timedelta(minutes=1))
    assert (first.events, first.deliveries, first.emails) == (1, 3, 1)
    assert (again.events, again.deliveries, again.emails) == (0, 0, 0)
    assert len(_rows(w, OutboxMessage)) == 1 and len(_rows(w, NotifyDelivery)) == 3


def test_bell_items_are_read_one_by_one_or_all_and_only_by_their_owner(world: World) -> None:
    w = world
    raise_alert(w, "acme", WORLD_NOW, rule="usage_drop")
    raise_alert(w, "acme", WORLD_NOW, rule="renewal_risk")
    _round(w, WORLD_NOW)
    csm, other = w.users["csm"], w.users["csm2"]
    with w.store.session(w.alpha) as s:
        items = bell(s, csm, WORLD_NOW)
        assert [i.read for i in items] == [False, False] and unread_count(s, csm, WORLD_NOW) == 2
        assert mark_read(s, other, WORLD_NOW, items[0].id) == 0  # not theirs
        assert mark_read(s, csm, WORLD_NOW, items[0].id) == 1
        assert unread_count(s, csm, WORLD_NOW) == 1
        assert [i.read for i in bell(s, csm, WORLD_NOW)] == [True, False]
        assert mark_read(s, csm, WORLD_NOW) == 1
        assert unread_count(s, csm, WORLD_NOW) == 0
