"""A sync run: pull every object of every connected system incrementally, then link accounts.

Order: accounts of each system first, then identity resolution (so contacts, deals and
tickets find their account), then account owners and CSMs (`sync.owners`), then the other
objects, Canary's tasks in the CRMs last (`sync.tasks`). Each page is stored and its cursor
saved in one transaction (the pages fetched ahead while the last was written: together, in one, see
`_pull_object`; every system's pages of an object are fetched from the start, written one system after the
other, `PREFETCH_SYSTEMS`; the next object's readers start once every system's pages of one are written,
`PREFETCH_OBJECTS`; a first or full pull writes every system's contacts at once, `MERGED_CONTACTS`); the
accounts' derived revenue rows and portfolio keys are refreshed once when every system's pull of the object has
ended (`sync.writer.refresh_derived`; a pull killed before that is caught up by the next sync).
A system that hits its quota or a fatal error stops with the message;
the others go on, and the next run resumes from the saved cursors.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import logging
import multiprocessing
import pickle
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from integrations.base import Adapter, ObjectName, Page
from integrations.errors import AuthError, FatalError
from store.db import Store
from store.models import Account, Contact, SourceLink, Subscription, SurveyResponse, Task, TaskLink, Ticket
from sync.base_reports import prepare_base_reports
from sync.collection import fewer_collections
from sync.owners import OwnerCounts, apply_owners
from sync.reports import prepare_reports
from sync.writer import (
    ContactMerge,
    IdentityCounts,
    PageWriter,
    apply_identity,
    clear_cursors,
    load_cursor,
    load_own_writes,
    recover_derived,
    refresh_derived,
)

log = logging.getLogger("canary.sync")

PULL_ORDER: tuple[ObjectName, ...] = ("accounts", "contacts", "deals", "tickets", "satisfaction", "tasks")
"""``tasks``: Canary's tasks in the CRMs that keep them (completion, due date and owner set there)."""

PULLED_TABLES: tuple[str, ...] = tuple(model.__tablename__ for model in (
    Account, SourceLink, Contact, Subscription, Ticket, SurveyResponse, Task, TaskLink))
"""The tables a pull writes; analyzed after a pull that started without a cursor (see `sync`)."""


@dataclass
class ObjectSummary:
    pulled: int = 0
    changed: int = 0
    skipped: int = 0
    removed: int = 0
    """Records deleted or merged away in the vendor, removed from the store."""
    pages: int = 0


@dataclass
class SystemSummary:
    objects: dict[str, ObjectSummary] = field(default_factory=dict)
    calls: int = 0
    quota_left: int | None = None
    stopped: str | None = None


