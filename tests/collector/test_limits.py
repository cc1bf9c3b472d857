"""The per-write-key token bucket, on an injected clock."""

from __future__ import annotations

import pytest

from collector.limits import RateLimiter, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]
    assert limiter.take("b") == 0.0  # every key has its own bucket
    clock.now += 0.5
    assert (limiter.take("a"), limiter.take("a")) == (0.0, 0.5)
    clock.now += 60
    assert [limiter.take("a") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]  # refills up to the burst only


def test_rate_zero_turns_the_limit_off() -> None:
    limiter = RateLimiter(rate=0, burst=1, clock=Clock())
    assert {limiter.take("a") for _ in range(1000)} == {0.0}


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="burst >= 1"):
        RateLimiter(rate=1, burst=0)


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (30.0, "30")])
def test_retry_after_is_whole_seconds_and_never_zero(wait: float, header: str) -> None:
    assert retry_after(wait) == header


def test_idle_buckets_are_forgotten_when_there_are_too_many(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("collector.limits._MAX_BUCKETS", 3)
    clock = Clock()
    limiter = RateLimiter(rate=1, burst=2, clock=clock)
    for key in "abc":
        limiter.take(key)
    clock.now += 5
    limiter.take("a")
    limiter.take("a")
    limiter.take("d")
    assert sorted(limiter._buckets) == ["a", "d"]
