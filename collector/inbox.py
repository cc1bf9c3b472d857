"""Accept, then fold: the collector answers once a batch is safely stored, and folds it a moment later.

`accept` (in the request): the batch's messages already parsed and validated (`collector.messages.parse_batch`),
the messages that cannot be tied to an account rejected with the same reason `collector.ingest` gives, the usable
messages' ids claimed in one statement (a resent message is a duplicate now, folded or not), and the fresh
messages appended to ``collector_inbox`` as one row (a msgpack blob) — nothing else per event. The answer's
counts are final.

`fold_pending` (the fold job, `jobs.work.fold_job`; also at the start of every score run): takes a workspace's
inbox rows oldest first by deleting them (``DELETE … RETURNING``, so two racing folds never take the same row)
and folds each, in order, as `collector.ingest` folds a batch — accounts and users on first sight, event types,
surveys, daily and monthly usage — in the same transaction: a fold that fails leaves every row it took for the
next one, and a row is folded once.
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from collector.ingest import (
    _NO_USAGE,
    IngestResult,
    claim_ids,
    claim_message_ids,
    event_kinds,
    fold_messages,
    placeable,
    usable_messages,
)
from collector.messages import Message, Rejection, UsualColumns, event_kind
from store.bulk import among, json_rows
from store.db import Store
from store.models import CollectorInbox, ProductUser
from store.types import sqlite_utc_text

log = logging.getLogger("canary.collector")

ROWS_PER_FOLD = 20
"""Inbox rows (batches) a fold takes per transaction."""
FORMAT = 1
"""Version of the blob's layout (the first item of every blob)."""

_TRAITS = ("name", "email", "domain", "website", "url")
"""The traits a fold reads (`collector.ingest`: a user's e-mail and name, a group's name and domain)."""
_encode = msgspec.msgpack.Encoder().encode
_GROUP_ID = operator.attrgetter("group_id")
_decode = msgspec.msgpack.Decoder().decode


def _text(value: Any) -> bool:
    if type(value) is not str:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate: nothing a fold reads may hold one
        return False
    return True


def _properties(properties: Any) -> dict[str, Any]:
    """The properties a fold reads: ``minutes`` when it counts, an NPS ``score`` and ``comment``."""
    if not properties:
        return {}
    kept: dict[str, Any] = {}
    minutes = properties.get("minutes")
    if (type(minutes) is int or type(minutes) is float) and 0 <= minutes <= 24 * 60:
        kept["minutes"] = minutes
    score = properties.get("score")
    if type(score) is int and 0 <= score <= 10:
        kept["score"] = score
    comment = properties.get("comment")
    if _text(comment):
        kept["comment"] = comment
    return kept


def _traits(traits: Any) -> dict[str, Any]:
    if not traits:
        return {}
    return {key: value for key in _TRAITS if _text(value := traits.get(key))}


_ROW = operator.attrgetter("type", "message_id", "user_key", "timestamp", "index", "event", "group_id", "properties",
                           "traits", "time_zone")
"""A message's fields in `Message`'s order: its blob row when it has no traits."""
_TRAITS_OF = operator.attrgetter("traits")


def encode_messages(messages: Iterable[Message], kinds: dict[str, str]) -> bytes:
    """The inbox blob of ``messages`` (what a fold reads of each) and the kinds of their events.

    The properties go as sent (a fold reads ``minutes``, an NPS ``score`` and ``comment`` of them, each checked
    where it is read: `DailyFold.add`, `usable_messages` and `_fold`); only when they hold what msgpack cannot
    (an unpaired surrogate, an integer past 64 bits) are they cut down to those three, checked (`_properties`)."""
    messages = list(messages)
    if any(map(_TRAITS_OF, messages)):
        rows = [(m.type, m.message_id, m.user_key, m.timestamp, m.index, m.event, m.group_id, m.properties,
                 _traits(m.traits), m.time_zone) for m in messages]
    else:  # no traits: each message's fields as they are (`_traits` of no traits is no traits)
        rows = list(map(_ROW, messages))
    return _encode_rows(rows, kinds)


def _encode_rows(rows: list[tuple[Any, ...]], kinds: dict[str, str]) -> bytes:
    """The blob of rows of `Message`'s fields, their traits already cut down (`_traits`)."""
    try:
        return _encode([FORMAT, kinds, rows])
    except (UnicodeEncodeError, OverflowError, TypeError, ValueError):
        return _encode([FORMAT, kinds, [(*row[:7], _properties(row[7]), *row[8:]) for row in rows]])


