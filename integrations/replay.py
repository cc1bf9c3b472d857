"""Replay protection for signed embedded requests: a signature (or JWT id) is accepted once.

`MemoryReplayGuard` remembers what it has seen until it would have expired anyway; a
database- or Redis-backed guard can take its place behind the same `ReplayGuard` protocol
when Canary runs several processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from integrations.errors import SignatureError


class ReplayGuard(Protocol):
    def check_and_remember(self, key: str, expires_at: float) -> None:
        """Raise `SignatureError` if ``key`` was seen before; otherwise remember it until ``expires_at``."""


class MemoryReplayGuard:
    def __init__(self, clock: Callable[[], float] = time.time, max_entries: int = 100_000) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._max = max_entries

    def check_and_remember(self, key: str, expires_at: float) -> None:
        now = self._clock()
        with self._lock:
            if len(self._seen) >= self._max:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            seen = self._seen.get(key)
            if seen is not None and seen > now:
                raise SignatureError("request replayed: this signed request was already used")
            self._seen[key] = expires_at
