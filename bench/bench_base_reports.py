"""The Health, Adoption, Users and Team reports (`sync.base_reports`) as a page or an API call computes them.

The workspace is `bench.workspace.fill`'s (10 CSMs under 2 managers, accounts with a subscription and 16-measure
snapshots), plus 12 weekly snapshots per account (no parts), 60 days of product usage (3 users per account, a
login and a key feature on every 4th day) and one task per account (a third of them done). Setup, not timed:
snapshots and usage are generated in SQL (a recursive count, no rows built in Python), and written as an existing
database would hold them before migration 0019 — its triggers dropped while the rows go in, then its backfills
roll ``usage_monthly`` and ``health_weeks`` up and the triggers come back.

Timed, each p50 / p95 over `RUNS` requests: health (distribution, 12-week trend by segment, 16 measures'
benchmarks, persistent poor), adoption (by tier, cohort, 6 months; upgrade-ready, training, sponsors), users
(the top 50), team (30 days, as an admin) — twice: "after a sync", what a page with its default view reads once
the worker's `prepare_base_reports` stored the copies (the fingerprint check and the stored copy), and "computed
in the request", what a view nobody prepared costs on its first request (a cohort, another day, one account's
leaderboard, a CSM's or a manager's team view). Beside them, the floor measured in the same run: one SQL pass
counting the usage rows of the 30-day window (what every usage figure reads at least once); and the worker's
prepare (ten views), once, and in it the account facts' build (migration 0029, `refresh_account_facts`: the write
a score run or sync adds), once more alone. The Health and Team views computed in the request read those facts
(a cohort's and a CSM's view too), the whole base's (by segment; Team as any role sees it) their pack (0037, by
the prepare); beside them, the same views from the facts' rows without the pack and from the snapshots (each
line with its process CPU time's p50: the machine is shared). Likewise the Adoption and Users views computed in
the request read the usage facts (migration 0030, `refresh_usage_facts`, timed once more alone too): beside
them, the same views from the monthly usage rows as before the facts; the whole base's Adoption view reads its
counts from the adoption pack (part "adoption" of 0037's packs, by the prepare), beside it the same view without.

The Team report computed in the request is timed too over every window the page offers (7, 30, 90 and 365 days)
as an admin, a manager and a CSM see it; ``BENCH_BASE_TEAM_ONLY=1``: the prepare and those lines only.

    BENCH_BASE_SIZES=10000 BENCH_BASE_RUNS=5 BENCH_BASE_DATABASES=sqlite python bench/bench_base_reports.py

By default (``make bench``) 10,000 and 100,000 accounts on both databases. The databases take minutes to fill
(100,000: about 15 on SQLite, 8 on PostgreSQL): with ``BENCH_BASE_KEEP=<folder>`` the SQLite files are kept
there and reused, and with ``BENCH_BASE_PG_URL=<admin URL>`` a database ``base_<accounts>`` on that server is kept
and reused (each migrated to the head first; ``BENCH_BASE_PG_DB=<name>``: that one instead, e.g. a copy of it).
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
from bench.workspace import (  # noqa: E402
    AS_OF,
    NOW,
    Raw,
    fill,
    kept_pg_database,
    migration_0019,
    new_database,
    served_pages,
)

SIZES = [int(x) for x in os.environ.get("BENCH_BASE_SIZES", "10000,100000").split(",") if x]
RUNS = int(os.environ.get("BENCH_BASE_RUNS", "5"))
COMPUTED_RUNS = int(os.environ.get("BENCH_BASE_COMPUTED_RUNS", str(RUNS)))
"""Requests timed per report computed in the request (tens of seconds each at 100,000 accounts; 0: none)."""
USAGE_RUNS = int(os.environ.get("BENCH_BASE_USAGE_RUNS", str(COMPUTED_RUNS)))
"""Requests timed per Adoption and Users view computed in the request from the usage facts (0: none)."""
ROWS_RUNS = int(os.environ.get("BENCH_BASE_ROWS_RUNS", str(USAGE_RUNS)))
"""Requests timed per Adoption and Users view read from the monthly rows beside the usage facts (minutes each at
100,000 accounts)."""
DATABASES = [x for x in os.environ.get("BENCH_BASE_DATABASES", "sqlite,postgresql").split(",") if x]
"""sqlite and/or postgresql (a throwaway cluster as the tests start); with both, the reports are compared."""
REALTIME = os.environ.get("BENCH_BASE_REALTIME", "1")
"""The real-time lines (a one-account rescore, then the pages): "1" after the others, "only" alone, "0" none."""
REALTIME_BEFORE = os.environ.get("BENCH_BASE_REALTIME_BEFORE", "1") == "1"
"""Beside them, the same rescore dropping every source (as before the patch) and the pages' first requests then
(from the snapshots and monthly rows: tens of seconds to minutes at 100,000 accounts)."""
REALTIME_NEW_DAY = os.environ.get("BENCH_BASE_REALTIME_NEW_DAY", "1") == "1"
"""Last, the first change of a new day: one account rescored on the day after (every account's latest day moves,
so the rescore drops the sources) and the real-time job's preparation after it (`sync.realtime`), timed, then the
pages of the new day."""
TEAM_ONLY = os.environ.get("BENCH_BASE_TEAM_ONLY", "") not in ("", "0")
"""Only the prepare and the Team lines (every window as an admin, a manager and a CSM see it, computed in the
request from the pack), none of the others."""
KEEP = os.environ.get("BENCH_BASE_KEEP")
PG_URL = os.environ.get("BENCH_BASE_PG_URL")



def more(target: Path | str, accounts: int, key_features: tuple[str, ...]) -> int:
    """Weekly snapshots, usage and tasks (setup); returns the usage rows written."""
    conn = Raw(target)
    pg = conn.postgres
    rollup = migration_0019()

    def days_back(column: str) -> str:  # AS_OF minus `column` days, as the day column takes it
        return f"CAST(? AS date) - {column}" if pg else f"date(?, '-' || {column} || ' days')"

    # n(i): 1…accounts and d(j): 0…59, recursive counts both databases know
    count = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?), "
             "d(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM d WHERE j < 59) ")
    if pg:
        for trigger, table in (("usage_monthly_keep", "usage_daily"), ("health_weeks_keep", "health_snapshots")):
            conn.execute(f"DROP TRIGGER {trigger} ON {table}")
            conn.execute(f"DROP FUNCTION {trigger}()")
    else:
        for name in ("insert", "count", "move", "delete"):
            conn.execute(f"DROP TRIGGER usage_monthly_{name}")
        for name in ("insert", "score", "move", "delete"):
            conn.execute(f"DROP TRIGGER health_weeks_{name}")
    conn.execute(
        count + "INSERT INTO health_snapshots (tenant_id, account_id, day, score, band, parts, reasons, trend, "
        "computed_at) SELECT 1, i, " + days_back("(7 * k + 1)") + ", s, CASE WHEN s < 40 THEN 'poor' "
        "WHEN s < 70 THEN 'average' ELSE 'good' END, '{}', '[]', 0, ? FROM (SELECT i, k, "
        "CAST((i * 7 + (k - 1) * 13) % 100 AS float) AS s FROM n, (SELECT j AS k FROM d WHERE j BETWEEN 1 AND 11) w) x",
        (accounts, AS_OF.isoformat(), NOW))
    keys = " UNION ALL ".join(f"SELECT {i} AS k, ? AS name" for i in range(len(key_features)))
    # users u 0…2 of account i, active `back` days before AS_OF when back ≡ i + u (mod 4); a login and one key
    # feature each such day; counts 1…5
    conn.execute(
        count + "INSERT INTO usage_daily (tenant_id, account_id, user_key, event, day, count, minutes) "
        "SELECT 1, i, 'u' || i || '-' || u, CASE WHEN e = 0 THEN 'Logged In' ELSE f.name END, "
        + days_back("b") + ", 1 + (i + b) % 5, 0 FROM n, (SELECT j AS u FROM d WHERE j < 3) users, "
        "(SELECT j AS b FROM d) backs, (SELECT j AS e FROM d WHERE j < 2) events, "
        f"({keys}) f WHERE b % 4 = (i + u) % 4 AND f.k = (i + u + b) % {len(key_features)}",
        (accounts, AS_OF.isoformat(), *key_features))
    written = int(conn.conn.execute("SELECT count(*) FROM usage_daily").fetchone()[0])
    conn.execute("DELETE FROM health_weeks")  # `fill`'s two snapshot days went in with the triggers on
    for sql in (*rollup._backfill(pg), rollup._week_backfill(pg)):
        conn.execute(sql)
    triggers = (rollup.PG_FUNCTION, rollup.PG_TRIGGER, rollup.PG_WEEK_FUNCTION, rollup.PG_WEEK_TRIGGER) if pg else \
        (*rollup.SQLITE_TRIGGERS, *rollup.SQLITE_WEEK_TRIGGERS)
    for sql in triggers:
        conn.execute(sql)
    conn.executemany(
        "INSERT INTO tasks (tenant_id, account_id, title, due_date, status, created_at, priority, source, "
        "completed_at, updated_at) VALUES (1, ?, 'Call', ?, ?, ?, 'normal', 'alert', ?, ?)",
        ((i, (AS_OF + dt.timedelta(days=i % 20 - 12)).isoformat(), "done" if i % 3 == 0 else "open", NOW,
          (AS_OF - dt.timedelta(days=i % 40)).isoformat() + " 10:00:00.000000" if i % 3 == 0 else None, NOW)
         for i in range(1, accounts + 1)))
    conn.execute("ANALYZE")
    conn.close()
    return written


def bench(accounts: int, admin_url: str | None = None) -> dict[str, Any]:
    """Times the four reports on a SQLite file or (with `admin_url`) a new PostgreSQL database; returns them."""
    from sqlalchemy import func, select

    from scoring import default_model
    from store.db import Store
    from store.models import UsageDaily
    from sync import base_reports as br
    from sync import usage_facts as uf

    model = default_model()
    keys, login = model.signals.key_features, model.signals.login_event
    backend = "PostgreSQL" if admin_url else "SQLite"
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        target, url, filled = _database(tmp if KEEP is None else KEEP, accounts, admin_url)
        if filled:
            fill(target, accounts)
            more(target, accounts, keys)
        store = Store(url)
        with store.session(1) as s:
            usage = s.scalar(select(func.count()).select_from(UsageDaily))
        print(f"base reports on {backend}: {accounts:,} accounts, {usage:,} usage rows, "
              + (f"filled in {time.perf_counter() - started:.0f} s" if filled else "kept from an earlier run")
              + " (setup, not measured)")
        measures = sorted(model.measures)

        def run(fn: Any, **kwargs: Any) -> Any:  # as a page opens: on the latest scored day (AS_OF)
            with store.session(1) as s:
                return fn(s, **kwargs)

        def floor() -> Any:
            with store.session(1) as s:
                return s.scalar(select(func.count()).select_from(UsageDaily)
                                .where(UsageDaily.day >= AS_OF - dt.timedelta(days=29), UsageDaily.day <= AS_OF))

        def prepare() -> Any:
            with store.session(1) as s:
                return br.prepare_base_reports(s, model)

        reports = {"health": (br.health_report, br._health_report, {"measures": measures}),
                   "adoption": (br.adoption_report, br._adoption_report, {"key_features": keys, "login_event": login}),
                   "users": (br.leaderboard_report, br._leaderboard_report, {"key_features": keys}),
                   "team": (br.team_report, br._team_report, {"days": 30})}
        labels = {"health": "health (by segment, 16 measures)", "adoption": "adoption (tier, cohort, 6 months, lists)",
                  "users": "users (top 50)", "team": "team (30 days, admin)"}
        def cpu_timings(call: Any, runs: int) -> tuple[float, float, float]:
            cpu: list[float] = []

            def timed() -> None:
                started = time.process_time()
                call()
                cpu.append((time.process_time() - started) * 1000)

            p50, p95 = timings(timed, runs)
            return p50, p95, sorted(cpu)[len(cpu) // 2]

        def raw(fn: Any, **kwargs: Any) -> Any:  # as before migration 0029: from the snapshots and week rows
            saved = br.fresh_account_facts
            br.fresh_account_facts = lambda *args, **kw: None
            try:
                return run(fn, **kwargs)
            finally:
                br.fresh_account_facts = saved

        def refresh() -> Any:
            with store.session(1) as s:
                return br.refresh_account_facts(s, measures)

        def rows(fn: Any, **kwargs: Any) -> Any:  # as before migration 0030: from the monthly usage rows
            saved = uf.fresh_usage_facts
            uf.fresh_usage_facts = lambda *args, **kw: None
            try:
                return run(fn, **kwargs)
            finally:
                uf.fresh_usage_facts = saved

        def refresh_usage() -> Any:
            with store.session(1) as s:
                return uf.refresh_usage_facts(s, keys, login)

        if REALTIME == "only":
            realtime(store, accounts, model, url)
            store.dispose()
            return {}
        floor_p50, floor_p95 = timings(floor, RUNS)
        print(f"  {'floor: count the 30-day window usage rows':52} p50 {floor_p50:8.1f} ms  p95 {floor_p95:8.1f} ms")
        prepared_in = time.perf_counter()
        views = prepare()
        took = time.perf_counter() - prepared_in
        print(f"  worker: prepare_base_reports ({views} default views), once: {took:.1f} s")
        if TEAM_ONLY:
            team_lines(run, cpu_timings, _a_csm(store), _a_manager(store))
            found = {"team": run(br.team_report, days=30)}
            store.dispose()
            return found
        wall, cpu = time.perf_counter(), time.process_time()
        built = refresh()
        print(f"  worker: refresh_account_facts ({built:,} accounts), once more alone: "
              f"{time.perf_counter() - wall:.2f} s (CPU {time.process_time() - cpu:.2f} s)")
        wall, cpu = time.perf_counter(), time.process_time()
        built = refresh_usage()
        print(f"  worker: refresh_usage_facts ({built:,} accounts), once more alone: "
              f"{time.perf_counter() - wall:.2f} s (CPU {time.process_time() - cpu:.2f} s)")
        # the adoption pack's build once more (the counts are the prepare's anyway): the usage facts just built
        # alone have their pack again, as after a prepare (else the views below would read the facts' rows)
        with store.session(1) as s:
            facts = uf.fresh_usage_facts(s, AS_OF, keys, login, uf.FACT_MONTHS)
            if facts is not None:
                wall, cpu = time.perf_counter(), time.process_time()
                every = br.Cohort().conditions()
                counted = uf.fact_adoption_counts(s, facts, every, AS_OF, facts.months)
                held = br._AdoptionPack(counted, uf.fact_upgrade_ready(s, AS_OF, every),
                                        *uf.fact_needs_training(s, keys, every))
                spent = time.perf_counter() - wall, time.process_time() - cpu
                wall, cpu = time.perf_counter(), time.process_time()
                br._build_adoption_pack(s, facts, held)
                s.flush()
                print(f"  worker: adoption pack, once more alone: figures {spent[0] * 1000:.1f} ms (CPU "
                      f"{spent[1] * 1000:.1f} ms, the prepare's Adoption view's anyway), pack written "
                      f"{(time.perf_counter() - wall) * 1000:.1f} ms (CPU {(time.process_time() - cpu) * 1000:.1f})")
        for name, (stored, _, kwargs) in reports.items():
            p50, p95 = timings(lambda fn=stored, kw=kwargs: run(fn, **kw), RUNS)
            print(f"  {labels[name] + ', after a sync':52} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  "
                  f"({p95 / floor_p95:.1f}x floor)")
        served(url, store, "after a sync")
        for name, (_, computed, kwargs) in reports.items() if COMPUTED_RUNS else ():
            p50, p95 = timings(lambda fn=computed, kw=kwargs: run(fn, **kw), COMPUTED_RUNS)
            print(f"  {labels[name] + ', computed in the request':52} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  "
                  f"({p95 / floor_p95:.1f}x floor)")
        csm = _a_csm(store)
        views = {"health (cohort: one CSM, by tier)": (br._health_report, {"measures": measures, "by": "tier",
                                                                          "cohort": br.Cohort(csm_user_id=csm)}),
                 "health (by segment, 16 measures)": (br._health_report, {"measures": measures}),
                 "team (30 days, one CSM)": (br._team_report, {"days": 30, "role": "csm", "user_id": csm}),
                 "team (30 days, a manager)": (br._team_report, {"days": 30, "role": "manager",
                                                                 "user_id": _a_manager(store)}),
                 "team (30 days, admin)": (br._team_report, {"days": 30})}
        def unpacked(fn: Any, **kwargs: Any) -> Any:  # as before migration 0037: from the account facts' rows
            saved = br._fact_pack
            br._fact_pack = lambda *args, **kw: None
            try:
                return run(fn, **kwargs)
            finally:
                br._fact_pack = saved

        # the whole base's views (by segment; Team as any role sees it) read the fact pack (migration 0037), a
        # cohort's the facts' rows: beside each, the facts' rows without the pack, and the snapshots
        for label, (fn, kwargs) in views.items() if COMPUTED_RUNS else ():
            p50, p95, cpu50 = cpu_timings(lambda fn=fn, kw=kwargs: run(fn, **kw), COMPUTED_RUNS)
            f50, f95, fcpu50 = cpu_timings(lambda fn=fn, kw=kwargs: unpacked(fn, **kw), COMPUTED_RUNS)
            r50, r95, rcpu50 = cpu_timings(lambda fn=fn, kw=kwargs: raw(fn, **kw), COMPUTED_RUNS)
            same = run(fn, **kwargs) == unpacked(fn, **kwargs) == raw(fn, **kwargs)
            print(f"  {label + ', computed':44} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  CPU p50 {cpu50:8.1f} ms  |  "
                  f"facts' rows, no pack p50 {f50:8.1f}  p95 {f95:8.1f}  CPU p50 {fcpu50:8.1f}  |  "
                  f"from the snapshots p50 {r50:8.1f}  p95 {r95:8.1f}  CPU p50 {rcpu50:8.1f}  (equal: {same})")
        team_lines(run, cpu_timings, csm, _a_manager(store))
        adoption, users = reports["adoption"][2], reports["users"][2]

        def adoption_unpacked(s: Any, **kwargs: Any) -> Any:  # as before the adoption pack: the usage facts' rows
            saved = br._adoption_pack
            br._adoption_pack = lambda *args, **kw: None
            try:
                return br._adoption_report(s, **kwargs)
            finally:
                br._adoption_pack = saved

        usage_views = {"adoption (cohort: one CSM)": (br._adoption_report,
                                                      {**adoption, "cohort": br.Cohort(csm_user_id=csm)}),
                       "adoption (tier, cohort, 6 months, lists)": (br._adoption_report, adoption),
                       "adoption (… lists), no pack": (adoption_unpacked, adoption),
                       "users (top 50)": (br._leaderboard_report, users),
                       "users (cohort: one CSM)": (br._leaderboard_report,
                                                   {**users, "cohort": br.Cohort(csm_user_id=csm)}),
                       "users (one account)": (br._leaderboard_report, {**users, "account_id": accounts // 2})}
        for label, (fn, kwargs) in usage_views.items() if USAGE_RUNS else ():
            p50, p95, cpu50 = cpu_timings(lambda fn=fn, kw=kwargs: run(fn, **kw), USAGE_RUNS)
            if not ROWS_RUNS:
                print(f"  {label + ', facts':44} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  CPU p50 {cpu50:8.1f} ms")
                continue
            kept: list[Any] = []  # the last one compared (minutes each at 100,000 accounts: not built again)
            r50, r95, rcpu50 = cpu_timings(lambda fn=fn, kw=kwargs, kept=kept: kept.append(rows(fn, **kw)),
                                           ROWS_RUNS)
            same = run(fn, **kwargs) == kept[-1]
            print(f"  {label + ', facts':44} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  CPU p50 {cpu50:8.1f} ms  |  "
                  f"from the monthly rows p50 {r50:8.1f}  p95 {r95:8.1f}  CPU p50 {rcpu50:8.1f}  (equal: {same})")
        found = {name: run(stored, **kwargs) for name, (stored, _, kwargs) in reports.items()}
        if REALTIME == "1":
            realtime(store, accounts, model, url)
        store.dispose()
        return found


def realtime(store: Any, accounts: int, model: Any, url: str) -> None:
    """A real-time change: one account rescored as of the latest scored day (`score_tenant(only=[id])`, what
    `sync.realtime.process_changes` runs after its fetch), which patches the report sources
    (`patch_base_reports`); then the pages: health (by segment), team (30 days, admin), adoption (whole base),
    each as a page opens it (the stored copy: the first request builds it from the packs, the others read it) and
    as computed in the request. Beside them (`REALTIME_BEFORE`), the same rescore dropping every source, as
    before, and each page's first request then. The workspace is prepared first when its facts do not hold
    (setup), and the account's earlier snapshots lose their parts (the bench's are no score to start from)."""
    from sqlalchemy import select, update

    from store import panel_views
    from store.models import Account, HealthSnapshot
    from store.queries import live_accounts
    from sync import base_reports as br
    from sync import health as sh

    measures = sorted(model.measures)
    keys, login = model.signals.key_features, model.signals.login_event
    with store.session(1) as s:  # three accounts: a warm-up's, the timed one's, the one dropping the sources
        chosen = list(s.scalars(select(Account.id).where(Account.id >= accounts // 2, live_accounts())
                                .order_by(Account.id).limit(3)))
        s.execute(update(HealthSnapshot).where(HealthSnapshot.account_id.in_(chosen), HealthSnapshot.day < AS_OF)
                  .values(parts={}), execution_options=panel_views.touches(chosen))
    with store.session(1) as s:
        held = br.fresh_account_facts(s, AS_OF) is not None and br._fact_pack(
            s, br.fresh_account_facts(s, AS_OF), "health") is not None
    if not held:
        wall = time.perf_counter()
        with store.session(1) as s:
            br.prepare_base_reports(s, model)
        print(f"  realtime: prepared first (setup, not measured): {time.perf_counter() - wall:.1f} s")
    pages: dict[str, tuple[Any, Any, dict[str, Any]]] = {
        "health (by segment, 16 measures)": (br.health_report, br._health_report, {"measures": measures}),
        "team (30 days, admin)": (br.team_report, br._team_report, {"days": 30}),
        "adoption (whole base)": (br.adoption_report, br._adoption_report,
                                  {"key_features": keys, "login_event": login})}

    def run(fn: Any, kwargs: dict[str, Any]) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        with store.session(1) as s:
            fn(s, **kwargs)
        return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000

    def percentiles(took: list[float]) -> tuple[float, float]:
        ordered = sorted(took)
        return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    def rescore(label: str, one: int) -> None:
        spent: list[float] = []
        patch = sh.patch_base_reports

        def timed(*args: Any) -> Any:
            wall = time.perf_counter()
            try:
                return patch(*args)
            finally:
                spent.append(time.perf_counter() - wall)

        sh.patch_base_reports = timed  # for the run, timed
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            sh.score_tenant(store, 1, model, AS_OF, only=[one])
            print(f"  realtime: one-account rescore ({label}): {time.perf_counter() - wall:.2f} s "
                  f"(CPU {time.process_time() - cpu:.2f} s), of it the report sources "
                  f"{sum(spent) * 1000:.0f} ms   [load {os.getloadavg()[0]:.2f}]")
        finally:
            sh.patch_base_reports = patch

    rescore("sources patched, the process's first", chosen[0])  # (its first score run: imports, first calls)
    rescore("another account, sources patched", chosen[1])
    rescore("that account again, no fact changed: packs stamped", chosen[1])
    for label, (page, computed, kwargs) in pages.items():
        opened = [run(page, kwargs)[0] for _ in range(RUNS)]
        times = [run(computed, kwargs) for _ in range(COMPUTED_RUNS)]
        p50, p95 = percentiles(opened)
        c50, c95 = percentiles([t for t, _ in times]) if times else (0.0, 0.0)
        cpu50 = percentiles([c for _, c in times])[0] if times else 0.0
        print(f"  {'after it, ' + label:52} page p50 {p50:8.1f} ms  p95 {p95:8.1f} ms (first {opened[0]:.1f})  |  "
              f"computed p50 {c50:8.1f}  p95 {c95:8.1f}  CPU p50 {cpu50:8.1f}")
    served(url, store, "after it")
    if REALTIME_BEFORE:
        dropped(store, sh, br, chosen[2], pages, run, rescore)
    if REALTIME_NEW_DAY:
        new_day(store, model, chosen[0], pages, run, percentiles)
        served(url, store, "new day")


def dropped(store: Any, sh: Any, br: Any, one: int, pages: dict[str, Any], run: Any, rescore: Any) -> None:
    """The same rescore dropping every source, as before the patch, and each page's first request then."""
    patch = sh.patch_base_reports
    sh.patch_base_reports = lambda session, _model, _ids: br.drop_base_reports(session)
    try:
        rescore("every source dropped, as before", one)
    finally:
        sh.patch_base_reports = patch
    for label, (page, _computed, kwargs) in pages.items():
        first = run(page, kwargs)
        print(f"  {'after it (dropped), ' + label:52} page's first request {first[0]:10.1f} ms "
              f"(CPU {first[1]:.1f}), then its copy {run(page, kwargs)[0]:.1f} ms")


