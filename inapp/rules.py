"""The in-app rules, pure (no I/O, no clock, no randomness): callers pass the time and the secrets in.

* Identity verification, as Intercom's and Gainsight PX's: the customer's server computes
  ``userHash = hex(HMAC-SHA256(secret, userId))`` with the workspace's in-app secret; Canary recomputes it
  and compares in constant time, so one end user can never read another's messages.
* Origins allowed to call the API (exact ``scheme://host[:port]``, no wildcard, no path).
* A message's fields, checked before anything is stored, each error naming the field.
* Push endpoints: ``https`` only, never a private, loopback or link-local address (the endpoint comes from
  an end user's browser, and Canary POSTs to it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

KINDS = ("banner", "modal")
TITLE_MAX = 200
BODY_MAX = 4000
CTA_LABEL_MAX = 80
URL_MAX = 2000
REF_MAX = 200
USER_KEY_MAX = 255
LIFETIME = dt.timedelta(days=30)
"""A queued message nobody saw expires this long after it was queued."""
EVENT_CTA_CLICKED = "In-App CTA Clicked"
"""The product event a CTA click becomes (stored as usage, so a campaign goal can be reached by it)."""


class InAppError(ValueError):
    """Bad input, in words naming the field."""


def user_hash(secret: str, user_id: str) -> str:
    """``hex(HMAC-SHA256(secret, userId))``: what the customer's server computes for each signed-in user."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def hash_matches(secret: str | None, user_id: str, given: str | None) -> bool:
    """The hash the snippet sent is the one for ``user_id`` (constant time; upper-case hex accepted)."""
    if not secret or not user_id or not isinstance(given, str) or len(given) != 64:
        return False
    return hmac.compare_digest(user_hash(secret, user_id), given.lower())


def _text(value: object, field: str, limit: int, *, required: bool = True) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InAppError(f"{field} is required")
        return None
    if not isinstance(value, str):
        raise InAppError(f"{field} must be text")
    if len(value) > limit or "\x00" in value:
        raise InAppError(f"{field} must be at most {limit} characters of text")
    return value.strip()


def check_url(value: object, field: str) -> str | None:
    """An absolute ``https``/``http`` URL (a CTA link), or None when empty; never ``javascript:``."""
    text = _text(value, field, URL_MAX, required=False)
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise InAppError(f"{field} must be an absolute http(s) URL like https://app.example.com/billing")
    return text


@dataclass(frozen=True)
class MessageFields:
    user_key: str
    kind: str
    title: str
    body: str
    cta_label: str | None
    cta_url: str | None
    ref: str


def check_message(*, user_key: object, kind: object, title: object, body: object, cta_label: object,
                  cta_url: object, ref: object) -> MessageFields:
    """The fields of one message, validated: `InAppError` names the first bad one."""
    if kind not in KINDS:
        raise InAppError(f"kind must be one of {', '.join(KINDS)}")
    label = _text(cta_label, "cta_label", CTA_LABEL_MAX, required=False)
    url = check_url(cta_url, "cta_url")
    if (label is None) != (url is None):
        raise InAppError("cta_label and cta_url go together: give both or neither")
    return MessageFields(user_key=str(_text(user_key, "user_key", USER_KEY_MAX)), kind=str(kind),
                         title=str(_text(title, "title", TITLE_MAX)), body=str(_text(body, "body", BODY_MAX)),
                         cta_label=label, cta_url=url, ref=str(_text(ref, "ref", REF_MAX)))


def is_pending(*, now: dt.datetime, expires_at: dt.datetime | None, dismissed_at: dt.datetime | None,
               clicked_at: dt.datetime | None) -> bool:
    """Still to show: neither dismissed nor clicked, and not expired at ``now``."""
    return dismissed_at is None and clicked_at is None and (expires_at is None or expires_at > now)


def check_origin(value: str) -> str:
    """``scheme://host[:port]`` exactly as a browser sends it in ``Origin`` (lower case, no path)."""
    text = value.strip().rstrip("/").lower()
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.path or parts.query \
            or parts.fragment or parts.username or "*" in text:
        raise InAppError(f"{value.strip()!r} is not an origin: write it as https://app.example.com "
                         "(scheme, host and port only; no wildcard)")
    return text


def parse_origins(text: str) -> list[str]:
    """Origins from a text field, one a line or comma separated; duplicates dropped, order kept."""
    found: list[str] = []
    for piece in text.replace(",", "\n").splitlines():
        if piece.strip():
            origin = check_origin(piece)
            if origin not in found:
                found.append(origin)
    if len(found) > 50:
        raise InAppError("at most 50 allowed origins")
    return found


def check_push_endpoint(url: object, *, allow_loopback: bool = False) -> str:
    """A push service URL Canary may POST to: https on a public host (``allow_loopback``: tests' receivers)."""
    if not isinstance(url, str) or not url or len(url) > URL_MAX:
        raise InAppError(f"endpoint must be a URL of at most {URL_MAX} characters")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise InAppError("endpoint must be an absolute URL")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    local = host == "localhost" or host.endswith(".localhost") or (address is not None and (
        address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified
        or address.is_multicast or address.is_reserved))
    if allow_loopback and (host in ("127.0.0.1", "localhost", "::1")):
        return url
    if parts.scheme != "https" or local:
        raise InAppError("endpoint must be an https URL of a public push service")
    return url
