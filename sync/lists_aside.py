"""A whole workspace's portfolio lists evaluated in a process of their own while the score run prepares its reports.

After a whole workspace's day is written and committed (snapshots, roll-ups, benchmarks, alerts, portfolio keys: all
that the lists read), the run still prepares the panels' views, the renewal forecast and the base reports on its own
thread — seconds of Python at 100,000 accounts — and only then evaluated the lists, on the same thread. The lists
read none of what those preparations write (nor do the preparations read the lists' tables), so `ListsAside` starts
them in a second process (a fresh interpreter: no GIL shared, no connection or lock inherited) right after the day is
committed; the run collects their summary (`result`) before the plays, which still come after the reports.

What the lists store is the same: they read the committed day either way. The latest day's measures are not read from
the account facts the base reports are rebuilding meanwhile (`kept_facts=False`): the run hands the child the values it
kept of the snapshots it inserted (`sync.base_reports.KnownMeasures`, pickled with the day: what the account facts
will hold for them), and only the day's other snapshots are read from their JSON. On SQLite
both processes write: one waits for the other's transaction (the child waits up to `WAIT` seconds, longer than a base
reports' preparation takes; the run's own connections wait their usual 30 s, longer than the lists' writes take).
An error in the child is raised by `result` (its exception, or a broken pool when the process died).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from store.db import Store

if TYPE_CHECKING:
    from sync.base_reports import KnownMeasures

ENABLED = os.environ.get("CANARY_LISTS_ASIDE", "1") != "0"
"""False (``CANARY_LISTS_ASIDE=0``): the lists are evaluated after the reports, on the run's own thread, as before."""
WAIT = 600
"""Seconds the child's SQLite connections wait for the run's write lock (a base reports' preparation)."""
ROOT = Path(__file__).resolve().parents[1]


def usable(store: Store) -> bool:
    """A database a second process can open: a SQLite file or a server (not an in-memory SQLite database)."""
    if not ENABLED:
        return False
    url = make_url(store.url)
    if url.get_backend_name() != "sqlite":
        return True
    database = url.database or ""
    return bool(database) and database != ":memory:" and not database.startswith("file::memory:") \
        and "mode=memory" not in database


def _evaluate(url: str, tenant_id: int, day: dt.date, known: KnownMeasures | None = None
              ) -> tuple[Any, float, float, float]:
    """In the child: the lists evaluated on a store of its own. Returns (the lists' summary, wall and CPU seconds,
    the process's peak memory in MiB)."""
    from sync.lists import evaluate_lists, install_defaults

    started, cpu = time.perf_counter(), time.process_time()
    sqlite = make_url(url).get_backend_name() == "sqlite"
    store = Store(url, connect_args={"timeout": WAIT}) if sqlite else Store(url)
    try:
        # the shipped lists a workspace does not hold yet: installed by the run before it started this process
        # (`ListsAside.start`), so none is left here unless one was deleted since; the evaluation's transaction then
        # reads until every list is evaluated (and writes only then), the run's reports writing meanwhile
        with store.session(tenant_id) as session:
            installed = install_defaults(session)
        summary = evaluate_lists(store, tenant_id, day, kept_facts=False, known=known)
        summary.installed += installed
    finally:
        store.engine.dispose()
    return summary, time.perf_counter() - started, time.process_time() - cpu, _peak_mib()


def _peak_mib() -> float:
    """This process's peak resident memory in MiB since it started its program: Linux's ``VmHWM`` (``ru_maxrss``
    would count the run's own memory too: it survives the exec of a process forked from the run)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ListsAside:
    """The lists of a whole workspace's run, evaluated in a second process (`start`, once the day is committed), their
    summary taken by `result` (which evaluates them here when `start` was never called).

    The process is a fresh interpreter running this module (``python -m sync.lists_aside``: no main module of the
    run's imported again, nothing inherited but the environment); the database's address and the day go to it on
    its standard input (an address's password stays out of the process list), its summary comes back pickled on
    its standard output, its errors on a file read when it fails."""

    def __init__(self, store: Store, tenant_id: int, day: dt.date) -> None:
        self.store, self.tenant_id, self.day = store, tenant_id, day
        self.process: subprocess.Popen[bytes] | None = None
        self.errors: IO[bytes] | None = None
        self.seconds = self.cpu = self.peak = 0.0
        """The child's wall and CPU seconds (its own measure, start-up of the interpreter not counted) and its peak
        memory (MiB)."""
        self.installed = 0
        """The shipped lists `start` installed."""

    def start(self, known: KnownMeasures | None = None) -> None:
        """The child started (once), given `known`: the measure values the run kept of its day's snapshots."""
        if self.process is not None:
            return
        from sync.lists import install_defaults

        # The shipped lists a workspace lacks installed here, committed before the child starts: installing them
        # there would wait for the write lock the run's reports hold on SQLite (seconds), before any list is read.
        with self.store.session(self.tenant_id) as session:
            self.installed = install_defaults(session)
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 — closed by `close`
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen([sys.executable, "-m", "sync.lists_aside"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.errors, cwd=ROOT,
                                        env={**os.environ, "PYTHONPATH": path})
        stdin, self.process.stdin = self.process.stdin, None  # written and closed here, not by `communicate`
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError):  # the child died at once: told by `result`
            try:
                stdin.write(pickle.dumps((self.store.url, self.tenant_id, self.day, known)))
            finally:
                stdin.close()

    def result(self) -> Any:
        """The lists' summary (`sync.lists.ListsSummary`); the child's error raised here."""
        if self.process is None:
            from sync.lists import evaluate_lists

            return evaluate_lists(self.store, self.tenant_id, self.day)
        try:
            out, _ = self.process.communicate()
            if self.process.returncode != 0 or not out:
                assert self.errors is not None
                self.errors.seek(0)
                told = self.errors.read().decode(errors="replace").strip().splitlines()
                raise RuntimeError(f"the lists' evaluation failed (exit {self.process.returncode}): "
                                   + "\n".join(told[-20:]))
            summary, self.seconds, self.cpu, self.peak = pickle.loads(out)  # noqa: S301 — our own child's output
            summary.installed += self.installed
        finally:
            self.close()
        return summary

    def close(self) -> None:
        """The child waited for (a run that failed before `result`: its lists finished or stopped)."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()
        if self.errors is not None:
            self.errors.close()
            self.errors = None


def children_cpu() -> float:
    """CPU seconds of this process's finished children (the lists' process among them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    url, tenant_id, day, known = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 — from the run that started us
    answer, sys.stdout = sys.stdout, sys.stderr  # whatever else is printed stays out of the answer
    answer.buffer.write(pickle.dumps(_evaluate(url, tenant_id, day, known)))
