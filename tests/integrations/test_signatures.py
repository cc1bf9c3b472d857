"""Real signatures made in the test: RSA key pair (Zendesk), consumer secret (Canvas), client secret (HubSpot)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from integrations.errors import SignatureError
from integrations.hubspot.signatures import hubspot_signed_uri, verify_hubspot_v3
from integrations.replay import MemoryReplayGuard
from integrations.salesforce.signatures import verify_canvas_signed_request
from integrations.zendesk.signatures import verify_zendesk_signed_url

NOW = 1_790_000_000.0
AUD = "https://acme.zendesk.com/api/v2/apps/installations/4242.json"
ISS = "acme.zendesk.com"


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[Any, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, public_pem


@pytest.fixture(scope="module")
def other_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def zendesk_token(key: Any, **overrides: Any) -> str:
    claims: dict[str, Any] = {"iss": ISS, "aud": AUD, "exp": NOW + 300, "iat": NOW, "qsh": "x"}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm="RS256")


def verify_zd(token: str, public_pem: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("replay_guard", MemoryReplayGuard(clock=lambda: NOW))
    kwargs.setdefault("replay_scope", 1)
    return verify_zendesk_signed_url(token, public_key_pem=public_pem, audience=AUD, issuer=ISS, now=NOW, **kwargs)


def verify_canvas(signed: str, secret: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("replay_guard", MemoryReplayGuard(clock=lambda: NOW))
    kwargs.setdefault("replay_scope", 1)
    return verify_canvas_signed_request(signed, secret, **kwargs)


def verify_hs(*args: Any, **kwargs: Any) -> None:
    kwargs.setdefault("replay_guard", MemoryReplayGuard(clock=lambda: NOW))
    kwargs.setdefault("replay_scope", 1)
    verify_hubspot_v3(*args, **kwargs)


# --- Zendesk ------------------------------------------------------------------------


def test_zendesk_valid_token_returns_claims(rsa_keys: tuple[Any, str]) -> None:
    key, public_pem = rsa_keys
    claims = verify_zd(zendesk_token(key, jti="abc"), public_pem)
    assert claims["iss"] == ISS
    assert claims["aud"] == AUD
    assert claims["jti"] == "abc"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"exp": NOW - 120}, "token expired"),
        ({"aud": "https://acme.zendesk.com/api/v2/apps/installations/1.json"}, "wrong audience"),
        ({"iss": "evil.zendesk.com"}, "wrong issuer"),
        ({"exp": None}, "lacks the 'exp' claim"),
        ({"aud": None}, "lacks the 'aud' claim"),
        ({"nbf": NOW + 3600}, "not valid yet"),
    ],
)
def test_zendesk_rejects_bad_claims(rsa_keys: tuple[Any, str], overrides: dict[str, Any], message: str) -> None:
    key, public_pem = rsa_keys
    with pytest.raises(SignatureError, match=message):
        verify_zd(zendesk_token(key, **overrides), public_pem)


def test_zendesk_leeway_accepts_slightly_expired(rsa_keys: tuple[Any, str]) -> None:
    key, public_pem = rsa_keys
    assert verify_zd(zendesk_token(key, exp=NOW - 10), public_pem, leeway=30)["iss"] == ISS


def test_zendesk_forged_with_another_key(rsa_keys: tuple[Any, str], other_key: Any) -> None:
    _, public_pem = rsa_keys
    with pytest.raises(SignatureError, match="signature does not match"):
        verify_zd(zendesk_token(other_key), public_pem)


def test_zendesk_tampered_payload(rsa_keys: tuple[Any, str]) -> None:
    key, public_pem = rsa_keys
    header, _, signature = zendesk_token(key).split(".")
    forged = base64.urlsafe_b64encode(json.dumps(
        {"iss": ISS, "aud": AUD, "exp": NOW + 9999}).encode()).rstrip(b"=").decode()
    with pytest.raises(SignatureError, match="signature does not match"):
        verify_zd(f"{header}.{forged}.{signature}", public_pem)


def test_zendesk_rejects_alg_none(rsa_keys: tuple[Any, str]) -> None:
    _, public_pem = rsa_keys
    token = jwt.encode({"iss": ISS, "aud": AUD, "exp": NOW + 300}, "", algorithm="none")
    with pytest.raises(SignatureError, match="must be signed with RS256, not 'none'"):
        verify_zd(token, public_pem)


def test_zendesk_rejects_hs256_key_confusion(rsa_keys: tuple[Any, str]) -> None:
    """The classic attack: HMAC-sign with the (public) PEM as the secret."""
    _, public_pem = rsa_keys
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps({"iss": ISS, "aud": AUD, "exp": NOW + 300}).encode()).rstrip(b"=")
    mac = hmac.new(public_pem.encode(), header + b"." + body, hashlib.sha256).digest()
    token = (header + b"." + body + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()
    with pytest.raises(SignatureError, match="must be signed with RS256, not 'HS256'"):
        verify_zd(token, public_pem)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b", "a.b.c", "...."])
def test_zendesk_garbage_is_a_clear_error(rsa_keys: tuple[Any, str], token: str) -> None:
    with pytest.raises(SignatureError, match="not a JWT"):
        verify_zd(token, rsa_keys[1])


def test_zendesk_replayed_token(rsa_keys: tuple[Any, str]) -> None:
    key, public_pem = rsa_keys
    guard = MemoryReplayGuard(clock=lambda: NOW)
    token = zendesk_token(key)
    verify_zd(token, public_pem, replay_guard=guard)
    with pytest.raises(SignatureError, match="request replayed"):
        verify_zd(token, public_pem, replay_guard=guard)
    assert len(guard) == 1


def test_zendesk_error_never_contains_key_material(rsa_keys: tuple[Any, str], other_key: Any) -> None:
    _, public_pem = rsa_keys
    with pytest.raises(SignatureError) as caught:
        verify_zd(zendesk_token(other_key), public_pem)
    assert "BEGIN" not in str(caught.value)
    assert public_pem.splitlines()[1] not in str(caught.value)


# --- Salesforce Canvas --------------------------------------------------------------

SECRET = "8412378642119873641"


def canvas_request(secret: str = SECRET, **overrides: Any) -> str:
    context: dict[str, Any] = {
        "algorithm": "HMACSHA256", "issuedAt": int(NOW * 1000) - 5_000, "userId": "005x0000001SyyEAAS",
        "client": {"instanceUrl": "https://acme.my.salesforce.com", "oauthToken": "00Dx!AQ4AQ"},
        "context": {"environment": {"record": {"Id": "001x00000033NnBAAU", "attributes": {"type": "Account"}}},
                    "organization": {"organizationId": "00Dx00000001hxyEAA"}},
    }
    context.update(overrides)
    encoded = base64.b64encode(json.dumps(context).encode()).decode()
    signature = base64.b64encode(hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).digest()).decode()
    return f"{signature}.{encoded}"


def test_canvas_valid_request_returns_context() -> None:
    context = verify_canvas(canvas_request(), SECRET, now=NOW)
    assert context["context"]["environment"]["record"]["Id"] == "001x00000033NnBAAU"
    assert context["client"]["instanceUrl"] == "https://acme.my.salesforce.com"


@pytest.mark.parametrize(
    ("signed", "message"),
    [
        (canvas_request(secret="another-secret"), "signature does not match"),
        (canvas_request(algorithm="HMACSHA1"), "unsupported algorithm 'HMACSHA1'"),
        (canvas_request(algorithm=None), "unsupported algorithm None"),
        (canvas_request(issuedAt=int(NOW * 1000) - 16 * 60_000), "signed request too old"),
        (canvas_request(issuedAt=int(NOW) - 3600), "signed request too old"),
        (canvas_request(issuedAt=int(NOW * 1000) + 3_600_000), "in the future"),
        ("no-dot-here", "malformed signed_request"),
        ("!!!.e30=", "signature is not base64"),
        ("", "malformed signed_request"),
    ],
)
def test_canvas_rejections(signed: str, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_canvas(signed, SECRET, now=NOW)


def test_canvas_tampered_context_is_rejected() -> None:
    signature, _ = canvas_request().split(".", 1)
    other = canvas_request(userId="005ATTACKER").split(".", 1)[1]
    with pytest.raises(SignatureError, match="signature does not match"):
        verify_canvas(f"{signature}.{other}", SECRET, now=NOW)


@pytest.mark.parametrize("issued_at", [None, "1790000000", True, 0, -5])
def test_canvas_without_a_usable_issued_at_is_refused(issued_at: Any) -> None:
    """Before: no issuedAt never expired, so the request was good forever once the guard forgot it."""
    context = {"issuedAt": issued_at} if issued_at is not None else {}
    signed = canvas_request(**context) if context else _canvas_without_issued_at()
    with pytest.raises(SignatureError, match="has no issuedAt"):
        verify_canvas(signed, SECRET, now=NOW)


def _canvas_without_issued_at() -> str:
    context = {"algorithm": "HMACSHA256", "userId": "005x0000001SyyEAAS"}
    encoded = base64.b64encode(json.dumps(context).encode()).decode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), encoded.encode(), hashlib.sha256).digest()).decode()
    return f"{signature}.{encoded}"


@pytest.mark.parametrize(("ahead_s", "accepted"), [(0, True), (59, True), (61, False), (14 * 60, False)])
def test_canvas_future_issued_at_beyond_clock_skew_is_refused(ahead_s: int, accepted: bool) -> None:
    signed = canvas_request(issuedAt=int((NOW + ahead_s) * 1000))
    if accepted:
        assert verify_canvas(signed, SECRET, now=NOW)["userId"] == "005x0000001SyyEAAS"
    else:
        with pytest.raises(SignatureError, match="in the future"):
            verify_canvas(signed, SECRET, now=NOW)


def test_canvas_replayed_request() -> None:
    guard = MemoryReplayGuard(clock=lambda: NOW)
    signed = canvas_request()
    verify_canvas(signed, SECRET, now=NOW, replay_guard=guard)
    with pytest.raises(SignatureError, match="request replayed"):
        verify_canvas(signed, SECRET, now=NOW, replay_guard=guard)


def test_canvas_error_never_contains_the_secret() -> None:
    with pytest.raises(SignatureError) as caught:
        verify_canvas(canvas_request(secret="x"), SECRET, now=NOW)
    assert SECRET not in str(caught.value)


# --- HubSpot v3 ---------------------------------------------------------------------

CLIENT_SECRET = "hs-client-secret-0b1c"
CARD_URL = "https://canary.example.com/widgets/hubspot/card?companyId=123&portalId=99"


def hubspot_sign(method: str, uri: str, body: bytes, timestamp: str, secret: str = CLIENT_SECRET) -> str:
    """Independent of the module under test: HubSpot's documented recipe, spelled out."""
    source = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def ts(seconds: float) -> str:
    return str(int(seconds * 1000))


