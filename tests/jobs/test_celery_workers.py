"""Real Celery workers on a real Redis and PostgreSQL, against the sandbox over HTTP.

A worker is killed (SIGKILL) in the middle of a workspace's refresh (sync, score, push); the message
it held goes back to the queue, its lock's lease runs out, and a second worker finishes the job: the
store ends as an uninterrupted inline sync leaves it, and every health record is written once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cli.demo import sandbox_connections
from extensions import canary_store, credential_cipher
from jobs import submit
from jobs.work import refresh_job
from sandbox.server import Sandbox
from store.db import Store
from store.models import Account, Contact, JobFailure, SourceLink, Subscription, SyncRun
from store.tenants import create_tenant
from sync.connections import save_connection
from sync.push import HEALTH_FIELDS
from tests.dbtemplate import migrate_new
from tests.pg import create_database
from tests.redis_server import redis_server
from tests.shared import WORLD_AS_OF
from tests.sync.test_sandbox_pipeline import adapters

ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = ("salesforce", "hubspot")
SECRET = "celery-test-secret-key-0123456789abcdef"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def start_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "from app import main; main()", "worker", "--pool", "solo",
                             "--name", f"{name}@test", "--loglevel", "INFO"],
                            cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def synced_state(store: Store, tenant_id: int) -> dict[str, Any]:
    with store.session(tenant_id) as s:
        return {
            "links": sorted((link.system, link.external_id, link.account_id is not None)
                            for link in s.scalars(select(SourceLink))),
            "accounts": s.scalar(select(func.count()).select_from(Account)),
            "contacts": sorted(c.email for c in s.scalars(select(Contact))),
            "deals": sorted((d.system, d.external_id, str(d.arr), d.status) for d in s.scalars(select(Subscription))),
        }


@pytest.fixture
def world(tmp_path: Path, postgres_admin_url: str) -> Iterator[tuple[Sandbox, str, dict[str, str], Path]]:
    with redis_server() as broker, Sandbox(accounts=60, seed=17, as_of=WORLD_AS_OF, faults=1.0,
                                            fault_kinds=("slow",), slow_seconds=0.2) as box:
        env = {**os.environ, "DATABASE_URL": create_database(postgres_admin_url), "CANARY_SECRET_KEY": SECRET,
               "CELERY_BROKER_URL": broker, "CANARY_CELERY_VISIBILITY_TIMEOUT": "6", "CANARY_JOB_LOCK_SECONDS": "3",
               # sweep for a dead worker's messages every second (Redis transport: 10 s × every 10th by default)
               "CANARY_CELERY_TRANSPORT_OPTIONS": '{"unacked_restore_interval": 1, "unacked_restore_throttle": 1}',
               "PYTHONPATH": str(ROOT)}
        migrate_new(env["DATABASE_URL"])
        yield box, broker, env, tmp_path


def test_a_killed_workers_refresh_is_finished_by_another_worker(
        world: tuple[Sandbox, str, dict[str, str], Path]) -> None:
    from app import create_app

    box, broker, env, tmp = world
    day = WORLD_AS_OF.isoformat()

    def workspace(url: str, broker_url: str | None) -> tuple[Any, Store, int]:
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "CELERY_BROKER_URL": broker_url, "TESTING": True})
        store = canary_store(app)
        with store.session() as s:
            tenant_id = create_tenant(s, f"jobs-{uuid.uuid4().hex[:6]}", "Jobs")[0].id
        with store.session(tenant_id) as s:
            for system, (creds, base, ref) in sandbox_connections(box).items():
                if system in SYSTEMS:
                    save_connection(s, credential_cipher(app), system, creds, base_url=base, account_ref=ref,
                                    actor="test")
        return app, store, tenant_id

    def written() -> int:
        return sum(box.stats()[s]["records_written"] for s in SYSTEMS)

    # The vendors' Canary fields exist first (made once per vendor account, whichever run comes first).
    for system, adapter in adapters(box).items():
        if system in SYSTEMS:
            adapter.ensure_fields(HEALTH_FIELDS)
            adapter.ensure_task_fields()
    # The reference: the same refresh, inline and uninterrupted, in a workspace of its own.
    reference_url = f"sqlite:///{tmp / 'reference.db'}"
    migrate_new(reference_url)
    ref_app, reference, ref_tenant = workspace(reference_url, None)
    start = written()
    refresh_job(ref_app, ref_tenant, trigger="test", as_of=day)
    expected_writes = written() - start
    expected = synced_state(reference, ref_tenant)
    assert expected["accounts"] > 25 and expected_writes > 25

    app, store, tenant_id = workspace(env["DATABASE_URL"], broker)
    start = written()
    first = start_worker("first", env, tmp / "first.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        before = {s: box.stats()[s]["calls_total"] for s in SYSTEMS}
        submit(app, "refresh", tenant_id, trigger="test", as_of=day)
        # Mid-sync: the first worker has made some of the pull's calls (each slowed by 0.25 s).
        wait_for("the first worker to be pulling",
                 lambda: sum(box.stats()[s]["calls_total"] - before[s] for s in SYSTEMS) >= 4, timeout=90)
        with store.session(tenant_id) as s:
            assert s.scalar(select(func.count()).select_from(SyncRun)) == 0  # no system finished yet
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        second = start_worker("second", env, tmp / "second.log")

        def finished() -> bool:
            with store.session(tenant_id) as s:
                kinds = s.execute(select(SyncRun.system, SyncRun.kind)).all()
            return {(system, "push") for system in SYSTEMS} <= set(kinds)

        wait_for("the second worker to finish the refresh", finished, timeout=240)
    finally:
        stop(first)
        if second is not None:
            stop(second)
    logs = (tmp / "second.log").read_text(errors="replace")
    assert "canary.refresh" in logs, logs[-3000:]

    assert synced_state(store, tenant_id) == expected
    with store.session(tenant_id) as s:
        pulls = s.execute(select(SyncRun.system, SyncRun.failure).where(SyncRun.kind == "pull")).all()
        pushes = s.execute(select(SyncRun.system).where(SyncRun.kind == "push")).all()
        assert s.scalar(select(func.count()).select_from(JobFailure)) == 0
    assert sorted(pulls) == [(system, None) for system in sorted(SYSTEMS)]  # one finished pull each
    assert sorted(system for (system,) in pushes) == sorted(SYSTEMS)  # one push each
    assert written() - start == expected_writes  # the vendors saw what one uninterrupted run writes: no push twice
