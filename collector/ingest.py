"""Store a validated batch: accounts and users on first sight, daily usage, NPS answers.

Runs in one tenant-scoped transaction. Messages whose ``messageId`` was already stored
count once; messages that cannot be tied to an account are rejected with a reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.messages import DailyFold, Message, Rejection, event_kind, group_domain
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
from store.upsert import insert_for
from sync.writer import known_customer


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    accounts_created: int = 0
    users_created: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "success": not self.rejected,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [r.as_dict() for r in self.rejected],
        }


class _AccountResolver:
    """Product group id → canonical account, created or matched on first sight."""

    def __init__(self, session: Session, group_ids: Iterable[str]) -> None:
        self.session = session
        ids = sorted(set(group_ids))
        self.accounts: dict[str, int] = {}
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start : chunk_start + 500]
            rows = session.execute(
                select(SourceLink.external_id, SourceLink.account_id).where(
                    SourceLink.system == "product", SourceLink.external_id.in_(chunk)
                )
            )
            self.accounts.update({ext: acc for ext, acc in rows if acc is not None})
        self.created = 0

    def resolve(self, group_id: str, traits: dict[str, Any]) -> int:
        """The account of a product group; a group seen for the first time gets an account of its own.

        A new group joins an existing customer only by the identity rules every record follows
        (`sync.writer.known_customer`), so a subsidiary that shares its parent's domain is never
        folded into the parent, nor one product account into another; its name and domain stay on
        its link, and every later sync's identity pass links it again with all records in view.
        """
        found = self.accounts.get(group_id)
        if found is not None:
            return found
        raw_name = traits.get("name")
        name = raw_name.strip()[:300] if isinstance(raw_name, str) and raw_name.strip() else None
        domain = group_domain(traits)
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
        self.session.add(SourceLink(account_id=account_id, system="product", external_id=group_id, method=method,
                                    reason=reason, name=name, domain=domain))
        self.accounts[group_id] = account_id
        return account_id


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
    group_traits: dict[str, dict[str, Any]] = {}
    for m in messages:
        if m.group_id:
            traits = group_traits.setdefault(m.group_id, {})
            if m.type == "group":
                traits.update(m.traits)
    accounts = _AccountResolver(session, group_traits)

    user_keys = sorted({m.user_key for m in messages})
    users: dict[str, ProductUser] = {}
    for start in range(0, len(user_keys), 500):
        chunk = user_keys[start : start + 500]
        users.update({u.user_key: u for u in session.scalars(
            select(ProductUser).where(ProductUser.user_key.in_(chunk)))})

    # Which account each message belongs to; group calls first so a later track finds it.
    account_of: dict[int, int] = {}
    ordered = sorted(messages, key=lambda m: (m.type != "group", m.index))
    user_account: dict[str, int] = {k: u.account_id for k, u in users.items() if u.account_id}
    for m in ordered:
        if m.group_id:
            account_id = accounts.resolve(m.group_id, group_traits.get(m.group_id, {}))
            account_of[m.index] = account_id
            if m.type == "group" or m.user_key not in user_account:
                user_account[m.user_key] = account_id
        elif m.user_key in user_account:
            account_of[m.index] = user_account[m.user_key]
    result.accounts_created = accounts.created

    usable: list[Message] = []
    for m in messages:  # rejections name the message's index in the batch as sent
        if m.type in ("track", "page", "screen") and m.index not in account_of:
            result.rejected.append(Rejection(m.index, m.message_id, {"groupId": [
                "cannot tell which account this user belongs to: send context.groupId "
                "or a group call for the user first"]}))
            continue
        if m.event and event_kind(m.event, milestones) == "survey" and not _valid_score(m):
            result.rejected.append(Rejection(m.index, m.message_id, {"properties": {
                "score": ["an NPS answer needs a whole-number score from 0 to 10"]}}))
            continue
        usable.append(m)

    fresh = _claim_message_ids(session, tenant_id, usable)
    result.duplicates = len(usable) - len(fresh)
    result.accepted = len(fresh)

    fold = DailyFold()
    surveys: list[SurveyResponse] = []
    for m in fresh:
        if m.type in ("identify", "group", "alias"):
            continue
        assert m.event is not None
        account_id = account_of[m.index]
        fold.add(account_id, m)
        if event_kind(m.event, milestones) == "survey":
            comment = m.properties.get("comment")
            surveys.append(SurveyResponse(account_id=account_id, kind="nps", score=int(m.properties["score"]),
                                          comment=comment if isinstance(comment, str) else None,
                                          submitted_at=m.timestamp, source="collector",
                                          source_ref=m.message_id))

    for m in fresh:
        _touch_user(session, users, m, user_account.get(m.user_key), result)
    session.add_all(surveys)
    session.flush()
    _store_event_types(session, tenant_id, fold.events, milestones)
    _store_usage(session, tenant_id, fold)


def _valid_score(m: Message) -> bool:
    score = m.properties.get("score")
    return isinstance(score, int) and not isinstance(score, bool) and 0 <= score <= 10


def _claim_message_ids(session: Session, tenant_id: int, messages: list[Message]) -> list[Message]:
    """Record the batch's message ids; only those not stored before (nor earlier in the batch) come back."""
    first: dict[str, Message] = {}
    for m in messages:
        first.setdefault(m.message_id, m)
    if not first:
        return []
    now = dt.datetime.now(dt.UTC)
    table = CollectedMessage.__table__
    # One cached statement run as executemany (SQLAlchemy batches it into multi-row INSERTs).
    stmt = (
        insert_for(session, table)
        .on_conflict_do_nothing(index_elements=["tenant_id", "message_id"])
        .returning(table.c.message_id, sort_by_parameter_order=True)
    )
    rows = [{"tenant_id": tenant_id, "message_id": mid, "received_at": now} for mid in first]
    claimed = set(session.execute(stmt, rows).scalars())
    return [m for mid, m in first.items() if mid in claimed]


