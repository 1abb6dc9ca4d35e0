"""Partial typed schema of core/v1 Pod: only what scheduling reads.

Contract: see meta.py. Field names are the API's camelCase names in snake_case. Optional
sub-objects that are rare (affinity, volumes' sources) are ``None`` when absent so a plain pod
costs little memory. Defaults match the API server's defaulting (schedulerName
"default-scheduler", toleration operator Equal) so objects built in unit tests behave like
objects read from a server.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pyscheduler.model.meta import K8sLeaf, K8sStruct, ObjectMeta


class ContainerPort(K8sLeaf):
    container_port: int = 0
    host_port: int = 0
    protocol: str = "TCP"
    host_ip: str = msgspec.field(default="", name="hostIP")


class ResourceRequirements(K8sLeaf):
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}


class Container(K8sStruct):
    name: str = ""
    image: str = ""
    resources: ResourceRequirements | None = None
    ports: list[ContainerPort] = []
    # Only meaningful on init containers: "Always" makes it a restartable (sidecar) container.
    restart_policy: str | None = None


class Toleration(K8sLeaf):
    key: str = ""
    operator: str = ""
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None


class NodeSelectorRequirement(K8sLeaf):
    key: str = ""
    operator: str = ""
    values: list[str] = []


class NodeSelectorTerm(K8sStruct):
    match_expressions: list[NodeSelectorRequirement] = []
    match_fields: list[NodeSelectorRequirement] = []


class NodeSelector(K8sStruct):
    node_selector_terms: list[NodeSelectorTerm] = []


class PreferredSchedulingTerm(K8sStruct):
    weight: int = 0
    preference: NodeSelectorTerm = msgspec.field(default_factory=NodeSelectorTerm)


class NodeAffinity(K8sStruct):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] = []


class LabelSelectorRequirement(K8sLeaf):
    key: str = ""
    operator: str = ""
    values: list[str] = []


class LabelSelector(K8sStruct):
    match_labels: dict[str, str] = {}
    match_expressions: list[LabelSelectorRequirement] = []


class PodAffinityTerm(K8sStruct):
    label_selector: LabelSelector | None = None
    namespaces: list[str] = []
    topology_key: str = ""
    namespace_selector: LabelSelector | None = None
    match_label_keys: list[str] = []
    mismatch_label_keys: list[str] = []


class WeightedPodAffinityTerm(K8sStruct):
    weight: int = 0
    pod_affinity_term: PodAffinityTerm = msgspec.field(default_factory=PodAffinityTerm)


class PodAffinity(K8sStruct):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] = []
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] = []


class Affinity(K8sStruct):
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None


class TopologySpreadConstraint(K8sStruct):
    max_skew: int = 1
    topology_key: str = ""
    when_unsatisfiable: str = "DoNotSchedule"
    label_selector: LabelSelector | None = None
    min_domains: int | None = None
    node_affinity_policy: str | None = None
    node_taints_policy: str | None = None
    match_label_keys: list[str] = []


class PVCSource(K8sLeaf):
    claim_name: str = ""
    read_only: bool = False


class Volume(K8sStruct):
    name: str = ""
    persistent_volume_claim: PVCSource | None = None
    # Generic ephemeral volume: the PVC is "<pod name>-<volume name>"; the template itself
    # is not needed for scheduling, only its presence.
    ephemeral: dict[str, Any] | None = None
    # Legacy in-tree sources, read only by VolumeRestrictions' disk-conflict check.
    gce_persistent_disk: dict[str, Any] | None = None
    aws_elastic_block_store: dict[str, Any] | None = None
    iscsi: dict[str, Any] | None = None
    rbd: dict[str, Any] | None = None


class PodSchedulingGate(K8sLeaf):
    name: str = ""


class PodSchedulingGroup(K8sLeaf):
    """spec.schedulingGroup (GenericWorkload, v1.36+): the PodGroup the pod belongs to."""

    pod_group_name: str | None = None


class PodSpec(K8sStruct):
    node_name: str = ""
    scheduler_name: str = "default-scheduler"
    priority: int | None = None
    priority_class_name: str = ""
    preemption_policy: str | None = None
    containers: list[Container] = []
    init_containers: list[Container] = []
    overhead: dict[str, str] = {}
    node_selector: dict[str, str] = {}
    affinity: Affinity | None = None
    tolerations: list[Toleration] = []
    topology_spread_constraints: list[TopologySpreadConstraint] = []
    volumes: list[Volume] = []
    scheduling_gates: list[PodSchedulingGate] = []
    # Pod-level resources (PodLevelResources feature): when set, its requests win.
    resources: ResourceRequirements | None = None
    host_network: bool = False
    scheduling_group: PodSchedulingGroup | None = None

    def __post_init__(self) -> None:
        if self.tolerations:
            self.tolerations = [_shared_toleration(t) for t in self.tolerations]


# Nearly every pod carries the same two tolerations (DefaultTolerationSeconds admission adds
# not-ready and unreachable for 300 s): decoded pods share one object per distinct toleration.
# Decoded structs are never mutated (changes go through msgspec.structs.replace), so sharing
# is safe. Bounded, so that unusual clusters cannot grow it without limit.
_TOLERATIONS: dict[tuple[str, str, str, str, int | None], Toleration] = {}
_TOLERATIONS_MAX = 4096


def _shared_toleration(t: Toleration) -> Toleration:
    key = (t.key, t.operator, t.value, t.effect, t.toleration_seconds)
    shared = _TOLERATIONS.get(key)
    if shared is not None:
        return shared
    if len(_TOLERATIONS) < _TOLERATIONS_MAX:
        _TOLERATIONS[key] = t
    return t


class PodCondition(K8sLeaf):
    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""
    last_transition_time: str | None = None
    observed_generation: int | None = None


# The pod conditions the scheduler reads (PodScheduled: the reporter's own; DisruptionTarget:
# preemption's). The kubelet's (Ready, Initialized, ContainersReady, ...) are dropped when a
# pod is decoded, as upstream's informers drop managedFields: about a fifth of a cached pod's
# memory. Status writes are patches of one condition, so nothing dropped is ever written back.
KEPT_POD_CONDITIONS = frozenset({"PodScheduled", "DisruptionTarget"})


class PodStatus(K8sStruct):
    phase: str = ""
    conditions: list[PodCondition] = []
    nominated_node_name: str = ""
    start_time: str | None = None

    def __post_init__(self) -> None:
        if self.conditions and any(c.type not in KEPT_POD_CONDITIONS
                                   for c in self.conditions):
            self.conditions = [c for c in self.conditions if c.type in KEPT_POD_CONDITIONS]


class Pod(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PodSpec = msgspec.field(default_factory=PodSpec)
    status: PodStatus = msgspec.field(default_factory=PodStatus)


def pod_priority(pod: Pod) -> int:
    """spec.priority as the API server resolved it from the PriorityClass; 0 when absent."""
    return pod.spec.priority if pod.spec.priority is not None else 0


def is_terminal(pod: Pod) -> bool:
    return pod.status.phase in ("Succeeded", "Failed")


def pvc_name(pod: Pod, volume: Volume) -> str | None:
    """The claim a volume refers to, including generic ephemeral volumes."""
    if volume.persistent_volume_claim is not None:
        return volume.persistent_volume_claim.claim_name
    if volume.ephemeral is not None:
        return f"{pod.metadata.name}-{volume.name}"
    return None


def with_node_name(pod: Pod, node: str) -> Pod:
    """``pod`` with spec.nodeName set to ``node`` (upstream's assumed copy); itself if equal."""
    if pod.spec.node_name == node:
        return pod
    return msgspec.structs.replace(pod, spec=msgspec.structs.replace(pod.spec, node_name=node))
