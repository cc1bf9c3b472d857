"""Evaluating every shipped list and all 9 play templates over 10,000 and 100,000 accounts (SQLite, PostgreSQL).

The workspace is `bench.workspace.fill`'s (as `bench_lists`): 10 CSMs under 2 managers owning the
accounts, subscriptions renewing over the next 400 days, two days of health snapshots with the model's
measures, three product users per account, and open alerts of five rules (usage_drop, champion_inactive,
onboarding_overdue, training_needed, nps_detractor) on every 9th to 23rd account; then the portfolio
keys as a score run leaves them. Every play template is made and published on the first day.

Timed, one after the other as the daily run does them:
  day 1 — `evaluate_lists` (shipped lists installed, every member entering), then `evaluate_plays`
          (every firing starts a run; each run advances to its first wait, creating its first task);
  day 2 — after a few changes (a tenth of the usage_drop alerts resolved, a fifth of the open tasks
          done, new nps_detractor alerts on 1 account in 200), both again;
  day 3 — both again with nothing changed but the day: the steady state (on day 2 every run waiting
          for its first task still records that task's id, once).
Beside them, floors measured in the same run: a bare read of every live account's portfolio keys, and
`sync.lists.load_facts` (every account's list facts, which both evaluations read at least once).
Each line gives wall time and this process's CPU time (on a shared machine the CPU time says what the
work costs; on PostgreSQL the server's own work shows only in the wall time).

    BENCH_PLAYS_SIZES=10000,100000 BENCH_PLAYS_DATABASES=sqlite,postgresql python bench/bench_plays.py
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.workspace import AS_OF, Raw, fill, new_database  # noqa: E402

SIZES = [int(x) for x in os.environ.get("BENCH_PLAYS_SIZES", "10000,100000").split(",") if x]
DATABASES = [x for x in os.environ.get("BENCH_PLAYS_DATABASES", "sqlite").split(",") if x]
"""sqlite and/or postgresql (a throwaway cluster as the tests start, or CANARY_TEST_POSTGRES_URL's server)."""
ALERTS = (("usage_drop", 1, 9), ("champion_inactive", 2, 11), ("onboarding_overdue", 3, 13),
          ("training_needed", 4, 17), ("nps_detractor", 5, 23))


def timed(call: Any) -> tuple[Any, tuple[float, float]]:
    """(what `call` returned, (wall seconds, CPU seconds of this process))."""
    started, cpu = time.perf_counter(), time.process_time()
    out = call()
    return out, (time.perf_counter() - started, time.process_time() - cpu)


def per_1000(took: tuple[float, float], accounts: int) -> str:
    wall, cpu = took
    return f"{wall * 1000:7.0f} ms, CPU {cpu * 1000:7.0f} ms = {cpu * 1e6 / accounts:6.1f} ms CPU per 1,000 accounts"


def next_day_changes(target: Path | str, accounts: int) -> tuple[int, int, int]:
    """What a day changes (not timed): alerts resolve and new ones are raised, CSMs finish tasks."""
    conn = Raw(target)
    resolved = conn.execute("UPDATE alerts SET status = 'resolved', resolved_at = ? WHERE rule = 'usage_drop' "
                            "AND status = 'open' AND account_id % 90 = 1", ("2026-12-01 06:00:00.000000",))
    done = conn.execute("UPDATE tasks SET status = 'done', completed_at = ? WHERE status = 'open' AND id % 5 = 0",
                        ("2026-12-01 09:00:00.000000",))
    raised = [(i, f"nps_detractor:{i}:2", "2026-12-01 06:00:00.000000") for i in range(7, accounts + 1, 200)]
    conn.executemany(
        "INSERT INTO alerts (tenant_id, account_id, rule, dedupe_key, severity, title, reasons, status, raised_at) "
        "VALUES (1, ?, 'nps_detractor', ?, 'warning', 'Detractor', '[\"NPS 3 from the admin\"]', 'open', ?)", raised)
    conn.close()
    return resolved, done, len(raised)


def bench(accounts: int, admin_url: str | None = None) -> None:
    """On a SQLite file, or (with `admin_url`) on a new database of that PostgreSQL server."""
    from sqlalchemy import func, select

    from plays import templates
    from store import portfolio_keys
    from store.db import Store
    from store.models import Account, PlayRun, Task
    from store.queries import live_accounts
    from sync.lists import evaluate_lists, load_facts
    from sync.plays import create_from_template, evaluate_plays, publish

    with tempfile.TemporaryDirectory() as tmp:
        target, url = new_database(tmp, "plays", admin_url)
        started = time.perf_counter()
        fill(target, accounts, ALERTS)
        store = Store(url)
        with store.session(1) as s:
            portfolio_keys.refresh(s)
        backend = "PostgreSQL" if admin_url else "SQLite"
        print(f"plays on {backend}: {accounts:,} accounts filled in {time.perf_counter() - started:.0f} s "
              "(setup, not measured)")

        def bare() -> int:
            with store.session(1) as s:
                return len(s.execute(select(Account.id, Account.health_band, Account.score_key, Account.trend_key,
                                            Account.arr, Account.renewal_key).where(live_accounts())).all())

        def facts() -> int:
            with store.session(1) as s:
                return len(load_facts(s, AS_OF))

        bare_s = min((timed(bare)[1] for _ in range(3)), key=lambda t: t[1])
        facts_s = min((timed(facts)[1] for _ in range(2)), key=lambda t: t[1])
        lists1, lists1_s = timed(lambda: evaluate_lists(store, 1, AS_OF))
        with store.session(1) as s:
            for key in sorted(t.key for t in templates() if t.key):
                publish(s, create_from_template(s, key, "bench"), "bench", None, AS_OF)
        plays1, plays1_s = timed(lambda: evaluate_plays(store, 1, AS_OF))
        resolved, done, raised = next_day_changes(target, accounts)
        day2 = AS_OF + dt.timedelta(days=1)
        lists2, lists2_s = timed(lambda: evaluate_lists(store, 1, day2))
        plays2, plays2_s = timed(lambda: evaluate_plays(store, 1, day2))
        day3 = AS_OF + dt.timedelta(days=2)
        lists3, lists3_s = timed(lambda: evaluate_lists(store, 1, day3))
        plays3, plays3_s = timed(lambda: evaluate_plays(store, 1, day3))
        with store.session(1) as s:
            runs = s.scalar(select(func.count()).select_from(PlayRun))
            tasks = s.scalar(select(func.count()).select_from(Task))
        store.dispose()
        print(f"  floor: read every account's portfolio keys             {per_1000(bare_s, accounts)}")
        print(f"  floor: load every account's list facts (load_facts)    {per_1000(facts_s, accounts)}")
        print(f"  day 1: {lists1.lists} lists, first evaluation ({lists1.entered:,} entered)  "
              f"{per_1000(lists1_s, accounts)}")
        print(f"  day 1: {plays1.plays} plays, first evaluation ({sum(plays1.started.values()):,} runs started, "
              f"{plays1.tasks_created:,} tasks created)  {per_1000(plays1_s, accounts)}")
        print(f"  day 2 ({resolved:,} alerts resolved, {raised:,} raised, {done:,} tasks done):")
        print(f"  day 2: lists ({lists2.entered:,} entered, {lists2.left:,} left)  {per_1000(lists2_s, accounts)}")
        print(f"  day 2: plays ({sum(plays2.started.values()):,} runs started, {plays2.skipped:,} skipped, "
              f"{plays2.closed:,} closed, {plays2.tasks_created:,} tasks created)  {per_1000(plays2_s, accounts)}")
        print(f"  day 3: lists ({lists3.entered:,} entered, {lists3.left:,} left)  {per_1000(lists3_s, accounts)}")
        print(f"  day 3: plays ({sum(plays3.started.values()):,} runs started, {plays3.skipped:,} skipped, "
              f"{plays3.closed:,} closed, {plays3.tasks_created:,} tasks created)  {per_1000(plays3_s, accounts)}")
        print(f"  lists + plays, day 1 {lists1_s[0] + plays1_s[0]:.1f} s (CPU {lists1_s[1] + plays1_s[1]:.1f} s), "
              f"day 2 {lists2_s[0] + plays2_s[0]:.1f} s (CPU {lists2_s[1] + plays2_s[1]:.1f} s), "
              f"day 3 {lists3_s[0] + plays3_s[0]:.1f} s (CPU {lists3_s[1] + plays3_s[1]:.1f} s); "
              f"{runs:,} runs and {tasks:,} tasks stored; started per play on day 1: "
              + ", ".join(f"{name} {n:,}" for name, n in sorted(plays1.started.items())))


def main() -> None:
    if "sqlite" in DATABASES:
        for size in SIZES:
            bench(size)
    if "postgresql" in DATABASES:
        from tests.pg import postgres_server

        with postgres_server() as admin_url:
            for size in SIZES:
                bench(size, admin_url)


if __name__ == "__main__":
    main()
