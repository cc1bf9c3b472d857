"""Console and API latency at 10,000 and 100,000 accounts on SQLite, and the 180-day history backfill.

Portfolio: accounts, users (10 CSMs under 2 managers), subscriptions, open alerts and health snapshots
(the latest `BENCH_CONSOLE_SNAPSHOT_DAYS` days) are written straight into a migrated SQLite file, then
the accounts' portfolio keys as a score run writes them (`store.portfolio_keys`, timed: what a score run
adds); requests then go through the whole Flask app in-process (session cookie or bearer token,
tenant-scoped session, template or JSON), timed one at a time: p50 and p95 of `BENCH_CONSOLE_REQUESTS`
requests each.

Backfill: `BENCH_BACKFILL_ACCOUNTS` accounts (default 10,000) with three users and two events a day
for 215 days, then `sync.health.first_score` (180 days of daily snapshots), timed, beside its floor
measured in the same run on a copy of the store: one day scored alone, times 180. Wall and CPU
seconds are both printed: on a shared machine the CPU time says what the work costs.

    BENCH_CONSOLE_SIZES=10000,100000 BENCH_BACKFILL_ACCOUNTS=10000 python bench/bench_console.py
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extensions import canary_store  # noqa: E402
from store.migrate import upgrade  # noqa: E402

SIZES = [int(x) for x in os.environ.get("BENCH_CONSOLE_SIZES", "10000,100000").split(",") if x]
REQUESTS = int(os.environ.get("BENCH_CONSOLE_REQUESTS", "40"))
SNAPSHOT_DAYS = int(os.environ.get("BENCH_CONSOLE_SNAPSHOT_DAYS", "7"))
BACKFILL_ACCOUNTS = int(os.environ.get("BENCH_BACKFILL_ACCOUNTS", "10000"))
AS_OF = dt.date(2026, 11, 30)
NOW = "2026-11-30 00:00:00.000000"
CHEAP_ARGON2 = {"time_cost": 1, "memory_kib": 1024, "parallelism": 1}


def fill_portfolio(path: Path, accounts: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("INSERT INTO tenants (id, slug, name, created_at) VALUES (1, 'bench', 'Bench', ?)", (NOW,))
    users = [(1, "admin@bench.example", "admin", None), (2, "m1@bench.example", "manager", None),
             (3, "m2@bench.example", "manager", None)]
    users += [(10 + i, f"csm{i}@bench.example", "csm", 2 + i % 2) for i in range(10)]
    conn.executemany("INSERT INTO users (id, tenant_id, email, role, manager_id, active, session_epoch, created_at) "
                     "VALUES (?, 1, ?, ?, ?, 1, 0, ?)", ((*u, NOW) for u in users))
    rng = random.Random(7)
    conn.executemany(
        "INSERT INTO accounts (id, tenant_id, name, domain, segment, lifecycle_stage, tier, owner, csm_user_id, "
        "created_at, updated_at) VALUES (?, 1, ?, ?, ?, 'adopting', ?, ?, ?, ?, ?)",
        ((i, f"Company {i}", f"c{i}.example", ("smb", "mid_market", "enterprise")[i % 3],
          ("starter", "growth", "enterprise")[i % 3], f"csm{i % 10}@bench.example", 10 + i % 10, NOW, NOW)
         for i in range(1, accounts + 1)))
    conn.executemany(
        "INSERT INTO subscriptions (tenant_id, account_id, system, external_id, arr, seats_purchased, start_date, "
        "renewal_date, status, updated_at) VALUES (1, ?, 'salesforce', ?, ?, 20, '2025-01-01', ?, 'active', ?)",
        ((i, f"006{i}", 10_000 + i % 90_000, (AS_OF + dt.timedelta(days=i % 400)).isoformat(), NOW)
         for i in range(1, accounts + 1)))
    for back in range(SNAPSHOT_DAYS):
        day = (AS_OF - dt.timedelta(days=back)).isoformat()
        rows = []
        for i in range(1, accounts + 1):
            score = rng.uniform(10, 95)
            band = "poor" if score < 40 else ("average" if score < 70 else "good")
            rows.append((i, day, score, band, rng.uniform(-1, 1), NOW))
        conn.executemany("INSERT INTO health_snapshots (tenant_id, account_id, day, score, band, parts, reasons, "
                         "trend, computed_at) VALUES (1, ?, ?, ?, ?, '{}', '[]', ?, ?)", rows)
    conn.executemany("INSERT INTO alerts (tenant_id, account_id, rule, dedupe_key, severity, title, reasons, status, "
                     "raised_at) VALUES (1, ?, 'usage_drop', ?, 'high', 'Usage dropped', '[]', 'open', ?)",
                     ((i, f"usage_drop:{i}", NOW) for i in range(1, accounts + 1, 9)))
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def refresh_keys(url: str, path: Path, accounts: int) -> None:
    """The accounts' portfolio keys, as a score run writes them (the fill wrote the rows underneath them):
    once with every account changing (a day's run, when every score moves) and once with none."""
    from store import portfolio_keys
    from store.db import Store

    store = Store(url)
    took = []
    for _ in range(2):
        started = time.perf_counter()
        with store.session(1) as s:
            changed = portfolio_keys.refresh(s)
        took.append((time.perf_counter() - started, changed))
    store.dispose()
    print(f"portfolio keys: {took[0][1]:,} accounts written in {took[0][0]:.1f} s "
          f"({took[0][0] / accounts * 1000:.3f} ms per account, what a score run adds), "
          f"{took[1][1]:,} changed on a second pass in {took[1][0]:.1f} s (setup, not measured)")
    conn = sqlite3.connect(path)
    conn.execute("ANALYZE")
    conn.close()


def timed(call: Any, n: int) -> tuple[float, float]:
    call()  # warm caches and compiled statements
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def bench_portfolio(accounts: int) -> None:
    from app import create_app
    from console.auth import issue_api_token
    from store.models import User

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'console.db'}"
        upgrade(url)
        started = time.perf_counter()
        fill_portfolio(Path(tmp) / "console.db", accounts)
        print(f"portfolio: {accounts:,} accounts, {SNAPSHOT_DAYS} days of snapshots written in "
              f"{time.perf_counter() - started:.0f} s (setup, not measured)")
        refresh_keys(url, Path(tmp) / "console.db", accounts)
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-console-secret-key-0123456789",
                          "PASSWORD_HASH": CHEAP_ARGON2, "COOKIE_SECURE": False, "TESTING": True})
        store = canary_store(app)
        with store.session(1) as s:
            _, admin_token = issue_api_token(s, s.get(User, 1), "bench")
            _, csm_token = issue_api_token(s, s.get(User, 10), "bench")
        client, manager = app.test_client(), app.test_client()
        for signed_in, uid in ((client, 10), (manager, 2)):  # a CSM and a manager of 5 CSMs, as after /sign-in
            with signed_in.session_transaction() as session:
                session.update({"uid": uid, "tid": 1, "epoch": 0, "sid": "bench", "csrf": "bench",
                                "seen": int(time.time())})
        cases = [
            ("floor: GET /api/v1/openapi.json (no database)", lambda: client.get("/api/v1/openapi.json")),
            ("portfolio page, CSM's own (default)", lambda: client.get("/accounts")),
            ("portfolio page, manager's team (default)", lambda: manager.get("/accounts")),
            ("portfolio page, all, poor, renewing in 90 days",
             lambda: client.get("/accounts?scope=all&band=poor&renewal=90")),
            ("portfolio page, all, sorted by ARR, 2nd page", None),
            ("GET /api/v1/accounts?band=poor (admin: all accounts)",
             lambda: client.get("/api/v1/accounts?band=poor", headers={"Authorization": f"Bearer {admin_token}"})),
            ("GET /api/v1/accounts?band=poor (CSM: own accounts)",
             lambda: client.get("/api/v1/accounts?band=poor", headers={"Authorization": f"Bearer {csm_token}"})),
        ]
        first = client.get("/accounts?scope=all&sort=-arr").get_data(as_text=True)
        cursor = first.split("cursor=")[1].split('"')[0].split("&")[0] if "cursor=" in first else ""
        cases[4] = (cases[4][0], lambda: client.get(f"/accounts?scope=all&sort=-arr&cursor={cursor}"))
        for label, call in cases:
            assert call is not None
            status = call().status_code
            p50, p95 = timed(call, REQUESTS)
            print(f"  {label:55} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   (HTTP {status})")


