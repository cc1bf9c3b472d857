"""The SDK layer alone against the emulators' raw serving, per vendor: no store.

For each of Salesforce, Zendesk and HubSpot, in one run on one sandbox:
- the raw walk: the list endpoints `bench_pipeline.raw_walk` reads, walked with plain `requests`;
- the SDK walk: every page of every object the adapter pulls (`adapter.pull(obj, None)`, a first pull, through
  the real SDK, records mapped), consumed and counted, nothing stored.
Prints records, wall and CPU seconds of each and the ratio (records/s of the SDK walk over the raw walk's), the
load average beside it. ``BENCH_SDK_WALK_COMPANIES`` (default 10,000) sizes the sandbox; ``BENCH_SDK_WALK_PROFILE``
names a vendor whose SDK walk is profiled (cProfile, top 45 by ``BENCH_SDK_WALK_SORT``, default own time, to
stderr).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_pipeline import LIMITS, RAW
from cli.demo import SANDBOX_OPTIONS, sandbox_connections
from sandbox.server import Sandbox
from sync.connections import build_adapter

COMPANIES = int(os.environ.get("BENCH_SDK_WALK_COMPANIES", "10000"))
PROFILE = os.environ.get("BENCH_SDK_WALK_PROFILE", "")
SORT = os.environ.get("BENCH_SDK_WALK_SORT", "tottime")
ROUNDS = int(os.environ.get("BENCH_SDK_WALK_ROUNDS", "1"))




def sdk_walk(box: Sandbox, system: str) -> tuple[int, int]:
    """Every page of a first pull of every object, through the adapter; (records, calls)."""
    creds, base, _ref = sandbox_connections(box)[system]
    adapter = build_adapter(system, creds, base, **SANDBOX_OPTIONS.get(system, {}))
    total = 0
    for obj in adapter.objects:
        for page in adapter.pull(obj, None):
            total += len(page.records) + len(page.own_writes)
    return total, int(adapter.calls)


def timed(fn: Any, *args: Any) -> tuple[Any, float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    t0 = time.perf_counter()
    box = Sandbox(accounts=COMPANIES, seed=7, **LIMITS)
    box.start()
    print(f"sdk walk vs raw walk: {COMPANIES:,} companies; sandbox ready in {time.perf_counter() - t0:.1f} s")
    try:
        for _ in range(ROUNDS):
            for system in ("salesforce", "zendesk", "hubspot"):
                raw, raw_s, raw_cpu = timed(RAW[system], box.credentials[system])
                if system == PROFILE:
                    profiler = cProfile.Profile()
                    profiler.enable()
                (sdk, calls), sdk_s, sdk_cpu = timed(sdk_walk, box, system)
                if system == PROFILE:
                    profiler.disable()
                    pstats.Stats(profiler, stream=sys.stderr).sort_stats(SORT).print_stats(45)
                print(f"  {system:10} raw {raw:7,} in {raw_s:5.2f} s ({raw / raw_s:8,.0f}/s, CPU {raw_cpu:5.2f} s); "
                      f"SDK {sdk:7,} in {sdk_s:5.2f} s ({sdk / sdk_s:8,.0f}/s, CPU {sdk_cpu:5.2f} s, {calls} calls); "
                      f"ratio {sdk / sdk_s / (raw / raw_s):.3f} by the clock, "
                      f"{sdk / sdk_cpu / (raw / raw_cpu):.3f} by CPU (load {os.getloadavg()[0]:.1f})")
    finally:
        box.stop()


if __name__ == "__main__":
    main()
