"""One workspace (``alpha``) on a migrated SQLite file: an in-app secret, one allowed origin, and one product
account with two end users (``u-ann`` and ``u-bob``) the collector knows. Every test runs at `WORLD_NOW`."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.shared import WORLD_NOW, pinned_clock

ORIGIN = "https://app.alpha.example"
GROUP = "acct-alpha-1"


@dataclass
class InAppWorld:
    app: Any
    tenant_id: int
    account_id: int
    secret: str

    @property
    def store(self) -> Any:
        from extensions import canary_store

        return canary_store(self.app)

    def headers(self, user: str, *, as_user: str | None = None, origin: str | None = ORIGIN) -> dict[str, str]:
        """The snippet's headers for ``user``, signed as the customer's server signs ``as_user`` (default: user)."""
        from inapp.rules import user_hash

        found = {"X-Canary-User": user, "X-Canary-User-Hash": user_hash(self.secret, as_user or user)}
        if origin:
            found["Origin"] = origin
        return found


@pytest.fixture(autouse=True)
def _pinned() -> Iterator[None]:
    with pinned_clock(WORLD_NOW):
        yield


@pytest.fixture
def world(app_factory: Any) -> InAppWorld:
    from collector.ingest import ingest
    from collector.messages import parse_batch
    from extensions import canary_store, credential_cipher
    from inapp.settings import rotate_secret, save_origins
    from store.models import SourceLink
    from store.tenants import create_tenant

    app = app_factory()
    store = canary_store(app)
    with store.session() as s:
        tenant, _ = create_tenant(s, "alpha", "Alpha")
    with store.session(tenant.id) as s:
        secret = rotate_secret(s, credential_cipher(app), "admin@alpha.example", None, WORLD_NOW)
        save_origins(s, ORIGIN, "admin@alpha.example", None)
    users = ("u-ann", "u-bob")
    batch = {"batch": [{"type": "group", "messageId": f"g-{u}", "userId": u, "groupId": GROUP,
                        "traits": {"name": "Alpha Co"}, "timestamp": WORLD_NOW.isoformat()} for u in users]}
    good, bad = parse_batch(batch, WORLD_NOW)
    assert ingest(store, tenant.id, good, bad).accepted == 2
    with store.session(tenant.id) as s:
        from sqlalchemy import select

        account_id = s.scalar(select(SourceLink.account_id).where(SourceLink.external_id == GROUP))
    assert account_id is not None
    return InAppWorld(app, tenant.id, account_id, secret)


def queue(world: InAppWorld, user: str, ref: str, *, kind: str = "banner", title: str | None = None,
          cta: bool = True) -> int:
    from inapp.messages import queue_message

    with world.store.session(world.tenant_id) as s:
        return queue_message(s, tenant_id=world.tenant_id, user_key=user, account_id=world.account_id,
                             title=title or f"{ref} for {user}", body="Your trial ends in 3 days.",
                             cta_label="Upgrade" if cta else None,
                             cta_url="https://app.alpha.example/billing" if cta else None, kind=kind, ref=ref)


# Web Push: a local receiver standing in for the push service, and what a browser keeps for a subscription.

def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


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
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64(public), "auth": b64(self.auth)}}


def new_browser(receiver: Receiver, name: str) -> Browser:
    return Browser(ec.generate_private_key(ec.SECP256R1()), os.urandom(16), f"{receiver.url}/push/{name}")
