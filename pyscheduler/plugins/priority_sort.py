"""PrioritySort: the scheduling queue's order.

Contract (upstream queuesort/priority_sort.go): higher ``spec.priority`` first; among equal
priorities, the pod with the earlier queue timestamp first. Ties beyond that are left to the
heap (no stable order is promised).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyscheduler.framework.interfaces import Handle, QueueSortPlugin
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.types import QueuedPodInfo

NAME = "PrioritySort"


@dataclass(slots=True)
class PrioritySort:
    """QueueSort."""

    name: str = NAME

    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
        """Higher priority first, then the earlier timestamp."""
        p1 = a.pod_info.priority
        p2 = b.pod_info.priority
        return p1 > p2 or (p1 == p2 and a.timestamp < b.timestamp)


def new(args: None, handle: Handle) -> PrioritySort:
    return PrioritySort()


SPEC = PluginSpec(NAME, new, None)


def _check(p: PrioritySort) -> QueueSortPlugin:
    """Compile-time conformance: mypy checks the plugin against the Protocol."""
    return p