def new_day(store: Any, model: Any, one: int, pages: dict[str, Any], run: Any, percentiles: Any) -> None:
    """The first change of the day after: the rescore (which drops the sources: every account's latest day moves)
    and the real-time job's preparation after it (`sync.realtime._prepare_dropped_reports`), then each page of the
    new day (its first request builds its copy from the packs) and its view computed in the request."""
    from sync import health as sh
    from sync.realtime import _prepare_dropped_reports

    later = AS_OF + dt.timedelta(days=1)
    wall, cpu = time.perf_counter(), time.process_time()
    sh.score_tenant(store, 1, model, later, only=[one])
    rescored = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    prepared = _prepare_dropped_reports(store, 1, model)
    print(f"  realtime: the first change of a new day: rescore {rescored[0]:.2f} s (CPU {rescored[1]:.2f}), then "
          f"the job's preparation ({'ran' if prepared else 'NOT needed'}) {time.perf_counter() - wall:.1f} s "
          f"(CPU {time.process_time() - cpu:.1f})   [load {os.getloadavg()[0]:.2f}]")
    for label, (page, computed, kwargs) in pages.items():
        opened = [run(page, kwargs)[0] for _ in range(RUNS)]
        times = [run(computed, kwargs) for _ in range(COMPUTED_RUNS)]
        p50, p95 = percentiles(opened)
        c50, c95 = percentiles([t for t, _ in times]) if times else (0.0, 0.0)
        print(f"  {'new day, ' + label:52} page p50 {p50:8.1f} ms  p95 {p95:8.1f} ms (first {opened[0]:.1f})  |  "
              f"computed p50 {c50:8.1f}  p95 {c95:8.1f}")
