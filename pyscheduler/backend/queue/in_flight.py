"""Pods in flight and the cluster events seen while they are (upstream activeQueue's
inFlightPods and inFlightEvents).

Contract:
* ``start(uid, pod_info, cycle)`` records a popped pod; its ``start_seq`` is the sequence number the
  next recorded event gets, so ``events_since(rec)`` is exactly the events that arrived after
  its pop, oldest first.
* ``record(event, old, new)`` appends an event only while some pod is in flight: with none,
  no failed attempt can ever ask for it.
* ``finish(uid)`` releases a record and drops the events older than every remaining pod's pop.
  Records are inserted with non-decreasing ``start_seq`` and never re-inserted, so the oldest is
  the first in insertion order: pruning is O(1), not a scan of every in-flight pod (which was
  quadratic when thousands of pods wait for their binds).
Not thread-safe, like the queue that owns it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyscheduler.framework.types import ClusterEvent, PodInfo


@dataclass(slots=True, frozen=True)
class RecordedEvent:
    """A cluster event with the objects before and after it."""

    event: ClusterEvent
    old: Any
    new: Any


@dataclass(slots=True)
class InFlightPod:
    """A popped pod whose attempt has not called ``done`` yet."""

    pod_info: PodInfo
    # Sequence number of the first event recorded after the pop.
    start_seq: int
    cycle: int
    # Newest version seen by update() while in flight; requeued instead of the popped one.
    latest: PodInfo | None = None
    # An update while in flight changed more than status (is_pod_updated).
    updated: bool = False
    # delete() while in flight: the pod is dropped when it comes back.
    deleted: bool = False


class InFlightLog:
    """In-flight pods by UID and the events recorded since the oldest of them was popped."""

    __slots__ = ("_base", "events", "pods")

    def __init__(self) -> None:
        self.pods: dict[str, InFlightPod] = {}
        # events[i] has sequence number _base + i.
        self.events: list[RecordedEvent] = []
        self._base = 0

    def __len__(self) -> int:
        return len(self.pods)

    def __contains__(self, uid: str) -> bool:
        return uid in self.pods

    def __iter__(self) -> Iterator[InFlightPod]:
        return iter(self.pods.values())

    def get(self, uid: str) -> InFlightPod | None:
        """The in-flight record of this UID, or None."""
        return self.pods.get(uid)

    def start(self, uid: str, pod_info: PodInfo, cycle: int) -> InFlightPod:
        """Record a popped pod; events recorded from now on concern its attempt."""
        rec = InFlightPod(pod_info=pod_info, start_seq=self._base + len(self.events),
                          cycle=cycle)
        self.pods[uid] = rec
        return rec

    def record(self, event: ClusterEvent, old: Any, new: Any) -> None:
        """Keep ``event`` for the pods in flight (a no-op when there are none)."""
        if self.pods:
            self.events.append(RecordedEvent(event, old, new))

    def events_since(self, rec: InFlightPod) -> list[RecordedEvent]:
        """The events recorded after ``rec``'s pod was popped, oldest first."""
        return self.events[rec.start_seq - self._base:]

    def finish(self, uid: str) -> bool:
        """Release the record of ``uid`` and prune; False if it was not in flight."""
        if self.pods.pop(uid, None) is None:
            return False
        if not self.pods:
            self._base += len(self.events)
            self.events.clear()
            return True
        oldest = next(iter(self.pods.values())).start_seq
        drop = oldest - self._base
        if drop > 0:
            del self.events[:drop]
            self._base = oldest
        return True
