"""Web Push: end users' browser subscriptions, and `send_push`, which encrypts a notification and POSTs it.

A payload is encrypted for each subscription with ``aes128gcm`` (RFC 8291, via ``pywebpush``/``http_ece``) and
the request carries a VAPID ``Authorization: vapid t=<JWT>,k=<public key>`` (RFC 8292, via ``py_vapid``) whose
JWT names the push service's origin (``aud``), an expiry 12 hours from ``now`` and the workspace's contact.
The push service's answer decides what happens to the subscription:

* 201/202: sent; 404 or 410: the subscription is gone, and deleted;
* 429: nothing more goes to that subscription before its ``Retry-After`` (seconds or an HTTP date; 60 s if
  missing), kept in ``not_before``; other errors are counted as failed and left for the next send.

`send_due_pushes` sends the in-app messages queued with ``push=True`` (a campaign step's ``push``), **at most
once**: per message a sender first claims it with a conditional ``UPDATE inapp_messages SET pushed_at=now WHERE
id=… AND pushed_at IS NULL`` (0 rows: another sender has it) and commits, and only then makes the HTTP calls,
recording ``push_outcome`` in a second commit. A sender that dies after the claim leaves ``pushed_at`` set and
``push_outcome`` empty: that one message is never pushed again (it may have been sent), and it stays in the
in-app queue. A 429 or a failed POST is not retried for that message either.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from inapp.rules import InAppError, check_push_endpoint, check_url, is_pending
from inapp.settings import vapid_keys
from store.crypto import CredentialCipher
from store.db import Store
from store.models import InAppMessage, PushSubscription

log = logging.getLogger("canary.inapp")

TTL_SECONDS = 24 * 3600
"""How long a push service keeps a notification for a browser that is offline."""
DEFAULT_RETRY_AFTER = 60
TIMEOUT = 10.0
KEY_MAX = 200


@dataclass
class PushResult:
    sent: int = 0
    removed: int = 0
    """Subscriptions the push service said are gone (404/410), deleted."""
    deferred: int = 0
    """Subscriptions not tried: a push service asked to wait (429 before, or now)."""
    failed: int = 0
    retry_after: list[int] = field(default_factory=list)
    """The waits (seconds) 429 answers asked for in this call."""


def subscribe(session: Session, user_key: str, subscription: Any, *, allow_loopback: bool = False) -> int:
    """Store a browser's ``PushSubscription.toJSON()`` (``{endpoint, keys: {p256dh, auth}}``) for the end user;
    the same endpoint again moves to this user. Returns the row id; `InAppError` for a malformed subscription."""
    if not isinstance(subscription, dict):
        raise InAppError("subscription must be an object {endpoint, keys: {p256dh, auth}}")
    endpoint = check_push_endpoint(subscription.get("endpoint"), allow_loopback=allow_loopback)
    keys = subscription.get("keys")
    if not isinstance(keys, dict):
        raise InAppError("subscription.keys must hold p256dh and auth")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    for name, value in (("p256dh", p256dh), ("auth", auth)):
        if not isinstance(value, str) or not value or len(value) > KEY_MAX or not all(
                c.isalnum() or c in "-_=" for c in value):
            raise InAppError(f"subscription.keys.{name} must be base64url text")
    digest = hashlib.sha256(endpoint.encode()).hexdigest()
    row = session.scalar(select(PushSubscription).where(PushSubscription.endpoint_hash == digest))
    if row is None:
        row = PushSubscription(user_key=user_key, endpoint=endpoint, endpoint_hash=digest, p256dh=p256dh, auth=auth)
        session.add(row)
    else:
        row.user_key, row.p256dh, row.auth, row.not_before = user_key, str(p256dh), str(auth), None
    session.flush()
    return row.id


def unsubscribe(session: Session, user_key: str, endpoint: str) -> bool:
    digest = hashlib.sha256(endpoint.encode()).hexdigest()
    row = session.scalar(select(PushSubscription).where(PushSubscription.endpoint_hash == digest,
                                                        PushSubscription.user_key == user_key))
    if row is None:
        return False
    session.delete(row)
    return True


def retry_after_seconds(value: str | None, now: dt.datetime) -> int:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP date; `DEFAULT_RETRY_AFTER` if unusable."""
    if value:
        text = value.strip()
        if text.isdigit():
            return max(0, int(text))
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            return max(0, int((when - now).total_seconds()))
    return DEFAULT_RETRY_AFTER


