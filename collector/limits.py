"""A token bucket per write key: how many collector requests a workspace may send, in this process.

Write keys live in browser code, so anyone can send with one; the bucket caps what that costs.
Each process keeps its own buckets (gunicorn's N workers allow N times the rate), which is enough to
stop one client from monopolising a worker. The clock is a parameter so tests need not sleep.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

RATE_PER_SECOND = 50.0
"""Default for ``COLLECTOR_RATE_PER_SECOND`` (0 turns the limit off); Segment asks senders to stay below it."""
RATE_BURST = 500.0
"""Default for ``COLLECTOR_RATE_BURST``: requests a key may send at once after being idle."""
_MAX_BUCKETS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``take(key)`` spends one token of ``key``'s bucket, refilled at ``rate`` per second up to ``burst``."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 0 or burst < 1:
            raise ValueError("the collector rate must be >= 0 per second and the burst >= 1 request")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[Hashable, _Bucket] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Any) -> RateLimiter:
        return cls(float(config.get("COLLECTOR_RATE_PER_SECOND", RATE_PER_SECOND)),
                   float(config.get("COLLECTOR_RATE_BURST", RATE_BURST)))

    def take(self, key: Hashable) -> float:
        """0 if the request may go on; otherwise the seconds to wait before the next one would."""
        if self.rate == 0:
            return 0.0
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _MAX_BUCKETS:
                    self._forget_full(now)
                bucket = self._buckets[key] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: forgetting them changes nothing for their keys."""
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst:
                del self._buckets[key]


def retry_after(wait: float) -> str:
    """A ``Retry-After`` value in whole seconds, never 0 for a refused request."""
    return str(max(1, math.ceil(wait)))
