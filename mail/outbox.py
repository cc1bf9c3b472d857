"""The outbox: every e-mail is rendered and stored first (`enqueue`), then sent (`deliver`).

**Rows.** One per idempotency key and workspace (``campaign:3:step:2:person:41``): asking again for the
same key returns the stored row and renders nothing. The row keeps the MIME bytes with a Message-ID made
once, so a retry hands the server the very same message.

**States.** queued → sending → sent; a 4xx reply or a dropped connection puts the row back to queued with
``next_attempt_at`` = now + ``backoff × 2^(attempts-1)`` (capped), and after ``max_attempts`` it is dead;
a 5xx refusing the recipient fails it at once; a 5xx to the transaction counts towards
``permanent_attempts`` (the server's configuration may be fixed meanwhile), then it fails. A campaign row
whose address is suppressed for its category is marked suppressed instead of sent (checked at enqueue and
again just before sending).

**The guarantee: at most once, with a reconciliation rule.** A sender works in separate commits:

1. *claim*: ``UPDATE … SET state='sending', claim=<random token> WHERE id IN (…) AND state='queued'`` —
   a row is claimed by one sender only, on SQLite and PostgreSQL alike (the conditional update is the lock);
2. *hand*: ``UPDATE … SET handed_at=now WHERE id=… AND claim=<token> AND state='sending'`` — committed
   before the message goes to SMTP; a sender whose claim was taken from it stops there;
3. *send* over SMTP, then *mark*: sent, or the failure's state — committed with the next message's hand
   mark (or at the end of the batch), one commit per message.

A sender killed between 1 and 2 leaves a row ``sending`` without ``handed_at``: it never reached SMTP,
so once the claim is older than ``lease_seconds`` the next `deliver` queues it again. A sender killed
between 2 and 3 leaves ``handed_at`` set: the server may have the message, so it is never sent again —
the row becomes ``unknown`` with the Message-ID in its error, for an admin to check in the server's log.
No message is ever handed to SMTP twice by Canary; one killed mid-hand may be lost, never doubled.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mail.consent import new_token, suppressed
from mail.message import Unsubscribe, build_message, check_address, domain_of
from mail.smtp import SendFailure, SmtpSender, SmtpSettings
from mail.templates import MailTemplate, render
from store.db import Store
from store.models import MAIL_CATEGORIES, SUPPRESSION_CATEGORIES, MailEvent, OutboxMessage

log = logging.getLogger("canary.mail")

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class OutboxPolicy:
    max_attempts: int = 8
    """Temporary failures (4xx, no connection) before a message is dead."""
    permanent_attempts: int = 3
    """5xx replies to the transaction (not to the recipient) before a message fails."""
    backoff_seconds: float = 60.0
    max_backoff_seconds: float = 6 * 3600.0
    lease_seconds: float = 600.0
    """How long a claim holds before `reconcile` looks at the row (longer than any one send can take)."""
    batch: int = 100

    def delay(self, attempts: int) -> dt.timedelta:
        """The wait after the ``attempts``-th failed try: backoff, doubling, capped."""
        return dt.timedelta(seconds=min(self.max_backoff_seconds, self.backoff_seconds * 2 ** max(0, attempts - 1)))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OutboxPolicy:
        return cls(max_attempts=int(config.get("MAIL_MAX_ATTEMPTS") or cls.max_attempts),
                   permanent_attempts=int(config.get("MAIL_PERMANENT_ATTEMPTS") or cls.permanent_attempts),
                   backoff_seconds=float(config.get("MAIL_BACKOFF_SECONDS") or cls.backoff_seconds),
                   lease_seconds=float(config.get("MAIL_LEASE_SECONDS") or cls.lease_seconds))


class OutboxError(ValueError):
    """A message that cannot be queued (bad address, category or key); templates raise `TemplateError`."""


def new_message_id(sender: str) -> str:
    return f"<{secrets.token_hex(16)}@{domain_of(sender)}>"


@dataclass(frozen=True)
class MailRequest:
    """One e-mail to queue: who asked (the idempotency key), to whom, what, and its consent category."""

    key: str
    to: str
    template: MailTemplate
    variables: Mapping[str, Any]
    category: str = "customer_success"


def enqueue(session: Session, *, key: str, category: str, to: str, sender: str, template: MailTemplate,
            variables: Mapping[str, Any], public_url: str, now: dt.datetime) -> OutboxMessage:
    """Render and store one e-mail (in the session's workspace and transaction), or return the row already
    stored under ``key``. Campaign categories get an unsubscribe token and the RFC 8058 headers."""
    return enqueue_many(session, [MailRequest(key, to, template, variables, category)], sender=sender,
                        public_url=public_url, now=now)[0]


def _checked(request: MailRequest) -> MailRequest:
    key = (request.key or "").strip()
    if not key or len(key) > 200:
        raise OutboxError("an e-mail needs an idempotency key of 1 to 200 characters")
    if request.category not in MAIL_CATEGORIES:
        raise OutboxError(f"category must be one of {', '.join(MAIL_CATEGORIES)}, not {request.category!r}")
    try:
        to = check_address(request.to, "recipient").lower()
    except ValueError as exc:
        raise OutboxError(f"{exc} (e-mail {key!r})") from None
    return MailRequest(key, to, request.template, request.variables, request.category)


def _new_row(request: MailRequest, sender: str, public_url: str, now: dt.datetime, blocked: bool,
             rewrite_html: Callable[[str, str], str] | None = None) -> OutboxMessage:
    token = unsubscribe = None
    values = dict(request.variables)
    if request.category in SUPPRESSION_CATEGORIES:
        token = new_token()
        url = f"{public_url.rstrip('/')}/u/{token}"
        unsubscribe = Unsubscribe(url, f"{sender}?subject=unsubscribe%20{token}")
        values["unsubscribe_url"] = url
    rendered = render(request.template, values)
    if rewrite_html is not None:
        rendered = replace(rendered, html=rewrite_html(rendered.html, request.key))
    message_id = new_message_id(sender)
    raw = build_message(rendered, to=request.to, sender=sender, message_id=message_id, date=now,
                        unsubscribe=unsubscribe)
    row = OutboxMessage(idempotency_key=request.key, category=request.category, to_address=request.to,
                        from_address=sender, subject=rendered.subject[:998], message_id=message_id, raw=raw,
                        unsubscribe_token=token, state="queued", attempts=0, permanent_failures=0,
                        next_attempt_at=now, created_at=now)
    if blocked:
        row.state = "suppressed"
        row.last_error = f"{request.to} unsubscribed from {request.category.replace('_', '-')} e-mail"
    return row


def enqueue_many(session: Session, requests: Sequence[MailRequest], *, sender: str, public_url: str,
                 now: dt.datetime, rewrite_html: Callable[[str, str], str] | None = None) -> list[OutboxMessage]:
    """`enqueue` for many people at once (a campaign step): one query for keys already stored, one per
    category for suppressions, one flush. Returns the rows in the order asked; every request is checked
    before anything is stored, so a bad address stores nothing and names the e-mail. ``rewrite_html(html,
    key)`` changes the rendered HTML before the message is built (campaigns' tracked links)."""
    try:
        sender = check_address(sender, "from address")
    except ValueError as exc:
        raise OutboxError(str(exc)) from None
    wanted = [_checked(r) for r in requests]
    keys = sorted({r.key for r in wanted})
    stored: dict[str, OutboxMessage] = {}
    for first in range(0, len(keys), 500):
        stored.update((row.idempotency_key, row) for row in session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key.in_(keys[first:first + 500]))))
    fresh = [r for r in {r.key: r for r in wanted if r.key not in stored}.values()]
    blocked: dict[str, set[str]] = {}
    for category in {r.category for r in fresh}:
        addresses = sorted({r.to for r in fresh if r.category == category})
        blocked[category] = set()
        for first in range(0, len(addresses), 500):
            blocked[category] |= suppressed(session, addresses[first:first + 500], category)
    rows = [_new_row(r, sender, public_url, now, r.to in blocked[r.category], rewrite_html) for r in fresh]
    try:
        with session.begin_nested():
            session.add_all(rows)
    except IntegrityError:  # some key queued at the same moment by another process: row by row, theirs stand
        for row in rows:
            try:
                with session.begin_nested():
                    session.add(row)
            except IntegrityError:
                pass
        stored.update((row.idempotency_key, row) for row in session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key.in_([r.key for r in fresh]))))
    else:
        stored.update((row.idempotency_key, row) for row in rows)
    return [stored[r.key] for r in wanted]


