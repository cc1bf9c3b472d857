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
The bodies are posted, one at a time over one connection, by `collector_client` in a process of its own
(a collector is posted to by other machines), which times from its first request sent to its last answer read:
that is the figure. The earlier line follows, labelled: a `requests` session in the server's own process posts
the same bodies to a second collector (client and server then share the process and its GIL).
The app's objects are frozen out of the cyclic collector before timing, as `canary serve` does
(``BENCH_COLLECTOR_FREEZE=0`` times the collector without that). CPU seconds of the server's process (and of
the client's) are printed beside the wall-clock figures: the machine is shared, and CPU time is the steadier measure.
The separate client's figure and its floor are measured in ``BENCH_COLLECTOR_ROUNDS`` rounds (default 5), each a
fresh collector then a fresh floor, one after the other: every round's ratio is printed, and the figure is their
median (on a shared 2-core machine one run's ratio moved between 0.17 and 0.31 with the code unchanged).
"""

from __future__ import annotations

import base64
import datetime as dt
import gc
import json
import os
import sqlite3
import subprocess
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
ROUNDS = max(1, int(os.environ.get("BENCH_COLLECTOR_ROUNDS", "5")))
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


def through_collector(bodies: list[tuple[bytes, int]], tmp: Path, *, separate_client: bool, round_: int = 0
                      ) -> dict[str, float]:
    """Post ``bodies`` to a fresh collector (its own SQLite file) and fold them; the timings.

    ``separate_client``: the bodies are posted by `collector_client` in a process of its own (as other machines
    post to a collector), which times from its first request to its last answer; ``accept_cpu`` is then this
    process's CPU (the server's alone) over the client's run. Otherwise a `requests` session in this process posts
    them (the earlier line: client and server share the process and its GIL)."""
    name = "separate" if separate_client else "inprocess"
    url = f"sqlite:///{tmp / f'collector-{name}-{round_}.db'}"
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
    authorization = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    release = threading.Event()
    queue = jobs.queue_of(app)
    queue.submit(release.wait, 600)  # the fold job waits behind this until the last answer
    out: dict[str, float] = {}
    try:
        if separate_client:
            bodies_file = tmp / "bodies.txt"
            with open(bodies_file, "wb") as f:
                for body, count in bodies:
                    f.write(b"%d\t%s\n" % (count, body))
            cpu = time.process_time()
            done = subprocess.run([sys.executable, str(Path(__file__).with_name("collector_client.py")),
                                   str(bodies_file), "127.0.0.1", str(server.port), authorization],
                                  capture_output=True, text=True, timeout=600)
            out["accept_cpu"] = time.process_time() - cpu
            if done.returncode != 0:
                raise RuntimeError(f"collector_client failed: {done.stderr[-2000:]}")
            timing = json.loads(done.stdout)
            out["accept_s"], out["client_cpu"] = timing["wall"], timing["cpu"]
        else:
            session = requests.Session()
            headers = {"Authorization": authorization, "Content-Type": "application/json"}
            started, cpu = time.perf_counter(), time.process_time()
            for body, count in bodies:
                r = session.post(f"{server.url}/v1/batch", data=body, headers=headers, timeout=60)
                r.raise_for_status()
                assert r.json()["accepted"] == count, r.text[:300]
            out["accept_s"], out["accept_cpu"] = time.perf_counter() - started, time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        release.set()
        queue.drain(timeout=600)
        out["fold_s"], out["fold_cpu"] = time.perf_counter() - started, time.process_time() - cpu
        with canary_store(app).session() as s:
            left = s.scalar(select(func.count()).select_from(CollectorInbox))
            folded = s.scalar(select(func.coalesce(func.sum(UsageDaily.count), 0)))
        assert left == 0 and folded == EVENTS, (left, folded)
        return out
    finally:
        release.set()
        server.stop()
        canary_store(app).dispose()
        gc.unfreeze()


def executemany_baseline(rows: list[tuple[object, ...]], tmp: Path, round_: int = 0) -> tuple[float, float]:
    conn = sqlite3.connect(tmp / f"raw-{round_}.db")
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
    rounds: list[tuple[dict[str, float], float, float]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for k in range(ROUNDS):  # each round: a fresh collector, then the floor on a fresh file
            separate = through_collector(bodies, tmp, separate_client=True, round_=k)
            rounds.append((separate, *executemany_baseline(rows, tmp, round_=k)))
        inprocess = through_collector(bodies, tmp, separate_client=False)
    ratios = [raw_s / run["accept_s"] for run, raw_s, _ in rounds]
    middle = sorted(range(len(rounds)), key=lambda k: ratios[k])[len(rounds) // 2]
    separate, raw_s, raw_cpu = rounds[middle]
    print(f"collector: {EVENTS} events in batches of {BATCH} through POST /v1/batch over loopback HTTP, "
          f"{ROUNDS} round(s)")
    for k, (run, floor_s, floor_cpu) in enumerate(rounds):
        print(f"  round {k + 1}: floor {floor_s:5.2f} s ({EVENTS / floor_s:8,.0f} events/s), "
              f"POST {run['accept_s']:5.2f} s ({EVENTS / run['accept_s']:7,.0f} events/s), ratio {ratios[k]:.3f}; "
              f"CPU per event: server "
              f"{run['accept_cpu'] / EVENTS * 1e6:.1f} us, floor {floor_cpu / EVENTS * 1e6:.1f} us")
    print(f"  median round ({middle + 1}) below; ratios min {min(ratios):.3f}, median {ratios[middle]:.3f}, "
          f"max {max(ratios):.3f}")
    print(f"  sqlite executemany (raw): {raw_s:8.2f} s  {EVENTS / raw_s:10,.0f} events/s   "
          f"CPU {raw_cpu / EVENTS * 1e6:.1f} us per event")
    for label, run, cpu_note in (
            ("client in a process of its own (the figure: the median round)", separate, "server process"),
            ("client in the server's process (earlier line: requests shares the GIL; one run, against the median "
             "round's floor)", inprocess, "whole process: client, server and database")):
        accept_s, accept_cpu = run["accept_s"], run["accept_cpu"]
        print(f"  {label}:")
        print(f"    POST /v1/batch          : {accept_s:8.2f} s  {EVENTS / accept_s:10,.0f} events/s")
        print(f"    collector throughput / executemany floor: {raw_s / accept_s:.3f} (issue 18 asks >= 0.2)")
        client = (f", client process {run['client_cpu'] / EVENTS * 1e6:.1f} us" if "client_cpu" in run else "")
        print(f"    CPU per event ({cpu_note}): collector {accept_cpu / EVENTS * 1e6:.1f} us{client}, "
              f"executemany {raw_cpu / EVENTS * 1e6:.1f} us, ratio {raw_cpu / accept_cpu:.3f}")
        print(f"    fold job (after the last answer): {run['fold_s']:8.2f} s  {EVENTS / run['fold_s']:10,.0f} events/s "
              f"folded, CPU {run['fold_cpu'] / EVENTS * 1e6:.1f} us per event")
    print("  (each fold was held back during its POSTs, so it is the whole fold; a fold keeping pace runs beside the "
          "requests on a worker's core)")


if __name__ == "__main__":
    main()
