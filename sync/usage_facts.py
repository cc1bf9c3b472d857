"""Usage facts: the Adoption and Users reports of the latest scored day from narrow stored rows (migration 0030).

Computed in a request from the monthly usage rows, a cohort's Adoption report or one account's leaderboard reads
every usage row of the 60 days (seconds at 10,000 accounts, minutes at 100,000). The worker's
`prepare_base_reports` (after every sync and full score run) builds, with the reports' figures (its reads on a
second connection while the account facts are built: `ReadAhead`):

- `UsageAccountFact`, a row per account: first day of use, product tier and seats of its active subscriptions,
  health over the 30 days (the upgrade rule), users active in the 30 days and the 30 before, and ``usage``:
  counts (`usage_blobs`: 1, 2 or 4 bytes each) — the window's distinct users of any event and of each key
  feature, then per month of the last `FACT_MONTHS` the users of any event and of each key feature;
- `UsageUserFact`, a row per product user active in the 60 days: active and key-feature days, engagement,
  logins now and before, and whether it needs training (the reports' GROUP BY, read and written by executemany);
- `UsageFactsState`: the day, key features, login event and months they hold, and the fingerprint of what they
  were built from (the newest snapshot, usage row and subscription change, the workspace's epoch).

A report reads them (`fresh_usage_facts`) only for that day, those key features and login event, at most
`FACT_MONTHS` months, while the fingerprint holds; anything else is computed from the monthly rows as before,
with the same figures. Cohorts, tiers and CSMs are read from the accounts in the request, so an account moved
to another CSM, segment or tier needs no rebuild. Like the stored copies (`sync.base_reports.data_fingerprint`),
the fingerprint cannot see a usage count raised in place on a day already counted, nor usage rows moved to
another account (a merge): both are a sync's, whose `prepare_base_reports` builds the facts again. A score run
of some accounts (a real-time change) builds theirs again (`patch_usage_facts`) when nothing else moved.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import operator
import typing
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Engine,
    Integer,
    String,
    Table,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from analytics import adoption as ad
from store.models import (
    Account,
    HealthSnapshot,
    Subscription,
    UsageAccountFact,
    UsageDaily,
    UsageFactsState,
    UsageMonthly,
    UsageUserFact,
)
from store.scoping import current_tenant
from sync import base_reports as br
from sync.reports import as_of_day

FACT_MONTHS = 6
"""Calendar months of adoption the account facts hold (the report's default); more months read the monthly rows."""
SOURCES = ("snapshots", "usage", "subscriptions", "epoch")
"""What the facts are built from (`sync.base_reports._sources`): usage, health (the upgrade rule), subscriptions
(product tier, seats)."""


@dataclasses.dataclass(frozen=True)
class UsageFacts:
    day: dt.date
    key_features: tuple[str, ...]
    login_event: str
    months: int


def _fingerprint(session: Session) -> str:
    """What the facts are built from (`SOURCES`): the epoch and the subscriptions' newest change (each hashed),
    then in the clear the newest snapshot's day and id and the newest usage row's id, so that a patch
    (`patch_usage_facts`) can tell which snapshots and usage rows were added since."""
    tenant = current_tenant(session)
    sources = br._sources(tenant)

    def part(name: str) -> tuple[Any, ...]:
        return tuple(tuple(map(tuple, session.execute(query).all())) for query in sources[name])

    day, newest = (session.scalar(query) for query in sources["snapshots"])
    usage = session.scalar(sources["usage"][0])
    return (f"{br._short(tenant, 'usage facts', part('epoch'))}:{br._short(part('subscriptions'))}:{day}:{newest}:"
            f"{usage}")


def fresh_usage_facts(session: Session, day: dt.date, key_features: Sequence[str], login_event: str | None = None,
                      months: int = 1) -> UsageFacts | None:
    """The workspace's usage facts when they hold `day`, `key_features` (in that order), `login_event` (None: any)
    and `months`, and their sources are unchanged since; else None (the report reads the monthly rows)."""
    state = session.execute(select(UsageFactsState.day, UsageFactsState.key_features, UsageFactsState.login_event,
                                   UsageFactsState.months, UsageFactsState.fingerprint)).first()
    if state is None or br._date(state.day) != day:
        return None
    facts = UsageFacts(br._date(state.day), tuple(json.loads(state.key_features)), state.login_event,
                       int(state.months))
    if (facts.key_features != tuple(key_features) or (login_event is not None and login_event != facts.login_event)
            or months > facts.months):
        return None
    return facts if state.fingerprint == _fingerprint(session) else None


def _month_firsts(day: dt.date, months: int) -> list[dt.date]:
    """The first days of the `months` calendar months up to `day`'s, oldest first."""
    firsts = [day.replace(day=1)]
    for _ in range(months - 1):
        firsts.insert(0, (firsts[0] - dt.timedelta(days=1)).replace(day=1))
    return firsts


_ACCOUNT_COLUMNS = ("id", "tenant_id", "account_id", "first_active", "premium_tier", "other_tier", "seats",
                    "snapshots", "scored", "lowest_score", "first_day", "users_now", "users_before", "usage")


_FIRST_SHIFT = 2**31
"""A first-use key: the month (year × 100 + month) × `_FIRST_SHIFT` + its lowest day bit's value (< 2**31)."""


def _cells(session: Session, tenant: int, day: dt.date, key_features: Sequence[str]) -> Any:
    """Per user (account, user key: one streamed pass in the monthly rows' (workspace, account, user, event,
    month) order, no sort) its first-use key (`_FIRST_SHIFT`: the least of its any-event rows') and its cells as
    text (comma-separated codes): per row of the any event or a key feature (column ``e``: `_statements`' order)
    in the last `FACT_MONTHS` months, ``(e × 8 + slot) × 4 + now × 2 + before`` — slot the month's place (1 …
    `FACT_MONTHS`; the month of `day` only with a day up to `day`, else 0), now and before whether it has a day in
    the 30 days or the 30 before. A user's rows are one per event and month: its cells count it once per event
    and month, and (deduplicated by NumPy) once per event and window."""
    start, before = br._window(day)
    months = _month_firsts(day, FACT_MONTHS)
    m = UsageMonthly

    def bit(mask: int, value: int) -> Any:  # `value` when the row has a day of `mask`, else 0
        return case((m.days.bitwise_and(literal_column(str(mask))) != 0, value), else_=0)

    # each part NULL for a row of no cell (another event; a month not among the last ones): the code too
    column = case({e: i for i, e in enumerate(["", *key_features])}, value=m.event)
    slot = case({month: i for i, month in enumerate(months[:-1], start=1)}
                | {months[-1]: bit(br._masks(months[-1], day)[months[-1]], FACT_MONTHS)}, value=m.month)
    now = case({month: bit(mask, 2) for month, mask in br._masks(start, day).items()}, value=m.month, else_=0)
    then = case({month: bit(mask, 1) for month, mask in br._masks(before, start - dt.timedelta(days=1)).items()},
                value=m.month, else_=0)
    code = (column * 8 + slot) * 4 + now + then  # NULL: no cell (the aggregate skips it)
    lowest = m.days.bitwise_and(-m.days)
    if br._postgres(session):
        month_number = cast(func.to_char(m.month, "YYYYMM"), Integer)
        cells = func.string_agg(cast(code, String), literal_column("','"))
    else:
        month_number = cast(func.replace(func.substr(m.month, 1, 7), "-", ""), Integer)
        cells = func.group_concat(code)
    first = func.min(case((m.event == "", cast(month_number, BigInteger) * literal_column(str(_FIRST_SHIFT))
                           + lowest)))
    return select(m.account_id, first, cells).where(m.tenant_id == tenant).group_by(m.account_id, m.user_key)


def _decode_cells(rows: list[tuple[Any, ...]], width: int) -> tuple[dict[int, tuple[int, int]], np.ndarray[Any, Any]]:
    """`_cells`' rows as each account's first use (month number, lowest day bit's value: accounts with any-event
    rows) and ``(account, column, distinct users of the 30 days, of the 30 before, rows of each month…)`` per
    account and column with any cell (as the reports' grouped read would return them)."""
    firsts: dict[int, tuple[int, int]] = {}
    for a, key, _c in rows:
        if key is not None:
            found = firsts.get(a)
            key = int(key)
            if found is None or key < found[0] * _FIRST_SHIFT + found[1]:
                firsts[a] = divmod(key, _FIRST_SHIFT)
    counted = [(a, c.count(",") + 1, c) for a, _k, c in rows if c]
    per_user = np.fromiter((n for _a, n, _c in counted), dtype=np.int64, count=len(counted))
    codes = np.fromstring(",".join(c for _a, _n, c in counted), dtype=np.int64, sep=",") if counted \
        else np.zeros(0, dtype=np.int64)  # (text parsed in C: no string object per code)
    # each user's account, as its index among the accounts (a user's rows: ``user``)
    accounts, account_of = np.unique(np.fromiter((a for a, _n, _c in counted), dtype=np.int64, count=len(counted)),
                                     return_inverse=True)
    user = np.repeat(np.arange(len(counted)), per_user)
    column, slot = codes // 32, codes // 4 % 8
    # a cell per (account, column) with any row, in (account, column) order: ``rank`` its place (by counting, no sort)
    key = account_of.reshape(-1)[user] * width + column
    present = np.bincount(key, minlength=len(accounts) * width) > 0
    rank = np.cumsum(present) - 1
    pairs = np.flatnonzero(present)
    out = np.zeros((len(pairs), 4 + FACT_MONTHS), dtype=np.int64)
    out[:, 0], out[:, 1] = accounts[pairs // width], pairs % width
    for flag, at in ((2, 2), (1, 3)):  # distinct users of the window, of the 30 days before: a user's column once
        has = (codes & flag) != 0
        seen = np.flatnonzero(np.bincount(user[has] * width + column[has], minlength=len(counted) * width))
        cell = rank[account_of.reshape(-1)[seen // width] * width + seen % width]
        out[:, at] = np.bincount(cell, minlength=len(pairs))
    months = slot > 0  # the rows of each month: one per user, column and month
    out[:, 4:] = np.bincount(rank[key[months]] * 8 + slot[months], minlength=len(pairs) * 8) \
        .reshape(len(pairs), 8)[:, 1:1 + FACT_MONTHS]
    return firsts, out


def _statements(session: Session, tenant: int, day: dt.date, key_features: Sequence[str], login_event: str,
                accounts: Sequence[int] | None = None) -> dict[str, Any]:
    """The reads of a build (each names its workspace: driver reads, which the session's scoping does not filter):
    per user its cells (`_cells`), per account its product tiers, seats, health over the 30 days; per user of the
    60 days its `UsageUserFact` figures. `accounts`: only these accounts' rows (`patch_usage_facts`)."""
    start, _ = br._window(day)
    product = br._product_tiers(tenant)
    both, (active, key_days, logins_now, logins_before), rule = br._user_activity(session, day, key_features,
                                                                                 login_event, tenant, accounts)
    wanted = list(accounts) if accounts is not None else None

    def of(column: Any) -> list[Any]:
        return [] if wanted is None else [column.in_(wanted)]

    return {
        "cells": _cells(session, tenant, day, key_features).where(*of(UsageMonthly.account_id)),
        "tiers": select(product.c.account_id, product.c.premium, product.c.other).where(*of(product.c.account_id)),
        "seats": (select(Subscription.account_id, func.sum(Subscription.seats_purchased))
                  .where(Subscription.tenant_id == tenant, Subscription.status == "active",
                         Subscription.seats_purchased.is_not(None), *of(Subscription.account_id))
                  .group_by(Subscription.account_id)),
        "health": (select(HealthSnapshot.account_id, func.count(), func.count(HealthSnapshot.score),
                          func.min(HealthSnapshot.score), func.min(HealthSnapshot.day))
                   .where(HealthSnapshot.tenant_id == tenant, HealthSnapshot.day >= start, HealthSnapshot.day <= day,
                          *of(HealthSnapshot.account_id))
                   .group_by(HealthSnapshot.account_id)),
        # the user facts' columns but the workspace (`_USER_COLUMNS`)
        "users": select(both.c.a, both.c.u, active, key_days, active + key_days, logins_now, logins_before,
                        case((rule, True), else_=False)).group_by(both.c.a, both.c.u),
    }


_USER_COLUMNS = ("tenant_id", "account_id", "user_key", "active", "key_days", "engagement", "logins", "logins_before",
                 "training")


@dataclasses.dataclass(frozen=True)
class _Build:
    """What a build reads: the workspace, the day, the key features and login event, and `_statements`' rows."""
    tenant: int
    day: dt.date
    key_features: tuple[str, ...]
    login_event: str
    rows: dict[str, list[tuple[Any, ...]]]
    written: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] | None = None
    """`_written`'s rows when made already (by the read ahead's thread)."""


def _written(build: _Build, date: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows a build writes (`_ACCOUNT_COLUMNS`, `_USER_COLUMNS`) from its reads: driver tuples (no row objects,
    no type processing of 100,000 rows); a date as the driver binds it (`date`: `sync.base_reports._sql_date`'s),
    one read as the driver returned it written back as read."""
    found, tenant = build.rows, build.tenant
    width = 1 + len(build.key_features)
    ids: set[int] = set()
    first_uses, cells = _decode_cells(found["cells"], width)
    firsts = {a: date(dt.date(number // 100, number % 100, offset.bit_length()))
              for a, (number, offset) in first_uses.items()}
    tiers = {a: (p, o) for a, p, o in found["tiers"]}
    seats = {a: int(n) for a, n in found["seats"] if a is not None and n is not None}
    health = {a: (int(n), int(scored), lowest, first) for a, n, scored, lowest, first in found["health"]}
    users = {a: (n, b) for a, e, n, b in cells[:, :4].tolist() if e == 0}
    for source in (firsts, tiers, seats, health, users):
        ids.update(source)
    ids.update(cells[:, 0].tolist())
    ids.discard(None)  # an active subscription whose account is gone (account_id NULL)
    order = np.array(sorted(ids), dtype=np.int64)
    counts = np.zeros((len(order), (1 + FACT_MONTHS) * width), dtype=np.int32)
    rows = np.searchsorted(order, cells[:, 0])
    for slot in range(1 + FACT_MONTHS):  # slot 0 the window's distinct users, 1… the months' users
        counts[rows, slot * width + cells[:, 1]] = cells[:, 2 if slot == 0 else 3 + slot]
    no_tier: tuple[Any, Any] = (None, None)
    no_health: tuple[Any, ...] = (0, 0, None, None)
    blobs = usage_blobs(counts)
    accounts = [(a, tenant, a, firsts.get(a), t[0], t[1], seats.get(a), h[0], h[1], h[2], h[3], u[0], u[1], blobs[i])
                for i, a in enumerate(order.tolist())
                for t, h, u in ((tiers.get(a, no_tier), health.get(a, no_health), users.get(a, (0, 0))),)]
    return accounts, [(tenant, *row) for row in found["users"]]


_AHEAD_PARTS = (("users",), ("cells", "tiers", "seats", "health"))
"""`_statements` as `ReadAhead` splits them between its threads (each part on a connection of its own)."""
AHEAD_THREADS = 1
"""`ReadAhead`'s threads (1: its parts one after the other, on the second core while the first builds the account
facts, about as long on the 100,000-account world; more would take the first core's time from them)."""


class ReadAhead:
    """A build's reads (`_statements`) on a second connection, on a thread, and the rows it writes made from them
    there (`_written`), while the caller goes on (the account facts: `sync.base_reports.prepare_base_reports`):
    SQLite and PostgreSQL compute without holding the GIL, so on the second core the reads cost the preparation
    little wall time. Started only when the session has written
    nothing yet in its transaction (no write a second connection could not see) and its database is one a second
    connection reaches (a file or a server, not SQLite's memory); `refresh_usage_facts` takes the rows when they
    are its day's, key features' and login event's, else reads them itself.

    Started early (`day`: a whole score run's, before its snapshots are written — the day they will be of), the
    reads but the health over the 30 days (the usage and subscriptions: a score run writes neither) run while the
    run writes its day; `scored` (the snapshots committed) then reads the health and makes the rows. Each read
    first reads what the facts' fingerprint reads of its tables (`_GUARDS`): the rows are taken only when the
    session reads the same then (no change committed in between, which the rows might or might not hold)."""

    def __init__(self, session: Session, key_features: Sequence[str], login_event: str,
                 day: dt.date | None = None) -> None:
        self.future: Future[_Build] | None = None
        self.key: tuple[int, dt.date, tuple[str, ...], str] | None = None
        self.guards: list[Future[dict[str, Any]]] = []
        """An early read's: what each part read of `_GUARDS` before its statements."""
        self._finish: typing.Callable[[], None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        tenant = current_tenant(session)
        bind = session.get_bind()
        if tenant is None or not key_features or not isinstance(bind, Engine) or not _untouched(session):
            return
        url = bind.url
        if url.get_backend_name() == "sqlite" and (url.database in (None, "", ":memory:")
                                                   or "memory" in str(url.query.get("mode", ""))):
            return
        early = day is not None
        if day is None:
            if session.scalar(select(func.max(HealthSnapshot.day))) is None:
                return
            day = as_of_day(session)
        statements = _statements(session, tenant, day, key_features, login_event)
        sources = br._sources(tenant)

        def read(names: Sequence[str], guard: Sequence[str] = ()) -> dict[str, list[tuple[Any, ...]]]:
            with bind.connect() as connection:
                found = {name: _guard_rows(connection, sources, name) for name in guard}
                return {**found, **{name: br.connection_rows(connection, statements[name]) for name in names}}

        self.key = (tenant, day, tuple(key_features), login_event)
        date = br._sql_date(session)

        def written() -> _Build:  # the parts read (each on a connection of its own), then the rows to write made
            found = {name: rows for part in parts for name, rows in part.result().items() if name in statements}
            build = _Build(tenant, day, tuple(key_features), login_event, found)
            return dataclasses.replace(build, written=_written(build, date))

        executor = ThreadPoolExecutor(max_workers=AHEAD_THREADS, thread_name_prefix="usage-facts-ahead")
        if not early:
            parts = [executor.submit(read, part) for part in _AHEAD_PARTS]
            self.future = executor.submit(written)  # after the parts (one thread), or waiting for them
            executor.shutdown(wait=False)
            return
        parts = [executor.submit(read, [name for name in part if name not in _LATER], _GUARDS)
                 for part in _AHEAD_PARTS]

        def finish() -> None:  # the snapshots committed: their health read (after their guard), the rows made
            parts.append(executor.submit(read, _LATER, ("snapshots",)))
            self.future = executor.submit(written)
            executor.shutdown(wait=False)

        self.guards = typing.cast(list[Future[dict[str, Any]]], parts)
        self._finish = finish
        self._executor = executor

    def scored(self) -> None:
        """An early read's last part started: the day's snapshots are committed (nothing else: `take` does it)."""
        finish, self._finish = self._finish, None
        if finish is not None:
            finish()

    def close(self) -> None:
        """An early read not to be taken (the run failed): the reads not started dropped, its thread let go."""
        self._finish, self.future = None, None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def take(self, tenant: int, day: dt.date, key_features: Sequence[str], login_event: str,
             session: Session | None = None) -> _Build | None:
        """The rows read ahead when they are for this build, else None (once: a second call returns None). An
        early read's only when `session` reads what its reads read first (`_GUARDS`, and the snapshots')."""
        self.scored()
        future, self.future = self.future, None
        if future is None:
            return None
        build: _Build = future.result()
        if self.key != (tenant, day, tuple(key_features), login_event):
            return None
        if self.guards:
            if session is None:
                return None
            sources = br._sources(tenant)
            connection = session.connection()
            for part in self.guards:
                for name, rows in part.result().items():
                    if name in sources and _guard_rows(connection, sources, name) != rows:
                        return None
        return build


_GUARDS = ("usage", "subscriptions")
"""What an early `ReadAhead`'s reads read of the facts' fingerprint (`SOURCES`) first: the tables they read that a
score run does not write."""
_LATER = ("health",)
"""An early `ReadAhead`'s read once the day's snapshots are committed (`ReadAhead.scored`)."""


def _guard_rows(connection: Any, sources: dict[str, list[Any]], name: str) -> list[tuple[Any, ...]]:
    """What the fingerprint reads of `name` (`sync.base_reports._sources`), on `connection`."""
    return [row for query in sources[name] for row in br.connection_rows(connection, query)]


def _untouched(session: Session) -> bool:
    """Whether the session's transaction has written nothing yet (so a second connection reads what it reads)."""
    if session.new or session.dirty or session.deleted:
        return False
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return session.scalar(text("SELECT pg_current_xact_id_if_assigned()")) is None
    if connection.dialect.name == "sqlite":
        return not typing.cast(Any, connection.connection.driver_connection).in_transaction
    return False


def refresh_usage_facts(session: Session, key_features: Sequence[str], login_event: str,
                        ahead: ReadAhead | None = None) -> int:
    """Builds the workspace's usage facts for its latest scored day, each figure with the SQL the reports compute
    it with, over every account (no cohort): a row per account with any usage, subscription or snapshot in the
    windows, and a row per user of the 60 days, each table written in one executemany. Returns how many account
    rows. `ahead`: the reads started on a second connection before the session wrote anything (`ReadAhead`),
    used when they are this build's."""
    tenant = current_tenant(session)
    if tenant is None:
        raise ValueError("usage facts are built for one workspace")
    session.execute(delete(UsageFactsState))
    session.execute(delete(UsageUserFact))
    session.execute(delete(UsageAccountFact))
    if not key_features or session.scalar(select(func.max(HealthSnapshot.day))) is None:
        return 0
    day = as_of_day(session)
    build = ahead.take(tenant, day, key_features, login_event, session) if ahead is not None else None
    if build is None:
        statements = _statements(session, tenant, day, key_features, login_event)
        build = _Build(tenant, day, tuple(key_features), login_event,
                       {name: _tuples(session, statement) for name, statement in statements.items()})
    accounts, users = build.written if build.written is not None else _written(build, br._sql_date(session))
    br._insert_tuples(session, UsageAccountFact.__table__, _ACCOUNT_COLUMNS, accounts)
    br._insert_tuples(session, UsageUserFact.__table__, _USER_COLUMNS, users)
    session.execute(insert(typing.cast(Table, UsageFactsState.__table__)).values(
        tenant_id=tenant, day=day, fingerprint=_fingerprint(session), key_features=json.dumps(list(key_features)),
        login_event=login_event, months=FACT_MONTHS, built_at=dt.datetime.now(dt.UTC)))
    return len(accounts)


def patch_usage_facts(session: Session, accounts: Sequence[int], key_features: Sequence[str], login_event: str
                      ) -> bool | None:
    """After a score run of some accounts (`sync.base_reports.patch_base_reports`): their usage facts (account and
    user rows) built again with the build's SQL restricted to them, and the state's fingerprint stamped again —
    when the facts held before but for those accounts: the same day, key features, login event and epoch, every
    snapshot and usage row added since one of theirs, every subscription changed since (by a record fetch) one of
    theirs. Returns whether their rows differ from those they replace (as the driver returns them); None (nothing
    written) when the facts did not hold so: the caller drops them, as before (usage of other accounts arrived
    meanwhile: the next preparation builds them)."""
    tenant = current_tenant(session)
    state = session.execute(select(UsageFactsState.id, UsageFactsState.day, UsageFactsState.key_features,
                                   UsageFactsState.login_event, UsageFactsState.fingerprint)).first()
    wanted = sorted(set(accounts))
    if (tenant is None or state is None or not wanted or br._date(state.day) != as_of_day(session)
            or tuple(json.loads(state.key_features)) != tuple(key_features) or state.login_event != login_event):
        return None
    stored, now = state.fingerprint.split(":"), _fingerprint(session).split(":")
    if len(stored) != 5 or stored[0] != now[0] or stored[2] != now[2]:
        return None
    if stored[3] != now[3] and not br.only_rows_of(session, HealthSnapshot.id, HealthSnapshot.account_id, stored[3],
                                                   wanted):
        return None
    if stored[4] != now[4] and not br.only_rows_of(session, UsageDaily.id, UsageDaily.account_id, stored[4], wanted):
        return None
    if stored[1] != now[1]:  # subscriptions changed since the build: each one of theirs
        built = select(UsageFactsState.built_at).scalar_subquery()
        if session.execute(select(Subscription.id).where(
                Subscription.updated_at >= built, Subscription.account_id.is_not(None),
                Subscription.account_id.not_in(wanted)).limit(1)).first() is not None:
            return None
    day = br._date(state.day)
    date = br._sql_date(session)
    accounts_rows: list[tuple[Any, ...]] = []
    users_rows: list[tuple[Any, ...]] = []
    compared: list[tuple[Any, ...]] = []  # per chunk: account and user rows before, then after
    for i in range(0, len(wanted), 5000):
        chunk = wanted[i:i + 5000]
        for table, columns in ((UsageAccountFact.__table__, _ACCOUNT_COLUMNS),
                               (UsageUserFact.__table__, _USER_COLUMNS)):
            before = select(*[table.c[c] for c in columns]).where(table.c.tenant_id == tenant,
                                                                   table.c.account_id.in_(chunk))
            compared.append(tuple(sorted(tuple(r) for r in _tuples(session, before))))
        session.execute(delete(UsageUserFact).where(UsageUserFact.account_id.in_(chunk)))
        session.execute(delete(UsageAccountFact).where(UsageAccountFact.account_id.in_(chunk)))
        statements = _statements(session, tenant, day, key_features, login_event, chunk)
        build = _Build(tenant, day, tuple(key_features), login_event,
                       {name: _tuples(session, statement) for name, statement in statements.items()})
        found_accounts, found_users = _written(build, date)
        accounts_rows += found_accounts
        users_rows += found_users
        compared += [tuple(sorted(found_accounts)), tuple(sorted(found_users))]
    br._insert_tuples(session, UsageAccountFact.__table__, _ACCOUNT_COLUMNS, accounts_rows)
    br._insert_tuples(session, UsageUserFact.__table__, _USER_COLUMNS, users_rows)
    session.execute(update(UsageFactsState).where(UsageFactsState.id == state.id).values(
        fingerprint=_fingerprint(session), built_at=dt.datetime.now(dt.UTC)))
    return any(compared[i] != compared[i + 2] for i in range(0, len(compared), 4))


_WIDTHS = (np.dtype("<u1"), np.dtype("<u2"), np.dtype("<i4"))
"""The item types of a ``usage`` blob, narrowest first: each account's the narrowest its largest count fits (a
count is never negative), told apart on reading by the blob's length (1, 2 or 4 bytes a count)."""


def usage_blobs(counts: np.ndarray[Any, np.dtype[np.int32]]) -> list[bytes]:
    """Each row of `counts` (non-negative int32) as its ``usage`` blob: little-endian counts of the narrowest of
    `_WIDTHS` that holds its largest (most accounts' counts are under 256: a quarter of the bytes to store and
    read)."""
    n, size = counts.shape
    out: list[bytes] = [b""] * n
    largest = counts.max(axis=1, initial=0)
    rest = np.ones(n, dtype=bool)
    for kind in _WIDTHS:
        fits = rest & (largest <= np.iinfo(kind).max)
        rest &= ~fits
        rows = np.flatnonzero(fits)
        data = counts[rows].astype(kind).tobytes()
        step = size * kind.itemsize
        for j, i in enumerate(rows.tolist()):
            out[i] = data[j * step:(j + 1) * step]
    return out


def usage_counts(blobs: Sequence[bytes | None], size: int) -> np.ndarray[Any, np.dtype[np.int32]]:
    """`usage_blobs`' inverse: a row of `size` int32 counts per blob (None: zeros), each read as its length
    tells."""
    n = len(blobs)
    out = np.zeros((n, size), dtype=np.int32)
    present = [b"" if b is None else b for b in blobs]
    lengths = np.fromiter(map(len, present), dtype=np.int64, count=n)
    for kind in _WIDTHS:
        rows = np.flatnonzero(lengths == size * kind.itemsize)
        if len(rows) == n:  # all of one width: read at once
            out[:] = np.frombuffer(b"".join(present), dtype=kind).reshape(n, size)
        elif len(rows):
            data = b"".join([present[i] for i in rows.tolist()])
            out[rows] = np.frombuffer(data, dtype=kind).reshape(len(rows), size)
    return out


def fact_adoption_counts(session: Session, facts: UsageFacts, where: list[Any], day: dt.date, months: int
                         ) -> tuple[int, list[ad.AdoptionCount], list[ad.AdoptionCount],
                                    list[tuple[dt.date, list[ad.AdoptionCount]]]]:
    """The accounts counted and the `AdoptionCount` rows by tier class, by start cohort and per month (the last
    `months`), from the account facts of the accounts `where` keeps: what `_counts` and `_monthly` hand the pure
    function, summed with NumPy (an account's users of a feature: using when more than none)."""
    f = UsageAccountFact
    tenant = current_tenant(session)
    tier = func.coalesce(func.nullif(Account.tier, ""), f.premium_tier, f.other_tier)
    # driver rows, the workspace's condition added on the accounts and named in the join's ON (PostgreSQL: binary
    # results, the blobs as their bytes); the day as its text
    rows = br._core_rows(session, select(tier, cast(f.first_active, String), f.usage).select_from(Account)
                         .outerjoin(f, and_(f.id == Account.id, f.tenant_id == tenant)).where(*where), Account)
    width = 1 + len(facts.key_features)
    n = len(rows)
    columns = [list(map(operator.itemgetter(i), rows)) for i in range(3)]  # (zip(*rows): 100,000 arguments)
    counts = usage_counts(columns[2], width * (1 + facts.months))  # summed as int64 (NumPy's sums of int32)
    # each account's group by tier class and by start cohort: one `group_of` per distinct tier and first day
    labels: dict[str, dict[str, int]] = {}
    index: dict[str, np.ndarray[Any, np.dtype[np.int64]]] = {}
    for by, values in (("tier", columns[0]), ("cohort", columns[1])):
        names: dict[str, int] = {}
        known = {value: names.setdefault(ad.group_of(ad.AdoptionAccount(
            0, value if by == "tier" else None, br._date(value) if by == "cohort" and value else None),
            by, ad.PREMIUM_TIERS), len(names)) for value in set(values)}
        labels[by] = names
        index[by] = np.fromiter(map(known.__getitem__, values), dtype=np.int64, count=n)
    window = np.ascontiguousarray(counts[:, :width].T)  # per event (any, then each key feature) its accounts' users
    grouped = []
    for by, names in labels.items():
        size = len(names)
        # per group: its accounts, and per event the users summed and the accounts with any (exact: float64 sums
        # of integers far below 2**53)
        accounts = np.bincount(index[by], minlength=size).tolist()
        users = [np.bincount(index[by], weights=window[k], minlength=size).tolist() for k in range(width)]
        using = [np.bincount(index[by], weights=window[k] > 0, minlength=size).tolist() for k in range(width)]
        out = [ad.AdoptionCount(g, None, accounts[j], int(users[0][j])) for g, j in names.items()]
        for k, feature in enumerate(facts.key_features, start=1):
            out += [ad.AdoptionCount(g, feature, int(using[k][j]), int(users[k][j]))
                    for g, j in names.items() if using[k][j]]
        grouped.append(out)
    # per month (its block of columns): the users of each event summed, the accounts with any counted
    first_column = width * (1 + facts.months - months)
    months_counts = counts[:, first_column:]
    summed = months_counts.sum(axis=0, dtype=np.int64).reshape(months, width).tolist()
    using_accounts = (months_counts > 0).sum(axis=0, dtype=np.int64).reshape(months, width).tolist()
    monthly = []
    for i, first in enumerate(_month_firsts(day, months)):
        month = [ad.AdoptionCount("all", None, n, summed[i][0])]
        month += [ad.AdoptionCount("all", feature, using_accounts[i][k], summed[i][k])
                  for k, feature in enumerate(facts.key_features, start=1) if using_accounts[i][k]]
        monthly.append((first, month))
    return n, grouped[0], grouped[1], monthly


def _tuples(session: Session, statement: Any) -> list[tuple[Any, ...]]:
    """`statement`'s rows as the driver returns them (`sync.base_reports._driver_rows`): the statement names its
    workspace."""
    return br._driver_rows(session, statement)


def fact_upgrade_ready(session: Session, day: dt.date, where: list[Any]) -> list[ad.UpgradeReady]:
    """`_upgrade_ready` from the account facts: the health rule a filter (the snapshots' HAVING), the rest the
    pure function's."""
    f = UsageAccountFact
    start, _ = br._window(day)
    rows = session.execute(
        select(f.account_id, f.snapshots, f.lowest_score, f.first_day, f.seats, f.users_now, f.users_before)
        .join(Account, Account.id == f.id)
        .where(f.snapshots > 0, f.scored == f.snapshots, f.lowest_score >= ad.UPGRADE_SCORE,
               f.first_day <= start + dt.timedelta(days=6), *where)).all()
    return ad.upgrade_ready([ad.UpgradeFacts(a, n, lowest, br._date(first), seats, now, before)
                             for a, n, lowest, first, seats, now, before in rows], day)


def fact_needs_training(session: Session, key_features: Sequence[str], where: list[Any]
                        ) -> tuple[list[ad.TrainingNeed], int]:
    """`_needs_training` from the user facts: the users the rule keeps, the first `LISTED` by account and user key,
    and how many there are."""
    u = UsageUserFact
    needs = (select(u.account_id.label("a"), u.user_key.label("u"), u.active, u.key_days, u.logins,
                    u.logins_before).join(Account, Account.id == u.account_id)
             .where(u.training.is_(True), *where).subquery("needs"))
    rows = session.execute(select(needs, func.count().over().label("total"))
                           .order_by(needs.c.a, needs.c.u).limit(br.LISTED)).all()
    users = [ad.UserActivity(a, key, int(n), int(lg), int(lb)) for a, key, n, _k, lg, lb, _t in rows]
    uses = [ad.EventUse(a, key, key_features[0], int(k)) for a, key, _n, k, _l, _lb, _t in rows if k]
    return ad.needs_training(users, uses, key_features), int(rows[0][-1]) if rows else 0


def fact_leaderboard(session: Session, account_id: int | None, limit: int, where: list[Any]) -> list[Any]:
    """`_leaderboard_rows` from the user facts: (account, user key, active days, key-feature days) of the `limit`
    most engaged users active in the window, ORDER BY engagement … LIMIT on their index."""
    u = UsageUserFact
    mine = [u.account_id == account_id] if account_id is not None else []
    # one account's: its few rows found by the (account, user key) index and sorted, not the whole order walked
    engagement = u.engagement if account_id is None else u.engagement + 0
    return list(session.execute(
        select(u.account_id, u.user_key, u.active, u.key_days).join(Account, Account.id == u.account_id)
        .where(u.active > 0, *mine, *where)
        .order_by(engagement.desc(), u.active.desc(), u.account_id, u.user_key).limit(limit)).all())


__all__ = ["FACT_MONTHS", "UsageFacts", "fact_adoption_counts", "fact_leaderboard", "fact_needs_training",
           "fact_upgrade_ready", "fresh_usage_facts", "patch_usage_facts", "refresh_usage_facts"]
