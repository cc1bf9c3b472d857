"""The in-app message queue: what the campaign engine calls, and what the snippet's API reads and marks.

`queue_message` is idempotent on (workspace, end user, ref): a retried campaign step queues nothing twice.
A CTA click is recorded on the message AND stored as the product event ``In-App CTA Clicked`` through the
collector's own path (`collector.messages.parse_batch` then `collector.ingest.ingest`), so usage, goals and
scoring see it like any event the product sends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from inapp.rules import EVENT_CTA_CLICKED, LIFETIME, InAppError, check_message, is_pending
from store.db import Store
from store.models import Account, InAppMessage, SourceLink
from store.scoping import current_tenant
from store.types import utcnow
from store.upsert import insert_for

MARKS = ("shown", "dismissed", "clicked")
PENDING_LIMIT = 10
"""At most this many pending messages per answer (oldest first)."""


def queue_message(session: Session, *, tenant_id: int, user_key: str, account_id: int | None, title: str, body: str,
                  cta_label: str | None, cta_url: str | None, kind: str, ref: str, push: bool = False) -> int:
    """Queue one message for one end user (Segment ``userId``); returns its id. The same (tenant, user_key, ref)
    again returns the first message's id and changes nothing. It expires `LIFETIME` after it was queued.
    ``push``: also send it as Web Push (at most once, by the send job: `inapp.push.send_due_pushes`).
    Bad fields raise `InAppError` naming the field."""
    scoped = current_tenant(session)
    if scoped is not None and scoped != tenant_id:
        raise InAppError(f"tenant_id {tenant_id} is not the session's workspace ({scoped})")
    if not isinstance(push, bool):
        raise InAppError(f"push must be true or false, not {push!r}")
    fields = check_message(user_key=user_key, kind=kind, title=title, body=body, cta_label=cta_label,
                           cta_url=cta_url, ref=ref)
    if account_id is not None and session.scalar(select(Account.id).where(
            Account.id == account_id, Account.tenant_id == tenant_id)) is None:
        raise InAppError(f"account_id {account_id} is no account of this workspace")
    now = utcnow()
    table = InAppMessage.__table__
    session.execute(insert_for(session, table).values(
        tenant_id=tenant_id, account_id=account_id, user_key=fields.user_key, kind=fields.kind, title=fields.title,
        body=fields.body, cta_label=fields.cta_label, cta_url=fields.cta_url, ref=fields.ref, created_at=now,
        expires_at=now + LIFETIME, push_wanted=push)
        .on_conflict_do_nothing(index_elements=["tenant_id", "user_key", "ref"]))
    found = session.scalar(select(InAppMessage.id).where(
        InAppMessage.tenant_id == tenant_id, InAppMessage.user_key == fields.user_key, InAppMessage.ref == fields.ref))
    assert found is not None
    return int(found)


def pending(session: Session, user_key: str, now: dt.datetime) -> list[dict[str, Any]]:
    """The end user's messages still to show at ``now`` (not dismissed, clicked or expired), oldest first."""
    rows = session.scalars(select(InAppMessage).where(
        InAppMessage.user_key == user_key, InAppMessage.dismissed_at.is_(None), InAppMessage.clicked_at.is_(None),
        or_(InAppMessage.expires_at.is_(None), InAppMessage.expires_at > now))
        .order_by(InAppMessage.created_at, InAppMessage.id).limit(PENDING_LIMIT))
    out = []
    for m in rows:
        if is_pending(now=now, expires_at=m.expires_at, dismissed_at=m.dismissed_at, clicked_at=m.clicked_at):
            out.append({"id": m.id, "kind": m.kind, "title": m.title, "body": m.body, "ctaLabel": m.cta_label,
                        "ctaUrl": m.cta_url, "ref": m.ref})
    return out


@dataclass(frozen=True)
class Marked:
    message_id: int
    account_id: int | None
    ref: str
    first: bool
    """This request set the mark (a repeat changes nothing)."""


def mark(session: Session, user_key: str, message_id: int, what: str, now: dt.datetime) -> Marked | None:
    """Record that the end user saw, dismissed or clicked their message; None if it is not theirs."""
    if what not in MARKS:
        raise InAppError(f"mark must be one of {', '.join(MARKS)}")
    m = session.scalar(select(InAppMessage).where(InAppMessage.id == message_id, InAppMessage.user_key == user_key))
    if m is None:
        return None
    column = f"{what}_at"
    first = getattr(m, column) is None
    if first:
        setattr(m, column, now)
        if what != "shown" and m.shown_at is None:
            m.shown_at = now
    return Marked(m.id, m.account_id, m.ref, first)


def click_event(session: Session, tenant_id: int, user_key: str, marked: Marked, now: dt.datetime) -> dict[str, Any]:
    """The Segment ``track`` message a CTA click becomes (its ``messageId`` fixed per message, so it counts once)."""
    context: dict[str, Any] = {"library": {"name": "canary-inapp", "version": "1"}}
    if marked.account_id is not None:
        group = session.scalar(select(SourceLink.external_id).where(
            SourceLink.account_id == marked.account_id, SourceLink.system == "product").order_by(SourceLink.id))
        if group:
            context["groupId"] = group
    return {"type": "track", "messageId": f"canary-inapp-click-{tenant_id}-{marked.message_id}", "userId": user_key,
            "event": EVENT_CTA_CLICKED, "properties": {"ref": marked.ref, "inAppMessageId": marked.message_id},
            "timestamp": now.isoformat(), "context": context}


def record_click_usage(store: Store, tenant_id: int, event: dict[str, Any], now: dt.datetime,
                       milestones: frozenset[str] = frozenset()) -> int:
    """Store the click event as usage through the collector's path; the number of events accepted (0: a repeat,
    or an end user the collector cannot tie to an account)."""
    from collector.ingest import ingest
    from collector.messages import parse_batch

    good, bad = parse_batch({"batch": [event]}, now)
    result = ingest(store, tenant_id, good, bad, milestones=milestones)
    return result.accepted
