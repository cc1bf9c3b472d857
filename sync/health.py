"""A scoring run: load each account's facts from the store, score with the pure engine, store the result.

For every day from ``since`` to ``as_of`` it writes one `HealthSnapshot` per account (score,
band, parts — naming the stored legend of the model's measure descriptors, `store.legends` —,
reasons, 30-day trend), rolls parents up from their children, and — on the last day only — adds
segment benchmarks and evaluates the alert rules: new alerts are raised (with a task for the
account's CSM), alerts whose condition is gone are resolved, and an alert whose condition
persists is not raised again.

Accounts are processed in chunks so memory stays flat on large books of business; each
chunk's facts are loaded once for the whole day range (the engine ignores facts dated after
the day it scores). A multi-day run (the first score's 180-day backfill) computes each
account's days in one pass (`scoring.signal_series`, `score_series`, `slopes_by_day`: the same
results as scoring each day alone) and writes new snapshots as multi-row INSERTs.

A whole workspace's one-day run (the nightly score) uses both cores on SQLite: the next chunks' usage is read and
parsed on a second thread (one JSON row per chunk, `_SeriesAhead`), a chunk's scores stay arrays until its
snapshots are due (`_LazyChunk`: built while the loop waits for usage, else at the insert), and the day's snapshots
are inserted on a helper thread, with their benchmarks, while the next batch's texts are made (`_insert_day`). Such a
chunk's scores are built light (`ScoreBatch.light`: no parts, what the alerts and roll-ups read) and its snapshots'
texts made from the arrays (`ScoreBatch.parts_json`). On SQLite the portfolio keys are refreshed on a helper thread
while the alert rules are evaluated.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from typing import Any, NamedTuple, cast

import numpy as np
from sqlalchemy import (
    BindParameter,
    String,
    Table,
    Text,
    bindparam,
    case,
    func,
    insert,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy import event as sql_event
from sqlalchemy.orm import Session

from collector.inbox import fold_pending
from integrations.registry import vendors
from scoring import (
    BANDS,
    AccountInputs,
    ChildHealth,
    ContactFact,
    CsatAnswer,
    HealthModel,
    HealthScore,
    NpsAnswer,
    ScoreBatch,
    Signals,
    SignalTable,
    TicketFact,
    UsageColumns,
    UsageDay,
    benchmark_json,
    benchmark_json_columns,
    compute_signal_table,
    evaluate_alerts,
    reasons_json,
    roll_up,
    score_series,
    score_table,
    signal_series,
    slopes_by_day,
)
from scoring.alerts import history_may_raise, history_windows, may_raise
from store import panel_views, portfolio_keys
from store.db import Store
from store.legends import Legends, legend_id
from store.models import (
    Account,
    Alert,
    Connection,
    Contact,
    HealthSnapshot,
    ProductUser,
    Subscription,
    SurveyResponse,
    Task,
    Ticket,
    UsageDaily,
    UsageMonthly,
)
from store.panel_views import touches
from store.queries import (
    SubscriptionTerms,
    _of_record,
    active_subscription_terms,
    active_subscriptions,
    live_accounts,
)
from store.scoping import current_tenant
from store.types import EncodedJSON, sqlite_utc_text
from sync.base_reports import KnownMeasures, patch_base_reports, prepare_base_reports
from sync.collection import fewer_collections
from sync.reports import prepare_reports
from sync.tasks import NewTask, complete_task, create_tasks
from sync.usage_facts import ReadAhead

CHUNK = 1000
ONE_PASS_DAY = True
"""A whole workspace's one-day run inserts its new snapshots once every account is scored, their benchmarks in
their parts (False: chunk by chunk, the benchmarks written over them afterwards — the way before, the same rows;
kept for the test that compares them)."""
WINDOW_DAYS = 35
TICKET_DAYS = 60
TREND_DAYS = 30
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()

ProgressCallback = Callable[[int], None]

_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
"""A chunk's account ids, bound at execution as one list (not a literal per id built into each statement)."""


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


@dataclass
class ScoreSummary:
    days: int = 0
    accounts: int = 0
    bands: Counter[str] = field(default_factory=Counter)
    band_changes: int = 0
    alerts_raised: int = 0
    alerts_resolved: int = 0
    alerts_by_rule: Counter[str] = field(default_factory=Counter)
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds per phase of the run, in the order first met (`canary score --timings`; not in `as_dict`)."""
    cpu_timings: dict[str, float] = field(default_factory=dict)
    """The process's CPU seconds per phase, likewise."""

    def add_time(self, name: str, started: tuple[float, float]) -> None:
        """Add the time since `started` (`_clocks()`) to the phase `name`."""
        wall, cpu = _clocks()
        self.timings[name] = self.timings.get(name, 0.0) + wall - started[0]
        self.cpu_timings[name] = self.cpu_timings.get(name, 0.0) + cpu - started[1]

    def move_time(self, source: str, target: str, started: tuple[float, float]) -> None:
        """Count the time since `started` to the phase `target` instead of `source` (whose `phase` is running: a
        part of it spent waiting for `target`'s work on another thread)."""
        wall, cpu = _clocks()
        for timings, spent in ((self.timings, wall - started[0]), (self.cpu_timings, cpu - started[1])):
            timings[target] = timings.get(target, 0.0) + spent
            timings[source] = timings.get(source, 0.0) - spent

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = _clocks()
        try:
            yield
        finally:
            self.add_time(name, started)

    def as_dict(self) -> dict[str, Any]:
        return {"days": self.days, "accounts": self.accounts,
                "bands": {b: self.bands.get(b, 0) for b in ("good", "average", "poor")},
                "unscored": self.bands.get("none", 0), "band_changes": self.band_changes,
                "alerts_raised": self.alerts_raised, "alerts_resolved": self.alerts_resolved,
                "alerts_by_rule": dict(self.alerts_by_rule)}


def _chunks(ids: Sequence[int], size: int = CHUNK) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _day(value: dt.datetime | dt.date | None) -> dt.date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, dt.datetime) else value


class Sources(NamedTuple):
    """Which sources the workspace has: a usage stream (any usage row), a help desk (any ticket, or a
    connected help desk). Read once per run (`Sources.of`), not per chunk: on a large book each is a query."""

    usage: bool
    helpdesk: bool

    @classmethod
    def of(cls, session: Session) -> Sources:
        def exists(query: Any) -> bool:
            return session.scalar(query.limit(1)) is not None

        helpdesks = [v.name for v in vendors() if v.helpdesk]
        return cls(exists(select(UsageDaily.id)),
                   exists(select(Ticket.id)) or exists(select(Connection.id).where(Connection.system.in_(helpdesks))))


class _Usage(NamedTuple):
    """A chunk's usage rows as columns: account id, day ordinal, user and event codes (into `users`, `events`),
    count."""

    account: np.ndarray[Any, np.dtype[np.int64]]
    ordinal: np.ndarray[Any, np.dtype[np.int64]]
    user: np.ndarray[Any, np.dtype[np.int64]]
    event: np.ndarray[Any, np.dtype[np.int64]]
    counts: np.ndarray[Any, np.dtype[np.int64]]
    users: tuple[str, ...]
    events: tuple[str, ...]


def _driver_rows(connection: Any, sql: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The driver's own tuples for a statement in its own parameter style (no statement compiled, no Row
    objects): for reads whose IN-list of a thousand ids would otherwise be rendered on every execution."""
    result = connection.exec_driver_sql(sql, parameters)
    try:
        return cast(list[tuple[Any, ...]], result.cursor.fetchall())
    finally:
        result.close()


def _series_statement(account_ids: list[int], start: dt.date, end: dt.date) -> tuple[str, tuple[Any, ...]]:
    """SQLite's read of the accounts' usage by series (`InputLoader._usage_series`) from `start` to `end`."""
    marks = ",".join("?" * len(account_ids))  # placeholders only: the ids are bound
    return ("SELECT account_id, user_key, event, group_concat(day, '') AS d, group_concat(count, ' ') AS c "  # noqa: S608
            f"FROM usage_daily WHERE account_id IN ({marks}) AND day >= ? AND day <= ? "
            "GROUP BY account_id, user_key, event", (*account_ids, start.isoformat(), end.isoformat()))


class _Parsed(NamedTuple):
    """A chunk's series as columns (`_parse_series`): account id, day ordinal, user and event codes (into
    `users`, `events`: code by key, in the order met), count — one entry per usage row."""

    account: np.ndarray[Any, np.dtype[np.int64]]
    ordinal: np.ndarray[Any, np.dtype[np.int64]]
    user: np.ndarray[Any, np.dtype[np.int64]]
    event: np.ndarray[Any, np.dtype[np.int64]]
    counts: np.ndarray[Any, np.dtype[np.int64]]
    users: dict[str, int]
    events: dict[str, int]


class _Series(NamedTuple):
    """A chunk's series as read (`rows`) and parsed (`parsed`; None: a value the columns cannot hold)."""

    rows: list[tuple[Any, ...]]
    parsed: _Parsed | None


