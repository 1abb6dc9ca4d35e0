"""PrioritySort: higher priority first, then the earlier queue timestamp."""

from __future__ import annotations

from builders import make_pod, pod_info

from pyscheduler.framework.types import QueuedPodInfo
from pyscheduler.plugins.priority_sort import NAME, PrioritySort, new


def queued(priority: int | None, timestamp: float) -> QueuedPodInfo:
    return QueuedPodInfo(pod_info(make_pod(priority=priority)), timestamp=timestamp)


def test_less() -> None:
    pl: PrioritySort = new(None, None)  # type: ignore[arg-type]
    assert pl.name == NAME == "PrioritySort"
    high_late = queued(100, 2.0)
    low_early = queued(1, 1.0)
    same_early = queued(100, 1.0)
    assert pl.less(high_late, low_early)
    assert not pl.less(low_early, high_late)
    assert pl.less(same_early, high_late)
    assert not pl.less(high_late, same_early)
    # Equal priority and timestamp: neither goes first.
    twin = queued(100, 2.0)
    assert not pl.less(high_late, twin) and not pl.less(twin, high_late)
    # No spec.priority counts as 0.
    assert pl.less(queued(None, 5.0), queued(-1, 1.0))
