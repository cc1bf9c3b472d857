"""Open and click tracking through signed links.

At enqueue (`mail.outbox.enqueue_many`'s ``rewrite_html``), every ``http(s)`` link of a campaign e-mail's HTML
but its unsubscribe link becomes ``PUBLIC_URL/t/c/<token>`` and a 1×1 image ``PUBLIC_URL/t/o/<token>`` is added.
A token is the workspace, the e-mail's idempotency key and (for a click) the destination, signed with the app's
secret (itsdangerous, HMAC-SHA1 over a salt of its own). The routes (`campaigns.web`) verify it: a tampered or
made-up token is a 404, and a click redirects only to the URL inside a valid signature — never an open
redirect. The plain-text part keeps the real links (text mail is not tracked).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.db import Store
from store.models import MAIL_EVENT_KINDS, MailEvent, OutboxMessage

SALT = "canary.mail-tracking"
HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Tracked:
    tenant_id: int
    key: str
    url: str | None


def _serializer(secret: str) -> URLSafeSerializer:
    if not secret:
        raise ValueError("tracking links need the app's SECRET_KEY")
    return URLSafeSerializer(secret, salt=SALT)


def sign(secret: str, tenant_id: int, key: str, url: str | None = None) -> str:
    payload: list[Any] = [tenant_id, key] if url is None else [tenant_id, key, url]
    return str(_serializer(secret).dumps(payload))


def verify(secret: str, token: str, click: bool) -> Tracked | None:
    """What a token names, or None: a bad signature, a pixel token used as a link (or the reverse), a
    destination that is not http(s)."""
    if not token or len(token) > 4000:
        return None
    try:
        payload = _serializer(secret).loads(token)
    except BadSignature:
        return None
    if not isinstance(payload, list) or len(payload) != (3 if click else 2):
        return None
    tenant_id, key = payload[0], payload[1]
    if not isinstance(tenant_id, int) or not isinstance(key, str):
        return None
    url = payload[2] if click else None
    if click and (not isinstance(url, str) or not url.lower().startswith(("https://", "http://"))):
        return None
    return Tracked(tenant_id, key, url)


def rewriter(secret: str, tenant_id: int, public_url: str) -> Any:
    """The ``rewrite_html(html, key)`` callable `enqueue_many` applies to a campaign e-mail's rendered HTML."""
    base = public_url.rstrip("/")
    unsubscribe = f"{base}/u/"

    def rewrite(body: str, key: str) -> str:
        def link(match: re.Match[str]) -> str:
            url = html.unescape(match.group(3)).strip()
            if not url.lower().startswith(("https://", "http://")) or url.startswith(unsubscribe):
                return match.group(0)
            return f'{match.group(1)}{match.group(2)}{base}/t/c/{sign(secret, tenant_id, key, url)}{match.group(2)}'

        pixel = f'<img src="{base}/t/o/{sign(secret, tenant_id, key)}" width="1" height="1" alt="">'
        out = HREF.sub(link, body)
        closing = out.lower().rfind("</body>")
        return out[:closing] + pixel + out[closing:] if closing >= 0 else out + pixel

    return rewrite


def record(session: Session, outbox_id: int, kind: str, at: dt.datetime, url: str | None = None) -> MailEvent:
    if kind not in MAIL_EVENT_KINDS:
        raise ValueError(f"mail event kind must be one of {', '.join(MAIL_EVENT_KINDS)}, not {kind!r}")
    event = MailEvent(outbox_id=outbox_id, kind=kind, url=url[:2000] if url else None, at=at)
    session.add(event)
    return event


def record_tracked(store: Store, tracked: Tracked, kind: str, at: dt.datetime) -> bool:
    """Store an open or click for the e-mail a verified token names; False when that e-mail is gone."""
    with store.session(tracked.tenant_id) as s:
        outbox_id = s.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == tracked.key))
        if outbox_id is None:
            return False
        record(s, outbox_id, kind, at, tracked.url)
    return True