def decode_messages(blob: bytes) -> tuple[list[Message], dict[str, str]]:
    version, kinds, rows = _decode(blob)
    if version != FORMAT:
        raise ValueError(f"collector inbox blob of format {version!r}: this version reads format {FORMAT}")
    return [Message(kind, message_id, user_key, when, index, event, group_id, properties, traits, zone)
            for kind, message_id, user_key, when, index, event, group_id, properties, traits, zone in rows], kinds


def _users_with_account(session: Session, tenant_id: int, user_keys: list[str]) -> set[str]:
    if not user_keys:
        return set()
    table = ProductUser.__table__
    wanted = json_rows(session, [table.c.user_key], [(k,) for k in sorted(user_keys)])
    stmt = select(table.c.user_key).where(table.c.tenant_id == tenant_id, table.c.account_id.is_not(None))
    return set(session.scalars(among(session, stmt, table.c.user_key, wanted.c.user_key)))


def _placed(session: Session, tenant_id: int, messages: list[Message]) -> dict[int, int]:
    """`placeable` of ``messages``, reading the stored users only for messages that name no group."""
    grouped = {m.user_key for m in messages if m.group_id}
    asked = sorted({m.user_key for m in messages if not m.group_id and m.user_key not in grouped})
    return placeable(messages, _users_with_account(session, tenant_id, asked))


def _pending(session: Session, tenant_id: int) -> bool:
    table = CollectorInbox.__table__
    return session.scalar(select(table.c.id).where(table.c.tenant_id == tenant_id).limit(1)) is not None


def accept(store: Store, tenant_id: int, messages: list[Message], rejected: list[Rejection],
           *, milestones: frozenset[str] = frozenset(), received_at: dt.datetime | None = None) -> IngestResult:
    """Check, claim and store a parsed batch for the fold; the answer's counts (``usage_accounts`` stays empty:
    the fold finds them)."""
    result = IngestResult(rejected=list(rejected))
    if not messages:
        return result
    kinds = event_kinds(messages, milestones)
    # The usual batch: every message names its group (so each is placed) and none is a survey answer (so none is
    # checked for a score): every message is usable, as `_placed` and `usable_messages` would find one by one.
    all_usable = all(map(_GROUP_ID, messages)) and "survey" not in kinds.values()
    for attempt in (1, 2):
        with store.session(tenant_id) as session:
            account_of = {} if all_usable else _placed(session, tenant_id, messages)
            unplaced = not all_usable and any(
                m.type not in _NO_USAGE and m.index not in account_of for m in messages)
            if unplaced and attempt == 1 and _pending(session, tenant_id):
                # A user this batch names without a group may have been placed by a batch not folded yet:
                # fold first, then tell (as a request after that batch's fold would).
                session.rollback()
                retry = True
            else:
                retry = False
                usable = list(messages) if all_usable else usable_messages(messages, account_of, kinds, result)
                fresh = claim_message_ids(session, tenant_id, usable)
                result.duplicates = len(usable) - len(fresh)
                result.accepted = len(fresh)
                if fresh:
                    _store(session, tenant_id, len(fresh), encode_messages(fresh, kinds), received_at)
        if not retry:
            break
        fold_pending(store, tenant_id)
    result.rejected.sort(key=lambda r: r.index)
    return result


def accept_usual(store: Store, tenant_id: int, columns: UsualColumns, *, milestones: frozenset[str] = frozenset(),
                 received_at: dt.datetime | None = None) -> IngestResult:
    """`accept` of ``columns.messages()`` (a batch of usual messages, `collector.messages.read_body`), read from the
    columns without building a `Message` each when every message names its group and none is a survey answer (then
    every message is usable, as in `accept`); otherwise `accept` itself."""
    kinds = {name: event_kind(name, milestones) for name in set(columns.events) if name}
    if not all(columns.group_ids) or "survey" in kinds.values():
        return accept(store, tenant_id, columns.messages(), [], milestones=milestones, received_at=received_at)
    result = IngestResult()
    ids = list(columns.message_ids)
    distinct = len(set(ids)) == len(ids)
    with store.session(tenant_id) as session:
        claimed = claim_ids(session, tenant_id, ids if distinct else list(dict.fromkeys(ids)))
        rows = columns.rows()
        if claimed is None and distinct:
            fresh = rows
        else:  # the first message of each id, when its id was new
            fresh, seen = [], set()
            for row in rows:
                if row[1] not in seen and (claimed is None or row[1] in claimed):
                    fresh.append(row)
                seen.add(row[1])
        result.duplicates = len(rows) - len(fresh)
        result.accepted = len(fresh)
        if fresh:
            _store(session, tenant_id, len(fresh), _encode_rows(fresh, kinds), received_at)
    return result


