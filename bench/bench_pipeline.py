"""Sync and write-back on a 10,000-company sandbox, measured against the emulators themselves.

Prints, in one run:
- seconds and records/s of a full pull (accounts, contacts, deals, tickets, satisfaction) from all
  three systems through the real SDKs, next to the emulators' raw page-serving rate (the same
  list endpoints walked with plain `requests`, no SDK, no store);
- floor 2: the pull's own requests (recorded on the wire, `bench.same_requests`: the same endpoints, fields,
  properties, associations, page sizes and look-ups) sent again with plain `requests`, and the pull's ratio to it;
- with ``BENCH_PIPELINE_PARTS=1`` (or ``detail``) the pull's CPU by part, from sampled stacks (`bench.cpu_parts`);
- precision and recall of account linking against truth.json;
- API calls spent to push 10,000-ish changed scores per system, next to the physical minimum (Zendesk:
  ceil(N/100) update_many + ceil(jobs/100) show_many polls);
- a sync right after the push, once the vendors show the writes (the emulators' clock moved two minutes on):
  its calls per system next to the objects pulled, its list calls, and how many records it counted changed
  (Canary's own writes must count none);
- "served apart" (``BENCH_PIPELINE_APART=0`` leaves it out): the full pull and both floors again with the same
  sandbox served by a separate process (`sandbox.process.SandboxProcess`), as the vendors are other machines: the
  emulators' CPU is not this process's, and is printed beside it.
``BENCH_PIPELINE_ROUNDS`` (3): rounds of the served-apart part, each its floor 1 then a pull; the median ratio.
``BENCH_PIPELINE_DUMP=FILE`` writes the stored rows after the first full pull (`dump_rows`), to compare writers.
``BENCH_PIPELINE_ONLY=apart`` runs only the served-apart part (the full pull and both floors; with
``BENCH_PIPELINE_DUMP`` its stored rows): the lines that matter for the pull's speed, in a third of the time; by
default every part runs. The machine's pace (`bench_score_e2e.machine_pace`) is printed before and after it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu_parts import CpuParts
from bench.same_requests import Recorded, replay
from bench.workspace import sandbox_workspace
from cli.demo import SANDBOX_OPTIONS, sandbox_connections
from sandbox.process import SandboxProcess
from sandbox.server import Sandbox
from store.db import Store
from store.migrate import upgrade
from store.models import Account, HealthSnapshot, SourceLink, Tenant
from store.tenants import create_tenant
from sync.connections import build_adapter
from sync.identity import pairwise_quality
from sync.push import push
from sync.runner import sync

COMPANIES = int(os.environ.get("BENCH_PIPELINE_COMPANIES", "10000"))
APART = os.environ.get("BENCH_PIPELINE_APART", "1") != "0"
"""Also pull with the sandbox served by a separate process (`apart`); ``0`` leaves it out."""
DUMP = os.environ.get("BENCH_PIPELINE_DUMP", "")
ONLY = os.environ.get("BENCH_PIPELINE_ONLY", "")
"""``apart``: only the served-apart part (`apart`); empty: every part."""
APART_ROUNDS = max(1, int(os.environ.get("BENCH_PIPELINE_ROUNDS", "3")))
"""Rounds of the served-apart part (`apart`): floor 1 walked, then a full pull; the median ratio is printed."""
PARTS = os.environ.get("BENCH_PIPELINE_PARTS", "")
"""``1``: sample the full pull's stacks and print its CPU by part (`bench.cpu_parts`; costs a few per cent);
``detail``: each part's most sampled innermost functions too."""
"""A file to write the stored rows to after the full pull (`dump_rows`), to compare two versions of the writer."""
LIMITS: dict[str, Any] = {"hubspot": {"requests_per_10s": 1_000_000, "daily_api_limit": 10_000_000},
                          "zendesk": {"plan": "enterprise_plus", "incremental_requests_per_minute": None,
                                      "requests_per_minute": 1_000_000},
                          "salesforce": {"daily_api_limit": 10_000_000}}


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def raw_salesforce(c: dict[str, Any]) -> int:
    sf = _session()
    sf.verify = c["cert_path"]
    sf.headers.update({"Authorization": f"Bearer {c['session_id']}", "Sforce-Query-Options": "batchSize=2000"})
    total = 0
    for soql in ("SELECT Id, Name, Website, SystemModstamp FROM Account",
                 "SELECT Id, Email, AccountId, SystemModstamp FROM Contact",
                 "SELECT Id, Amount, AccountId, SystemModstamp FROM Opportunity",
                 "SELECT Id, Priority, AccountId, SystemModstamp FROM Case"):
        url: str | None = f"{c['instance_url']}/services/data/v60.0/query?q={soql}"
        while url:
            body = sf.get(url, timeout=60).json()
            total += len(body["records"])
            nxt = body.get("nextRecordsUrl")
            url = f"{c['instance_url']}{nxt}" if nxt else None
    return total


