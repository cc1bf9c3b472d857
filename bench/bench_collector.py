"""Events per second through POST /v1/batch, next to a direct executemany insert of the same rows.

The collector validates every message, de-duplicates by messageId, creates accounts and users
on first sight and folds events into daily aggregates; the baseline only inserts one row per
event with sqlite3's executemany. Both run on SQLite files in a temp dir, in the same run, and
both have their input ready before the clock starts (the request bodies, the baseline's tuples).
The figure is the collector's throughput as a share of the baseline's (issue 18: at least 0.2).
The collector accepts, then folds (`collector.inbox`): the ratio is the acceptance throughput (parse, validate,
claim the message ids, store the batch in the inbox), timed with the fold job held back, as when it runs in a
worker process of its own; then the fold job drains the inbox and its figures follow: events folded per second,
and the time from the last answer until every event is folded (accounts, users, daily and monthly usage).
The app's objects are frozen out of the cyclic collector before timing, as `canary serve` does
(``BENCH_COLLECTOR_FREEZE=0`` times the collector without that). CPU seconds of the process are
printed beside the wall-clock figures: the machine is shared, and CPU time is the steadier measure.
"""

from __future__ import annotations

import base64
import datetime as dt
import gc
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jobs
from app import create_app
from extensions import canary_store, health_model
from sandbox.core import LoopbackServer
from store.migrate import upgrade
from store.models import CollectorInbox, UsageDaily
from store.tenants import create_tenant

EVENTS = int(os.environ.get("BENCH_COLLECTOR_EVENTS", "60000"))
BATCH = 1000
KEY = "wk_bench_collector_key"
FEATURES = ["Logged In", "Report Created", "Dashboard Viewed", "Automation Run", "Data Exported"]


def make_events(n: int) -> list[dict[str, object]]:
    start = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    events: list[dict[str, object]] = []
    for i in range(n):
        account = i % 500
        events.append({
            "type": "track", "messageId": f"m-{i}", "userId": f"u-{account}-{i % 17}",
            "event": FEATURES[i % len(FEATURES)], "properties": {"minutes": 5},
            "context": {"groupId": f"g-{account}"},
            "timestamp": (start + dt.timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
        })
    return events


def through_collector(bodies: list[tuple[bytes, int]], tmp: Path) -> tuple[float, float, float, float]:
    url = f"sqlite:///{tmp / 'collector.db'}"
    upgrade(url)
    app = create_app({"TESTING": True, "SECRET_KEY": "bench-secret-key-0123456789", "DATABASE_URL": url})
    with canary_store(app).session() as s:
        create_tenant(s, "bench", "Bench", write_key=KEY)
    with app.app_context():
        health_model()  # read once per process (the shipped model's YAML), as a server has it before its requests
    if os.environ.get("BENCH_COLLECTOR_FREEZE", "1") == "1":
        # As `canary serve` does before forking its workers (`cli.serve._pre_fork`): what loading the app made
        # is moved out of the cyclic collector's reach, so a full collection walks only what requests make.
        gc.collect()
        gc.freeze()
    server = LoopbackServer(app).start()
    session = requests.Session()
    headers = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode(),
               "Content-Type": "application/json"}
    release = threading.Event()
    queue = jobs.queue_of(app)
    queue.submit(release.wait, 600)  # the fold job waits behind this until the last answer
    try:
        started, cpu = time.perf_counter(), time.process_time()
        for body, count in bodies:
            r = session.post(f"{server.url}/v1/batch", data=body, headers=headers, timeout=60)
            r.raise_for_status()
            assert r.json()["accepted"] == count, r.text[:300]
        accept_s, accept_cpu = time.perf_counter() - started, time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        release.set()
        queue.drain(timeout=600)
        fold_s, fold_cpu = time.perf_counter() - started, time.process_time() - cpu
        with canary_store(app).session() as s:
            left = s.scalar(select(func.count()).select_from(CollectorInbox))
            folded = s.scalar(select(func.coalesce(func.sum(UsageDaily.count), 0)))
        assert left == 0 and folded == EVENTS, (left, folded)
        return accept_s, accept_cpu, fold_s, fold_cpu
    finally:
        release.set()
        server.stop()
        gc.unfreeze()


def executemany_baseline(rows: list[tuple[object, ...]], tmp: Path) -> tuple[float, float]:
    conn = sqlite3.connect(tmp / "raw.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE events (message_id TEXT, user_id TEXT, group_id TEXT, event TEXT, ts TEXT,"
                 " minutes REAL)")
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(rows), BATCH):
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows[i : i + BATCH])
        conn.commit()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    conn.close()
    return elapsed, cpu


def prepare(n: int) -> tuple[list[tuple[bytes, int]], list[tuple[object, ...]]]:
    """The request bodies and the baseline's tuples. The events themselves are dropped before timing:
    client and server share this process, and the client's 180,000 dicts would only lengthen the
    server's garbage collections, which a collector process never holds."""
    events = make_events(n)
    bodies = [(json.dumps({"batch": events[i : i + BATCH]}).encode(), len(events[i : i + BATCH]))
              for i in range(0, len(events), BATCH)]
    rows: list[tuple[object, ...]] = [(e["messageId"], e["userId"], e["context"]["groupId"], e["event"], e["timestamp"],  # type: ignore[index]
             e["properties"]["minutes"]) for e in events]  # type: ignore[index]
    return bodies, rows


def main() -> None:
    bodies, rows = prepare(EVENTS)
    gc.collect()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        collector_s, collector_cpu, fold_s, fold_cpu = through_collector(bodies, tmp)
        raw_s, raw_cpu = executemany_baseline(rows, tmp)
    print(f"collector: {EVENTS} events in batches of {BATCH} through POST /v1/batch over loopback HTTP")
    print(f"  POST /v1/batch          : {collector_s:8.2f} s  {EVENTS / collector_s:10,.0f} events/s")
    print(f"  sqlite executemany (raw): {raw_s:8.2f} s  {EVENTS / raw_s:10,.0f} events/s")
    print(f"  collector throughput / executemany floor: {raw_s / collector_s:.3f} (issue 18 asks >= 0.2)")
    print(f"  CPU per event (whole process: client, server and database): collector "
          f"{collector_cpu / EVENTS * 1e6:.1f} us, executemany {raw_cpu / EVENTS * 1e6:.1f} us, "
          f"ratio {raw_cpu / collector_cpu:.3f}")
    print(f"  fold job (after the last answer): {fold_s:8.2f} s  {EVENTS / fold_s:10,.0f} events/s folded, "
          f"CPU {fold_cpu / EVENTS * 1e6:.1f} us per event")
    print(f"  every event folded {fold_s:.2f} s after the last answer (the fold held back during the POSTs, so this "
          f"is the whole fold; a fold keeping pace runs beside the requests on a worker's core)")


if __name__ == "__main__":
    main()
