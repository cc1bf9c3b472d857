"""A real SMTP server on loopback for tests and benches (aiosmtpd): it records what it accepted and can be
told to answer DATA with given replies, to hold a message before answering, to require STARTTLS with a
self-signed certificate made here, and to check a user name and password."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import default
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Inbox:
    """The aiosmtpd handler. ``replies``: DATA answers to give first, in order (then 250)."""

    replies: list[str] = field(default_factory=list)
    rcpt_replies: list[str] = field(default_factory=list)
    hold: threading.Event | None = None
    keep: bool = True
    """False: count messages without keeping their bytes (benches)."""
    accepted: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    data_calls: int = 0
    count: int = 0
    got_one: threading.Event = field(default_factory=threading.Event)
    tls_sessions: int = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.rcpt_replies:
            reply = self.rcpt_replies.pop(0)
            if not reply.startswith("250"):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_calls += 1
        if self.replies:
            reply = self.replies.pop(0)
            if not reply.startswith("250"):
                return reply
        if session.ssl is not None:
            self.tls_sessions += 1
        self.count += 1
        if self.keep:
            content = envelope.original_content or envelope.content
            self.accepted.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  content if isinstance(content, bytes) else content.encode()))
        self.got_one.set()
        while self.hold is not None and not self.hold.is_set():
            await asyncio.sleep(0.01)
        return "250 OK queued"

    def messages(self) -> list[Message]:
        return [message_from_bytes(raw, policy=default) for _, _, raw in self.accepted]


VALID_FROM = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
VALID_UNTIL = dt.datetime(2099, 12, 31, tzinfo=dt.UTC)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, valid from 2000 to 2099: OpenSSL checks it against the real clock,
    which no test pins, while the tests that make it often run under a pinned one (`tests.shared.pinned_clock`);
    so it is dated without reading any clock."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(VALID_FROM).not_valid_after(VALID_UNTIL)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextmanager
def smtp_server(inbox: Inbox | None = None, *, tls: tuple[Path, Path] | None = None,
                login: tuple[str, str] | None = None) -> Iterator[tuple[Inbox, int]]:
    """Start the server on a free loopback port; with ``tls`` (cert, key) it offers and requires STARTTLS;
    with ``login`` it requires AUTH with that user name and password (over TLS)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    inbox = inbox or Inbox()
    options: dict[str, Any] = {}
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        options.update(tls_context=context, require_starttls=True)
    if login is not None:
        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == login
            return AuthResult(success=ok, handled=False)

        options.update(authenticator=authenticator, auth_required=True, auth_require_tls=tls is not None)
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield inbox, port
    finally:
        if inbox.hold is not None:
            inbox.hold.set()
        controller.stop()