@dataclass
class SyncSummary:
    systems: dict[str, SystemSummary] = field(default_factory=dict)
    identity: IdentityCounts = field(default_factory=IdentityCounts)
    owners: OwnerCounts = field(default_factory=OwnerCounts)
    phases: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Seconds spent per phase of the run, (wall, this process's CPU): ``accounts`` (pulled), ``identity``,
    ``owners``, ``objects`` (the other objects pulled), ``analyze`` and ``reports`` (prepared for the report
    pages after the pull). For benchmarks and logs; not part of `as_dict`."""

    def as_dict(self) -> dict[str, Any]:
        return {
            system: {
                "objects": {o: vars(s) for o, s in summary.objects.items()},
                "calls": summary.calls,
                "quota_left": summary.quota_left,
                "stopped": summary.stopped,
            }
            for system, summary in self.systems.items()
        } | {"identity": vars(self.identity), "owners": vars(self.owners)}


ProgressCallback = Callable[[str, str, int], None]
"""(system, object, records in the pages just stored)."""


GROUP_RECORDS = 10_000
"""Pages fetched already are written together, in one transaction, up to this many records. A commit writes
every database page the group changed (SQLite: into its write-ahead log); the second and third system's contacts
update rows spread over the whole table, so groups of 2,000 wrote most of its pages again at every commit.
Measured on the captured upserts of a 10,000-company HubSpot portal's contacts (40,672 rows, the other two
systems' contacts stored before), on a loaded machine: 2.1-2.4 CPU s in 21 commits, 1.5-2.1 s in 5."""

SQLITE_CACHE_KIB = 65_536
"""SQLite's page cache for the connection that writes a pull's pages, in KiB (SQLite's default: 2,000 KiB). The
second and third systems' contacts, deals and tickets look up and update rows spread over tables of tens of
megabytes at 10,000 companies: with the default cache most index and table pages were read again from the
file at every page group. Measured on three systems' upserts of 42,000 of 55,000 contacts each (raw sqlite3, this
schema, a loaded machine): 3.5-3.9 CPU s with the default cache, 3.0-3.2 s with this one; in whole 3,000-company
pulls the difference was inside the noise. Set on the connection (it stays with the pooled connection, a bound,
not an allocation: the cache grows only as pages are read); 0 leaves the connection as it is."""

READ_AHEAD = 128
"""Pages the reader thread may hold fetched ahead of the writer (and at most `READ_AHEAD_RECORDS` records)."""

READ_AHEAD_RECORDS = 2 * GROUP_RECORDS
"""Records the reader thread may hold fetched ahead of the writer (one page at least, however big): enough that
it goes on fetching and mapping while the writer's statements run (SQLite and the database driver let go of
the interpreter while they work, so the two can overlap on two cores). The bound before, four pages (four
hundred records of HubSpot or Zendesk, a fifth of one group), stopped the reader long before the writer's group
was written."""


PREFETCH_SYSTEMS = True
"""Start every system's reader of an object before writing the first system's pages (`_sync`): the vendors
answer, and HubSpot's search pacing waits, while the pages before are written. Only the fetching overlaps; the
pages are still written one system after the other, in the same order. At most `READ_AHEAD_RECORDS` records
are held per system."""
PREFETCH_OBJECTS = True
"""Start every system's reader of the next object (`PULL_ORDER`) as soon as every system's pages of one are written:
the vendors answer the next object's first pages while the run resolves identity and owners after the accounts,
writes the merged contacts (`MERGED_CONTACTS`) or refreshes the derived rows after the deals (SQLite and the
database driver let go of the interpreter while their statements run). Only the fetching moves earlier: the pages
are still written in the same order, after what comes before them."""

READ_APART_AHEAD = (2_000, 10 * GROUP_RECORDS)
"""Pages and records a child reader (`_ReadApart`) may hold fetched ahead of the writer: more than a thread
(`READ_AHEAD`, `READ_AHEAD_RECORDS`), because the pages wait in the child's memory, not the writer's, and the
child, unlike the thread, competes with nothing of the writer's: at 10,000 companies a system's contacts (about
42,000) are all fetched while identity and owners run. Measured on the served-apart 10,000-company pull, two
alternating runs each: 10.3 and 10.8 s with this bound, 12.4 and 12.7 s with the thread's (the objects 6.1-6.4 s
instead of 8.2; the writer's groups larger, its CPU 8.2-8.5 s instead of 9.4-9.5)."""

READ_APART = True
"""Fetch each pull's pages in a child process (`_ReadApart`, forked) instead of a thread of this one, where that
is safe: on Linux, from a process running no other thread (`canary sync` on the command line; a web server's
threads or the in-process sandbox's keep the thread), with an adapter that can hand back what a pull changes
on it (`integrations.base.PullState`). The SDKs' parsing and the mapping of records then run beside the
writer instead of taking turns with it for one interpreter: at 10,000 companies they are about 40 % of the
pull's CPU. The pages come back pickled, through a pipe, in the same order and the same groups; errors too."""

MERGED_CONTACTS = True
"""On a first or full pull of contacts (no system's contacts have a cursor), every system's pages are decided one
after the other as always but into one `sync.writer.ContactMerge`, and its rows written once, with every system's
last cursor, when the last system's pull ends: each person's row once, not once per system that names them (the
second and third systems rewrote most rows' ``source_ids``). The same rows and counts as written system after
system; an incremental pull writes its groups as they come."""


@dataclass(frozen=True)
class _Raised:
    error: BaseException


_END = object()


class _ReadAhead:
    """The pages of one pull, fetched by a thread of their own while the caller writes the ones before: the
    vendor call of the next page overlaps the store write of this one (the SDKs wait on sockets, SQLite on its
    file). Only the adapter's pull runs in the thread, one pull at a time, never the store; an error the pull
    raises (`AuthError`, `FatalError`, even `KeyboardInterrupt`) reaches the caller after every page fetched
    before it, as without the thread."""

    def __init__(self, pages: Iterator[Page], ahead: tuple[int, int] | None = None) -> None:
        self._pages = pages
        self._bounds = ahead or (READ_AHEAD, READ_AHEAD_RECORDS)
        """Pages and records at most fetched and not yet taken (read when the reader starts)."""
        self._queue: queue.Queue[Any] = queue.Queue()
        self._held: Any = None
        self._stop = threading.Event()
        self._room = threading.Condition()
        self._ahead = [0, 0]
        """Pages and records fetched and not yet taken by the writer (`_put` waits while they are too many)."""
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._read,),
                                        name="sync-read-ahead", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        size = len(item.records) if isinstance(item, Page) else 0
        with self._room:
            while not self._stop.is_set() and self._ahead[0] and (
                    self._ahead[0] >= self._bounds[0] or self._ahead[1] + size > self._bounds[1]):
                self._room.wait(0.1)
            if self._stop.is_set():
                return False
            self._ahead[0] += 1
            self._ahead[1] += size
        self._queue.put(item)
        return True

    def _read(self) -> None:
        try:
            for page in self._pages:
                if not self._put(page):
                    return
        except BaseException as exc:  # handed to the caller, who raises it
            self._put(_Raised(exc))
            return
        self._put(_END)

    def _take(self, wait: bool) -> Any:
        if self._held is not None:
            item, self._held = self._held, None
            return item
        item = self._queue.get() if wait else self._queue.get_nowait()
        with self._room:
            self._ahead[0] -= 1
            self._ahead[1] -= len(item.records) if isinstance(item, Page) else 0
            self._room.notify()
        return item

    def next_group(self, limit: int = GROUP_RECORDS) -> list[Page] | None:
        """The next page (waited for) and the pages fetched after it already, up to ``limit`` records and up to
        the first page with removals (a later page may bring a removed record back); None at the end. The pull's
        error is raised once every page before it was handed out."""
        group: list[Page] = []
        size = 0
        while not group or (size < limit and not group[-1].removed):
            try:
                item = self._take(wait=not group)
            except queue.Empty:
                break
            if isinstance(item, Page) and (not group or size + len(item.records) <= limit):
                group.append(item)
                size += len(item.records)
                continue
            if group:
                self._held = item  # the end, an error or a page that does not fit: the next group's
                break
            self._held = item  # seen again by every later call
            if isinstance(item, _Raised):
                raise item.error
            return None
        return group

    def close(self) -> None:
        """Stop reading (the writer failed, or the pull is over) and wait for the thread."""
        self._stop.set()
        with self._room:
            self._room.notify_all()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
        self._thread.join()


