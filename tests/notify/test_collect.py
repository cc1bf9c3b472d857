"""`notify.service.collect`: every kind of event is found once per key — a task assigned, a task overdue, a band
change, a play step due, an alert — and a second collect finds nothing new; each reaches the right person."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from notify.service import collect, fan_out
from store.models import HealthSnapshot, NotifyDelivery, NotifyEvent, Play, PlayRun, Task
from tests.notify.conftest import World, raise_alert
from tests.shared import WORLD_AS_OF, WORLD_NOW


def test_each_kind_is_collected_once_and_reaches_its_person(world: World) -> None:
    w = world
    acme, globex = w.accounts["acme"], w.accounts["globex"]
    alert_id = raise_alert(w, "acme", WORLD_NOW - dt.timedelta(hours=1))
    raise_alert(w, "acme", WORLD_NOW - dt.timedelta(days=3), rule="old")  # before the look-back: not news
    with w.store.session(w.alpha) as s:
        play = Play(name="Get well", state="live", version=1)
        s.add(play)
        s.flush()
        run = PlayRun(play_id=play.id, version=1, account_id=acme, reason="list:1", episode="e1", state="running",
                      started_on=WORLD_AS_OF)
        s.add(run)
        s.flush()
        given = Task(account_id=globex, title="Call Globex", assignee_user_id=w.users["csm2"], source="manual",
                     created_at=WORLD_NOW - dt.timedelta(hours=2), due_date=WORLD_AS_OF + dt.timedelta(days=5))
        late = Task(account_id=acme, title="Send the QBR deck", assignee_user_id=None, source="manual",
                    created_at=WORLD_NOW - dt.timedelta(days=20), updated_at=WORLD_NOW - dt.timedelta(days=20),
                    due_date=WORLD_AS_OF - dt.timedelta(days=2))
        step = Task(account_id=acme, title="Kick-off call", assignee_user_id=w.users["csm"], source="play",
                    play_run_id=run.id, created_at=WORLD_NOW - dt.timedelta(days=10),
                    updated_at=WORLD_NOW - dt.timedelta(days=10), due_date=WORLD_AS_OF)
        s.add_all([given, late, step])
        for day, band in ((WORLD_AS_OF - dt.timedelta(days=1), "good"), (WORLD_AS_OF, "average")):
            s.add(HealthSnapshot(account_id=acme, day=day, score=70.0, band=band))
            s.add(HealthSnapshot(account_id=globex, day=day, score=20.0, band="poor"))
        s.flush()
        ids = {"given": given.id, "late": late.id, "step": step.id}
    with w.store.session(w.alpha) as s:
        assert collect(s, WORLD_NOW) == 5
    with w.store.session(w.alpha) as s:
        assert collect(s, WORLD_NOW + dt.timedelta(minutes=1)) == 0
        assert fan_out(s, WORLD_NOW) > 0
    with w.store.session(w.alpha) as s:
        events = {e.key: e for e in s.scalars(select(NotifyEvent))}
        got = sorted((e.key, d.user_id, d.channel) for d in s.scalars(select(NotifyDelivery))
                     for e in events.values() if e.id == d.event_id)
    assert sorted(events) == sorted([
        f"alert:{alert_id}", f"task-assigned:{ids['given']}:{w.users['csm2']}",
        f"task-overdue:{ids['late']}:{WORLD_AS_OF - dt.timedelta(days=2)}", f"play-step:{ids['step']}:{WORLD_AS_OF}",
        f"band:{acme}:{WORLD_AS_OF}:average"])
    assert events[f"band:{acme}:{WORLD_AS_OF}:average"].title == "Acme moved from good to average"
    csm, csm2 = w.users["csm"], w.users["csm2"]
    assert got == sorted([
        (f"alert:{alert_id}", csm, "bell"), (f"alert:{alert_id}", csm, "digest"),
        (f"band:{acme}:{WORLD_AS_OF}:average", csm, "digest"),
        (f"play-step:{ids['step']}:{WORLD_AS_OF}", csm, "bell"),
        (f"task-assigned:{ids['given']}:{csm2}", csm2, "bell"), (f"task-assigned:{ids['given']}:{csm2}", csm2, "email"),
        # an unassigned task is its account's CSM's
        (f"task-overdue:{ids['late']}:{WORLD_AS_OF - dt.timedelta(days=2)}", csm, "bell"),
        (f"task-overdue:{ids['late']}:{WORLD_AS_OF - dt.timedelta(days=2)}", csm, "digest"),
    ])


def test_a_band_change_is_read_from_new_snapshots_only_and_a_rescore_the_same_day_is_news(world: World) -> None:
    w = world
    acme = w.accounts["acme"]
    with w.store.session(w.alpha) as s:
        s.add(HealthSnapshot(account_id=acme, day=WORLD_AS_OF - dt.timedelta(days=1), score=70.0, band="good",
                             computed_at=WORLD_NOW - dt.timedelta(days=1)))
        s.add(HealthSnapshot(account_id=acme, day=WORLD_AS_OF, score=60.0, band="average",
                             computed_at=WORLD_NOW - dt.timedelta(hours=2)))
    with w.store.session(w.alpha) as s:
        assert collect(s, WORLD_NOW) == 1
    with w.store.session(w.alpha) as s:  # a real-time rescore later that day: poor now
        snapshot = s.scalars(select(HealthSnapshot).where(HealthSnapshot.day == WORLD_AS_OF)).one()
        snapshot.band, snapshot.computed_at = "poor", WORLD_NOW + dt.timedelta(minutes=30)
    with w.store.session(w.alpha) as s:
        assert collect(s, WORLD_NOW + dt.timedelta(minutes=31)) == 1
        assert collect(s, WORLD_NOW + dt.timedelta(minutes=32)) == 0
        titles = sorted(e.title for e in s.scalars(select(NotifyEvent)))
    assert titles == ["Acme moved from good to average", "Acme moved from good to poor"]
