"""Where a run's CPU goes, by part, without a tracing profiler: a thread samples every other thread's Python stack
every few milliseconds and charges the sample to the part its innermost known frame belongs to.

A thread whose innermost frame waits (a socket read, a lock, a queue, a select) is not charged: it holds no CPU.
A thread serving an emulator (werkzeug's request handler below it) is charged to ``emulator serving`` whatever it
runs, its HTTP parsing and JSON encoding included. The shares are of the samples, turned into CPU seconds with the
process's CPU time over the sampled span (so the parts add up to the process's CPU), which assumes the samples fall
evenly on the running threads: an estimate. Its biases: a thread waiting for the interpreter lock counts as
running (more threads, more such samples), and so does one inside a C call that gives the lock up without
waiting on I/O (SQLite's statements: CPU indeed) or while waiting in one not listed in `WAITS` (a name lookup).

    with CpuParts() as parts:
        work()
    print(parts.table())
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType, TracebackType

ROOT = str(Path(__file__).resolve().parents[1]) + "/"
"""This checkout: a frame of a file under it (not a library's) is ours."""

WAITS = {"select", "poll", "recv", "recv_into", "read", "readinto", "readline", "accept", "wait", "sleep", "acquire",
         "get", "_wait_for_tstate_lock", "join", "sendall", "send", "do_handshake", "connect", "create_connection"}
"""Innermost standard-library functions that wait (the C call below them gives up the interpreter)."""

PAUSES = {"_pause", "_sleep"}
"""Innermost functions of ours that sleep (a rate limit's pacing): waits too."""

PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("JSON decode", ("/json/", "msgspec", "orjson", "simplejson")),
    ("SQL (SQLAlchemy + driver)", ("/sqlalchemy/", "sqlite3", "psycopg")),
    ("identity resolution", ("/sync/identity",)),
    ("sync writer (our Python)", ("/sync/writer", "/sync/runner", "/sync/revenue", "/store/")),
    ("reports after the pull", ("/sync/reports", "/sync/base_reports", "/analytics/")),
    ("owners", ("/sync/owners",)),
    ("our mapping (integrations/)", ("/integrations/",)),
    ("SDK: zenpy", ("/zenpy/",)),
    ("SDK: simple_salesforce", ("/simple_salesforce/",)),
    ("SDK: hubspot-api-client", ("/hubspot/",)),
    ("HTTP client (requests, urllib3, http.client, ssl)", ("/requests/", "/urllib3/", "/http/client", "/ssl.py",
                                                          "/socket.py", "/email/", "/idna/", "/charset_normalizer/")),
)


def _part(frame: FrameType | None) -> str | None:
    """The part of a stack, or None when it waits. Innermost known frame wins."""
    return _where(frame)[0]


def _where(frame: FrameType | None) -> tuple[str | None, str]:
    """The part of a stack (None when it waits) and its innermost function (file:name)."""
    if frame is None:
        return None, ""
    leaf = f"{frame.f_code.co_filename.rsplit('/', 2)[-2:][-1]}:{frame.f_code.co_name}"
    if frame.f_code.co_name in PAUSES or (
            frame.f_code.co_name in WAITS and "/site-packages/" not in frame.f_code.co_filename):
        return None, leaf  # the standard library's socket, ssl, selectors, threading or queue, waiting in C
    serving = False
    innermost: str | None = None
    ours = ""
    while frame is not None:
        name = frame.f_code.co_filename
        if not ours and "/site-packages/" not in name and name.startswith(ROOT):
            ours = f"{name.rsplit('/', 1)[-1]}:{frame.f_code.co_name}"
        if "/werkzeug/serving" in name or "/socketserver" in name:
            serving = True
            break
        if innermost is None:
            for part, marks in PARTS:
                if any(mark in name for mark in marks):
                    innermost = part
                    break
        frame = frame.f_back
    if serving:
        return "emulator serving (werkzeug + emulators)", leaf
    if innermost == "SQL (SQLAlchemy + driver)" and ours:
        leaf = f"{leaf} <- {ours}"
    return innermost or "other", leaf


class CpuParts:
    def __init__(self, interval: float = 0.004, detail: bool = False) -> None:
        self.interval = interval
        self.detail = detail
        """Also print each part's innermost functions (the six most sampled)."""
        self.samples: Counter[str] = Counter()
        self.leaves: Counter[tuple[str, str]] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-parts", daemon=True)
        self.cpu = 0.0

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.is_set():
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                part, leaf = _where(frame)
                if part is not None:
                    self.samples[part] += 1
                    self.leaves[(part, leaf)] += 1
            time.sleep(self.interval)

    def __enter__(self) -> CpuParts:
        self._cpu0 = time.process_time()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu = time.process_time() - self._cpu0

    def table(self) -> str:
        total = sum(self.samples.values()) or 1
        lines = [f"    CPU by part ({total:,} samples of running threads, {self.cpu:.1f} CPU s in all, "
                 "the sampler's own cost included in 'other'):"]
        for part, n in self.samples.most_common():
            lines.append(f"      {part:52} {n / total:6.1%}  ~{self.cpu * n / total:5.1f} CPU s")
            if self.detail:
                top = sorted(((k, v) for k, v in self.leaves.items() if k[0] == part), key=lambda kv: -kv[1])
                shown = top[:12 if part.startswith("SQL") else 6]
                lines.append("        " + ", ".join(f"{leaf} {v / total:.1%}" for (_p, leaf), v in shown))
        return "\n".join(lines)
