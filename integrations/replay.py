"""Replay protection for signed embedded requests: each signed request is accepted once.

The key of a request is what the vendor signed, decoded (a ZAF JWT's ``jti`` or its claims, a
Canvas HMAC digest, HubSpot's v3 digest), never the text as it arrived, so an equivalent
re-encoding of a used request is the same key. `replay_key` scopes it by vendor and workspace:
two workspaces' requests never collide. A guard remembers a key until the request's own expiry
(``exp``, ``issuedAt`` + window, timestamp + 5 minutes), after which the freshness check refuses
it anyway. `StoreReplayGuard`, the app's guard, keeps hashes in the database, so every worker
of `canary serve` and every host behind a load balancer refuses a replay; `MemoryReplayGuard`
is the per-process variant for pure uses and tests.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from integrations.errors import SignatureError
from store.db import Store
from store.models import UsedSignature

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


class StoreReplayGuard:
    """Shared by all processes through the database: the key's hash is the primary key.

    One short transaction per check: delete the key if its earlier use has expired, insert it,
    and refuse when the insert meets the same key (the database decides between two workers
    racing with one request). Expired rows are swept every ``sweep_every`` checks.
    """

    def __init__(self, store: Store, clock: Callable[[], float] = time.time, sweep_every: int = 500) -> None:
        self._store = store
        self._clock = clock
        self._sweep_every = sweep_every
        self._checks = 0
        self._lock = threading.Lock()

    def check_and_remember(self, key: str, expires_at: float) -> None:
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = self._clock()
        with self._lock:
            self._checks += 1
            sweep = self._checks % self._sweep_every == 0
        stale = UsedSignature.expires_at <= now
        if not sweep:
            stale = stale & (UsedSignature.key_hash == digest)
        try:
            with self._store.engine.begin() as conn:
                conn.execute(delete(UsedSignature).where(stale))
                conn.execute(insert(UsedSignature).values(key_hash=digest, expires_at=float(expires_at)))
        except IntegrityError:
            raise SignatureError(REPLAYED) from None

    def __len__(self) -> int:
        with self._store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(UsedSignature)).scalar_one())
