from __future__ import annotations

import random

import pytest

from pyscheduler.informers.backoff import ExponentialBackoff
from pyscheduler.informers.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_item_exponential_doubles_per_item_and_caps() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    delays = [limiter.when("a") for _ in range(5)]
    assert delays == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    assert limiter.when("b") == pytest.approx(0.005)  # per item
    assert limiter.num_requeues("a") == 5
    for _ in range(100):
        last = limiter.when("a")
    assert last == 1000.0
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == pytest.approx(0.005)


def test_fast_slow() -> None:
    limiter = ItemFastSlowRateLimiter(0.1, 5.0, 2)
    assert [limiter.when("x") for _ in range(4)] == [0.1, 0.1, 5.0, 5.0]
    limiter.forget("x")
    assert limiter.when("x") == 0.1


def test_bucket_allows_burst_then_spaces_at_qps() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(qps=10, burst=3, clock=clock)
    assert [limiter.when(i) for i in range(3)] == [0, 0, 0]
    # Tokens are reserved on credit: each further call waits one more 1/qps.
    assert [limiter.when(i) for i in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    clock.now += 0.3  # debt repaid, bucket empty
    assert limiter.when("x") == pytest.approx(0.1)
    clock.now += 100  # refills, but never beyond burst
    assert [limiter.when(i) for i in range(4)] == pytest.approx([0, 0, 0, 0.1])
    assert limiter.num_requeues("x") == 0


def test_max_of_is_default_controller_rate_limiter() -> None:
    clock = FakeClock()
    limiter = default_controller_rate_limiter(qps=10, burst=100, clock=clock)
    # Under the burst, per-item backoff dominates.
    assert limiter.when("a") == pytest.approx(0.005)
    assert limiter.when("a") == pytest.approx(0.01)
    # A storm of distinct items exhausts the bucket; then the bucket dominates.
    for i in range(98):
        limiter.when(i)
    assert limiter.when("fresh") == pytest.approx(0.1)
    assert limiter.num_requeues("a") == 2
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_max_of_consults_every_limiter() -> None:
    a, b = ItemExponentialFailureRateLimiter(1, 100), ItemExponentialFailureRateLimiter(2, 100)
    limiter = MaxOfRateLimiter(a, b)
    assert limiter.when("x") == 2
    assert a.num_requeues("x") == 1 and b.num_requeues("x") == 1
    with pytest.raises(ValueError):
        MaxOfRateLimiter()


def test_backoff_doubles_with_jitter_caps_and_resets_after_healthy_period() -> None:
    clock = FakeClock()
    backoff = ExponentialBackoff(clock=clock, rng=random.Random(7))
    steps = []
    for _ in range(8):
        steps.append(backoff.next_delay())
        clock.now += 1
    bases = [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    for delay, base in zip(steps, bases, strict=True):
        assert base <= delay < 2 * base  # jitter 1.0 adds up to 100%
    clock.now += 121  # more than 2 minutes without needing a backoff
    assert 0.8 <= backoff.next_delay() < 1.6


def test_backoff_without_jitter_is_exact() -> None:
    backoff = ExponentialBackoff(initial=1, cap=4, jitter=0, clock=FakeClock())
    assert [backoff.next_delay() for _ in range(4)] == [1, 2, 4, 4]
    backoff.reset()
    assert backoff.next_delay() == 1
