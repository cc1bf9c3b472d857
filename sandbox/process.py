"""`SandboxProcess`: a `Sandbox` served from a process of its own, as the real vendors are other machines.

::

    with SandboxProcess(accounts=10_000, seed=7, hubspot={"requests_per_10s": 1_000_000}) as box:
        walk(box.credentials)          # the same credentials, URLs and truth.json as `Sandbox` gives
        box.cpu_seconds()              # the CPU the emulators spent serving (the child's user + system time)

The child builds and serves the same world `Sandbox` would with the same arguments (a new interpreter, started with
``spawn``: no thread or lock of the parent is copied into it) and hands back what a client needs: `credentials`,
`urls`, `truth_path` and each vendor's OAuth account (``oauth[vendor].account``, as `cli.demo.sandbox_connections`
reads it). The emulators themselves stay in the child: what needs them in process (``emulators``, ``mutate``,
a clock moved by the caller) needs `Sandbox`. Arguments must pickle (no clock, progress or announce callables).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sandbox.server import Sandbox, SandboxError


def _serve(conn: Connection, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The child: start the sandbox, send what clients need, serve until told to stop (or the parent goes)."""
    try:
        box = Sandbox(*args, **kwargs).start()
    except BaseException as exc:  # told to the parent, who raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    try:
        conn.send(("ready", {"credentials": box.credentials, "urls": box.urls, "truth_path": str(box.truth_path),
                             "accounts": box.accounts,
                             "oauth": {vendor: server.account for vendor, server in box.oauth.items()}}))
        with contextlib.suppress(EOFError):  # EOFError: the parent is gone
            conn.recv()  # "stop"
    finally:
        box.stop()


class SandboxProcess:
    """A `Sandbox` (same arguments) started in a child process; see the module docstring."""

    def __init__(self, *args: Any, start_timeout: float = 1800.0, **kwargs: Any) -> None:
        self._args, self._kwargs = args, kwargs
        self.start_timeout = start_timeout
        self.process: Any = None
        self._conn: Connection | None = None
        self.credentials: dict[str, dict[str, str]] = {}
        self.urls: dict[str, str] = {}
        self.truth_path: Path | None = None
        self.accounts = 0
        self.oauth: dict[str, SimpleNamespace] = {}

    def start(self) -> SandboxProcess:
        if self.process is not None:
            raise SandboxError("the sandbox process is already running")
        context = multiprocessing.get_context("spawn")
        mine, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, self._args, self._kwargs),
                                       name="canary-sandbox", daemon=True)
        self.process.start()
        theirs.close()
        self._conn = mine
        if not mine.poll(self.start_timeout):
            self.stop()
            raise SandboxError(f"the sandbox process did not start within {self.start_timeout:.0f} s")
        try:
            kind, value = mine.recv()
        except EOFError:
            kind, value = "error", f"the sandbox process ended (exit code {self.process.exitcode})"
        if kind != "ready":
            self.stop()
            raise SandboxError(f"the sandbox process could not start: {value}")
        self.credentials, self.urls, self.accounts = value["credentials"], value["urls"], value["accounts"]
        self.truth_path = Path(value["truth_path"])
        self.oauth = {vendor: SimpleNamespace(account=account) for vendor, account in value["oauth"].items()}
        return self

    def cpu_seconds(self) -> float:
        """The child's user + system CPU seconds so far (Linux ``/proc``; 0.0 where it cannot be read)."""
        if self.process is None or self.process.pid is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)

    def stop(self) -> None:
        """Tell the child to stop and wait for it (killed after 30 s)."""
        process, self.process = self.process, None
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError):  # the child is gone already
                conn.send("stop")
            conn.close()
        if process is not None:
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join(5)

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
