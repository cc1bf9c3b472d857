"""Portfolio lists in the store: install the shipped lists, save versions, evaluate memberships.

`evaluate_lists` runs at the end of every score run (`canary score`, `canary demo`) and after a list is
created or edited in the console. It loads every live account's facts in bulk — the portfolio keys kept
on the account row (band, score, trend, ARR, renewal), only the measures the lists name from the latest
scored day's snapshots (and from the days ``rose_by``/``fell_by`` compare with), open alerts, the
subscriptions' start, and product users' first and last activity — evaluates each list with the pure
`worklists` package, and writes only what differs: an account that enters gets a member row and an
``entered`` event, one that leaves loses its member row and gets a ``left`` event (with the reasons it
was in for), one that stays keeps its ``entered_on`` and has its reasons refreshed when they changed.

Shipped lists (`worklists.default_lists`) are installed in a workspace by its first evaluation: each
shipped key the workspace does not hold yet becomes a list at version 1 by "Canary".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Table, and_, bindparam, case, delete, func, select, update
from sqlalchemy.orm import Session

from store.audit import record_audit
from store.bulk import insert_rows
from store.db import Store
from store.models import (
    NO_RENEWAL,
    NO_SCORE,
    NO_TREND,
    Account,
    AccountFact,
    Alert,
    HealthSnapshot,
    PortfolioList,
    PortfolioListEvent,
    PortfolioListFollow,
    PortfolioListMember,
    PortfolioListVersion,
    ProductUser,
    Subscription,
)
from store.queries import SYSTEM_OF_RECORD, live_accounts
from store.scoping import current_tenant, scoped_core
from worklists import (
    AccountFacts,
    FactColumns,
    ListDefinition,
    ListError,
    OpenAlert,
    default_lists,
    evaluate_columns,
)
from worklists import load_definition as _load_definition

log = logging.getLogger(__name__)
SHIPPED_AUTHOR = "Canary"
"""The author of the shipped lists' first versions."""
CHUNK = 500
BATCH = 20000
"""Rows per statement of the membership writes (each batch one JSON parameter)."""


@dataclass
class ListsSummary:
    lists: int = 0
    installed: int = 0
    members: int = 0
    entered: int = 0
    left: int = 0
    skipped: list[str] = field(default_factory=list)
    """Lists whose stored definition no longer loads (named with the problem); their members are kept."""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- definitions and versions ----------------------------------------------------------------------------


def install_defaults(session: Session, now: dt.datetime | None = None) -> int:
    """Add the shipped lists this workspace does not hold yet (by key); returns how many were added."""
    held = set(session.scalars(select(PortfolioList.key).where(PortfolioList.key.is_not(None))))
    added = 0
    for definition in default_lists():
        if definition.key in held:
            continue
        _new_list(session, definition, SHIPPED_AUTHOR, None, now or dt.datetime.now(dt.UTC))
        added += 1
    return added