def send_push(session: Session, cipher: CredentialCipher, *, user_key: str, title: str, body: str,
              url: str | None, now: dt.datetime, http: requests.Session | None = None,
              allow_loopback: bool = False) -> PushResult:
    """Send one notification to every push subscription of the end user in the session's workspace.

    Needs the workspace's VAPID keys (`InAppError` otherwise). ``http`` is the requests session used (tests
    and callers may pass their own); ``allow_loopback`` lets a test's local receiver stand in for the push service.
    """
    from py_vapid import Vapid02
    from pywebpush import WebPusher

    keys = vapid_keys(session, cipher)
    if keys is None:
        raise InAppError("Web Push is not set up: generate VAPID keys on the Settings page first")
    payload = json.dumps({"title": title[:200], "body": body[:1000], "url": check_url(url, "url")}).encode()
    vapid = Vapid02.from_pem(keys.private_pem)
    client = http or requests.Session()
    result = PushResult()
    subs = list(session.scalars(select(PushSubscription).where(PushSubscription.user_key == user_key)
                                .order_by(PushSubscription.id)))
    for sub in subs:
        if sub.not_before is not None and sub.not_before > now:
            result.deferred += 1
            continue
        try:
            endpoint = check_push_endpoint(sub.endpoint, allow_loopback=allow_loopback)
        except InAppError:
            session.delete(sub)
            result.removed += 1
            continue
        parts = urlsplit(endpoint)
        claims = {"sub": keys.subject, "aud": f"{parts.scheme}://{parts.netloc}",
                  "exp": int((now + dt.timedelta(hours=12)).timestamp())}
        headers = {**vapid.sign(claims), "Urgency": "normal"}
        info = {"endpoint": endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
        try:
            response = WebPusher(info, requests_session=client).send(
                payload, headers=headers, ttl=TTL_SECONDS, content_encoding="aes128gcm", timeout=TIMEOUT)
        except requests.RequestException as exc:
            log.warning("push to subscription %s failed: %s", sub.id, type(exc).__name__)
            result.failed += 1
            continue
        status = response.status_code
        if status in (200, 201, 202):
            sub.last_sent_at, sub.not_before = now, None
            result.sent += 1
        elif status in (404, 410):
            session.delete(sub)
            result.removed += 1
        elif status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"), now)
            sub.not_before = now + dt.timedelta(seconds=wait)
            result.deferred += 1
            result.retry_after.append(wait)
        else:
            log.warning("push to subscription %s answered %s", sub.id, status)
            result.failed += 1
    session.flush()
    return result


PUSH_BATCH = 100
"""Messages claimed per commit by `send_due_pushes`."""


@dataclass
class PushRound:
    """What one `send_due_pushes` did, per message (``notifications``: subscriptions the push service took)."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    no_keys: int = 0
    no_subscription: int = 0
    expired: int = 0
    notifications: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"claimed": self.claimed, "sent": self.sent, "failed": self.failed, "no_keys": self.no_keys,
                "no_subscription": self.no_subscription, "expired": self.expired,
                "notifications": self.notifications}

    def __bool__(self) -> bool:
        return self.claimed > 0


@dataclass(frozen=True)
class _Due:
    id: int
    user_key: str
    title: str
    body: str
    url: str | None


def _won(s: Session, tenant_id: int, message_id: int, now: dt.datetime, outcome: str | None) -> bool:
    """The conditional claim: True if this sender set ``pushed_at`` (no other sender had)."""
    done = s.execute(update(InAppMessage).where(
        InAppMessage.id == message_id, InAppMessage.tenant_id == tenant_id, InAppMessage.pushed_at.is_(None))
        .values(pushed_at=now, push_outcome=outcome).execution_options(synchronize_session=False))
    return bool(int(getattr(done, "rowcount", 0) or 0))


def _triage(store: Store, tenant_id: int, cipher: CredentialCipher, now: dt.datetime, limit: int,
            found: PushRound) -> tuple[int, list[_Due]]:
    """Up to ``limit`` due messages: how many were due, and those to push. Those that cannot be pushed (no
    keys, no subscription, expired, dismissed or clicked) are claimed with their outcome here, in one commit."""
    out: list[_Due] = []
    with store.session(tenant_id) as s:
        rows = list(s.scalars(select(InAppMessage).where(
            InAppMessage.tenant_id == tenant_id, InAppMessage.push_wanted.is_(True), InAppMessage.pushed_at.is_(None))
            .order_by(InAppMessage.id).limit(limit)))
        if not rows:
            return 0, out
        has_keys = vapid_keys(s, cipher) is not None
        subscribed = set(s.scalars(select(PushSubscription.user_key).where(
            PushSubscription.user_key.in_({m.user_key for m in rows})))) if has_keys else set()
        for m in rows:
            if not has_keys:
                outcome = "no_keys"
            elif not is_pending(now=now, expires_at=m.expires_at, dismissed_at=m.dismissed_at,
                                clicked_at=m.clicked_at):
                outcome = "expired"
            elif m.user_key not in subscribed:
                outcome = "no_subscription"
            else:
                out.append(_Due(m.id, m.user_key, m.title, m.body, m.cta_url))
                continue
            if _won(s, tenant_id, m.id, now, outcome):
                found.claimed += 1
                setattr(found, outcome, getattr(found, outcome) + 1)
    return len(rows), out


def send_due_pushes(store: Store, tenant_id: int, cipher: CredentialCipher, now: dt.datetime, *,
                    http: requests.Session | None = None, allow_loopback: bool = False,
                    batch: int = PUSH_BATCH) -> PushRound:
    """Push every in-app message of the workspace queued with ``push=True`` and not yet claimed. Per message:
    claim (committed), then `send_push` (title, body, CTA URL), then its outcome (committed). Claimed with their
    outcome and no HTTP call: no VAPID keys (``no_keys``), an end user without subscription
    (``no_subscription``), a message expired, dismissed or clicked (``expired``). At most once: see the module's
    notes. Every due row looked at ends claimed (by this sender or another), so the loop ends."""
    found = PushRound()
    client = http or requests.Session()
    try:
        _round(store, tenant_id, cipher, now, client, allow_loopback, batch, found)
    finally:
        if http is None:
            client.close()
    return found


def _round(store: Store, tenant_id: int, cipher: CredentialCipher, now: dt.datetime, client: requests.Session,
           allow_loopback: bool, batch: int, found: PushRound) -> None:
    while True:
        due, to_push = _triage(store, tenant_id, cipher, now, batch, found)
        if not due:
            return
        for m in to_push:
            with store.session(tenant_id) as s:
                won = _won(s, tenant_id, m.id, now, None)
            if not won:
                continue  # another sender claimed it first
            found.claimed += 1
            with store.session(tenant_id) as s:
                try:
                    result = send_push(s, cipher, user_key=m.user_key, title=m.title, body=m.body, url=m.url,
                                       now=now, http=client, allow_loopback=allow_loopback)
                except InAppError as exc:
                    log.warning("push of in-app message %s not sent: %s", m.id, exc)
                    result = PushResult()
                outcome = "sent" if result.sent else "failed"
                s.execute(update(InAppMessage).where(InAppMessage.id == m.id, InAppMessage.tenant_id == tenant_id)
                          .values(push_outcome=outcome).execution_options(synchronize_session=False))
            found.notifications += result.sent
            setattr(found, outcome, getattr(found, outcome) + 1)
