"""Partial schemas of the two gang APIs, and the one group reference both map to.

* Upstream (KEP-4671, GenericWorkload): ``scheduling.k8s.io/v1beta1`` PodGroup, in the pod's
  namespace, named by the pod's ``spec.schedulingGroup.podGroupName``; gang semantics come from
  ``spec.schedulingPolicy.gang.minCount`` (``basic`` or no gang: no gang constraint).
* scheduler-plugins' Coscheduling: ``scheduling.x-k8s.io/v1alpha1`` PodGroup, named by the pod
  label ``scheduling.x-k8s.io/pod-group``; ``spec.minMember``, ``spec.minResources`` and
  ``spec.scheduleTimeoutSeconds``; status phase/running/succeeded/failed/scheduleStartTime.

``GroupRef`` is the key both map to: the API it comes from, the namespace and the name. Group
keys always include the namespace: a pod can only belong to a group of its own namespace.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from pyscheduler.model.meta import K8sLeaf, K8sStruct, ObjectMeta
from pyscheduler.model.pod import Pod

# Lister names (PluginSpec.listers; scheduler/watched.py knows how to watch them).
POD_GROUPS = "podgroups.scheduling.k8s.io"
COSCHEDULING_POD_GROUPS = "podgroups.scheduling.x-k8s.io"

# scheduler-plugins' pod label naming the pod's PodGroup.
POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"

UPSTREAM = "scheduling.k8s.io"
COSCHEDULING = "scheduling.x-k8s.io"


# ---- upstream: scheduling.k8s.io/v1beta1 ----------------------------------------------------
class GangSchedulingPolicy(K8sLeaf):
    min_count: int = 0


class PodGroupSchedulingPolicy(K8sStruct):
    basic: dict[str, object] | None = None
    gang: GangSchedulingPolicy | None = None


class PodGroupSpec(K8sStruct):
    scheduling_policy: PodGroupSchedulingPolicy = msgspec.field(
        default_factory=PodGroupSchedulingPolicy)
    priority_class_name: str = ""
    priority: int | None = None


class Condition(K8sLeaf):
    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""
    observed_generation: int | None = None
    last_transition_time: str | None = None


class PodGroupStatus(K8sStruct):
    conditions: list[Condition] = []


class PodGroup(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PodGroupSpec = msgspec.field(default_factory=PodGroupSpec)
    status: PodGroupStatus = msgspec.field(default_factory=PodGroupStatus)


# ---- scheduler-plugins: scheduling.x-k8s.io/v1alpha1 ---------------------------------------
class CoschedulingPodGroupSpec(K8sStruct):
    min_member: int = 0
    min_resources: dict[str, str] = {}
    schedule_timeout_seconds: int | None = None


class CoschedulingPodGroupStatus(K8sStruct):
    phase: str = ""
    occupied_by: str = ""
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    schedule_start_time: str | None = None


class CoschedulingPodGroup(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: CoschedulingPodGroupSpec = msgspec.field(default_factory=CoschedulingPodGroupSpec)
    status: CoschedulingPodGroupStatus = msgspec.field(
        default_factory=CoschedulingPodGroupStatus)


# ---- the one reference both map to --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GroupRef:
    """A pod's group: which API, which namespace, which name."""

    api: str
    namespace: str
    name: str

    @property
    def key(self) -> str:
        """'namespace/name', the lister key of the group object."""
        return f"{self.namespace}/{self.name}"

    @property
    def index_key(self) -> str:
        """'api/namespace/name': the pod indexer's value (POD_GROUP_INDEX) and the key other
        per-group state uses, unique across both APIs."""
        return f"{self.api}/{self.key}"

    def __str__(self) -> str:
        return self.key


def upstream_group(pod: Pod) -> GroupRef | None:
    """The upstream PodGroup ``pod`` names in spec.schedulingGroup, if any."""
    sg = pod.spec.scheduling_group
    if sg is None or not sg.pod_group_name:
        return None
    return GroupRef(UPSTREAM, pod.metadata.namespace, sg.pod_group_name)


def coscheduling_group(pod: Pod) -> GroupRef | None:
    """The scheduler-plugins PodGroup ``pod``'s label names, if any."""
    name = pod.metadata.labels.get(POD_GROUP_LABEL, "")
    if not name:
        return None
    return GroupRef(COSCHEDULING, pod.metadata.namespace, name)


def in_a_group(pod: Pod) -> bool:
    """Whether ``pod`` names a pod group of either API (group_index non-empty), cheaply: the
    preemption dry runs ask it of every potential victim."""
    sg = pod.spec.scheduling_group
    return bool((sg is not None and sg.pod_group_name)
                or pod.metadata.labels.get(POD_GROUP_LABEL))


def group_index(pod: Pod) -> list[str]:
    """Pod indexer: the group keys ('api/namespace/name') the pod belongs to."""
    out = []
    for ref in (upstream_group(pod), coscheduling_group(pod)):
        if ref is not None:
            out.append(ref.index_key)
    return out


POD_GROUP_INDEX = "podGroup"