@dataclass
class DeliverySummary:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dead: int = 0
    suppressed: int = 0
    requeued: int = 0
    """Rows a killed sender had claimed but not handed to SMTP, queued again."""
    unknown: int = 0
    """Rows a killed sender was handing to SMTP: maybe delivered, not sent again."""
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "retried": self.retried, "failed": self.failed, "dead": self.dead,
                "suppressed": self.suppressed, "requeued": self.requeued, "unknown": self.unknown}


def reconcile(store: Store, tenant_id: int, now: dt.datetime, policy: OutboxPolicy) -> tuple[int, int]:
    """Rows left ``sending`` longer than the lease: not handed → queued again; handed → unknown (never resent)."""
    stale = now - dt.timedelta(seconds=policy.lease_seconds)
    with store.session(tenant_id) as s:
        requeued = _rowcount(s.execute(update(OutboxMessage).where(
            OutboxMessage.state == "sending", OutboxMessage.claimed_at < stale, OutboxMessage.handed_at.is_(None),
        ).values(state="queued", claim=None, claimed_at=None).execution_options(synchronize_session=False)))
        rows = s.scalars(select(OutboxMessage).where(
            OutboxMessage.state == "sending", OutboxMessage.claimed_at < stale,
            OutboxMessage.handed_at.is_not(None))).all()
        for row in rows:
            row.state, row.claim = "unknown", None
            row.last_error = (f"the sender stopped while handing {row.message_id} to the SMTP server at "
                              f"{row.handed_at:%Y-%m-%d %H:%M:%S} UTC; it may have been delivered and is not sent "
                              "again (check the server's log for this Message-ID)")
    if requeued or rows:
        log.warning("outbox of workspace %s: %s message(s) queued again, %s of unknown delivery",
                    tenant_id, requeued, len(rows))
    return requeued, len(rows)