class _ReadApart(_ReadAhead):
    """The pages of one pull fetched by a forked child process (`READ_APART`): the child runs the adapter's pull
    with its own `_ReadAhead` (bounded by `READ_APART_AHEAD`) and sends each page, pickled, through a
    pipe; `next_group` takes them here exactly as from the thread. When the pull ends the child sends what the
    pull changed on its copy of the adapter (`PullState.pull_state`), taken by this process's adapter before the
    end or the error is handed out, then the error itself (integration errors pickle with their attributes; any
    other that does not pickle arrives as a `FatalError` naming it, with the child's traceback as a note).

    Forked, not spawned: the child starts at once with the adapter as it is (its connection, the sync's
    own-write check). Forking is safe only from a process running no other thread (`_apart`), and the child
    touches nothing of the parent's but the adapter: no store, no database connection (the parent's objects are
    frozen out of the child's garbage collection, so no inherited connection is finalised there), and it ends
    with ``os._exit``, as `multiprocessing` ends every child."""

    def __init__(self, adapter: Adapter, obj: ObjectName, cursor: str | None) -> None:
        self._adapter = adapter
        self._what = f"{getattr(adapter, 'system', 'a system')} {obj}"
        self._held: Any = None
        self._ended = False
        context = multiprocessing.get_context("fork")
        self._conn, theirs = context.Pipe(duplex=False)
        _READING.add(self._conn)
        gc.freeze()
        try:
            self._process = context.Process(target=_read_apart, args=(adapter, obj, cursor, theirs),
                                            name="sync-read-apart", daemon=True)
            self._process.start()
        finally:
            gc.unfreeze()
            theirs.close()

    def _take(self, wait: bool) -> Any:
        if self._held is not None:
            item, self._held = self._held, None
            return item
        if not wait and not self._conn.poll():
            raise queue.Empty
        try:
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            self._process.join(5)
            return _Raised(FatalError(f"the process reading {self._what} ended before the pull did (exit code "
                                      f"{self._process.exitcode}); the next sync resumes from the saved cursor"))
        if kind == "page":
            return payload
        state, error = payload
        self._ended = True
        self._adopt(state)
        return _END if error is None else _Raised(error)

    def _adopt(self, state: Any) -> None:
        adopt = getattr(self._adapter, "adopt_pull_state", None)
        if callable(adopt):
            adopt(state)

    def close(self) -> None:
        """Stop reading: a child that sent its end is waited for; one still reading (the writer failed) is ended
        at once (SIGTERM, then SIGKILL): what it would fetch is not wanted, and the next sync resumes from the
        saved cursor."""
        _READING.discard(self._conn)
        self._conn.close()
        if not self._ended and self._process.is_alive():
            self._process.terminate()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


