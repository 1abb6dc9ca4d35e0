"""Prometheus metrics of the scheduling queue, with upstream's names and labels.

Contract:
* ``QueueMetrics(registry)`` registers, on ``registry`` (default: prometheus_client's global
  REGISTRY; tests pass a fresh ``CollectorRegistry``):
  - ``scheduler_pending_pods{queue}`` gauge, queue in active | backoff | unschedulable | gated
    ("unschedulable" excludes gated pods, as upstream);
  - ``scheduler_queue_incoming_pods_total{queue,event}`` counter: pods entering a sub-queue,
    by the event that moved them ("PodAdd", "ScheduleAttemptFailure", "BackoffComplete",
    "UnschedulableTimeout", "NodeAdd", ...), and its v1.37 twin
    ``scheduler_queue_incoming_entities_total{queue,event,type}`` (type is always "pod": there
    are no pod groups here); count both with ``incoming(queue, event)``.
* Queues only ever inc/dec the gauge, never set it, so several queues (one per profile) can
  share one QueueMetrics and the gauge is their sum. Build one QueueMetrics per registry:
  registering the same names twice on a registry raises. ``default_queue_metrics()`` is the
  process-wide one on the global REGISTRY, created on first use; queues built without a
  metrics object share it.
"""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

ACTIVE = "active"
BACKOFF = "backoff"
UNSCHEDULABLE = "unschedulable"
GATED = "gated"
QUEUES = (ACTIVE, BACKOFF, UNSCHEDULABLE, GATED)


class QueueMetrics:
    __slots__ = ("_incoming", "incoming_entities", "incoming_pods", "pending_pods")

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        self.pending_pods = Gauge(
            "scheduler_pending_pods",
            "[STABLE] Number of pending pods, by the queue type. 'active' means number of pods in "
            "activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number "
            "of pods in unschedulablePods that the scheduler attempted to schedule and failed; "
            "'gated' is the number of unschedulable pods that the scheduler never attempted "
            "to schedule because they are gated.",
            ["queue"],
            registry=registry,
        )
        self.incoming_pods = Counter(
            "scheduler_queue_incoming_pods",
            "[STABLE] Number of pods added to scheduling queues by event and queue type.",
            ["queue", "event"],
            registry=registry,
        )
        self.incoming_entities = Counter(
            "scheduler_queue_incoming_entities",
            "[ALPHA] Number of scheduling entities added to scheduling queues by event, queue "
            "type, and entity type. Entity types are either 'pod' (for individual pods that are "
            "not members of any podgroup) or 'podgroup'.",
            ["queue", "event", "type"],
            registry=registry,
        )
        # (queue, event) -> both children: labels() is costly and the label sets are few
        self._incoming: dict[tuple[str, str], tuple[Any, Any]] = {}
        # Export every queue at 0 from the start, so dashboards see the series before traffic.
        for q in QUEUES:
            self.pending_pods.labels(queue=q)


    def incoming(self, queue: str, event: str) -> None:
        """A pod entered ``queue`` because of ``event``: count it as a pod and as an entity."""
        pair = self._incoming.get((queue, event))
        if pair is None:
            pair = (self.incoming_pods.labels(queue=queue, event=event),
                    self.incoming_entities.labels(queue=queue, event=event, type="pod"))
            self._incoming[(queue, event)] = pair
        pair[0].inc()
        pair[1].inc()


@functools.cache
def default_queue_metrics() -> QueueMetrics:
    """The queue metrics on prometheus_client's global REGISTRY (one per process)."""
    return QueueMetrics(REGISTRY)
