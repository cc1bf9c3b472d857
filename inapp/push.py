"""Web Push: end users' browser subscriptions, and `send_push`, which encrypts a notification and POSTs it.

A payload is encrypted for each subscription with ``aes128gcm`` (RFC 8291, via ``pywebpush``/``http_ece``) and
the request carries a VAPID ``Authorization: vapid t=<JWT>,k=<public key>`` (RFC 8292, via ``py_vapid``) whose
JWT names the push service's origin (``aud``), an expiry 12 hours from ``now`` and the workspace's contact.
The push service's answer decides what happens to the subscription:

* 201/202: sent; 404 or 410: the subscription is gone, and deleted;
* 429: nothing more goes to that subscription before its ``Retry-After`` (seconds or an HTTP date; 60 s if
  missing), kept in ``not_before``; other errors are counted as failed and left for the next send.
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
from sqlalchemy import select
from sqlalchemy.orm import Session

from inapp.rules import InAppError, check_push_endpoint, check_url
from inapp.settings import vapid_keys
from store.crypto import CredentialCipher
from store.models import PushSubscription

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
