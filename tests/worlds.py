"""Demo worlds built once per test run and copied for each test module that asks for the same one.

A demo world is what `cli.demo.run_demo` makes of a sandbox of ``(accounts, seed, as_of)``: usage sent through
the collector's ``POST /v1/batch``, the three vendors synced, 180 days scored, users, plays, pushes. It costs
tens of seconds of CPU, and the same world serves several test files (the stories' month end and the Chromium
console test). `demo_world` builds it once per run — in a folder every pytest-xdist worker of the run shares,
under a file lock, so whichever worker asks first builds it while another that asks meanwhile waits for it —
and gives each caller its own copy of the database (SQLite's backup API) with deep copies of the run's result
and the sandbox's ``truth.json``. Copies are byte-for-byte the first build: tests may write to theirs.

The world is keyed by its parameters and the migrations' key, and the folder belongs to one run (the run's
base temporary folder), so a copy never comes from another run or another version of the code.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import CHEAP_ARGON2
from tests.dbtemplate import _SESSION, copy_sqlite, migrate_new, migrations_digest, sqlite_path

WORLD_SECRET = "demo-world-secret-key-0123456789"
"""The secret of the app that builds a world (the connections' credentials are encrypted with it): an app
opened on a copy uses it too."""

LIMITS: dict[str, Any] = {"hubspot": {"requests_per_10s": 100_000},
                          "zendesk": {"incremental_requests_per_minute": None}}
"""Vendor rate limits lifted (the emulators would make the pull wait); the records are the same."""


@dataclass
class DemoWorld:
    url: str
    """This caller's copy (a SQLite URL)."""
    result: Any
    """`cli.demo.DemoResult` of the build (tenant id, sign-in lines with their passwords, counts)."""
    truth: dict[str, Any]
    """The sandbox's ``truth.json``."""

    def app(self, **config: Any) -> Any:
        """An app on this copy, with the world's secret (more settings in ``config``)."""
        from app import create_app

        return create_app({"TESTING": True, "SECRET_KEY": WORLD_SECRET, "DATABASE_URL": self.url,
                           "PASSWORD_HASH": CHEAP_ARGON2, **config})

    def remove(self) -> None:
        """Delete this copy (about 150 MB at 100 companies) when done with it: dispose its apps' stores first."""
        path = sqlite_path(self.url)
        for part in path.parent.glob(f"{path.name}*"):  # the file, its -wal and -shm
            part.unlink()


def run_folder(factory: pytest.TempPathFactory) -> Path:
    """A folder of this test run that every pytest-xdist worker of the run shares (each worker's base temporary
    folder is ``popen-gwN`` in the controller's); without xdist, the session's own base temporary folder."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _build(folder: Path, stem: str, accounts: int, seed: int, as_of: dt.date) -> None:
    from cli.demo import run_demo
    from extensions import canary_store
    from sandbox.server import Sandbox

    for leftover in folder.glob(f"{stem}.db*"):  # a build that failed half-way
        leftover.unlink()
    url = f"sqlite:///{folder / f'{stem}.db'}"
    migrate_new(url)
    app = DemoWorld(url, None, {}).app()
    with Sandbox(accounts=accounts, seed=seed, as_of=as_of, **LIMITS) as box:
        result = run_demo(app, accounts=accounts, seed=seed, sandbox=box)
        truth = json.loads(Path(box.truth_path).read_text())
    canary_store(app).dispose()
    (folder / f"{stem}.pickle").write_bytes(pickle.dumps((result, truth)))


def demo_world(factory: pytest.TempPathFactory, target: Path, *, accounts: int, seed: int,
               as_of: dt.date) -> DemoWorld:
    """A copy at ``target`` (a new SQLite file) of this run's demo world of ``(accounts, seed, as_of)``."""
    key = _SESSION[-1].key() if _SESSION else migrations_digest()[:16]
    stem = f"demo-world-{accounts}-{seed}-{as_of.isoformat()}-{key}"
    folder = run_folder(factory) / "demo-worlds"
    folder.mkdir(exist_ok=True)
    with open(folder / f"{stem}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker building this world: wait for it
        try:
            if not (folder / f"{stem}.pickle").exists():
                _build(folder, stem, accounts, seed, as_of)
            result, truth = pickle.loads((folder / f"{stem}.pickle").read_bytes())
            copy_sqlite(folder / f"{stem}.db", target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return DemoWorld(f"sqlite:///{target}", result, truth)
