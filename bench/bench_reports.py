"""The report pages' figures (`sync.reports`) over 10,000 and 100,000 accounts, on SQLite and PostgreSQL.

The workspace is `bench.workspace.fill`'s (accounts, a current subscription each, two days of snapshots), plus a
subscription history: for every second account a prior annual term renewed into the current one (flat, up or
down), for every tenth a co-terminous expansion, for every twenty-fifth a lost renewal a year earlier and a
win-back; then `canary revenue rebuild` (term ends and movements; timed, it is what an upgrade runs once).

Timed per report, as a page or an API call computes it, each p50 / p95 over `RUNS` requests:
  revenue          GRR, NRR … for 12 months and the month to date (`sync.reports.revenue`)
  revenue, after a sync   the same on a web process's first request after a sync changed a subscription: the
                   worker stored the new ARR timeline (`prepare_timeline`, timed on its own line, worker time);
                   the request reads it from `revenue_timelines`
  revenue, built in request   the fallback when nothing current is stored (a subscription changed outside sync):
                   the request reads the subscriptions as columns, builds the timeline and stores it
  accounts behind  the churned accounts of one month (`figure_accounts`)
  renewals         the 12-month forecast with recalibration and calls (`sync.reports.renewals`), on a process's first
                   request after a sync (the worker's `prepare_reports` stored the timeline and p(band)), and the
                   fallback when neither is stored (both computed in the request)
Beside them, the floor measured in the same run: one SQL pass summing every subscription's ARR.
Goal (issue 16): every report p95 < 300 ms at 100,000 accounts on PostgreSQL and < 1 s on SQLite.

    BENCH_REPORTS_SIZES=10000,100000 BENCH_REPORTS_DATABASES=sqlite,postgresql python bench/bench_reports.py

With ``BENCH_REPORTS_PG_URL=<admin URL>`` the PostgreSQL workspace is kept in a database ``reports_<accounts>`` on
that server and reused by the next run (filled and rebuilt once).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.workspace import AS_OF, NOW, Raw, fill, kept_pg_database, new_database, served_pages  # noqa: E402

SIZES = [int(x) for x in os.environ.get("BENCH_REPORTS_SIZES", "10000,100000").split(",") if x]
DATABASES = [x for x in os.environ.get("BENCH_REPORTS_DATABASES", "sqlite,postgresql").split(",") if x]
RUNS = int(os.environ.get("BENCH_REPORTS_RUNS", "7"))
GOAL_MS = {"SQLite": 1000, "PostgreSQL": 300}
PG_URL = os.environ.get("BENCH_REPORTS_PG_URL")
"""An admin URL of a running PostgreSQL server: its database ``reports_<accounts>`` is filled once and kept for the
next run (migrated to the head first) instead of a throwaway cluster's."""


def history(target: Path | str, accounts: int) -> int:
    """Past terms, expansions and a lost-and-won-back renewal (setup, not timed); returns the rows written."""
    rows: list[tuple[Any, ...]] = []
    conn = Raw(target)
    current = {i: (AS_OF - dt.timedelta(days=30 + i % 700)) for i in range(1, accounts + 1)}
    for i, start in current.items():
        arr = 10_000 + i % 90_000
        if i % 2 == 0:  # the prior term renewed into the current one: flat, up 10 % or down 10 %
            prior = arr if i % 6 == 0 else round(arr / 1.1) if i % 6 == 2 else round(arr / 0.9)
            rows.append((i, f"006{i}p", prior, start - dt.timedelta(days=365), start, "active"))
        if i % 10 == 0:
            rows.append((i, f"006{i}x", 5_000, start - dt.timedelta(days=200), start, "active"))
        if i % 25 == 0:  # lost a year before the prior term started, won back with it
            lost = start - dt.timedelta(days=365 + 120)
            rows.append((i, f"006{i}o", arr, lost - dt.timedelta(days=365), lost, "active"))
            rows.append((i, f"006{i}l", arr, lost, lost + dt.timedelta(days=365), "churned"))
    conn.executemany(
        "INSERT INTO subscriptions (tenant_id, account_id, system, external_id, arr, seats_purchased, start_date, "
        "renewal_date, status, updated_at) VALUES (1, ?, 'salesforce', ?, ?, 20, ?, ?, ?, ?)",
        ((a, key, arr, s.isoformat(), r.isoformat(), status, NOW) for a, key, arr, s, r, status in rows))
    conn.execute("ANALYZE")
    conn.close()
    return len(rows)


def timings(call: Callable[[], Any], runs: int = RUNS, before: Callable[[], Any] | None = None
            ) -> tuple[float, float]:
    """(p50, p95) in ms over `runs` calls; `before`, when given, runs before each call, off the clock."""
    took = []
    for _ in range(runs):
        if before is not None:
            before()
        started = time.perf_counter()
        call()
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return statistics.median(took), took[min(len(took) - 1, round(0.95 * (len(took) - 1)))]


