"""`canary score` end to end on 100,000 accounts with 180 days of UsageDaily on SQLite.

The data is written straight into a migrated SQLite file (accounts, subscriptions, one usage row
per account per day and event for 180 days), then `canary score --json` runs as a separate
process, timed from start to exit: loading facts, computing signals, scoring, snapshots,
roll-ups, benchmarks and alerts.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from store.migrate import upgrade  # noqa: E402

ACCOUNTS = int(os.environ.get("BENCH_SCORE_ACCOUNTS", "100000"))
DAYS = int(os.environ.get("BENCH_SCORE_DAYS", "180"))
EVENTS = ("Logged In", "Report Created")
AS_OF = dt.date(2026, 11, 20)


def fill(path: Path) -> int:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    now = "2026-11-20 00:00:00.000000"
    conn.execute("INSERT INTO tenants (id, slug, name, created_at) VALUES (1, 'bench', 'Bench', ?)", (now,))
    rng = random.Random(7)
    conn.executemany(
        "INSERT INTO accounts (id, tenant_id, name, domain, segment, lifecycle_stage, tier, created_at, updated_at) "
        "VALUES (?, 1, ?, ?, ?, 'customer', 'growth', ?, ?)",
        ((i, f"Company {i}", f"c{i}.example", ("smb", "mid_market", "enterprise")[i % 3], now, now)
         for i in range(1, ACCOUNTS + 1)))
    conn.executemany(
        "INSERT INTO subscriptions (tenant_id, account_id, system, external_id, arr, seats_purchased, start_date, "
        "renewal_date, status, updated_at) VALUES (1, ?, 'salesforce', ?, ?, ?, '2025-01-01', ?, 'active', ?)",
        ((i, f"006{i}", 10_000 + i % 90_000, 10 + i % 40,
          (AS_OF + dt.timedelta(days=30 + i % 500)).isoformat(), now) for i in range(1, ACCOUNTS + 1)))
    rows = 0
    batch: list[tuple[object, ...]] = []
    for i in range(1, ACCOUNTS + 1):
        declining = i % 7 == 0
        for back in range(DAYS):
            day = (AS_OF - dt.timedelta(days=back)).isoformat()
            for event in EVENTS:
                base = 6 if not (declining and back < 14) else 2
                batch.append((i, f"u{i % 3}", event, day, base + rng.randrange(3), 20.0))
        if len(batch) >= 200_000:
            conn.executemany("INSERT INTO usage_daily (tenant_id, account_id, user_key, event, day, count, minutes) "
                             "VALUES (1, ?, ?, ?, ?, ?, ?)", batch)
            rows += len(batch)
            batch.clear()
    if batch:
        conn.executemany("INSERT INTO usage_daily (tenant_id, account_id, user_key, event, day, count, minutes) "
                         "VALUES (1, ?, ?, ?, ?, ?, ?)", batch)
        rows += len(batch)
    conn.commit()
    conn.close()
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "score.db"
        url = f"sqlite:///{db}"
        upgrade(url)
        started = time.perf_counter()
        rows = fill(db)
        print(f"score e2e: {ACCOUNTS:,} accounts, {rows:,} UsageDaily rows ({DAYS} days) written in "
              f"{time.perf_counter() - started:.0f} s (setup, not measured)")
        env = {**os.environ, "DATABASE_URL": url, "CANARY_SECRET_KEY": "bench-score-secret-key-0123456789",
               "PYTHONPATH": str(ROOT)}
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", "from app import main; main()", "score", "--as-of",
                              AS_OF.isoformat(), "--history-days", "1", "--json"], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True)
        took = time.perf_counter() - started
        print(f"  canary score (end to end, one process): {took:.1f} s = {ACCOUNTS / took:,.0f} accounts/s")
        print(f"  summary: {out.stdout.strip().splitlines()[-1][:300]}")


if __name__ == "__main__":
    main()
