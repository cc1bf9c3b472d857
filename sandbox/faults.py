"""Seeded fault injection for the emulators: a WSGI middleware in front of any of them.

`FaultInjector` answers a reproducible share of calls with a fault instead of the real
answer. The n-th call (counted in arrival order) is faulted or not by the same seeded draw
every run, so a sequential client sees exactly the same faults for the same seed. Kinds:

* ``"429"``, ``"500"``, ``"503"``: the vendor's own body and headers, built by the emulator's
  ``fault_response(kind, retry_after)`` (429 carries ``Retry-After``);
* ``"slow"``: sleep ``slow_seconds``, then pass the call through unchanged;
* ``"drop"``: close the connection without any response. The middleware sets ``SO_LINGER``
  to zero on ``environ["werkzeug.socket"]`` and raises `ConnectionAbortedError`, which
  werkzeug's request handler treats as a dropped connection (no 500 page, no traceback);
  the socket is then closed with a reset and the client sees a connection error
  (``requests.exceptions.ConnectionError``), over plain HTTP and TLS alike.
* ``"lost"`` (only when asked for: not among the default kinds): the call is *processed* — the
  vendor has written what it was asked to — and then the connection is dropped before the answer
  goes out, as when a timeout or a network fault hits after the vendor committed. A client that
  simply sends a create again makes a duplicate.

``/_sandbox/*`` routes (stats, test helpers) are never faulted. What was injected is served
as JSON at ``GET /_sandbox/faults`` and kept in `FaultInjector.injected`.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

FAULT_KINDS: tuple[str, ...] = ("429", "500", "503", "slow", "drop")
"""The default kinds."""
ALL_FAULT_KINDS: tuple[str, ...] = (*FAULT_KINDS, "lost")
STATUS_KINDS = frozenset({"429", "500", "503"})
SANDBOX_PREFIX = "/_sandbox/"


class DroppedConnection(ConnectionAbortedError):
    """Raised inside the server to abandon a request without answering it."""


class FaultInjector:
    """WSGI middleware answering a seeded share ``rate`` of calls with faults of ``kinds``."""

    def __init__(
        self,
        app: WSGIApplication,
        *,
        rate: float,
        seed: int,
        fault_response: Callable[[str, int], Response],
        kinds: Iterable[str] = FAULT_KINDS,
        slow_seconds: float = 2.0,
        retry_after: int = 1,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate}")
        self.kinds: tuple[str, ...] = tuple(kinds)
        unknown = [k for k in self.kinds if k not in ALL_FAULT_KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"unknown fault kinds {unknown}; choose from {list(ALL_FAULT_KINDS)}")
        self.app = app
        self.rate = rate
        self.seed = seed
        self.fault_response = fault_response
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._random = random.Random(f"canary-faults:{seed}")
        self.calls = 0
        self.injected: Counter[str] = Counter()
        self.log: list[tuple[int, str, str]] = []
        """(call number, path, kind) of each injected fault, in order."""
        self.only: tuple[tuple[str, str], ...] = ()
        """(method, path ending) pairs: when set, only calls that match one are faulted (a test aiming at
        one endpoint, e.g. ``("POST", "/batch/create")``)."""

    def decide(self) -> str | None:
        """The fault for the next call, or None; advances the seeded sequence by one call."""
        with self._lock:
            self.calls += 1
            if self._random.random() >= self.rate:
                return None
            return self.kinds[int(self._random.random() * len(self.kinds))]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(SANDBOX_PREFIX):
            if path == SANDBOX_PREFIX + "faults":
                body = json.dumps(self.snapshot()).encode()
                start_response("200 OK", [("Content-Type", "application/json"),
                                          ("Content-Length", str(len(body)))])
                return [body]
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "")
        aimed = not self.only or any(method == m and path.rstrip("/").endswith(p) for m, p in self.only)
        kind = self.decide() if aimed else None
        if kind is None:
            return self.app(environ, start_response)
        with self._lock:
            self.injected[kind] += 1
            self.log.append((self.calls, path, kind))
        if kind == "slow":
            time.sleep(self.slow_seconds)
            return self.app(environ, start_response)
        if kind == "lost":
            answer = self.app(environ, lambda *_args, **_kw: lambda _data: None)
            for _chunk in answer:
                pass  # the vendor processed the call; its answer never leaves
            close = getattr(answer, "close", None)
            if callable(close):
                close()
            _drop(environ)
        if kind == "drop":
            _drop(environ)
        response = self.fault_response(kind, self.retry_after)
        return response(environ, start_response)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rate": self.rate,
                "seed": self.seed,
                "calls": self.calls,
                "injected": dict(self.injected),
                "injected_total": sum(self.injected.values()),
            }


def _drop(environ: WSGIEnvironment) -> None:
    """Abandon the request: reset the connection on close and tell werkzeug it was dropped."""
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone: dropping is what we wanted anyway
    raise DroppedConnection("sandbox fault: connection dropped on purpose")