def raw_zendesk(c: dict[str, Any]) -> int:
    zd = _session()
    zd.auth = (f"{c['email']}/token", c["token"])
    total = 0
    for path, key in (("organizations", "organizations"), ("users", "users"), ("tickets", "tickets"),
                      ("satisfaction_ratings", "satisfaction_ratings")):
        url: str | None = f"{c['base_url']}/api/v2/{path}.json?page[size]=100"
        while url:
            body = zd.get(url, timeout=60).json()
            total += len(body[key])
            nxt = body["links"]["next"] if body["meta"]["has_more"] else None
            # Zendesk's links are https:// on its own host; the emulator is served here (as ZendeskSession does).
            url = f"{c['base_url']}/api/v2/{nxt.split('/api/v2/', 1)[1]}" if nxt else None
    return total


def raw_hubspot(c: dict[str, Any]) -> int:
    hs = _session()
    hs.headers.update({"Authorization": f"Bearer {c['access_token']}"})
    total = 0
    for obj in ("companies", "contacts", "deals", "tickets"):
        after: str | None = ""
        while after is not None:
            page = f"&after={after}" if after else ""
            body = hs.get(f"{c['base_url']}/crm/v3/objects/{obj}?limit=100{page}", timeout=60).json()
            total += len(body["results"])
            after = body.get("paging", {}).get("next", {}).get("after")
    return total


RAW = {"salesforce": raw_salesforce, "zendesk": raw_zendesk, "hubspot": raw_hubspot}
"""Each vendor's list endpoints walked with plain requests (`raw_walk`; `bench_sdk_walk` sets each beside its SDK)."""


