"""Revenue analytics (pure `analytics`) on 10,000 and 100,000 accounts of synthetic subscriptions.

Each account gets 24+ months of history from a fixed seed: a first yearly term, renewals booked (flat, up
or down), lost (a lost deal closes) or left undecided, co-terminous expansions, in-place ARR edits (versions),
reactivations, and the same deal mirrored in HubSpot for one account in ten. Timed, one at a time: building
the ARR timeline from the terms, `period_figures` for one month, the 12-month `monthly_series`, and the
renewal `forecast` with recalibration (a band history per account); also making the `SubscriptionTerm`s
from store-like rows (their checks), which a caller pays before building. p50 and p95 over `BENCH_ANALYTICS_REPEATS`
runs, beside a floor measured in the same run: one Python pass summing the ARR of every term.

    BENCH_ANALYTICS_SIZES=10000,100000 BENCH_ANALYTICS_REPEATS=5 python bench/bench_analytics.py
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.forecast import forecast
from analytics.retention import monthly_series, period_figures
from analytics.timeline import SubscriptionTerm, build_timeline

SIZES = [int(x) for x in os.environ.get("BENCH_ANALYTICS_SIZES", "10000,100000").split(",") if x]
REPEATS = int(os.environ.get("BENCH_ANALYTICS_REPEATS", "5"))
AS_OF = dt.date(2026, 11, 30)
LAST_MONTH = dt.date(2026, 11, 1)
BANDS = ("good", "average", "poor", None)


def synthetic_terms(accounts: int, seed: int = 16) -> tuple[list[SubscriptionTerm], dict[int, Any], dict[int, Any]]:
    """(terms, current band per account, band history per account)."""
    rng = random.Random(seed)
    terms: list[SubscriptionTerm] = []
    bands: dict[int, str | None] = {}
    history: dict[int, list[tuple[dt.date, str | None]]] = {}
    year = dt.timedelta(days=365)
    for account in range(1, accounts + 1):
        start = AS_OF - dt.timedelta(days=rng.randint(30, 1000))
        arr = Decimal(rng.randrange(1_000, 200_000, 100))
        n = 0
        while start <= AS_OF:
            renewal = start + year
            key = f"sf-{account}-{n}"
            versions: tuple[tuple[dt.date, Decimal], ...] = ()
            if rng.random() < 0.1:
                edited = arr + Decimal(rng.randrange(-500, 2_000, 100))
                versions = ((start, arr), (start + dt.timedelta(days=rng.randint(30, 300)), max(edited, Decimal(0))))
            terms.append(SubscriptionTerm(key, account, "salesforce", versions[-1][1] if versions else arr, start,
                                          renewal, "active", versions))
            if rng.random() < 0.1:
                extra = Decimal(rng.randrange(500, 20_000, 100))
                terms.append(SubscriptionTerm(key + "-x", account, "salesforce", extra,
                                              start + dt.timedelta(days=rng.randint(30, 300)), renewal, "active"))
            if rng.random() < 0.1:
                terms.append(SubscriptionTerm(f"hs-{account}-{n}", account, "hubspot", arr, start, renewal, "active"))
            n += 1
            fate = rng.random()
            if renewal > AS_OF or fate < 0.05:  # still running, or renewal left undecided
                break
            if fate < 0.15:  # lost; one in three comes back months later
                terms.append(SubscriptionTerm(f"sf-{account}-{n}-lost", account, "salesforce", arr,
                                              renewal - dt.timedelta(days=10), renewal + year, "churned"))
                if rng.random() > 1 / 3:
                    break
                start = renewal + dt.timedelta(days=rng.randint(60, 200))
                continue
            arr = max(Decimal(100), arr * Decimal(rng.choice(("0.8", "1", "1", "1", "1.1", "1.25"))).quantize(1))
            start = renewal
        bands[account] = rng.choice(BANDS)
        history[account] = [(AS_OF - dt.timedelta(days=d), rng.choice(BANDS)) for d in (720, 540, 360, 180, 60)]
    return terms, bands, history


def timed(call: Any, n: int) -> tuple[Any, float, float]:
    """(the last result, p50 ms, p95 ms) of `n` calls."""
    samples = []
    out = None
    for _ in range(n):
        started = time.perf_counter()
        out = call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return out, statistics.median(samples), samples[max(0, int(len(samples) * 0.95 + 0.5) - 1)]


def bench(accounts: int) -> None:
    terms, bands, history = synthetic_terms(accounts)
    print(f"accounts: {accounts:,}; terms: {len(terms):,}; {REPEATS} runs each")
    _, floor50, floor95 = timed(lambda: sum(t.arr for t in terms), REPEATS)
    print(f"  floor: one pass summing the ARR of every term    p50 {floor50:8.1f} ms   p95 {floor95:8.1f} ms")
    rows = [(t.key, t.account, t.system, t.arr, t.start, t.renewal, t.status, t.versions) for t in terms]
    _, p50, p95 = timed(lambda: [SubscriptionTerm(*row) for row in rows], REPEATS)
    print(f"  SubscriptionTerm from store-like rows (checked)  p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   "
          f"({p50 / floor50:.0f} x floor)")
    timeline, p50, p95 = timed(lambda: build_timeline(terms), REPEATS)
    print(f"  build_timeline                                   p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   "
          f"({p50 / floor50:.0f} x floor)")
    rows: list[tuple[str, Any]] = [
        ("period_figures, November 2026", lambda: period_figures(timeline, LAST_MONTH, AS_OF + dt.timedelta(days=1))),
        ("period_figures + accounts behind GRR", lambda: period_figures(
            timeline, LAST_MONTH, AS_OF + dt.timedelta(days=1)).accounts("grr")),
        ("monthly_series, 12 months", lambda: monthly_series(timeline, LAST_MONTH, 12)),
        ("forecast, 12 months, recalibrated", lambda: forecast(timeline, AS_OF, bands, history)),
    ]
    for label, call in rows:
        _, p50, p95 = timed(call, REPEATS)
        print(f"  {label:48} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   ({p50 / floor50:.1f} x floor)")
    f = period_figures(timeline, LAST_MONTH, AS_OF + dt.timedelta(days=1))
    print(f"  (November: start {f.start:,}, GRR {f.grr:.4f}, NRR {f.nrr:.4f}, "
          f"{len(timeline.renewals):,} decided renewals in the book)")


def main() -> None:
    for accounts in SIZES:
        bench(accounts)


if __name__ == "__main__":
    main()
