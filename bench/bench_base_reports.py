"""The Health, Adoption, Users and Team reports (`sync.base_reports`) as a page or an API call computes them.

The workspace is `bench.workspace.fill`'s (10 CSMs under 2 managers, accounts with a subscription and 16-measure
snapshots), plus 12 weekly snapshots per account (no parts), 60 days of product usage (3 users per account, a
login and a key feature on every 4th day) and one task per account (a third of them done). Setup, not timed.

Timed, each p50 / p95 over `RUNS` requests: health (distribution, 12-week trend by segment, 16 measures'
benchmarks, persistent poor), adoption (by tier, cohort, 6 months; upgrade-ready, training, sponsors), users
(the top 50), team (30 days, as an admin). Beside them, the floor measured in the same run: one SQL pass
counting the usage rows of the 30-day window (what every usage figure reads at least once).

    BENCH_BASE_SIZES=10000 BENCH_BASE_RUNS=5 python bench/bench_base_reports.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_reports import timings  # noqa: E402
from bench.workspace import AS_OF, NOW, Raw, fill, new_database  # noqa: E402

SIZES = [int(x) for x in os.environ.get("BENCH_BASE_SIZES", "10000").split(",") if x]
RUNS = int(os.environ.get("BENCH_BASE_RUNS", "5"))
DATABASES = [x for x in os.environ.get("BENCH_BASE_DATABASES", "sqlite,postgresql").split(",") if x]
"""sqlite and/or postgresql (a throwaway cluster as the tests start); with both, the reports are compared."""


def more(target: Path | str, accounts: int, key_features: tuple[str, ...]) -> int:
    """Weekly snapshots, usage and tasks (setup); returns the usage rows written."""
    conn = Raw(target)
    weeks = [(AS_OF - dt.timedelta(days=7 * k + 1)).isoformat() for k in range(1, 12)]
    conn.executemany(
        "INSERT INTO health_snapshots (tenant_id, account_id, day, score, band, parts, reasons, trend, computed_at) "
        "VALUES (1, ?, ?, ?, ?, '{}', '[]', 0, ?)",
        ((i, day, s, "poor" if s < 40 else "average" if s < 70 else "good", NOW)
         for i in range(1, accounts + 1) for k, day in enumerate(weeks) for s in [float((i * 7 + k * 13) % 100)]))
    usage = [(i, f"u{i}-{u}", event, (AS_OF - dt.timedelta(days=back)).isoformat(), 1 + (i + back) % 5)
             for i in range(1, accounts + 1) for u in range(3) for back in range((i + u) % 4, 60, 4)
             for event in ("Logged In", key_features[(i + u + back) % len(key_features)])]
    conn.executemany("INSERT INTO usage_daily (tenant_id, account_id, user_key, event, day, count, minutes) "
                     "VALUES (1, ?, ?, ?, ?, ?, 0)", usage)
    conn.executemany(
        "INSERT INTO tasks (tenant_id, account_id, title, due_date, status, created_at, priority, source, "
        "completed_at, updated_at) VALUES (1, ?, 'Call', ?, ?, ?, 'normal', 'alert', ?, ?)",
        ((i, (AS_OF + dt.timedelta(days=i % 20 - 12)).isoformat(), "done" if i % 3 == 0 else "open", NOW,
          (AS_OF - dt.timedelta(days=i % 40)).isoformat() + " 10:00:00.000000" if i % 3 == 0 else None, NOW)
         for i in range(1, accounts + 1)))
    conn.execute("ANALYZE")
    conn.close()
    return len(usage)


def bench(accounts: int, admin_url: str | None = None) -> dict[str, Any]:
    """Times the four reports on a SQLite file or (with `admin_url`) a new PostgreSQL database; returns them."""
    from sqlalchemy import func, select

    from scoring import default_model
    from store.db import Store
    from store.models import UsageDaily
    from sync import base_reports as br

    model = default_model()
    keys, login = model.signals.key_features, model.signals.login_event
    backend = "PostgreSQL" if admin_url else "SQLite"
    with tempfile.TemporaryDirectory() as tmp:
        target, url = new_database(tmp, "base", admin_url)
        started = time.perf_counter()
        fill(target, accounts)
        usage = more(target, accounts, keys)
        store = Store(url)
        print(f"base reports on {backend}: {accounts:,} accounts, {usage:,} usage rows, filled in "
              f"{time.perf_counter() - started:.0f} s (setup, not measured)")
        measures = sorted(model.measures)

        def run(fn: Any, **kwargs: Any) -> Any:
            with store.session(1) as s:
                return fn(s, as_of=AS_OF, **kwargs)

        def floor() -> Any:
            with store.session(1) as s:
                return s.scalar(select(func.count()).select_from(UsageDaily)
                                .where(UsageDaily.day >= AS_OF - dt.timedelta(days=29), UsageDaily.day <= AS_OF))

        rows = [("floor: count the 30-day window's usage rows", timings(floor, RUNS)),
                ("health (by segment, 16 measures)", timings(lambda: run(br.health_report, measures=measures), RUNS)),
                ("adoption (tier, cohort, 6 months, lists)",
                 timings(lambda: run(br.adoption_report, key_features=keys, login_event=login), RUNS)),
                ("users (top 50)", timings(lambda: run(br.leaderboard_report, key_features=keys), RUNS)),
                ("team (30 days, admin)", timings(lambda: run(br.team_report, days=30), RUNS))]
        for label, (p50, p95) in rows:
            print(f"  {label:46} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms")
        reports = {"health": run(br.health_report, measures=measures),
                   "adoption": run(br.adoption_report, key_features=keys, login_event=login),
                   "users": run(br.leaderboard_report, key_features=keys), "team": run(br.team_report, days=30)}
        store.dispose()
        return reports


def main() -> None:
    for n in SIZES:
        found: dict[str, dict[str, Any]] = {}
        for database in DATABASES:
            if database == "postgresql":
                from tests.pg import postgres_server

                with postgres_server() as admin:
                    found[database] = bench(n, admin)
            else:
                found[database] = bench(n)
        if len(found) == 2:  # the same rows on both backends: the same figures, or the SQL differs somewhere
            lite, pg = found["sqlite"], found["postgresql"]
            differ = [name for name in lite if json.dumps(lite[name], sort_keys=True, default=str)
                      != json.dumps(pg[name], sort_keys=True, default=str)]
            print(f"  {n:,} accounts, SQLite and PostgreSQL reports equal: "
                  + ("yes" if not differ else f"NO — {', '.join(differ)} differ"))


if __name__ == "__main__":
    main()
