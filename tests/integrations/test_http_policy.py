"""The shared retry policy and the quota guard."""

from __future__ import annotations

import random

import pytest

from integrations.errors import RetriableError
from integrations.http import GaveUp, QuotaExhausted, QuotaGuard, RetryPolicy


class Flaky:
    def __init__(self, failures: list[RetriableError]) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def _policy(**kw: object) -> tuple[RetryPolicy, list[float]]:
    slept: list[float] = []
    policy = RetryPolicy(sleep=slept.append, rng=random.Random(1), **kw)  # type: ignore[arg-type]
    return policy, slept


def test_retry_after_is_honoured_exactly_not_clamped() -> None:
    policy, slept = _policy(max_backoff=1.0)
    call = Flaky([RetriableError("429", retry_after=45), RetriableError("429", retry_after=7)])
    assert policy.run(call) == "ok"
    assert slept == [45.0, 7.0]  # longer than max_backoff: the server's word wins
    assert call.calls == 3 and policy.retries == 2 and policy.waited == 52.0


def test_backoff_is_exponential_with_full_jitter() -> None:
    policy, slept = _policy(base_delay=1.0, max_backoff=100.0)
    call = Flaky([RetriableError("503")] * 5)
    assert policy.run(call) == "ok"
    assert len(slept) == 5  # one wait before each of the five retries
    for attempt, delay in enumerate(slept, start=1):
        assert 0 <= delay <= 2 ** attempt
    assert len(set(slept)) == len(slept)  # jittered, not a fixed ladder


def test_backoff_cap_applies_to_computed_delays() -> None:
    policy, slept = _policy(base_delay=10.0, max_backoff=3.0)
    policy.run(Flaky([RetriableError("500")] * 4))
    assert max(slept) <= 3.0


def test_gives_up_rather_than_wait_past_the_cap() -> None:
    policy, slept = _policy(max_total_wait=60)
    call = Flaky([RetriableError("429", retry_after=30), RetriableError("429", retry_after=31)])
    with pytest.raises(GaveUp, match=r"asks to wait 31 s .* cap of 60 s"):
        policy.run(call, what="zendesk organizations")
    assert slept == [30.0]


def test_gives_up_after_max_attempts() -> None:
    policy, _ = _policy(max_attempts=3)
    call = Flaky([RetriableError("503")] * 5)
    with pytest.raises(GaveUp, match="gave up after 3 attempts"):
        policy.run(call)
    assert call.calls == 3


def test_non_retriable_errors_pass_straight_through() -> None:
    policy, slept = _policy()

    def boom() -> None:
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        policy.run(boom)
    assert slept == []


@pytest.mark.parametrize(
    ("start_used", "limit", "calls_ok"),
    [
        (0, 1000, 250),  # 25 % of 1000 left
        (600, 1000, 100),  # 25 % of the 400 left
        (790, 1000, 10),  # the 80 % ceiling (800) comes before 25 % of 210 (52)
        (800, 1000, 0),  # at the ceiling already
    ],
)
def test_quota_guard_budget(start_used: int, limit: int, calls_ok: int) -> None:
    guard = QuotaGuard("salesforce")
    made = 0
    used = start_used
    with pytest.raises(QuotaExhausted):
        for _ in range(10_000):
            guard.check()
            used += 1  # the call happens and the vendor reports the new count
            made += 1
            guard.observe(used, limit)
    assert made == max(calls_ok, 1)  # the first call is made before anything is known


def test_quota_message_is_clear() -> None:
    guard = QuotaGuard("salesforce", run_share=0.25)
    guard.observe(1, 100)
    guard.observe(30, 100)
    with pytest.raises(QuotaExhausted, match=r"salesforce: this run has used 30 API calls, its share of 25% "
                                              r"of the 100 left"):
        guard.check()


def test_quota_shares_are_validated() -> None:
    with pytest.raises(ValueError):
        QuotaGuard("hubspot", run_share=0)
