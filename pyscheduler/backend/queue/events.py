"""Which cluster events an object update amounts to (upstream framework/events.go).

Contract:
* ``node_scheduling_properties_change(new, old)`` returns one Node ClusterEvent per kind of
  change that can matter to scheduling, in upstream's order: spec.unschedulable flipped to
  false (reported as UPDATE_NODE_TAINT, as upstream does), allocatable (compared as quantities,
  so "1" == "1000m"), labels, taints, condition statuses (by type; heartbeat times ignored),
  annotations. An empty list means the update cannot change any scheduling result.
* ``pod_scheduling_properties_change(new, old)`` returns the Pod events of an update: label
  change, request scale-down (a resource removed or lowered), scheduling gates all removed,
  toleration added; the resource is AssignedPod when the new pod has a node, else
  UnschedulablePod. When nothing specific changed it returns a single UPDATE_POD_OTHER event,
  which only plugins that registered the whole Pod/Update action receive.
* ``is_pod_updated(old, new)`` is upstream's isPodUpdated: anything but status, resourceVersion
  and generation changed.
* ``event_label(event)`` is upstream's ClusterEvent.Label(): the custom label if any, else
  resource + action ("NodeAdd", "NodeUpdateNodeTaint"): the ``event`` label of
  scheduler_queue_incoming_pods_total.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache

import msgspec

from pyscheduler.framework.types import ActionType, ClusterEvent, Resource
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod, PodStatus
from pyscheduler.model.quantity import to_int
from pyscheduler.model.resources import pod_requests

# Upstream's unexported updatePodOther: the bit of ActionType.UPDATE no named bit covers.
UPDATE_POD_OTHER = ActionType(4096)

# Labels of queue moves that are not cluster events (upstream framework/events.go).
SCHEDULE_ATTEMPT_FAILURE = "ScheduleAttemptFailure"
BACKOFF_COMPLETE = "BackoffComplete"
FORCE_ACTIVATE = "ForceActivate"
UNSCHEDULABLE_TIMEOUT = "UnschedulableTimeout"

EVENT_UNSCHEDULED_POD_ADD = ClusterEvent(Resource.UNSCHEDULED_POD, ActionType.ADD)
EVENT_UNSCHEDULED_POD_UPDATE = ClusterEvent(Resource.UNSCHEDULED_POD, ActionType.UPDATE)
EVENT_UNSCHEDULED_POD_DELETE = ClusterEvent(Resource.UNSCHEDULED_POD, ActionType.DELETE)
EVENT_ASSIGNED_POD_UPDATE = ClusterEvent(Resource.ASSIGNED_POD, ActionType.UPDATE)
EVENT_NODE_DELETE = ClusterEvent(Resource.NODE, ActionType.DELETE)

_ACTION_NAMES: dict[ActionType, str] = {
    ActionType.ADD: "Add",
    ActionType.DELETE: "Delete",
    ActionType.UPDATE_NODE_ALLOCATABLE: "UpdateNodeAllocatable",
    ActionType.UPDATE_NODE_LABEL: "UpdateNodeLabel",
    ActionType.UPDATE_NODE_TAINT: "UpdateNodeTaint",
    ActionType.UPDATE_NODE_CONDITION: "UpdateNodeCondition",
    ActionType.UPDATE_NODE_ANNOTATION: "UpdateNodeAnnotation",
    ActionType.UPDATE_POD_LABEL: "UpdatePodLabel",
    ActionType.UPDATE_POD_SCALE_DOWN: "UpdatePodScaleDown",
    ActionType.UPDATE_POD_TOLERATION: "UpdatePodToleration",
    ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED: "UpdatePodSchedulingGatesEliminated",
    ActionType.UPDATE_POD_GENERATED_RESOURCE_CLAIM: "UpdatePodGeneratedResourceClaim",
    UPDATE_POD_OTHER: "UpdatePodOther",
    ActionType.UPDATE: "Update",
    ActionType.ALL: "All",
}


@lru_cache(maxsize=256)
def _action_name(action: ActionType) -> str:
    name = _ACTION_NAMES.get(action)
    if name is not None:
        return name
    # A combination of bits: join the single-bit names like upstream's stringer does.
    return "|".join(_ACTION_NAMES[bit] for bit in ActionType if bit & action)


def event_label(event: ClusterEvent) -> str:
    """Upstream ClusterEvent.Label(), used in logs and metric labels."""
    if event.label:
        return event.label
    return f"{event.resource.value}{_action_name(event.action)}"


def is_wildcard(event: ClusterEvent) -> bool:
    """Upstream ClusterEventIsWildCard: an event that concerns every pod."""
    return event.resource == Resource.WILDCARD and event.action == ActionType.ALL


# ---------------------------------------------------------------------------------- nodes

def _quantities_equal(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    if a == b:
        return True
    if a.keys() != b.keys():
        return False
    for name, qa in a.items():
        qb = b[name]
        if qa == qb:
            continue
        try:
            if to_int(name, qa) != to_int(name, qb):
                return False
        except ValueError:
            # Unparseable: fall back to the text, which differs.
            return False
    return True


def _extract_node_spec_unschedulable(new: Node, old: Node) -> ActionType | None:
    # Only becoming schedulable can help a pending pod; upstream reports it as a taint change
    # (NodeUnschedulable registers for taint updates).
    if new.spec.unschedulable != old.spec.unschedulable and not new.spec.unschedulable:
        return ActionType.UPDATE_NODE_TAINT
    return None


def _extract_node_allocatable(new: Node, old: Node) -> ActionType | None:
    if not _quantities_equal(old.status.allocatable, new.status.allocatable):
        return ActionType.UPDATE_NODE_ALLOCATABLE
    return None


def _extract_node_labels(new: Node, old: Node) -> ActionType | None:
    if new.metadata.labels != old.metadata.labels:
        return ActionType.UPDATE_NODE_LABEL
    return None


def _extract_node_taints(new: Node, old: Node) -> ActionType | None:
    if new.spec.taints != old.spec.taints:
        return ActionType.UPDATE_NODE_TAINT
    return None


def _extract_node_conditions(new: Node, old: Node) -> ActionType | None:
    def strip(n: Node) -> dict[str, str]:
        return {c.type: c.status for c in n.status.conditions}

    if strip(old) != strip(new):
        return ActionType.UPDATE_NODE_CONDITION
    return None


def _extract_node_annotations(new: Node, old: Node) -> ActionType | None:
    if new.metadata.annotations != old.metadata.annotations:
        return ActionType.UPDATE_NODE_ANNOTATION
    return None


_NODE_EXTRACTORS: tuple[Callable[[Node, Node], ActionType | None], ...] = (
    _extract_node_spec_unschedulable,
    _extract_node_allocatable,
    _extract_node_labels,
    _extract_node_taints,
    _extract_node_conditions,
    _extract_node_annotations,
)


def node_scheduling_properties_change(new: Node, old: Node) -> list[ClusterEvent]:
    """The UpdateNodeXYZ events of a node update (upstream NodeSchedulingPropertiesChange)."""
    events: list[ClusterEvent] = []
    for extract in _NODE_EXTRACTORS:
        action = extract(new, old)
        if action is not None:
            events.append(ClusterEvent(Resource.NODE, action))
    return events


# ----------------------------------------------------------------------------------- pods

def _extract_pod_labels(new: Pod, old: Pod) -> ActionType | None:
    if new.metadata.labels != old.metadata.labels:
        return ActionType.UPDATE_POD_LABEL
    return None


def _extract_pod_scale_down(new: Pod, old: Pod) -> ActionType | None:
    try:
        new_reqs, old_reqs = pod_requests(new), pod_requests(old)
    except ValueError:
        # An unparseable quantity: we cannot tell, and claiming a scale-down would wake
        # every pod rejected for resources; the Update is still reported as UpdatePodOther.
        return None
    for name, old_req in old_reqs.items():
        new_req = new_reqs.get(name)
        if new_req is None or new_req < old_req:
            return ActionType.UPDATE_POD_SCALE_DOWN
    return None


def _extract_pod_gates_eliminated(new: Pod, old: Pod) -> ActionType | None:
    if not new.spec.scheduling_gates and old.spec.scheduling_gates:
        return ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED
    return None


def _extract_pod_tolerations(new: Pod, old: Pod) -> ActionType | None:
    # API validation only allows adding tolerations, so a length change is a change.
    if len(new.spec.tolerations) != len(old.spec.tolerations):
        return ActionType.UPDATE_POD_TOLERATION
    return None


_POD_EXTRACTORS: tuple[Callable[[Pod, Pod], ActionType | None], ...] = (
    _extract_pod_labels,
    _extract_pod_scale_down,
    _extract_pod_gates_eliminated,
    _extract_pod_tolerations,
)


def pod_scheduling_properties_change(new: Pod, old: Pod) -> list[ClusterEvent]:
    """The UpdatePodXYZ events a pod update amounts to (upstream PodSchedulingPropertiesChange)."""
    resource = Resource.ASSIGNED_POD if new.spec.node_name else Resource.UNSCHEDULED_POD
    events: list[ClusterEvent] = []
    for extract in _POD_EXTRACTORS:
        action = extract(new, old)
        if action is not None:
            events.append(ClusterEvent(resource, action))
    if not events:
        events.append(ClusterEvent(resource, UPDATE_POD_OTHER))
    return events


_EMPTY_STATUS = PodStatus()


def _strip(pod: Pod) -> Pod:
    meta = msgspec.structs.replace(pod.metadata, resource_version="", generation=0)
    return msgspec.structs.replace(pod, metadata=meta, status=_EMPTY_STATUS)


def is_pod_updated(old: Pod, new: Pod) -> bool:
    """Whether the update may change scheduling: anything but status/resourceVersion/generation."""
    return _strip(old) != _strip(new)