def _rowcount(result: Any) -> int:
    return int(result.rowcount or 0)


def _claim(store: Store, tenant_id: int, now: dt.datetime, policy: OutboxPolicy) -> tuple[str, list[OutboxMessage]]:
    claim = secrets.token_hex(16)
    with store.session(tenant_id) as s:
        due = list(s.scalars(select(OutboxMessage.id).where(
            OutboxMessage.state == "queued", OutboxMessage.next_attempt_at <= now,
        ).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(policy.batch)))
        if not due:
            return claim, []
        s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(due), OutboxMessage.state == "queued")
                  .values(state="sending", claim=claim, claimed_at=now, handed_at=None)
                  .execution_options(synchronize_session=False))
    with store.session(tenant_id) as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.claim == claim,
                                                          OutboxMessage.state == "sending").order_by(OutboxMessage.id)))
        s.expunge_all()
    return claim, rows


def _outcome(row: OutboxMessage, now: dt.datetime, policy: OutboxPolicy, failure: SendFailure | None,
             summary: DeliverySummary) -> dict[str, Any]:
    """The row's new values after one try (every column `_OUTCOME` writes), and the summary counted."""
    values: dict[str, Any] = {"w_id": row.id, "state": "sent", "attempts": row.attempts + 1,
                              "permanent_failures": row.permanent_failures, "next_attempt_at": row.next_attempt_at,
                              "sent_at": None, "last_error": None}
    if failure is None:
        values["sent_at"] = now
        summary.sent += 1
        return values
    values["last_error"] = failure.reason
    permanent = row.permanent_failures + (1 if failure.permanent else 0)
    values["permanent_failures"] = permanent
    if failure.recipient or (failure.permanent and permanent >= policy.permanent_attempts):
        values["state"] = "failed"
        summary.failed += 1
    elif not failure.permanent and row.attempts + 1 >= policy.max_attempts:
        values["state"] = "dead"
        summary.dead += 1
    else:
        values.update(state="queued", next_attempt_at=now + policy.delay(row.attempts + 1))
        summary.retried += 1
    summary.errors.append(failure.reason)
    return values


def _suppressed_outcome(row: OutboxMessage) -> dict[str, Any]:
    return {"w_id": row.id, "state": "suppressed", "attempts": row.attempts,
            "permanent_failures": row.permanent_failures, "next_attempt_at": row.next_attempt_at, "sent_at": None,
            "last_error": f"{row.to_address} unsubscribed"}


_TABLE = cast(Table, OutboxMessage.__table__)
_MINE = (_TABLE.c.tenant_id == bindparam("w_tenant"), _TABLE.c.id == bindparam("w_id"),
         _TABLE.c.claim == bindparam("w_claim"), _TABLE.c.state == "sending")
_OUTCOME = update(_TABLE).where(*_MINE).values(
    state=bindparam("state"), claim=None, handed_at=None, attempts=bindparam("attempts"),
    permanent_failures=bindparam("permanent_failures"), next_attempt_at=bindparam("next_attempt_at"),
    sent_at=bindparam("sent_at"), last_error=bindparam("last_error"))
_HAND = update(_TABLE).where(*_MINE).values(handed_at=bindparam("handed_at"))
"""The sender's per-message statements, built once (compiled once): on the table, with the workspace in the
WHERE clause itself (the session's tenant scoping covers ORM entities; these name it explicitly)."""

