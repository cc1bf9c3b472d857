"""Verify the JWT Zendesk POSTs to a ZAF app's iframe URL when the manifest says ``signedUrls: true``.

RS256 only, signed with the installation's key pair (the public key is stored with the
connection): any other ``alg`` -- ``none``, or HS256 with the public key used as an HMAC
secret -- is refused before the signature is looked at. ``aud`` must be the installation's
URL, ``iss`` the Zendesk account's host, and ``exp`` is required. Every failure raises
`SignatureError` with a message that is safe to show and never contains key material.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import jwt

from integrations.errors import SignatureError
from integrations.replay import ReplayGuard

DEFAULT_LEEWAY_S = 30.0


def verify_zendesk_signed_url(token: str, *, public_key_pem: str, audience: str, issuer: str,
                              now: float | None = None, leeway: float = DEFAULT_LEEWAY_S,
                              replay_guard: ReplayGuard | None = None) -> dict[str, Any]:
    """Return the token's claims, or raise `SignatureError`.

    ``now`` (epoch seconds) replaces the clock for ``exp``/``nbf`` checks; the replay guard,
    if given, accepts each token (its ``jti``, else its hash) once until it expires.
    """
    if not token or token.count(".") != 2:
        raise SignatureError("the token is not a JWT")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise SignatureError("the token is not a JWT") from exc
    if header.get("alg") != "RS256":
        raise SignatureError(f"the token must be signed with RS256, not {header.get('alg')!r}")
    try:
        claims: dict[str, Any] = jwt.decode(
            token, public_key_pem, algorithms=["RS256"], audience=audience, issuer=issuer,
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
    if expires_at + leeway < current:
        raise SignatureError("token expired: reload the app")
    if not_before - leeway > current:
        raise SignatureError("the token is not valid yet: check the server clock")
    if replay_guard is not None:
        key = "zendesk:" + str(claims.get("jti") or hashlib.sha256(token.encode()).hexdigest())
        replay_guard.check_and_remember(key, expires_at + leeway)
    return claims
