"""Per-pod exponential backoff (upstream backoff_queue.go calculateBackoffDuration), pure.

Contract:
* A pod that has never been attempted (``attempts == 0``) owes no backoff.
* Otherwise the backoff is ``initial * 2**(attempts - 1)``, capped at ``maximum``; the pod
  completes its backoff at ``timestamp + backoff`` where ``timestamp`` is when it last came
  back to the queue (the failure time).
* A pod is backing off while its expiry is strictly in the future (upstream
  ``BackoffExpiration.After(now)``): at ``now == expiry`` it is free to go.
All times are seconds on the queue's monotonic clock.
"""

from __future__ import annotations

DEFAULT_POD_INITIAL_BACKOFF_SECONDS = 1.0
DEFAULT_POD_MAX_BACKOFF_SECONDS = 10.0


def validate_backoff(initial: float, maximum: float) -> None:
    """Reject settings upstream's config validation rejects (max below initial, negatives)."""
    if initial < 0:
        raise ValueError(f"podInitialBackoffSeconds must be >= 0, got {initial}")
    if maximum < initial:
        raise ValueError(
            f"podMaxBackoffSeconds ({maximum}) must be >= podInitialBackoffSeconds ({initial})"
        )


def backoff_duration(attempts: int, initial: float, maximum: float) -> float:
    """Seconds of backoff owed after ``attempts`` scheduling attempts."""
    if attempts <= 0:
        return 0.0
    duration = initial
    # Doubling by a loop that stops at the cap: 2**attempts for a pod retried for days would
    # otherwise be an enormous (or, as a float, infinite) number before being capped.
    for _ in range(1, attempts):
        if duration >= maximum - duration:
            return maximum
        duration += duration
    return min(duration, maximum)


def backoff_expiry(timestamp: float, attempts: int, initial: float, maximum: float) -> float:
    """The clock time at which the pod's backoff completes."""
    return timestamp + backoff_duration(attempts, initial, maximum)


def is_backing_off(expiry: float, now: float) -> bool:
    """Upstream BackoffExpiration.After(now): True strictly before ``expiry``."""
    return expiry > now
