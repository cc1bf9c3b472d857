"""Verify HubSpot's ``X-HubSpot-Signature-v3`` on webhooks and ``hubspot.fetch`` calls from app cards.

signature = base64(HMAC-SHA256(client secret, METHOD + URI + BODY + TIMESTAMP)), where the
URI is the full request URL with certain percent-encoded characters decoded as HubSpot's
"Request validation" page lists; requests whose timestamp is older than 5 minutes are rejected.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from integrations.errors import SignatureError
from integrations.replay import ReplayGuard

MAX_AGE_S = 300
_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
           "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


def _decoded_uri(uri: str) -> str:
    for encoded, char in _DECODE.items():
        uri = uri.replace(encoded, char).replace(encoded.lower(), char)
    return uri


def verify_hubspot_v3(method: str, uri: str, body: bytes, timestamp_header: str, signature_header: str,
                      client_secret: str, *, now: float | None = None, max_age_s: float = MAX_AGE_S,
                      replay_guard: ReplayGuard | None = None) -> None:
    if not signature_header or not timestamp_header:
        raise SignatureError("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    try:
        timestamp_ms = int(timestamp_header)
    except ValueError as exc:
        raise SignatureError("X-HubSpot-Request-Timestamp is not a number") from exc
    current = time.time() if now is None else now
    if current - timestamp_ms / 1000 > max_age_s:
        raise SignatureError("timestamp older than 5 minutes: request refused")
    if timestamp_ms / 1000 - current > max_age_s:
        raise SignatureError("timestamp is in the future: request refused")
    raw = method.upper().encode() + _decoded_uri(uri).encode() + body + timestamp_header.encode()
    expected = base64.b64encode(hmac.new(client_secret.encode(), raw, hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected.encode(), signature_header.encode()):
        raise SignatureError("signature does not match the app's client secret")
    if replay_guard is not None:
        replay_guard.check_and_remember("hubspot:" + signature_header, timestamp_ms / 1000 + max_age_s)
