"""HubSpot's request limits: the rolling ten-second window, the per-second search limit, the daily allocation."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import date, datetime


class RollingLimit:
    """At most ``limit`` admissions in any ``window`` seconds (a sliding log of admission times)."""

    def __init__(self, limit: int, window: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._monotonic = monotonic
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> tuple[bool, int]:
        """(admitted, admissions left in the current window)."""
        with self._lock:
            now = self._monotonic()
            while self._times and now - self._times[0] >= self.window:
                self._times.popleft()
            if len(self._times) >= self.limit:
                return False, 0
            self._times.append(now)
            return True, self.limit - len(self._times)


class DailyAllowance:
    """Requests per calendar day of the emulator clock (UTC), reset when the day changes."""

    def __init__(self, limit: int, clock: Callable[[], datetime]) -> None:
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._day: date | None = None
        self._used = 0

    def admit(self) -> tuple[bool, int]:
        with self._lock:
            day = self._clock().date()
            if self._day != day:
                self._day, self._used = day, 0
            if self._used >= self.limit:
                return False, 0
            self._used += 1
            return True, self.limit - self._used

    def remaining(self) -> int:
        with self._lock:
            return max(0, self.limit - self._used)