def _new_list(session: Session, definition: ListDefinition, author: str, author_user_id: int | None,
              now: dt.datetime) -> PortfolioList:
    row = PortfolioList(key=definition.key, name=definition.name, description=definition.description, version=1,
                        created_by_user_id=author_user_id, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    session.add(PortfolioListVersion(list_id=row.id, version=1, definition=definition.as_dict(),
                                     author=author[:320], author_user_id=author_user_id, created_at=now))
    return row


def create_list(session: Session, definition: ListDefinition, actor: str, actor_user_id: int | None,
                now: dt.datetime | None = None) -> PortfolioList:
    """A new list made by a user (never a shipped key), audited as ``list.create``."""
    definition = dataclasses.replace(definition, key=None)
    row = _new_list(session, definition, actor, actor_user_id, now or dt.datetime.now(dt.UTC))
    record_audit(session, actor, "list.create", definition.name, actor_user_id, list_id=row.id, version=1)
    return row


def edit_list(session: Session, row: PortfolioList, definition: ListDefinition, actor: str,
              actor_user_id: int | None, now: dt.datetime | None = None) -> int:
    """Save `definition` as the list's next version (the old ones stay); audited as ``list.edit``.
    Returns the new version number, or the current one when nothing changed."""
    definition = dataclasses.replace(definition, key=row.key)
    current = current_definition(session, row)
    if current is not None and current.as_dict() == definition.as_dict():
        return row.version
    now = now or dt.datetime.now(dt.UTC)
    row.version += 1
    row.name, row.description, row.updated_at = definition.name, definition.description, now
    session.add(PortfolioListVersion(list_id=row.id, version=row.version, definition=definition.as_dict(),
                                     author=actor[:320], author_user_id=actor_user_id, created_at=now))
    record_audit(session, actor, "list.edit", definition.name, actor_user_id, list_id=row.id, version=row.version)
    return row.version


def current_definition(session: Session, row: PortfolioList) -> ListDefinition | None:
    document = session.scalar(select(PortfolioListVersion.definition).where(
        PortfolioListVersion.list_id == row.id, PortfolioListVersion.version == row.version))
    if document is None:
        return None
    return _load_definition(document)


def set_follow(session: Session, row: PortfolioList, user_id: int, follow: bool, actor: str) -> bool:
    """Follow or unfollow; returns whether anything changed (audited as ``list.follow``/``list.unfollow``)."""
    found = session.scalar(select(PortfolioListFollow).where(PortfolioListFollow.list_id == row.id,
                                                             PortfolioListFollow.user_id == user_id))
    if follow == (found is not None):
        return False
    if follow:
        session.add(PortfolioListFollow(list_id=row.id, user_id=user_id))
    else:
        session.delete(found)
    record_audit(session, actor, "list.follow" if follow else "list.unfollow", row.name, user_id, list_id=row.id)
    return True


# --- facts -----------------------------------------------------------------------------------------------


def _measure_columns(measures: Iterable[str]) -> list[Any]:
    return [HealthSnapshot.parts[("parts", m, "value")].as_float().label(f"m{i}") for i, m in enumerate(measures)]


ONLY_LIMIT = 1000
"""Up to this many accounts, facts of some accounts are read by id; more, and all are read and filtered."""

def _within(query: Any, column: Any, only: Sequence[int] | None) -> Any:
    """The query, limited to rows of the ``only`` accounts when given."""
    return query.where(column.in_(only)) if only is not None else query


def _core_rows(session: Session, model: Any, query: Any) -> list[Any]:
    """A read of one table's columns (`model`'s) run by Core on the session's connection — the ORM's row
    processing costs more than the read itself at 100,000 accounts —, scoped to the session's workspace by the
    table's own ``tenant_id`` (`store.scoping.scoped_core`), as the session's reads are."""
    return list(session.connection().execute(scoped_core(session, query, model, what="list facts")).all())


def _health_on(session: Session, day: dt.date, measures: Sequence[str], only: Sequence[int] | None = None
               ) -> dict[int, tuple[Any, ...]]:
    """account id → (score, measure values...) of the snapshots of `day`."""
    rows = session.execute(_within(select(HealthSnapshot.account_id, HealthSnapshot.score, *_measure_columns(measures))
                                   .where(HealthSnapshot.day == day), HealthSnapshot.account_id, only))
    return {r[0]: tuple(r[1:]) for r in rows}


def _kept_measures(session: Session, day: dt.date, measures: Sequence[str]) -> dict[int, tuple[Any, ...]] | None:
    """`_health_on` (score left out: None) of the whole workspace from the account facts the reports keep
    (`sync.base_reports.refresh_account_facts`: each account's latest snapshot's measures, float64, NaN for none,
    read from the snapshots' JSON as `_health_on` reads them), when they are fresh for `day` and hold `measures`
    — as after every full score run — else None. Reading them costs a blob per account instead of parsing every
    snapshot's JSON again."""
    from sync.base_reports import fresh_account_facts

    facts = fresh_account_facts(session, day, measures)
    if facts is None:
        return None
    table: Table = AccountFact.__table__  # type: ignore[assignment]
    rows = session.connection().execute(select(table.c.account_id, table.c.measures).where(
        table.c.tenant_id == current_tenant(session), table.c.day == day, table.c.measures.is_not(None))).all()
    if not rows:
        return {}
    width = len(facts.measures)
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float64).reshape(len(rows), width)
    picked = matrix[:, [facts.measures.index(m) for m in measures]]
    values = picked.astype(object)
    values[np.isnan(picked)] = None  # NaN: none
    return {r[0]: (None, *v) for r, v in zip(rows, values.tolist(), strict=True)}


