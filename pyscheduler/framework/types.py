"""Scheduling-time views of pods and the cluster events that can make them schedulable.

Contract:
* ``PodInfo`` wraps a decoded Pod with what every cycle needs precomputed once per pod version:
  requests, non-zero requests (for scoring), host ports, priority. It is rebuilt when the pod
  object changes; plugins may memoize derived data (compiled selectors...) in ``memo`` keyed by
  their plugin name, since a PodInfo is never reused across pod versions.
* ``QueuedPodInfo`` is the scheduling queue's record of a pending pod: attempts, timestamps and
  the plugins that rejected it last (which decide what cluster events may requeue it).
* ``ClusterEvent`` names a resource and an action bit set, as upstream's framework.ClusterEvent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntFlag, StrEnum
from typing import Any

import structlog

from pyscheduler.model.meta import object_key
from pyscheduler.model.pod import Pod, pod_priority
from pyscheduler.model.resources import Resources, pod_non_zero_requests, pod_requests

log = structlog.get_logger(__name__)

HostPort = tuple[str, str, int]  # (hostIP, protocol, hostPort)


def host_ports(pod: Pod) -> list[HostPort]:
    """The pod's host ports as upstream counts them: sidecar (restartable) init containers,
    then regular containers; other init containers have exited before the pod runs.
    An empty hostIP means all addresses and an empty protocol TCP, as API defaulting does."""
    out: list[HostPort] = []
    sidecars = [c for c in pod.spec.init_containers if c.restart_policy == "Always"]
    for c in (*sidecars, *pod.spec.containers):
        for p in c.ports:
            if p.host_port > 0:
                out.append((p.host_ip or "0.0.0.0", p.protocol or "TCP", p.host_port))
    return out


@dataclass(slots=True, eq=False)
class PodInfo:
    pod: Pod
    key: str
    uid: str
    priority: int
    requests: Resources
    non_zero_cpu: int
    non_zero_mem: int
    host_ports: list[HostPort]
    # Plugin-owned memo (compiled selectors, parsed terms) for this pod version.
    memo: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, pod: Pod) -> PodInfo:
        """Upstream NewPodInfo: key, priority, requests, ports precomputed; bad quantities: 0."""
        try:
            requests = pod_requests(pod)
            nz_cpu, nz_mem = pod_non_zero_requests(pod)
        except ValueError as err:
            # A quantity the API server accepted but we cannot parse must not crash the cache:
            # count nothing for it and say so.
            log.warning("invalid resource quantity; counting no requests",
                        pod=object_key(pod.metadata), error=str(err))
            requests, nz_cpu, nz_mem = {}, 0, 0
        return cls(
            pod=pod,
            key=object_key(pod.metadata),
            uid=pod.metadata.uid,
            priority=pod_priority(pod),
            requests=requests,
            non_zero_cpu=nz_cpu,
            non_zero_mem=nz_mem,
            host_ports=host_ports(pod),
        )


@dataclass(slots=True, eq=False)
class QueuedPodInfo:
    pod_info: PodInfo
    # When the pod was added to the queue (or last moved); used by the backoff and flushes.
    timestamp: float = field(default_factory=time.monotonic)
    # The first time the pod entered the queue: the start of the SLI latency.
    initial_attempt_timestamp: float | None = None
    attempts: int = 0
    # Plugins that rejected the pod in its last attempt; cluster events are matched against
    # the events these plugins registered.
    unschedulable_plugins: set[str] = field(default_factory=set)
    # Plugins that returned Pending (PreEnqueue/Permit); only their events requeue the pod.
    pending_plugins: set[str] = field(default_factory=set)
    # PreEnqueue rejected the pod (e.g. scheduling gates): it waits in the gated set.
    gated: bool = False
    gating_plugin: str = ""
    # Moved out of the unschedulable pool by the 5-minute timeout, not by an event
    # (scheduler_pod_scheduled_after_flush_total counts such pods when they bind).
    flushed: bool = False
    # The least backoff (seconds from the failure) the last failure owes, whatever the
    # attempts: a failed pod group's podGroupBackoffSeconds. Reset when the pod is popped.
    min_backoff: float = 0.0

    @property
    def pod(self) -> Pod:
        """The current pod object (follows ``pod_info`` when the queue replaces it)."""
        return self.pod_info.pod

    @property
    def key(self) -> str:
        """The pod's 'namespace/name'."""
        return self.pod_info.key

    @property
    def uid(self) -> str:
        """The pod's UID: the queue's identity for it."""
        return self.pod_info.uid


