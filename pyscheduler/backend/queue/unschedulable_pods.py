"""The unschedulable pool (upstream backend/queue/unschedulable_pods.go).

Contract: pods by UID whose last attempt was rejected, and pods PreEnqueue rejected (marked
``queued.gated``). The ``pending_pods`` gauges (queue "unschedulable" or "gated") always count the
members, and ``incoming_pods`` counts each arrival once: ``add_or_update`` of a member moves it
between the two gauges when its gated flag changed, and removal decrements the gauge it was
counted in (remembered here, since ``queued.gated`` may change before the pod is re-added or
removed). Not thread-safe, like the queue that owns it.
"""

from __future__ import annotations

from pyscheduler.backend.queue.metrics import GATED, UNSCHEDULABLE, QueueMetrics
from pyscheduler.framework.types import QueuedPodInfo


class UnschedulablePods:
    """Unschedulable and gated pods by UID, with their gauges (upstream unschedulablePods)."""

    __slots__ = ("_gated", "_metrics", "pods")

    def __init__(self, metrics: QueueMetrics) -> None:
        self.pods: dict[str, QueuedPodInfo] = {}
        # Gated membership as counted in the gauges; queued.gated may change before the pod is
        # re-added or removed, so removal consults this set, not the flag.
        self._gated: set[str] = set()
        self._metrics = metrics

    def __len__(self) -> int:
        return len(self.pods)

    @property
    def gated_count(self) -> int:
        """Members that are gated (PreEnqueue rejected them)."""
        return len(self._gated)

    def __contains__(self, uid: str) -> bool:
        return uid in self.pods

    def get(self, uid: str) -> QueuedPodInfo | None:
        """The member with this UID, or None."""
        return self.pods.get(uid)

    def add_or_update(self, queued: QueuedPodInfo, event: str) -> None:
        """Add the pod (counted as incoming by ``event``) or replace its record."""
        uid = queued.uid
        gauge = self._metrics.pending_pods
        existed = uid in self.pods
        was_gated = uid in self._gated
        self.pods[uid] = queued
        if queued.gated:
            self._gated.add(uid)
        else:
            self._gated.discard(uid)
        if not existed:
            gauge.labels(queue=GATED if queued.gated else UNSCHEDULABLE).inc()
            self._metrics.incoming(UNSCHEDULABLE, event)
        elif was_gated != queued.gated:
            gauge.labels(queue=GATED if was_gated else UNSCHEDULABLE).dec()
            gauge.labels(queue=GATED if queued.gated else UNSCHEDULABLE).inc()

    def remove(self, uid: str) -> QueuedPodInfo | None:
        """Remove and return the member with this UID (None if absent)."""
        queued = self.pods.pop(uid, None)
        if queued is not None:
            gated = uid in self._gated
            self._gated.discard(uid)
            self._metrics.pending_pods.labels(queue=GATED if gated else UNSCHEDULABLE).dec()
        return queued
