"""The embedded panels' view models, prepared per account and kept fresh (table ``panel_views``).

A panel request reads one row (`lookup`: the vendor record's link, the account's prepared view and the
workspace's epoch, in one indexed statement) and renders it. The view (score, band, trend, reasons, the
90-day sparkline points, renewal, ARR, owner, open alerts and tasks, engaged users) is built by
`build_payloads`, set-based for any number of accounts, when the account is scored (`prepare`, for the
panels that were ever opened) or on the first request that finds none (`refresh`).

Staleness is ruled out by marks made in the same transaction as the change:

- every flush of a tenant session that adds, changes or deletes an `Account`, `HealthSnapshot`,
  `Subscription`, `Alert`, `Task`, `UsageDaily` or `ProductUser` notes the accounts concerned;
- every ``INSERT``/``UPDATE``/``DELETE`` statement on those tables names its accounts with
  ``execution_options=touches(ids)`` (``touches(())``: nothing a panel shows); a statement that names
  none marks the whole workspace (`Tenant.panel_epoch` goes up);
- at commit the noted accounts' rows get ``payload = NULL`` and ``version + 1`` (inserted when missing).

A build reads the row's version and the epoch first, then the data, and stores its view only over that
version (`refresh`): a change committed meanwhile has raised the version or the epoch, so the view built
from older data is never stored as current (it answers the one request that built it).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, cast

import msgspec
from sqlalchemy import Engine, Table, bindparam, event, func, inspect, literal, select, update
from sqlalchemy.orm import ORMExecuteState, Session

from store.bulk import among, json_rows
from store.models import (
    Account,
    Alert,
    HealthSnapshot,
    PanelView,
    ProductUser,
    Subscription,
    Task,
    Tenant,
    UsageDaily,
)
from store.queries import active_subscriptions
from store.scoping import current_tenant
from store.upsert import insert_for

TREND_DAYS = 90
"""Days of scores the sparkline draws, ending on the panel's day."""
ENGAGED_DAYS = 30
LIST_LIMIT = 5
REASON_LIMIT = 4
FORMAT = 1
"""The payload's shape; a row of another format is rebuilt on read."""
CHUNK = 500

WATCHED = {m.__tablename__: m for m in (Account, HealthSnapshot, Subscription, Alert, Task, UsageDaily, ProductUser)}
_OPTION = "canary_panel_accounts"
_PENDING = "canary_panel_changes"
_EVERYTHING = "*"

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


# --- marks -----------------------------------------------------------------------------


def touches(account_ids: Iterable[int | None]) -> dict[str, Any]:
    """Execution options of a statement on a watched table: the accounts whose panels it changes."""
    return {_OPTION: frozenset(a for a in account_ids if a is not None)}


def touches_every_account() -> dict[str, Any]:
    """Execution options of a statement that changes the whole workspace's panels (a scoring run of every
    account): one bump of the workspace's epoch rather than a mark per account."""
    return {_OPTION: None}


def _pending(session: Session) -> set[Any]:
    return cast(set[Any], session.info.setdefault(_PENDING, set()))


def mark(session: Session, account_ids: Iterable[int | None]) -> None:
    """Note that what these accounts' panels show changed in this transaction (applied at commit)."""
    _pending(session).update(a for a in account_ids if a is not None)


def mark_every_account(session: Session) -> None:
    """Note that this transaction changed the whole workspace's panels (`touches_every_account`) by a write the
    statement hook does not see (one made through the driver): one bump of the epoch at commit."""
    _pending(session).add(_EVERYTHING)