def test_hubspot_valid_get() -> None:
    stamp = ts(NOW - 10)
    verify_hs("GET", CARD_URL, b"", stamp, hubspot_sign("GET", CARD_URL, b"", stamp), CLIENT_SECRET, now=NOW)


def test_hubspot_valid_post_with_body() -> None:
    body = b'[{"eventId":1,"objectId":123,"subscriptionType":"company.propertyChange"}]'
    uri = "https://canary.example.com/hooks/hubspot"
    stamp = ts(NOW)
    verify_hs("post", uri, body, stamp, hubspot_sign("POST", uri, body, stamp), CLIENT_SECRET, now=NOW)


@pytest.mark.parametrize(
    ("received", "signed_as"),
    [
        ("https://x.io/card?q=a%3Ab%2Fc%3Fd%40e", "https://x.io/card?q=a:b/c?d@e"),
        ("https://x.io/card?q=%21%24%27%28%29%2A%2C%3B", "https://x.io/card?q=!$'()*,;"),
        ("https://x.io/card?q=a%3ab", "https://x.io/card?q=a:b"),
        ("https://x.io/card?q=a%20b%26c%3Dd%2Be", "https://x.io/card?q=a%20b%26c%3Dd%2Be"),
        ("https://x.io/card?q=%253A", "https://x.io/card?q=%253A"),
    ],
)
def test_hubspot_uri_decoding(received: str, signed_as: str) -> None:
    assert hubspot_signed_uri(received) == signed_as
    stamp = ts(NOW)
    verify_hs("GET", received, b"", stamp, hubspot_sign("GET", signed_as, b"", stamp), CLIENT_SECRET,
                      now=NOW)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"secret": "wrong"}, "signature does not match"),
        ({"body": b'{"companyId":"999"}'}, "signature does not match"),
        ({"method": "DELETE"}, "signature does not match"),
        ({"timestamp": ts(NOW - 301)}, "timestamp older than 5 minutes"),
        ({"timestamp": ts(NOW + 3600)}, "in the future"),
        ({"timestamp": "yesterday"}, "not a number"),
        ({"timestamp": ""}, "missing X-HubSpot"),
        ({"signature": ""}, "missing X-HubSpot"),
    ],
)
def test_hubspot_rejections(change: dict[str, Any], message: str) -> None:
    stamp = change.get("timestamp", ts(NOW))
    signature = change.get("signature", hubspot_sign("GET", CARD_URL, b"", stamp, change.get("secret", CLIENT_SECRET)))
    with pytest.raises(SignatureError, match=message):
        verify_hs(change.get("method", "GET"), CARD_URL, change.get("body", b""), stamp, signature,
                          CLIENT_SECRET, now=NOW)


