"""Web Push against a local HTTP receiver standing in for the push service: the request is VAPID-signed and
aes128gcm-encrypted (decrypted here with the subscription's private key); 404/410 delete the subscription;
429 holds it until its Retry-After."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from extensions import credential_cipher
from inapp.push import retry_after_seconds, send_push, subscribe
from inapp.rules import InAppError
from inapp.settings import generate_vapid
from store.models import AuditEvent, PushSubscription
from tests.inapp.conftest import InAppWorld
from tests.shared import WORLD_NOW


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Receiver:
    """A push service on 127.0.0.1: records every request and answers from ``answers`` (then 201)."""

    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            found.requests.append({"path": self.path, "headers": headers, "body": body})
            status, answer = found.answers.pop(0) if found.answers else (201, {})
            self.send_response(status)
            for name, value in answer.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Browser:
    """What a browser keeps for one subscription: its private key and auth secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    endpoint: str

    def subscription(self) -> dict[str, Any]:
        public = self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                            serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "keys": {"p256dh": _b64(public), "auth": _b64(self.auth)}}


def _browser(receiver: Receiver, name: str) -> Browser:
    return Browser(ec.generate_private_key(ec.SECP256R1()), os.urandom(16), f"{receiver.url}/push/{name}")


def _setup(world: InAppWorld, receiver: Receiver, *names: str) -> tuple[str, list[Browser]]:
    browsers = [_browser(receiver, n) for n in names]
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
    sub = {"endpoint": endpoint, "keys": {"p256dh": _b64(b"k" * 65), "auth": _b64(b"a" * 16)}}
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
