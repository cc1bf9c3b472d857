"""Scale-out: many workspaces refreshed (sync → score → push) by 1, then 2, Celery worker processes.

Each workspace is connected to vendor accounts of its own — its own synthetic world (seed), Zendesk
subdomain, HubSpot portal and Salesforce org — served by sandbox *subprocesses* (a few workspaces each),
so the emulators' CPU is not the bench process's and shows up in the CPU accounting below. A real
redis-server and PostgreSQL (`tests.redis_server`, `tests.pg`) are started and stopped here.

Prints, in one run:
- the floor: one workspace's refresh run inline (`jobs.work.refresh_job`, no broker) in this process,
  × the number of workspaces: what one process does with no queue at all;
- per round (1 worker, then 2; each on a fresh database, Redis and sandbox): the wall time from the
  first submit to the last push, accounts/s, API calls per vendor, and the CPU seconds spent by the
  workers, the sandbox processes, PostgreSQL, Redis and the machine as a whole (the machine has 2 cores,
  shared with whatever else runs, so the speed-up is read next to how busy the cores were);
- the speed-up of round 2 over round 1, and each round's correctness check (every workspace's accounts
  scored, pushed to each system, no dead letters): the exit status is 1 when a check fails.

``BENCH_SCALEOUT_WORKSPACES`` (20) and ``BENCH_SCALEOUT_ACCOUNTS`` (2,000) size it; a quick run:
``BENCH_SCALEOUT_WORKSPACES=3 BENCH_SCALEOUT_ACCOUNTS=200 python bench/bench_scaleout.py``.
``BENCH_SCALEOUT_PER_SANDBOX`` (10) is how many workspaces one sandbox process serves,
``BENCH_SCALEOUT_ROUNDS`` ("1,2") the worker counts of the rounds ("" for the floor alone).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORKSPACES = int(os.environ.get("BENCH_SCALEOUT_WORKSPACES", "20"))
ACCOUNTS = int(os.environ.get("BENCH_SCALEOUT_ACCOUNTS", "2000"))
PER_SANDBOX = int(os.environ.get("BENCH_SCALEOUT_PER_SANDBOX", "10"))
ROUNDS = tuple(int(n) for n in os.environ.get("BENCH_SCALEOUT_ROUNDS", "1,2").split(",") if n.strip())
AS_OF = dt.date(2026, 11, 30)
SECRET = "bench-scaleout-secret-key-0123456789abcdef"
SYSTEMS = ("hubspot", "salesforce", "zendesk")
TIMEOUT_SECONDS = float(os.environ.get("BENCH_SCALEOUT_TIMEOUT", "7200"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Vendor limits lifted (the real ones would pace 20 portals sharing one emulator host; each workspace here
# is its own vendor account, and the point is Canary's throughput, not the vendors' quotas).
LIMITS: dict[str, dict[str, Any]] = {
    "hubspot": {"requests_per_10s": 1_000_000, "daily_api_limit": 10_000_000},
    "zendesk": {"plan": "enterprise_plus", "incremental_requests_per_minute": None, "requests_per_minute": 1_000_000},
    "salesforce": {"daily_api_limit": 10_000_000},
}


# ---------------------------------------------------------------- the sandbox subprocess


def vendor_accounts(index: int) -> dict[str, Any]:
    """Workspace ``index``'s own vendor accounts: a Zendesk subdomain, a HubSpot portal, a Salesforce org."""
    return {"zendesk": f"scaleout-{index:03d}", "hubspot": 40_000_000 + index,
            "salesforce": f"00D5g0000SCALE{index:04d}"}