def served(url: str, store: Any, when: str) -> None:
    """The Health, Adoption, Users and Team pages as the console serves them (`bench.workspace.served_pages`): each
    default view, Health by tier, a CSM's cohort (Health, Adoption) and Team over 365 days."""
    csm = _a_csm(store)
    served_pages(url, store, when, RUNS, [
        "/reports/health", "/reports/health?by=tier", f"/reports/health?csm={csm or ''}", "/reports/adoption",
        f"/reports/adoption?csm={csm or ''}", "/reports/users", "/reports/team", "/reports/team?days=365"])


def team_lines(run: Any, cpu_timings: Any, csm: int | None, manager: int | None) -> None:
    """The Team report computed in the request (the pack's, on the latest scored day) over every window the page
    offers, as an admin, the manager with the most reports and the CSM with the most accounts see it."""
    from sync import base_reports as br

    roles: dict[str, dict[str, Any]] = {"admin": {}, "a manager": {"role": "manager", "user_id": manager},
             "one CSM": {"role": "csm", "user_id": csm}}
    for days in br.TEAM_DAYS:
        for who, kwargs in roles.items() if COMPUTED_RUNS else ():
            p50, p95, cpu50 = cpu_timings(lambda kw={"days": days, **kwargs}: run(br._team_report, **kw),
                                          COMPUTED_RUNS)
            print(f"  {f'team ({days} days, {who}), computed':44} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  "
                  f"CPU p50 {cpu50:8.1f} ms")


