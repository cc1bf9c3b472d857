"""Zendesk's per-minute request limits, counted in fixed one-minute windows of the emulator clock."""

from __future__ import annotations

from dataclasses import dataclass

PLAN_LIMITS: dict[str, int] = {
    "team": 200,
    "professional": 400,
    "enterprise": 700,
    "enterprise_plus": 2500,
}
"""Requests per minute by plan (Growth = Professional; High Volume add-on = Enterprise Plus)."""

INCREMENTAL_LIMIT = 10
"""Incremental export requests per minute, on every plan."""


@dataclass(frozen=True)
class Allowance:
    allowed: bool
    limit: int
    remaining: int
    reset: int
    """Seconds until the current window ends (at least 1)."""


class MinuteWindow:
    """Counts requests per clock minute; not thread-safe on its own (the emulator holds a lock)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a rate limit must allow at least one request per minute")
        self.limit = limit
        self._window = -1
        self._used = 0

    def take(self, now: float) -> Allowance:
        window = int(now // 60)
        if window != self._window:
            self._window, self._used = window, 0
        reset = max(1, 60 - int(now % 60))
        if self._used >= self.limit:
            return Allowance(False, self.limit, 0, reset)
        self._used += 1
        return Allowance(True, self.limit, self.limit - self._used, reset)
