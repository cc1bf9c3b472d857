"""Evaluating every shipped portfolio list over 10,000 and 100,000 accounts on SQLite.

The workspace is filled by `bench.workspace.fill` (shared with `bench_plays`): accounts, 10 CSMs,
subscriptions, alerts, two days of snapshots whose ``parts`` hold the shipped model's 16 measures (a week
apart, for "started using a key feature") and three product users per account; then
`portfolio_keys.refresh` as a score run leaves the keys. Timed: `sync.lists.evaluate_lists` the first
time (the shipped lists installed, every member entering) and again the next day (a realistic few
changes), beside a floor measured in the same run — one read of every live account's portfolio keys,
which any evaluation must at least do.

    BENCH_LISTS_SIZES=10000,100000 python bench/bench_lists.py
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

from bench.workspace import AS_OF, fill  # noqa: E402
from store.migrate import upgrade  # noqa: E402

SIZES = [int(x) for x in os.environ.get("BENCH_LISTS_SIZES", "10000,100000").split(",") if x]


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