class ActionType(IntFlag):
    ADD = 1
    DELETE = 2
    UPDATE_NODE_ALLOCATABLE = 4
    UPDATE_NODE_LABEL = 8
    UPDATE_NODE_TAINT = 16
    UPDATE_NODE_CONDITION = 32
    UPDATE_NODE_ANNOTATION = 64
    UPDATE_POD_LABEL = 128
    UPDATE_POD_SCALE_DOWN = 256
    UPDATE_POD_TOLERATION = 512
    UPDATE_POD_SCHEDULING_GATES_ELIMINATED = 1024
    UPDATE_POD_GENERATED_RESOURCE_CLAIM = 2048
    UPDATE = (
        UPDATE_NODE_ALLOCATABLE | UPDATE_NODE_LABEL | UPDATE_NODE_TAINT | UPDATE_NODE_CONDITION
        | UPDATE_NODE_ANNOTATION | UPDATE_POD_LABEL | UPDATE_POD_SCALE_DOWN
        | UPDATE_POD_TOLERATION | UPDATE_POD_SCHEDULING_GATES_ELIMINATED
        | UPDATE_POD_GENERATED_RESOURCE_CLAIM | 4096
    )
    ALL = ADD | DELETE | UPDATE


class Resource(StrEnum):
    """Event resources, named as upstream's EventResource so labels in metrics match."""

    POD = "Pod"
    # The scheduler distinguishes assigned pods from unscheduled ones, as upstream does.
    ASSIGNED_POD = "AssignedPod"
    UNSCHEDULED_POD = "UnschedulablePod"
    NODE = "Node"
    PV = "PersistentVolume"
    PVC = "PersistentVolumeClaim"
    STORAGE_CLASS = "storage.k8s.io/StorageClass"
    CSI_NODE = "storage.k8s.io/CSINode"
    CSI_DRIVER = "storage.k8s.io/CSIDriver"
    CSI_STORAGE_CAPACITY = "storage.k8s.io/CSIStorageCapacity"
    VOLUME_ATTACHMENT = "storage.k8s.io/VolumeAttachment"
    PDB = "PodDisruptionBudget"
    POD_GROUP = "scheduling.k8s.io/PodGroup"  # upstream fwk.PodGroup
    COSCHEDULING_POD_GROUP = "scheduling.x-k8s.io/PodGroup"
    ELASTIC_QUOTA = "scheduling.x-k8s.io/ElasticQuota"
    WILDCARD = "*"


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    resource: Resource
    action: ActionType
    label: str = ""

    def matches(self, incoming: ClusterEvent) -> bool:
        """Whether a registered event (self) covers an incoming one (upstream Match)."""
        if self.resource == Resource.WILDCARD:
            return True
        res_ok = self.resource == incoming.resource or (
            # Registering for Pod covers both assigned and unscheduled pod events.
            self.resource == Resource.POD
            and incoming.resource in (Resource.ASSIGNED_POD, Resource.UNSCHEDULED_POD)
        )
        return res_ok and bool(self.action & incoming.action)


class QueueingHint(Enum):
    QUEUE = "Queue"
    SKIP = "QueueSkip"


# (pod being considered, old object or None, new object or None) -> hint. Raising counts as QUEUE.
QueueingHintFn = Callable[[Pod, Any, Any], QueueingHint]


@dataclass(frozen=True, slots=True)
class ClusterEventWithHint:
    event: ClusterEvent
    hint: QueueingHintFn | None = None


# Well-known events used as queue move triggers and metric labels.
EVENT_UNSCHEDULABLE_TIMEOUT = ClusterEvent(Resource.WILDCARD, ActionType.ALL,
                                           "UnschedulableTimeout")
EVENT_FORCE_ACTIVATE = ClusterEvent(Resource.WILDCARD, ActionType.ALL, "ForceActivate")
EVENT_BACKOFF_COMPLETE = ClusterEvent(Resource.WILDCARD, ActionType.ALL, "BackoffComplete")
EVENT_POD_ADD = ClusterEvent(Resource.UNSCHEDULED_POD, ActionType.ADD, "PodAdd")
EVENT_ASSIGNED_POD_ADD = ClusterEvent(Resource.ASSIGNED_POD, ActionType.ADD, "AssignedPodAdd")
EVENT_ASSIGNED_POD_DELETE = ClusterEvent(Resource.ASSIGNED_POD, ActionType.DELETE,
                                         "AssignedPodDelete")
EVENT_NODE_ADD = ClusterEvent(Resource.NODE, ActionType.ADD, "NodeAdd")
