"""Test helpers for the scheduling queue: a fake clock, pod builders, plugins, a harness."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from pyscheduler.backend.queue import PriorityQueue, QueueMetrics
from pyscheduler.framework.interfaces import PreEnqueuePlugin
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import (
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    QueuedPodInfo,
    QueueingHint,
    Resource,
)
from pyscheduler.model.meta import ObjectMeta
from pyscheduler.model.pod import (
    Container,
    Pod,
    PodSchedulingGate,
    PodSpec,
    PodStatus,
    ResourceRequirements,
    Toleration,
)

_uids = itertools.count(1)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += seconds


def make_pod(
    name: str,
    *,
    uid: str | None = None,
    namespace: str = "default",
    priority: int | None = None,
    labels: Mapping[str, str] | None = None,
    gates: Sequence[str] = (),
    nominated: str = "",
    node: str = "",
    cpu: str | None = None,
    tolerations: int = 0,
    resource_version: str = "1",
    phase: str = "Pending",
) -> Pod:
    containers = [Container(
        name="c",
        resources=ResourceRequirements(requests={"cpu": cpu}) if cpu is not None else None,
    )]
    return Pod(
        metadata=ObjectMeta(name=name, namespace=namespace, uid=uid or f"uid-{next(_uids)}",
                            labels=dict(labels or {}), resource_version=resource_version),
        spec=PodSpec(
            node_name=node,
            priority=priority,
            containers=containers,
            scheduling_gates=[PodSchedulingGate(name=g) for g in gates],
            tolerations=[Toleration(key=f"k{i}", operator="Exists") for i in range(tolerations)],
        ),
        status=PodStatus(phase=phase, nominated_node_name=nominated),
    )


def priority_less(a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
    """PrioritySort: higher priority first, then the earlier timestamp."""
    if a.pod_info.priority != b.pod_info.priority:
        return a.pod_info.priority > b.pod_info.priority
    return a.timestamp < b.timestamp


GATES = "SchedulingGates"
FIT = "NodeResourcesFit"
AFFINITY = "InterPodAffinity"
PERMIT = "CoschedulingPermit"

NODE_ADD = ClusterEvent(Resource.NODE, ActionType.ADD, "NodeAdd")
NODE_ALLOCATABLE = ClusterEvent(Resource.NODE, ActionType.UPDATE_NODE_ALLOCATABLE)
NODE_TAINT = ClusterEvent(Resource.NODE, ActionType.UPDATE_NODE_TAINT)
POD_DELETE = ClusterEvent(Resource.ASSIGNED_POD, ActionType.DELETE, "AssignedPodDelete")


@dataclass
class GatePlugin:
    """Like upstream SchedulingGates: rejects pods that still have scheduling gates."""

    name: str = GATES
    calls: int = 0

    def pre_enqueue(self, pod: Pod) -> Status | None:
        self.calls += 1
        if pod.spec.scheduling_gates:
            names = [g.name for g in pod.spec.scheduling_gates]
            return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                          [f"waiting for scheduling gates: {names}"], self.name)
        return None


def gates_hint(pod: Pod, old: Any, new: Any) -> QueueingHint:
    if isinstance(new, Pod) and new.metadata.uid == pod.metadata.uid \
            and not new.spec.scheduling_gates:
        return QueueingHint.QUEUE
    return QueueingHint.SKIP


@dataclass
class HintLog:
    """A configurable hint that records its calls."""

    answer: QueueingHint = QueueingHint.QUEUE
    raises: bool = False
    calls: list[tuple[str, Any, Any]] = field(default_factory=list)

    def __call__(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        self.calls.append((pod.metadata.name, old, new))
        if self.raises:
            raise RuntimeError("hint exploded")
        return self.answer


@dataclass
class Harness:
    queue: PriorityQueue
    clock: FakeClock
    registry: CollectorRegistry
    metrics: QueueMetrics

    def pending(self, queue: str) -> float:
        v = self.registry.get_sample_value("scheduler_pending_pods", {"queue": queue})
        return 0.0 if v is None else v

    def incoming(self, queue: str, event: str) -> float:
        v = self.registry.get_sample_value("scheduler_queue_incoming_pods_total",
                                           {"queue": queue, "event": event})
        return 0.0 if v is None else v

    def sizes(self) -> dict[str, float]:
        return {q: self.pending(q) for q in ("active", "backoff", "unschedulable", "gated")}


def default_events() -> dict[str, list[ClusterEventWithHint]]:
    return {
        GATES: [ClusterEventWithHint(
            ClusterEvent(Resource.POD, ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED),
            gates_hint)],
        FIT: [
            ClusterEventWithHint(ClusterEvent(Resource.NODE, ActionType.ADD
                                              | ActionType.UPDATE_NODE_ALLOCATABLE)),
            ClusterEventWithHint(ClusterEvent(Resource.POD, ActionType.DELETE)),
        ],
        AFFINITY: [ClusterEventWithHint(ClusterEvent(Resource.POD, ActionType.ADD))],
        PERMIT: [ClusterEventWithHint(ClusterEvent(Resource.POD, ActionType.ADD))],
    }


def make_queue(
    *,
    pre_enqueue: Mapping[str, PreEnqueuePlugin] | None = None,
    events: Mapping[str, Sequence[ClusterEventWithHint]] | None = None,
    **kwargs: Any,
) -> Harness:
    registry = CollectorRegistry()
    metrics = QueueMetrics(registry)
    clock = FakeClock()
    queue = PriorityQueue(
        priority_less,
        metrics=metrics,
        pre_enqueue_plugins=pre_enqueue if pre_enqueue is not None else {GATES: GatePlugin()},
        events_by_plugin=events if events is not None else default_events(),
        clock=clock,
        **kwargs,
    )
    return Harness(queue, clock, registry, metrics)


def fail(h: Harness, qpi: QueuedPodInfo, *plugins: str, pending: Sequence[str] = ()) -> str | None:
    """Report a failed attempt rejected by ``plugins`` (none: an Error)."""
    qpi.unschedulable_plugins = set(plugins)
    qpi.pending_plugins = set(pending)
    h.queue.add_unschedulable_if_not_present(qpi, h.queue.scheduling_cycle())
    return h.queue.where(qpi.uid)
