"""`canary score` end to end on 100,000 accounts with 180 days of UsageDaily on SQLite.

The data is written straight into a migrated SQLite file (accounts, subscriptions, one usage row
per account per day and event for 180 days), then `canary score --json` runs as a separate
process, timed from start to exit: loading facts, computing signals, scoring, snapshots,
roll-ups, benchmarks and alerts.
"""

from __future__ import annotations

import compileall
import datetime as dt
import hashlib
import inspect
import json
import os
import re
import resource
import shutil
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
SEED = int(os.environ.get("BENCH_SCORE_SEED", "7"))


def fill(path: Path) -> None:
    """Accounts, subscriptions and usage written by SQL alone (recursive CTEs), in the order of the
    unique key. The usage_monthly trigger is lifted while the rows go in and its roll-up is then made in
    one grouped INSERT (what the trigger would have written), the trigger put back as it was.

    Counts are a seeded formula, not random draws (`BENCH_SCORE_SEED`: the same seed, the same file): each
    account draws a profile from a multiplicative hash of its id and the seed — thriving (two
    users, both events, few seats), steady, declining (active one day in three over the last 14 days) or
    gone quiet (no usage over its last 5..24 days) — so the run meets every band, reasons and alerts."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    now = "2026-11-20 00:00:00.000000"
    as_of = AS_OF.isoformat()
    conn.execute("INSERT INTO tenants (id, slug, name, created_at) VALUES (1, 'bench', 'Bench', ?)", (now,))
    numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :accounts) "
    # h(salt): a deterministic draw in 0..999 per account, salt and seed.
    def h(salt: int) -> str:
        return f"(((i + {salt} * 7919 + :seed * 104729) * 2654435761) % 1000003 % 1000)"
    profile = (f"CASE WHEN {h(1)} < 200 THEN 0 WHEN {h(1)} < 750 THEN 1 WHEN {h(1)} < 900 THEN 2 ELSE 3 END")
    profiles = numbers + f", p(i, kind, draw) AS (SELECT i, {profile}, {h(2)} FROM n) "
    args = {"accounts": ACCOUNTS, "now": now, "as_of": as_of, "seed": SEED}
    conn.execute(
        numbers + "INSERT INTO accounts (id, tenant_id, name, domain, segment, lifecycle_stage, tier, created_at, "
        "updated_at) SELECT i, 1, 'Company ' || i, 'c' || i || '.example', "
        "CASE i % 3 WHEN 0 THEN 'smb' WHEN 1 THEN 'mid_market' ELSE 'enterprise' END, 'customer', 'growth', "
        ":now, :now FROM n", args)
    # Seats by profile: the thriving use most of theirs, the quiet few.
    conn.execute(
        profiles + "INSERT INTO subscriptions (tenant_id, account_id, system, external_id, arr, seats_purchased, "
        "start_date, renewal_date, status, updated_at) SELECT 1, i, 'salesforce', '006' || i, 10000 + i % 90000, "
        "CASE kind WHEN 0 THEN 2 + draw % 2 WHEN 1 THEN 2 + draw % 5 WHEN 2 THEN 4 + draw % 9 ELSE 5 + draw % 16 END, "
        "'2025-01-01', date(:as_of, '+' || (30 + i % 500) || ' days'), 'active', :now FROM p", args)
    trigger = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'usage_monthly_insert'"
                           ).fetchone()[0]
    conn.execute("DROP TRIGGER usage_monthly_insert")
    # Per profile: users (thriving 2, else 1), events (the quiet log in only), the declining's last 14 days one
    # day in three at a lower count, the quiet's silent last 5..24 days; counts vary by account, day and event.
    conn.execute(
        profiles + ", d(back) AS (SELECT 0 UNION ALL SELECT back + 1 FROM d WHERE back < :days - 1), "
        "u(user) AS (VALUES (0), (1)), "
        "e(k, event) AS (VALUES " + ", ".join(f"({k}, '{name}')" for k, name in enumerate(EVENTS)) + ") "
        "INSERT INTO usage_daily (tenant_id, account_id, user_key, event, day, count, minutes) "
        "SELECT 1, i, 'u' || (i % 3 + 3 * user), event, date(:as_of, '-' || back || ' days'), "
        "CASE WHEN kind = 2 AND back < 14 THEN 1 ELSE 2 + (4 - kind) * (draw % 3) END "
        "+ (i * 31 + back * 17 + k * 7 + user * 5) % 3, 20.0 "
        "FROM p, u, e, d WHERE (user = 0 OR kind = 0) AND (k = 0 OR kind < 3) "
        "AND NOT (kind = 2 AND back < 14 AND back % 3 != 0) AND NOT (kind = 3 AND back < 5 + draw % 20) "
        "ORDER BY i, user, event, back DESC",
        {**args, "days": DAYS})
    for event_column in ("event", "''"):
        conn.execute(
            "INSERT INTO usage_monthly (tenant_id, account_id, user_key, event, month, days, count) "
            f"SELECT tenant_id, account_id, user_key, {event_column}, date(day, 'start of month'), "
            "sum(DISTINCT 1 << (CAST(strftime('%d', day) AS INTEGER) - 1)), sum(count) FROM usage_daily "
            f"GROUP BY tenant_id, account_id, user_key, {event_column}, date(day, 'start of month')")
    conn.execute(trigger)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def machine_pace() -> float:
    """Seconds this machine takes, now, for a fixed piece of work like the run's (Python loops and dicts, an SQLite
    insert and read): printed before and after the run. The line is an absolute time, and on a shared machine the
    same code's run took 29.6 s in one window and 63.1 s in another: the pace tells a slow window from a slow run."""
    started = time.perf_counter()
    table: dict[int, int] = {}
    for i in range(1_000_000):
        table[i % 5003] = table.get(i % 5003, 0) + i
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c REAL)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", ((i, f"row {i}", i / 3) for i in range(200_000)))
    conn.execute("SELECT count(*), sum(length(b)) FROM t GROUP BY a % 7").fetchall()
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "score.db"
        url = f"sqlite:///{db}"
        started = time.perf_counter()
        # BENCH_SCORE_FILLED=FILE keeps the filled file there and copies it on later runs (iterating).
        kept = Path(os.environ["BENCH_SCORE_FILLED"]) if os.environ.get("BENCH_SCORE_FILLED") else None
        # The kept file is reused only if this fill made it (its sizes, seed and the fill's source): a sidecar.
        recipe = json.dumps({"accounts": ACCOUNTS, "days": DAYS, "seed": SEED, "fill": hashlib.sha256(
            inspect.getsource(fill).encode()).hexdigest()[:16]}, sort_keys=True)
        sidecar = kept.with_name(kept.name + ".fill") if kept is not None else None
        if kept is not None and sidecar is not None and kept.exists() and sidecar.exists() \
                and sidecar.read_text() == recipe:
            shutil.copyfile(kept, db)
            upgrade(url)  # a file kept before a newer migration: migrated as an installation would be
        else:
            if kept is not None and kept.exists():
                print(f"  {kept} was not made by this fill: filled again")
            upgrade(url)
            fill(db)
            if kept is not None and sidecar is not None:
                shutil.copyfile(db, kept)
                sidecar.write_text(recipe)
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT count(*) FROM usage_daily").fetchone()[0]
        print(f"score e2e: {ACCOUNTS:,} accounts, {rows:,} UsageDaily rows ({DAYS} days) written in "
              f"{time.perf_counter() - started:.0f} s (setup, not measured)")
        # The project's modules compiled to bytecode, as an installation has them (`make` compiles them at install;
        # a module edited since is compiled here, not at the run's imports): setup, not measured.
        compileall.compile_dir(ROOT, quiet=1, workers=0,
                               rx=re.compile(r"/(\.venv|\.git|tests|bench|build|node_modules)/"))
        env = {**os.environ, "DATABASE_URL": url, "CANARY_SECRET_KEY": "bench-score-secret-key-0123456789",
               "PYTHONPATH": str(ROOT)}
        load = os.getloadavg()
        pace_before = machine_pace()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", "from app import main; main()", "score", "--as-of",
                              AS_OF.isoformat(), "--history-days", "1", "--json", "--timings"], cwd=ROOT, env=env,
                             capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"canary score failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
        took = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        print(f"  canary score (end to end, one process): {took:.1f} s = {ACCOUNTS / took:,.0f} accounts/s; "
              f"CPU {cpu:.1f} s; peak memory {after.ru_maxrss / 1024:,.0f} MiB (ru_maxrss of the child); "
              f"load before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, after "
              + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        print(f"  machine pace (a fixed piece of Python and SQLite work, same process as this bench): "
              f"{pace_before:.2f} s before the run, {machine_pace():.2f} s after")
        for line in out.stderr.splitlines():
            if line.startswith("timing "):
                print("   ", line)
        print(f"  summary: {out.stdout.strip().splitlines()[-1][:300]}")


if __name__ == "__main__":
    main()