def _touch_user(session: Session, users: dict[str, ProductUser], m: Message, account_id: int | None,
                result: IngestResult) -> None:
    user = users.get(m.user_key)
    if user is None:
        user = ProductUser(user_key=m.user_key, first_seen=m.timestamp)
        session.add(user)
        users[m.user_key] = user
        result.users_created += 1
    if account_id is not None and (m.type == "group" or user.account_id is None):
        user.account_id = account_id
    email = m.traits.get("email")
    if isinstance(email, str) and "@" in email:
        user.email = email.strip().lower()
    name = m.traits.get("name")
    if m.type == "identify" and isinstance(name, str):
        user.name = name
    active = m.type not in ("identify", "group", "alias")
    if active and (user.last_seen is None or m.timestamp > user.last_seen):
        user.last_seen = m.timestamp


def _store_event_types(session: Session, tenant_id: int, names: set[str], milestones: frozenset[str]) -> None:
    if not names:
        return
    table = EventType.__table__
    now = dt.datetime.now(dt.UTC)
    stmt = insert_for(session, table).on_conflict_do_nothing(index_elements=["tenant_id", "name"])
    session.execute(stmt, [{"tenant_id": tenant_id, "name": n, "kind": event_kind(n, milestones), "first_seen": now}
                           for n in sorted(names)])


def _store_usage(session: Session, tenant_id: int, fold: DailyFold) -> None:
    if not fold.usage:
        return
    table = UsageDaily.__table__
    rows = []
    for (account_id, user_key, event, day), (count, minutes) in fold.usage.items():
        rows.append({"tenant_id": tenant_id, "account_id": account_id, "user_key": user_key,
                     "event": event, "day": day, "count": int(count), "minutes": minutes})
    stmt = insert_for(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "account_id", "user_key", "event", "day"],
        set_={"count": table.c.count + stmt.excluded.count, "minutes": table.c.minutes + stmt.excluded.minutes},
    )
    session.execute(stmt, rows)
