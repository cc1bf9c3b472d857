"""Store a validated batch: accounts and users on first sight, daily usage, NPS answers.

Runs in one tenant-scoped transaction. Messages whose ``messageId`` was already stored
count once; messages that cannot be tied to an account are rejected with a reason and
their batch index. Batches may race: accounts, users and message ids seen for the first
time are inserted with ``ON CONFLICT DO NOTHING`` and read back, so a concurrent batch that
inserted them first is no error; every multi-row write goes in sorted order, so racing
transactions on PostgreSQL lock rows in the same order and cannot deadlock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, cast

import msgspec
from sqlalchemy import Table, and_, bindparam, case, func, literal, or_, select, true, update
from sqlalchemy.orm import Session

from collector.messages import DailyFold, Message, Rejection, event_kind, group_domain
from store.bulk import among, json_rows
from store.db import Store
from store.models import (
    Account,
    CollectedMessage,
    EventType,
    ProductUser,
    SourceLink,
    SurveyResponse,
    UsageDaily,
)
from store.panel_views import touches
from store.types import sqlite_utc_text
from store.upsert import insert_for
from store.usage_fold import add_monthly, folds_itself, trigger_off, trigger_on
from sync.writer import known_customer

_encode_json = msgspec.json.Encoder().encode

REJECTIONS_LISTED = 100
"""Default for ``COLLECTOR_REJECTIONS_LISTED``: rejections named in an answer; ``rejectedCount`` has them all."""


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    accounts_created: int = 0
    users_created: int = 0
    usage_accounts: set[int] = field(default_factory=set)
    """Canary accounts this batch brought new usage or survey answers for (their signals may have moved)."""

    def as_dict(self, listed: int = REJECTIONS_LISTED) -> dict[str, Any]:
        """The answer: counts, and the first ``listed`` rejections by batch index (the answer stays small)."""
        rejected = sorted(self.rejected, key=lambda r: r.index)
        return {
            "success": not rejected,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [r.as_dict() for r in rejected[:listed]],
            "rejectedCount": len(rejected),
        }


class _AccountResolver:
    """Product group id → canonical account, created or matched on first sight.

    A new group id is first claimed by inserting its link with ``ON CONFLICT DO NOTHING`` (in sorted
    order, so racing batches lock in the same order): the batch whose insert lands places the account;
    a batch that loses the race to a concurrent one reads the winner's link instead of failing.
    """

    def __init__(self, session: Session, tenant_id: int, group_traits: Mapping[str, Mapping[str, Any]]) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.created = 0
        ids = sorted(group_traits)
        self.accounts = self._linked(ids)
        missing = [g for g in ids if g not in self.accounts]
        if not missing:
            return
        claimed = self._claim(missing)
        self.accounts.update(self._linked([g for g in missing if g not in claimed]))
        # Groups sent without a name or domain cannot be matched by the identity rules: each gets an
        # account of its own, and a run of them is placed together (one multi-row insert) before the
        # next group that can be matched, so that one still sees every account placed before it.
        unnamed: list[str] = []
        for group_id in missing:
            if group_id in self.accounts:
                continue
            name, domain = _identity(group_traits[group_id])
            if name is None and domain is None:
                unnamed.append(group_id)
                continue
            self._place_unnamed(unnamed)
            unnamed = []
            self.accounts[group_id] = self._place(group_id, name, domain, claimed.get(group_id))
        self._place_unnamed(unnamed)

    def resolve(self, group_id: str) -> int:
        return self.accounts[group_id]

    def _linked(self, ids: list[str]) -> dict[str, int]:
        if not ids:
            return {}
        table = SourceLink.__table__
        wanted = json_rows(self.session, [table.c.external_id], [(i,) for i in ids])
        stmt = select(table.c.external_id, table.c.account_id).where(
            table.c.tenant_id == self.tenant_id, table.c.system == "product")
        rows = self.session.execute(among(self.session, stmt, table.c.external_id, wanted.c.external_id)).all()
        return {ext: acc for ext, acc in rows if acc is not None}

    def _claim(self, ids: list[str]) -> dict[str, int]:
        table = SourceLink.__table__
        stmt = (
            insert_for(self.session, table)
            .on_conflict_do_nothing(index_elements=["tenant_id", "system", "external_id"])
            .returning(table.c.external_id, table.c.id)
        )
        now = dt.datetime.now(dt.UTC)
        rows: list[dict[str, Any]] = [
            {"tenant_id": self.tenant_id, "account_id": None, "system": "product", "external_id": g,
             "method": "pending", "reason": "being placed by the usage collector", "manual": False,
             "created_at": now, "cross_refs": {}}
            for g in ids
        ]
        return {ext: link_id for ext, link_id in self.session.execute(stmt, rows)}

    def _place_unnamed(self, group_ids: list[str]) -> None:
        """An account of its own for each of ``group_ids`` (ours to place, or links left without one)."""
        if not group_ids:
            return
        accounts = [Account(name=g, domain=None, lifecycle_stage="customer") for g in group_ids]
        self.session.add_all(accounts)
        self.session.flush()
        self.created += len(accounts)
        table = cast(Table, SourceLink.__table__)
        self.session.execute(
            update(table).where(table.c.tenant_id == self.tenant_id, table.c.system == "product",
                                table.c.external_id == bindparam("group_id"))
            .values(account_id=bindparam("new_account"), method="new", reason=bindparam("why"), name=None,
                    domain=None),
            [{"group_id": g, "new_account": a.id, "why": f"product account {g!r} first seen by the usage collector"}
             for g, a in zip(group_ids, accounts, strict=True)])
        self.accounts.update({g: a.id for g, a in zip(group_ids, accounts, strict=True)})

    def _place(self, group_id: str, name: str | None, domain: str | None, link_id: int | None) -> int:
        """The account of a product group seen for the first time; it gets an account of its own unless
        the identity rules every record follows (`sync.writer.known_customer`) tell it is a known one, so a
        subsidiary on its parent's domain is never folded into the parent, nor one product account into
        another; its name and domain stay on its link for every later sync's identity pass."""
        known = known_customer(self.session, group_id, name, domain)
        if known is not None:
            account_id, method, reason = known
        else:
            account = Account(name=name or group_id, domain=domain, lifecycle_stage="customer")
            self.session.add(account)
            self.session.flush()
            self.created += 1
            account_id, method = account.id, "new"
            reason = f"product account {group_id!r} first seen by the usage collector"
        where = SourceLink.id == link_id if link_id is not None else and_(
            SourceLink.system == "product", SourceLink.external_id == group_id)
        self.session.execute(update(SourceLink).where(where).values(
            account_id=account_id, method=method, reason=reason, name=name, domain=domain))
        return account_id


