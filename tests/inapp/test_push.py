"""Web Push against a local HTTP receiver standing in for the push service: the request is VAPID-signed and
aes128gcm-encrypted (decrypted here with the subscription's private key); 404/410 delete the subscription;
429 holds it until its Retry-After."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from extensions import credential_cipher
from inapp.push import retry_after_seconds, send_push, subscribe
from inapp.rules import InAppError
from inapp.settings import generate_vapid
from store.models import AuditEvent, PushSubscription
from tests.inapp.conftest import Browser, InAppWorld, Receiver, b64, new_browser
from tests.shared import WORLD_NOW


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _setup(world: InAppWorld, receiver: Receiver, *names: str) -> tuple[str, list[Browser]]:
    browsers = [new_browser(receiver, n) for n in names]
    with world.store.session(world.tenant_id) as s:
        public = generate_vapid(s, credential_cipher(world.app), "mailto:success@alpha.example",
                                "admin@alpha.example", None)
        for b in browsers:
            subscribe(s, "u-ann", b.subscription(), allow_loopback=True)
    return public, browsers


def _send(world: InAppWorld, at: dt.datetime = WORLD_NOW) -> Any:
    with world.store.session(world.tenant_id) as s:
        return send_push(s, credential_cipher(world.app), user_key="u-ann", title="Your trial ends soon",
                         body="Three days left", url="https://app.alpha.example/billing", now=at,
                         allow_loopback=True)


def _subscriptions(world: InAppWorld) -> int:
    with world.store.session(world.tenant_id) as s:
        return int(s.scalar(select(func.count()).select_from(PushSubscription)) or 0)


def test_a_push_is_vapid_signed_and_encrypted_for_the_subscription(world: InAppWorld, receiver: Receiver) -> None:
    public, (browser,) = _setup(world, receiver, "one")
    result = _send(world)
    assert (result.sent, result.removed, result.deferred, result.failed) == (1, 0, 0, 0)
    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    assert got["path"] == "/push/one"
    assert got["headers"]["content-encoding"] == "aes128gcm"
    assert got["headers"]["ttl"] == str(24 * 3600)
    scheme, _, params = got["headers"]["authorization"].partition(" ")
    parts = dict(p.split("=", 1) for p in params.split(","))
    assert scheme == "vapid" and parts["k"] == public
    signer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64(parts["k"]))
    claims = jwt.decode(parts["t"], signer, algorithms=["ES256"], audience=receiver.url)
    assert claims == {"aud": receiver.url, "sub": "mailto:success@alpha.example",
                      "exp": int((WORLD_NOW + dt.timedelta(hours=12)).timestamp())}
    plain = http_ece.decrypt(got["body"], private_key=browser.private_key, auth_secret=browser.auth,
                             version="aes128gcm")
    assert json.loads(plain) == {"title": "Your trial ends soon", "body": "Three days left",
                                 "url": "https://app.alpha.example/billing"}
    assert got["body"].find(b"Three days left") == -1


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_deleted(world: InAppWorld, receiver: Receiver, status: int) -> None:
    _setup(world, receiver, "gone", "alive")
    receiver.answers.append((status, {}))
    result = _send(world)
    assert (result.sent, result.removed) == (1, 1)
    assert [r["path"] for r in receiver.requests] == ["/push/gone", "/push/alive"]
    with world.store.session(world.tenant_id) as s:
        assert list(s.scalars(select(PushSubscription.endpoint))) == [f"{receiver.url}/push/alive"]


def test_429_holds_the_subscription_until_retry_after(world: InAppWorld, receiver: Receiver) -> None:
    _setup(world, receiver, "busy")
    receiver.answers.append((429, {"Retry-After": "120"}))
    first = _send(world)
    assert (first.sent, first.deferred, first.retry_after) == (0, 1, [120])
    with world.store.session(world.tenant_id) as s:
        assert s.scalar(select(PushSubscription.not_before)) == WORLD_NOW + dt.timedelta(seconds=120)
    early = _send(world, WORLD_NOW + dt.timedelta(seconds=60))
    assert (early.sent, early.deferred, len(receiver.requests)) == (0, 1, 1)  # nothing sent while held
    later = _send(world, WORLD_NOW + dt.timedelta(seconds=121))
    assert (later.sent, later.deferred, len(receiver.requests)) == (1, 0, 2)
    assert _subscriptions(world) == 1


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("30", WORLD_NOW) == 30
    assert retry_after_seconds("Mon, 30 Nov 2026 10:05:00 GMT", WORLD_NOW) == 300
    assert retry_after_seconds("soon", WORLD_NOW) == 60
    assert retry_after_seconds(None, WORLD_NOW) == 60


@pytest.mark.parametrize(("endpoint", "loopback"), [
    ("http://push.example.com/x", False), ("https://127.0.0.1/x", False), ("https://10.0.0.8/x", False),
    ("https://localhost/x", False), ("https://169.254.169.254/latest", False), ("ftp://push.example.com/x", False),
    ("http://10.0.0.8/x", True),
])
def test_push_endpoints_must_be_public_https(world: InAppWorld, endpoint: str, loopback: bool) -> None:
    sub = {"endpoint": endpoint, "keys": {"p256dh": b64(b"k" * 65), "auth": b64(b"a" * 16)}}
    with world.store.session(world.tenant_id) as s, pytest.raises(InAppError, match="endpoint must be"):
        subscribe(s, "u-ann", sub, allow_loopback=loopback)
    assert _subscriptions(world) == 0


def test_new_vapid_keys_drop_subscriptions_and_are_audited_without_secrets(world: InAppWorld,
                                                                          receiver: Receiver) -> None:
    first, _ = _setup(world, receiver, "old")
    with world.store.session(world.tenant_id) as s:
        second = generate_vapid(s, credential_cipher(world.app), "mailto:success@alpha.example", "admin", None)
    assert second != first and _subscriptions(world) == 0
    with world.store.session(world.tenant_id) as s:
        audits = [(a.action, a.detail) for a in s.scalars(select(AuditEvent).where(
            AuditEvent.action.like("inapp.%")).order_by(AuditEvent.id))]
    assert audits == [("inapp.secret", {"change": "created"}), ("inapp.origins", {"count": 1}),
                      ("inapp.vapid", {"change": "created", "subscriptions_dropped": 0}),
                      ("inapp.vapid", {"change": "rotated", "subscriptions_dropped": 1})]
    assert world.secret not in json.dumps([d for _, d in audits])