_INBOX_ON_SQLITE = (f"INSERT INTO {CollectorInbox.__tablename__} (tenant_id, messages, payload, received_at) "  # noqa: S608
                    "VALUES (?, ?, ?, ?)")
"""The inbox row's insert on SQLite, sent to the driver as it is (the table's name is the model's)."""


def _store(session: Session, tenant_id: int, messages: int, payload: bytes, received_at: dt.datetime | None) -> None:
    """One inbox row: a batch's ``messages`` fresh messages, as the ``payload`` blob."""
    when = received_at or dt.datetime.now(dt.UTC)
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql(_INBOX_ON_SQLITE, (tenant_id, messages, payload, sqlite_utc_text(when)))
    else:
        session.execute(insert(cast(Table, CollectorInbox.__table__)), {
            "tenant_id": tenant_id, "messages": messages, "payload": payload, "received_at": when})


@dataclass
class FoldResult:
    batches: int = 0
    messages: int = 0
    accounts_created: int = 0
    users_created: int = 0
    usage_accounts: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "messages": self.messages, "accounts_created": self.accounts_created,
                "users_created": self.users_created, "usage_accounts": len(self.usage_accounts)}


def pending_batches(store: Store, tenant_id: int) -> int:
    table = CollectorInbox.__table__
    with store.session(tenant_id) as session:
        return len(session.scalars(select(table.c.id).where(table.c.tenant_id == tenant_id)).all())


def fold_pending(store: Store, tenant_id: int, *, rows: int = ROWS_PER_FOLD) -> FoldResult:
    """Fold every batch of the workspace's inbox, ``rows`` batches per transaction, oldest first."""
    total = FoldResult()
    table = cast(Table, CollectorInbox.__table__)
    while True:
        with store.session(tenant_id) as session:
            if not _pending(session, tenant_id):
                break
            oldest = select(table.c.id).where(table.c.tenant_id == tenant_id).order_by(table.c.id).limit(rows)
            taken = session.execute(delete(table).where(table.c.tenant_id == tenant_id, table.c.id.in_(oldest))
                                    .returning(table.c.id, table.c.payload)).all()
            part = FoldResult()
            for _, payload in sorted(taken, key=lambda row: int(row[0])):
                messages, kinds = decode_messages(payload)
                folded = fold_messages(session, tenant_id, messages, kinds)
                if folded.accepted < len(messages):
                    log.warning("collector fold: %d message(s) of workspace %s could no longer be tied to an "
                                "account", len(messages) - folded.accepted, tenant_id)
                part.batches += 1
                part.messages += folded.accepted
                part.accounts_created += folded.accounts_created
                part.users_created += folded.users_created
                part.usage_accounts |= folded.usage_accounts
        total.batches += part.batches
        total.messages += part.messages
        total.accounts_created += part.accounts_created
        total.users_created += part.users_created
        total.usage_accounts |= part.usage_accounts
        if len(taken) < rows:
            break
    return total


def rescore_soon(app: Any, tenant_id: int, account_ids: set[int]) -> None:
    """Hand the folded accounts to the real-time path (`jobs.submit_changes`): their usage changed.
    Not before the workspace's first score (which backfills its history from everything collected)."""
    from extensions import canary_store
    from jobs import submit_changes
    from store.models import HealthSnapshot, SourceLink
    from sync.changes import Change

    with canary_store(app).session(tenant_id) as s:
        if s.scalar(select(HealthSnapshot.id).limit(1)) is None:
            return
        refs = sorted(set(s.scalars(select(SourceLink.external_id).where(
            SourceLink.system == "product", SourceLink.account_id.in_(sorted(account_ids))))))
    submit_changes(app, tenant_id, [Change("product", "usage", ref) for ref in refs])
