"""Where the collector's time goes: per-phase CPU of `bench_collector`'s batches, in process (no HTTP).

Accepts the same batches `bench_collector` posts as a request does (`read_body`, then `collector.inbox.accept_usual`
for a batch of usual messages, else `accept`: the users' placement, the message ids' claim, the inbox blob, the
commit), then folds the inbox as the fold job
does (`fold_pending`: each step of `collector.ingest`), and prints per event the process CPU of each phase and of
each SQL statement, the request's and the fold's apart (CPU of this process while the statement runs: SQLite runs
in it). With ``BENCH_COLLECTOR_URL`` set to a PostgreSQL URL
(an empty database) the statements' server CPU is read from the backend's ``/proc/<pid>/stat`` (10 ms ticks,
summed over the run). ``BENCH_COLLECTOR_SPREAD=1`` spreads each batch's events over 50 days (an import of history:
few users and events per batch, many days), where the monthly roll-up folds many daily rows into few.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_collector import BATCH, FEATURES, KEY, make_events
from sqlalchemy import event

import collector.inbox as inbox_module
import collector.ingest as ingest_module
from app import create_app
from collector.messages import UsualColumns, read_body
from extensions import canary_store, health_model
from store.migrate import upgrade
from store.tenants import create_tenant

EVENTS = int(os.environ.get("BENCH_COLLECTOR_EVENTS", "60000"))
REQUEST_STEPS = ("_placed", "claim_ids", "_encode_rows")
FOLD_STEPS = ("_AccountResolver", "_known_users", "_store_users", "_store_event_types", "_store_usage", "fold_messages")
stage = ["request"]
phase: dict[str, float] = defaultdict(float)
statement: dict[str, float] = defaultdict(float)
server: dict[str, float] = defaultdict(float)


def timed(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return f(*args, **kwargs)
        finally:
            phase[name] += time.process_time() - started
    return run


def spread(events: list[dict[str, Any]]) -> None:
    start = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    for i, e in enumerate(events):
        account = (i // 50) % 500
        e.update(userId=f"u-{account}-{i % 2}", context={"groupId": f"g-{account}"}, event=FEATURES[(i // 10) % 5],
                 timestamp=(start + dt.timedelta(days=i % 50, minutes=i)).isoformat().replace("+00:00", "Z"))


def backend_cpu(conn: Any) -> float:
    with open(f"/proc/{conn.connection.dbapi_connection.info.backend_pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    events = make_events(EVENTS)
    if os.environ.get("BENCH_COLLECTOR_SPREAD") == "1":
        spread(events)
    bodies = [json.dumps({"batch": events[i : i + BATCH]}).encode() for i in range(0, EVENTS, BATCH)]
    del events
    for name in REQUEST_STEPS:
        setattr(inbox_module, name, timed(f"request: {name}", getattr(inbox_module, name)))
    for name in FOLD_STEPS:
        setattr(ingest_module, name, timed(f"fold: {name}", getattr(ingest_module, name)))
    inbox_module.fold_messages = ingest_module.fold_messages
    with tempfile.TemporaryDirectory() as d:
        url = os.environ.get("BENCH_COLLECTOR_URL") or f"sqlite:///{d}/collector.db"
        postgres = url.startswith("postgresql")
        upgrade(url)
        app = create_app({"TESTING": True, "SECRET_KEY": "bench-secret-key-0123456789", "DATABASE_URL": url})
        store = canary_store(app)
        with store.session() as s:
            tenant_id = create_tenant(s, "bench", "Bench", write_key=KEY)[0].id
        started: dict[str, float] = {}

        @event.listens_for(store.engine, "before_cursor_execute")
        def before(conn: Any, *_: Any) -> None:
            started["cpu"] = time.process_time()
            if postgres:
                started["server"] = backend_cpu(conn)

        @event.listens_for(store.engine, "after_cursor_execute")
        def after(conn: Any, cursor: Any, sql: str, *_: Any) -> None:
            key = f"{stage[0]:7s} " + " ".join(sql.split())[:60]
            statement[key] += time.process_time() - started["cpu"]
            if postgres:
                server[key] += backend_cpu(conn) - started["server"]

        gc.collect()
        gc.freeze()
        with app.app_context():
            milestones = frozenset(health_model().signals.milestones)
            now = dt.datetime.now(dt.UTC)
            total = time.process_time()
            for body in bodies:
                parsed = timed("request: read_body", read_body)(body, now)
                assert parsed is not None
                if type(parsed) is UsualColumns:
                    result = timed("request: accept_usual (all, commit included)", inbox_module.accept_usual)(
                        store, tenant_id, parsed, milestones=milestones)
                    assert result.accepted == len(parsed), result.as_dict()
                else:
                    good, bad = parsed
                    result = timed("request: accept (all, commit included)", inbox_module.accept)(
                        store, tenant_id, good, bad, milestones=milestones)
                    assert result.accepted == len(good), result.as_dict()
            total = time.process_time() - total
            stage[0] = "fold"
            fold = time.process_time()
            folded = timed("fold: fold_pending (all)", inbox_module.fold_pending)(store, tenant_id)
            fold = time.process_time() - fold
            assert folded.messages == EVENTS, folded.as_dict()
        gc.unfreeze()
        store.dispose()
    per = 1e6 / EVENTS
    print(f"collector phases: {EVENTS} events in batches of {BATCH}, in process (no HTTP), CPU us per event")
    for name, seconds in phase.items():
        print(f"  {name:40s} {seconds * per:8.2f}")
    print(f"  {'request: whole loop':40s} {total * per:8.2f}")
    print(f"  {'fold: whole':40s} {fold * per:8.2f}")
    print("statements (this process's CPU" + (", PostgreSQL server CPU)" if postgres else ")"))
    for key, seconds in sorted(statement.items(), key=lambda kv: -(server[kv[0]] + kv[1]))[:16]:
        extra = f"  server {server[key] * per:8.2f}" if postgres else ""
        print(f"  {seconds * per:8.2f}{extra}  {key}")
    if postgres:
        print(f"  server CPU of all statements: {sum(server.values()) * per:.1f} us per event")


if __name__ == "__main__":
    main()
