"""Evaluating every shipped portfolio list over 10,000 and 100,000 accounts on SQLite.

The workspace is filled as `bench_console` fills it (accounts, 10 CSMs, subscriptions, alerts), plus two
days of snapshots whose ``parts`` hold the shipped model's 16 measures (a week apart, for "started using
a key feature") and three product users per account; then `portfolio_keys.refresh` as a score run leaves
the keys. Timed: `sync.lists.evaluate_lists` the first time (the shipped lists installed, every member
entering) and again the next day (a realistic few changes), beside a floor measured in the same run —
one read of every live account's portfolio keys, which any evaluation must at least do.

    BENCH_LISTS_SIZES=10000,100000 python bench/bench_lists.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from store.migrate import upgrade  # noqa: E402

SIZES = [int(x) for x in os.environ.get("BENCH_LISTS_SIZES", "10000,100000").split(",") if x]
AS_OF = dt.date(2026, 11, 30)
NOW = "2026-11-30 00:00:00.000000"


def fill(path: Path, accounts: int) -> None:
    from scoring import default_model

    measures = sorted(default_model().measures)
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
        "renewal_date, status, updated_at) VALUES (1, ?, 'salesforce', ?, ?, 20, ?, ?, 'active', ?)",
        ((i, f"006{i}", 10_000 + i % 90_000, (AS_OF - dt.timedelta(days=30 + i % 700)).isoformat(),
          (AS_OF + dt.timedelta(days=i % 400)).isoformat(), NOW) for i in range(1, accounts + 1)))
    for day in (AS_OF - dt.timedelta(days=7), AS_OF):
        rows = []
        for i in range(1, accounts + 1):
            score = rng.uniform(10, 95)
            band = "poor" if score < 40 else ("average" if score < 70 else "good")
            parts = {"parts": {m: {"signal": m, "dimension": "engagement", "label": m, "value": rng.uniform(-60, 100),
                                   "status": band, "points": rng.uniform(0, 100), "weight": 1.0} for m in measures},
                     "benchmarks": {m: {"segment_percentile": 50.0, "base_percentile": 50.0} for m in measures}}
            rows.append((i, day.isoformat(), score, band, json.dumps(parts), rng.uniform(-1, 1), NOW))
        conn.executemany("INSERT INTO health_snapshots (tenant_id, account_id, day, score, band, parts, reasons, "
                         "trend, computed_at) VALUES (1, ?, ?, ?, ?, ?, '[]', ?, ?)", rows)
    conn.executemany("INSERT INTO alerts (tenant_id, account_id, rule, dedupe_key, severity, title, reasons, status, "
                     "raised_at) VALUES (1, ?, ?, ?, 'warning', 'Alert', '[]', 'open', ?)",
                     ((i, rule, f"{rule}:{i}", NOW) for i in range(1, accounts + 1, 7)
                      for rule in ("usage_drop", "champion_inactive")))
    conn.executemany("INSERT INTO product_users (tenant_id, user_key, account_id, first_seen, last_seen) "
                     "VALUES (1, ?, ?, ?, ?)",
                     ((f"u{i}-{u}", i, (AS_OF - dt.timedelta(days=20 + i % 300)).isoformat() + " 00:00:00.000000",
                       (AS_OF - dt.timedelta(days=(i + u) % 40)).isoformat() + " 09:00:00.000000")
                      for i in range(1, accounts + 1) for u in range(3)))
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def bench(accounts: int) -> None:
    from sqlalchemy import select

    from store import portfolio_keys
    from store.db import Store
    from store.models import Account, PortfolioListMember
    from store.queries import live_accounts
    from sync.lists import evaluate_lists

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'lists.db'}"
        upgrade(url)
        started = time.perf_counter()
        fill(Path(tmp) / "lists.db", accounts)
        store = Store(url)
        with store.session(1) as s:
            portfolio_keys.refresh(s)
        print(f"lists: {accounts:,} accounts filled in {time.perf_counter() - started:.0f} s (setup, not measured)")
        floors = []
        for _ in range(3):
            started = time.perf_counter()
            with store.session(1) as s:
                rows = s.execute(select(Account.id, Account.health_band, Account.score_key, Account.trend_key,
                                        Account.arr, Account.renewal_key).where(live_accounts())).all()
            floors.append(time.perf_counter() - started)
        assert len(rows) == accounts
        started = time.perf_counter()
        first = evaluate_lists(store, 1, AS_OF)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        second = evaluate_lists(store, 1, AS_OF + dt.timedelta(days=1))
        second_s = time.perf_counter() - started
        with store.session(1) as s:
            stored = len(s.scalars(select(PortfolioListMember.id)).all())
        store.dispose()
        print(f"  floor: read every account's portfolio keys          {min(floors) * 1000:8.0f} ms")
        print(f"  {first.lists} shipped lists, first evaluation ({first.entered:,} entered) {first_s * 1000:8.0f} ms"
              f"   ({first_s / accounts * 1e6:.0f} µs per account)")
        print(f"  next day ({second.entered:,} entered, {second.left:,} left)          {second_s * 1000:8.0f} ms"
              f"   ({second_s / accounts * 1e6:.0f} µs per account; {stored:,} memberships stored)")


if __name__ == "__main__":
    for size in SIZES:
        bench(size)
