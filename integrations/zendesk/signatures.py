"""Verify the ZAF JWT Zendesk POSTs to a server-side app's page when ``signedUrls`` is on.

RS256 only, signed by the installation's key pair: the public key is stored with the
connection. ``aud`` must be the installation's URL and ``iss`` the Zendesk account's host;
``exp`` is required. Every failure raises `SignatureError` with a message safe to show.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import jwt

from integrations.errors import SignatureError
from integrations.replay import ReplayGuard


def verify_zendesk_signed_url(token: str, *, public_key_pem: str, audience: str, issuer: str,
                              now: float | None = None, leeway: float = 30.0,
                              replay_guard: ReplayGuard | None = None) -> dict[str, Any]:
    if not token or token.count(".") != 2:
        raise SignatureError("the token is not a JWT")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise SignatureError("the token is not a JWT") from exc
    if header.get("alg") != "RS256":
        raise SignatureError(f"the token must be signed with RS256, not {header.get('alg')!r}")
    current = time.time() if now is None else now
    try:
        claims: dict[str, Any] = jwt.decode(
            token, public_key_pem, algorithms=["RS256"], audience=audience, issuer=issuer,
            options={"require": ["exp", "iss", "aud"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidAudienceError as exc:
        raise SignatureError("the token is for another audience (app installation)") from exc
    except jwt.InvalidIssuerError as exc:
        raise SignatureError("the token was issued by another Zendesk account") from exc
    except jwt.InvalidSignatureError as exc:
        raise SignatureError("the token's signature does not match the installation's public key") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise SignatureError(f"the token lacks the {exc.claim!r} claim") from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise SignatureError(f"the token is not valid: {exc.__class__.__name__}") from exc
    if float(claims["exp"]) + leeway < current:
        raise SignatureError("the token expired: reload the app")
    if replay_guard is not None:
        key = "zendesk:" + str(claims.get("jti") or hashlib.sha256(token.encode()).hexdigest())
        replay_guard.check_and_remember(key, float(claims["exp"]) + leeway)
    return claims