def serve(first: int, count: int, accounts: int) -> None:
    """Serve the sandboxes of workspaces ``first``..``first+count-1`` until stdin closes; prints one JSON
    line with their connections, and one line of call counts per ``stats`` line read."""
    from cli.demo import sandbox_connections
    from sandbox.server import Sandbox

    boxes = []
    try:
        for index in range(first, first + count):
            refs = vendor_accounts(index)
            box = Sandbox(accounts=accounts, seed=1000 + index, as_of=AS_OF,
                          zendesk={**LIMITS["zendesk"], "subdomain": refs["zendesk"]},
                          hubspot={**LIMITS["hubspot"], "portal_id": refs["hubspot"]},
                          salesforce=LIMITS["salesforce"]).start()
            box.oauth["salesforce"].account = refs["salesforce"]  # the org id the sandbox's OAuth server reports
            boxes.append(box)
        print(json.dumps([{s: list(v) for s, v in sandbox_connections(box).items()} for box in boxes]), flush=True)
        for line in sys.stdin:
            words = line.split()
            if words == ["stats"]:
                totals = {s: sum(box.stats()[s]["calls_total"] for box in boxes) for s in SYSTEMS}
                print(json.dumps(totals), flush=True)
            elif words[:1] == ["mutate"]:  # a CRM/support team's edits between two refreshes
                made = [box.mutate(changes=int(words[1]), deletions=0, merges=0, seed=int(words[2]) + i)
                        for i, box in enumerate(boxes)]
                print(json.dumps(sum(len(m.changes) for m in made)), flush=True)
    finally:
        for box in boxes:
            box.stop()


class SandboxProcess:
    def __init__(self, first: int, count: int, accounts: int) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(first), str(count), str(accounts)],
                                     cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.count = count

    def connections(self) -> list[dict[str, list[Any]]]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox process exited ({self.proc.wait()}) before serving")
        found: list[dict[str, list[Any]]] = json.loads(line)
        return found

    def ask(self, line: str) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def calls(self) -> dict[str, int]:
        found: dict[str, int] = self.ask("stats")
        return found

    def mutate(self, changes: int, seed: int) -> int:
        return int(self.ask(f"mutate {changes} {seed}"))

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@contextmanager
def sandboxes(workspaces: int, accounts: int) -> Iterator[tuple[list[SandboxProcess], list[dict[str, list[Any]]]]]:
    procs = [SandboxProcess(first, min(PER_SANDBOX, workspaces - first), accounts)
             for first in range(0, workspaces, PER_SANDBOX)]
    try:
        connections = [c for proc in procs for c in proc.connections()]
        yield procs, connections
    finally:
        for proc in procs:
            proc.stop()


# ---------------------------------------------------------------- CPU accounting (from /proc)


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of a process (and of its reaped children): /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / CLK_TCK


