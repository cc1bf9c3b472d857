"""Replay protection for signed embedded requests: each signed request is accepted once.

The key of a request is what the vendor signed, decoded (a ZAF JWT's ``jti`` or its claims, a
Canvas HMAC digest, HubSpot's v3 digest), never the text as it arrived, so an equivalent
re-encoding of a used request is the same key. `replay_key` scopes it by vendor and workspace:
two workspaces' requests never collide. A guard remembers a key until the request's own expiry
(``exp``, ``issuedAt`` + window, timestamp + 5 minutes), after which the freshness check refuses
it anyway. `LedgerReplayGuard`, the app's guard, keeps them in a shared ledger — hashes in the
database (`store.replay.UsedSignatures`) — so every worker of `canary serve` and every host
behind a load balancer refuses a replay; `MemoryReplayGuard` is the per-process variant for pure
uses and tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from integrations.errors import SignatureError

REPLAYED = "request replayed: this signed request was already used"
CLOCK_SKEW_S = 60.0
"""How far in the future a vendor's timestamp may be (its clock ahead of ours) before it is refused."""


class ReplayGuard(Protocol):
    def check_and_remember(self, key: str, expires_at: float) -> None:
        """Raise `SignatureError` if ``key`` was seen and has not expired; else remember it until ``expires_at``."""


def replay_key(vendor: str, scope: str | int, material: str | bytes) -> str:
    """The guard key of a signed request: the vendor, the workspace it is for, and what was signed.

    ``material`` is canonical (decoded claims, digest bytes), so re-encodings of one request agree.
    """
    if isinstance(material, bytes):
        material = material.hex()
    return f"{vendor}\x1f{scope}\x1f{material}"


class MemoryReplayGuard:
    """Thread-safe, per-process; expired keys are swept when the table reaches ``max_entries``."""

    def __init__(self, clock: Callable[[], float] = time.time, max_entries: int = 100_000) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._max_entries = max_entries

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_remember(self, key: str, expires_at: float) -> None:
        now = self._clock()
        with self._lock:
            if len(self._seen) >= self._max_entries:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            remembered_until = self._seen.get(key)
            if remembered_until is not None and remembered_until > now:
                raise SignatureError(REPLAYED)
            self._seen[key] = expires_at


class ReplayLedger(Protocol):
    """Where a shared guard keeps its keys (`store.replay.UsedSignatures`: a table every worker sees)."""

    def remember(self, key: str, expires_at: float, now: float) -> bool:
        """Remember ``key`` until ``expires_at``; False when it is already remembered past ``now``."""

    def __len__(self) -> int: ...


class LedgerReplayGuard:
    """The app's guard: the keys live in a `ReplayLedger` shared by all processes (the database)."""

    def __init__(self, ledger: ReplayLedger, clock: Callable[[], float] = time.time) -> None:
        self.ledger = ledger
        self._clock = clock

    def check_and_remember(self, key: str, expires_at: float) -> None:
        if not self.ledger.remember(key, expires_at, self._clock()):
            raise SignatureError(REPLAYED)

    def __len__(self) -> int:
        return len(self.ledger)