_READING: set[Any] = set()
"""This process's ends of the pipes of the children reading now: a child forked later closes its copies (else a
pipe would stay open for as long as any later child lives)."""


def _read_apart(adapter: Any, obj: ObjectName, cursor: str | None, conn: Any) -> None:
    """The child of `_ReadApart`: the pull read ahead as in a thread, each page sent as it is taken."""
    for end in list(_READING):  # the parent's ends, this child's own among them: only the parent reads them
        end.close()
    reader: _ReadAhead | None = None
    try:
        reader = _ReadAhead(iter(adapter.pull(obj, cursor)), READ_APART_AHEAD)
        while True:
            item = reader._take(wait=True)
            if isinstance(item, Page):
                conn.send(("page", item))
                continue
            break
        error = item.error if isinstance(item, _Raised) else None
    except BaseException as exc:  # the pull could not start, or a send failed (the parent stopped reading)
        error = exc
    finally:
        if reader is not None:
            reader.close()
    with contextlib.suppress(BrokenPipeError, OSError):  # the parent stopped reading: nothing to tell
        conn.send(("end", (adapter.pull_state(), _sendable(error))))
    conn.close()


def _sendable(error: BaseException | None) -> BaseException | None:
    """``error`` itself when it pickles and comes back (every `integrations.errors` one does); else a `FatalError`
    naming it, the child's traceback added as a note."""
    if error is None:
        return None
    with contextlib.suppress(Exception):
        pickle.loads(pickle.dumps(error))  # noqa: S301 -- our own bytes, never another's
        return error
    substitute = FatalError(f"{type(error).__name__}: {error}")
    substitute.add_note("".join(traceback.format_exception(error)))
    return substitute


def _apart(adapter: Adapter) -> bool:
    """Whether a pull of ``adapter`` is read by a forked child (`READ_APART`): not from a daemonic process, which
    `multiprocessing` lets have no children."""
    return READ_APART and sys.platform == "linux" and threading.active_count() == 1 \
        and not multiprocessing.current_process().daemon \
        and callable(getattr(adapter, "pull_state", None)) and callable(getattr(adapter, "adopt_pull_state", None))


def _merged(group: Sequence[Page]) -> Page:
    """Consecutive pages of one object as one: their records in order, the last page's removals (only the last
    may have any, see `_ReadAhead.next_group`) and the last cursor given."""
    if len(group) == 1:
        return group[0]
    cursor = next((p.cursor for p in reversed(group) if p.cursor is not None), None)
    return Page(group[0].object, [r for p in group for r in p.records], cursor, group[-1].removed,
                [i for p in group for i in p.own_writes])


def _open(store: Store, tenant_id: int, system: str, adapter: Adapter, obj: ObjectName
          ) -> tuple[str | None, _ReadAhead]:
    """The stored cursor of ``system``'s ``obj`` and a reader thread already fetching its pages from there."""
    with store.session(tenant_id) as session:
        cursor = load_cursor(session, system, obj)
        expect = getattr(adapter, "expect_own_writes", None)
        if obj == "accounts" and callable(expect):  # Canary's own writes told on the raw pages (`sync.own_writes`)
            expect(load_own_writes(session, system))
    if _apart(adapter):
        return cursor, _ReadApart(adapter, obj, cursor)
    return cursor, _ReadAhead(iter(adapter.pull(obj, cursor)))