def test_hubspot_replayed_request() -> None:
    guard = MemoryReplayGuard(clock=lambda: NOW)
    stamp = ts(NOW)
    signature = hubspot_sign("GET", CARD_URL, b"", stamp)
    verify_hs("GET", CARD_URL, b"", stamp, signature, CLIENT_SECRET, now=NOW, replay_guard=guard)
    with pytest.raises(SignatureError, match="request replayed"):
        verify_hs("GET", CARD_URL, b"", stamp, signature, CLIENT_SECRET, now=NOW, replay_guard=guard)


def test_replay_guard_forgets_expired_keys() -> None:
    clock = [NOW]
    guard = MemoryReplayGuard(clock=lambda: clock[0], max_entries=2)
    guard.check_and_remember("a", NOW + 10)
    guard.check_and_remember("b", NOW + 10)
    clock[0] = NOW + 11
    guard.check_and_remember("a", NOW + 30)  # expired: accepted again, and the sweep drops "b"
    assert len(guard) == 1
    with pytest.raises(SignatureError, match="request replayed"):
        guard.check_and_remember("a", NOW + 30)


# --- replay keys: what the vendor signed, per workspace, until the request's own expiry -----


class RecordingGuard(MemoryReplayGuard):
    """A memory guard that also records how long it was asked to remember each key."""

    def __init__(self, clock: Any) -> None:
        super().__init__(clock=clock)
        self.until: list[float] = []

    def check_and_remember(self, key: str, expires_at: float) -> None:
        super().check_and_remember(key, expires_at)
        self.until.append(expires_at)