def fill_usage(path: Path, accounts: int) -> int:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("INSERT INTO tenants (id, slug, name, created_at) VALUES (1, 'bench', 'Bench', ?)", (NOW,))
    conn.executemany(
        "INSERT INTO accounts (id, tenant_id, name, segment, lifecycle_stage, tier, created_at, updated_at) "
        "VALUES (?, 1, ?, ?, 'adopting', 'growth', ?, ?)",
        ((i, f"Company {i}", ("smb", "mid_market", "enterprise")[i % 3], NOW, NOW) for i in range(1, accounts + 1)))
    conn.executemany(
        "INSERT INTO subscriptions (tenant_id, account_id, system, external_id, arr, seats_purchased, start_date, "
        "renewal_date, status, updated_at) VALUES (1, ?, 'salesforce', ?, 20000, 20, '2025-01-01', ?, 'active', ?)",
        ((i, f"006{i}", (AS_OF + dt.timedelta(days=30 + i % 300)).isoformat(), NOW) for i in range(1, accounts + 1)))
    rng, rows, batch = random.Random(7), 0, []
    for i in range(1, accounts + 1):
        for back in range(215):
            day = (AS_OF - dt.timedelta(days=back)).isoformat()
            for user in range(3):
                if rng.random() < (0.5 if i % 7 == 0 and back < 30 else 0.8):
                    batch.append((i, f"u{i}-{user}", "Logged In", day, 1 + rng.randrange(3)))
                    batch.append((i, f"u{i}-{user}", "Report Created", day, rng.randrange(4)))
        if len(batch) >= 200_000:
            conn.executemany("INSERT INTO usage_daily (tenant_id, account_id, user_key, event, day, count, minutes) "
                             "VALUES (1, ?, ?, ?, ?, ?, 5.0)", batch)
            rows += len(batch)
            batch.clear()
    conn.executemany("INSERT INTO usage_daily (tenant_id, account_id, user_key, event, day, count, minutes) "
                     "VALUES (1, ?, ?, ?, ?, ?, 5.0)", batch)
    conn.commit()
    conn.close()
    return rows + len(batch)


