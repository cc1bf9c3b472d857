"""Freshness: how long a change in a vendor or the product takes to reach an account's health everywhere.

Starts a real redis-server and PostgreSQL (tests/redis_server.py, tests/pg.py), then `canary demo --live`
on Celery (``CELERY_BROKER_URL``) with its own `canary worker` subprocesses and `canary beat`, and makes
``BENCH_FRESHNESS_CHANGES`` changes one after another, alternating:

* a burst of 5 urgent tickets for one organization, opened by a person with zenpy (timed from the first);
* a usage cut to zero for another account through ``POST /v1/batch`` (tests/e2e/live.py says what the
  batch is: the collector only adds activity, so it reports the weeks before the cut and nothing since).

Each change targets a fresh account whose score that change moves. From the change, the script polls the
store (newest score and band), Salesforce and HubSpot (the record's Canary fields, through the vendors'
APIs) and the Zendesk panel (signed as Zendesk signs it) until each shows the new score and band, and
prints p50 / p95 per destination and overall beside the goals (p95 < 60 s, p50 < 10 s), then the API
calls Canary spent per change per vendor: the emulators' call counts (the demo's ``sandbox.stats_url``)
over the changes, less the calls this script made itself (tickets, reads).

``BENCH_FRESHNESS_ACCOUNTS`` (default 100), ``BENCH_FRESHNESS_CHANGES`` (default 20),
``BENCH_FRESHNESS_WORKERS`` (default 2).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.live import DESTINATIONS, Health, LiveDemo
from tests.pg import create_database, postgres_server
from tests.redis_server import redis_server

ACCOUNTS = int(os.environ.get("BENCH_FRESHNESS_ACCOUNTS", "100"))
CHANGES = int(os.environ.get("BENCH_FRESHNESS_CHANGES", "20"))
WORKERS = int(os.environ.get("BENCH_FRESHNESS_WORKERS", "2"))
GIVE_UP_S = 180.0
GOALS = {"p50": 10.0, "p95": 60.0}
VENDORS = ("salesforce", "zendesk", "hubspot")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return float(statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1])


def wait_for_workers(demo: LiveDemo, timeout: float = 120.0) -> None:
    logs = Path(demo.info["jobs"]["logs"])
    names = [n for n in demo.info["jobs"]["started"] if n.startswith("worker")]
    demo.wait_until("the Celery workers", lambda: all(
        (logs / f"{n}.log").exists() and " ready." in (logs / f"{n}.log").read_text(errors="replace")
        for n in names), timeout)


def measure(demo: LiveDemo, account_id: int, kind: str) -> dict[str, float] | None:
    """Make one change; seconds until each destination shows the account's new health (None: given up)."""
    links = demo.links(account_id)
    sf = demo.salesforce()
    panel = demo.panel_session()
    before = demo.in_store(account_id)
    started = time.monotonic()
    if kind == "tickets":
        demo.open_urgent_tickets(links["zendesk"], 5, who="person")
    else:
        demo.cut_usage(account_id, dt.datetime.now(dt.UTC))
    arrived: dict[str, float] = {}
    target: Health | None = None
    while time.monotonic() - started < GIVE_UP_S:
        now = time.monotonic() - started
        stored = demo.in_store(account_id)
        if "store" not in arrived and stored != before:
            arrived["store"], target = now, stored
        if target is not None:
            if stored != target:  # rescored again meanwhile: follow the newest
                target = stored
            for name, read in (("salesforce", lambda: demo.in_salesforce(sf, links["salesforce"])),
                               ("hubspot", lambda: demo.in_hubspot(links["hubspot"])),
                               ("zendesk_panel", lambda: demo.in_panel(panel, links["zendesk"]))):
                if name not in arrived and read() == target:
                    arrived[name] = time.monotonic() - started
        if len(arrived) == len(DESTINATIONS):
            return arrived
        time.sleep(0.2)
    print(f"  gave up on account {account_id} ({kind}) after {GIVE_UP_S:.0f} s: reached {sorted(arrived)}",
          flush=True)
    return None


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="canary-bench-freshness-"))
    with redis_server() as broker, postgres_server() as admin_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CANARY_")}
        env.update({"DATABASE_URL": create_database(admin_url), "CELERY_BROKER_URL": broker,
                    "CANARY_SECRET_KEY": "bench-freshness-secret-key-0123456789abcdef"})
        started = time.monotonic()
        demo = LiveDemo.start(folder=folder, port=_free_port(), accounts=ACCOUNTS, seed=7, env=env,
                              extra_args=("--workers", str(WORKERS)), timeout=900)
        try:
            wait_for_workers(demo)
            print(f"freshness: canary demo --live, {ACCOUNTS} accounts, Celery on Redis with {WORKERS} worker "
                  f"processes (pool solo) and beat, PostgreSQL; ready in {time.monotonic() - started:.0f} s",
                  flush=True)
            used: set[int] = set()
            pools = {"tickets": demo.movable("urgent_tickets"), "usage": demo.movable("usage_trend")}
            stats_before = demo.sandbox_stats()
            mine_before = dict(demo.calls)
            results: list[tuple[str, int, dict[str, float]]] = []
            missed = 0
            for i in range(CHANGES):
                kind = "tickets" if i % 2 == 0 else "usage"
                account = next((a for a in pools[kind] if a not in used), None)
                if account is None:
                    print(f"  no account left whose score a {kind} change moves", flush=True)
                    break
                used.add(account)
                got = measure(demo, account, kind)
                if got is None:
                    missed += 1
                    continue
                results.append((kind, account, got))
                print(f"  {i + 1:2} {kind:7} account {account:4}: "
                      + "  ".join(f"{d} {got[d]:5.1f} s" for d in DESTINATIONS), flush=True)
            stats_after = demo.sandbox_stats()
        finally:
            code = demo.stop()
    if not results:
        print("no change reached every destination")
        return 1
    print(f"{len(results)} changes reached every destination ({missed} given up after {GIVE_UP_S:.0f} s); "
          f"seconds from the change:")
    print(f"  {'destination':14} {'p50':>6} {'p95':>6}   goals p50 < {GOALS['p50']:.0f} s, p95 < {GOALS['p95']:.0f} s")
    for dest in (*DESTINATIONS, "overall"):
        values = [max(r.values()) if dest == "overall" else r[dest] for _k, _a, r in results]
        p50, p95 = percentile(values, 50), percentile(values, 95)
        verdict = "met" if p50 < GOALS["p50"] and p95 < GOALS["p95"] else "MISSED"
        label = "overall (all 4)" if dest == "overall" else dest
        print(f"  {label:14} {p50:6.1f} {p95:6.1f}   {verdict}")
    changes = len(results) + missed
    print(f"API calls Canary spent per change ({changes} changes; emulator counts less this script's own calls):")
    for vendor in VENDORS:
        total = stats_after[vendor]["calls_total"] - stats_before[vendor]["calls_total"]
        mine = demo.calls[vendor] - mine_before[vendor]
        print(f"  {vendor:10} {(total - mine) / changes:6.1f}  ({total} calls in all, {mine} by this script)")
    print(f"demo stopped with exit code {code}")
    return 0 if code == 0 and missed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