def _identity(traits: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The name and domain a product group's traits give it (what the identity rules match on)."""
    raw_name = traits.get("name")
    name = raw_name.strip()[:300] if isinstance(raw_name, str) and raw_name.strip() else None
    return name, group_domain(traits)


def ingest(store: Store, tenant_id: int, messages: list[Message], rejected: list[Rejection],
           *, milestones: frozenset[str] = frozenset()) -> IngestResult:
    result = IngestResult(rejected=list(rejected))
    if not messages:
        return result
    with store.session(tenant_id) as session:
        _ingest(session, tenant_id, messages, result, milestones)
    result.rejected.sort(key=lambda r: r.index)
    return result


def _ingest(session: Session, tenant_id: int, messages: list[Message], result: IngestResult,
            milestones: frozenset[str]) -> None:
    placed = _Placed(session, tenant_id, messages)
    result.accounts_created = placed.accounts_created
    # Each event name's kind, once per batch (a batch repeats a handful of names).
    kinds = event_kinds(messages, milestones)
    usable = usable_messages(messages, placed.account_of, kinds, result)
    fresh = claim_message_ids(session, tenant_id, usable)
    result.duplicates = len(usable) - len(fresh)
    result.accepted = len(fresh)
    _fold(session, tenant_id, fresh, kinds, placed, result)


def event_kinds(messages: list[Message], milestones: frozenset[str]) -> dict[str, str]:
    """Each event name of ``messages`` and its kind (`event_kind`)."""
    return {name: event_kind(name, milestones) for name in {m.event for m in messages if m.event}}


def fold_messages(session: Session, tenant_id: int, messages: list[Message], kinds: Mapping[str, str]
                  ) -> IngestResult:
    """Fold messages accepted earlier (their ids claimed, each checked by `usable_messages`) into accounts, users, event
    types, surveys and usage: what `ingest` does after claiming the ids (`collector.inbox` folds its rows so).
    A message that can no longer be tied to an account (its user's account went in the meantime) is skipped."""
    result = IngestResult()
    placed = _Placed(session, tenant_id, messages)
    result.accounts_created = placed.accounts_created
    account_of = placed.account_of
    usable = [m for m in messages if m.type in _NO_USAGE or m.index in account_of]
    result.accepted = len(usable)
    _fold(session, tenant_id, usable, kinds, placed, result)
    return result


class _Placed:
    """The accounts of a batch's groups (created or matched on first sight), its users as stored, and which account
    each message belongs to."""

    def __init__(self, session: Session, tenant_id: int, messages: list[Message]) -> None:
        group_traits: dict[str, dict[str, Any]] = {}
        for m in messages:
            if m.group_id:
                traits = group_traits.setdefault(m.group_id, {})
                if m.type == "group":
                    traits.update(m.traits)
        accounts = _AccountResolver(session, tenant_id, group_traits)
        self.accounts_created = accounts.created
        self.known = known = _known_users(session, tenant_id, sorted({m.user_key for m in messages}))
        # Which account each message belongs to; group calls first so a later track finds it.
        self.account_of = account_of = {}
        self.user_account = user_account = {k: u[0] for k, u in known.items() if u[0]}
        by_index = sorted(messages, key=_INDEX)  # in batch order already when they come from `parse_batch`
        for m in [m for m in by_index if m.type == "group"] + [m for m in by_index if m.type != "group"]:
            if m.group_id:
                account_id = accounts.resolve(m.group_id)
                account_of[m.index] = account_id
                if m.type == "group" or m.user_key not in user_account:
                    user_account[m.user_key] = account_id
            elif m.user_key in user_account:
                account_of[m.index] = user_account[m.user_key]

    account_of: dict[int, int]
    user_account: dict[str, int]
    known: dict[str, tuple[Any, ...]]


def placeable(messages: list[Message], users_with_account: set[str]) -> dict[int, int]:
    """Which messages `_Placed` would tie to an account (index → 0), without placing anything: those with a group
    id, and those of a user who has an account (``users_with_account``: stored with one) or gets one from the
    batch by then — `_Placed`'s rules, group calls first."""
    account_of: dict[int, int] = {}
    has = set(users_with_account)
    by_index = sorted(messages, key=_INDEX)
    for m in [m for m in by_index if m.type == "group"] + [m for m in by_index if m.type != "group"]:
        if m.group_id:
            account_of[m.index] = 0
            has.add(m.user_key)
        elif m.user_key in has:
            account_of[m.index] = 0
    return account_of


def _fold(session: Session, tenant_id: int, fresh: list[Message], kinds: Mapping[str, str], placed: _Placed,
          result: IngestResult) -> None:
    account_of = placed.account_of
    fold = DailyFold()
    surveys: list[SurveyResponse] = []
    usage_accounts = result.usage_accounts
    for m in fresh:
        if m.type in _NO_USAGE:
            continue
        assert m.event is not None
        account_id = account_of[m.index]
        usage_accounts.add(account_id)
        fold.add(account_id, m)
        if kinds[m.event] == "survey":
            comment = m.properties.get("comment")
            surveys.append(SurveyResponse(account_id=account_id, kind="nps", score=int(m.properties["score"]),
                                          comment=comment if isinstance(comment, str) else None,
                                          submitted_at=m.timestamp, source="collector",
                                          source_ref=m.message_id))

    result.users_created = _store_users(session, tenant_id, fresh, placed.known, placed.user_account)
    session.add_all(surveys)
    session.flush()
    _store_event_types(session, tenant_id, fold.events, kinds)
    _store_usage(session, tenant_id, fold)


_INDEX = attrgetter("index")
_NO_USAGE = frozenset({"identify", "group", "alias"})
"""Message types that bring no usage (they place accounts and users)."""


def usable_messages(messages: list[Message], account_of: Mapping[int, int], kinds: Mapping[str, str],
            result: IngestResult) -> list[Message]:
    """The messages that can be stored; the others are rejected under their batch index."""
    usable: list[Message] = []
    for m in messages:
        if m.type not in _NO_USAGE and m.index not in account_of:
            result.rejected.append(Rejection(m.index, m.message_id, {"groupId": [
                "cannot tell which account this user belongs to: send context.groupId "
                "or a group call for the user first"]}))
            continue
        if m.event and kinds[m.event] == "survey" and not _valid_score(m):
            result.rejected.append(Rejection(m.index, m.message_id, {"properties": {
                "score": ["an NPS answer needs a whole-number score from 0 to 10"]}}))
            continue
        usable.append(m)
    return usable


def _known_users(session: Session, tenant_id: int, user_keys: list[str]) -> dict[str, tuple[Any, ...]]:
    """``(account id, e-mail, name, time zone)`` of each of ``user_keys`` already stored. On PostgreSQL their rows are
    locked in key order, so racing batches that update the same users cannot deadlock."""
    table = ProductUser.__table__
    wanted = json_rows(session, [table.c.user_key], [(k,) for k in user_keys])
    stmt = select(table.c.user_key, table.c.account_id, table.c.email, table.c.name, table.c.time_zone).where(
        table.c.tenant_id == tenant_id)
    rows = session.execute(among(session, stmt, table.c.user_key, wanted.c.user_key).order_by(table.c.user_key)
                           .with_for_update(of=table)).all()
    return {key: (account_id, email, name, time_zone) for key, account_id, email, name, time_zone in rows}


@dataclass
class _UserChanges:
    """What a batch's fresh messages say about one product user."""

    first_seen: dt.datetime
    joined_group: bool = False
    email: str | None = None
    name: str | None = None
    last_seen: dt.datetime | None = None
    time_zone: str | None = None


def _user_changes(messages: list[Message]) -> dict[str, _UserChanges]:
    changes: dict[str, _UserChanges] = {}
    for m in messages:
        when, kind, traits = m.timestamp, m.type, m.traits
        user = changes.get(m.user_key)
        if user is None:
            user = changes[m.user_key] = _UserChanges(first_seen=when)
        elif when < user.first_seen:
            user.first_seen = when
        if traits:
            email = traits.get("email")
            if isinstance(email, str) and "@" in email:
                user.email = email.strip().lower()
            if kind == "identify":
                name = traits.get("name")
                if isinstance(name, str):
                    user.name = name
        if m.time_zone is not None:
            user.time_zone = m.time_zone
        if kind == "group":
            user.joined_group = True
        elif kind != "identify" and kind != "alias" and (user.last_seen is None or when > user.last_seen):
            user.last_seen = when
    return changes


def _store_users(session: Session, tenant_id: int, messages: list[Message],
                 known: Mapping[str, tuple[Any, ...]], user_account: Mapping[str, int]) -> int:
    """Insert the users seen for the first time whole (insert-or-ignore: a concurrent batch may insert them
    first), then bring every other user of the batch up to date with one or two upserts; returns how many it
    created.

    A user takes the account of its group call, or keeps the one it has (the batch's account when
    it has none); the latest e-mail, identify name and ``context.timezone`` (an IANA zone) win; ``last_seen``
    only moves forward.
    """
    changes = _user_changes(messages)
    if not changes:
        return 0
    table = cast(Table, ProductUser.__table__)
    keys = sorted(changes)
    created: set[str] = set()
    new = [k for k in keys if k not in known]
    if new:
        # New users go in whole, in one statement; one a concurrent batch inserted first is left to the
        # upserts below, like a known user.
        rows = [(k, c.first_seen, user_account.get(k), c.email, c.name, c.last_seen, c.time_zone)
                for k in new for c in (changes[k],)]
        claim = _whole_users(session, tenant_id, table, rows).on_conflict_do_nothing(
            index_elements=["tenant_id", "user_key"]).returning(table.c.user_key)
        # A user's name or e-mail is their label in the panels of the accounts they are in.
        created = set(session.execute(claim, execution_options=touches(
            sorted({row[2] for row in rows if row[2] is not None}))).scalars().all())
    # Then upserts (every row exists by now, so they update), each in key order: users whose group call is
    # in the batch take its account, other users keep theirs; users whose account, e-mail and name stay as
    # they are only get their last_seen moved (the statement that touches no indexed column).
    detailed: dict[bool, list[tuple[Any, ...]]] = {True: [], False: []}
    seen: list[tuple[Any, ...]] = []
    for k in keys:
        if k in created:
            continue
        c = changes[k]
        stored_account, stored_email, stored_name, stored_zone = known.get(k, (None, None, None, None))
        account = user_account.get(k)
        moves = account is not None and (c.joined_group or stored_account is None) and account != stored_account
        if moves or (c.email is not None and c.email != stored_email) or (
                c.name is not None and c.name != stored_name) or (
                c.time_zone is not None and c.time_zone != stored_zone):
            detailed[c.joined_group].append((k, c.first_seen, account, c.email, c.name, c.last_seen, c.time_zone))
        elif c.last_seen is not None:
            seen.append((k, c.first_seen, c.last_seen))
    if seen:
        source = json_rows(session, [table.c.user_key, table.c.first_seen, table.c.last_seen], seen)
        stmt = insert_for(session, table).from_select(
            ["tenant_id", "user_key", "first_seen", "last_seen"],
            select(literal(tenant_id), source.c.user_key, source.c.first_seen, source.c.last_seen).where(true()),
            include_defaults=False,
        )
        session.execute(stmt.on_conflict_do_update(index_elements=["tenant_id", "user_key"], set_={
            "last_seen": _later(table.c.last_seen, stmt.excluded.last_seen)}), execution_options=touches(()))
    for joined, rows in detailed.items():
        if not rows:
            continue
        stmt = _whole_users(session, tenant_id, table, rows)
        new_account, old_account = stmt.excluded.account_id, table.c.account_id
        stmt = stmt.on_conflict_do_update(index_elements=["tenant_id", "user_key"], set_={
            "account_id": func.coalesce(new_account, old_account) if joined else func.coalesce(old_account,
                                                                                                new_account),
            "email": func.coalesce(stmt.excluded.email, table.c.email),
            "name": func.coalesce(stmt.excluded.name, table.c.name),
            "time_zone": func.coalesce(stmt.excluded.time_zone, table.c.time_zone),
            "last_seen": _later(table.c.last_seen, stmt.excluded.last_seen),
        })
        # A user's name or e-mail is their label in the panels of the accounts they are (or were) in.
        session.execute(stmt, execution_options=touches(
            [row[2] for row in rows] + [known.get(row[0], (None,))[0] for row in rows]))
    return len(created)


_WHOLE = ("user_key", "first_seen", "account_id", "email", "name", "last_seen", "time_zone")


def _whole_users(session: Session, tenant_id: int, table: Table, rows: list[tuple[Any, ...]]) -> Any:
    """``INSERT INTO product_users … SELECT`` of ``rows``, each a tuple of `_WHOLE`'s columns (no conflict rule)."""
    source = json_rows(session, [table.c[name] for name in _WHOLE], rows)
    return insert_for(session, table).from_select(
        ["tenant_id", *_WHOLE], select(literal(tenant_id), *[source.c[name] for name in _WHOLE]).where(true()),
        include_defaults=False)


def _later(stored: Any, new: Any) -> Any:
    """``new`` when it is later than ``stored`` (or ``stored`` is NULL), else ``stored``."""
    return case((or_(stored.is_(None), new > stored), new), else_=stored)


def _valid_score(m: Message) -> bool:
    score = m.properties.get("score")
    return isinstance(score, int) and not isinstance(score, bool) and 0 <= score <= 10


_MESSAGE_ID = attrgetter("message_id")
_CLAIM_ON_SQLITE = (
    f"INSERT INTO {CollectedMessage.__tablename__} (tenant_id, message_id, received_at) "  # noqa: S608 - the model's
    "SELECT ?, value, ? FROM json_each(?) WHERE 1 "
    "ON CONFLICT (tenant_id, message_id) DO NOTHING")
"""`claim_message_ids`'s statement on SQLite, sent to the driver as it is: the ids as one JSON array of strings
(``WHERE 1``: an ON CONFLICT after a SELECT's FROM needs a WHERE, as in `store.bulk.insert_rows`). No RETURNING
(SQLite builds and hands back a row per id for it: a third of the statement's time): the driver's row count says how
many ids were new, and when some were not, `_CLAIMED_ON_SQLITE` reads which ones by the rows' ids."""
_CLAIMED_ON_SQLITE = (
    f"SELECT message_id FROM {CollectedMessage.__tablename__} "  # noqa: S608 - the model's table
    "WHERE id BETWEEN ? AND ? AND tenant_id = ?")
"""The message ids the claim's statement inserted: the ``count`` rows up to the driver's last inserted row id, ids in
a row. SQLite gives a new row the largest id in the table plus one (the table has no AUTOINCREMENT; only past the
largest 64-bit id would it pick another), and the statement holds the database's write lock from its start to the
transaction's end, so no other connection inserts in between."""


def claim_message_ids(session: Session, tenant_id: int, messages: list[Message]) -> list[Message]:
    """Record the batch's message ids in one statement; only those not stored before (nor earlier in
    the batch) come back, in batch order."""
    ids = list(map(_MESSAGE_ID, messages))
    if len(set(ids)) == len(ids):
        first = messages
    else:
        first_of: dict[str, Message] = {}
        for m in messages:
            first_of.setdefault(m.message_id, m)
        first, ids = list(first_of.values()), list(first_of)
    if not first:
        return []
    claimed = claim_ids(session, tenant_id, ids)
    if claimed is None:
        return list(first)
    return [m for m in first if m.message_id in claimed]


def claim_ids(session: Session, tenant_id: int, ids: list[str]) -> set[str] | None:
    """Record ``ids`` (distinct, at least one; sorted here in place) in one statement: None when every one of them
    was new, else the set of those that were."""
    # Sorted, so that batches racing over the same ids lock them in the same order.
    ids.sort()
    now = dt.datetime.now(dt.UTC)
    if session.get_bind().dialect.name == "sqlite":
        connection = session.connection()
        inserted = connection.exec_driver_sql(
            _CLAIM_ON_SQLITE, (tenant_id, sqlite_utc_text(now), _encode_json(ids).decode()))
        count, last = inserted.rowcount, inserted.lastrowid
        if count == len(ids):
            return None
        if count <= 0:
            return set()
        claimed = [row[0] for row in connection.exec_driver_sql(
            _CLAIMED_ON_SQLITE, (last - count + 1, last, tenant_id)).cursor.fetchall()]
        if len(claimed) != count:  # cannot be (see `_CLAIMED_ON_SQLITE`): the transaction is rolled back
            raise RuntimeError(f"collector claim: {count} message id(s) inserted, {len(claimed)} read back")
    else:
        table = CollectedMessage.__table__
        source = json_rows(session, [table.c.message_id], list(zip(ids)))
        received = literal(now, table.c.received_at.type)
        stmt = insert_for(session, table).from_select(
            ["tenant_id", "message_id", "received_at"],
            select(literal(tenant_id), source.c.message_id, received).where(true()),
            include_defaults=False,
        ).on_conflict_do_nothing(index_elements=["tenant_id", "message_id"]).returning(table.c.message_id)
        claimed = list(session.execute(stmt).scalars().all())
        if len(claimed) == len(ids):  # every id new (each comes back once)
            return None
    return set(claimed)


def _store_event_types(session: Session, tenant_id: int, names: set[str], kinds: Mapping[str, str]) -> None:
    if not names:
        return
    table = EventType.__table__
    now = dt.datetime.now(dt.UTC)
    stmt = insert_for(session, table).on_conflict_do_nothing(index_elements=["tenant_id", "name"])
    session.execute(stmt, [{"tenant_id": tenant_id, "name": n, "kind": kinds[n], "first_seen": now}
                           for n in sorted(names)])


def _store_usage(session: Session, tenant_id: int, fold: DailyFold) -> None:
    """Add the batch's daily aggregates in one upsert (sorted: racing batches lock rows in the same order).

    On PostgreSQL the batch's monthly roll-up follows in one more upsert, with 0019's per-row trigger stepped
    aside for the daily one (migration 0032); on SQLite the triggers keep it, for no more than that would cost.
    """
    if not fold.usage:
        return
    folds = folds_itself(session)
    if folds:
        trigger_off(session)
    table = UsageDaily.__table__
    rows = [(account_id, user_key, event, day, int(count), minutes)
            for (account_id, user_key, event, day), (count, minutes) in sorted(fold.usage.items())]
    source = json_rows(session, [table.c.account_id, table.c.user_key, table.c.event, table.c.day, table.c.count,
                                 table.c.minutes], rows)
    stmt = insert_for(session, table).from_select(
        ["tenant_id", "account_id", "user_key", "event", "day", "count", "minutes"],
        select(literal(tenant_id), source.c.account_id, source.c.user_key, source.c.event, source.c.day,
               source.c.count, source.c.minutes).where(true()),
        include_defaults=False,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "account_id", "user_key", "event", "day"],
        set_={"count": table.c.count + stmt.excluded.count, "minutes": table.c.minutes + stmt.excluded.minutes},
    )
    session.execute(stmt, execution_options=touches({row[0] for row in rows}))
    if folds:
        trigger_on(session)
        add_monthly(session, tenant_id, [(account_id, user_key, event, day, int(count))
                                         for (account_id, user_key, event, day), (count, _) in fold.usage.items()])