def bench_backfill(accounts: int) -> None:
    """The first score's backfill (180 days) against its floor, measured on a copy of the same store in the
    same run: one day scored alone (`score_tenant` for AS_OF only, which loads, scores and writes that
    day), times 180 — what scoring the history a day at a time would cost."""
    from scoring import default_model
    from store.db import Store
    from sync.health import HISTORY_DAYS, first_score, score_tenant

    with tempfile.TemporaryDirectory() as tmp:
        path, copy = Path(tmp) / "backfill.db", Path(tmp) / "one-day.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        started = time.perf_counter()
        rows = fill_usage(path, accounts)
        shutil.copyfile(path, copy)
        print(f"backfill: {accounts:,} accounts, {rows:,} UsageDaily rows over 215 days written in "
              f"{time.perf_counter() - started:.0f} s (setup, not measured)")
        one_day = Store(f"sqlite:///{copy}")
        started, cpu = time.perf_counter(), time.process_time()
        score_tenant(one_day, 1, default_model(), AS_OF)
        day_took, day_cpu = time.perf_counter() - started, time.process_time() - cpu
        one_day.dispose()
        copy.unlink()
        floor = day_took * HISTORY_DAYS
        print(f"  floor: one day scored alone {day_took:.1f} s, CPU {day_cpu:.1f} s "
              f"({day_took / accounts * 1000:.2f} ms per account) x {HISTORY_DAYS} days = {floor:.0f} s")
        store = Store(url)
        started, cpu = time.perf_counter(), time.process_time()
        summary = first_score(store, 1, default_model(), AS_OF)
        took, took_cpu = time.perf_counter() - started, time.process_time() - cpu
        store.dispose()
        assert summary.days == HISTORY_DAYS and summary.accounts == accounts
        print(f"  backfill: {accounts:,} accounts x {summary.days} days: {took:.1f} s, CPU {took_cpu:.1f} s "
              f"= {accounts * summary.days / took:,.0f} account-days/s ({took / accounts * 1000:.1f} ms per account), "
              f"{floor / took:.1f} x faster than the floor")


def main() -> None:
    for size in SIZES:
        bench_portfolio(size)
    if BACKFILL_ACCOUNTS:
        bench_backfill(BACKFILL_ACCOUNTS)


if __name__ == "__main__":
    main()