def test_canvas_replay_is_refused_until_and_after_its_issued_at_window() -> None:
    """Before: 200, then 401, then 200 again at +15 min 20 s (the guard counted from first sight)."""
    clock = [NOW]
    guard = RecordingGuard(clock=lambda: clock[0])
    signed = canvas_request(issuedAt=int(NOW * 1000))
    verify_canvas(signed, SECRET, now=clock[0], replay_guard=guard)
    assert guard.until == [NOW + 15 * 60 + 60]  # issuedAt + window (+ clock skew), not first sight + window
    clock[0] = NOW + 14 * 60
    with pytest.raises(SignatureError, match="request replayed"):
        verify_canvas(signed, SECRET, now=clock[0], replay_guard=guard)
    clock[0] = NOW + 15 * 60 + 20
    with pytest.raises(SignatureError, match="too old"):
        verify_canvas(signed, SECRET, now=clock[0], replay_guard=guard)


def test_canvas_first_seen_late_is_remembered_until_issued_at_plus_window() -> None:
    guard = RecordingGuard(clock=lambda: NOW)
    verify_canvas(canvas_request(issuedAt=int((NOW - 10 * 60) * 1000)), SECRET, now=NOW, replay_guard=guard)
    assert guard.until == [NOW - 10 * 60 + 15 * 60 + 60]


