"""A local HTTP server standing in for Slack (Web API ``chat.postMessage`` and incoming webhooks): it records
every request and answers from a queue of scripted replies, then ``{"ok": true}`` (or ``ok`` for a webhook)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    replies: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    """(status, headers, body) to answer first, in order."""

    def reply(self, status: int, body: str = "", **headers: str) -> None:
        self.replies.append((status, {k.replace("_", "-"): v for k, v in headers.items()}, body))


@contextmanager
def slack_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with lock:
                receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                  json.loads(raw or b"{}")))
                scripted = receiver.replies.pop(0) if receiver.replies else None
            if scripted is None:
                webhook = self.path.startswith("/services/")
                scripted = (200, {}, "ok" if webhook else json.dumps({"ok": True, "ts": "1.2"}))
            status, headers, body = scripted
            data = body.encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
