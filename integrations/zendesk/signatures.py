"""Verify the JWT Zendesk POSTs to a ZAF app's iframe URL when the manifest says ``signedUrls: true``.

RS256 only, signed with the installation's key pair (the public key is stored with the
connection): any other ``alg`` -- ``none``, or HS256 with the public key used as an HMAC
secret -- is refused before the signature is looked at. ``aud`` must be the installation's
URL, ``iss`` the Zendesk account's host, and ``exp`` is required. Every failure raises
`SignatureError` with a message that is safe to show and never contains key material.

Header and claims are decoded with their size and depth bounded before PyJWT parses them. A token
is accepted once per workspace: the replay key is its ``jti``, or else the decoded claims (which
hold ``iat``, ``sub``, ``aud`` and the location context), never the token text, so a re-encoding
of a used token (extra base64 padding on the signature, which the decoder ignores) is the same
key. It is remembered until ``exp`` + leeway. The public key is parsed once per process for each PEM.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import time
from functools import lru_cache
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from integrations.bounded_json import loads_bounded
from integrations.errors import SignatureError
from integrations.replay import ReplayGuard, replay_key

DEFAULT_LEEWAY_S = 30.0
MAX_TOKEN_CHARS = 16 * 1024


def unverified_jwt_part(token: str, index: int) -> dict[str, Any]:
    """Part ``index`` (0 header, 1 claims) of a JWT as a JSON object, bounded; `SignatureError` otherwise.

    For finding the workspace before the signature can be checked; never trust it otherwise.
    """
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise SignatureError("the token is not a JWT")
    segment = token.split(".")[index]
    try:
        value = loads_bounded(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        raise SignatureError("the token is not a JWT") from None
    if not isinstance(value, dict):
        raise SignatureError("the token is not a JWT")
    return value


def _replay_material(claims: dict[str, Any]) -> str:
    jti = claims.get("jti")
    if isinstance(jti, str | int) and not isinstance(jti, bool) and str(jti):
        return "jti:" + str(jti)
    canonical = json.dumps(claims, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "claims:" + hashlib.sha256(canonical.encode()).hexdigest()


@lru_cache(maxsize=64)
def _public_key(pem: str) -> RSAPublicKey:
    """The installation's public key, parsed once per process for each stored PEM (parsing cost more than
    checking the signature)."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SignatureError("the installation's public key is not a valid RSA public key") from exc
    if not isinstance(key, RSAPublicKey):
        raise SignatureError("the installation's public key is not a valid RSA public key")
    return key


def verify_zendesk_signed_url(token: str, *, public_key_pem: str, audience: str, issuer: str,
                              replay_guard: ReplayGuard, replay_scope: str | int, now: float | None = None,
                              leeway: float = DEFAULT_LEEWAY_S) -> dict[str, Any]:
    """Return the token's claims, or raise `SignatureError`.

    ``now`` (epoch seconds) replaces the clock for ``exp``/``nbf`` checks; the replay guard
    accepts each token once per ``replay_scope`` (the workspace) until it expires.
    """
    header = unverified_jwt_part(token, 0)
    unverified_jwt_part(token, 1)  # bounded before PyJWT parses it
    if header.get("alg") != "RS256":
        raise SignatureError(f"the token must be signed with RS256, not {repr(header.get('alg'))[:40]}")
    key = _public_key(public_key_pem)
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=["RS256"], audience=audience, issuer=issuer,
            options={"require": ["exp", "iss", "aud"], "verify_exp": False, "verify_nbf": False,
                     "verify_iat": False},
        )
    except jwt.InvalidAudienceError as exc:
        raise SignatureError("wrong audience: the token is for another app installation") from exc
    except jwt.InvalidIssuerError as exc:
        raise SignatureError("wrong issuer: the token was issued by another Zendesk account") from exc
    except jwt.InvalidSignatureError as exc:
        raise SignatureError("signature does not match the installation's public key") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise SignatureError(f"the token lacks the {exc.claim!r} claim") from exc
    except jwt.InvalidKeyError as exc:
        raise SignatureError("the installation's public key is not a valid RSA public key") from exc
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise SignatureError(f"the token is not valid ({exc.__class__.__name__})") from exc

    current = time.time() if now is None else now
    try:
        expires_at = float(claims["exp"])
        not_before = float(claims.get("nbf", 0))
    except (TypeError, ValueError) as exc:
        raise SignatureError("the token's exp or nbf claim is not a number") from exc
    if not (math.isfinite(expires_at) and math.isfinite(not_before)):
        raise SignatureError("the token's exp or nbf claim is not a number")
    if expires_at + leeway < current:
        raise SignatureError("token expired: reload the app")
    if not_before - leeway > current:
        raise SignatureError("the token is not valid yet: check the server clock")
    replay_guard.check_and_remember(replay_key("zendesk", replay_scope, _replay_material(claims)),
                                    expires_at + leeway)
    return claims
