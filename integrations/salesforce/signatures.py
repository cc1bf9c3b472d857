"""Verify a Salesforce Canvas signed request.

``signed_request`` = base64(HMAC-SHA256(consumer secret, encoded context)) + "." + encoded
context. Split on the first ".", recompute, compare in constant time, then decode the
context and check its algorithm and that ``issuedAt`` is recent.
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


def _b64decode(value: str) -> bytes:
    return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_" if "-" in value or "_" in value
                            else None, validate=False)


def verify_canvas_signed_request(signed_request: str, consumer_secret: str, *, now: float | None = None,
                                 max_age_s: float = MAX_AGE_S, replay_guard: ReplayGuard | None = None
                                 ) -> dict[str, Any]:
    if not signed_request or "." not in signed_request:
        raise SignatureError("malformed signed_request: expected signature.context")
    signature_b64, encoded = signed_request.split(".", 1)
    try:
        given = _b64decode(signature_b64)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("malformed signed_request: the signature is not base64") from exc
    expected = hmac.new(consumer_secret.encode(), encoded.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(given, expected):
        raise SignatureError("signature does not match the connected app's consumer secret")
    try:
        context: dict[str, Any] = json.loads(_b64decode(encoded))
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("malformed signed_request: the context is not base64 JSON") from exc
    if context.get("algorithm", "HMACSHA256").upper() != "HMACSHA256":
        raise SignatureError(f"unsupported algorithm {context.get('algorithm')!r}")
    issued = context.get("issuedAt")
    current = time.time() if now is None else now
    if isinstance(issued, int | float):
        issued_s = issued / 1000 if issued > 10**11 else issued
        if current - issued_s > max_age_s:
            raise SignatureError("the signed request is too old: reopen the Canary tab")
    if replay_guard is not None:
        replay_guard.check_and_remember("canvas:" + signature_b64, current + max_age_s)
    return context
