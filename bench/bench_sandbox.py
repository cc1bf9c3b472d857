"""Sandbox benchmark: world generation, usage-stream volume, and what each emulator serves its SDK.

Run with ``.venv/bin/python bench/bench_sandbox.py`` (``make bench`` runs every bench script).
Prints plain numbers; asserts nothing.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.generate import generate_world
from sandbox.server import Sandbox
from sandbox.usage import iter_usage_batches, iter_usage_events

AS_OF = date(2026, 11, 23)
WALK = 10_000


def timed(label: str, seconds: float, extra: str = "") -> None:
    print(f"{label:<48} {seconds:8.2f} s  {extra}")


def bench_generate() -> None:
    for accounts in (10_000, 100_000):
        gc.collect()
        started = time.perf_counter()
        world = generate_world(accounts, seed=7, as_of=AS_OF)
        elapsed = time.perf_counter() - started
        records = len(world.companies) + len(world.people) + len(world.deals) + len(world.tickets)
        timed(f"generate_world({accounts:,})", elapsed,
              f"{accounts / elapsed:,.0f} companies/s; {records:,} records "
              f"({len(world.people):,} people, {len(world.deals):,} deals, {len(world.tickets):,} tickets)")
        del world


def bench_usage() -> None:
    world = generate_world(200, seed=7, as_of=AS_OF)
    started = time.perf_counter()
    messages = sum(1 for _ in iter_usage_events(world))
    elapsed = time.perf_counter() - started
    timed("usage stream, 200 companies x 180 days", elapsed, f"{messages:,} messages ({messages / elapsed:,.0f}/s)")
    started = time.perf_counter()
    batches = sum(1 for _ in iter_usage_batches(world))
    timed("usage batches (<= 450 kB each)", time.perf_counter() - started, f"{batches:,} batches")


def bench_page_walks() -> None:
    accounts = 14_000  # each system holds ~72-77 % of the companies: at least 10,000 everywhere
    world = generate_world(accounts, seed=7, as_of=AS_OF)
    started = time.perf_counter()
    sandbox = Sandbox(world=world, hubspot={"requests_per_10s": 100_000}, announce=lambda text: print("   ", text))
    sandbox.start()
    timed(f"seed the three emulators ({accounts:,} companies)", time.perf_counter() - started)
    try:
        clients = sandbox.sdk_clients()

        def salesforce() -> int:
            result = clients.salesforce.query_all(
                f"SELECT Id, Name, Website, SystemModstamp FROM Account ORDER BY SystemModstamp, Id LIMIT {WALK}"
            )
            return len(result["records"])

        def zendesk() -> int:
            count = 0
            for _ in clients.zendesk.organizations():
                count += 1
                if count == WALK:
                    break
            return count

        def hubspot() -> int:
            count, after = 0, None
            api = clients.hubspot.crm.companies.basic_api
            while count < WALK:
                page = api.get_page(limit=100, after=after, properties=["name", "domain", "hs_lastmodifieddate"])
                count += len(page.results)
                if page.paging is None or page.paging.next is None:
                    break
                after = page.paging.next.after
            return min(count, WALK)

        for vendor, walk in (("salesforce", salesforce), ("zendesk", zendesk), ("hubspot", hubspot)):
            calls_before = sandbox.emulators[vendor].stats.snapshot()["calls_total"]
            started = time.perf_counter()
            records = walk()
            elapsed = time.perf_counter() - started
            calls = sandbox.emulators[vendor].stats.snapshot()["calls_total"] - calls_before
            timed(f"{vendor} SDK page walk of {records:,} accounts", elapsed,
                  f"{records / elapsed:,.0f} records/s in {calls} calls")
    finally:
        sandbox.stop()


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    bench_generate()
    bench_usage()
    bench_page_walks()


if __name__ == "__main__":
    main()