def load_facts(session: Session, as_of: dt.date, measures: Iterable[str] = (), change_days: Iterable[int] = (),
               *, account_ids: Iterable[int] | None = None) -> list[AccountFacts]:
    """Every live account's facts for list evaluation, in a handful of bulk queries (see the module);
    ``account_ids``: only those accounts' (read by id when they are few)."""
    columns = load_fact_columns(session, as_of, measures, change_days, account_ids=account_ids)
    return [columns.row(i) for i in range(len(columns))]


def load_fact_columns(session: Session, as_of: dt.date, measures: Iterable[str] = (),
                      change_days: Iterable[int] = (), *, account_ids: Iterable[int] | None = None) -> FactColumns:
    """`load_facts` as columns (`worklists.FactColumns`): each table's rows read once and laid out a column per
    field, no object made per account (`FactColumns.row` makes one when a list needs it)."""
    wanted = sorted(set(account_ids)) if account_ids is not None else None
    only = wanted if wanted is not None and len(wanted) <= ONLY_LIMIT else None
    keep = set(wanted) if wanted is not None and only is None else None  # many: all read, then filtered
    measures = sorted(set(measures))
    latest: dt.date | None = session.scalar(select(func.max(HealthSnapshot.day)))
    now_values: dict[int, tuple[Any, ...]] = {}
    if latest is not None and measures:
        kept = _kept_measures(session, latest, measures) if only is None else None
        now_values = kept if kept is not None else _health_on(session, latest, measures, only)
    earlier: dict[int, dict[int, tuple[Any, ...]]] = {}
    if latest is not None:
        for days in sorted(set(change_days)):
            earlier[days] = _health_on(session, latest - dt.timedelta(days=days), measures, only)
    alerts: dict[int, list[OpenAlert]] = defaultdict(list)
    for account_id, rule, title, raised_at in _core_rows(session, Alert, _within(
            select(Alert.account_id, Alert.rule, Alert.title, Alert.raised_at).where(Alert.status == "open")
            .order_by(Alert.raised_at, Alert.id), Alert.account_id, only)):
        alerts[account_id].append(OpenAlert(rule, title, raised_at.date() if raised_at else None))
    starts = _subscription_starts(session, only)
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), dt.UTC)
    since7 = dt.datetime.combine(as_of - dt.timedelta(days=6), dt.time(), dt.UTC)
    since28 = dt.datetime.combine(as_of - dt.timedelta(days=27), dt.time(), dt.UTC)
    seen = ProductUser.last_seen
    usage = {r[0]: r[1:] for r in _core_rows(session, ProductUser, _within(
        select(ProductUser.account_id, func.min(ProductUser.first_seen),
               func.max(case((seen < end, seen))),
               func.sum(case((and_(seen >= since7, seen < end), 1), else_=0)),
               func.sum(case((and_(seen >= since28, seen < end), 1), else_=0)))
        .where(ProductUser.account_id.is_not(None)), ProductUser.account_id, only).group_by(ProductUser.account_id))}
    rows = _core_rows(session, Account, _within(select(
        Account.id, Account.name, Account.segment, Account.tier, Account.lifecycle_stage, Account.owner,
        Account.health_band, Account.score_key, Account.trend_key, Account.arr, Account.renewal_key)
        .where(live_accounts()), Account.id, only).order_by(Account.id))
    if keep is not None:
        rows = [r for r in rows if r[0] in keep]
    # Each column in one pass (list comprehensions over the transposed rows, dict lookups by account).
    ids, names, segments, tiers, stages, owners, bands, scores, trends, arrs, renewals = (
        [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(11)])
    none4 = (None, None, None, None)
    used = [usage.get(a, none4) for a in ids]
    begun = [starts.get(a) for a in ids]
    date_of, fromisoformat = dt.datetime.date, dt.date.fromisoformat
    renewals = [fromisoformat(r) if isinstance(r, str) else r for r in renewals]
    return FactColumns(
        account_id=ids, name=names, segment=segments, tier=tiers, lifecycle_stage=stages, owner=owners, band=bands,
        score=[None if x == NO_SCORE else x for x in scores],
        trend_30d=[None if x == NO_TREND else x * 30 for x in trends],
        measure_names=tuple(measures),
        measures=[None if (v := now_values.get(a)) is None else v[1:] for a in ids],
        earlier={days: [by_account.get(a) for a in ids] for days, by_account in earlier.items()},
        open_alerts=[tuple(alerts.get(a, ())) for a in ids],
        arr=arrs, renewal_date=[None if r is None or r == NO_RENEWAL else r for r in renewals], start_date=begun,
        onboarding_start=[start or (date_of(u[0]) if u[0] else None) for start, u in zip(begun, used, strict=True)],
        last_active_date=[date_of(u[1]) if u[1] else None for u in used],
        active_users_7d=[int(u[2]) if u[2] is not None else None for u in used],
        active_users_28d=[int(u[3]) if u[3] is not None else None for u in used])


