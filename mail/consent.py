"""Consent: suppressions per workspace, address and category, and the unsubscribe token of each e-mail.

A token is 32 random bytes (URL-safe base64, 43 characters) stored on the outbox row it was made for:
unguessable, and it names the workspace, address and category without anything in the URL to decode.
The RFC 8058 one-click POST (`mail.web`) suppresses at once; nothing suppresses on a GET.

Write-back: where the workspace enables it (``Tenant.consent_writeback``), a new suppression queues one
`ConsentWrite` per active connection in the same transaction, so it cannot be lost; the consent job
(`sync.consent`, submitted after the commit by whoever suppressed) writes them to the CRMs and retries.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.db import Store
from store.models import (
    SUPPRESSION_CATEGORIES,
    Connection,
    ConsentWrite,
    MailEvent,
    OutboxMessage,
    Suppression,
    Tenant,
)
from store.scoping import current_tenant

AFTER_SUPPRESS_KEY = "canary.after_suppress"
"""``app.extensions`` key of the callable ``(tenant_id) -> None`` run after a suppression is committed: the app
sets it to submit the consent job (`mail` imports no jobs)."""
TOKEN_BYTES = 32
TOKEN_SHAPE_MAX = 64


class ConsentError(ValueError):
    """A suppression that cannot be recorded (unknown category, empty address)."""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def check_category(category: str) -> str:
    if category not in SUPPRESSION_CATEGORIES:
        raise ConsentError(f"category must be one of {', '.join(SUPPRESSION_CATEGORIES)}, not {category!r}")
    return category


def suppressed(session: Session, addresses: list[str], category: str) -> set[str]:
    """Which of these (lower-case) addresses may get no mail of this category in the session's workspace."""
    if category not in SUPPRESSION_CATEGORIES or not addresses:
        return set()
    return set(session.scalars(select(Suppression.address).where(
        Suppression.category == category, Suppression.address.in_(sorted(set(addresses))))))


def suppress(session: Session, address: str, category: str, source: str, outbox_id: int | None = None) -> bool:
    """Record the suppression (once); True when it is new."""
    check_category(category)
    address = address.strip().lower()
    if not address:
        raise ConsentError("the address to suppress is empty")
    if suppressed(session, [address], category):
        return False
    row = Suppression(address=address, category=category, source=source[:40], outbox_id=outbox_id)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same unsubscribe, posted twice at once
        return False
    queue_writebacks(session, row)
    return True


def queue_writebacks(session: Session, suppression: Suppression) -> list[ConsentWrite]:
    """One queued `ConsentWrite` per active connection when the workspace writes consent back (else none)."""
    tenant_id = current_tenant(session)
    tenant = session.get(Tenant, tenant_id) if tenant_id is not None else None
    if tenant is None or not tenant.consent_writeback:
        return []
    systems = sorted(set(session.scalars(select(Connection.system).where(Connection.status == "active"))))
    rows = [ConsentWrite(suppression_id=suppression.id, system=system, address=suppression.address,
                         category=suppression.category, state="queued", attempts=0,
                         next_attempt_at=suppression.created_at) for system in systems]
    session.add_all(rows)
    session.flush()
    return rows


@dataclass(frozen=True)
class TokenTarget:
    tenant_id: int
    outbox_id: int
    address: str
    category: str


def token_target(store: Store, token: str) -> TokenTarget | None:
    """What an unsubscribe token is for, or None (unknown, malformed)."""
    if not token or len(token) > TOKEN_SHAPE_MAX or not all(c.isalnum() or c in "-_" for c in token):
        return None
    with store.session() as s:  # the token names the workspace: looked up across workspaces, by its unique key
        row = s.execute(select(OutboxMessage.tenant_id, OutboxMessage.id, OutboxMessage.to_address,
                               OutboxMessage.category).where(OutboxMessage.unsubscribe_token == token)).first()
    if row is None or row.category not in SUPPRESSION_CATEGORIES:
        return None
    return TokenTarget(row.tenant_id, row.id, row.to_address, row.category)


def writeback_due(session: Session) -> bool:
    """Whether the session's workspace has consent write-backs queued (the consent job has work)."""
    return session.scalar(select(ConsentWrite.id).where(ConsentWrite.state == "queued").limit(1)) is not None


def preferences(store: Store, target: TokenTarget) -> dict[str, bool]:
    """Per category, whether the token's address still gets that kind of mail in its workspace."""
    with store.session(target.tenant_id) as s:
        stopped = set(s.scalars(select(Suppression.category).where(Suppression.address == target.address.lower())))
    return {category: category not in stopped for category in SUPPRESSION_CATEGORIES}


def set_preferences(store: Store, token: str, receiving: set[str]) -> TokenTarget | None:
    """The preference form: suppress every category not in ``receiving`` and lift the suppressions of those in
    it (a person may take back their own unsubscribe); None for an unknown token. Lifting one drops the CRM
    write-back still queued for it (cascade); one already written stays opted out in the CRM."""
    for category in receiving:
        check_category(category)
    target = token_target(store, token)
    if target is None:
        return None
    address = target.address.strip().lower()
    with store.session(target.tenant_id) as s:
        for category in SUPPRESSION_CATEGORIES:
            if category in receiving:
                for row in s.scalars(select(Suppression).where(Suppression.address == address,
                                                               Suppression.category == category)):
                    s.delete(row)
            elif suppress(s, address, category, "preferences", target.outbox_id) and category == target.category:
                s.add(MailEvent(outbox_id=target.outbox_id, kind="unsubscribed"))
    return target


def unsubscribe(store: Store, token: str, source: str) -> TokenTarget | None:
    """Suppress the address and category a token names, at once; None for an unknown token."""
    target = token_target(store, token)
    if target is None:
        return None
    with store.session(target.tenant_id) as s:
        if suppress(s, target.address, target.category, source, target.outbox_id):
            s.add(MailEvent(outbox_id=target.outbox_id, kind="unsubscribed"))
    return target
