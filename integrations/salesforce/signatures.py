"""Verify a Salesforce Canvas signed request.

``signed_request`` = base64(HMAC-SHA256(consumer secret, encoded context)) + "." + encoded
context. Split on the first ".", recompute the HMAC over the *encoded* context, compare in
constant time, and only then decode the JSON and check ``algorithm`` and ``issuedAt``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from integrations.errors import SignatureError
from integrations.replay import ReplayGuard

MAX_AGE_S = 15 * 60
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def _b64decode(value: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not."""
    text = value.strip().translate(_URLSAFE_TO_STANDARD)
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def verify_canvas_signed_request(signed_request: str, consumer_secret: str, *, now: float | None = None,
                                 max_age_s: float = MAX_AGE_S, require_issued_at: bool = False,
                                 replay_guard: ReplayGuard | None = None) -> dict[str, Any]:
    """Return the decoded CanvasRequest (``client``, ``context``, ``userId``, ...), or raise `SignatureError`.

    ``issuedAt`` (seconds or milliseconds) must be within ``max_age_s`` when present; the
    Canvas guide's own example sends ``null``, so a missing value is only refused with
    ``require_issued_at=True``. The replay guard accepts each signature once.
    """
    if not signed_request or "." not in signed_request:
        raise SignatureError("malformed signed_request: expected <signature>.<context>")
    if not consumer_secret:
        raise SignatureError("no consumer secret is configured for this Salesforce org")
    signature_b64, encoded = signed_request.split(".", 1)
    try:
        given = _b64decode(signature_b64)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("malformed signed_request: the signature is not base64") from exc
    expected = hmac.new(consumer_secret.encode(), encoded.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(given, expected):
        raise SignatureError("signature does not match the connected app's consumer secret")
    try:
        context = json.loads(_b64decode(encoded))
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("malformed signed_request: the context is not base64 JSON") from exc
    if not isinstance(context, dict):
        raise SignatureError("malformed signed_request: the context is not a JSON object")
    algorithm = context.get("algorithm")
    if algorithm != "HMACSHA256":
        raise SignatureError(f"unsupported algorithm {algorithm!r}: expected 'HMACSHA256'")

    current = time.time() if now is None else now
    issued = context.get("issuedAt")
    if isinstance(issued, int | float) and not isinstance(issued, bool) and issued > 0:
        issued_s = issued / 1000 if issued > 10**11 else float(issued)
        if current - issued_s > max_age_s:
            raise SignatureError(f"signed request too old (expired): issued more than {max_age_s / 60:.0f} minutes ago")
        if issued_s - current > max_age_s:
            raise SignatureError("the signed request is dated in the future: check the server clock")
    elif require_issued_at:
        raise SignatureError("the signed request has no issuedAt")
    if replay_guard is not None:
        replay_guard.check_and_remember("canvas:" + base64.b64encode(given).decode(), current + max_age_s)
    return context
