"""The campaign dashboard: ``GET /campaigns/<id>`` (figures per campaign and per step, the cumulative chart of 30
days, the table) for a campaign that reached N people over 30 days, signed in, through the Flask app — next to
the floor measured in the same run: reading the same rows the figures come from (step runs, mail events,
enrollments) with three plain SELECTs and nothing else.

The store is a fresh SQLite file with N enrollments, N sent step runs and outbox rows, N delivered events and
an opened, clicked and unsubscribed share, spread over 30 days. Prints both times (median of 5) and the ratio;
exits 1 unless the page shows N sent. ``BENCH_DASHBOARD_PEOPLE`` (10,000) sizes it; a quick run: 1000.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from store.models import (  # noqa: E402
    Campaign,
    CampaignEnrollment,
    CampaignStep,
    CampaignStepRun,
    MailEvent,
    OutboxMessage,
)

PEOPLE = int(os.environ.get("BENCH_DASHBOARD_PEOPLE", "10000"))
START = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)
ROUNDS = 5


def seed(app: object, tenant_id: int) -> int:
    from extensions import canary_store

    store = canary_store(app)
    with store.session(tenant_id) as s:
        campaign = Campaign(name="Bench", status="active", category="customer_success", audience={},
                            conversion_days=30, activated_at=START)
        campaign.steps = [CampaignStep(position=1, kind="send_email", config={"subject": "Hi", "html": "<p>Hi</p>"}),
                          CampaignStep(position=2, kind="wait", config={"days": 3})]
        s.add(campaign)
        s.flush()
        cid = campaign.id
        at = [START + dt.timedelta(minutes=(30 * 24 * 60 - 1) * i // PEOPLE) for i in range(PEOPLE)]
        s.execute(insert(CampaignEnrollment), [
            {"tenant_id": tenant_id, "campaign_id": cid, "email": f"p{i}@c{i // 5}.example", "position": 2,
             "enrolled_at": at[i], "goal_reached_at": at[i] + dt.timedelta(days=1) if i % 10 == 0 else None}
            for i in range(PEOPLE)])
        s.execute(insert(OutboxMessage), [
            {"tenant_id": tenant_id, "idempotency_key": f"campaign:{cid}:step:1:person:{i}",
             "category": "customer_success", "to_address": f"p{i}@c{i // 5}.example",
             "from_address": "cs@alpha.example", "subject": "Hi", "message_id": f"<{i}@alpha.example>", "raw": b"x",
             "state": "sent", "attempts": 1, "permanent_failures": 0, "next_attempt_at": at[i], "created_at": at[i]}
            for i in range(PEOPLE)])
        outbox = dict(s.execute(select(OutboxMessage.idempotency_key, OutboxMessage.id)).all())
        enrollments = dict(s.execute(select(CampaignEnrollment.email, CampaignEnrollment.id)).all())
        ids = [outbox[f"campaign:{cid}:step:1:person:{i}"] for i in range(PEOPLE)]
        s.execute(insert(CampaignStepRun), [
            {"tenant_id": tenant_id, "campaign_id": cid, "enrollment_id": enrollments[f"p{i}@c{i // 5}.example"],
             "position": 1, "kind": "send_email", "outcome": "sent", "outbox_id": ids[i], "at": at[i]}
            for i in range(PEOPLE)])
        events = [{"tenant_id": tenant_id, "outbox_id": ids[i], "kind": "delivered", "at": at[i]}
                  for i in range(PEOPLE)]
        for kind, every in (("opened", 2), ("clicked", 5), ("unsubscribed", 50)):
            events += [{"tenant_id": tenant_id, "outbox_id": ids[i], "kind": kind,
                        "at": at[i] + dt.timedelta(hours=3)} for i in range(0, PEOPLE, every)]
        s.execute(insert(MailEvent), events)
    return cid


def floor_once(app: object, tenant_id: int, cid: int) -> float:
    from extensions import canary_store

    started = time.perf_counter()
    with canary_store(app).session(tenant_id) as s:
        runs = s.execute(select(CampaignStepRun.position, CampaignStepRun.outbox_id, CampaignStepRun.at).where(
            CampaignStepRun.campaign_id == cid, CampaignStepRun.outcome == "sent")).all()
        events = s.execute(select(MailEvent.outbox_id, MailEvent.kind, MailEvent.at).where(
            MailEvent.outbox_id.in_(select(CampaignStepRun.outbox_id).where(
                CampaignStepRun.campaign_id == cid)))).all()
        people = s.execute(select(CampaignEnrollment.enrolled_at, CampaignEnrollment.goal_reached_at).where(
            CampaignEnrollment.campaign_id == cid)).all()
    assert len(runs) == PEOPLE and len(people) == PEOPLE and len(events) > PEOPLE
    return time.perf_counter() - started


def main() -> None:
    import time_machine

    from app import create_app
    from console.auth import passwords
    from console.people import add_user
    from extensions import canary_store
    from store.migrate import upgrade
    from store.tenants import create_tenant

    with tempfile.TemporaryDirectory() as folder, time_machine.travel(START + dt.timedelta(days=30), tick=True):
        url = f"sqlite:///{Path(folder) / 'dashboard.db'}"
        upgrade(url)
        app = create_app({"TESTING": True, "SECRET_KEY": "bench-dashboard-secret-key-0123456789", "DATABASE_URL": url,
                          "COOKIE_SECURE": False, "PASSWORD_HASH": {"time_cost": 1, "memory_kib": 1024,
                                                                    "parallelism": 1}})
        store = canary_store(app)
        with store.session() as s:
            tenant_id = create_tenant(s, "bench", "Bench")[0].id
        with store.session(tenant_id) as s:
            add_user(s, "manager@bench.example", "manager", password="correct horse battery staple",
                     hasher=passwords(app))
        cid = seed(app, tenant_id)
        from tests.console.conftest import signed_in_client

        client = signed_in_client(app, "manager@bench.example")
        page_times, floor_times, body = [], [], ""
        for _ in range(ROUNDS):
            floor_times.append(floor_once(app, tenant_id, cid))
            started = time.perf_counter()
            answer = client.get(f"/campaigns/{cid}")
            page_times.append(time.perf_counter() - started)
            body = answer.get_data(as_text=True)
            if answer.status_code != 200:
                print(f"dashboard answered {answer.status_code}")
                sys.exit(1)
        page, floor = statistics.median(page_times), statistics.median(floor_times)
    if f'<div class="figure-value">{PEOPLE:,}</div>' not in body:
        print("the dashboard does not show every e-mail as sent")
        sys.exit(1)
    print(f"campaign dashboard, {PEOPLE:,} people over 30 days, SQLite, median of {ROUNDS}")
    print(f"  floor: the rows the figures come from, 3 SELECTs   {floor * 1000:8.0f} ms")
    print(f"  GET /campaigns/<id> (figures, steps, 30-day chart) {page * 1000:8.0f} ms")
    print(f"  ratio page/floor: {page / floor:.2f}x")


if __name__ == "__main__":
    main()
