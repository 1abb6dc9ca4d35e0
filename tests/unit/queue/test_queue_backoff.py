from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyscheduler.backend.queue.backoff import (
    backoff_duration,
    backoff_expiry,
    is_backing_off,
    validate_backoff,
)


def test_doubles_from_initial_and_caps_at_max() -> None:
    got = [backoff_duration(a, 1.0, 10.0) for a in range(0, 8)]
    assert got == [0.0, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_configurable_initial_and_max() -> None:
    got = [backoff_duration(a, 0.5, 3.0) for a in range(1, 6)]
    assert got == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_huge_attempt_counts_stay_capped() -> None:
    assert backoff_duration(10_000, 1.0, 10.0) == 10.0


def test_expiry_counts_from_timestamp() -> None:
    assert backoff_expiry(100.0, 3, 1.0, 10.0) == 104.0
    assert backoff_expiry(100.0, 0, 1.0, 10.0) == 100.0


def test_backing_off_until_expiry_inclusive() -> None:
    assert is_backing_off(5.0, 4.999)
    assert not is_backing_off(5.0, 5.0)


def test_validation() -> None:
    validate_backoff(1.0, 10.0)
    validate_backoff(0.0, 0.0)
    with pytest.raises(ValueError, match="podMaxBackoffSeconds"):
        validate_backoff(10.0, 1.0)
    with pytest.raises(ValueError, match="podInitialBackoffSeconds"):
        validate_backoff(-1.0, 1.0)


@given(st.integers(1, 200), st.floats(0.001, 100), st.floats(0, 1000))
def test_monotone_and_bounded(attempts: int, initial: float, extra: float) -> None:
    maximum = initial + extra
    d = backoff_duration(attempts, initial, maximum)
    assert initial <= d <= maximum
    assert backoff_duration(attempts + 1, initial, maximum) >= d