def _a_csm(store: Any) -> int | None:
    """The CSM with the most accounts."""
    from sqlalchemy import func, select

    from store.models import Account

    with store.session(1) as s:
        return s.scalar(select(Account.csm_user_id).where(Account.csm_user_id.is_not(None))
                        .group_by(Account.csm_user_id).order_by(func.count().desc()).limit(1))


def _a_manager(store: Any) -> int | None:
    """The manager with the most direct reports."""
    from sqlalchemy import func, select

    from store.models import User

    with store.session(1) as s:
        return s.scalar(select(User.manager_id).where(User.manager_id.is_not(None))
                        .group_by(User.manager_id).order_by(func.count().desc(), User.manager_id).limit(1))


def _database(folder: str, accounts: int, admin_url: str | None) -> tuple[Path | str, str, bool]:
    """(what `Raw` and `fill` take, its URL, whether it is new and must be filled): a new database, or with
    `BENCH_BASE_KEEP` / `BENCH_BASE_PG_URL` the one an earlier run kept, migrated to the head."""
    from store.migrate import upgrade

    if admin_url is not None and PG_URL is not None:
        # a copy of it (CREATE DATABASE … TEMPLATE) with BENCH_BASE_PG_DB
        url, new = kept_pg_database(admin_url, os.environ.get("BENCH_BASE_PG_DB", f"base_{accounts}"))
        return url, url, new
    if admin_url is None and KEEP is not None:
        path = Path(folder) / f"base-{accounts}.db"
        new = not path.exists()
        upgrade(f"sqlite:///{path}")
        return path, f"sqlite:///{path}", new
    target, url = new_database(folder, "base", admin_url)
    return target, url, True


def main() -> None:
    for n in SIZES:
        found: dict[str, dict[str, Any]] = {}
        for database in DATABASES:
            if database == "postgresql" and PG_URL is not None:
                found[database] = bench(n, PG_URL)
            elif database == "postgresql":
                from tests.pg import postgres_server

                with postgres_server() as admin:
                    found[database] = bench(n, admin)
            else:
                found[database] = bench(n)
        if len(found) == 2 and REALTIME != "only":  # both backends' rows: the same figures, or the SQL differs
            lite, pg = found["sqlite"], found["postgresql"]
            differ = [name for name in lite if json.dumps(lite[name], sort_keys=True, default=str)
                      != json.dumps(pg[name], sort_keys=True, default=str)]
            print(f"  {n:,} accounts, SQLite and PostgreSQL reports equal: "
                  + ("yes" if not differ else f"NO — {', '.join(differ)} differ"))


if __name__ == "__main__":
    main()
