"""The table of used signed requests (``used_signatures``): the shared memory of the app's replay guard.

`UsedSignatures` is the `integrations.replay.ReplayLedger` the app's `LedgerReplayGuard` keeps its
keys in, so every worker of `canary serve` and every host behind a load balancer sees them. Only
a key's SHA-256 is stored, with the time until which it must be refused.
"""

from __future__ import annotations

import hashlib
import threading

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from store.db import Store
from store.models import UsedSignature


class UsedSignatures:
    """One short transaction per key: delete the key if its earlier use has expired, insert it, and
    report a replay when the insert meets the same key (the database decides between two workers
    racing with one request). Expired rows are swept every ``sweep_every`` keys.
    """

    def __init__(self, store: Store, sweep_every: int = 500) -> None:
        self._store = store
        self._sweep_every = sweep_every
        self._checks = 0
        self._lock = threading.Lock()

    def remember(self, key: str, expires_at: float, now: float) -> bool:
        digest = hashlib.sha256(key.encode()).hexdigest()
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
            return False
        return True

    def __len__(self) -> int:
        with self._store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(UsedSignature)).scalar_one())