def _subscription_starts(session: Session, only: Sequence[int] | None = None) -> dict[int, dt.date]:
    """Each account's earliest active subscription start, in its system of record (as ARR is counted)."""
    rank = {system: i for i, system in enumerate(SYSTEM_OF_RECORD)}
    best: dict[int, tuple[int, str, dt.date | None]] = {}
    for account_id, system, start in _core_rows(session, Subscription, _within(
            select(Subscription.account_id, Subscription.system, func.min(Subscription.start_date))
            .where(Subscription.status == "active", Subscription.account_id.is_not(None)),
            Subscription.account_id, only).group_by(Subscription.account_id, Subscription.system)):
        key = (rank.get(system, len(rank)), system)
        if account_id is None:
            continue
        if account_id not in best or key < best[account_id][:2]:
            if isinstance(start, str):
                start = dt.date.fromisoformat(start)
            best[account_id] = (*key, start)
    return {account_id: start for account_id, (_, _, start) in best.items() if start is not None}


# --- evaluation ------------------------------------------------------------------------------------------


def evaluate_lists(store: Store, tenant_id: int, as_of: dt.date, *, list_ids: Iterable[int] | None = None,
                   account_ids: Iterable[int] | None = None) -> ListsSummary:
    """Evaluate the workspace's lists (or only `list_ids`) as of `as_of` and store what changed;
    ``account_ids``: only those accounts' memberships (a real-time change of a few accounts)."""
    with store.session(tenant_id) as session:
        return evaluate_in_session(session, as_of, list_ids=list_ids, account_ids=account_ids)


def evaluate_in_session(session: Session, as_of: dt.date, *, list_ids: Iterable[int] | None = None,
                        account_ids: Iterable[int] | None = None) -> ListsSummary:
    tenant_id = current_tenant(session)
    if tenant_id is None:
        raise ValueError("lists are evaluated in a tenant's session")
    summary = ListsSummary()
    if list_ids is None:
        summary.installed = install_defaults(session)
        session.flush()
    query = select(PortfolioList).order_by(PortfolioList.id)
    if list_ids is not None:
        query = query.where(PortfolioList.id.in_(list(list_ids)))
    lists = list(session.scalars(query))
    definitions: list[tuple[PortfolioList, ListDefinition]] = []
    for row in lists:
        try:
            definition = current_definition(session, row)
        except ListError as exc:
            summary.skipped.append(f"{row.name}: {'; '.join(exc.errors)}")
            log.warning("list %s (%s) not evaluated: %s", row.id, row.name, exc)
            continue
        if definition is not None:
            definitions.append((row, definition))
    summary.lists = len(definitions)
    if not definitions:
        return summary
    some = sorted(set(account_ids)) if account_ids is not None else None
    columns = load_fact_columns(session, as_of, {m for _, d in definitions for m in d.measures},
                                {n for _, d in definitions for n in d.change_days}, account_ids=some)
    made: dict[int, AccountFacts] = {}  # the rows' facts, made once for every list that may hold them
    for row, definition in definitions:
        members = {m.account_id: list(m.reasons) for m in evaluate_columns(definition, columns, as_of, made)}
        entered, left = _store_members(session, tenant_id, row, members, as_of, some)
        if some is None:
            row.evaluated_on = as_of
        summary.members += len(members)
        summary.entered += entered
        summary.left += left
    return summary


