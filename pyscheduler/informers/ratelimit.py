"""Rate limiters for the workqueue, with client-go's util/workqueue semantics.

Contract:
- ``when(item)`` returns how long to wait before processing ``item`` again *and* records the
  attempt (a failure for per-item limiters, a token reservation for the bucket).
- ``forget(item)`` clears per-item history (call it when the item finally succeeded);
  ``num_requeues(item)`` is the number of failures recorded since the last forget.
- :func:`default_controller_rate_limiter` is client-go's DefaultControllerRateLimiter: the max of
  per-item exponential backoff (5ms doubling to 1000s) and an overall token bucket (10 qps,
  burst 100), so one hot item backs off alone while a storm of distinct items is smoothed.
- Time comes from an injectable monotonic clock; nothing here sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Protocol


class RateLimiter(Protocol):
    def when(self, item: Hashable) -> float: ...

    def forget(self, item: Hashable) -> None: ...

    def num_requeues(self, item: Hashable) -> int: ...


class ItemExponentialFailureRateLimiter:
    """base * 2**failures per item, capped at max_delay (client-go's same-named limiter)."""

    __slots__ = ("_failures", "base_delay", "max_delay")

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        # Cap the exponent before exponentiating: 2**2000 is fine for ints but not for floats.
        if exp >= 64:
            return self.max_delay
        return min(self.base_delay * float(2**exp), self.max_delay)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)


class ItemFastSlowRateLimiter:
    """fast_delay for the first max_fast_attempts failures of an item, slow_delay after."""

    __slots__ = ("_failures", "fast_delay", "max_fast_attempts", "slow_delay")

    def __init__(self, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        self.fast_delay = fast_delay
        self.slow_delay = slow_delay
        self.max_fast_attempts = max_fast_attempts
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        attempts = self._failures.get(item, 0) + 1
        self._failures[item] = attempts
        return self.fast_delay if attempts <= self.max_fast_attempts else self.slow_delay

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)


class BucketRateLimiter:
    """A token bucket shared by all items (golang.org/x/time/rate.Limiter's Reserve().Delay()).

    Each when() takes a token; when none is left it still takes one "on credit" and returns how
    long until that token exists, so N calls in a burst beyond the bucket are spread 1/qps apart.
    """

    __slots__ = ("_clock", "_last", "_tokens", "burst", "qps")

    def __init__(
        self, qps: float = 10.0, burst: int = 100, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if qps <= 0:
            raise ValueError("qps must be positive")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def when(self, item: Hashable) -> float:
        del item
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.qps

    def num_requeues(self, item: Hashable) -> int:
        del item
        return 0

    def forget(self, item: Hashable) -> None:
        del item


class MaxOfRateLimiter:
    """The longest delay of its limiters; every limiter records every attempt."""

    __slots__ = ("limiters",)

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        # Not max(generator): every limiter must see the attempt, none may be short-circuited.
        delays = [limiter.when(item) for limiter in self.limiters]
        return max(delays)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)


def default_controller_rate_limiter(
    qps: float = 10.0, burst: int = 100, *, clock: Callable[[], float] = time.monotonic
) -> MaxOfRateLimiter:
    """client-go's DefaultControllerRateLimiter (qps/burst adjustable, defaults upstream's)."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(qps, burst, clock=clock),
    )