def bench(accounts: int, admin_url: str | None = None) -> None:
    from sqlalchemy import func, select, update

    from store.db import Store
    from store.models import Subscription
    from sync import reports
    from sync.revenue import refresh

    backend = "PostgreSQL" if admin_url else "SQLite"
    with tempfile.TemporaryDirectory() as tmp:
        kept = _kept(accounts, admin_url)
        target, url = (kept[0], kept[0]) if kept is not None else new_database(tmp, "reports", admin_url)
        started = time.perf_counter()
        if kept is None or kept[1]:
            fill(target, accounts)
            history(target, accounts)
        store = Store(url)
        with store.session(1) as s:
            subscriptions = s.scalar(select(func.count(Subscription.id)))
        print(f"reports on {backend}: {accounts:,} accounts, {subscriptions:,} subscriptions, "
              + (f"filled in {time.perf_counter() - started:.0f} s" if kept is None or kept[1] else
                 "kept from an earlier run") + " (setup, not measured)")
        started = time.perf_counter()
        if kept is None or kept[1]:  # (a kept database has its movements from the run that filled it)
            with store.session(1) as s:
                ids = [a for a in s.scalars(select(Subscription.account_id).distinct()) if a is not None]
                movements = refresh(s, ids)
            print(f"  rebuild (term ends and {movements:,} movements, once after an upgrade)  "
                  f"{time.perf_counter() - started:8.2f} s")

        def floor() -> Any:
            with store.session(1) as s:
                return s.execute(select(func.count(Subscription.id), func.sum(Subscription.arr))).one()

        def revenue() -> Any:
            with store.session(1) as s:
                return reports.revenue(s, months=12, as_of=AS_OF)

        def change() -> None:
            with store.session(1) as s:  # one subscription changes
                s.execute(update(Subscription).where(Subscription.account_id == 1).values(name=f"n{time.time()}"))
            reports._timelines.clear()  # and the request lands on a web process that has not read it yet

        prepared: list[float] = []

        def sync_then_worker() -> None:
            change()
            started = time.perf_counter()
            with store.session(1) as s:
                reports.prepare_reports(s)  # the worker, at the end of the sync (not part of the request)
            prepared.append((time.perf_counter() - started) * 1000)

        def change_everything() -> None:
            change()  # and nothing prepared: p(band) is computed in the request too
            reports._calibrations.clear()

        def behind() -> Any:
            with store.session(1) as s:
                return reports.figure_accounts(s, "2026-10", "churn", as_of=AS_OF)

        def renewals() -> Any:
            with store.session(1) as s:
                return reports.renewals(s, as_of=AS_OF)

        revenue()  # the first build, as after a sync
        goal = GOAL_MS[backend]
        rows = [("floor: one SQL pass over the subscriptions", timings(floor)),
                ("revenue (12 months and to date)", timings(revenue)),
                ("revenue, first request after a sync", timings(revenue, max(3, RUNS // 2), sync_then_worker)),
                ("revenue, built in the request (fallback)", timings(revenue, max(3, RUNS // 2), change)),
                ("accounts behind a month's churn", timings(behind)),
                ("renewals (12-month forecast), after a sync", timings(renewals, RUNS, sync_then_worker)),
                ("renewals, p(band) computed in the request", timings(renewals, max(3, RUNS // 2), change_everything))]
        for label, (p50, p95) in rows:
            verdict = "" if label.startswith("floor") else ("  within goal" if p95 < goal else f"  over {goal} ms goal")
            print(f"  {label:48} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms{verdict}")
        prepared.sort()
        print(f"  {'worker: timeline and p(band) after a sync':48} p50 {statistics.median(prepared):8.1f} ms  "
              f"max {prepared[-1]:8.1f} ms  (not a page)")
        sync_then_worker()  # the pages as the console serves them, after a sync (the worker prepared)
        served_pages(url, store, "after a sync", RUNS, ["/reports/revenue", "/reports/revenue?csm=10",
                                                        "/reports/revenue/accounts?month=2026-10&figure=churn",
                                                        "/reports/renewals"])
        store.dispose()


def _kept(accounts: int, admin_url: str | None) -> tuple[str, bool] | None:
    """With `PG_URL`, the kept database's URL (created and migrated) and whether it is new (to be filled)."""
    if admin_url is None or PG_URL is None:
        return None
    return kept_pg_database(admin_url, f"reports_{accounts}")


def main() -> None:
    for database in DATABASES:
        if database == "postgresql" and PG_URL is not None:
            for n in SIZES:
                bench(n, PG_URL)
        elif database == "postgresql":
            from tests.pg import postgres_server

            with postgres_server() as admin:
                for n in SIZES:
                    bench(n, admin)
        else:
            for n in SIZES:
                bench(n)


if __name__ == "__main__":
    main()
