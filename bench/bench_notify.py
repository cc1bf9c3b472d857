"""Notifications: N new alerts collected and fanned out to a 50-person team, per second — next to the floor of
storing the same events and deliveries directly (no finding, no planning) in the same run.

- floor: N `notify_events` rows and the same number of `notify_deliveries` rows the round makes, built before
  the clock starts and added in one transaction on a fresh SQLite store;
- round: `notify.service.run_round` (no SMTP, no Slack) on another fresh store holding the N open alerts:
  collect (one query per kind, the keys seen), escalate, fan out (`notify.rules.plan` per event: 50 people,
  their rules and snoozes; the deliveries).

The team: 5 managers with 9 CSMs each; managers follow their team's alerts (scope team, bell), CSMs keep the
defaults (my accounts → bell + digest). Prints both rates and the ratio; exits 1 when the round did not store
the expected events and deliveries. ``BENCH_NOTIFY_ALERTS`` (5,000) sizes it.
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

from notify.service import run_round  # noqa: E402
from store.db import Store  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import Account, Alert, NotifyDelivery, NotifyEvent, NotifyPreference, User  # noqa: E402
from store.tenants import create_tenant  # noqa: E402

ALERTS = int(os.environ.get("BENCH_NOTIFY_ALERTS", "5000"))
NOW = dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)
MANAGERS, CSMS_EACH, ACCOUNTS = 5, 9, 1000


def fresh(folder: Path, name: str) -> tuple[Store, int]:
    url = f"sqlite:///{folder / name}"
    upgrade(url)
    store = Store(url)
    with store.session() as s:
        tenant, _ = create_tenant(s, "alpha", "Alpha")
    return store, tenant.id


def team(store: Store, tenant_id: int) -> list[int]:
    """The people and the accounts; returns each account's CSM."""
    with store.session(tenant_id) as s:
        csms: list[User] = []
        for m in range(MANAGERS):
            manager = User(email=f"manager{m}@alpha.example", role="manager")
            s.add(manager)
            s.flush()
            s.add(NotifyPreference(user_id=manager.id, time_zone="UTC",
                                   rules={"alert": {"scope": "team", "channels": ["bell"], "min_severity": "info"}}))
            for c in range(CSMS_EACH):
                csm = User(email=f"csm{m}-{c}@alpha.example", role="csm", manager_id=manager.id)
                s.add(csm)
                csms.append(csm)
        s.flush()
        accounts = [Account(name=f"Account {i}", csm_user_id=csms[i % len(csms)].id) for i in range(ACCOUNTS)]
        s.add_all(accounts)
        s.flush()
        return [a.id for a in accounts]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # the round
        store, tenant_id = fresh(folder, "round.db")
        accounts = team(store, tenant_id)
        with store.session(tenant_id) as s:
            s.add_all([Alert(account_id=accounts[i % len(accounts)], rule=f"rule{i % 7}", dedupe_key=f"k{i}",
                             severity="warning", title=f"Alert {i}", raised_at=NOW) for i in range(ALERTS)])
        started = time.perf_counter()
        summary = run_round(store, tenant_id, NOW, mail=None, slack=None)
        round_seconds = time.perf_counter() - started
        with store.session(tenant_id) as s:
            deliveries = s.query(NotifyDelivery).count()
        expected = ALERTS * 3  # the CSM's bell and digest line, their manager's bell
        ok = summary.events == ALERTS and summary.deliveries == deliveries == expected
        store.dispose()

        # the floor
        floor_store, floor_tenant = fresh(folder, "floor.db")
        floor_accounts = team(floor_store, floor_tenant)
        with floor_store.session(floor_tenant) as s:
            users = [u.id for u in s.query(User).order_by(User.id)]
        events = [NotifyEvent(key=f"alert:{i}", kind="alert", account_id=floor_accounts[i % ACCOUNTS], title=f"A {i}",
                              occurred_at=NOW, fanned_out_at=NOW) for i in range(ALERTS)]
        started = time.perf_counter()
        with floor_store.session(floor_tenant) as s:
            s.add_all(events)
            s.flush()
            s.add_all([NotifyDelivery(event_id=e.id, user_id=users[(i + k) % len(users)], channel=channel,
                                      state="sent", deliver_after=NOW, next_attempt_at=NOW, created_at=NOW)
                       for i, e in enumerate(events) for k, channel in enumerate(("bell", "digest", "email"))])
        floor_seconds = time.perf_counter() - started
        floor_store.dispose()

    print(f"notify round: {ALERTS} alerts → {summary.events} events, {summary.deliveries} deliveries "
          f"in {round_seconds:.2f} s = {ALERTS / round_seconds:,.0f} alerts/s")
    print(f"floor (the same rows stored directly): {floor_seconds:.2f} s = {ALERTS / floor_seconds:,.0f} alerts/s")
    print(f"round / floor time: {round_seconds / floor_seconds:.2f}×")
    if not ok:
        print(f"FAILED: expected {ALERTS} events and {expected} deliveries, got {summary.events} and {deliveries}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