def _pull_object(store: Store, tenant_id: int, system: str, adapter: Adapter, obj: ObjectName,
                 summary: SystemSummary, progress: ProgressCallback | None, derived: set[int],
                 opened: tuple[str | None, _ReadAhead] | None = None, contacts: ContactMerge | None = None) -> bool:
    """Pull one object; True when it started without a cursor (a first or full pull) and stored something:
    a bulk load.

    The vendor calls happen outside any transaction, in a reader thread (`_ReadAhead`; ``opened``: one `_open`
    started already); the pages fetched by the time the last write ended are stored, with the last one's cursor,
    in one commit. The accounts whose derived rows the pages put off go to ``derived``, refreshed by the caller
    (`_refreshing`). ``contacts``: the contacts pages decided into it, stored by the caller (`ContactMerge`)."""
    cursor, reader = opened if opened is not None else _open(store, tenant_id, system, adapter, obj)
    stored = 0
    # The system's account links, read once for all the groups: only the accounts' pages (and identity, after
    # them) move links.
    links: dict[str, int | None] | None = None if obj == "accounts" else {}
    try:
        while (group := reader.next_group()) is not None:
            with store.session(tenant_id) as session:
                if SQLITE_CACHE_KIB and session.get_bind().dialect.name == "sqlite":
                    session.execute(text(f"PRAGMA cache_size = -{int(SQLITE_CACHE_KIB)}"))
                counts = PageWriter(session, system, derived, contacts, links).write(_merged(group))
            target = summary.objects.setdefault(obj, ObjectSummary())
            target.pulled += counts.pulled
            target.changed += counts.changed
            target.skipped += counts.skipped
            target.removed += counts.removed
            target.pages += len(group)
            stored += counts.changed
            if progress:
                progress(system, obj, counts.pulled)
    finally:
        reader.close()
    return cursor is None and stored > 0


@contextlib.contextmanager
def _refreshing(store: Store, tenant_id: int) -> Iterator[set[int]]:
    """A set for the accounts whose derived rows the pulls inside put off, refreshed once when the block ends: after
    every system's pull of one object (deals from two CRMs: one refresh, not one per CRM, each of which recomputed
    nearly every account), and also when a pull inside failed (the pages committed before it)."""
    derived: set[int] = set()
    try:
        yield derived
    finally:
        if derived:
            with store.session(tenant_id) as session:
                refresh_derived(session, derived)


def sync(store: Store, tenant_id: int, adapters: Mapping[str, Adapter], *, full: bool = False,
         objects: Sequence[ObjectName] = PULL_ORDER, progress: ProgressCallback | None = None,
         reconnect: Callable[[str], Adapter] | None = None) -> SyncSummary:
    """Pull ``objects`` from every adapter, accounts first, then link identities, then the rest.

    ``reconnect(system)``, when given, is asked once per system for a new adapter after the vendor
    refused the credentials (an expired OAuth token, see `sync.connections.TenantAdapters`); the
    object is then pulled again from its stored cursor. A second refusal stops that system.

    The cyclic collector runs rarely meanwhile (`sync.collection.fewer_collections`): a full pull makes and drops
    millions of short-lived objects (payloads, records, rows), and each full collection traversed the whole heap
    (at 10,000 companies: 7 full and 300 middle collections, 17 % of the store side's CPU).
    """
    with fewer_collections():
        return _sync(store, tenant_id, adapters, full=full, objects=objects, progress=progress, reconnect=reconnect)