Marks = list[dict[str, Any]]
_EVENT_OF = {"sent": "delivered", "failed": "bounced", "dead": "bounced"}
"""The `MailEvent` a campaign e-mail's outcome records: delivered (the server accepted it), bounced (refused
for good, or out of retries)."""


def _commit(store: Store, tenant_id: int, claim: str, marks: Marks, hand: OutboxMessage | None,
            now: dt.datetime, campaign_ids: frozenset[int] = frozenset()) -> bool:
    """One transaction: the outcomes of messages already tried (and the mail events of campaign e-mail among
    them, ``campaign_ids``), then (optionally) the hand mark of the next message — True when that row is still
    this sender's. Grouping them changes no state a crash can leave."""
    mine = {"w_tenant": tenant_id, "w_claim": claim}
    with store.session(tenant_id) as s:
        if marks:
            s.execute(_OUTCOME, [{**mine, **m} for m in marks])
            events = [{"tenant_id": tenant_id, "outbox_id": m["w_id"], "kind": _EVENT_OF[m["state"]], "url": None,
                       "at": now} for m in marks if m["w_id"] in campaign_ids and m["state"] in _EVENT_OF]
            if events:
                s.execute(insert(MailEvent), events)
        if hand is None:
            return False
        return _rowcount(s.execute(_HAND, {**mine, "w_id": hand.id, "handed_at": now})) == 1


def deliver(store: Store, tenant_id: int, settings: SmtpSettings, *, policy: OutboxPolicy | None = None,
            clock: Clock = utc_now, limit: int | None = None,
            on_handed: Callable[[OutboxMessage], None] | None = None) -> DeliverySummary:
    """Send the workspace's due messages through one SMTP connection, batch by batch, until none is due
    (or ``limit`` were tried). Reconciles stale claims first. ``on_handed`` is called after the hand commit
    (tests stop a sender there).

    Commits per message: the previous message's outcome and this message's hand mark go in one transaction
    (then SMTP), so a message costs one commit, and every state a crash can leave is as described above."""
    policy = policy or OutboxPolicy()
    summary = DeliverySummary()
    summary.requeued, summary.unknown = reconcile(store, tenant_id, clock(), policy)
    tried = 0
    with SmtpSender(settings) as smtp:
        while limit is None or tried < limit:
            claim, rows = _claim(store, tenant_id, clock(), policy)
            if not rows:
                break
            blocked: dict[str, set[str]] = {}
            with store.session(tenant_id) as s:
                for category in {r.category for r in rows}:
                    blocked[category] = suppressed(s, [r.to_address for r in rows if r.category == category],
                                                   category)
            marks: Marks = []
            tracked = frozenset(r.id for r in rows if r.category in SUPPRESSION_CATEGORIES)
            for index, row in enumerate(rows):
                if limit is not None and tried >= limit:
                    _commit(store, tenant_id, claim, marks, None, clock(), tracked)
                    _release(store, tenant_id, claim, rows[index:])
                    return summary
                tried += 1
                if row.to_address in blocked.get(row.category, set()):
                    marks.append(_suppressed_outcome(row))
                    summary.suppressed += 1
                    continue
                try:
                    smtp.connect()
                except SendFailure as failure:
                    # No connection: every claimed row left in this batch failed the same way; stop for now.
                    now = clock()
                    marks += [_outcome(rest, now, policy, failure, summary) for rest in rows[index:]]
                    _commit(store, tenant_id, claim, marks, None, now, tracked)
                    return summary
                handed = _commit(store, tenant_id, claim, marks, row, clock(), tracked)
                marks = []
                if not handed:
                    continue  # the claim was taken from this sender (it outlived its lease): not ours to send
                if on_handed is not None:
                    on_handed(row)
                try:
                    smtp.send(row.from_address, row.to_address, row.raw)
                except SendFailure as failure:
                    marks.append(_outcome(row, clock(), policy, failure, summary))
                else:
                    marks.append(_outcome(row, clock(), policy, None, summary))
            _commit(store, tenant_id, claim, marks, None, clock(), tracked)
    return summary


def _release(store: Store, tenant_id: int, claim: str, rows: list[OutboxMessage]) -> None:
    """Give claimed rows back untouched (``limit`` reached)."""
    with store.session(tenant_id) as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows]),
                                              OutboxMessage.claim == claim, OutboxMessage.state == "sending")
                  .values(state="queued", claim=None, claimed_at=None).execution_options(synchronize_session=False))


def counts(store: Store, tenant_id: int) -> dict[str, int]:
    """Rows per state in the workspace's outbox."""
    from sqlalchemy import func

    with store.session(tenant_id) as s:
        return {state: int(n) for state, n in s.execute(
            select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state))}
