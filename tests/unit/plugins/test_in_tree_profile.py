"""The in-tree plugins together in the framework runtime: registration, extension-point
discovery, and the diagnosis users see when no node fits."""

from __future__ import annotations

import random

from builders import (
    FakeHandle,
    make_node,
    make_pod,
    pod_info,
    preferred,
    snapshot_of,
    taint,
    term,
)

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.runtime import Diagnosis, Framework, implemented_points
from pyscheduler.plugins.registry import IN_TREE, new_in_tree_registry

# Upstream's default profile weights for the score plugins among these.
WEIGHTS = {"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1,
           "NodeResourcesBalancedAllocation": 1}


def framework(handle: FakeHandle) -> Framework:
    plugins = {spec.name: spec.factory(spec.args_type() if spec.args_type else None, handle)
               for spec in IN_TREE}
    points: dict[str, list[str]] = {}
    for name, p in plugins.items():
        for point in implemented_points(p):
            points.setdefault(point, []).append(name)
    return Framework("default-scheduler", plugins, points, WEIGHTS, rng=random.Random(0))


def test_registry_lists_every_in_tree_plugin() -> None:
    names = [spec.name for spec in IN_TREE]
    # Upstream's default profile (v1 getDefaultPlugins), in its order.
    assert names == [
        "SchedulingGates", "PrioritySort", "NodeUnschedulable", "NodeName", "TaintToleration",
        "NodeAffinity", "NodePorts", "NodeResourcesFit", "VolumeRestrictions",
        "NodeVolumeLimits", "VolumeBinding", "VolumeZone", "PodTopologySpread",
        "InterPodAffinity", "DefaultPreemption", "NodeResourcesBalancedAllocation",
        "ImageLocality", "DefaultBinder",
    ]
    assert set(names) <= set(new_in_tree_registry())


def test_extension_points_discovered() -> None:
    """Which points each default plugin implements, as upstream's plugin types do (NodeName's
    PreFilter is our documented departure)."""
    fwk = framework(FakeHandle())
    got = {point: [p.name for p in getattr(fwk, attr)] for point, attr in [
        ("preEnqueue", "pre_enqueue"), ("preFilter", "pre_filter"), ("filter", "filter"),
        ("postFilter", "post_filter"), ("preScore", "pre_score"), ("score", "score"),
        ("reserve", "reserve"), ("preBind", "pre_bind"), ("bind", "bind")]}
    assert got == {
        "preEnqueue": ["SchedulingGates", "DefaultPreemption"],
        "preFilter": ["NodeName", "NodeAffinity", "NodePorts", "NodeResourcesFit",
                      "VolumeRestrictions", "NodeVolumeLimits", "VolumeBinding", "VolumeZone",
                      "PodTopologySpread", "InterPodAffinity"],
        "filter": ["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity",
                   "NodePorts", "NodeResourcesFit", "VolumeRestrictions", "NodeVolumeLimits",
                   "VolumeBinding", "VolumeZone", "PodTopologySpread", "InterPodAffinity"],
        "postFilter": ["DefaultPreemption"],
        "preScore": ["TaintToleration", "NodeAffinity", "NodeResourcesFit", "VolumeBinding",
                     "PodTopologySpread", "InterPodAffinity", "NodeResourcesBalancedAllocation"],
        "score": ["TaintToleration", "NodeAffinity", "NodeResourcesFit", "VolumeBinding",
                  "PodTopologySpread", "InterPodAffinity", "NodeResourcesBalancedAllocation",
                  "ImageLocality"],
        "reserve": ["VolumeBinding"],
        "preBind": ["VolumeBinding"],
        "bind": ["DefaultBinder"],
    }
    assert fwk.queue_sort.name == "PrioritySort"


def test_no_fit_diagnosis_and_placement() -> None:
    nodes = [
        make_node("small", cpu="1"),
        make_node("tainted", taints=[taint("dedicated", "gpu")]),
        make_node("cordoned", unschedulable=True),
        make_node("wrong-zone", labels={"zone": "b"}),
        make_node("full", pods=1),
        make_node("good", labels={"zone": "a", "disk": "ssd"}),
        make_node("better", labels={"zone": "a", "disk": "ssd", "tier": "gold"}),
    ]
    snap = snapshot_of(nodes, [make_pod("e", node="full")])
    fwk = framework(FakeHandle(snap))
    pod = make_pod(
        requests={"cpu": "2", "memory": "1Gi"},
        node_affinity={
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                term(("zone", "NotIn", ["b"]))]},
            **preferred((5, term(("tier", "In", ["gold"])))),
        },
    )
    pi = pod_info(pod)
    state = CycleState()
    res, st, _ = fwk.run_pre_filter(state, pi, snap)
    assert res is None and st is None
    diagnosis = Diagnosis(num_all_nodes=snap.num_nodes)
    feasible = fwk.find_nodes_that_pass_filters(state, pi, snap, snap.all_rows(), diagnosis)
    assert sorted(snap.node_infos[r].name for r in feasible) == ["better", "good"]
    assert diagnosis.message() == (
        "0/7 nodes are available: 1 Insufficient cpu, 1 Too many pods, "
        "1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint(s), 1 node(s) were unschedulable."
    )
    # Preemption may help only where the reason is resolvable.
    assert sorted(diagnosis.resolvable_nodes) == ["full"]
    assert fwk.run_pre_score(state, pi, snap, feasible) is None
    scores = fwk.run_score(state, pi, snap, feasible)
    assert fwk.select_host(snap, feasible, scores) == "better"