def _store_members(session: Session, tenant_id: int, row: PortfolioList, members: dict[int, list[str]],
                   day: dt.date, only: Sequence[int] | None = None) -> tuple[int, int]:
    """Write the list's memberships (``only``: those of these accounts; the others stay as they are)."""
    table: Table = PortfolioListMember.__table__  # type: ignore[assignment]
    events: Table = PortfolioListEvent.__table__  # type: ignore[assignment]
    query = select(table.c.id, table.c.account_id, table.c.reasons).where(table.c.tenant_id == tenant_id,
                                                                          table.c.list_id == row.id)
    if only is not None and len(only) <= ONLY_LIMIT:
        query = query.where(table.c.account_id.in_(only))
    stored = {r.account_id: r for r in session.execute(query)}
    if only is not None:
        keep = set(only)
        stored = {a: r for a, r in stored.items() if a in keep}
    now = dt.datetime.now(dt.UTC)
    entered = [a for a in members if a not in stored]
    left = [a for a in stored if a not in members]
    changed = [{"b_id": stored[a].id, "reasons": members[a], "version": row.version}
               for a in members if a in stored and list(stored[a].reasons or []) != members[a]]
    if entered:
        _insert(session, table, ("tenant_id", "list_id", "account_id", "entered_on", "reasons", "version"),
                [(tenant_id, row.id, a, day, members[a], row.version) for a in entered])
    if left:
        ids = [stored[a].id for a in left]
        conn = session.connection()
        for start in range(0, len(ids), CHUNK):
            conn.execute(delete(table).where(table.c.tenant_id == tenant_id, table.c.id.in_(ids[start:start + CHUNK])))
    if changed:
        # An executemany by primary key (an UPDATE … FROM the JSON rows would be planned by SQLite as a scan of
        # the rows per member: quadratic).
        session.connection().execute(
            update(table).where(table.c.id == bindparam("b_id"), table.c.tenant_id == tenant_id)
            .values(reasons=bindparam("reasons"), version=bindparam("version")), changed)
    history = [(tenant_id, row.id, a, "entered", day, members[a], row.version, now) for a in entered]
    history += [(tenant_id, row.id, a, "left", day, list(stored[a].reasons or []), row.version, now) for a in left]
    if history:
        _insert(session, events, ("tenant_id", "list_id", "account_id", "kind", "day", "reasons", "version",
                                  "created_at"), history)
    return len(entered), len(left)


def _insert(session: Session, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (values in ``columns`` order) with one INSERT … SELECT per `BATCH`, the rows travelling as
    one JSON parameter (`store.bulk.json_rows`): no per-row parameter processing, in the order given."""
    for start in range(0, len(rows), BATCH):
        session.connection().execute(insert_rows(session, table, columns, rows[start:start + BATCH]))


# --- membership events, for whoever reacts to them (plays) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class MembershipEvent:
    id: int
    list_id: int
    list_name: str
    account_id: int
    kind: str
    """entered | left."""
    day: dt.date
    reasons: tuple[str, ...]
    version: int


def membership_events(session: Session, after_id: int = 0, limit: int = 1000) -> list[MembershipEvent]:
    """The workspace's membership history after event `after_id`, oldest first: the stream a play engine
    consumes ("account X entered list Y on day D because ..."), resumable by the last id it handled."""
    rows = session.execute(
        select(PortfolioListEvent, PortfolioList.name)
        .join(PortfolioList, PortfolioList.id == PortfolioListEvent.list_id)
        .where(PortfolioListEvent.id > after_id).order_by(PortfolioListEvent.id).limit(limit))
    return [MembershipEvent(e.id, e.list_id, name, e.account_id, e.kind, e.day, tuple(e.reasons or ()), e.version)
            for e, name in rows]
