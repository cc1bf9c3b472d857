"""The one HTTP policy every adapter goes through: retries, backoff and the quota guard.

`RetryPolicy.run()` retries `RetriableError` (429, 5xx, timeouts, dropped connections):
it waits exactly the server's ``Retry-After`` when given (never clamped: if that wait
would pass the cap on total waiting, it gives up with a clear message instead of
retrying early), and otherwise backs off exponentially with full jitter.

`QuotaGuard` watches the vendor's own usage headers and stops a run, with a message
that says why, once it has spent its share of what was left when it started (default
25 %) or the day's usage would pass a ceiling (default 80 % of the allocation).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from integrations.errors import FatalError, RetriableError

T = TypeVar("T")
log = logging.getLogger("canary.http")


class GaveUp(FatalError):
    """Retries exhausted, or the next wait would pass the cap on total waiting."""


class QuotaExhausted(FatalError):
    """The quota guard stopped the run; the next run resumes from the saved cursors."""


def retry_after_seconds(headers: Mapping[str, Any] | None) -> float | None:
    """The ``Retry-After`` header of an answer in seconds (any case of the name; a negative wait is 0).

    None when it is missing or not a number (no vendor of Canary's sends the HTTP-date form).
    """
    for name, value in (headers or {}).items():
        if str(name).lower() == "retry-after":
            try:
                return max(0.0, float(str(value).strip()))
            except ValueError:
                return None
    return None


@dataclass
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 0.5
    max_backoff: float = 30.0
    """Cap of one computed backoff (a server's Retry-After is never capped)."""
    max_total_wait: float = 600.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    waited: float = 0.0
    retries: int = 0

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return self.rng.uniform(0, min(self.max_backoff, self.base_delay * (2 ** attempt)))

    def run(self, call: Callable[[], T], *, what: str = "request") -> T:
        attempt = 0
        while True:
            try:
                return call()
            except RetriableError as exc:
                attempt += 1
                if attempt >= self.max_attempts:
                    raise GaveUp(f"{what}: gave up after {attempt} attempts; last error: {exc}") from exc
                if exc.retry_after is not None:
                    delay = max(0.0, float(exc.retry_after))
                    source = "Retry-After"
                else:
                    delay = self.backoff(attempt)
                    source = "backoff"
                if self.waited + delay > self.max_total_wait:
                    raise GaveUp(
                        f"{what}: the server asks to wait {delay:.0f} s ({source}), which would pass the "
                        f"cap of {self.max_total_wait:.0f} s of waiting per run; stopping here, the next "
                        "run resumes where this one stopped"
                    ) from exc
                log.info("%s: %s; retrying in %.2f s (%s, attempt %d)", what, exc, delay, source, attempt + 1)
                self.sleep(delay)
                self.waited += delay
                self.retries += 1


    def run_unsure(self, attempt: Callable[[], T], recover: Callable[[], bool], *, what: str = "request") -> T | None:
        """Send a request that must not be repeated blindly (a create): ``attempt`` makes one try.

        A 429 was refused before it was processed, so it is simply tried again after the wait, as `run`
        does. Any other retriable failure (5xx, a timeout, a dropped connection) leaves the outcome
        unknown: the vendor may have created the records. ``recover()`` then looks them up by their keys,
        takes what it finds out of the next attempt and answers whether anything is left to send; None
        when nothing was. Waits, attempts and the cap on waiting are those of `run`.
        """
        attempts = 0
        while True:
            try:
                return attempt()
            except RetriableError as exc:
                attempts += 1
                if attempts >= self.max_attempts:
                    raise GaveUp(f"{what}: gave up after {attempts} attempts; last error: {exc}") from exc
                delay = max(0.0, float(exc.retry_after)) if exc.retry_after is not None else self.backoff(attempts)
                if self.waited + delay > self.max_total_wait:
                    raise GaveUp(f"{what}: waiting {delay:.0f} s more would pass the cap of "
                                 f"{self.max_total_wait:.0f} s per run; the next run goes on") from exc
                log.info("%s: %s; retrying in %.2f s (attempt %d)", what, exc, delay, attempts + 1)
                self.sleep(delay)
                self.waited += delay
                self.retries += 1
                if exc.status != 429 and not recover():
                    return None


@dataclass
class QuotaGuard:
    """Stops a run at a share of the remaining allocation; one guard per system per run."""

    system: str
    run_share: float = 0.25
    daily_ceiling: float = 0.80
    start_used: int | None = None
    used: int | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.run_share <= 1 or not 0 < self.daily_ceiling <= 1:
            raise ValueError("quota shares must be in (0, 1]")

    @property
    def spent(self) -> int:
        if self.start_used is None or self.used is None:
            return 0
        return self.used - self.start_used

    @property
    def remaining(self) -> int | None:
        if self.used is None or self.limit is None:
            return None
        return self.limit - self.used

    def observe(self, used: int, limit: int) -> None:
        """Record the vendor's usage counter after a call (e.g. ``Sforce-Limit-Info``)."""
        if self.start_used is None:
            self.start_used = used - 1 if used > 0 else 0  # the call that told us counts
        self.used, self.limit = used, limit

    def check(self) -> None:
        """Raise `QuotaExhausted` if the next call would go past the run's share or the ceiling."""
        if self.used is None or self.limit is None or self.start_used is None:
            return
        left_at_start = max(0, self.limit - self.start_used)
        budget = int(left_at_start * self.run_share)
        if self.spent >= budget:
            raise QuotaExhausted(
                f"{self.system}: this run has used {self.spent} API calls, its share of "
                f"{self.run_share:.0%} of the {left_at_start} left when it started; stopping so the "
                "org keeps its allocation. The next run resumes where this one stopped."
            )
        ceiling = int(self.limit * self.daily_ceiling)
        if self.used >= ceiling:
            raise QuotaExhausted(
                f"{self.system}: {self.used} of the {self.limit} daily API calls are used, the ceiling is "
                f"{self.daily_ceiling:.0%} ({ceiling}); stopping. The next run resumes when usage falls."
            )
