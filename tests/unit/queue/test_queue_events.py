from __future__ import annotations

import msgspec
from _queue_fakes import make_pod

from pyscheduler.backend.queue.events import (
    UPDATE_POD_OTHER,
    event_label,
    is_pod_updated,
    is_wildcard,
    node_scheduling_properties_change,
    pod_scheduling_properties_change,
)
from pyscheduler.framework.types import EVENT_NODE_ADD, ActionType, ClusterEvent, Resource
from pyscheduler.model.meta import ObjectMeta
from pyscheduler.model.node import Node, NodeCondition, NodeSpec, NodeStatus, Taint
from pyscheduler.model.pod import PodCondition, PodSchedulingGate, PodStatus

replace = msgspec.structs.replace


def _node() -> Node:
    return Node(
        metadata=ObjectMeta(name="n1", labels={"zone": "a"}, annotations={"x": "1"}),
        spec=NodeSpec(taints=[Taint(key="k", effect="NoSchedule")]),
        status=NodeStatus(allocatable={"cpu": "4", "memory": "8Gi"},
                          conditions=[NodeCondition(type="Ready", status="True")]),
    )


def _actions(new: Node, old: Node) -> list[ActionType]:
    events = node_scheduling_properties_change(new, old)
    assert all(e.resource == Resource.NODE for e in events)
    return [e.action for e in events]


def test_node_no_change() -> None:
    assert node_scheduling_properties_change(_node(), _node()) == []


def test_node_each_kind_of_change() -> None:
    old = _node()
    assert _actions(replace(old, status=replace(old.status, allocatable={"cpu": "8"})), old) \
        == [ActionType.UPDATE_NODE_ALLOCATABLE]
    assert _actions(replace(old, metadata=replace(old.metadata, labels={})), old) \
        == [ActionType.UPDATE_NODE_LABEL]
    assert _actions(replace(old, spec=replace(old.spec, taints=[])), old) \
        == [ActionType.UPDATE_NODE_TAINT]
    assert _actions(replace(old, status=replace(
        old.status, conditions=[NodeCondition(type="Ready", status="False")])), old) \
        == [ActionType.UPDATE_NODE_CONDITION]
    assert _actions(replace(old, metadata=replace(old.metadata, annotations={})), old) \
        == [ActionType.UPDATE_NODE_ANNOTATION]


def test_node_several_changes_in_upstream_order() -> None:
    old = _node()
    new = replace(old, metadata=replace(old.metadata, labels={}, annotations={}),
                  status=replace(old.status, allocatable={"cpu": "1"}))
    assert _actions(new, old) == [ActionType.UPDATE_NODE_ALLOCATABLE,
                                  ActionType.UPDATE_NODE_LABEL,
                                  ActionType.UPDATE_NODE_ANNOTATION]


def test_node_allocatable_compared_as_quantities() -> None:
    old = _node()
    new = replace(old, status=replace(old.status, allocatable={"cpu": "4000m",
                                                               "memory": "8192Mi"}))
    assert _actions(new, old) == []


def test_node_becoming_schedulable_is_a_taint_change() -> None:
    cordoned = replace(_node(), spec=replace(_node().spec, unschedulable=True))
    assert _actions(_node(), cordoned) == [ActionType.UPDATE_NODE_TAINT]
    # Cordoning cannot make anything schedulable.
    assert _actions(cordoned, _node()) == []


def test_node_condition_order_is_irrelevant() -> None:
    a = NodeCondition(type="Ready", status="True")
    b = NodeCondition(type="MemoryPressure", status="False")
    old = replace(_node(), status=replace(_node().status, conditions=[a, b]))
    new = replace(_node(), status=replace(_node().status, conditions=[b, a]))
    assert _actions(new, old) == []


def test_pod_changes() -> None:
    old = make_pod("p", uid="u", labels={"a": "1"}, cpu="500m", gates=["g"])
    cases = [
        (replace(old, metadata=replace(old.metadata, labels={"a": "2"})),
         ActionType.UPDATE_POD_LABEL),
        (make_pod("p", uid="u", labels={"a": "1"}, cpu="250m", gates=["g"]),
         ActionType.UPDATE_POD_SCALE_DOWN),
        (make_pod("p", uid="u", labels={"a": "1"}, cpu=None, gates=["g"]),
         ActionType.UPDATE_POD_SCALE_DOWN),
        (make_pod("p", uid="u", labels={"a": "1"}, cpu="500m"),
         ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED),
        (make_pod("p", uid="u", labels={"a": "1"}, cpu="500m", gates=["g"], tolerations=1),
         ActionType.UPDATE_POD_TOLERATION),
    ]
    for new, action in cases:
        assert pod_scheduling_properties_change(new, old) == [
            ClusterEvent(Resource.UNSCHEDULED_POD, action)]


def test_pod_scale_up_and_partial_gate_removal_are_other_updates() -> None:
    old = make_pod("p", uid="u", cpu="500m", gates=["g1", "g2"])
    new = replace(make_pod("p", uid="u", cpu="1"),
                  spec=replace(make_pod("p", uid="u", cpu="1").spec,
                               scheduling_gates=[PodSchedulingGate(name="g1")]))
    assert pod_scheduling_properties_change(new, old) == [
        ClusterEvent(Resource.UNSCHEDULED_POD, UPDATE_POD_OTHER)]


def test_assigned_pod_resource() -> None:
    old = make_pod("p", uid="u", node="n1")
    new = replace(old, metadata=replace(old.metadata, labels={"x": "y"}))
    assert pod_scheduling_properties_change(new, old) == [
        ClusterEvent(Resource.ASSIGNED_POD, ActionType.UPDATE_POD_LABEL)]


def test_other_update_matches_only_whole_update_registrations() -> None:
    ev = ClusterEvent(Resource.UNSCHEDULED_POD, UPDATE_POD_OTHER)
    assert ClusterEvent(Resource.POD, ActionType.UPDATE).matches(ev)
    assert not ClusterEvent(Resource.POD, ActionType.UPDATE_POD_LABEL).matches(ev)


def test_is_pod_updated_ignores_status_and_resource_version() -> None:
    old = make_pod("p", uid="u", resource_version="1")
    status_only = replace(old, metadata=replace(old.metadata, resource_version="2",
                                                generation=3),
                          status=PodStatus(conditions=[PodCondition(type="PodScheduled",
                                                                    status="False")]))
    assert not is_pod_updated(old, status_only)
    relabelled = replace(old, metadata=replace(old.metadata, labels={"a": "b"}))
    assert is_pod_updated(old, relabelled)


def test_labels() -> None:
    assert event_label(EVENT_NODE_ADD) == "NodeAdd"
    assert event_label(ClusterEvent(Resource.NODE, ActionType.UPDATE_NODE_TAINT)) \
        == "NodeUpdateNodeTaint"
    assert event_label(ClusterEvent(Resource.POD, ActionType.ADD | ActionType.DELETE)) \
        == "PodAdd|Delete"
    assert event_label(ClusterEvent(Resource.UNSCHEDULED_POD, ActionType.UPDATE)) \
        == "UnschedulablePodUpdate"
    assert is_wildcard(ClusterEvent(Resource.WILDCARD, ActionType.ALL))
    assert not is_wildcard(ClusterEvent(Resource.WILDCARD, ActionType.ADD))
