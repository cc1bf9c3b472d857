"""Health across the base, adoption and users, team performance (pure `analytics`) on 10,000 and 100,000 accounts.

Inputs are what the caller pre-aggregates in SQL, built from a fixed seed: one `BaseAccount` per account, 13
`WeekHealth` rows per account (90 days of snapshots reduced to each ISO week's last), 16 `MeasureValue`s per
account (the shipped model's measures), three product users per account with their `UserActivity` and about
four `EventUse` rows each (30 days), two contacts per account, one `UpgradeFacts`, five tasks and one alert per
account, 50 CSMs under 5 managers; and, for `distribution_of`, `trend_of` and `feature_adoption_of`, the rows a
caller's SQL GROUP BY returns. Timed, one function at a time, p50 and p95 over `BENCH_ANALYTICS_BASE_REPEATS`
runs, beside a floor measured in the same run: one Python pass reading one attribute of every input row the
function gets (nothing can take less).

    BENCH_ANALYTICS_BASE_SIZES=10000,100000 BENCH_ANALYTICS_BASE_REPEATS=5 python bench/bench_analytics_base.py
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.adoption import (
    AdoptionAccount,
    ContactPerson,
    EventUse,
    ProductPerson,
    UpgradeFacts,
    UserActivity,
    adoption_counts,
    feature_adoption,
    feature_adoption_of,
    leaderboard,
    needs_training,
    sponsors,
    upgrade_ready,
)
from analytics.base import (
    BaseAccount,
    MeasureValue,
    WeekHealth,
    band_counts,
    benchmarks,
    distribution,
    distribution_of,
    persistent_poor,
    trend,
    trend_of,
    week_counts,
    week_start,
)
from analytics.team import AlertFacts, OwnedAccount, Person, TaskFacts, team_performance
from scoring import default_model

SIZES = [int(x) for x in os.environ.get("BENCH_ANALYTICS_BASE_SIZES", "10000,100000").split(",") if x]
REPEATS = int(os.environ.get("BENCH_ANALYTICS_BASE_REPEATS", "5"))
AS_OF = dt.date(2026, 11, 30)
NOW = dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)
KEY_FEATURES = default_model().signals.key_features
EVENTS = (*KEY_FEATURES, default_model().signals.login_event, "Page Viewed")
MEASURES = tuple(f"measure_{i}" for i in range(16))


def _band(score: float) -> str:
    return "good" if score >= 70 else "average" if score >= 40 else "poor"


def synthetic(accounts: int, seed: int = 16) -> dict[str, Any]:
    rng = random.Random(seed)
    base, weeks, measures, adoption, uses, users, contacts, people, upgrade = [], [], [], [], [], [], [], [], []
    owned, tasks, alerts = [], [], []
    staff = [Person(m, f"manager {m}") for m in range(1, 6)]
    staff += [Person(c, f"csm {c}", 1 + c % 5) for c in range(6, 56)]
    this_week = week_start(AS_OF)
    for a in range(1, accounts + 1):
        score = rng.uniform(0, 100)
        csm = rng.randrange(6, 56)
        arr = float(rng.randrange(1_000, 200_000, 100))
        base.append(BaseAccount(a, arr, rng.choice(("enterprise", "mid_market", "smb")),
                                rng.choice(("starter", "growth", "enterprise")), rng.choice(("onboarding", "adopting",
                                                                                              "renewing")),
                                f"csm {csm}", score, _band(score)))
        owned.append(OwnedAccount(a, csm, arr))
        for k in range(13):
            s = min(100.0, max(0.0, score + rng.gauss(0, 10)))
            weeks.append(WeekHealth(a, this_week - dt.timedelta(weeks=k), s, _band(s)))
        measures.extend(MeasureValue(a, m, rng.uniform(-60, 100), rng.uniform(0, 100)) for m in MEASURES)
        adoption.append(AdoptionAccount(a, base[-1].tier, AS_OF - dt.timedelta(days=rng.randint(0, 900))))
        for u in range(3):
            key = f"{a}-{u}"
            days = rng.randint(0, 30)
            users.append(UserActivity(a, key, days, rng.randint(0, 40), rng.randint(0, 40)))
            uses.extend(EventUse(a, key, e, rng.randint(1, max(days, 1)), rng.randint(1, 50))
                        for e in rng.sample(EVENTS, 4))
            people.append(ProductPerson(a, key, f"user{u}@a{a}.example", NOW - dt.timedelta(days=rng.randint(0, 60))))
        contacts.append(ContactPerson(a, f"USER0@a{a}.example", "champion", None, None))
        contacts.append(ContactPerson(a, f"cfo@a{a}.example", "executive_sponsor", None,
                                      NOW - dt.timedelta(days=rng.randint(0, 200))))
        upgrade.append(UpgradeFacts(a, 30, rng.uniform(60, 100), AS_OF - dt.timedelta(days=29), rng.choice((None, 10)),
                                    rng.randint(0, 12), rng.randint(0, 12)))
        for t in range(5):
            done = rng.random() < 0.6
            tasks.append(TaskFacts(a * 10 + t, a, "done" if done else "open",
                                   AS_OF - dt.timedelta(days=rng.randint(-10, 400)),
                                   NOW - dt.timedelta(hours=rng.randint(0, 9000)) if done else None,
                                   alert_id=a if t == 0 else None))
        alerts.append(AlertFacts(a, a, NOW - dt.timedelta(hours=rng.randint(24, 9000))))
    return dict(base=base, weeks=weeks, measures=measures, adoption=adoption, uses=uses, users=users,
                contacts=contacts, people=people, upgrade=upgrade, staff=staff, owned=owned, tasks=tasks,
                alerts=alerts)


def timed(call: Callable[[], Any], n: int) -> tuple[float, float]:
    """(p50 ms, p95 ms) of `n` calls."""
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95 + 0.5) - 1)]


def floor(inputs: Sequence[Sequence[Any]]) -> Callable[[], int]:
    def read() -> int:
        n = 0
        for rows in inputs:
            for row in rows:
                n += row.__hash__ is not None
        return n
    return read


def bench(accounts: int) -> None:
    started = time.perf_counter()
    d = synthetic(accounts)
    print(f"accounts: {accounts:,}; week rows {len(d['weeks']):,}, measure values {len(d['measures']):,}, "
          f"event uses {len(d['uses']):,}, tasks {len(d['tasks']):,} (built in {time.perf_counter() - started:.0f} s, "
          f"not measured); {REPEATS} runs each")
    by_band = band_counts(d["base"], "segment")  # what the caller's GROUP BY returns (not timed)
    by_week = week_counts(d["base"], d["weeks"], "csm", since=week_start(AS_OF) - dt.timedelta(weeks=11))
    by_feature = adoption_counts(d["adoption"], d["uses"], KEY_FEATURES, "tier")
    rows: list[tuple[str, Callable[[], Any], list[Sequence[Any]]]] = [
        ("distribution by segment", lambda: distribution(d["base"], "segment"), [d["base"]]),
        (f"distribution_of {len(by_band):,} SQL rows", lambda: distribution_of(by_band), [by_band]),
        ("trend by CSM, 12 weeks", lambda: trend(d["base"], d["weeks"], AS_OF, 12, "csm"), [d["base"], d["weeks"]]),
        (f"trend_of {len(by_week):,} SQL rows", lambda: trend_of(by_week, AS_OF, 12), [by_week]),
        ("benchmarks per segment", lambda: benchmarks(d["base"], d["measures"]), [d["base"], d["measures"]]),
        ("persistent poor, 3 of 4 weeks", lambda: persistent_poor(d["weeks"], AS_OF), [d["weeks"]]),
        ("feature adoption by tier", lambda: feature_adoption(d["adoption"], d["uses"], KEY_FEATURES, "tier"),
         [d["adoption"], d["uses"]]),
        (f"feature_adoption_of {len(by_feature):,} SQL rows", lambda: feature_adoption_of(by_feature, KEY_FEATURES),
         [by_feature]),
        ("leaderboard, top 20 of the base", lambda: leaderboard(d["users"], d["uses"], KEY_FEATURES),
         [d["users"], d["uses"]]),
        ("users who need training", lambda: needs_training(d["users"], d["uses"], KEY_FEATURES),
         [d["users"], d["uses"]]),
        ("champions and sponsors", lambda: sponsors(d["contacts"], d["people"], AS_OF), [d["contacts"], d["people"]]),
        ("upgrade-ready accounts", lambda: upgrade_ready(d["upgrade"], AS_OF), [d["upgrade"]]),
        ("team performance, 30 days", lambda: team_performance(d["staff"], d["owned"], d["weeks"], d["tasks"],
                                                               d["alerts"], AS_OF, 30),
         [d["owned"], d["weeks"], d["tasks"], d["alerts"]]),
    ]
    for label, call, inputs in rows:
        f50, _f95 = timed(floor(inputs), REPEATS)
        p50, p95 = timed(call, REPEATS)
        print(f"  {label:34} p50 {p50:9.2f} ms   p95 {p95:9.2f} ms   floor p50 {f50:8.2f} ms "
              f"({p50 / f50:.1f} x floor)")


def main() -> None:
    for accounts in SIZES:
        bench(accounts)


if __name__ == "__main__":
    main()