def postgres_cpu(data_dir: str) -> float:
    """The postmaster, its live backends and the ones that exited (the postmaster reaped them)."""
    postmaster = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    total = cpu_seconds(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if ppid == postmaster:
                total += cpu_seconds(int(entry.name))
    return total


def redis_pid(url: str) -> int | None:
    port = url.rsplit(":", 1)[1].split("/")[0]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except (FileNotFoundError, ProcessLookupError):
                continue
            if cmd and cmd[0].endswith(b"redis-server") and port.encode() in cmd:
                return int(entry.name)
    return None


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, over every core."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK, sum(values[:8]) / CLK_TCK


# ---------------------------------------------------------------- the store side


def connect_workspaces(app: Any, connections: Sequence[dict[str, list[Any]]]) -> list[int]:
    from extensions import canary_store, credential_cipher
    from store.tenants import create_tenant
    from sync.connections import save_connection

    store = canary_store(app)
    ids = []
    for index, systems in enumerate(connections):
        with store.session() as s:
            tenant_id = create_tenant(s, f"scaleout-{index:03d}", f"Scale-out {index}")[0].id
        with store.session(tenant_id) as s:
            for system, (creds, base, ref) in systems.items():
                save_connection(s, credential_cipher(app), system, creds, base_url=base, account_ref=ref,
                                actor="bench")
        ids.append(tenant_id)
    return ids


def progress(app: Any, tenant_ids: Sequence[int], refreshes: int) -> tuple[int, int, dt.datetime | None]:
    """(workspaces with ``refreshes`` pushes recorded for every system, dead letters, the last push's finish)."""
    from sqlalchemy import func, select

    from extensions import canary_store
    from store.models import JobFailure, SyncRun

    store = canary_store(app)
    done = failures = 0
    last: dt.datetime | None = None
    for tenant_id in tenant_ids:
        with store.session(tenant_id) as s:
            pushes = s.execute(select(SyncRun.system, SyncRun.finished_at).where(SyncRun.kind == "push")).all()
            failures += s.scalar(select(func.count()).select_from(JobFailure)) or 0
        if all(sum(1 for system, _ in pushes if system == wanted) >= refreshes for wanted in SYSTEMS):
            done += 1
            finished = max(at for _, at in pushes if at is not None)
            last = finished if last is None or finished > last else last
    return done, failures, last


def check(app: Any, tenant_ids: Sequence[int], accounts: int) -> tuple[bool, list[str]]:
    """Every workspace: ~``accounts`` accounts, each scored for the day, pushed to every system, no failure."""
    from sqlalchemy import func, select

    from extensions import canary_store
    from store.models import Account, HealthSnapshot, JobFailure, SyncRun

    store = canary_store(app)
    ok, lines = True, []
    totals = {"accounts": 0, "scored": 0, **{f"pushed {s}": 0 for s in SYSTEMS}, "dead letters": 0}
    for tenant_id in tenant_ids:
        with store.session(tenant_id) as s:
            n_accounts = s.scalar(select(func.count()).select_from(Account)) or 0
            scored = s.scalar(select(func.count(func.distinct(HealthSnapshot.account_id)))
                              .where(HealthSnapshot.day == AS_OF)) or 0
            pushes = {system: (records, failure) for system, records, failure in s.execute(
                select(SyncRun.system, SyncRun.records, SyncRun.failure).where(SyncRun.kind == "push"))}
            pull_failures = [f for (f,) in s.execute(select(SyncRun.failure).where(SyncRun.kind == "pull")) if f]
            dead = s.scalar(select(func.count()).select_from(JobFailure)) or 0
        totals["accounts"] += n_accounts
        totals["scored"] += scored
        totals["dead letters"] += dead
        problems = []
        if not 0.9 * accounts <= n_accounts <= 1.1 * accounts:
            problems.append(f"{n_accounts} accounts")
        if scored != n_accounts:
            problems.append(f"{scored} of {n_accounts} scored for {AS_OF}")
        for system in SYSTEMS:
            records, failure = pushes.get(system, (0, "no push recorded"))
            totals[f"pushed {system}"] += records
            if failure or records < 0.5 * n_accounts:
                problems.append(f"{system} push: {records} records, {failure or 'too few'}")
        if pull_failures or dead:
            problems.append(f"{len(pull_failures)} failed pulls, {dead} dead letters")
        if problems:
            ok = False
            lines.append(f"    workspace {tenant_id}: " + "; ".join(problems))
    lines.insert(0, "    " + ", ".join(f"{k} {v:,}" for k, v in totals.items()))
    return ok, lines


# ---------------------------------------------------------------- rounds


def app_for(database_url: str, broker: str | None) -> Any:
    from app import create_app

    return create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET, "CELERY_BROKER_URL": broker,
                       "TESTING": True})


CHANGED_SHARE = 0.01
"""Between the first and the second refresh, 1 % of each workspace's accounts are edited in the vendors."""


def floor(admin_url: str, data_dir: str) -> dict[str, tuple[float, float, float]]:
    """One workspace, inline in this process (no broker, no worker): its first refresh, an incremental
    refresh after 1 % of its records changed, and the nightly 30-day rescore — each (wall seconds, this
    process's CPU seconds, PostgreSQL's CPU seconds)."""
    from jobs.work import refresh_job, score_job
    from jobs.worker import NIGHTLY_HISTORY_DAYS
    from store.migrate import upgrade
    from tests.pg import create_database

    url = create_database(admin_url)
    upgrade(url)
    out = {}

    @contextmanager
    def measured(name: str) -> Iterator[None]:
        wall, cpu, pg = time.perf_counter(), time.process_time(), postgres_cpu(data_dir)
        yield
        out[name] = (time.perf_counter() - wall, time.process_time() - cpu, postgres_cpu(data_dir) - pg)

    with sandboxes(1, ACCOUNTS) as (procs, connections):
        app = app_for(url, None)
        (tenant_id,) = connect_workspaces(app, connections)
        with measured("first"):
            refresh_job(app, tenant_id, trigger="bench", as_of=AS_OF.isoformat())
        ok, lines = check(app, [tenant_id], ACCOUNTS)
        procs[0].mutate(max(1, int(ACCOUNTS * CHANGED_SHARE)), seed=5)
        with measured("incremental"):
            refresh_job(app, tenant_id, trigger="bench", as_of=AS_OF.isoformat())
        with measured("rescore"), app.app_context():
            score_job(app, tenant_id, as_of=AS_OF.isoformat(), history_days=NIGHTLY_HISTORY_DAYS)
    if not ok:
        print("\n".join(lines))
        raise SystemExit("the floor's refresh did not score and push everything")
    return out


