"""Verify a Salesforce Canvas signed request (and the signature of an OAuth token answer).

``signed_request`` = base64(HMAC-SHA256(consumer secret, encoded context)) + "." + encoded
context. Split on the first ".", recompute the HMAC over the *encoded* context, compare in
constant time, and only then decode the JSON (size and depth bounded) and check ``algorithm``
and ``issuedAt``.

A request is accepted once per workspace: the replay key is the HMAC digest (bytes, so every
base64 spelling of the signature is the same key), remembered until ``issuedAt`` + the window.
A request without ``issuedAt`` could never expire, so it is refused, and so is one dated more
than `CLOCK_SKEW_S` in the future.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import time
from collections.abc import Mapping
from typing import Any

from integrations.bounded_json import loads_bounded
from integrations.errors import SignatureError
from integrations.replay import CLOCK_SKEW_S, ReplayGuard, replay_key

MAX_AGE_S = 15 * 60
MAX_SIGNED_REQUEST_CHARS = 64 * 1024
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def _b64decode(value: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not."""
    text = value.strip().translate(_URLSAFE_TO_STANDARD).rstrip("=")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def decode_canvas_context(encoded: str) -> dict[str, Any]:
    """The JSON object in a signed request's context part (unverified), or `SignatureError`."""
    try:
        context = loads_bounded(_b64decode(encoded))
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"malformed signed_request: the context is not base64 JSON ({exc})") from None
    if not isinstance(context, dict):
        raise SignatureError("malformed signed_request: the context is not a JSON object")
    return context


def _issued_at_seconds(context: dict[str, Any]) -> float:
    issued = context.get("issuedAt")
    if isinstance(issued, bool) or not isinstance(issued, int | float) or not math.isfinite(issued) \
            or issued <= 0:
        raise SignatureError("the signed request has no issuedAt: it could be replayed forever, so it is refused")
    return issued / 1000 if issued > 10**11 else float(issued)


def verify_canvas_signed_request(signed_request: str, consumer_secret: str, *, replay_guard: ReplayGuard,
                                 replay_scope: str | int, now: float | None = None,
                                 max_age_s: float = MAX_AGE_S) -> dict[str, Any]:
    """Return the decoded CanvasRequest (``client``, ``context``, ``userId``, ...), or raise `SignatureError`.

    ``issuedAt`` (seconds or milliseconds) is required, no older than ``max_age_s`` and at most
    `CLOCK_SKEW_S` ahead of ``now``. ``replay_scope`` is the workspace the request is for.
    """
    if not signed_request or "." not in signed_request:
        raise SignatureError("malformed signed_request: expected <signature>.<context>")
    if len(signed_request) > MAX_SIGNED_REQUEST_CHARS:
        raise SignatureError("malformed signed_request: too long")
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
    context = decode_canvas_context(encoded)
    algorithm = context.get("algorithm")
    if algorithm != "HMACSHA256":
        raise SignatureError(f"unsupported algorithm {repr(algorithm)[:40]}: expected 'HMACSHA256'")

    current = time.time() if now is None else now
    issued_s = _issued_at_seconds(context)
    if current - issued_s > max_age_s:
        raise SignatureError(f"signed request too old (expired): issued more than {max_age_s / 60:.0f} minutes ago")
    if issued_s - current > CLOCK_SKEW_S:
        raise SignatureError("the signed request is dated in the future: check the server clock")
    replay_guard.check_and_remember(replay_key("salesforce", replay_scope, expected),
                                    issued_s + max_age_s + CLOCK_SKEW_S)
    return context


def token_answer_signature_ok(client_secret: str, answer: Mapping[str, Any]) -> bool:
    """An OAuth token answer signs ``id`` + ``issued_at`` with the client secret (HMAC-SHA256, base64)."""
    identity, issued_at, signature = answer.get("id"), answer.get("issued_at"), answer.get("signature")
    if not (isinstance(identity, str) and isinstance(issued_at, str) and isinstance(signature, str)):
        return False
    expected = hmac.new(client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(expected).decode(), signature)
