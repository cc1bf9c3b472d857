"""Verify HubSpot's ``X-HubSpot-Signature-v3`` on webhooks and on ``hubspot.fetch`` calls from app cards.

signature = base64(HMAC-SHA256(client secret, METHOD + URI + BODY + TIMESTAMP)) where URI is
the full request URL as HubSpot called it, with the percent-encoded characters that HubSpot's
"Request validation" page lists decoded (and no others: ``%20``, ``%26``, ``%3D``, ``%2B`` stay),
BODY is the raw body (empty for GET) and TIMESTAMP the ``X-HubSpot-Request-Timestamp`` header
(epoch milliseconds, ASCII digits only). Requests whose timestamp is older than 5 minutes, or
more than `CLOCK_SKEW_S` ahead, are refused. A request is accepted once per workspace: the
replay key is the digest we computed over the canonical signed string (so spellings of the URI
that HubSpot signs alike are one key), remembered until the timestamp + 5 minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

from integrations.errors import SignatureError
from integrations.replay import CLOCK_SKEW_S, ReplayGuard, replay_key

MAX_AGE_S = 300
_MILLISECONDS = re.compile(r"[0-9]{1,15}")
_DECODED = {"3A": ":", "2F": "/", "3F": "?", "40": "@", "21": "!", "24": "$", "27": "'", "28": "(",
            "29": ")", "2A": "*", "2C": ",", "3B": ";"}
_ESCAPE = re.compile("%(" + "|".join(_DECODED) + ")", re.IGNORECASE)


def hubspot_signed_uri(uri: str) -> str:
    """The URI as it enters the v3 signature: only HubSpot's listed escapes are decoded, in one pass."""
    return _ESCAPE.sub(lambda match: _DECODED[match.group(1).upper()], uri)


def hubspot_v3_signature(method: str, uri: str, body: bytes, timestamp: str, client_secret: str) -> str:
    raw = method.upper().encode() + hubspot_signed_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(client_secret.encode(), raw, hashlib.sha256).digest()).decode()


def verify_hubspot_v3(method: str, uri: str, body: bytes, timestamp_header: str, signature_header: str,
                      client_secret: str, *, replay_guard: ReplayGuard, replay_scope: str | int,
                      now: float | None = None, max_age_s: float = MAX_AGE_S) -> None:
    """Return if the request is HubSpot's, fresh and new for ``replay_scope`` (the workspace), else raise."""
    if not signature_header or not timestamp_header:
        raise SignatureError("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header")
    if not client_secret:
        raise SignatureError("no HubSpot client secret is configured")
    if not _MILLISECONDS.fullmatch(timestamp_header):
        raise SignatureError("X-HubSpot-Request-Timestamp is not a number of milliseconds")
    sent_at = int(timestamp_header) / 1000
    current = time.time() if now is None else now
    if current - sent_at > max_age_s:
        raise SignatureError(f"timestamp older than {max_age_s / 60:g} minutes: request refused")
    if sent_at - current > CLOCK_SKEW_S:
        raise SignatureError("timestamp is in the future: check the server clock")
    expected = hubspot_v3_signature(method, uri, body, timestamp_header, client_secret)
    if not hmac.compare_digest(expected.encode(), signature_header.strip().encode()):
        raise SignatureError("signature does not match the app's client secret")
    replay_guard.check_and_remember(replay_key("hubspot", replay_scope, base64.b64decode(expected)),
                                    sent_at + max_age_s + CLOCK_SKEW_S)
