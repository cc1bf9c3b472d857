"""Precision and recall of each early-warning alert against truth.json, across dates and seeds.

For each (companies, seed, as_of) the three systems are synced through the real SDKs from the
sandbox; product usage is folded into the same daily aggregates the collector makes, but
directly (the collector's own speed is `bench_collector.py`'s figure: millions of events over
HTTP would only measure it again; the suite's story test goes through the collector). Then
`sync.health.score_tenant` scores and raises alerts, and each story rule is compared with truth.

    python bench/bench_alerts.py                      # the default matrix below
    python bench/bench_alerts.py --companies 250 --seeds 21,22 --dates 2026-11-17..2026-11-30
    python bench/bench_alerts.py --companies 10000 --dates 2026-11-30

It prints one row per world (precision/recall per rule, then the seconds of each phase and the peak
memory) and the minimum of each over all worlds.

Usage goes into ``usage_daily`` with migration 0019's ``usage_monthly`` triggers dropped (one trigger run per
inserted row was most of the fold at 10,000 companies); 0019's own backfill statements then roll the month
up in two set-based statements and its triggers are created again, as 0019 defines them (`rollup_deferred`).
The default matrix is 250 companies with seeds 21 and 22 on the 14 days ending 2026-11-30, then
2,000 companies (seed 21) on 2026-11-30. Dates are fixed so that the figures repeat on any day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pipeline import LIMITS

from bench.workspace import migration_0019, sandbox_workspace
from cli.truth import STORY_RULES, RuleQuality, alert_quality
from sandbox.server import Sandbox
from sandbox.usage import iter_usage_events
from scoring import default_model
from store.db import Store
from store.models import ProductUser, SourceLink, SurveyResponse, UsageDaily
from sync.health import score_tenant
from sync.runner import sync

DEFAULT_END = dt.date(2026, 11, 30)
FLUSH_EVERY = 200
"""Companies whose daily aggregates are written at once (keeps memory flat at 10,000 companies)."""
ROOT = Path(__file__).resolve().parents[1]



def _trigger_name(create: str) -> str:
    return create.split()[2]  # CREATE TRIGGER <name> ...


@contextmanager
def rollup_deferred(store: Store) -> Iterator[None]:
    """The block writes ``usage_daily`` with 0019's ``usage_monthly`` triggers dropped; afterwards (also on an
    error) ``usage_monthly`` is rebuilt from ``usage_daily`` by 0019's backfill and the triggers are back.

    SQLite only (the bench's store). The triggers on the table must be exactly 0019's, or this refuses: the
    ones put back are 0019's.
    """
    if store.engine.dialect.name != "sqlite":
        raise RuntimeError(f"rollup_deferred: SQLite only, not {store.engine.dialect.name}")
    rollup = migration_0019()
    defined = {_trigger_name(sql): sql for sql in rollup.SQLITE_TRIGGERS}
    with store.engine.begin() as conn:
        stored: dict[str, str] = dict(conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'usage_daily'").all())
        if stored != defined:
            raise RuntimeError(f"usage_daily's triggers are not migration 0019's: {sorted(stored)}")
        for name in defined:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
    try:
        yield
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM usage_monthly")  # whatever was rolled up before: all of it again
            for sql in rollup._backfill(False):
                conn.exec_driver_sql(sql)
            for sql in rollup.SQLITE_TRIGGERS:
                conn.exec_driver_sql(sql)


def fold_usage(store: Store, tenant_id: int, box: Sandbox, truth: dict[str, Any]) -> int:
    """Daily aggregates per account, user, event and day, as the collector would store them."""
    with store.session(tenant_id) as s:
        account_of_record = {(sys_, ext): acc for sys_, ext, acc in s.execute(
            SourceLink.__table__.select().with_only_columns(SourceLink.system, SourceLink.external_id,
                                                            SourceLink.account_id))}
    account_of: dict[str, int] = {}
    for company in truth["companies"]:
        for system, ext in company["ids"].items():
            if (system, ext) in account_of_record:
                account_of[company["key"]] = account_of_record[(system, ext)]
                break
    usage: dict[tuple[int, str, str, dt.date], list[float]] = defaultdict(lambda: [0, 0.0])
    users: dict[str, tuple[int, str | None, dt.datetime]] = {}
    nps: list[SurveyResponse] = []
    events = 0

    def flush() -> None:  # one company's events never span two flushes, so rows stay unique
        with store.session(tenant_id) as s:
            if usage:
                s.execute(UsageDaily.__table__.insert(), [
                    {"tenant_id": tenant_id, "account_id": a, "user_key": u, "event": e, "day": d,
                     "count": int(c), "minutes": m} for (a, u, e, d), (c, m) in usage.items()])
        usage.clear()

    for index, company in enumerate(box.world.companies, start=1):
        events += _fold_company(box, company, account_of, usage, users, nps)
        if index % FLUSH_EVERY == 0:
            flush()
    flush()
    with store.session(tenant_id) as s:
        for key, (account, email, last) in users.items():
            s.add(ProductUser(user_key=key, account_id=account, email=email, last_seen=last))
        s.add_all(nps)
        for key, account in account_of.items():
            s.add(SourceLink(system="product", external_id=key, account_id=account, method="external_id",
                             reason="product account id"))
    return events


def _fold_company(box: Sandbox, company: Any, account_of: dict[str, int],
                  usage: dict[tuple[int, str, str, dt.date], list[float]],
                  users: dict[str, tuple[int, str | None, dt.datetime]], nps: list[SurveyResponse]) -> int:
    events = 0
    account = account_of.get(company.key)
    if account is None:
        return 0
    for message in iter_usage_events(box.world, company):  # identify messages name no group: the company does
        when = dt.datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00"))
        user = message["userId"]
        email = message.get("traits", {}).get("email")
        seen = users.get(user)
        if message["type"] == "track":
            events += 1
            entry = usage[(account, user, message["event"], when.date())]
            entry[0] += 1
            entry[1] += float(message.get("properties", {}).get("minutes", 0) or 0)
            if message["event"] == "NPS Survey Submitted":
                nps.append(SurveyResponse(account_id=account, kind="nps", score=int(message["properties"]["score"]),
                                          submitted_at=when, source="collector", source_ref=message["messageId"]))
            users[user] = (account, seen[1] if seen else None, max(when, seen[2]) if seen else when)
        elif seen is None or email:
            users[user] = (account, email or (seen[1] if seen else None),
                           seen[2] if seen else dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    return events


def measure(companies: int, seed: int, as_of: dt.date, progress: bool = False) -> dict[str, Any]:
    """One world: sync, fold usage, score on ``as_of``; the quality of each story rule, and timings.

    With ``progress`` each phase's seconds and the peak memory so far are printed as the phase ends (a long
    run's figures so far, should it be stopped before the table)."""
    with Sandbox(accounts=companies, seed=seed, as_of=as_of, **LIMITS) as box, \
            tempfile.TemporaryDirectory() as tmp:
        truth = json.loads(Path(box.truth_path).read_text())
        store, tenant, adapters = sandbox_workspace(tmp, "alerts", box)
        phases: dict[str, float] = {}
        cpu: dict[str, float] = {}  # this process's CPU seconds per phase (the wall clock counts other load too)
        started = mark = time.perf_counter()
        cpu_mark = time.process_time()

        def phase(name: str) -> None:
            nonlocal mark, cpu_mark
            now, cpu_now = time.perf_counter(), time.process_time()
            phases[name], cpu[name] = now - mark, cpu_now - cpu_mark
            mark, cpu_mark = now, cpu_now
            if progress:
                print(f"  [{companies:,} companies, seed {seed}, {as_of}] {name} {phases[name]:.1f} s "
                      f"(CPU {cpu[name]:.1f} s), peak memory {_peak_mb(resource.RUSAGE_SELF):,.0f} MB", flush=True)

        sync(store, tenant.id, adapters)
        phase("sync")
        with rollup_deferred(store):
            events = fold_usage(store, tenant.id, box, truth)
        phase("fold")
        score_tenant(store, tenant.id, default_model(), box.world.as_of)
        phase("score")
        quality = alert_quality(store, tenant.id, truth)
        phase("compare")
        store.dispose()
        return {"companies": companies, "seed": seed, "as_of": as_of, "events": events,
                "seconds": time.perf_counter() - started, "phases": phases, "cpu": cpu, "quality": quality,
                "peak_mb": _peak_mb(resource.RUSAGE_SELF), "children_peak_mb": _peak_mb(resource.RUSAGE_CHILDREN)}


def _peak_mb(who: int) -> float:
    """Peak resident memory (ru_maxrss, KiB on Linux) in MB: of this process so far, or of its largest waited-for
    child. A worker process measuring several worlds reports its peak over all of them so far."""
    return resource.getrusage(who).ru_maxrss / 1024


def _dates(text: str) -> list[dt.date]:
    if ".." in text:
        first, last = (dt.date.fromisoformat(part) for part in text.split(".."))
        if last < first:
            raise SystemExit(f"--dates {text}: the range ends before it starts")
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return [dt.date.fromisoformat(part) for part in text.split(",")]


def _cell(q: RuleQuality) -> str:
    return f"{q.precision:4.2f}/{q.recall:4.2f}" if q.expected or q.false_positives else "   -/-   "


def report(rows: list[dict[str, Any]]) -> None:
    print(f"  {'companies':>9} {'seed':>4} {'as_of':10} {'day':3} " + " ".join(f"{r[:12]:>12}" for r in STORY_RULES)
          + "   (precision/recall; expected in brackets below)")
    worst: dict[str, list[float]] = {rule: [1.0, 1.0] for rule in STORY_RULES}
    for row in rows:
        q = row["quality"]
        print(f"  {row['companies']:9,} {row['seed']:4} {row['as_of'].isoformat()} {row['as_of']:%a} "
              + " ".join(f"{_cell(q[rule]):>12}" for rule in STORY_RULES)
              + f"   {row['seconds']:.0f} s")
        expected = " ".join(f"{'(' + str(q[r].expected) + ')':>12}" for r in STORY_RULES)
        print(f"  {'':9} {'':4} {'':10} {'':3} {expected}")
        print(f"  {'':9} {'':4} {'':10} {'':3} "
              + ", ".join(f"{name} {seconds:.1f} s (CPU {row['cpu'][name]:.1f})"
                          for name, seconds in row["phases"].items())
              + f"; {row['events']:,} events; peak memory {row['peak_mb']:,.0f} MB"
              + f" (children {row['children_peak_mb']:,.0f} MB)")
        for rule in STORY_RULES:
            worst[rule][0] = min(worst[rule][0], q[rule].precision)
            worst[rule][1] = min(worst[rule][1], q[rule].recall)
    print(f"  {'minimum over ' + str(len(rows)) + ' worlds':33} "
          + " ".join(f"{worst[r][0]:4.2f}/{worst[r][1]:4.2f}".rjust(12) for r in STORY_RULES))
    print("  floor: precision and recall 0.95 for every rule in every world")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--companies", type=int, help="companies per world (default: the matrix)")
    parser.add_argument("--seeds", default="21,22", help="comma-separated seeds")
    parser.add_argument("--dates", default=f"{DEFAULT_END - dt.timedelta(days=13)}..{DEFAULT_END}",
                        help="as_of dates: a,b,c or first..last")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="worlds measured at once")
    parser.add_argument("--progress", action="store_true", help="print each world's phases as they end")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    dates = _dates(args.dates)
    worlds = [(args.companies or 250, seed, day) for seed in seeds for day in dates]
    if args.companies is None:
        worlds.append((2000, 21, DEFAULT_END))
    print(f"alerts: {len(worlds)} worlds, precision and recall of each story rule against truth.json")
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        rows = list(pool.map(measure, *zip(*worlds, strict=True), [args.progress] * len(worlds)))
    report(rows)
    print(f"  {len(rows)} worlds in {time.perf_counter() - started:.0f} s with {args.workers} worker processes")


if __name__ == "__main__":
    main()