@event.listens_for(Session, "do_orm_execute")
def _watch_statements(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    written(state.session, getattr(getattr(state.statement, "table", None), "name", None), state.execution_options)


def written(session: Session, table: str | None, options: Mapping[str, Any]) -> None:
    """A write statement on ``table`` with these execution options (`touches`; none: every account) ran in
    ``session``: its accounts' panels are marked. The statement hook calls it; so does a write sent through the
    driver, which the hook does not see (`store.upsert.upsert_rows` on SQLite)."""
    if table not in WATCHED:
        return
    named = options.get(_OPTION)
    if named is None:
        _pending(session).add(_EVERYTHING)
    else:
        _pending(session).update(named)


def _account_ids(obj: Any) -> list[Any]:
    if isinstance(obj, Account):
        return [obj.id]
    state = inspect(obj)
    history = state.attrs.account_id.history
    return [obj.account_id, *history.deleted]


def _watched(obj: Any) -> bool:
    return getattr(type(obj), "__tablename__", None) in WATCHED


@event.listens_for(Session, "after_flush")
def _watch_objects(session: Session, _context: Any) -> None:
    found: set[Any] = set()
    for obj in chain(session.new, session.deleted):
        if _watched(obj):
            found.update(_account_ids(obj))
    for obj in session.dirty:
        if _watched(obj) and session.is_modified(obj, include_collections=False):
            found.update(_account_ids(obj))
    found.discard(None)
    if found:
        _pending(session).update(found)


@event.listens_for(Session, "before_commit")
def _apply_marks(session: Session) -> None:
    if session.new or session.dirty or session.deleted:
        session.flush()  # the commit's own flush comes after this hook: its marks must be made now
    if not session.info.get(_PENDING):
        return
    pending = session.info.pop(_PENDING, set())
    tenant_id = current_tenant(session)
    tenants = cast(Table, Tenant.__table__)
    if tenant_id is None or _EVERYTHING in pending:
        # A change that names no accounts (or an administrator's session): every view of the workspace
        # (of every workspace, without one) is stale.
        bump = update(tenants).values(panel_epoch=tenants.c.panel_epoch + 1)
        session.execute(bump if tenant_id is None else bump.where(tenants.c.id == tenant_id))
        return
    _invalidate(session, tenant_id, sorted(pending))


@event.listens_for(Session, "after_soft_rollback")
def _forget_marks(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)


def _invalidate(session: Session, tenant_id: int, account_ids: Sequence[int]) -> None:
    """``payload = NULL, version + 1`` for these accounts' rows, created where missing (accounts of the
    workspace only: a deleted account's id is skipped)."""
    table = cast(Table, PanelView.__table__)
    accounts = cast(Table, Account.__table__)
    for start in range(0, len(account_ids), 5000):
        source = json_rows(session, [table.c.account_id], [(a,) for a in account_ids[start : start + 5000]])
        stmt = insert_for(session, table).from_select(
            ["tenant_id", "account_id", "version", "epoch", "updated_at"],
            among(session, select(literal(tenant_id), accounts.c.id, literal(1), literal(0),
                                  literal(dt.datetime.now(dt.UTC), table.c.updated_at.type))
                  .where(accounts.c.tenant_id == tenant_id), accounts.c.id, source.c.account_id)
            .order_by(accounts.c.id),
            include_defaults=False,
        )
        session.execute(stmt.on_conflict_do_update(index_elements=["tenant_id", "account_id"], set_={
            "version": table.c.version + 1, "payload": None}))


# --- the view model --------------------------------------------------------------------


def _reason_texts(reasons: Any) -> list[str]:
    out: list[str] = []
    for r in reasons or []:
        value = r.get("text") if isinstance(r, dict) else r
        if isinstance(value, str) and value:
            out.append(value)
        if len(out) == REASON_LIMIT:
            break
    return out


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def build_payloads(session: Session, account_ids: Iterable[int], as_of: dt.date) -> dict[int, dict[str, Any]]:
    """Each existing account's panel view on ``as_of`` (JSON-ready), in a few statements per 500 accounts."""
    ids = sorted(set(account_ids))
    out: dict[int, dict[str, Any]] = {}
    start = as_of - dt.timedelta(days=TREND_DAYS - 1)
    since = as_of - dt.timedelta(days=ENGAGED_DAYS - 1)
    for chunk in _chunks(ids):
        accounts = session.execute(select(Account.id, Account.name, Account.domain, Account.owner)
                                   .where(Account.id.in_(chunk))).all()
        if not accounts:
            continue
        found = [a.id for a in accounts]
        # Only day and score for the sparkline: the parts JSON of 90 snapshots is not needed.
        scores: dict[int, list[float | None]] = {a: [None] * TREND_DAYS for a in found}
        for account_id, day, score in session.execute(
                select(HealthSnapshot.account_id, HealthSnapshot.day, HealthSnapshot.score).where(
                    HealthSnapshot.account_id.in_(found), HealthSnapshot.day >= start, HealthSnapshot.day <= as_of)):
            scores[account_id][(day - start).days] = score
        newest = (select(HealthSnapshot.account_id, func.max(HealthSnapshot.day).label("day"))
                  .where(HealthSnapshot.account_id.in_(found), HealthSnapshot.day <= as_of)
                  .group_by(HealthSnapshot.account_id).subquery())
        latest = {row.account_id: row for row in session.execute(
            select(HealthSnapshot.account_id, HealthSnapshot.day, HealthSnapshot.score, HealthSnapshot.band,
                   HealthSnapshot.trend, HealthSnapshot.reasons)
            .join(newest, (newest.c.account_id == HealthSnapshot.account_id) & (newest.c.day == HealthSnapshot.day)))}
        subscriptions = active_subscriptions(session, found)
        alerts: dict[int, list[list[str]]] = defaultdict(list)
        for account_id, severity, title in session.execute(
                select(Alert.account_id, Alert.severity, Alert.title)
                .where(Alert.account_id.in_(found), Alert.status == "open")
                .order_by(Alert.account_id, Alert.raised_at.desc(), Alert.id.desc())):
            if len(alerts[account_id]) < LIST_LIMIT:
                alerts[account_id].append([severity, title])
        tasks: dict[int, list[list[Any]]] = defaultdict(list)
        for account_id, title, due in session.execute(
                select(Task.account_id, Task.title, Task.due_date)
                .where(Task.account_id.in_(found), Task.status == "open")
                .order_by(Task.account_id, Task.due_date, Task.id)):
            if len(tasks[account_id]) < LIST_LIMIT:
                tasks[account_id].append([title, due.isoformat() if due else None])
        days = func.count(func.distinct(UsageDaily.day))
        engaged: dict[int, list[tuple[str, int, dt.date]]] = defaultdict(list)
        for account_id, user_key, active_days, last in session.execute(
                select(UsageDaily.account_id, UsageDaily.user_key, days, func.max(UsageDaily.day))
                .where(UsageDaily.account_id.in_(found), UsageDaily.day >= since, UsageDaily.day <= as_of)
                .group_by(UsageDaily.account_id, UsageDaily.user_key)
                .order_by(UsageDaily.account_id, days.desc(), UsageDaily.user_key)):
            if len(engaged[account_id]) < LIST_LIMIT:
                engaged[account_id].append((user_key, int(active_days), last))
        keys = sorted({u[0] for users in engaged.values() for u in users})
        labels: dict[str, str | None] = {}
        for part in range(0, len(keys), CHUNK):
            labels.update((key, label) for key, label in session.execute(
                select(ProductUser.user_key, func.coalesce(ProductUser.name, ProductUser.email))
                .where(ProductUser.user_key.in_(keys[part : part + CHUNK]))))
        for account in accounts:
            snap = latest.get(account.id)
            subs = subscriptions.get(account.id, [])
            renewals = sorted((x for x in subs if x.renewal_date), key=lambda x: x.renewal_date or as_of)
            subscription = next((x for x in renewals if x.renewal_date and x.renewal_date >= as_of),
                                renewals[-1] if renewals else None)
            amounts = [x.arr for x in subs if x.arr is not None]
            renewal = subscription.renewal_date if subscription else None
            out[account.id] = {
                "format": FORMAT, "as_of": as_of.isoformat(),
                "account_id": account.id, "name": account.name, "domain": account.domain, "owner": account.owner,
                "score": snap.score if snap else None, "band": snap.band if snap else None,
                "trend": snap.trend if snap else None, "scored_on": snap.day.isoformat() if snap else None,
                "reasons": _reason_texts(snap.reasons if snap else []),
                "start": start.isoformat(), "scores": scores[account.id],
                "renewal_date": renewal.isoformat() if renewal else None,
                "arr": str(sum(amounts)) if amounts else None,
                "alerts": alerts.get(account.id, []), "tasks": tasks.get(account.id, []),
                "engaged": [[labels.get(key) or key, n, last.isoformat()]
                            for key, n, last in engaged.get(account.id, [])],
            }
    return out


# --- reading and storing ---------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """What one panel request reads: the linked account and its stored view, if current."""

    account_id: int
    version: int | None
    """None: no row yet."""
    key: tuple[Any, ...]
    """(account, version, epoch, day) of the stored view: its content never changes under one key."""
    payload: str | None
    """The stored view's JSON when it is current for the day asked (else None: build it)."""


_LOOKUP = (
    "SELECT l.account_id, v.version, v.epoch, v.as_of, v.payload, t.panel_epoch "
    "FROM source_links l JOIN tenants t ON t.id = l.tenant_id "
    "LEFT JOIN panel_views v ON v.tenant_id = l.tenant_id AND v.account_id = l.account_id "
    "WHERE l.tenant_id = {p} AND l.system = {p} AND l.external_id = {p}"
)
_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def lookup(engine: Engine, tenant_id: int, system: str, external_id: str, as_of: dt.date) -> Found | None:
    """The account a vendor record is linked to in this workspace and its view for ``as_of``, in one
    statement over three unique indexes (None: the record is linked to nothing here).

    The statement goes straight to the driver on a pooled connection (SQLAlchemy's statement machinery
    cost more than the read), and filters every table on ``tenant_id`` itself (no scoped session)."""
    sql = _LOOKUP.format(p=_MARKERS[engine.dialect.paramstyle])
    conn = engine.raw_connection()
    try:
        cursor = conn.cursor()
        try:
            cursor.execute(sql, (tenant_id, system, str(external_id)))
            row = cursor.fetchone()
        finally:
            cursor.close()
        conn.rollback()
    finally:
        conn.close()
    if row is None or row[0] is None:
        return None
    account_id, version, epoch, day, payload, current_epoch = row
    day_text = day.isoformat() if isinstance(day, dt.date) else day
    fresh = payload is not None and epoch == current_epoch and day_text == as_of.isoformat()
    return Found(int(account_id), version, (tenant_id, account_id, version, epoch, day_text),
                 payload if fresh else None)


def decode(payload: str | bytes) -> dict[str, Any]:
    data = _decode(payload)
    if not isinstance(data, dict):
        raise ValueError("a panel view is a JSON object")
    return data


def refresh(session: Session, account_ids: Iterable[int], as_of: dt.date, *,
            only_viewed: bool = False) -> dict[int, tuple[tuple[Any, ...], str]]:
    """Build these accounts' views for ``as_of`` and store each over the version it was built from.

    Returns (key, payload JSON) per existing account. ``only_viewed``: just the accounts whose panel was
    built before (rows with a day), as a scoring run prepares them."""
    tenant_id = current_tenant(session)
    if tenant_id is None:
        raise ValueError("panel views are built in a workspace's session")
    ids = sorted(set(account_ids))
    versions: dict[int, tuple[int, Any]] = {}
    for chunk in _chunks(ids):
        versions.update({a: (v, d) for a, v, d in session.execute(
            select(PanelView.account_id, PanelView.version, PanelView.as_of).where(PanelView.account_id.in_(chunk)))})
    if only_viewed:
        ids = [a for a in ids if a in versions and versions[a][1] is not None]
    epoch = session.scalar(select(Tenant.panel_epoch).where(Tenant.id == tenant_id)) or 0
    payloads = build_payloads(session, ids, as_of)
    if not payloads:
        return {}
    now = dt.datetime.now(dt.UTC)
    encoded = {a: _encode(p).decode() for a, p in payloads.items()}
    table = cast(Table, PanelView.__table__)
    stored = [{"b_account": a, "b_version": versions[a][0], "b_payload": encoded[a]} for a in encoded if a in versions]
    if stored:
        session.connection().execute(
            update(table).where(table.c.tenant_id == tenant_id, table.c.account_id == bindparam("b_account"),
                                table.c.version == bindparam("b_version"))
            .values(payload=bindparam("b_payload"), epoch=epoch, as_of=as_of, updated_at=now), stored)
    new = [{"tenant_id": tenant_id, "account_id": a, "version": 0, "epoch": epoch, "as_of": as_of,
            "payload": encoded[a], "updated_at": now} for a in encoded if a not in versions]
    if new:
        session.connection().execute(
            insert_for(session, table).on_conflict_do_nothing(index_elements=["tenant_id", "account_id"]), new)
    return {a: ((tenant_id, a, versions.get(a, (0, None))[0], epoch, as_of.isoformat()), encoded[a])
            for a in encoded}


def prepare(session: Session, account_ids: Iterable[int] | None, as_of: dt.date) -> int:
    """After a scoring run: rebuild the views of the panels that were ever opened among ``account_ids``
    (None: the whole workspace); the others are built on their first request. Returns how many."""
    if account_ids is None:
        account_ids = session.scalars(select(PanelView.account_id).where(PanelView.as_of.is_not(None))).all()
    return len(refresh(session, account_ids, as_of, only_viewed=True))