def _parse_series(series: list[tuple[Any, ...]]) -> _Parsed | None:
    """The rows of `_series_statement` as columns, the days and counts parsed by NumPy; None when a day is not
    ``YYYY-MM-DD`` text or a count no whole number. Pure: `_SeriesAhead` runs it on its own thread."""
    users: dict[str, int] = {}
    names: dict[str, int] = {}
    lengths = [len(days) // 10 for _, _, _, days, _ in series]
    if any(len(days) % 10 for _, _, _, days, _ in series):
        return None
    rows = sum(lengths)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # NumPy warns (and stops) at text that is no number
            count = np.fromstring(" ".join(c for *_, c in series), dtype=np.int64, sep=" ")
        text = np.frombuffer("".join(days for _, _, _, days, _ in series).encode("ascii"), dtype=np.uint8)
    except (ValueError, DeprecationWarning, UnicodeEncodeError):
        return None
    if len(count) != rows:
        return None
    digits = text.reshape(rows, 10).astype(np.int64) - ord("0")
    dash = ord("-") - ord("0")
    if rows and not ((digits[:, [4, 7]] == dash).all() and (digits[:, [0, 1, 2, 3, 5, 6, 8, 9]] >= 0).all()
                     and (digits[:, [0, 1, 2, 3, 5, 6, 8, 9]] <= 9).all()):
        return None
    # yyyymmdd as a number; each distinct day (a few dozen) made an ordinal once
    key = digits[:, [0, 1, 2, 3, 5, 6, 8, 9]] @ np.array([10 ** k for k in range(7, -1, -1)], dtype=np.int64)
    distinct, inverse = np.unique(key, return_inverse=True)
    try:
        ordinals = np.array([dt.date(k // 10000, k // 100 % 100, k % 100).toordinal()
                             for k in distinct.tolist()], dtype=np.int64)
    except ValueError:
        return None
    account = np.repeat(np.array([a for a, *_ in series], dtype=np.int64), lengths)
    user = np.repeat(np.array([users.setdefault(u, len(users)) for _, u, *_ in series], dtype=np.int64), lengths)
    event = np.repeat(np.array([names.setdefault(e, len(names)) for _, _, e, *_ in series], dtype=np.int64),
                      lengths)
    ordinal = ordinals[inverse.reshape(-1)] if rows else np.zeros(0, dtype=np.int64)
    return _Parsed(account, ordinal, user, event, count, users, names)


SERIES_THREADS = 1
"""`_SeriesAhead`'s threads (each chunk's read on one, `SERIES_THREADS` + 1 chunks ahead). 2 (two reads while the
scoring thread waits for a chunk) measured no faster at 100,000 accounts (load phase 10.6 s vs 10.75 s; the machine
shared, loaded): kept at one."""


class _SeriesAhead:
    """The usage series of the next chunk read on a second connection while this chunk is scored (SQLite, a
    database file): SQLite groups the rows without holding the GIL, so on a second core the read costs the
    run little wall time; the rows are parsed there too (`_parse_series`, mostly NumPy, which leaves the GIL as
    well). The rows are those `_usage_series` would read itself."""

    def __init__(self, store: Store, chunks: list[list[int]], start: dt.date, end: dt.date) -> None:
        self.store, self.chunks, self.start, self.end = store, chunks, start, end
        self.executor = ThreadPoolExecutor(max_workers=SERIES_THREADS, thread_name_prefix="usage-ahead")
        self.pending: dict[int, Future[_Series]] = {}
        self.taken: set[int] = set()

    @staticmethod
    def usable(store: Store) -> bool:
        url = store.engine.url
        return (url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
                and "memory" not in str(url.query.get("mode", "")))

    def _read(self, account_ids: list[int]) -> _Series:
        # The series as one JSON array in one row: SQLite's whole read is one step without the GIL (a row per
        # series would take the GIL back for each row, and waits for it while the scoring thread runs Python).
        sql, parameters = _series_statement(account_ids, self.start, self.end)
        whole = f"SELECT json_group_array(json_array(account_id, user_key, event, d, c)) FROM ({sql})"  # noqa: S608
        with self.store.engine.connect() as connection:
            found = _driver_rows(connection, whole, parameters)
        rows = [tuple(row) for row in json.loads(found[0][0])] if found and found[0][0] else []
        return _Series(rows, _parse_series(rows))  # parsed here too: NumPy's parts leave the GIL as well

    def prefetch(self, upto: int) -> None:
        """Read chunks up to `upto` (excluded) ahead, in order (those not read or started yet)."""
        for j in range(upto):
            if j < len(self.chunks) and j not in self.pending and j not in self.taken:
                self.pending[j] = self.executor.submit(self._read, self.chunks[j])

    def ready(self, k: int) -> bool:
        """Whether chunk `k`'s series are read (true past the last chunk: nothing to wait for)."""
        found = self.pending.get(k)
        return k >= len(self.chunks) or (found is not None and found.done())

    def get(self, k: int) -> _Series:
        """Chunk `k`'s series, read and parsed (the next chunk's read started meanwhile)."""
        self.prefetch(k + 1 + SERIES_THREADS)
        self.taken.add(k)
        return self.pending.pop(k).result()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


class Facts(NamedTuple):
    """Accounts' facts but usage, by account id (`InputLoader.read_facts`)."""

    accounts: dict[int, Any]
    subscriptions: dict[int, list[SubscriptionTerms]]
    tickets: dict[int, list[TicketFact]]
    csat: dict[int, list[CsatAnswer]]
    nps: dict[int, list[NpsAnswer]]
    contacts: dict[int, list[ContactFact]]


class InputLoader:
    """Builds `AccountInputs` for chunks of accounts from one tenant's store."""

    def __init__(self, session: Session, model: HealthModel, first_day: dt.date, last_day: dt.date,
                 sources: Sources | None = None, facts: Facts | None = None) -> None:
        self.session = session
        self.facts = facts
        """Every account's facts but usage, read once for a whole run (`read_facts(None)`); else read per chunk."""
        self.model = model
        self.window_start = first_day - dt.timedelta(days=WINDOW_DAYS)
        self.ticket_start = first_day - dt.timedelta(days=TICKET_DAYS)
        self.last_day = last_day
        self.has_usage, self.has_helpdesk = sources if sources is not None else Sources.of(session)

    def load_columns(self, account_ids: list[int], series: _Series | list[tuple[Any, ...]] | None = None
                     ) -> tuple[list[AccountInputs], UsageColumns]:
        """`load`, with the usage rows as one set of columns (`scoring.UsageColumns`) read set-wise instead of
        one `UsageDay` per row: each account's `usage` is then () (a usage stream) or None (none).

        On SQLite the rows come from the driver grouped by series (`_usage_series`: no Python tuple per usage
        row); elsewhere, or when that read meets a value it does not expect, as one tuple per row (`_usage_rows`).
        The columns hold the same rows either way (in another order, which the signals do not read).
        `series`: the chunk's series read ahead (`_SeriesAhead`)."""
        usage = ((self._usage_series(account_ids, series) or self._usage_rows(account_ids)) if self.has_usage
                 else None)
        if usage is None:
            usage = _Usage(*(np.zeros(0, dtype=np.int64),) * 5, (), ())
        account, ordinal = usage.account, usage.ordinal
        first: dict[int, int] = {}
        if len(account):
            order = np.lexsort((ordinal, account))
            sorted_ids = account[order]
            starts = np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]
            first = dict(zip(sorted_ids[starts].tolist(), ordinal[order][starts].tolist(), strict=True))
        inputs = self._inputs(account_ids, {}, first)
        known = np.array([a.account_id for a in inputs], dtype=np.int64)
        by_id = np.argsort(known, kind="stable")
        at = np.minimum(np.searchsorted(known[by_id], account), max(len(known) - 1, 0))
        where = np.where(known[by_id][at] == account, by_id[at], -1) if len(known) else np.full(len(account), -1)
        keep = where >= 0
        columns = UsageColumns(where[keep].astype(np.int64), ordinal[keep], usage.user[keep], usage.event[keep],
                               usage.counts[keep], usage.users, usage.events)
        return inputs, columns

    def _usage_rows(self, account_ids: list[int]) -> _Usage:
        """The window's usage rows (and the milestones used before it) read as one driver tuple per row."""
        # Core, not the ORM's row processing; the day as the driver gives it (text on SQLite, a date on
        # PostgreSQL): NumPy reads both at once.
        s = self.session.connection()
        day = type_coerce(UsageDaily.day, String())
        result = s.execute(
            select(UsageDaily.account_id, day, UsageDaily.user_key, UsageDaily.event, UsageDaily.count)
            .where(UsageDaily.account_id.in_(_IDS), UsageDaily.day >= self.window_start,
                   UsageDaily.day <= self.last_day), {"ids": account_ids})
        try:
            # the driver's tuples: no Row object per usage row
            rows = cast(list[tuple[Any, ...]], result.cursor.fetchall())
        finally:
            result.close()
        rows += [(account_id, first, "(milestone)", event, 1)
                 for account_id, event, first in self._milestones_before(account_ids)]
        # Split by column at C speed (zip), codes by one dict lookup per row (map).
        ids, days, user_keys, events, counts = ((list(c) for c in zip(*rows, strict=True)) if rows
                                                else ([], [], [], [], []))
        # A chunk's rows fall on a few dozen days: each distinct day parsed once, the rows coded by a dict lookup.
        distinct_days = {d: k for k, d in enumerate(dict.fromkeys(days))}
        day_ordinals = np.array(list(distinct_days), dtype="datetime64[D]").astype(np.int64) + EPOCH_ORDINAL
        ordinal = day_ordinals[np.fromiter(map(distinct_days.__getitem__, days), dtype=np.int64, count=len(days))]
        users = {u: k for k, u in enumerate(dict.fromkeys(user_keys))}
        names = {e: k for k, e in enumerate(dict.fromkeys(events))}
        user = np.fromiter(map(users.__getitem__, user_keys), dtype=np.int64, count=len(ids))
        event = np.fromiter(map(names.__getitem__, events), dtype=np.int64, count=len(ids))
        return _Usage(np.array(ids, dtype=np.int64), ordinal.astype(np.int64), user, event,
                      np.array(counts, dtype=np.int64), tuple(users), tuple(names))

    def _usage_series(self, account_ids: list[int], series: _Series | list[tuple[Any, ...]] | None = None
                      ) -> _Usage | None:
        """`_usage_rows` on SQLite, read by series: one driver row per (account, user, event) holding its days
        (``YYYY-MM-DD`` text, concatenated) and counts (space-separated), parsed by NumPy — SQLite's own loop
        over the rows, none in Python (`_parse_series`). None (read row by row instead) on another database, or
        when a value is not what the columns can hold exactly (a day in another format, a count that is no whole
        number), or when the chunk has user keys differing only in letter case (the signals then take the rows in
        their stored order, which only the row-wise read keeps). `series`: the rows of `_series_statement`, read
        (and parsed: a `_Series`) already (`_SeriesAhead`)."""
        connection = self.session.connection()
        if connection.dialect.name != "sqlite" or not account_ids:
            return None
        if series is None:
            series = _driver_rows(connection, *_series_statement(account_ids, self.window_start, self.last_day))
        parsed = series.parsed if isinstance(series, _Series) else _parse_series(series)
        if parsed is None:
            return None
        account, ordinal, user, event, count, users, names = parsed
        users, names = dict(users), dict(names)  # the milestones' codes added to this chunk's own copies
        milestones = self._milestones_before(account_ids)
        if milestones:
            milestone = users.setdefault("(milestone)", len(users))
            account = np.r_[account, np.array([a for a, _, _ in milestones], dtype=np.int64)]
            ordinal = np.r_[ordinal, np.array([d.toordinal() for _, _, d in milestones], dtype=np.int64)]
            user = np.r_[user, np.full(len(milestones), milestone, dtype=np.int64)]
            event = np.r_[event, np.array([names.setdefault(e, len(names)) for _, e, _ in milestones],
                                          dtype=np.int64)]
            count = np.r_[count, np.ones(len(milestones), dtype=np.int64)]
        if len({u.casefold() for u in users}) != len(users):
            return None
        return _Usage(account, ordinal, user, event, count, tuple(users), tuple(names))

    def _milestones_before(self, account_ids: list[int]) -> list[tuple[int, str, dt.date]]:
        """(account, milestone event, its first day) for the milestones used before the window: what `load`
        reads as ``min(day)`` from `UsageDaily`, read from the monthly roll-up's day masks (`UsageMonthly`,
        kept by the database's triggers: bit d − 1 of ``days`` for each day d with a row), a few index reads
        per account instead of every earlier usage row."""
        milestones = [m for m in self.model.signals.milestones if m]  # '' is the roll-up's any-event row
        if not milestones:
            return []
        start = self.window_start
        month = start.replace(day=1)
        first: dict[tuple[int, str], dt.date] = {}
        connection = self.session.connection()
        tenant_id = current_tenant(self.session)
        rows: Iterable[tuple[Any, ...]]
        if connection.dialect.name == "sqlite" and tenant_id is not None and account_ids:
            # The same read through the driver (no IN-list of a thousand ids rendered each chunk), the month
            # as SQLite keeps it (text) made a date here.
            rows = [(account_id, event, dt.date.fromisoformat(first_of_month), days)
                    for account_id, event, first_of_month, days in _driver_rows(
                        connection,
                        "SELECT account_id, event, month, days FROM usage_monthly WHERE tenant_id = ? "  # noqa: S608
                        f"AND account_id IN ({','.join('?' * len(account_ids))}) "
                        f"AND event IN ({','.join('?' * len(milestones))}) AND coalesce(month, month) <= ?",
                        (tenant_id, *account_ids, *milestones, month.isoformat()))]
        else:
            rows = self.session.execute(
                select(UsageMonthly.account_id, UsageMonthly.event, UsageMonthly.month, UsageMonthly.days)
                .where(UsageMonthly.account_id.in_(_IDS), UsageMonthly.event.in_(milestones),
                       # coalesce: no range on the (tenant, month, event) index, which SQLite would otherwise
                       # scan over every account; the accounts' rows are read by the unique key.
                       func.coalesce(UsageMonthly.month, UsageMonthly.month) <= month), {"ids": account_ids})
        for account_id, event, first_of_month, days in rows:
            if first_of_month >= month:  # the window's first month: only its days before the window
                days &= (1 << (start.day - 1)) - 1
            if days <= 0:
                continue
            day = first_of_month + dt.timedelta(days=(days & -days).bit_length() - 1)
            key = (account_id, event)
            if key not in first or day < first[key]:
                first[key] = day
        return [(account_id, event, day) for (account_id, event), day in first.items()]

    def load(self, account_ids: list[int]) -> list[AccountInputs]:
        s = self.session
        usage: dict[int, list[UsageDay]] = defaultdict(list)
        if self.has_usage:
            for account_id, day, user_key, event, count, minutes in s.execute(
                select(UsageDaily.account_id, UsageDaily.day, UsageDaily.user_key, UsageDaily.event,
                       UsageDaily.count, UsageDaily.minutes)
                .where(UsageDaily.account_id.in_(account_ids), UsageDaily.day >= self.window_start,
                       UsageDaily.day <= self.last_day)
            ):
                usage[account_id].append(UsageDay(day, user_key, event, count, minutes))
            milestones = list(self.model.signals.milestones)
            if milestones:
                for account_id, event, first in s.execute(
                    select(UsageDaily.account_id, UsageDaily.event, func.min(UsageDaily.day))
                    .where(UsageDaily.account_id.in_(account_ids), UsageDaily.event.in_(milestones),
                           UsageDaily.day < self.window_start)
                    .group_by(UsageDaily.account_id, UsageDaily.event)
                ):
                    # Dated, so history recomputed for earlier days sees the milestone only from then on.
                    usage[account_id].append(UsageDay(first, "(milestone)", event, 1, 0.0))
        first_day = {account_id: min(u.day for u in rows).toordinal() for account_id, rows in usage.items() if rows}
        return self._inputs(account_ids, usage, first_day)

    def read_facts(self, account_ids: list[int] | None) -> Facts:
        """The accounts' facts but usage: these accounts' (a chunk's, each table read by their ids), or with
        None the tenant's every account's, each table read once (a whole run's, given to each chunk's loader).
        Rows in id order either way."""
        s = self.session
        ids = {"ids": account_ids} if account_ids is not None else {}

        def among(column: Any) -> Any:
            return column.in_(_IDS) if account_ids is not None else true()

        # Only the columns the inputs take (no Account objects: a chunk's accounts are read once, never changed).
        accounts = {a.id: a for a in s.execute(select(Account.id, Account.name, Account.segment, Account.tier,
                                                      Account.lifecycle_stage, Account.parent_id)
                                               .where(among(Account.id)), ids)}
        # Columns, not ORM objects (the same rows in the same order; a score run reads every account's).
        if account_ids is not None:
            subs = active_subscription_terms(s, account_ids)
        else:
            by_system: dict[int, dict[str, list[SubscriptionTerms]]] = defaultdict(lambda: defaultdict(list))
            for account_id, system, arr, seats, start_date, renewal_date in s.execute(
                    select(Subscription.account_id, Subscription.system, Subscription.arr,
                           Subscription.seats_purchased, Subscription.start_date, Subscription.renewal_date)
                    .where(Subscription.status == "active", Subscription.term_end.is_(None))
                    .order_by(Subscription.id)):
                if account_id is not None:  # as `active_subscription_terms` reads them, for every account
                    by_system[account_id][system].append(
                        SubscriptionTerms(system, arr, seats, start_date, renewal_date))
            subs = _of_record(by_system)
        tickets: dict[int, list[TicketFact]] = defaultdict(list)
        for account_id, external_id, priority, status, created_at, solved_at, escalated in s.execute(
                select(Ticket.account_id, Ticket.external_id, Ticket.priority, Ticket.status, Ticket.created_at,
                       Ticket.solved_at, Ticket.escalated)
                .where(among(Ticket.account_id)).where(
                    (Ticket.created_at >= dt.datetime.combine(self.ticket_start, dt.time(), dt.UTC))
                    | Ticket.status.not_in(("solved", "closed"))).order_by(Ticket.id), ids):
            if account_id is not None:
                tickets[account_id].append(TicketFact(external_id, priority, status,  # type: ignore[arg-type]
                                                      created_at.date(), _day(solved_at), escalated))
        csat: dict[int, list[CsatAnswer]] = defaultdict(list)
        nps: dict[int, list[NpsAnswer]] = defaultdict(list)
        survey_start = dt.datetime.combine(self.window_start - dt.timedelta(days=180), dt.time(), dt.UTC)
        for account_id, kind, submitted_at, score in s.execute(
                select(SurveyResponse.account_id, SurveyResponse.kind, SurveyResponse.submitted_at,
                       SurveyResponse.score)
                .where(among(SurveyResponse.account_id), SurveyResponse.submitted_at >= survey_start)
                .order_by(SurveyResponse.id), ids):
            if account_id is None:
                continue
            if kind == "csat":
                csat[account_id].append(CsatAnswer(submitted_at.date(), score >= 1))
            else:
                nps[account_id].append(NpsAnswer(submitted_at.date(), score))
        contacts: dict[int, list[ContactFact]] = defaultdict(list)
        rows = s.execute(
            select(Contact.account_id, Contact.email, Contact.role, Contact.name, Contact.last_active_at,
                   ProductUser.user_key, ProductUser.last_seen)
            # The contact's own product user: the same address at the same customer (a stray twin
            # address at another account must not make a quiet champion look active).
            .outerjoin(ProductUser, (ProductUser.email == Contact.email)
                       & (ProductUser.account_id == Contact.account_id))
            .where(among(Contact.account_id), Contact.role != "user").order_by(Contact.id, ProductUser.id), ids
        ).all()
        for account_id, email, role, name, last_active_at, user_key, last_seen in rows:
            if account_id is None:
                continue
            last = max((d for d in (_day(last_active_at), _day(last_seen)) if d is not None), default=None)
            contacts[account_id].append(ContactFact(user_key or email, role, name, last))  # type: ignore[arg-type]
        return Facts(accounts, subs, tickets, csat, nps, contacts)

    def _inputs(self, account_ids: list[int], usage: dict[int, list[UsageDay]], first_usage: dict[int, int]
                ) -> list[AccountInputs]:
        """Every account's inputs but its usage rows (given in `usage`, or kept as columns by the caller);
        `first_usage`: the ordinal of an account's first usage day, its onboarding start when no
        subscription says. The facts are the loader's `facts` (a whole run's, read once), else read for
        these accounts."""
        accounts, subs, tickets, csat, nps, contacts = (self.facts if self.facts is not None
                                                        else self.read_facts(account_ids))
        out: list[AccountInputs] = []
        for account_id in account_ids:
            a = accounts.get(account_id)
            if a is None:
                continue
            mine = subs.get(account_id, [])
            renewals = sorted(x.renewal_date for x in mine if x.renewal_date)
            starts = sorted(x.start_date for x in mine if x.start_date)
            seats = [x.seats_purchased for x in mine if x.seats_purchased]
            arr = [float(x.arr) for x in mine if x.arr is not None]
            account_usage = usage.get(account_id, [])
            first = first_usage.get(account_id)
            onboarding = starts[0] if starts else (dt.date.fromordinal(first) if first is not None else None)
            out.append(AccountInputs(
                account_id=account_id, name=a.name, segment=a.segment, tier=a.tier,
                lifecycle_stage=a.lifecycle_stage, parent_id=a.parent_id,
                arr=sum(arr) if arr else None, seats_purchased=sum(seats) if seats else None,
                renewal_date=next((r for r in renewals if r >= self.last_day), renewals[-1] if renewals else None),
                onboarding_start=onboarding,
                usage=tuple(account_usage) if self.has_usage else None,
                tickets=tuple(tickets.get(account_id, ())) if self.has_helpdesk else None,
                csat=tuple(csat.get(account_id, ())), nps=tuple(nps.get(account_id, ())),
                contacts=tuple(contacts.get(account_id, ())),
            ))
        return out


def _snapshot_history(session: Session, account_ids: list[int], start: dt.date, end: dt.date
                      ) -> dict[int, list[HealthSnapshot]]:
    history: dict[int, list[HealthSnapshot]] = defaultdict(list)
    for snap in session.scalars(select(HealthSnapshot).where(
            HealthSnapshot.account_id.in_(account_ids), HealthSnapshot.day >= start, HealthSnapshot.day <= end
    ).order_by(HealthSnapshot.day)):
        history[snap.account_id].append(snap)
    return history


def score_tenant(store: Store, tenant_id: int, model: HealthModel, as_of: dt.date, *,
                 since: dt.date | None = None, progress: ProgressCallback | None = None,
                 only: Iterable[int] | None = None) -> ScoreSummary:
    """Score the workspace's live accounts from `since` to `as_of`, then roll up parents, compute the
    day's benchmarks, raise and resolve alerts and refresh the portfolio keys.

    ``only``: score just these accounts (a webhook's or a collector batch's): their parents' roll-ups
    are recomputed with their siblings' stored scores, the day's benchmarks are kept as they were
    (percentiles against the whole workspace change with the nightly run), and alerts and portfolio
    keys are evaluated for them alone — the same functions as the whole run, on fewer rows.

    The cyclic collector runs rarely meanwhile (`sync.collection.fewer_collections`); a whole workspace's run on a
    SQLite file leaves the WAL's checkpoints to a helper thread (`_checkpoints_aside`)."""
    fold_pending(store, tenant_id)  # every batch the collector accepted counts in the run (`collector.inbox`)
    with fewer_collections(), (_checkpoints_aside(store) if only is None else nullcontext()):
        return _score_tenant(store, tenant_id, model, as_of, since=since, progress=progress, only=only)


CHECKPOINT_ASIDE = True
"""SQLite (a database file): during a whole workspace's run the WAL is checkpointed on a helper thread, on a
connection of its own (`_checkpoints_aside`), not by the run's commits (False: each commit past SQLite's
`wal_autocheckpoint` pages checkpoints on the run's own thread, as before)."""
CHECKPOINT_EVERY = 0.5
"""Seconds between the helper thread's checkpoints."""


class _Aside:
    """An engine's runs checkpointing aside (`_checkpoints_aside`) and its checkout listener (registered once per
    engine): each connection's ``wal_autocheckpoint`` set at its checkout, 0 while any such run goes on, else
    SQLite's 1000 again (a connection checked in during a run gets it back at its next checkout)."""

    def __init__(self) -> None:
        self.runs = 0
        self.lock = threading.Lock()

    def checkout(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        want = 0 if self.runs else 1000
        if record.info.get("wal_autocheckpoint", 1000) != want:
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={want}")
            record.info["wal_autocheckpoint"] = want

    @classmethod
    def of(cls, engine: Any) -> _Aside:
        found: _Aside | None = engine.__dict__.get("_checkpoints_aside")
        if found is None:
            found = engine.__dict__.setdefault("_checkpoints_aside", cls())
            assert found is not None
            sql_event.listen(engine, "checkout", found.checkout)
        return found


@contextmanager
def _checkpoints_aside(store: Store) -> Iterator[None]:
    """The WAL checkpointed by a helper thread (PASSIVE: it never waits for, nor blocks, the run's reads and writes)
    while the run's connections checkpoint nothing themselves (``wal_autocheckpoint=0`` from their checkout:
    `_Aside`): a checkpoint copies the committed pages into the database file and syncs it — on the run's own
    thread, the commit of a day's snapshots waited seconds for it. The database holds the same either way; what
    the thread leaves is checkpointed by the next commit past the usual limit."""
    if not (CHECKPOINT_ASIDE and _SeriesAhead.usable(store)):
        yield
        return
    engine = store.engine
    aside = _Aside.of(engine)
    stop = threading.Event()

    def checkpoints() -> None:
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            while not stop.wait(CHECKPOINT_EVERY):
                driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    with aside.lock:
        aside.runs += 1
    thread = threading.Thread(target=checkpoints, name="checkpoints", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        with aside.lock:
            aside.runs -= 1


def _score_tenant(store: Store, tenant_id: int, model: HealthModel, as_of: dt.date, *,
                  since: dt.date | None, progress: ProgressCallback | None, only: Iterable[int] | None
                  ) -> ScoreSummary:
    since = since or as_of
    if since > as_of:
        raise ValueError(f"--since {since} is after the scoring day {as_of}")
    days = [since + dt.timedelta(days=i) for i in range((as_of - since).days + 1)]
    summary = ScoreSummary(days=len(days))
    subset = sorted(set(only)) if only is not None else None
    with store.session(tenant_id) as session:
        query = select(Account.id).where(live_accounts()).order_by(Account.id)
        if subset is not None:
            # A parent's own snapshot is rewritten with its children's (its roll-up is made from fresh parts).
            parents = {p for p in session.scalars(select(Account.parent_id).where(
                Account.id.in_(subset), Account.parent_id.is_not(None))) if p}
            query = query.where(Account.id.in_(sorted(set(subset) | parents)))
        account_ids = list(session.scalars(query))
        # the model's descriptors of its measures, stored once: the snapshots' parts name this legend
        legend = legend_id(session, model)
    run_legends = Legends()
    """The legends the priors' snapshots name, each read once in the run."""
    summary.accounts = len(account_ids)
    final_scores: dict[int, HealthScore] = {}
    final_signals: dict[int, Signals] = {}
    first, last = days[0].toordinal(), as_of.toordinal()
    phase = summary.phase
    with phase("history"), store.session(tenant_id) as session:
        sources = Sources.of(session)
    chunks = list(_chunks(account_ids))
    ahead = (_SeriesAhead(store, chunks, days[0] - dt.timedelta(days=WINDOW_DAYS), as_of)
             if len(days) == 1 and sources.usage and _SeriesAhead.usable(store) else None)
    if ahead is not None:
        ahead.prefetch(1 + SERIES_THREADS)  # the first chunks' usage read while the facts are
    facts = None
    if subset is None:  # the whole workspace: each table of facts read once, not once per chunk
        try:
            with phase("load"), store.session(tenant_id) as session:
                facts = InputLoader(session, model, days[0], as_of, sources).read_facts(None)
        except BaseException:
            if ahead is not None:
                ahead.close()
            raise
    # A whole workspace's one-day run inserts its new snapshots at the end, with their benchmarks.
    deferred: list[_Deferred | _LazyChunk] | None = [] if subset is None and len(days) == 1 and ONE_PASS_DAY \
        else None
    columns: list[tuple[SignalTable, list[int], list[str | None]]] = []
    """A deferred run's signal tables, with their accounts' ids and segments: the day's benchmarks are read from
    them (`_benchmark_texts_of`)."""
    order: list[int] = []
    """Every scored account in the order scored (the final scores' order, whatever chunk built them when)."""
    known = KnownMeasures(as_of, tuple(sorted(set(model.measures)))) if deferred is not None else None
    """A deferred run's measure values as its snapshots' parts hold them, for the account facts built after it."""
    candidates = _Candidates(as_of) if deferred is not None else None
    """A deferred run's accounts whose alert rules are evaluated (besides those history rules and open alerts name)."""
    try:
        for k, chunk in enumerate(chunks):
            with store.session(tenant_id) as session:
                with phase("history"):
                    loader = InputLoader(session, model, days[0], as_of, sources, facts)
                    history = _snapshot_history(session, chunk, days[0] - dt.timedelta(days=TREND_DAYS), as_of)
                    priors: dict[int, HealthScore] = {}
                    for account_id, snaps in history.items():
                        prior = next((HealthScore.from_dict(s.parts, run_legends.of(session, s.parts))
                                      for s in reversed(snaps) if s.day < days[0] and s.parts), None)
                        if prior is not None:
                            priors[account_id] = prior
                if len(days) == 1:
                    # One day: the chunk's signals and scores over arrays (the same as account by account).
                    with phase("load"):
                        inputs, usage = loader.load_columns(
                            chunk, ahead.get(k) if ahead is not None else None)
                    with phase("signals"):
                        table = compute_signal_table(inputs, as_of, model, usage)
                    with phase("scores"):
                        scored = score_table(table, model, priors)
                        # A deferred chunk none of whose accounts has a snapshot of the day yet keeps its scores as
                        # arrays: its `HealthScore`s are built when its snapshots are inserted (`_LazyChunk`).
                        lazy = deferred is not None and not any(
                            s.day >= days[0] for account_id in chunk for s in history.get(account_id, ()))
                        batch = [] if lazy else scored.to_list()
                    if deferred is not None:
                        columns.append((table, [a.account_id for a in inputs], [a.segment for a in inputs]))
                        order += columns[-1][1]
                else:
                    with phase("load"):
                        inputs = loader.load(chunk)
                    lazy = False
                if lazy:
                    assert deferred is not None
                    with phase("snapshots"):
                        summary.band_changes += _defer_chunk(deferred, scored, inputs, history, priors, first, last,
                                                             legend)
                        # While the next chunk's usage is still being read: build the scores deferred so far.
                        waiting = (item for item in deferred if isinstance(item, _LazyChunk) and item.rows is None)
                        while ahead is not None and not ahead.ready(k + 1):
                            item = next(waiting, None)
                            if item is None:
                                break
                            item.build(final_scores, final_signals, candidates)
                else:
                    snapshots_started = _clocks()
                    writer = _SnapshotWriter(session, tenant_id, legend, keep_benchmarks=subset is not None,
                                             deferred=deferred)
                    for position, account in enumerate(inputs):
                        snaps = history.get(account.account_id, [])
                        before = [s for s in snaps if s.day < days[0]]
                        prior = priors.get(account.account_id)
                        if len(days) == 1:
                            signals, scores = [table.row(position)], [batch[position]]
                        else:
                            # One pass over the account's facts for the whole range (the same signals as day by day).
                            signals = signal_series(account, days[0], as_of, model)
                            scores = score_series(signals, model, prior)
                        # The trend reads the scores stored before the range and those of the range itself (a day's
                        # own earlier snapshot, about to be replaced, is not part of it).
                        points = [(s.day.toordinal(), s.score) for s in before if s.score is not None]
                        points += [(sc.day.toordinal(), sc.score) for sc in scores if sc.score is not None]
                        slopes = slopes_by_day(points, first, last, TREND_DAYS)
                        writer.write(account.account_id, scores, slopes, {s.day: s for s in snaps if s.day >= days[0]})
                        final = scores[-1]
                        yesterday = scores[-2] if len(scores) > 1 else prior
                        if yesterday is not None and yesterday.band != final.band:
                            summary.band_changes += 1
                        final_scores[final.account_id] = final
                        final_signals[final.account_id] = signals[-1]
                        if candidates is not None:
                            candidates.accounts.add(final.account_id)
                    writer.flush()
                    summary.add_time("snapshots", snapshots_started)
                commit_started = _clocks()
            summary.add_time("commit", commit_started)
            if progress:
                progress(len(chunk))
    finally:
        if ahead is not None:
            ahead.close()
    # a whole run's usage facts (its base reports'): their reads of usage and subscriptions on a second core while
    # the day is written, the health read once it is (`ReadAhead.scored`)
    facts_ahead = None
    if subset is None:
        with phase("base_reports"):
            facts_ahead = _early_usage_facts(store, tenant_id, model, as_of)
    try:
        touched = _write_day(store, tenant_id, model, as_of, summary, subset, account_ids, deferred, columns, order,
                             final_scores, final_signals, legend, known, candidates)
        if facts_ahead is not None:
            facts_ahead.scored()
        _after_day(store, tenant_id, model, summary, subset, touched, as_of, facts_ahead, known)
    finally:
        if facts_ahead is not None:
            facts_ahead.close()  # taken by then, unless the run failed
    return summary


def _early_usage_facts(store: Store, tenant_id: int, model: HealthModel, as_of: dt.date) -> ReadAhead | None:
    """The usage facts' reads for the day the run's base reports will be of (the latest scored day once `as_of` is
    written), started before the run writes it (`sync.usage_facts.ReadAhead`); None where they would not be."""
    signals = model.signals
    with store.session(tenant_id) as session:
        latest = session.scalar(select(func.max(HealthSnapshot.day)))
        day = max(latest, as_of) if latest is not None else as_of
        ahead = ReadAhead(session, signals.key_features, signals.login_event, day=day)
    return ahead if ahead.key is not None else None


def _write_day(store: Store, tenant_id: int, model: HealthModel, as_of: dt.date, summary: ScoreSummary,
               subset: list[int] | None, account_ids: list[int], deferred: list[_Deferred | _LazyChunk] | None,
               columns: list[tuple[SignalTable, list[int], list[str | None]]], order: list[int],
               final_scores: dict[int, HealthScore], final_signals: dict[int, Signals], legend: int,
               known: KnownMeasures | None = None, candidates: _Candidates | None = None) -> list[int]:
    """The day's snapshots (a deferred run's, their parts naming `legend`), roll-ups, benchmarks, alerts, portfolio
    keys and bands, committed.
    Returns the accounts touched by a run of some accounts (theirs and their parents). `known`: given the measure
    values of the deferred snapshots inserted (`_LazyChunk.texts`); `candidates`: the accounts whose alert rules
    are evaluated, found as the deferred scores are built (else every account's)."""
    phase = summary.phase
    touched: list[int] = []
    with store.session(tenant_id) as session:
        if subset is None:
            texts: dict[int, str | None] | None = None
            written: set[int] | None = None
            if deferred is not None:
                with phase("benchmarks"):
                    texts = _benchmark_texts_of(model, columns)
                    columns.clear()
                with phase("snapshots"):
                    parents = {p for p in session.scalars(select(Account.parent_id).where(
                        Account.parent_id.is_not(None)).distinct()) if p is not None}
                    written = _insert_day(session, tenant_id, _deferred_batches(deferred, final_scores, final_signals,
                                                                                known, candidates), texts, parents,
                                          legend)
                    deferred.clear()
                    if len(final_scores) == len(order) and list(final_scores) != order:
                        # the scores of chunks built at the insert come last: the accounts' own order again
                        final_scores = {a: final_scores[a] for a in order}
                        final_signals = {a: final_signals[a] for a in order}
            with phase("rollup"):
                _roll_up_parents(session, model, as_of, final_scores)
            with phase("benchmarks"):
                _benchmarks(session, model, as_of, final_signals, texts=texts, written=written)
            # every account's portfolio keys (the latest scored day may have moved): on SQLite refreshed on a helper
            # thread while the alert rules are evaluated (the "portfolio_keys" phase: what is left of it after them)
            refresh = partial(portfolio_keys.refresh, session)
            together = _SeriesAhead.usable(store)
            with phase("alerts"):
                _alerts(session, model, as_of, final_scores, final_signals, summary,
                        candidates=candidates.accounts if candidates is not None else None,
                        meanwhile=refresh if together else None,
                        waited=partial(summary.move_time, "alerts", "portfolio_keys"))
            if not together:
                with phase("portfolio_keys"):
                    refresh()
            bands = select(HealthSnapshot.band, func.count()).where(HealthSnapshot.day == as_of)
        else:
            parents = {p for p in session.scalars(select(Account.parent_id).where(
                Account.id.in_(account_ids), Account.parent_id.is_not(None))) if p} if account_ids else set()
            _roll_up_parents(session, model, as_of, final_scores, only_parents=parents)
            _alerts(session, model, as_of, final_scores, final_signals, summary, only=account_ids)
            touched = sorted(set(account_ids) | parents)
            portfolio_keys.refresh(session, touched)
            bands = select(HealthSnapshot.band, func.count()).where(HealthSnapshot.day == as_of,
                                                                    HealthSnapshot.account_id.in_(touched or [-1]))
        with phase("bands"):
            for band, count in session.execute(bands.group_by(HealthSnapshot.band)):  # counted by the database
                summary.bands[band or "none"] += count
        commit_started = _clocks()
    summary.add_time("commit", commit_started)
    return touched


def _after_day(store: Store, tenant_id: int, model: HealthModel, summary: ScoreSummary, subset: list[int] | None,
               touched: list[int], as_of: dt.date, facts_ahead: ReadAhead | None = None,
               known: KnownMeasures | None = None) -> None:
    """The panels' views of the day, the renewal forecast's bands and the base reports (`known`: the measure values
    of the snapshots the run inserted, see `sync.base_reports.KnownMeasures`)."""
    phase = summary.phase
    with phase("panel_views"), store.session(tenant_id) as session:
        # After the changes above are committed (their marks made the views stale): the panels that were
        # ever opened get their view for the day at once, the others on their first request.
        panel_views.prepare(session, None if subset is None else touched, as_of)
    if subset is None:
        # the renewal forecast reads the bands: its p(band) computed here
        with phase("prepare_reports"), store.session(tenant_id) as session:
            prepare_reports(session)
    # the Health, Adoption, Users and Team pages: their default views
    with phase("base_reports"), store.session(tenant_id) as session:
        if subset is None:
            prepare_base_reports(session, model, facts_ahead, known)
        else:  # rescored in place: those accounts' facts and the packs patched (else every copy dropped)
            patch_base_reports(session, model, sorted(set(subset) | set(touched)))


class _SnapshotWriter:
    """Writes a chunk's snapshots: new ones as multi-row INSERTs (no ORM object per row), existing ones
    (a day scored again) updated in place."""

    BATCH = 5000

    def __init__(self, session: Session, tenant_id: int, legend: int, *, keep_benchmarks: bool = False,
                 deferred: list[_Deferred | _LazyChunk] | None = None) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.legend = legend
        """The stored legend of the run's model (`store.legends`): the parts name it and keep no descriptors."""
        self.keep_benchmarks = keep_benchmarks
        """Rescoring some accounts of a day: their stored percentiles stay until the whole day is scored."""
        self.deferred = deferred
        """A whole workspace's one-day run: its new snapshots kept here (score and trend) and inserted once every
        account is scored, with their benchmarks in their parts (`_insert_day`), not written twice."""
        self.rows: list[dict[str, Any]] = []
        self.computed_at = dt.datetime.now(dt.UTC)
        # `parts` and `reasons` arrive as JSON text (`HealthScore.as_json`), not dicts to encode row by row.
        self.insert = insert(cast(Table, HealthSnapshot.__table__)).values(
            parts=bindparam("parts_json", type_=EncodedJSON()), reasons=bindparam("reasons_json", type_=EncodedJSON()))

    def write(self, account_id: int, scores: list[HealthScore], slopes: list[float | None],
              existing: dict[dt.date, HealthSnapshot]) -> None:
        for score, slope in zip(scores, slopes, strict=True):
            snap = existing.get(score.day)
            if snap is None and self.deferred is not None:
                self.deferred.append(_Deferred(account_id, score, slope))
                continue
            if snap is None:
                reasons = reasons_json(score.reasons)
                self.rows.append(self.row(account_id, score, slope, score.as_json(reasons, self.legend), reasons))
                continue
            parts = score.as_dict(self.legend)
            reasons = parts["reasons"]
            if self.keep_benchmarks and snap.parts and "benchmarks" in snap.parts:
                parts["benchmarks"] = snap.parts["benchmarks"]
            snap.score, snap.band, snap.profile = score.score, score.band, score.profile
            snap.parts, snap.reasons, snap.trend = parts, reasons, slope
            snap.computed_at = self.computed_at
        if len(self.rows) >= self.BATCH:
            self.flush()

    def row(self, account_id: int, score: HealthScore, slope: float | None, parts: str, reasons: str
            ) -> dict[str, Any]:
        """A new snapshot's row for `insert` (`parts`, `reasons`: the JSON texts)."""
        return {"tenant_id": self.tenant_id, "account_id": account_id, "day": score.day, "score": score.score,
                "band": score.band, "profile": score.profile, "parts_json": parts, "reasons_json": reasons,
                "trend": slope, "computed_at": self.computed_at}

    def flush(self) -> None:
        if self.rows:
            # A run of some accounts marks theirs; a run of the whole workspace makes every view stale at once.
            marks = touches({row["account_id"] for row in self.rows}) if self.keep_benchmarks else \
                panel_views.touches_every_account()
            self.session.execute(self.insert, self.rows, execution_options=marks)
            self.rows = []


class _Deferred(NamedTuple):
    """A new snapshot of a whole workspace's one-day run, inserted once every account is scored. `parts` and
    `reasons`: its JSON texts when made already (`_LazyChunk.texts`: then `score` has no parts of its own)."""

    account_id: int
    score: HealthScore
    trend: float | None
    parts: str | None = None
    reasons: str | None = None


class _LazyChunk:
    """A chunk of a whole workspace's one-day run none of whose accounts had a snapshot of the day: its scores as
    arrays (`scoring.ScoreBatch`), each account's `HealthScore` and `Signals` built later (`build`: while the run
    waits for a chunk's usage, else when the chunk's snapshots are inserted), in the same order.

    The scores built are `ScoreBatch.light`'s (score, band, profile and reasons: what the alerts and roll-ups read;
    no parts), and the snapshots' texts are made from the arrays when they are inserted (`texts`)."""

    __slots__ = ("account_ids", "batch", "legend", "rows", "trends")

    def __init__(self, batch: ScoreBatch, account_ids: list[int], trends: list[float | None], legend: int) -> None:
        self.batch: ScoreBatch | None = batch
        self.account_ids = account_ids
        self.trends = trends
        self.legend = legend
        """The stored legend the snapshots' parts name."""
        self.rows: list[_Deferred] | None = None

    def build(self, final_scores: dict[int, HealthScore], final_signals: dict[int, Signals],
              candidates: _Candidates | None = None) -> list[_Deferred]:
        """The chunk's snapshots to insert (built once), its scores and signals added to the run's: the whole
        `Signals` of the accounts an alert rule that reads no history may raise for (`scoring.alerts.may_raise`),
        added to `candidates`, the others' read field by field (`SignalTable.fields`: the alert rules do not read
        them, see `_alerts`); without `candidates`, every account's whole."""
        if self.rows is None:
            assert self.batch is not None
            built = self.batch.light()
            table = self.batch.table
            whole = may_raise(self.batch.model, table, self.batch.band_codes, candidates.day).tolist() \
                if candidates is not None else None
            for position, (account_id, score) in enumerate(zip(self.account_ids, built, strict=True)):
                final_scores[account_id] = score
                if whole is None or whole[position]:
                    final_signals[account_id] = table.row(position)
                    if candidates is not None:
                        candidates.accounts.add(account_id)
                else:
                    final_signals[account_id] = table.fields(position)
            self.rows = [_Deferred(a, score, trend)
                         for a, score, trend in zip(self.account_ids, built, self.trends, strict=True)]
        return self.rows

    def texts(self, known: KnownMeasures | None = None) -> list[_Deferred]:
        """The built rows (`build` first) with their parts and reasons texts (`ScoreBatch.parts_json`), their measure
        values added to `known`; the arrays are then let go."""
        assert self.rows is not None and self.batch is not None
        reasons = [reasons_json(row.score.reasons) for row in self.rows]
        parts = self.batch.parts_json(reasons, self.legend)
        if known is not None and parts is not None:
            values = self.batch.measure_values(known.measures)
            if values is not None:
                known.add(*values)
        self.batch = None  # the arrays are no longer needed
        if parts is None:  # `light` built the scores whole: they encode themselves
            return self.rows
        return [row._replace(parts=text, reasons=reason) for row, text, reason in zip(self.rows, parts, reasons,
                                                                                       strict=True)]


@dataclass
class _Candidates:
    """A whole workspace's one-day run's accounts an alert rule that reads no history may raise for (theirs are
    evaluated, with those history rules or open alerts name: `_alerts`), found as their scores are built."""

    day: dt.date
    accounts: set[int] = field(default_factory=set)


def _defer_chunk(deferred: list[_Deferred | _LazyChunk], scored: ScoreBatch, inputs: list[AccountInputs],
                 history: dict[int, list[HealthSnapshot]], priors: dict[int, HealthScore], first: int, last: int,
                 legend: int) -> int:
    """Defer a chunk of one day whose accounts have no snapshot of the day (`_LazyChunk`): each account's trend
    from the scores stored before the day and the day's own score, read from the arrays — what the loop of
    `_score_tenant` reads from the built scores. Returns how many accounts changed band since their prior score."""
    values, has, bands = scored.scores.tolist(), scored.scored.tolist(), scored.band_codes.tolist()
    trends: list[float | None] = []
    changes = 0
    for position, account in enumerate(inputs):
        account_id = account.account_id
        points = [(s.day.toordinal(), s.score) for s in history.get(account_id, ()) if s.score is not None]
        if has[position]:
            points.append((last, values[position]))
        trends += slopes_by_day(points, first, last, TREND_DAYS)
        prior = priors.get(account_id)
        if prior is not None and prior.band != (BANDS[bands[position]] if has[position] else None):
            changes += 1
    deferred.append(_LazyChunk(scored, [a.account_id for a in inputs], trends, legend))
    return changes


def _deferred_batches(deferred: list[_Deferred | _LazyChunk], final_scores: dict[int, HealthScore],
                      final_signals: dict[int, Signals], known: KnownMeasures | None = None,
                      candidates: _Candidates | None = None) -> Iterator[list[_Deferred]]:
    """The deferred snapshots in order, in batches of at most `INSERT_BATCH`; a `_LazyChunk`'s scores built here
    (while the batch before is written) and added to `final_scores` and `final_signals`, its measure values to
    `known`."""
    rows: list[_Deferred] = []
    for item in deferred:
        if isinstance(item, _Deferred):
            rows.append(item)
            if len(rows) >= INSERT_BATCH:
                yield rows
                rows = []
            continue
        if rows:
            yield rows
            rows = []
        item.build(final_scores, final_signals, candidates)
        yield item.texts(known)
        item.rows = None  # inserted: its rows' memory freed as the insert goes on
    if rows:
        yield rows


INSERT_BATCH = 1000
INSERT_ON_THREAD = True
"""SQLite: a one-day run's INSERTs on a helper thread (`_insert_rows`) while the next batch's texts are made; False:
one ``executemany`` per batch on the run's own thread."""
ROWS_PER_INSERT = 1000
"""Rows per statement of a one-day run's INSERTs on SQLite (`_insert_rows`) at most: fewer where the build binds
fewer parameters per statement (999 before SQLite 3.32: 99 rows of ten columns)."""
"""Snapshots per INSERT of `_insert_day` (small: on SQLite the next batch's texts are made while one is written)."""
_SNAPSHOT_COLUMNS = ("tenant_id", "account_id", "day", "score", "band", "profile", "parts", "reasons", "trend",
                     "computed_at")


def _insert_day(session: Session, tenant_id: int, batches: Iterable[list[_Deferred]], texts: dict[int, str | None],
                parents: set[int], legend: int) -> set[int]:
    """Insert a one-day run's new snapshots, each account's benchmarks (`texts`) already in its parts — the text
    `_benchmarks` would have made of them afterwards — but a parent's (its roll-up goes into its parts first,
    then `_benchmarks` adds them, as before). Returns the accounts whose benchmarks are written.

    On SQLite one driver ``executemany`` of plain tuples (the values as SQLAlchemy's types bind them: the day's
    ISO text, the UTC time's text); elsewhere the writer's INSERT. Either way every panel of the workspace is
    stale at commit (`touches_every_account`)."""
    writer = _SnapshotWriter(session, tenant_id, legend)
    done: set[int] = set()
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    stamp = sqlite_utc_text(writer.computed_at)
    sql = (f"INSERT INTO {HealthSnapshot.__tablename__} ({', '.join(_SNAPSHOT_COLUMNS)}) "  # noqa: S608
           f"VALUES ({', '.join('?' * len(_SNAPSHOT_COLUMNS))})")
    # SQLite: a batch's INSERT runs on a helper thread (the driver leaves the GIL while SQLite writes) while the
    # next batch's texts are made here; one batch at a time, in order, so the rows and their ids are the same.
    writing: Future[Any] | None = None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot-insert") if sqlite and INSERT_ON_THREAD \
        else None
    try:
        for rows in batches:  # a batch's texts at a time: memory stays flat
            writing = _insert_batch(session, writer, tenant_id, rows, texts, parents, done, sql, stamp, sqlite, pool,
                                    writing)
        if writing is not None:
            writing.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return done


def _insert_batch(session: Session, writer: _SnapshotWriter, tenant_id: int, rows: list[_Deferred],
                  texts: dict[int, str | None], parents: set[int], done: set[int], sql: str, stamp: str,
                  sqlite: bool, pool: ThreadPoolExecutor | None, writing: Future[Any] | None) -> Future[Any] | None:
    """One batch of `_insert_day`: its values made, then (SQLite with a `pool`) its INSERT started on the pool once
    the batch before (`writing`) is written — returned to be waited for —, or executed here (SQLite: one driver
    ``executemany``)."""
    values: list[Any] = []
    for account_id, score, trend, made, reasons_made in rows:
        reasons = reasons_made if reasons_made is not None else reasons_json(score.reasons)
        parts = made if made is not None else score.as_json(reasons, writer.legend)
        if account_id not in parents:
            found = texts.get(account_id)
            if found is not None:
                parts = _with_benchmarks(parts, found)
            done.add(account_id)
        values.append((tenant_id, account_id, score.day.isoformat(), score.score, score.band, score.profile,
                       parts, reasons, trend, stamp) if sqlite
                      else writer.row(account_id, score, trend, parts, reasons))
    if not sqlite:
        session.execute(writer.insert, values, execution_options=panel_views.touches_every_account())
        return None
    if pool is None:
        session.connection().exec_driver_sql(sql, values)
        panel_views.mark_every_account(session)
        return None
    if writing is not None:
        writing.result()  # the batch before written (its error raised here)
    panel_views.mark_every_account(session)
    return pool.submit(_insert_rows, session.connection(), sql, values)


def _insert_rows(connection: Any, sql: str, values: list[tuple[Any, ...]]) -> None:
    """`values` inserted by `sql`'s multi-row form, `ROWS_PER_INSERT` rows a statement, in order: SQLite runs a
    statement's rows in one step without the GIL (an ``executemany`` takes the GIL back for every row, and a
    thread waiting for it while the scoring thread runs Python waits up to the switch interval each time)."""
    head, _, row = sql.partition(" VALUES ")
    driver = connection.connection.driver_connection
    limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if hasattr(driver, "getlimit") else 999
    per = max(1, min(ROWS_PER_INSERT, limit // len(_SNAPSHOT_COLUMNS)))
    for start in range(0, len(values), per):
        part = values[start:start + per]
        connection.exec_driver_sql(f"{head} VALUES {', '.join([row] * len(part))}", tuple(chain.from_iterable(part)))


def _with_benchmarks(parts: str | None, found: str) -> str:
    """A snapshot's parts text with its ``benchmarks`` entry (`found`, JSON text): appended to the text — what
    `json.dumps` gives the parts with the entry added —, or, when the parts hold one already (a day scored
    again) or are not an object's text, decoded and replaced."""
    if parts is None or '"benchmarks"' in parts or not parts.endswith("}"):
        decoded = json.loads(parts) if parts is not None else None
        return json.dumps({**(decoded or {}), "benchmarks": json.loads(found)})
    return f'{parts[:-1]}{", " if parts != "{}" else ""}"benchmarks": {found}}}'


def _roll_up_parents(session: Session, model: HealthModel, day: dt.date, scores: dict[int, HealthScore],
                     only_parents: set[int] | None = None) -> None:
    """Each parent's score of the day from its children's (this run's, else the day's stored ones)."""
    children: dict[int, list[Account]] = defaultdict(list)
    query = select(Account).where(Account.parent_id.is_not(None))
    if only_parents is not None:
        if not only_parents:
            return
        query = query.where(Account.parent_id.in_(sorted(only_parents)))
    for child in session.scalars(query):
        if child.parent_id is not None:
            children[child.parent_id].append(child)
    if not children:
        return
    missing = [k.id for kids in children.values() for k in kids if k.id not in scores]
    stored: dict[int, float | None] = {}
    for start in range(0, len(missing), CHUNK):
        for kid, score in session.execute(select(HealthSnapshot.account_id, HealthSnapshot.score).where(
                HealthSnapshot.day == day, HealthSnapshot.account_id.in_(missing[start:start + CHUNK]))):
            stored[kid] = score
    family_ids = set(children) | {k.id for kids in children.values() for k in kids}
    arr: dict[int | None, float] = {
        account_id: sum(float(x.arr) for x in subs if x.arr is not None)
        for account_id, subs in active_subscriptions(session, family_ids).items()
        if any(x.arr is not None for x in subs)}
    for parent_id, kids in children.items():
        snap = session.scalar(select(HealthSnapshot).where(HealthSnapshot.account_id == parent_id,
                                                           HealthSnapshot.day == day))
        if snap is None:
            continue
        own = scores.get(parent_id)
        family = [ChildHealth(k.id, scores[k.id].score if k.id in scores else stored.get(k.id), k.name,
                              arr.get(k.id)) for k in kids]
        if own is not None and own.score is not None and arr.get(parent_id) is not None:
            # A parent that pays for its own subscription counts with its own usage; a holding does not.
            family.append(ChildHealth(parent_id, own.score, "its own account", arr.get(parent_id)))
        rolled = roll_up(parent_id, family, model)
        if rolled.score is None:
            continue
        snap.score, snap.band, snap.profile = rolled.score, rolled.band, "rollup"
        snap.reasons = [r.as_dict() for r in rolled.reasons] + list(snap.reasons or [])
        snap.parts = {**(snap.parts or {}),
                      "rollup": {"weight_by": rolled.weight_by, "counted": list(rolled.counted)}}


def _benchmark_texts_of(model: HealthModel, columns: list[tuple[SignalTable, list[int], list[str | None]]]
                        ) -> dict[int, str | None]:
    """`_benchmark_texts` of the accounts of these signal tables (with their ids and segments), read from the
    tables' columns (`scoring.benchmark_json_columns`): no `Signals` needed."""
    if not columns:
        return {}
    names = dict.fromkeys(m.signal for m in model.measures.values())
    values = {n: np.concatenate([table.values[n] for table, _, _ in columns]) for n in names}
    present = {n: np.concatenate([table.present[n] for table, _, _ in columns]) for n in names}
    ids = [a for _, chunk, _ in columns for a in chunk]
    segments = [s for _, _, chunk in columns for s in chunk]
    found = benchmark_json_columns(values, present, segments, model,
                                   lambda: [table.row(i) for table, _, _ in columns for i in range(len(table))])
    return dict(zip(ids, found, strict=True))


def _benchmark_texts(model: HealthModel, signals: dict[int, Signals]) -> dict[int, str | None]:
    """Each scored account's ``benchmarks`` text for the day (`scoring.benchmark_json`), by account id."""
    ordered = list(signals.values())
    return dict(zip((s.account_id for s in ordered), benchmark_json(ordered, model), strict=True))


def _benchmarks(session: Session, model: HealthModel, day: dt.date, signals: dict[int, Signals], *,
                texts: dict[int, str | None] | None = None, written: set[int] | None = None) -> None:
    """The day's segment and base percentiles into each scored account's snapshot (``parts["benchmarks"]``).

    Core, not ORM objects: the snapshots' parts are read as text and the ``benchmarks`` entry appended to
    it — the text `json.dumps` gives the parts with the entry added —, then written in one executemany;
    a snapshot whose parts hold an entry already (a day scored again) is decoded and replaced in place.
    `texts`: the accounts' benchmark texts when computed already; `written`: accounts whose snapshots were
    inserted with theirs (`_insert_day`), not read again."""
    if not signals:
        return
    texts = texts if texts is not None else _benchmark_texts(model, signals)
    rows: list[dict[str, Any]] = []
    # The stored text (CAST: a driver would otherwise decode PostgreSQL's json itself).
    snapshots = select(HealthSnapshot.id, HealthSnapshot.account_id, sql_cast(HealthSnapshot.parts, Text())
                       ).where(HealthSnapshot.day == day)
    wanted = None if not written else [a for a in signals if a not in written]
    for ids in ([None] if wanted is None else list(_chunks(wanted))):
        for snapshot_id, account_id, parts in session.execute(
                snapshots if ids is None else snapshots.where(HealthSnapshot.account_id.in_(ids))):
            found = texts.get(account_id)
            if found is None:
                continue
            rows.append({"snapshot_id": snapshot_id, "parts_json": _with_benchmarks(parts, found)})
    table = cast(Table, HealthSnapshot.__table__)
    write = update(table).where(table.c.id == bindparam("snapshot_id")).values(
        parts=bindparam("parts_json", type_=EncodedJSON()))
    for start in range(0, len(rows), _SnapshotWriter.BATCH):
        session.execute(write, rows[start:start + _SnapshotWriter.BATCH],
                        execution_options=panel_views.touches_every_account())


def _evaluate(model: HealthModel, scores: dict[int, HealthScore], signals: dict[int, Signals], summary: ScoreSummary,
              open_alerts: dict[int, dict[str, int]], history: dict[int, list[_DayScore]], tenant_id: int | None,
              now: dt.datetime, raised: list[dict[str, Any]], resolved: list[tuple[int, int]]) -> None:
    """The alert rules of every scored account (pure: no session), into `raised` (rows to insert) and `resolved`
    (alert and account ids), counted in `summary`."""
    nothing: dict[str, int] = {}
    for account_id, score in scores.items():
        mine = open_alerts.get(account_id, nothing)
        outcome = evaluate_alerts(score, history.get(account_id, ()), signals[account_id], model, mine.keys())
        for candidate in outcome.new:
            raised.append({"tenant_id": tenant_id, "account_id": account_id, "rule": candidate.rule,
                           "dedupe_key": candidate.dedupe_key, "severity": candidate.severity,
                           "title": candidate.title, "reasons": list(candidate.reasons), "status": "open",
                           "raised_at": now, "resolved_at": None})
            summary.alerts_raised += 1
            summary.alerts_by_rule[candidate.rule] += 1
        for key in outcome.resolved:
            resolved.append((mine[key], account_id))
            summary.alerts_resolved += 1


HISTORY_READ_DAYS = 60
"""How many days before the scored day the alert rules read of each account's scores."""


def _history_candidates(session: Session, model: HealthModel, day: dt.date, scores: dict[int, HealthScore]
                        ) -> set[int]:
    """The scored accounts the history rules may raise for (`scoring.alerts.history_may_raise`), from one grouped
    read of the days in their windows (each capped at `HISTORY_READ_DAYS`, as the rules read them): per account the
    best band of the band rule's look-back and the highest score of the drop rule's window."""
    rules = model.alerts
    if not (rules["band_dropped"].enabled or rules["score_drop"].enabled):
        return set()
    band_days, drop_days = history_windows(model)
    band_from = day - dt.timedelta(days=min(band_days, HISTORY_READ_DAYS))
    drop_from = day - dt.timedelta(days=min(drop_days, HISTORY_READ_DAYS))
    rank = case(*[(HealthSnapshot.band == band, code) for code, band in enumerate(BANDS)])
    query = (select(HealthSnapshot.account_id, func.max(case((HealthSnapshot.day >= band_from, rank))),
                    func.max(case((HealthSnapshot.day >= drop_from, HealthSnapshot.score))))
             .where(HealthSnapshot.day >= min(band_from, drop_from), HealthSnapshot.day < day)
             .group_by(HealthSnapshot.account_id))
    found: set[int] = set()
    for account_id, best, peak in session.execute(query):
        score = scores.get(account_id)
        if score is not None and history_may_raise(model, score.band, score.score,
                                                   BANDS[best] if best is not None else None, peak):
            found.add(account_id)
    return found


class _DayScore(NamedTuple):
    """An earlier day of an account's history, as the alert rules read it (`scoring.DayScore`)."""

    day: dt.date
    score: float | None
    band: str | None


def _alerts(session: Session, model: HealthModel, day: dt.date, scores: dict[int, HealthScore],
            signals: dict[int, Signals], summary: ScoreSummary, only: Sequence[int] | None = None,
            meanwhile: Callable[[], Any] | None = None, waited: Callable[[tuple[float, float]], None] | None = None,
            candidates: set[int] | None = None) -> None:
    """Raise and resolve the alert rules' alerts (and their tasks) for the scored accounts (``only``: a
    few of them, read by id; else the whole workspace in one pass). Open alerts are read as columns (no ORM
    object each), new ones written in one INSERT … SELECT over a JSON parameter, resolved ones in one UPDATE.

    `candidates` (a whole workspace's run): the accounts a rule that reads no history may raise for
    (`scoring.alerts.may_raise`); the rules are then evaluated only for them, those the history rules may raise for
    (`_history_candidates`: one grouped read of the days in their windows) and those with an open alert (which a
    rule may resolve) — every other account raises and resolves nothing —, and only their history is read.

    `meanwhile`: work on the session run on a helper thread while the rules are evaluated (pure Python, no use of
    the session), before the alerts are written — SQLite leaves the GIL while it works (a whole workspace's run
    refreshes the portfolio keys so); `waited(started)` is told how long the wait for it took after the rules."""
    from store.bulk import insert_rows

    table = cast(Table, Alert.__table__)
    open_alerts: dict[int, dict[str, int]] = defaultdict(dict)
    history: dict[int, list[_DayScore]] = defaultdict(list)
    owners: dict[int, tuple[str | None, int | None]] = {}
    # The rules read each earlier day's score and band only: no snapshot objects, no parts to decode.
    snaps = select(HealthSnapshot.account_id, HealthSnapshot.day, HealthSnapshot.score, HealthSnapshot.band
                   ).where(HealthSnapshot.day >= day - dt.timedelta(days=HISTORY_READ_DAYS), HealthSnapshot.day < day)
    for ids in ([None] if only is None else list(_chunks(list(only)))):
        alerts = select(Alert.id, Alert.account_id, Alert.dedupe_key).where(Alert.status == "open")
        people = select(Account.id, Account.owner, Account.csm_user_id)
        if ids is not None:
            alerts = alerts.where(Alert.account_id.in_(ids))
            people = people.where(Account.id.in_(ids))
        for alert_id, account_id, key in session.execute(alerts.order_by(Alert.id)):
            open_alerts[account_id][key] = alert_id
        if ids is not None or candidates is None:
            for account_id, earlier, points, band in session.execute(
                    snaps if ids is None else snaps.where(HealthSnapshot.account_id.in_(ids))):
                history[account_id].append(_DayScore(earlier, points, band))
        for account_id, owner, csm in session.execute(people):
            owners[account_id] = (owner, csm)
    if only is None and candidates is not None:
        wanted = candidates | open_alerts.keys() | _history_candidates(session, model, day, scores)
        for ids in _chunks(sorted(wanted)):
            for account_id, earlier, points, band in session.execute(
                    snaps.where(HealthSnapshot.account_id.in_(ids))):
                history[account_id].append(_DayScore(earlier, points, band))
        scores = {account_id: score for account_id, score in scores.items() if account_id in wanted}
    now = dt.datetime.now(dt.UTC)
    raised: list[dict[str, Any]] = []
    resolved: list[tuple[int, int]] = []
    tenant_id = current_tenant(session)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts-meanwhile") if meanwhile else None
    running = pool.submit(meanwhile) if pool is not None and meanwhile is not None else None
    try:
        _evaluate(model, scores, signals, summary, open_alerts, history, tenant_id, now, raised, resolved)
    finally:
        if pool is not None:
            started = _clocks()
            pool.shutdown(wait=True)
            if waited is not None:
                waited(started)
    if running is not None:
        running.result()  # its error raised here, before anything else is written
    if raised:
        # New alerts in one INSERT … SELECT (no per-row parameters), their ids returned with what names each of
        # them (account and key); RETURNING promises no order, so a key raised twice for one account takes the
        # ids in parameter order instead.
        marks = touches(row["account_id"] for row in raised)
        if len({(row["account_id"], row["dedupe_key"]) for row in raised}) == len(raised):
            columns = ("tenant_id", "account_id", "rule", "dedupe_key", "severity", "title", "reasons", "status",
                       "raised_at", "resolved_at")
            new_ids = {(account_id, key): alert_id for alert_id, account_id, key in session.execute(
                insert_rows(session, table, columns, [[row[c] for c in columns] for row in raised])
                .returning(table.c.id, table.c.account_id, table.c.dedupe_key), execution_options=marks)}
            alert_ids = [new_ids[(row["account_id"], row["dedupe_key"])] for row in raised]
        else:
            alert_ids = list(session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                             raised, execution_options=marks).scalars())
        tasks = []
        for alert_id, row in zip(alert_ids, raised, strict=True):
            owner, csm = owners.get(row["account_id"], (None, None))
            urgent = row["severity"] in ("high", "critical")
            tasks.append(NewTask(row["account_id"], row["title"], body="\n".join(row["reasons"]), owner=owner,
                                 assignee_user_id=csm, source="alert", alert_id=alert_id,
                                 priority="high" if urgent else "low" if row["severity"] == "info" else "normal",
                                 due_date=day + dt.timedelta(days=3 if urgent else 7)))
        create_tasks(session, tasks)
    for start in range(0, len(resolved), 500):
        batch = resolved[start : start + 500]
        session.execute(update(table).where(table.c.tenant_id == tenant_id, table.c.id.in_([i for i, _ in batch]))
                        .values(status="resolved", resolved_at=now),
                        execution_options=touches(account_id for _, account_id in batch))
        for task in session.scalars(select(Task).where(Task.alert_id.in_([i for i, _ in batch]),
                                                       Task.status == "open")):
            complete_task(task)

HISTORY_DAYS = 180


def has_history(store: Store, tenant_id: int) -> bool:
    with store.session(tenant_id) as session:
        return session.scalar(select(HealthSnapshot.id).limit(1)) is not None


def first_score(store: Store, tenant_id: int, model: HealthModel, as_of: dt.date, *,
                history_days: int = HISTORY_DAYS, progress: ProgressCallback | None = None) -> ScoreSummary:
    """Score a workspace; the first time (no snapshot yet), backfill ``history_days`` of daily history
    from the stored usage, tickets and surveys, so trends and history charts mean something at once.

    Later calls score ``as_of`` alone. The summary's ``days`` says how many days were scored.
    """
    since = as_of - dt.timedelta(days=history_days - 1) if not has_history(store, tenant_id) else as_of
    summary = score_tenant(store, tenant_id, model, as_of, since=since, progress=progress)
    if since < as_of:  # a bulk load: the next queries must not be planned on the empty table's statistics
        store.analyze(HealthSnapshot.__tablename__)
    return summary
