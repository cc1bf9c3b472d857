"""A whole workspace's portfolio lists evaluated in a process of their own while the score run prepares its reports.

After a whole workspace's day is written and committed (snapshots, roll-ups, benchmarks, alerts, portfolio keys: all
that the lists read), the run still prepares the panels' views, the renewal forecast and the base reports on its own
thread — seconds of Python at 100,000 accounts — and only then evaluated the lists, on the same thread. The lists
read none of what those preparations write (nor do the preparations read the lists' tables), so `ListsAside` starts
them in a second process (a fresh interpreter: no GIL shared, no connection or lock inherited) right after the day is
committed; the run collects their summary (`result`) before the plays, which still come after the reports.

What the lists store is the same: they read the committed day either way. They read the latest day's measures from
the snapshots (`kept_facts=False`), not from the account facts the base reports are rebuilding meanwhile. On SQLite
both processes write: one waits for the other's transaction (the child waits up to `WAIT` seconds, longer than a base
reports' preparation takes; the run's own connections wait their usual 30 s, longer than the lists' writes take).
An error in the child is raised by `result` (its exception, or a broken pool when the process died).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import resource
import time
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from sqlalchemy.engine import make_url

from store.db import Store

ENABLED = True
"""False: the lists are evaluated after the reports, on the run's own thread, as before."""
WAIT = 600
"""Seconds the child's SQLite connections wait for the run's write lock (a base reports' preparation)."""


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


def _evaluate(url: str, tenant_id: int, day: dt.date) -> tuple[Any, float, float]:
    """In the child: the lists evaluated on a store of its own. Returns (the lists' summary, wall and CPU seconds)."""
    from sync.lists import evaluate_lists, install_defaults

    started, cpu = time.perf_counter(), time.process_time()
    sqlite = make_url(url).get_backend_name() == "sqlite"
    store = Store(url, connect_args={"timeout": WAIT}) if sqlite else Store(url)
    try:
        # the shipped lists a workspace does not hold yet installed (committed) first: the evaluation's transaction
        # then reads until every list is evaluated (and writes only then), the run's reports writing meanwhile
        with store.session(tenant_id) as session:
            installed = install_defaults(session)
        summary = evaluate_lists(store, tenant_id, day, kept_facts=False)
        summary.installed += installed
    finally:
        store.engine.dispose()
    return summary, time.perf_counter() - started, time.process_time() - cpu


class ListsAside:
    """The lists of a whole workspace's run, evaluated in a second process (`start`, once the day is committed), their
    summary taken by `result` (which evaluates them here when `start` was never called)."""

    def __init__(self, store: Store, tenant_id: int, day: dt.date) -> None:
        self.store, self.tenant_id, self.day = store, tenant_id, day
        self.pool: ProcessPoolExecutor | None = None
        self.future: Future[tuple[Any, float, float]] | None = None
        self.seconds = self.cpu = 0.0
        """The child's wall and CPU seconds (its own measure, start-up of the interpreter not counted)."""

    def start(self) -> None:
        if self.future is not None:
            return
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self.future = self.pool.submit(_evaluate, self.store.url, self.tenant_id, self.day)

    def result(self) -> Any:
        """The lists' summary (`sync.lists.ListsSummary`); the child's error raised here."""
        if self.future is None:
            from sync.lists import evaluate_lists

            return evaluate_lists(self.store, self.tenant_id, self.day)
        try:
            summary, self.seconds, self.cpu = self.future.result()
        finally:
            self.close()
        return summary

    def close(self) -> None:
        """The child waited for (a run that failed before `result`: its lists finished or stopped)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def children_cpu() -> float:
    """CPU seconds of this process's finished children (the lists' process among them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