def _respell(signature_b64: str) -> list[str]:
    """Other base64 spellings of the same digest bytes that the Canvas decoder accepts."""
    urlsafe = signature_b64.replace("+", "-").replace("/", "_")
    return [signature_b64.rstrip("="), urlsafe, urlsafe.rstrip("="), signature_b64 + "==", f" {signature_b64} "]


def test_canvas_re_encoded_signature_is_the_same_replay_key() -> None:
    signed = canvas_request()
    signature, encoded = signed.split(".", 1)
    variants = _respell(signature)
    assert len(set(variants)) == 5 and signature not in variants
    guard = MemoryReplayGuard(clock=lambda: NOW)
    verify_canvas(signed, SECRET, now=NOW, replay_guard=guard)
    for variant in variants:
        assert verify_canvas(f"{variant}.{encoded}", SECRET, now=NOW)["userId"]  # each verifies on its own
        with pytest.raises(SignatureError, match="request replayed"):
            verify_canvas(f"{variant}.{encoded}", SECRET, now=NOW, replay_guard=guard)
    assert len(guard) == 1


def test_canvas_same_request_is_new_in_another_workspace() -> None:
    guard = MemoryReplayGuard(clock=lambda: NOW)
    signed = canvas_request()
    verify_canvas(signed, SECRET, now=NOW, replay_guard=guard, replay_scope=1)
    verify_canvas(signed, SECRET, now=NOW, replay_guard=guard, replay_scope=2)
    with pytest.raises(SignatureError, match="request replayed"):
        verify_canvas(signed, SECRET, now=NOW, replay_guard=guard, replay_scope=2)


def test_canvas_nested_context_is_refused_cleanly() -> None:
    deep = "[" * 60_000 + "]" * 60_000
    encoded = base64.b64encode(('{"algorithm":"HMACSHA256","x":' + deep + "}").encode()).decode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), encoded.encode(), hashlib.sha256).digest()).decode()
    with pytest.raises(SignatureError, match="malformed signed_request"):
        verify_canvas(f"{digest}.{encoded}", SECRET, now=NOW, max_age_s=10**12)


def test_zendesk_token_with_appended_padding_is_the_same_replay_key(rsa_keys: tuple[Any, str]) -> None:
    """Before: without jti the key hashed the token text, so ``token + '=='`` got a second 200."""
    key, public_pem = rsa_keys
    token = zendesk_token(key, sub="user:42")
    padding = "=="  # completes the RS256 signature's base64 group: PyJWT decodes the same bytes
    assert verify_zd(token + padding, public_pem)["sub"] == "user:42"  # the decoder accepts the variant
    guard = MemoryReplayGuard(clock=lambda: NOW)
    verify_zd(token, public_pem, replay_guard=guard)
    with pytest.raises(SignatureError, match="request replayed"):
        verify_zd(token + padding, public_pem, replay_guard=guard)


