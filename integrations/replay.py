"""Replay protection for signed embedded requests: each signature (or JWT id) is accepted once.

`MemoryReplayGuard` remembers what it has seen until the request would have expired anyway
(after that the freshness check refuses it). A database- or Redis-backed guard can take its
place behind the `ReplayGuard` protocol when Canary runs several processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from integrations.errors import SignatureError


class ReplayGuard(Protocol):
    def check_and_remember(self, key: str, expires_at: float) -> None:
        """Raise `SignatureError` if ``key`` was seen and has not expired; else remember it until ``expires_at``."""


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
                raise SignatureError("request replayed: this signed request was already used")
            self._seen[key] = expires_at
