"""Where the team's shared folder is: ``shared/`` beside the repository root (``../shared``).

Found from this file, never from one machine's absolute path; a missing folder fails the run
loudly (a collection error naming the path), because a skipped shape test proves nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED = REPOSITORY.parent / "shared"


def vendor_payloads(vendor: str) -> Path:
    """``../shared/vendor-payloads/<vendor>``, which must exist."""
    folder = SHARED / "vendor-payloads" / vendor
    if not folder.is_dir():
        raise FileNotFoundError(
            f"the recorded {vendor} payloads are missing: expected the folder {folder} "
            f"(shared/ sits beside the repository root {REPOSITORY})")
    return folder


WORLD_AS_OF = date(2026, 11, 30)
"""The synthetic "today" of every sandbox world the tests build: a Monday and a month end, fixed so
the suite is the same test on any day (``canary demo`` alone uses the real today)."""

WORLD_NOW = datetime.combine(WORLD_AS_OF, time(10), UTC)
"""10:00 UTC on `WORLD_AS_OF`: the wall-clock instant of tests whose code under test, or a library it
calls (zenpy's time-based exports), reads the real clock."""


@contextmanager
def pinned_clock(at: datetime = WORLD_NOW) -> Iterator[None]:
    """Python's clock starts at ``at`` and runs on from there, for everything in this process."""
    import time_machine

    with time_machine.travel(at, tick=True):
        yield


def sandbox_connect_args(box: Any, system: str) -> tuple[list[str], dict[str, str]]:
    """`canary connect <system>`'s options and environment (the token) for a running sandbox's vendor."""
    c = box.credentials[system]
    if system == "salesforce":
        return (["--instance-url", c["instance_url"], "--ca-cert", c["cert_path"],
                 "--account-ref", box.oauth["salesforce"].account],
                {"CANARY_CONNECT_ACCESS_TOKEN": c["session_id"]})
    return (["--url", c["base_url"], "--subdomain", c["subdomain"], "--email", c["email"]],
            {"CANARY_CONNECT_TOKEN": c["token"]})


def record_calls(monkeypatch: Any, module: Any, names: Iterable[str]) -> list[str]:
    """Wrap each of ``module``'s functions ``names`` (through ``monkeypatch``) to note its name on every call;
    returns the list the names are added to, in call order."""
    seen: list[str] = []
    for name in names:
        def counting(*args: Any, _name: str = name, _fn: Any = getattr(module, name), **kwargs: Any) -> Any:
            seen.append(_name)
            return _fn(*args, **kwargs)
        monkeypatch.setattr(module, name, counting)
    return seen


@contextmanager
def statements(store: Any) -> Iterator[list[str]]:
    """The SQL ``store`` runs meanwhile (one entry per statement, however many rows it carries), upper-cased and
    on one line."""
    from sqlalchemy import event

    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(" ".join(sql.split()).upper())

    event.listen(store.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", note)