def test_zendesk_key_is_the_jti_when_present(rsa_keys: tuple[Any, str]) -> None:
    key, public_pem = rsa_keys
    guard = RecordingGuard(clock=lambda: NOW)
    verify_zd(zendesk_token(key, jti="same", iat=NOW), public_pem, replay_guard=guard)
    with pytest.raises(SignatureError, match="request replayed"):  # another token, same jti
        verify_zd(zendesk_token(key, jti="same", iat=NOW + 1), public_pem, replay_guard=guard)
    assert guard.until == [NOW + 300 + 30]  # exp + leeway


def test_zendesk_tokens_without_jti_differ_by_their_claims(rsa_keys: tuple[Any, str]) -> None:
    key, public_pem = rsa_keys
    guard = MemoryReplayGuard(clock=lambda: NOW)
    verify_zd(zendesk_token(key, sub="user:1"), public_pem, replay_guard=guard)
    verify_zd(zendesk_token(key, sub="user:2"), public_pem, replay_guard=guard)
    verify_zd(zendesk_token(key, sub="user:1", iat=NOW + 1), public_pem, replay_guard=guard)
    assert len(guard) == 3


def test_zendesk_two_workspaces_sharing_a_jti_both_pass(rsa_keys: tuple[Any, str], other_key: Any) -> None:
    """Before: workspace A's token with jti=X made workspace B's own valid token with jti=X fail."""
    key, public_pem = rsa_keys
    other_pem = other_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    guard = MemoryReplayGuard(clock=lambda: NOW)
    verify_zd(zendesk_token(key, jti="X"), public_pem, replay_guard=guard, replay_scope=1)
    assert verify_zd(zendesk_token(other_key, jti="X"), other_pem, replay_guard=guard, replay_scope=2)["jti"] == "X"
    with pytest.raises(SignatureError, match="request replayed"):
        verify_zd(zendesk_token(other_key, jti="X"), other_pem, replay_guard=guard, replay_scope=2)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize("part", ["header", "claims"])
def test_zendesk_deeply_nested_token_is_refused_cleanly(rsa_keys: tuple[Any, str], part: str) -> None:
    deep = ("[" * 55_000 + "]" * 55_000).encode()
    header = _b64url(b'{"alg":"RS256","x":' + deep + b"}") if part == "header" else _b64url(b'{"alg":"RS256"}')
    claims = _b64url(b'{"iss":"acme.zendesk.com","x":' + deep + b"}") if part == "claims" else _b64url(b"{}")
    with pytest.raises(SignatureError, match="not a JWT"):
        verify_zd(f"{header}.{claims}.c2ln", rsa_keys[1])


@pytest.mark.parametrize("stamp", ["²", "１７９００００００００００", "1.7e12", "-1", " 1790000000000"])
def test_hubspot_timestamp_that_is_not_ascii_digits_is_refused(stamp: str) -> None:
    """Before: ``²`` passed ``isdigit()`` and ``int()`` raised: an unauthenticated 500."""
    with pytest.raises(SignatureError, match="not a number of milliseconds"):
        verify_hs("GET", CARD_URL, b"", stamp, "c2lnbmF0dXJl", CLIENT_SECRET, now=NOW)


def test_hubspot_same_request_is_new_in_another_workspace_and_equivalent_uris_share_a_key() -> None:
    guard = RecordingGuard(clock=lambda: NOW)
    stamp = ts(NOW)
    received, signed_as = "https://x.io/card?q=a%3Ab", "https://x.io/card?q=a:b"
    signature = hubspot_sign("GET", signed_as, b"", stamp)
    verify_hs("GET", received, b"", stamp, signature, CLIENT_SECRET, now=NOW, replay_guard=guard, replay_scope=1)
    verify_hs("GET", received, b"", stamp, signature, CLIENT_SECRET, now=NOW, replay_guard=guard, replay_scope=2)
    with pytest.raises(SignatureError, match="request replayed"):
        verify_hs("GET", signed_as, b"", stamp, signature, CLIENT_SECRET, now=NOW, replay_guard=guard,
                  replay_scope=1)
    assert guard.until == [NOW + 300 + 60] * 2