def start_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "from app import main; main()", "worker", "--pool", "solo",
                             "--name", f"{name}@scaleout", "--loglevel", "INFO"],
                            cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


class Meter:
    """CPU seconds of each group of processes, the machine's busy core-seconds and the vendors' call counts."""

    def __init__(self, workers: Sequence[subprocess.Popen[bytes]], procs: Sequence[SandboxProcess], data_dir: str,
                 broker: str) -> None:
        self.workers, self.procs, self.data_dir, self.redis = workers, procs, data_dir, redis_pid(broker)

    def read(self) -> dict[str, Any]:
        return {"cpu": {"workers": sum(cpu_seconds(p.pid) for p in self.workers),
                        "sandboxes": sum(cpu_seconds(p.proc.pid) for p in self.procs),
                        "postgres": postgres_cpu(self.data_dir),
                        "redis": cpu_seconds(self.redis) if self.redis else 0.0, "bench": time.process_time()},
                "calls": [p.calls() for p in self.procs], "machine": machine_busy(), "at": time.perf_counter()}

    @staticmethod
    def difference(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        return {"cpu": {k: after["cpu"][k] - before["cpu"][k] for k in before["cpu"]},
                "calls": {s: sum(a[s] - b[s] for a, b in zip(after["calls"], before["calls"], strict=True))
                          for s in SYSTEMS},
                "machine": (after["machine"][0] - before["machine"][0], after["machine"][1] - before["machine"][1]),
                "polled": after["at"] - before["at"]}


def refresh_all(app: Any, tenant_ids: Sequence[int], refreshes: int, meter: Meter) -> dict[str, Any]:
    """Submit a refresh of every workspace and wait for every one's pushes; the phase's measurements."""
    from jobs import submit

    before = meter.read()
    submitted_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for tenant_id in tenant_ids:
        submit(app, "refresh", tenant_id, trigger="bench", as_of=AS_OF.isoformat())
    while True:
        done, failures, last = progress(app, tenant_ids, refreshes)
        if done == len(tenant_ids) or failures:
            break
        if time.perf_counter() - before["at"] > TIMEOUT_SECONDS:
            raise SystemExit(f"{done} of {len(tenant_ids)} workspaces refreshed after {TIMEOUT_SECONDS:.0f} s")
        time.sleep(1.0)
    out = Meter.difference(before, meter.read())
    if last is not None and last.tzinfo is not None:
        last = last.astimezone(dt.UTC).replace(tzinfo=None)
    # The wall time: first submit → the last push's recorded finish (the poll adds up to a second).
    out["wall"] = (last - submitted_at).total_seconds() if last is not None else out["polled"]
    out["failures"] = failures
    return out


def run_round(workers: int, admin_url: str, data_dir: str, broker: str, tmp: Path) -> dict[str, Any]:
    import redis

    from store.migrate import upgrade
    from tests.pg import create_database

    url = create_database(admin_url)
    upgrade(url)
    redis.Redis.from_url(broker).flushall()  # one Redis for the run (this process's Celery client keeps its
    with ExitStack() as stack:  # connection pool), emptied for each round
        procs, connections = stack.enter_context(sandboxes(WORKSPACES, ACCOUNTS))
        app = app_for(url, broker)
        tenant_ids = connect_workspaces(app, connections)
        env = {**os.environ, "DATABASE_URL": url, "CANARY_SECRET_KEY": SECRET, "CELERY_BROKER_URL": broker,
               "PYTHONPATH": str(ROOT)}
        logs = [tmp / f"round{workers}-worker{k}.log" for k in range(workers)]
        running = [start_worker(f"w{k}", env, log) for k, log in enumerate(logs)]
        stack.callback(lambda: [stop_worker(p) for p in running])
        deadline = time.monotonic() + 120
        while not all(b"ready" in log.read_bytes() for log in logs):  # started before the clock does
            if time.monotonic() > deadline or any(p.poll() is not None for p in running):
                raise SystemExit("a worker did not start:\n" + "\n".join(log.read_text()[-2000:] for log in logs))
            time.sleep(0.2)
        meter = Meter(running, procs, data_dir, broker)
        first = refresh_all(app, tenant_ids, 1, meter)
        ok, lines = check(app, tenant_ids, ACCOUNTS)
        first.update(ok=ok and not first["failures"], lines=lines)
        changed = sum(p.mutate(max(1, int(ACCOUNTS * CHANGED_SHARE)), seed=5 + 100 * k) for k, p in enumerate(procs))
        incremental = refresh_all(app, tenant_ids, 2, meter)
        incremental.update(ok=not incremental["failures"], lines=[], changed=changed)
        return {"workers": workers, "first": first, "incremental": incremental}


def report(workers: int, name: str, r: dict[str, Any]) -> None:
    accounts = WORKSPACES * ACCOUNTS
    busy, total = r["machine"]
    print(f"  {workers} worker process(es), {name}: {r['wall']:.1f} s wall, {accounts / r['wall']:,.0f} accounts/s, "
          f"{r['wall'] / WORKSPACES:.2f} s per workspace" + (f" ({r['changed']} records changed before)"
                                                             if "changed" in r else ""))
    print("    API calls: " + ", ".join(f"{s} {n:,}" for s, n in r["calls"].items())
          + f" ({sum(r['calls'].values()) / WORKSPACES:,.0f} per workspace)")
    print("    CPU s: " + ", ".join(f"{k} {v:,.1f}" for k, v in r["cpu"].items())
          + f"; machine busy {busy:,.0f} of {total:,.0f} core-s ({100 * busy / total:.0f} %)")
    print(f"    per workspace, CPU s: workers {r['cpu']['workers'] / WORKSPACES:.2f}, postgres "
          f"{r['cpu']['postgres'] / WORKSPACES:.2f}, sandbox {r['cpu']['sandboxes'] / WORKSPACES:.2f};"
          f" correctness: {'ok' if r['ok'] else 'FAILED'}")
    if r["lines"]:
        print("\n".join(r["lines"]))


def main() -> int:
    from tests.pg import PostgresCluster
    from tests.redis_server import redis_server

    print(f"scale-out: {WORKSPACES} workspaces × {ACCOUNTS:,} accounts, a refresh (sync of Salesforce, Zendesk, "
          f"HubSpot → score → push) each, real Redis + PostgreSQL; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores", flush=True)
    cluster = PostgresCluster().start()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="canary-scaleout-") as tmp, redis_server() as broker:
            one = floor(cluster.admin_url, cluster.data)
            first = one["first"][0]
            print(f"  floor, one workspace inline in this process: first refresh {first:.1f} s (× {WORKSPACES} = "
                  f"{first * WORKSPACES:.1f} s, {ACCOUNTS / first:,.0f} accounts/s)", flush=True)
            for phase, label in (("first", "first refresh"),
                                 ("incremental", f"incremental refresh after {CHANGED_SHARE:.0%} changed"),
                                 ("rescore", "nightly 30-day rescore")):
                wall, cpu, pg = one[phase]
                print(f"    {label}: {wall:.2f} s wall, CPU s: this process {cpu:.2f}, postgres {pg:.2f}")
            for workers in ROUNDS:
                result = run_round(workers, cluster.admin_url, cluster.data, broker, Path(tmp))
                report(workers, "first refresh", result["first"])
                report(workers, "incremental refresh", result["incremental"])
                sys.stdout.flush()
                results.append(result)
    finally:
        cluster.stop()
    base = min(results, key=lambda r: r["workers"]) if results else None
    for r in results:
        if base is None or r is base:
            continue
        for phase in ("first", "incremental"):  # how many times faster than the fewest workers (in any order)
            print(f"  speed-up, {phase} refresh, {r['workers']} over {base['workers']} worker(s): "
                  f"{base[phase]['wall'] / r[phase]['wall']:.2f}× (floor for the first refresh "
                  f"{one['first'][0] * WORKSPACES:.1f} s)")
    print(f"  load average at the end: {os.getloadavg()[0]:.2f}")
    return 0 if all(r[p]["ok"] for r in results for p in ("first", "incremental")) else 1


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(main())
