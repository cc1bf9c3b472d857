"""Tasks in the CRMs: the calls a push spends on 1,000 new tasks per CRM, next to the physical minimum.

Run with ``.venv/bin/python bench/bench_tasks.py`` (``make bench`` runs every bench script). On the
sandbox (no faults): a full sync, 1,000 tasks per CRM made through `sync.tasks.create_task`, one push;
then the same push again (nothing to do), 100 tasks completed in the emulated CRMs, the sync that
brings that back, and the push after it (nothing to send). Prints plain numbers; asserts nothing.

Minimum: Salesforce sObject Collections take 200 records a call (ceil(1000/200) = 5), HubSpot's batch
create 100 inputs (ceil(1000/100) = 10). A first push also spends the calls that make the task key
field (shown apart).
"""

from __future__ import annotations

import logging
import math
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select

from cli.demo import sandbox_connections
from sandbox.server import Sandbox
from store.db import Store
from store.migrate import upgrade
from store.models import SourceLink
from store.tenants import create_tenant
from sync.connections import build_adapter
from sync.runner import sync
from sync.tasks import create_task, push_tasks

AS_OF = date(2026, 11, 30)
TASKS = 1_000
BATCH = {"salesforce": 200, "hubspot": 100}


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as folder, Sandbox(
            accounts=1_200, seed=7, as_of=AS_OF, hubspot={"requests_per_10s": 100_000, "search_lag_seconds": 0},
            zendesk={"plan": "enterprise_plus", "incremental_requests_per_minute": None}) as box:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        store = Store(url)
        with store.session() as s:
            tenant = create_tenant(s, "bench", "Bench")[0].id
        adapters = {system: build_adapter(system, creds, base)
                    for system, (creds, base, _ref) in sandbox_connections(box).items()}
        sync(store, tenant, adapters)
        with store.session(tenant) as s:
            linked = {system: {a for a in s.scalars(select(SourceLink.account_id).where(
                SourceLink.system == system, SourceLink.account_id.is_not(None))) if a is not None} for system in BATCH}
        for system in BATCH:
            other = next(o for o in BATCH if o != system)
            accounts = sorted(linked[system] - linked[other])  # in this CRM only: 1,000 tasks land in it alone
            with store.session(tenant) as s:
                for n in range(TASKS):
                    create_task(s, accounts[n % len(accounts)], f"Bench task {system} {n}", source="play",
                                due_date=AS_OF + timedelta(days=n % 14))
        print(f"{'push of new tasks':<40} {'tasks':>6} {'calls':>6} {'create':>7} {'minimum':>8} {'setup':>6}"
              f" {'seconds':>8}")
        for system in BATCH:
            adapter = adapters[system]
            started = time.perf_counter()
            summary = push_tasks(store, tenant, system, adapter)
            elapsed = time.perf_counter() - started
            minimum = math.ceil(summary.created / BATCH[system])
            setup = summary.calls - summary.create_calls - summary.update_calls - summary.lookups
            print(f"{system:<40} {summary.created:>6} {summary.calls:>6} {summary.create_calls:>7} {minimum:>8}"
                  f" {setup:>6} {elapsed:>8.2f}")
        for system in BATCH:
            again = push_tasks(store, tenant, system, adapters[system])
            print(f"{system + ': the same push again':<40} {again.considered:>6} {again.calls:>6}")
        edits = box.work_tasks(complete=100, seed=3)
        spent = {system: adapters[system].calls for system in BATCH}
        pulled = sync(store, tenant, adapters, objects=("tasks",))
        for system in BATCH:
            after = push_tasks(store, tenant, system, adapters[system])
            done_here = sum(1 for e in edits if e.system == system)
            print(f"{system + ': completed there, pulled back':<40} {done_here:>6} "
                  f"{adapters[system].calls - spent[system]:>6}  (changed in Canary: "
                  f"{pulled.systems[system].objects['tasks'].changed}; the push after: {after.calls} calls)")

if __name__ == "__main__":
    main()
