"""Shared machinery of the emulators: call accounting and serving a WSGI app on loopback.

Every emulator records what it served in a `CallStats` so that tests and benchmarks can
count API calls exactly (``GET /_sandbox/stats``). `LoopbackServer` runs any WSGI app
on 127.0.0.1 in a background thread, over TLS with a certificate made at start-up when
asked (simple-salesforce only speaks https).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import ssl
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

STATS_PATH = "/_sandbox/stats"
TASK_DESK_PATH = "/_sandbox/tasks"
"""The CRM emulators' page where a person works Canary's tasks (`sandbox.task_desk`)."""


def utc_now() -> dt.datetime:
    """The default clock of every emulator: the wall clock, in UTC."""
    return dt.datetime.now(dt.UTC)


class CallStats:
    """Thread-safe counters of one emulator's traffic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls: Counter[tuple[str, str]] = Counter()
            self._returned = 0
            self._written = 0

    def record_call(self, method: str, endpoint: str) -> None:
        """Count one call; ``endpoint`` is the route pattern, not the concrete URL."""
        with self._lock:
            self._calls[(method.upper(), endpoint)] += 1

    def add_returned(self, records: int) -> None:
        with self._lock:
            self._returned += records

    def add_written(self, records: int) -> None:
        with self._lock:
            self._written += records

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            calls = [
                {"method": m, "endpoint": e, "count": n} for (m, e), n in sorted(self._calls.items())
            ]
            return {
                "calls_total": sum(self._calls.values()),
                "calls": calls,
                "records_returned": self._returned,
                "records_written": self._written,
            }

    def calls(self, method: str | None = None, endpoint: str | None = None) -> int:
        """Calls matching an optional method and endpoint pattern."""
        with self._lock:
            return sum(
                n
                for (m, e), n in self._calls.items()
                if (method is None or m == method.upper()) and (endpoint is None or e == endpoint)
            )


class Emulator:
    """What the three vendor emulators share: call accounting, the injectable clock, the WSGI entry.

    A subclass answers one request in ``_respond``; ``GET /_sandbox/stats`` (the call accounting,
    not a vendor route and never counted) is answered here for all three.
    """

    name = ""

    def __init__(self, stats: CallStats | None, clock: Callable[[], dt.datetime] | None) -> None:
        self.stats = stats or CallStats()
        self.clock: Callable[[], dt.datetime] = clock or utc_now

    @property
    def wsgi_app(self) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
        return self._wsgi

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.rstrip("/") == STATS_PATH:
            response = Response(json.dumps(self.stats.snapshot()), mimetype="application/json")
        elif request.path.rstrip("/") == TASK_DESK_PATH:
            from sandbox.task_desk import task_desk

            response = task_desk(self.name, self, request)
        else:
            response = self._respond(request)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        raise NotImplementedError


@dataclass(frozen=True)
class TLSMaterial:
    cert_path: str
    key_path: str


def make_self_signed_cert(directory: str | None = None) -> TLSMaterial:
    """A throwaway certificate for 127.0.0.1/localhost, written as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "canary-sandbox")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Ten years either side: a loopback certificate made afresh for each run, wide enough that a
        # test may run the sandbox under a faked wall clock while OpenSSL checks against the real one.
        .not_valid_before(now - dt.timedelta(days=3650))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = directory or tempfile.mkdtemp(prefix="canary-sandbox-tls-")
    cert_path = os.path.join(directory, "sandbox-cert.pem")
    key_path = os.path.join(directory, "sandbox-key.pem")
    with open(cert_path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return TLSMaterial(cert_path, key_path)


class _QuietRequestHandler(WSGIRequestHandler):
    """No access-log line per request: a sync makes thousands, and errors still reach the log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class LoopbackServer:
    """Serve a WSGI app on 127.0.0.1 in a daemon thread; ``port=0`` picks a free port."""

    def __init__(self, app: Any, *, port: int = 0, tls: TLSMaterial | None = None) -> None:
        ssl_context = None
        if tls is not None:
            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_context.load_cert_chain(tls.cert_path, tls.key_path)
        self.tls = tls
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", port, app, threaded=True, ssl_context=ssl_context,
            request_handler=_QuietRequestHandler
        )
        self.port: int = self._server.server_port
        # A short poll makes stop() return in ~50 ms instead of serve_forever's default 0.5 s.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