def same_requests_floor(box: Any, recorded: Recorded, pulled: int, pull_s: float, pull_cpu: float,
                        summary: Any, serving: Any) -> None:
    """The second floor (`bench.same_requests`): the pull's own requests sent again with plain requests, and the
    pull's ratio to it (by the clock; by this process's CPU; without the reports prepared after the pull too).
    ``serving``: the sandbox process's CPU seconds, read before and after, when it serves apart."""
    before = serving() if serving else 0.0
    answers, records, seconds, cpu, statuses = replay(recorded.requests, box.credentials["salesforce"]["cert_path"])
    served = f", the sandbox process {serving() - before:.1f} CPU s" if serving else ""
    waited = statuses.pop((429, 429), 0)
    bad = {f"{pulled_as} -> {now}": n for (pulled_as, now), n in statuses.items()}
    methods = Counter(r.method for r in recorded.requests)
    print(f"  floor 2, the pull's own requests replayed (same endpoints, fields, properties, associations, page "
          f"sizes, look-ups; {', '.join(f'{n:,} {m}' for m, n in methods.most_common())}), plain requests, no SDK, "
          f"no store: {answers:,} answers holding {records:,} records in {seconds:.1f} s, {cpu:.1f} CPU s here{served}"
          f"; {waited} answers 429 (the vendor's rate limit) waited out and sent again"
          + (f"; NOT ANSWERED AS IN THE PULL: {bad}" if bad else ""))
    reports_s, reports_cpu = summary.phases.get("reports", (0.0, 0.0))
    print(f"  ratio to floor 2 (the same pages' records/s, pull over replay = replay time / pull time): "
          f"{seconds / pull_s:.3f} by the clock, {cpu / pull_cpu:.3f} by CPU time here; without the reports prepared "
          f"after the pull: {seconds / (pull_s - reports_s):.3f} by the clock, {cpu / (pull_cpu - reports_cpu):.3f} "
          f"by CPU ({pulled:,} records pulled; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def linking(store: Store, tenant_id: int, truth_path: Any) -> None:
    """Account linking against truth.json: pairwise precision and recall, printed."""
    truth = json.loads(Path(truth_path).read_text())
    true_groups = [[(r["system"], r["id"]) for r in g["records"]] for g in truth["same_customer_groups"]]
    groups: dict[int, list[tuple[str, str]]] = {}
    with store.session(tenant_id) as s:
        for system, ext, account in s.execute(
                SourceLink.__table__.select().with_only_columns(
                    SourceLink.system, SourceLink.external_id, SourceLink.account_id)):
            groups.setdefault(account, []).append((system, ext))
    precision, recall = pairwise_quality(list(groups.values()), true_groups)
    print(f"  account linking vs truth.json: precision {precision:.4f}, recall {recall:.4f}")


def apart() -> None:
    """The full pull and both floors again, the sandbox (the same seed and limits) served by a process of its own
    (`sandbox.process.SandboxProcess`), as real vendors are other machines: the emulators' CPU is no longer this
    process's, so "CPU here" is the client's alone: this process's and, for the pull, its reader processes'
    (`sync.runner.READ_APART`); the sandbox process's is printed beside it. All share the machine's cores.

    `APART_ROUNDS` rounds, each the raw walk (floor 1) and then a full pull into a new store: each round's ratio is
    taken against its own floor, walked just before it, and the median of the rounds printed after them (on a
    shared two-core machine one pair's ratio moves by a fifth from one minute to the next). The pull's own requests
    (floor 2) are replayed, and the linking checked, after the last round."""
    print(f"served apart: the same {COMPANIES:,}-company sandbox served by a separate process; "
          "'CPU here' is the client's alone (this process and the pull's reader processes); "
          f"{APART_ROUNDS} round(s) of floor 1 then the pull")
    t0 = time.perf_counter()
    with SandboxProcess(accounts=COMPANIES, seed=7, **LIMITS) as box, tempfile.TemporaryDirectory() as tmp:
        print(f"  sandbox process ready in {time.perf_counter() - t0:.1f} s")
        clock: list[float] = []
        for round_no in range(1, APART_ROUNDS + 1):
            last = round_no == APART_ROUNDS
            served = box.cpu_seconds()
            raw_records, raw_s, raw_cpu = raw_walk(box)  # type: ignore[arg-type]
            raw_served, served = box.cpu_seconds() - served, box.cpu_seconds()
            store, tenant, adapters = sandbox_workspace(tmp, f"apart{round_no}", box)
            recorded = Recorded()  # the last round's requests, for floor 2
            with recorded if last else contextlib.nullcontext():
                started, cpu, readers = time.perf_counter(), time.process_time(), readers_cpu()
                summary = sync(store, tenant.id, adapters)
                pull_s, pull_cpu = time.perf_counter() - started, time.process_time() - cpu
                readers = readers_cpu() - readers
                pull_cpu += readers
            pull_served = box.cpu_seconds() - served
            pulled = sum(o.pulled for s in summary.systems.values() for o in s.objects.values())
            ratio = pulled / pull_s / (raw_records / raw_s)
            clock.append(ratio)
            print(f"  round {round_no}/{APART_ROUNDS}")
            print(f"    full pull (apart): {pulled:,} records in {pull_s:.1f} s = {pulled / pull_s:,.0f} records/s; "
                  f"{pull_cpu:.1f} CPU s here = {pulled / pull_cpu:,.0f} records per CPU s (of which {readers:.1f} "
                  f"CPU s in its reader processes, `sync.runner.READ_APART`; the sandbox process {pull_served:.1f} "
                  "CPU s)")
            print(f"    floor 1 (apart), the raw walk of the plain list endpoints: {raw_records:,} records in "
                  f"{raw_s:.1f} s = {raw_records / raw_s:,.0f} records/s; {raw_cpu:.1f} CPU s here = "
                  f"{raw_records / raw_cpu:,.0f} records per CPU s (the sandbox process {raw_served:.1f} CPU s)")
            reports_s, reports_cpu = summary.phases.get("reports", (0.0, 0.0))
            print(f"    ratio to floor 1 (apart): {ratio:.3f} by the clock, "
                  f"{pulled / pull_cpu / (raw_records / raw_cpu):.3f} by CPU here; without the reports prepared after "
                  f"the pull: {pulled / (pull_s - reports_s) / (raw_records / raw_s):.3f} by the clock, "
                  f"{pulled / (pull_cpu - reports_cpu) / (raw_records / raw_cpu):.3f} by CPU here "
                  f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
            print("    phases, wall / CPU s here: " + ", ".join(f"{name} {wall:.1f} / {cpu:.1f}"
                                                            for name, (wall, cpu) in summary.phases.items()))
            if not last:
                store.dispose()
        print(f"  ratio to floor 1 (apart) by the clock, the median of {len(clock)} round(s): "
              f"{statistics.median(clock):.3f} (each: {', '.join(f'{r:.3f}' for r in clock)})")
        same_requests_floor(box, recorded, pulled, pull_s, pull_cpu, summary, box.cpu_seconds)
        linking(store, tenant.id, box.truth_path)
        if DUMP and ONLY == "apart":
            dump_rows(store, tenant.id, DUMP)
        store.dispose()


def readers_cpu() -> float:
    """CPU seconds of this process's ended children: the pull's reader processes (`sync.runner._ReadApart`,
    each waited for when its pull ends). The sandbox process, still running, is not among them."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def raw_walk(box: Sandbox) -> tuple[int, float, float]:
    """Walk every list endpoint the sync reads, with plain requests: what the emulators can serve. Returns the
    records, the seconds and the process's CPU seconds (the emulators serve in this process's threads)."""
    started, cpu = time.perf_counter(), time.process_time()
    total = sum(walk(box.credentials[system]) for system, walk in RAW.items())
    return total, time.perf_counter() - started, time.process_time() - cpu


DUMPED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "accounts": (("id",), ("created_at", "updated_at")),
    "source_links": (("system", "external_id"), ("created_at",)),
    "contacts": (("email",), ("updated_at",)),
    "subscriptions": (("system", "external_id"), ("updated_at",)),
    "subscription_versions": (("id",), ()),
    "subscription_movements": (("id",), ()),
    "tickets": (("system", "external_id"), ("updated_at",)),
    "survey_responses": (("source", "source_ref"), ()),
}
"""Per table dumped: its natural key (rows sorted by it) and the columns left out (the store's own timestamps)."""


def dump_rows(store: Store, tenant_id: int, path: str) -> None:
    """The stored rows of every table a pull writes (the store's timestamps left out), one JSON line each, sorted
    by natural key: two runs of the same sandbox compare with ``cmp``."""
    from sqlalchemy import MetaData, Table

    meta = MetaData()
    with store.session(tenant_id) as s, open(path, "w") as out:
        for name, (key, skipped) in DUMPED.items():
            table = Table(name, meta, autoload_with=s.get_bind())
            columns = [c for c in table.columns if c.name not in skipped and c.name != "tenant_id"]
            rows = s.execute(select(*columns).where(table.c.tenant_id == tenant_id)
                             .order_by(*(table.c[k] for k in key))).all()
            for row in rows:
                out.write(json.dumps([name, *row], default=str) + "\n")
            print(f"  dumped {len(rows):,} rows of {name}")


class _Later:
    """The emulators' clock: the wall clock, plus what the bench moves it on by."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


LIST_CALLS = {"salesforce": ("/services/data/v<version>/queryAll", "/services/data/v<version>/queryAll/<locator>",
                             "/services/data/v<version>/query/<locator>"),
              "zendesk": ("/api/v2/incremental/organizations.json", "/api/v2/incremental/users/cursor.json",
                          "/api/v2/incremental/tickets/cursor.json", "/api/v2/satisfaction_ratings.json"),
              "hubspot": ("/crm/v3/objects/<object_type>/search", "/crm/v3/objects/<object_type>")}
"""The endpoints that read an object's changes, page by page."""


def main() -> None:
    print(f"pipeline: {COMPANIES} synthetic companies, the three real SDKs against the sandbox, SQLite store")
    t0 = time.perf_counter()
    clock = _Later()
    box = Sandbox(accounts=COMPANIES, seed=7, clock=clock, **LIMITS)
    box.start()
    print(f"  sandbox generated and seeded in {time.perf_counter() - t0:.1f} s")
    try:
        raw_records, raw_s, raw_cpu = raw_walk(box)
        with tempfile.TemporaryDirectory() as tmp:
            store, tenant, adapters = sandbox_workspace(tmp, "bench", box)
            sampler = CpuParts(detail=PARTS == "detail") if PARTS else contextlib.nullcontext()
            with sampler, Recorded() as recorded:
                started, cpu = time.perf_counter(), time.process_time()
                summary = sync(store, tenant.id, adapters)
                pull_s, pull_cpu = time.perf_counter() - started, time.process_time() - cpu
            pulled = sum(o.pulled for s in summary.systems.values() for o in s.objects.values())
            print(f"  full pull, all objects, 3 systems: {pulled:,} records in {pull_s:.1f} s = "
                  f"{pulled / pull_s:,.0f} records/s (stored, linked); {pull_cpu:.1f} CPU s = "
                  f"{pulled / pull_cpu:,.0f} records per CPU s")
            print(f"  emulators' raw page serving, same endpoints: {raw_records:,} records in {raw_s:.1f} s = "
                  f"{raw_records / raw_s:,.0f} records/s; {raw_cpu:.1f} CPU s = {raw_records / raw_cpu:,.0f} "
                  "records per CPU s")
            print(f"  ratio: {pulled / pull_s / (raw_records / raw_s):.3f} by the clock, "
                  f"{pulled / pull_cpu / (raw_records / raw_cpu):.3f} by CPU time (the emulators' CPU in both; "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
            # The sync run ends by preparing the report pages' stored copies (`sync.reports`, `sync.base_reports`):
            # work for the console, not the pull, and nothing the raw walk does; shown apart, the ratio without it.
            reports_s, reports_cpu = summary.phases.get("reports", (0.0, 0.0))
            print("  phases, wall / CPU s: " + ", ".join(f"{name} {wall:.1f} / {cpu:.1f}"
                                                        for name, (wall, cpu) in summary.phases.items()))
            print(f"  ratio without the reports prepared after the pull: "
                  f"{pulled / (pull_s - reports_s) / (raw_records / raw_s):.3f} by the clock, "
                  f"{pulled / (pull_cpu - reports_cpu) / (raw_records / raw_cpu):.3f} by CPU time")
            for system, s in summary.systems.items():
                print(f"    {system:10} {s.calls:5} calls  " + ", ".join(
                    f"{o} {v.pulled:,}" for o, v in s.objects.items()))
            if isinstance(sampler, CpuParts):
                print(sampler.table())
            same_requests_floor(box, recorded, pulled, pull_s, pull_cpu, summary, None)

            linking(store, tenant.id, box.truth_path)
            if DUMP:
                dump_rows(store, tenant.id, DUMP)

            with store.session(tenant.id) as s:
                day = dt.date(2026, 11, 20)
                for account_id in s.scalars(Account.__table__.select().with_only_columns(Account.id)):
                    s.add(HealthSnapshot(account_id=account_id, day=day, score=48.0, band="average", trend=-0.2,
                                         reasons=[{"text": "Usage fell 30 %"}]))
            print("  push of every linked record's score (fields already created):")
            for system, adapter in adapters.items():
                from sync.push import HEALTH_FIELDS, _spec_version
                from sync.writer import save_cursor

                adapter.ensure_fields(HEALTH_FIELDS)
                with store.session(tenant.id) as s:
                    save_cursor(s, system, "fields", _spec_version())
                started = time.perf_counter()
                result = push(store, tenant.id, system, adapter)
                took = time.perf_counter() - started
                n = result.pushed + len(result.failed)
                if system == "salesforce":
                    minimum = 4 if n > 2000 else math.ceil(n / 200)
                    how = "one Bulk API 2.0 job" if n > 2000 else "sObject Collections of 200"
                elif system == "zendesk":
                    jobs = math.ceil(n / 100)
                    minimum = jobs + math.ceil(jobs / 100)
                    how = f"ceil(N/100) = {jobs} update_many + ceil(jobs/100) = {math.ceil(jobs / 100)} show_many"
                else:
                    minimum = math.ceil(n / 100)
                    how = "batch update of 100"
                per10k = result.calls * 10_000 / n if n else 0
                print(f"    {system:10} {n:6,} records, {result.calls:4} calls ({per10k:6.1f} per 10,000), "
                      f"physical minimum {minimum:4} ({how}), {took:.1f} s, failed {len(result.failed)}")
                again = push(store, tenant.id, system, adapter)
                print(f"    {system:10} nothing changed: {again.calls} calls")
            clock.offset += dt.timedelta(seconds=120)  # Zendesk's exports leave out the last minute
            print("  a sync right after the push (the vendors' clock two minutes on, so every write is visible):")
            fresh = {system: build_adapter(system, creds, base, **SANDBOX_OPTIONS.get(system, {}))
                     for system, (creds, base, _ref) in sandbox_connections(box).items()}
            for emulator in box.emulators.values():
                emulator.stats.reset()
            started = time.perf_counter()
            after = sync(store, tenant.id, fresh)
            took = time.perf_counter() - started
            for system, adapter in fresh.items():
                stats = box.emulators[system].stats
                listed = sum(stats.calls(None, e) for e in LIST_CALLS[system])
                objects = after.systems[system].objects
                changed = sum(o.changed for o in objects.values())
                accounts = objects.get("accounts")
                print(f"    {system:10} {after.systems[system].calls:4} calls for {len(adapter.objects)} objects "
                      f"({listed} list calls, {after.systems[system].calls - listed} owner/association lookups); "
                      f"accounts read back {accounts.pulled if accounts else 0:,}, "
                      f"recognised as Canary's own {accounts.skipped if accounts else 0:,}; changed {changed}")
            print(f"    ({took:.1f} s)")
            store.dispose()
    finally:
        box.stop()
    if APART:
        apart()
    convergence()


CONVERGENCE_COMPANIES = int(os.environ.get("BENCH_CONVERGENCE_COMPANIES", "2000"))


class _Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=30)

    def __call__(self) -> dt.datetime:
        return self.now


def convergence() -> None:
    """Full sync, 200 changes + 30 deletions + 5 merges, incremental sync vs a fresh full sync, under HubSpot
    search lag and 20 % faults: the store states are compared record by record (as tests/sync/test_convergence)."""
    if CONVERGENCE_COMPANIES <= 0:
        print("convergence: skipped (BENCH_CONVERGENCE_COMPANIES=0)")
        return
    from cli.truth import comparable, merge_followers, store_state
    from integrations.http import RetryPolicy

    options = {"hubspot": {**LIMITS["hubspot"], "search_lag_seconds": 30},
               "zendesk": {**LIMITS["zendesk"], "export_deleted": True},
               "salesforce": {**LIMITS["salesforce"], "recycle_bin": True, "whole_second_timestamps": True}}
    print(f"convergence: {CONVERGENCE_COMPANIES:,} companies, HubSpot search lag 30 s, 20 % faults")
    clock = _Clock()
    with Sandbox(accounts=CONVERGENCE_COMPANIES, seed=31, as_of=dt.date(2026, 11, 30), clock=clock, faults=0.2,
                 fault_kinds=("429", "500", "503", "drop"), **options) as box, \
            tempfile.TemporaryDirectory() as tmp:
        def run(name: str) -> tuple[Store, int, Any]:
            url = f"sqlite:///{tmp}/{name}.db"
            if not Path(f"{tmp}/{name}.db").exists():
                upgrade(url)
            store = Store(url)
            with store.session() as s:
                existing = s.scalar(select(Tenant.id).where(Tenant.slug == "bench"))
                tenant_id = existing or create_tenant(s, "bench", "Bench")[0].id
            patient = RetryPolicy(sleep=lambda _s: None, max_attempts=40)  # faults are retried at once
            adapters = {system: build_adapter(system, creds, base, policy=patient, **SANDBOX_OPTIONS.get(system, {}))
                        for system, (creds, base, _ref) in sandbox_connections(box).items()}
            return store, tenant_id, sync(store, tenant_id, adapters)

        store, tenant_id, _ = run("incremental")
        before = store_state(store, tenant_id)
        clock.now += dt.timedelta(seconds=60)
        mutation = box.mutate(changes=200, deletions=30, merges=5, seed=77)
        clock.now += dt.timedelta(seconds=600)
        started = time.perf_counter()
        store, tenant_id, summary = run("incremental")
        took = time.perf_counter() - started
        pulled = sum(o.pulled for s in summary.systems.values() for o in s.objects.values())
        removed = sum(o.removed for s in summary.systems.values() for o in s.objects.values())
        calls = sum(s.calls for s in summary.systems.values())
        fresh_store, fresh_tenant, _ = run("fresh")
        ignore = merge_followers(before, [((m.system, m.merged_id), (m.system, m.primary_id))
                                          for m in mutation.merges])
        mine, theirs = comparable(store_state(store, tenant_id), ignore), comparable(
            store_state(fresh_store, fresh_tenant), ignore)
        print(f"  incremental sync: {pulled:,} records pulled, {removed} removed, {calls} calls, {took:.1f} s")
        for kind in ("groups", "contacts", "subscriptions", "tickets", "ratings"):
            missing, extra = len(theirs[kind] - mine[kind]), len(mine[kind] - theirs[kind])
            print(f"    {kind:13} {len(mine[kind]):6,} rows; vs a fresh full sync: {missing} missing, {extra} extra")
        print(f"  same store state as a fresh full sync: {'yes' if mine == theirs else 'NO'}")


def pace() -> str:
    """The machine's pace now (`bench_score_e2e.machine_pace`: seconds for a fixed piece of Python and SQLite work;
    the same code's numbers swing about 2x between windows on a shared machine)."""
    from bench.bench_score_e2e import machine_pace

    return f"machine pace {machine_pace():.2f} s, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


if __name__ == "__main__":
    if ONLY not in ("", "apart"):
        raise SystemExit(f"BENCH_PIPELINE_ONLY={ONLY!r}: only 'apart' (or nothing, every part)")
    if ONLY == "apart":
        print(f"pipeline, the served-apart part only: {COMPANIES} synthetic companies ({pace()})")
        apart()
        print(f"  after: {pace()}")
    else:
        main()
