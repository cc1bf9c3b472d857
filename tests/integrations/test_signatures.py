"""Signature verifiers with real keys and secrets made here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from integrations.errors import SignatureError
from integrations.hubspot.signatures import verify_hubspot_v3
from integrations.replay import MemoryReplayGuard
from integrations.salesforce.signatures import verify_canvas_signed_request
from integrations.zendesk.signatures import verify_zendesk_signed_url

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUB = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                                    ).decode()
AUD = "https://acme.zendesk.com/api/v2/apps/installations/7.json"
ISS = "acme.zendesk.com"


def _jwt(**over: object) -> str:
    claims = {"iss": ISS, "aud": AUD, "exp": int(time.time()) + 60, "jti": "j1", **over}
    return jwt.encode(claims, KEY, algorithm="RS256")


def test_zendesk_valid() -> None:
    assert verify_zendesk_signed_url(_jwt(), public_key_pem=PUB, audience=AUD, issuer=ISS)["iss"] == ISS


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        (lambda: _jwt(exp=int(time.time()) - 100), "expired"),
        (lambda: _jwt(aud="https://other.zendesk.com/x"), "audience"),
        (lambda: _jwt(iss="evil.zendesk.com"), "another zendesk"),
        (lambda: jwt.encode({"iss": ISS, "aud": AUD, "exp": int(time.time()) + 60}, "secret", algorithm="HS256"),
         "rs256"),
        (lambda: jwt.encode({"iss": ISS, "aud": AUD, "exp": int(time.time()) + 60},
                            rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256"),
         "signature"),
        (lambda: jwt.encode({"iss": ISS, "aud": AUD}, KEY, algorithm="RS256"), "'exp'"),
        (lambda: "a.b", "not a jwt"),
    ],
)
def test_zendesk_rejections(token: object, fragment: str) -> None:
    with pytest.raises(SignatureError) as info:
        verify_zendesk_signed_url(token(), public_key_pem=PUB, audience=AUD, issuer=ISS)  # type: ignore[operator]
    assert fragment in str(info.value).lower()


def test_zendesk_replay() -> None:
    guard = MemoryReplayGuard()
    token = _jwt(jti="once")
    verify_zendesk_signed_url(token, public_key_pem=PUB, audience=AUD, issuer=ISS, replay_guard=guard)
    with pytest.raises(SignatureError, match="replayed"):
        verify_zendesk_signed_url(token, public_key_pem=PUB, audience=AUD, issuer=ISS, replay_guard=guard)


def _canvas(secret: str, issued: float | None = None, algorithm: str = "HMACSHA256") -> str:
    ctx = {"algorithm": algorithm, "issuedAt": int(issued if issued is not None else time.time()),
           "context": {"environment": {"record": {"Id": "001A"}}}}
    enc = base64.b64encode(json.dumps(ctx).encode()).decode()
    sig = base64.b64encode(hmac.new(secret.encode(), enc.encode(), hashlib.sha256).digest()).decode()
    return f"{sig}.{enc}"


def test_canvas_valid_and_rejections() -> None:
    ctx = verify_canvas_signed_request(_canvas("s3cret"), "s3cret")
    assert ctx["context"]["environment"]["record"]["Id"] == "001A"
    with pytest.raises(SignatureError, match="does not match"):
        verify_canvas_signed_request(_canvas("guess"), "s3cret")
    with pytest.raises(SignatureError, match="too old"):
        verify_canvas_signed_request(_canvas("s3cret", issued=time.time() - 3600), "s3cret")
    with pytest.raises(SignatureError, match="unsupported algorithm"):
        verify_canvas_signed_request(_canvas("s3cret", algorithm="HMACSHA1"), "s3cret")
    with pytest.raises(SignatureError, match="malformed"):
        verify_canvas_signed_request("no-dot-here", "s3cret")
    tampered = _canvas("s3cret")
    sig, _enc = tampered.split(".", 1)
    other = base64.b64encode(json.dumps({"algorithm": "HMACSHA256", "context": {}}).encode()).decode()
    with pytest.raises(SignatureError, match="does not match"):
        verify_canvas_signed_request(f"{sig}.{other}", "s3cret")


def _hs(method: str, uri: str, body: bytes, ts: int, secret: str = "cs") -> str:
    raw = method.encode() + uri.encode() + body + str(ts).encode()
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def test_hubspot_v3() -> None:
    ts = int(time.time() * 1000)
    uri = "https://canary.example/widgets/hubspot/card?companyId=5&portalId=9"
    verify_hubspot_v3("GET", uri, b"", str(ts), _hs("GET", uri, b"", ts), "cs")
    # percent-encoded characters in the URI are decoded before signing, as HubSpot does
    encoded = "https://canary.example/widgets/hubspot/card?q=a%3Ab"
    verify_hubspot_v3("GET", encoded, b"", str(ts), _hs("GET", "https://canary.example/widgets/hubspot/card?q=a:b",
                                                        b"", ts), "cs")
    with pytest.raises(SignatureError, match="does not match"):
        verify_hubspot_v3("POST", uri, b"{}", str(ts), _hs("POST", uri, b"{ }", ts), "cs")
    old = ts - 301_000
    with pytest.raises(SignatureError, match="older than 5 minutes"):
        verify_hubspot_v3("GET", uri, b"", str(old), _hs("GET", uri, b"", old), "cs")
    guard = MemoryReplayGuard()
    sig = _hs("GET", uri, b"", ts)
    verify_hubspot_v3("GET", uri, b"", str(ts), sig, "cs", replay_guard=guard)
    with pytest.raises(SignatureError, match="replayed"):
        verify_hubspot_v3("GET", uri, b"", str(ts), sig, "cs", replay_guard=guard)