def _sync(store: Store, tenant_id: int, adapters: Mapping[str, Adapter], *, full: bool,
          objects: Sequence[ObjectName], progress: ProgressCallback | None,
          reconnect: Callable[[str], Adapter] | None) -> SyncSummary:
    summary = SyncSummary()
    adapters = dict(adapters)
    spent: dict[str, int] = {}
    reconnected: set[str] = set()
    bulk: list[bool] = []
    with store.session(tenant_id) as session:
        if recover_derived(session):
            log.warning("a pull stopped before refreshing its accounts' revenue and portfolio keys: all refreshed")
    for system in adapters:
        summary.systems[system] = SystemSummary()
        if full:
            with store.session(tenant_id) as session:
                clear_cursors(session, system)

    def wanted(system: str, obj: ObjectName) -> bool:
        return not summary.systems[system].stopped and obj in getattr(adapters[system], "objects", PULL_ORDER) \
            and obj in objects

    def run(system: str, obj: ObjectName, derived: set[int],
            opened: tuple[str | None, _ReadAhead] | None = None, merge: ContactMerge | None = None) -> None:
        adapter = adapters[system]
        sys_summary = summary.systems[system]
        if not wanted(system, obj):
            return
        try:
            try:
                bulk.append(_pull_object(store, tenant_id, system, adapter, obj, sys_summary, progress, derived,
                                         opened, merge))
            except AuthError:
                if reconnect is None or system in reconnected:
                    raise
                reconnected.add(system)
                spent[system] = spent.get(system, 0) + int(getattr(adapter, "calls", 0))
                if merge is not None:  # the pages decided so far stored, so the pull goes on from their cursor
                    with store.session(tenant_id) as session:
                        merge.flush(session)
                adapters[system] = adapter = reconnect(system)
                bulk.append(_pull_object(store, tenant_id, system, adapter, obj, sys_summary, progress, derived,
                                         contacts=merge))
        except (FatalError, AuthError) as exc:
            sys_summary.stopped = str(exc)
            log.warning("%s sync stopped: %s", system, exc)

    mark = (time.perf_counter(), time.process_time())

    def phase(name: str) -> None:
        nonlocal mark
        now = (time.perf_counter(), time.process_time())
        summary.phases[name] = (now[0] - mark[0], now[1] - mark[1])
        mark = now

    def close_readers(opened: dict[str, tuple[str | None, _ReadAhead]]) -> None:
        for _cursor, reader in opened.values():
            reader.close()
        opened.clear()

    def open_readers(obj: ObjectName | None) -> dict[str, tuple[str | None, _ReadAhead]]:
        """Every wanted system's reader of ``obj`` started (with `PREFETCH_SYSTEMS`; none for no object)."""
        opened: dict[str, tuple[str | None, _ReadAhead]] = {}
        if obj is None or not PREFETCH_SYSTEMS:
            return opened
        try:
            for system in adapters:
                if wanted(system, obj):
                    # An error starting it is raised again, and handled, when the system's turn comes (`run`).
                    with contextlib.suppress(FatalError, AuthError):
                        opened[system] = _open(store, tenant_id, system, adapters[system], obj)
        except BaseException:
            close_readers(opened)
            raise
        return opened

    def run_every_system(obj: ObjectName, derived: set[int], opened: dict[str, tuple[str | None, _ReadAhead]],
                         then: ObjectName | None) -> dict[str, tuple[str | None, _ReadAhead]]:
        """``obj`` of every system, written one system after the other; with `PREFETCH_SYSTEMS` every system's
        reader is started first (``opened``), so the later systems' pages are fetched while the earlier ones are
        written. Returns the readers of the object pulled ``then``, started once every system's pages of ``obj``
        are written (`PREFETCH_OBJECTS`), for the caller to hand to the next call (or close)."""
        try:
            # A first or full pull of contacts: every system's pages decided in memory, the rows written once.
            merge = ContactMerge() if MERGED_CONTACTS and obj == "contacts" and opened and all(
                cursor is None for cursor, _reader in opened.values()) else None
            for system in adapters:
                run(system, obj, derived, opened.pop(system, None), merge)
            ahead = open_readers(then if PREFETCH_OBJECTS else None)
            try:
                if merge is not None:  # not when a write failed: then nothing of it is stored, and no cursor
                    with store.session(tenant_id) as session:
                        merge.flush(session)
            except BaseException:
                close_readers(ahead)
                raise
            return ahead
        finally:
            close_readers(opened)  # a write failed: the readers not reached yet stop

    ahead: dict[str, tuple[str | None, _ReadAhead]] = {}
    try:
        with _refreshing(store, tenant_id) as derived:
            ahead = run_every_system("accounts", derived, open_readers("accounts"), then=PULL_ORDER[1])
        phase("accounts")
        with store.session(tenant_id) as session:
            summary.identity = apply_identity(session)
        phase("identity")
        with store.session(tenant_id) as session:
            summary.owners = apply_owners(session)
        phase("owners")
        for index, obj in enumerate(PULL_ORDER[1:], start=2):
            with _refreshing(store, tenant_id) as derived:
                ahead = run_every_system(obj, derived, ahead, PULL_ORDER[index] if index < len(PULL_ORDER) else None)
    finally:
        close_readers(ahead)  # a write, the identity or a refresh failed: the readers started ahead stop
    phase("objects")
    if any(bulk):
        # A first or full pull loads a workspace at once; the scoring and push queries that follow must not be
        # planned on the statistics of the tables as they were before it (see `Store.analyze`).
        store.analyze(*PULLED_TABLES)
    phase("analyze")
    with store.session(tenant_id) as session:  # the report pages read it built, whichever process serves them
        prepare_reports(session)
    with store.session(tenant_id) as session:
        prepare_base_reports(session)
    phase("reports")
    for system, adapter in adapters.items():
        summary.systems[system].calls = spent.get(system, 0) + int(getattr(adapter, "calls", 0))
        quota_left = getattr(adapter, "quota_left", None)
        summary.systems[system].quota_left = quota_left() if callable(quota_left) else None
    return summary
