"""PodTopologySpread filtering: upstream filtering_test.go tables (PreFilter state, AddPod,
RemovePod, TestSingleConstraint, TestMultipleConstraints) with the same inputs and expected
outcomes, each Filter row checked through the per-node and the batch form; plus selector edge
cases, terminating pods, minDomains, policies and matchLabelKeys.

The helpers at the top are shared by the other test_pod_topology_spread_* modules. Upstream
cases that only exist to test a feature gate switched off are not ported (the features are GA).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import pytest
from builders import (
    filter_both,
    make_node,
    make_pod,
    new_state,
    pod_info,
    rows_of,
    scores_both,
    snapshot_of,
    taint,
)

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import Lister
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Code
from pyscheduler.framework.types import PodInfo
from pyscheduler.informers.indexer import NAMESPACE_INDEX, Indexer, index_by_namespace
from pyscheduler.model.meta import ObjectMeta
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod, TopologySpreadConstraint
from pyscheduler.plugins.pod_topology_spread import (
    ERR_REASON_CONSTRAINTS_NOT_MATCH,
    ERR_REASON_NODE_LABEL_NOT_MATCH,
    PodTopologySpread,
    PodTopologySpreadArgs,
)
from pyscheduler.plugins.pod_topology_spread.filtering import (
    PRE_FILTER_STATE_KEY,
    PreFilterState,
)

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
FOO: dict[str, Any] = {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}
BAR: dict[str, Any] = {"matchExpressions": [{"key": "bar", "operator": "Exists"}]}
UNSCHED_TAINT = taint("node.kubernetes.io/unschedulable", "", "NoSchedule")
UNSCHED_TOLERATION = {"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}

OK = Code.SUCCESS
UNSCHED = Code.UNSCHEDULABLE
UNRES = Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def match_labels(**kv: str) -> dict[str, Any]:
    return {"matchLabels": dict(kv)}


def sc(max_skew: int, key: str, when: str = "DoNotSchedule",
       selector: Mapping[str, Any] | None = None, *, min_domains: int | None = None,
       affinity: str | None = None, taints: str | None = None,
       match_label_keys: Sequence[str] = ()) -> dict[str, Any]:
    """One topologySpreadConstraint (st.MakePod().SpreadConstraint's arguments)."""
    out: dict[str, Any] = {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when}
    if selector is not None:
        out["labelSelector"] = dict(selector)
    if min_domains is not None:
        out["minDomains"] = min_domains
    if affinity is not None:
        out["nodeAffinityPolicy"] = affinity
    if taints is not None:
        out["nodeTaintsPolicy"] = taints
    if match_label_keys:
        out["matchLabelKeys"] = list(match_label_keys)
    return out


def spod(name: str, *, labels: Mapping[str, str] | None = None, ns: str = "default",
         node: str = "", constraints: Sequence[Mapping[str, Any]] = (),
         node_selector: Mapping[str, str] | None = None,
         node_affinity: Mapping[str, Any] | None = None,
         tolerations: Sequence[Mapping[str, Any]] = (),
         owner: tuple[str, str, str] | None = None, terminating: bool = False,
         uid: str | None = None) -> Pod:
    """A pod with spread constraints; owner is (apiVersion, kind, name) of its controller."""
    pod = make_pod(name, namespace=ns, node=node, labels=labels, node_selector=node_selector,
                   node_affinity=node_affinity, tolerations=tolerations, uid=uid)
    spec = msgspec.structs.replace(pod.spec, topology_spread_constraints=msgspec.convert(
        list(constraints), list[TopologySpreadConstraint]))
    meta: ObjectMeta = pod.metadata
    if owner is not None:
        meta = msgspec.convert({**msgspec.to_builtins(meta), "ownerReferences": [
            {"apiVersion": owner[0], "kind": owner[1], "name": owner[2], "uid": "o",
             "controller": True}]}, ObjectMeta)
    if terminating:
        meta = msgspec.structs.replace(meta, deletion_timestamp="2024-01-01T00:00:00Z")
    return msgspec.structs.replace(pod, spec=spec, metadata=meta)


def snode(name: str, labels: Mapping[str, str] | None = None,
          taints: Sequence[Mapping[str, str]] = ()) -> Node:
    return make_node(name, labels=labels, taints=taints)


def zn(name: str, zone: str, *, key: str = "node", **extra: str) -> Node:
    """st.MakeNode().Name(name).Label("zone", zone).Label(key, name)."""
    return snode(name, {"zone": zone, key: name, **extra})


def nn(name: str, **labels: str) -> Node:
    """st.MakeNode().Name(name).Label("node", name) plus labels."""
    return snode(name, {"node": name, **labels})


def ap(name: str, node: str, *, ns: str = "default", terminating: bool = False,
       **labels: str) -> Pod:
    """An assigned pod with labels."""
    return spod(name, node=node, ns=ns, labels=labels, terminating=terminating)


def indexer(*objs: Any) -> Indexer[Any]:
    idx: Indexer[Any] = Indexer({NAMESPACE_INDEX: index_by_namespace})
    for o in objs:
        idx.add(o)
    return idx


@dataclass(slots=True)
class ListerHandle:
    """A framework handle whose listers are real indexers (by resource name)."""

    listers: dict[str, Lister] = field(default_factory=dict)
    snapshot: Snapshot = field(default_factory=Snapshot)
    profile_name: str = "default-scheduler"

    def lister(self, resource: str) -> Lister | None:
        return self.listers.get(resource)


def plugin(defaulting: str = "List", defaults: Sequence[Mapping[str, Any]] = (),
           listers: Mapping[str, Lister] | None = None) -> PodTopologySpread:
    args = msgspec.convert({"defaultingType": defaulting,
                            "defaultConstraints": list(defaults)}, PodTopologySpreadArgs)
    return PodTopologySpread(args, ListerHandle(dict(listers or {})))


def codes_of(outcomes: Mapping[str, Any]) -> dict[str, Code]:
    return {name: OK if o is None else Code(o[0]) for name, o in outcomes.items()}


def run_filter(pod: Pod, nodes: Sequence[Node], existing: Sequence[Pod] = (),
               p: PodTopologySpread | None = None) -> dict[str, Any]:
    """PreFilter, then Filter on every node both ways; node name -> outcome."""
    p = p or plugin()
    snap = snapshot_of(nodes, existing)
    state = new_state()
    pi = pod_info(pod)
    res, st = p.pre_filter(state, pi, snap)
    assert res is None and st is None, st
    return filter_both(p, state, pi, snap)


def run_score(pod: Pod, nodes: Sequence[Node], existing: Sequence[Pod] = (),
              failed: Sequence[Node] = (), p: PodTopologySpread | None = None) -> dict[str, int]:
    """PreScore over ``nodes`` (``failed`` are in the snapshot but not feasible), then Score
    both ways and NormalizeScore; node name -> normalized score."""
    p = p or plugin("System")
    snap = snapshot_of([*nodes, *failed], existing)
    rows = rows_of(snap, [n.metadata.name for n in nodes])
    state = new_state()
    pi = pod_info(pod)
    assert p.pre_score(state, pi, snap, rows) is None
    return scores_both(p, state, pi, snap, rows)


def pre_filter_state(pod: Pod, nodes: Sequence[Node], existing: Sequence[Pod] = (),
                     p: PodTopologySpread | None = None) -> tuple[PreFilterState, CycleState,
                                                                  Snapshot, PodInfo]:
    p = p or plugin()
    snap = snapshot_of(nodes, existing)
    state = new_state()
    pi = pod_info(pod)
    assert p.pre_filter(state, pi, snap) == (None, None)
    s = state.read(PRE_FILTER_STATE_KEY)
    assert isinstance(s, PreFilterState)
    return s, state, snap, pi


def tp_counts(s: PreFilterState) -> list[dict[str, int]]:
    """upstream TpValueToMatchNum: per constraint, eligible domain -> matching pods."""
    return [{str(d.codes.values[i]): int(d.counts[i]) for i in np.flatnonzero(d.present)}
            for d in s.domains]


def minimums(s: PreFilterState) -> list[int]:
    return [d.min_match for d in s.domains]


# ---- nodes used by most upstream cases ----------------------------------------------------------

ABXY = [zn("node-a", "zone1"), zn("node-b", "zone1"), zn("node-x", "zone2"), zn("node-y", "zone2")]
ABY = [zn("node-a", "zone1"), zn("node-b", "zone1"), zn("node-y", "zone2")]


def foo_pods(*spec: tuple[str, str]) -> list[Pod]:
    return [ap(name, node, foo="") for name, node in spec]


SPREAD_2_1_0_3 = foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b"),
                          ("p-y1", "node-y"), ("p-y2", "node-y"), ("p-y3", "node-y"))


# ---- PreFilter state (TestPreFilterState) -------------------------------------------------------

PREFILTER_CASES: list[tuple[str, Pod, list[Node], list[Pod], list[dict[str, int]], list[int]]] = [
    ("clean cluster with one spreadConstraint",
     spod("p", labels={"foo": ""}, constraints=[sc(5, "zone", selector=match_labels(foo="bar"))]),
     ABXY, [], [{"zone1": 0, "zone2": 0}], [0]),
    ("normal case with one spreadConstraint",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]), ABXY,
     foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b"), ("p-y1", "node-y"),
              ("p-y2", "node-y")),
     [{"zone1": 3, "zone2": 2}], [2]),
    ("normal case with null label selector",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone")]), ABXY,
     foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b"), ("p-y1", "node-y"),
              ("p-y2", "node-y")),
     [{"zone1": 0, "zone2": 0}], [0]),
    ("normal case with one spreadConstraint, on a 3-zone cluster",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]),
     [*ABXY, zn("node-o", "zone3"), zn("node-p", "zone3")],
     foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b"), ("p-y1", "node-y"),
              ("p-y2", "node-y")),
     [{"zone1": 3, "zone2": 2, "zone3": 0}], [0]),
    ("namespace mismatch doesn't count",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]), ABXY,
     [ap("p-a1", "node-a", foo=""), ap("p-a2", "node-a", ns="ns1", foo=""),
      ap("p-b1", "node-b", foo=""), ap("p-y1", "node-y", ns="ns2", foo=""),
      ap("p-y2", "node-y", foo="")],
     [{"zone1": 2, "zone2": 1}], [1]),
    ("normal case with two spreadConstraints",
     spod("p", labels={"foo": ""},
          constraints=[sc(1, "zone", selector=FOO), sc(1, "node", selector=FOO)]), ABXY,
     foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b"), ("p-y1", "node-y"),
              ("p-y2", "node-y"), ("p-y3", "node-y"), ("p-y4", "node-y")),
     [{"zone1": 3, "zone2": 4}, {"node-a": 2, "node-b": 1, "node-x": 0, "node-y": 4}], [3, 0]),
    ("soft spreadConstraints should be bypassed",
     spod("p", labels={"foo": ""}, constraints=[
         sc(1, "zone", "ScheduleAnyway", FOO), sc(1, "zone", selector=FOO),
         sc(1, "node", "ScheduleAnyway", FOO), sc(1, "node", selector=FOO)]), ABY,
     foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b"), ("p-y1", "node-y"),
              ("p-y2", "node-y"), ("p-y3", "node-y"), ("p-y4", "node-y")),
     [{"zone1": 3, "zone2": 4}, {"node-a": 2, "node-b": 1, "node-y": 4}], [3, 1]),
    ("different labelSelectors - simple version",
     spod("p", labels={"foo": "", "bar": ""},
          constraints=[sc(1, "zone", selector=FOO), sc(1, "node", selector=BAR)]), ABY,
     [ap("p-a", "node-a", foo=""), ap("p-b", "node-b", bar="")],
     [{"zone1": 1, "zone2": 0}, {"node-a": 0, "node-b": 1, "node-y": 0}], [0, 0]),
    ("different labelSelectors - complex pods",
     spod("p", labels={"foo": "", "bar": ""},
          constraints=[sc(1, "zone", selector=FOO), sc(1, "node", selector=BAR)]), ABY,
     [ap("p-a1", "node-a", foo=""), ap("p-a2", "node-a", foo="", bar=""),
      ap("p-b1", "node-b", foo=""), ap("p-y1", "node-y", foo=""),
      ap("p-y2", "node-y", foo="", bar=""), ap("p-y3", "node-y", foo=""),
      ap("p-y4", "node-y", foo="", bar="")],
     [{"zone1": 3, "zone2": 4}, {"node-a": 1, "node-b": 0, "node-y": 2}], [3, 0]),
    ("two spreadConstraints, and with podAffinity",
     spod("p", labels={"foo": ""},
          node_affinity={"requiredDuringSchedulingIgnoredDuringExecution": {
              "nodeSelectorTerms": [{"matchExpressions": [
                  {"key": "node", "operator": "NotIn", "values": ["node-x"]}]}]}},
          constraints=[sc(1, "zone", selector=FOO), sc(1, "node", selector=FOO)]), ABXY,
     foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b"), ("p-y1", "node-y"),
              ("p-y2", "node-y"), ("p-y3", "node-y"), ("p-y4", "node-y")),
     [{"zone1": 3, "zone2": 4}, {"node-a": 2, "node-b": 1, "node-y": 4}], [3, 1]),
    ("NodeAffinityPolicy honored with labelSelectors",
     spod("p", labels={"foo": ""}, node_selector={"foo": ""},
          constraints=[sc(1, "node", selector=BAR)]),
     [nn("node-a", foo=""), nn("node-b", foo=""),
      nn("node-c", bar="")],
     [ap("p-a", "node-a", bar=""), ap("p-b", "node-b", bar=""), ap("p-c", "node-b", bar=""),
      ap("p-d", "node-c")],
     [{"node-a": 1, "node-b": 2}], [1]),
    ("NodeAffinityPolicy ignored with labelSelectors",
     spod("p", labels={"foo": ""}, node_selector={"foo": ""},
          constraints=[sc(1, "node", selector=BAR, affinity="Ignore")]),
     [nn("node-a", foo=""), nn("node-b", foo=""),
      nn("node-c", bar="")],
     [ap("p-a", "node-a", bar=""), ap("p-b", "node-b", bar=""), ap("p-c", "node-b", bar=""),
      ap("p-d", "node-c")],
     [{"node-a": 1, "node-b": 2, "node-c": 0}], [0]),
    ("NodeAffinityPolicy honored with nodeAffinity",
     spod("p", labels={"foo": ""},
          node_affinity={"requiredDuringSchedulingIgnoredDuringExecution": {
              "nodeSelectorTerms": [{"matchExpressions": [
                  {"key": "foo", "operator": "In", "values": [""]}]}]}},
          constraints=[sc(1, "node", selector=BAR)]),
     [nn("node-a", foo=""), nn("node-b", foo=""),
      nn("node-c", bar="")],
     [ap("p-a", "node-a", bar=""), ap("p-c", "node-b", bar=""), ap("p-d", "node-b", bar=""),
      ap("p-e", "node-c")],
     [{"node-a": 1, "node-b": 2}], [1]),
    ("NodeTaintsPolicy ignored",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "node", selector=BAR)]),
     [nn("node-a"), nn("node-b"),
      snode("node-c", {"node": "node-c", "bar": ""}, [UNSCHED_TAINT])],
     [ap("p-a", "node-a", bar=""), ap("p-b", "node-b", bar=""), ap("p-c", "node-b", bar=""),
      ap("p-d", "node-c")],
     [{"node-a": 1, "node-b": 2, "node-c": 0}], [0]),
    ("NodeTaintsPolicy honored",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "node", selector=BAR, taints="Honor")]),
     [nn("node-a"), nn("node-b"),
      snode("node-c", {"node": "node-c", "bar": ""}, [UNSCHED_TAINT])],
     [ap("p-a", "node-a", bar=""), ap("p-b", "node-b", bar=""), ap("p-c", "node-b", bar=""),
      ap("p-d", "node-c")],
     [{"node-a": 1, "node-b": 2}], [1]),
    ("NodeTaintsPolicy honored with tolerated taints",
     spod("p", labels={"foo": ""}, tolerations=[UNSCHED_TOLERATION],
          constraints=[sc(1, "node", selector=BAR, taints="Honor")]),
     [nn("node-a"), nn("node-b"),
      snode("node-c", {"node": "node-c", "bar": ""}, [UNSCHED_TAINT])],
     [ap("p-a", "node-a", bar=""), ap("p-b", "node-b", bar=""), ap("p-c", "node-b", bar=""),
      ap("p-d", "node-c")],
     [{"node-a": 1, "node-b": 2, "node-c": 0}], [0]),
    ("two node inclusion Constraints, zone: honor/ignore, node: ignore/ignore",
     spod("p", labels={"foo": ""}, node_selector={"foo": ""},
          constraints=[sc(1, "zone", selector=FOO),
                       sc(1, "node", selector=FOO, affinity="Ignore")]),
     [zn("node-a", "zone1", foo=""), zn("node-b", "zone1"), zn("node-x", "zone2", foo="")],
     foo_pods(("p-b1", "node-b"), ("p-b2", "node-b"), ("p-x1", "node-x")),
     [{"zone1": 0, "zone2": 1}, {"node-a": 0, "node-b": 2, "node-x": 1}], [0, 0]),
    ("two node inclusion Constraints, zone: honor/honor, node: honor/ignore",
     spod("p", labels={"foo": ""},
          constraints=[sc(1, "zone", selector=FOO, taints="Honor"),
                       sc(1, "node", selector=FOO)]),
     [zn("node-a", "zone1", foo=""), snode("node-b", {"zone": "zone1", "node": "node-b"},
                                           [UNSCHED_TAINT]), zn("node-x", "zone2", foo="")],
     foo_pods(("p-b1", "node-b"), ("p-b2", "node-b"), ("p-x1", "node-x")),
     [{"zone1": 0, "zone2": 1}, {"node-a": 0, "node-b": 2, "node-x": 1}], [0, 0]),
    ("two node inclusion Constraints, zone: honor/ignore, node: honor/ignore",
     spod("p", labels={"foo": ""}, node_selector={"foo": ""},
          constraints=[sc(1, "zone", selector=FOO), sc(1, "node", selector=FOO)]),
     [zn("node-a", "zone1"), snode("node-b", {"zone": "zone1", "node": "node-b", "foo": ""},
                                   [UNSCHED_TAINT]),
      zn("node-x", "zone2", foo=""), zn("node-y", "zone2")],
     foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-x1", "node-x"), ("p-y1", "node-y")),
     [{"zone1": 0, "zone2": 1}, {"node-b": 0, "node-x": 1}], [0, 0]),
    ("two node inclusion Constraints, zone: ignore/ignore, node: honor/honor",
     spod("p", labels={"foo": ""}, node_selector={"foo": ""},
          constraints=[sc(1, "zone", selector=FOO, affinity="Ignore"),
                       sc(1, "node", selector=FOO, taints="Honor")]),
     [zn("node-a", "zone1"), snode("node-b", {"zone": "zone1", "node": "node-b", "foo": ""},
                                   [UNSCHED_TAINT]),
      zn("node-x", "zone2", foo=""), zn("node-y", "zone2", foo="")],
     foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-x1", "node-x"), ("p-x2", "node-x"),
              ("p-y1", "node-y")),
     [{"zone1": 2, "zone2": 3}, {"node-x": 2, "node-y": 1}], [2, 1]),
    ("matchLabelKeys ANDed with LabelSelector when LabelSelector isn't empty",
     spod("p", labels={"foo": "", "bar": "a"},
          constraints=[sc(1, "zone", selector=FOO, match_label_keys=["bar"])]), ABXY,
     [ap("p-a1", "node-a", foo=""), ap("p-a2", "node-a", foo="", bar="a"),
      ap("p-b1", "node-b", foo=""), ap("p-y1", "node-y", foo="", bar="a"),
      ap("p-y2", "node-y", bar="")],
     [{"zone1": 1, "zone2": 1}], [1]),
    ("matchLabelKeys ANDed with LabelSelector when LabelSelector is empty",
     spod("p", labels={"foo": "a"}, constraints=[sc(1, "zone", selector={},
                                                     match_label_keys=["foo"])]), ABXY,
     [ap(f"p-{s}", n, foo="a") for s, n in (("a1", "node-a"), ("a2", "node-a"), ("b1", "node-b"),
                                            ("y1", "node-y"), ("y2", "node-y"))],
     [{"zone1": 3, "zone2": 2}], [2]),
    ("key in matchLabelKeys is ignored when LabelSelector is nil",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", match_label_keys=["bar"])]), ABXY,
     [ap(f"p-{s}", n, foo="a") for s, n in (("a1", "node-a"), ("a2", "node-a"), ("b1", "node-b"),
                                            ("y1", "node-y"), ("y2", "node-y"))],
     [{"zone1": 0, "zone2": 0}], [0]),
    ("key in matchLabelKeys is ignored when it isn't exist in pod.labels",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO,
                                                    match_label_keys=["bar"])]), ABXY,
     [ap(f"p-{s}", n, foo="a") for s, n in (("a1", "node-a"), ("a2", "node-a"), ("b1", "node-b"),
                                            ("y1", "node-y"), ("y2", "node-y"))],
     [{"zone1": 3, "zone2": 2}], [2]),
    ("two spreadConstraints with the same topologyKey",
     spod("p", labels={"foo": "", "bar": ""},
          constraints=[sc(1, "zone", selector=FOO), sc(1, "zone", selector=BAR)]), ABXY,
     [ap("p-a1", "node-a", foo="", bar=""), ap("p-b1", "node-b", foo=""),
      ap("p-x1", "node-x", bar=""), ap("p-y1", "node-y", foo="", bar=""),
      ap("p-y2", "node-y", bar="")],
     [{"zone1": 2, "zone2": 1}, {"zone1": 1, "zone2": 3}], [1, 1]),
]


@pytest.mark.parametrize(("name", "pod", "nodes", "existing", "want", "want_min"),
                         PREFILTER_CASES, ids=[c[0] for c in PREFILTER_CASES])
def test_pre_filter_state(name: str, pod: Pod, nodes: list[Node], existing: list[Pod],
                          want: list[dict[str, int]], want_min: list[int]) -> None:
    s, *_ = pre_filter_state(pod, nodes, existing)
    assert tp_counts(s) == want
    assert minimums(s) == want_min


def test_pre_filter_default_constraints_and_a_service() -> None:
    """Default constraints take the Service's selector; soft ones are left for PreScore."""
    svc = msgspec.convert({"metadata": {"name": "s", "namespace": "default"},
                           "spec": {"selector": {"foo": "bar"}}}, _service_type())
    p = plugin(defaults=[sc(3, "node"), sc(2, "node", "ScheduleAnyway"), sc(5, "rack")],
               listers={"services": indexer(svc)})
    pod = spod("p", labels={"foo": "bar", "baz": "kar"})
    s, *_ = pre_filter_state(pod, [], [], p)
    assert [(d.constraint.max_skew, d.constraint.topology_key) for d in s.domains] == [
        (3, "node"), (5, "rack")]
    assert all(d.constraint.selector.matches({"foo": "bar"}) for d in s.domains)
    assert not any(d.constraint.selector.matches({"foo": "baz"}) for d in s.domains)
    assert tp_counts(s) == [{}, {}]


def _service_type() -> Any:
    from pyscheduler.model.workloads import Service
    return Service


@pytest.mark.parametrize(("name", "defaults", "pod_constraints", "service", "want_skip"), [
    ("default constraints and a service that doesn't match", [sc(3, "node")], [],
     {"baz": "kep"}, True),
    ("default soft constraints and a service", [sc(2, "node", "ScheduleAnyway")], [],
     {"foo": "bar"}, True),
    ("default constraints and a service, but pod has constraints", [sc(2, "node")],
     [sc(1, "zone", selector=match_labels(baz="tar")),
      sc(2, "planet", "ScheduleAnyway", match_labels(fot="rok"))], {"foo": "bar"}, False),
    ("skip if not specified", [], [], {"foo": "bar"}, True),
])
def test_pre_filter_skip(name: str, defaults: list[dict[str, Any]],
                         pod_constraints: list[dict[str, Any]], service: dict[str, str],
                         want_skip: bool) -> None:
    svc = msgspec.convert({"metadata": {"name": "s", "namespace": "default"},
                           "spec": {"selector": service}}, _service_type())
    p = plugin(defaults=defaults, listers={"services": indexer(svc)})
    pod = spod("p", labels={"foo": "bar", "baz": "tar"}, constraints=pod_constraints)
    snap = snapshot_of([zn("node-a", "zone1")])
    state = new_state()
    _, st = p.pre_filter(state, pod_info(pod), snap)
    if want_skip:
        assert st is not None and st.code == Code.SKIP
    else:
        assert st is None
        s = state.read(PRE_FILTER_STATE_KEY)
        assert [d.constraint.topology_key for d in s.domains] == ["zone"]


# ---- AddPod / RemovePod (TestPreFilterStateAddPod / RemovePod) ----------------------------------

NODE_FOO = [sc(1, "node", selector=FOO)]
ZONE_NODE_FOO = [sc(1, "zone", selector=FOO), sc(1, "node", selector=FOO)]
NOT_IN_BAR = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "foo", "operator": "NotIn", "values": ["bar"]}]}]}}

ADD_CASES: list[tuple[str, Pod, Pod, list[Pod], int, list[Node], list[dict[str, int]],
                      list[int]]] = [
    ("node a and b both impact current min match",
     spod("p", labels={"foo": ""}, constraints=NODE_FOO), ap("p-a1", "node-a", foo=""), [], 0,
     [zn("node-a", "zone1"), zn("node-b", "zone1")], [{"node-a": 1, "node-b": 0}], [0]),
    ("only node a impacts current min match",
     spod("p", labels={"foo": ""}, constraints=NODE_FOO), ap("p-a1", "node-a", foo=""),
     [ap("p-b1", "node-b", foo="")], 0, [zn("node-a", "zone1"), zn("node-b", "zone1")],
     [{"node-a": 1, "node-b": 1}], [1]),
    ("add a pod in a different namespace doesn't change topologyKeyToMinPodsMap",
     spod("p", labels={"foo": ""}, constraints=NODE_FOO),
     ap("p-a1", "node-a", ns="ns1", foo=""), [ap("p-b1", "node-b", foo="")], 0,
     [zn("node-a", "zone1"), zn("node-b", "zone1")], [{"node-a": 0, "node-b": 1}], [0]),
    ("add pod on non-critical node won't trigger re-calculation",
     spod("p", labels={"foo": ""}, constraints=NODE_FOO), ap("p-b2", "node-b", foo=""),
     [ap("p-b1", "node-b", foo="")], 1, [zn("node-a", "zone1"), zn("node-b", "zone1")],
     [{"node-a": 0, "node-b": 2}], [0]),
    ("node a and x both impact topologyKeyToMinPodsMap on zone and node",
     spod("p", labels={"foo": ""}, constraints=ZONE_NODE_FOO), ap("p-a1", "node-a", foo=""), [],
     0, [zn("node-a", "zone1"), zn("node-x", "zone2")],
     [{"zone1": 1, "zone2": 0}, {"node-a": 1, "node-x": 0}], [0, 0]),
    ("only node a impacts topologyKeyToMinPodsMap on zone and node",
     spod("p", labels={"foo": ""}, constraints=ZONE_NODE_FOO), ap("p-a1", "node-a", foo=""),
     [ap("p-x1", "node-x", foo="")], 0, [zn("node-a", "zone1"), zn("node-x", "zone2")],
     [{"zone1": 1, "zone2": 1}, {"node-a": 1, "node-x": 1}], [1, 1]),
    ("node a impacts topologyKeyToMinPodsMap on node, node x impacts it on zone",
     spod("p", labels={"foo": ""}, constraints=ZONE_NODE_FOO), ap("p-a1", "node-a", foo=""),
     foo_pods(("p-b1", "node-b"), ("p-b2", "node-b"), ("p-x1", "node-x")), 0,
     [zn("node-a", "zone1"), zn("node-b", "zone1"), zn("node-x", "zone2")],
     [{"zone1": 3, "zone2": 1}, {"node-a": 1, "node-b": 2, "node-x": 1}], [1, 1]),
    ("Constraints hold different labelSelectors, node a impacts topologyKeyToMinPodsMap on zone",
     spod("p", labels={"foo": "", "bar": ""},
          constraints=[sc(1, "zone", selector=FOO), sc(1, "node", selector=BAR)]),
     ap("p-a1", "node-a", foo=""),
     [ap("p-b1", "node-b", foo="", bar=""), ap("p-x1", "node-x", foo="", bar=""),
      ap("p-x2", "node-x", bar="")], 0,
     [zn("node-a", "zone1"), zn("node-b", "zone1"), zn("node-x", "zone2")],
     [{"zone1": 2, "zone2": 1}, {"node-a": 0, "node-b": 1, "node-x": 2}], [1, 0]),
    ("add a pod when scheduling node affinity unmatched pod",
     spod("p", labels={"foo": ""}, node_affinity=NOT_IN_BAR,
          constraints=[sc(1, "zone", selector=FOO)]),
     ap("p-a1", "node-a", foo="", zone="zone1"),
     [ap("p-a2", "node-a", foo="", zone="zone1"), ap("p-b1", "node-b", foo="", zone="zone2")], 0,
     [zn("node-a", "zone1", foo="bar"), zn("node-b", "zone2", foo="")],
     [{"zone2": 1}], [1]),
    ("add a pod when scheduling node affinity matched pod",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]),
     ap("p-b1", "node-b", foo="", zone="zone2"),
     [ap("p-a1", "node-a", foo="", zone="zone1"), ap("p-b2", "node-b", foo="", zone="zone2")], 1,
     [zn("node-a", "zone1", foo="bar"), zn("node-b", "zone2", foo="")],
     [{"zone1": 1, "zone2": 2}], [1]),
    ("add a label selector not matched pod",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]),
     ap("p-b1", "node-b", zone="zone2"),
     [ap("p-a1", "node-a", foo="", zone="zone1"), ap("p-b2", "node-b", foo="", zone="zone2")], 1,
     [zn("node-a", "zone1", foo="bar"), zn("node-b", "zone2", foo="")],
     [{"zone1": 1, "zone2": 1}], [1]),
    ("add a pod when scheduling taint untolerated pod (taints ignored)",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]),
     ap("p-b1", "node-b", foo="", zone="zone2"),
     [ap("p-a1", "node-a", foo="", zone="zone1"), ap("p-b2", "node-b", foo="", zone="zone2")], 1,
     [snode("node-a", {"zone": "zone1", "node": "node-a"}, [UNSCHED_TAINT]),
      zn("node-b", "zone2")],
     [{"zone1": 1, "zone2": 2}], [1]),
]


@pytest.mark.parametrize(("name", "preemptor", "added", "existing", "node_idx", "nodes", "want",
                          "want_min"), ADD_CASES, ids=[c[0] for c in ADD_CASES])
def test_pre_filter_add_pod(name: str, preemptor: Pod, added: Pod, existing: list[Pod],
                            node_idx: int, nodes: list[Node], want: list[dict[str, int]],
                            want_min: list[int]) -> None:
    p = plugin()
    s, state, snap, pi = pre_filter_state(preemptor, nodes, existing, p)
    ni = snap.get(nodes[node_idx].metadata.name)
    assert ni is not None
    assert p.add_pod(state, pi, pod_info(added), ni) is None
    assert tp_counts(s) == want
    assert minimums(s) == want_min


REMOVE_CASES: list[tuple[str, Pod, list[Node], list[Pod], Pod | int, int, list[dict[str, int]],
                         list[int]]] = [
    ("one spreadConstraint on zone, topologyKeyToMinPodsMap unchanged",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]),
     [zn("node-a", "zone1"), zn("node-b", "zone1"), zn("node-x", "zone2")],
     foo_pods(("p-a1", "node-a"), ("p-b1", "node-b"), ("p-x1", "node-x")), 0, 0,
     [{"zone1": 1, "zone2": 1}], [1]),
    ("one spreadConstraint on node, topologyKeyToMinPodsMap changed",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]), ABXY,
     foo_pods(("p-a1", "node-a"), ("p-b1", "node-b"), ("p-x1", "node-x"), ("p-y1", "node-y")),
     0, 0, [{"zone1": 1, "zone2": 2}], [1]),
    ("delete an irrelevant pod won't help",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]), ABXY,
     [ap("p-a0", "node-a", bar=""), *foo_pods(("p-a1", "node-a"), ("p-b1", "node-b"),
                                             ("p-x1", "node-x"), ("p-y1", "node-y"))],
     0, 0, [{"zone1": 2, "zone2": 2}], [2]),
    ("delete a non-existing pod won't help",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]), ABXY,
     foo_pods(("p-a1", "node-a"), ("p-b1", "node-b"), ("p-x1", "node-x"), ("p-y1", "node-y")),
     ap("p-a0", "node-a", bar=""), 0, [{"zone1": 2, "zone2": 2}], [2]),
    ("two spreadConstraints",
     spod("p", labels={"foo": ""}, constraints=ZONE_NODE_FOO),
     [zn("node-a", "zone1"), zn("node-b", "zone1"), zn("node-x", "zone2")],
     foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b"), ("p-x1", "node-x"),
              ("p-x2", "node-x")), 3, 2,
     [{"zone1": 3, "zone2": 1}, {"node-a": 2, "node-b": 1, "node-x": 1}], [1, 1]),
    ("remove a pod when scheduling node affinity unmatched pod",
     spod("p", labels={"foo": ""}, node_affinity=NOT_IN_BAR,
          constraints=[sc(1, "zone", selector=FOO)]),
     [zn("node-a", "zone1", foo="bar"), zn("node-b", "zone2", foo="")],
     [ap("p-a2", "node-a", foo="", zone="zone1"), ap("p-b1", "node-b", foo="", zone="zone2")],
     ap("p-a1", "node-a", foo="", zone="zone1"), 0, [{"zone2": 1}], [1]),
    ("remove a pod when scheduling node affinity matched pod",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]),
     [zn("node-a", "zone1", foo="bar"), zn("node-b", "zone2", foo="")],
     [ap("p-a1", "node-a", foo="", zone="zone1"), ap("p-b2", "node-b", foo="", zone="zone2")],
     ap("p-b1", "node-b", foo="", zone="zone2"), 1, [{"zone1": 1, "zone2": 0}], [0]),
]


@pytest.mark.parametrize(("name", "preemptor", "nodes", "existing", "deleted", "node_idx",
                          "want", "want_min"), REMOVE_CASES, ids=[c[0] for c in REMOVE_CASES])
def test_pre_filter_remove_pod(name: str, preemptor: Pod, nodes: list[Node],
                               existing: list[Pod], deleted: Pod | int, node_idx: int,
                               want: list[dict[str, int]], want_min: list[int]) -> None:
    p = plugin()
    s, state, snap, pi = pre_filter_state(preemptor, nodes, existing, p)
    victim = existing[deleted] if isinstance(deleted, int) else deleted
    ni = snap.get(nodes[node_idx].metadata.name)
    assert ni is not None
    assert p.remove_pod(state, pi, pod_info(victim), ni) is None
    assert tp_counts(s) == want
    assert minimums(s) == want_min


def test_add_pod_works_on_a_clone_only() -> None:
    """The runtime clones the state for nominated pods: the original must not move."""
    p = plugin()
    s, state, snap, pi = pre_filter_state(
        spod("p", labels={"foo": ""}, constraints=NODE_FOO),
        [zn("node-a", "zone1"), zn("node-b", "zone1")])
    clone = state.clone()
    ni = snap.get("node-a")
    assert ni is not None
    p.add_pod(clone, pi, pod_info(ap("n1", "node-a", foo="")), ni)
    assert tp_counts(s) == [{"node-a": 0, "node-b": 0}]
    assert tp_counts(clone.read(PRE_FILTER_STATE_KEY)) == [{"node-a": 1, "node-b": 0}]
    # Filter on the clone sees the nominated pod: node-a now has skew 2 - 0 > 1.
    assert p.filter(clone, pi, ni) is not None
    assert p.filter(state, pi, ni) is None


# ---- Filter (TestSingleConstraint) -------------------------------------------------------------

SINGLE: list[tuple[str, Pod, list[Node], list[Pod], dict[str, Code]]] = [
    ("no existing pods",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]), ABXY, [],
     {"node-a": OK, "node-b": OK, "node-x": OK, "node-y": OK}),
    ("no existing pods, incoming pod doesn't match itself",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=BAR)]), ABXY, [],
     {"node-a": OK, "node-b": OK, "node-x": OK, "node-y": OK}),
    ("existing pods in a different namespace do not count",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]), ABXY,
     [ap("p-a1", "node-a", ns="ns1", foo=""), ap("p-b1", "node-a", ns="ns2", foo=""),
      ap("p-x1", "node-x", foo=""), ap("p-y1", "node-y", foo="")],
     {"node-a": OK, "node-b": OK, "node-x": UNSCHED, "node-y": UNSCHED}),
    ("existing pods do not match null selector",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone")]), ABXY,
     foo_pods(("p-x1", "node-x"), ("p-y1", "node-y")),
     {"node-a": OK, "node-b": OK, "node-x": OK, "node-y": OK}),
    ("pods spread across zones as 3/3, all nodes fit",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]), ABXY,
     SPREAD_2_1_0_3, {"node-a": OK, "node-b": OK, "node-x": OK, "node-y": OK}),
    ("pods spread across zones as 1/2 due to absence of label 'zone' on node-b",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]),
     [zn("node-a", "zone1"), snode("node-b", {"zon": "zone1", "node": "node-b"}),
      zn("node-x", "zone2"), zn("node-y", "zone2")],
     foo_pods(("p-a1", "node-a"), ("p-b1", "node-b"), ("p-x1", "node-x"), ("p-y1", "node-y")),
     {"node-a": OK, "node-b": UNRES, "node-x": UNSCHED, "node-y": UNSCHED}),
    ("pod cannot be scheduled as all nodes don't have label 'rack'",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "rack", selector=FOO)]),
     [zn("node-a", "zone1"), zn("node-x", "zone2")], [], {"node-a": UNRES, "node-x": UNRES}),
    ("pods spread across nodes as 2/1/0/3, only node-x fits",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "node", selector=FOO)]), ABXY,
     SPREAD_2_1_0_3, {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": OK, "node-y": UNSCHED}),
    ("pods spread across nodes as 2/1/0/3, maxSkew is 2, node-b and node-x fit",
     spod("p", labels={"foo": ""}, constraints=[sc(2, "node", selector=FOO)]), ABXY,
     SPREAD_2_1_0_3, {"node-a": UNSCHED, "node-b": OK, "node-x": OK, "node-y": UNSCHED}),
    ("pods spread across nodes as 2/1/0/3, but pod doesn't match itself",
     spod("p", labels={"bar": ""}, constraints=[sc(1, "node", selector=FOO)]), ABXY,
     SPREAD_2_1_0_3, {"node-a": UNSCHED, "node-b": OK, "node-x": OK, "node-y": UNSCHED}),
    ("incoming pod has nodeAffinity, pods spread as 2/~1~/~0~/3, hence node-a fits",
     spod("p", labels={"foo": ""},
          node_affinity={"requiredDuringSchedulingIgnoredDuringExecution": {
              "nodeSelectorTerms": [{"matchExpressions": [
                  {"key": "node", "operator": "In", "values": ["node-a", "node-y"]}]}]}},
          constraints=[sc(1, "node", selector=FOO)]), ABXY, SPREAD_2_1_0_3,
     {"node-a": OK, "node-b": OK, "node-x": OK, "node-y": UNSCHED}),
    ("terminating Pods should be excluded",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "node", selector=FOO)]),
     [nn("node-a"), nn("node-b")],
     [ap("p-a", "node-a", terminating=True, foo=""), ap("p-b", "node-b", foo="")],
     {"node-a": OK, "node-b": UNSCHED}),
    ("incoming pod has nodeAffinity, pods spread as 0/~2~/0/1, hence node-a fits",
     spod("p", labels={"foo": ""},
          node_affinity={"requiredDuringSchedulingIgnoredDuringExecution": {
              "nodeSelectorTerms": [{"matchExpressions": [
                  {"key": "node", "operator": "NotIn", "values": ["node-b"]}]}]}},
          constraints=[sc(1, "zone", selector=FOO)]), ABXY,
     foo_pods(("p-b1", "node-b"), ("p-b2", "node-b"), ("p-y1", "node-y")),
     {"node-a": OK, "node-b": OK, "node-x": UNSCHED, "node-y": UNSCHED}),
    ("pods spread across nodes as 2/2/1, maxSkew is 2, and the number of domains < minDomains",
     spod("p", labels={"foo": ""}, constraints=[sc(2, "node", selector=FOO, min_domains=4)]),
     [snode(f"node-{x}", {"node": f"node-{x}"}) for x in "abc"],
     foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b"), ("p-b2", "node-b"),
              ("p-c1", "node-c")),
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-c": OK}),
    ("pods spread across nodes as 2/2/1, maxSkew is 2, and the number of domains > minDomains",
     spod("p", labels={"foo": ""}, constraints=[sc(2, "node", selector=FOO, min_domains=2)]),
     [snode(f"node-{x}", {"node": f"node-{x}"}) for x in "abc"],
     foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b"), ("p-b2", "node-b"),
              ("p-c1", "node-c")),
     {"node-a": OK, "node-b": OK, "node-c": OK}),
    ("pods spread across zone as 2/1, maxSkew is 2 and the number of domains < minDomains",
     spod("p", labels={"foo": ""}, constraints=[sc(2, "zone", selector=FOO, min_domains=3)]),
     ABXY, foo_pods(("p-b1", "node-a"), ("p-b2", "node-b"), ("p-y1", "node-y")),
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": OK, "node-y": OK}),
    ("pods spread across zone as 2/1, maxSkew is 2 and the number of domains > minDomains",
     spod("p", labels={"foo": ""}, constraints=[sc(2, "zone", selector=FOO, min_domains=1)]),
     ABXY, foo_pods(("p-b1", "node-a"), ("p-b2", "node-b"), ("p-y1", "node-y")),
     {"node-a": OK, "node-b": OK, "node-x": OK, "node-y": OK}),
    ("NodeAffinityPolicy honored with labelSelectors",
     spod("p", labels={"foo": ""}, node_selector={"foo": ""},
          constraints=[sc(1, "node", selector=FOO)]),
     [nn("node-a", foo=""), nn("node-b", foo=""),
      nn("node-x", foo=""), nn("node-y")],
     foo_pods(("p-b1", "node-a"), ("p-b2", "node-b"), ("p-y1", "node-y")),
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": OK, "node-y": OK}),
    ("NodeAffinityPolicy ignored with labelSelectors",
     spod("p", labels={"foo": ""}, node_selector={"foo": ""},
          constraints=[sc(1, "node", selector=FOO, affinity="Ignore")]),
     [nn("node-a", foo=""), nn("node-b", foo=""),
      nn("node-x", foo=""), nn("node-y")],
     foo_pods(("p-b1", "node-a"), ("p-b2", "node-b"), ("p-y1", "node-y")),
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": OK, "node-y": UNSCHED}),
    ("NodeTaintsPolicy honored",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "node", selector=FOO, taints="Honor")]),
     [nn("node-a", foo=""), nn("node-b", foo=""),
      nn("node-x", foo=""),
      snode("node-y", {"node": "node-y"}, [UNSCHED_TAINT])],
     foo_pods(("p-b1", "node-a"), ("p-b2", "node-b"), ("p-y1", "node-y")),
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": OK, "node-y": OK}),
    ("NodeTaintsPolicy ignored",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "node", selector=FOO)]),
     [nn("node-a", foo=""), nn("node-b", foo=""),
      nn("node-x", foo=""),
      snode("node-y", {"node": "node-y"}, [UNSCHED_TAINT])],
     foo_pods(("p-b1", "node-a"), ("p-b2", "node-b"), ("p-y1", "node-y")),
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": OK, "node-y": UNSCHED}),
]


@pytest.mark.parametrize(("name", "pod", "nodes", "existing", "want"), SINGLE,
                         ids=[c[0] for c in SINGLE])
def test_single_constraint(name: str, pod: Pod, nodes: list[Node], existing: list[Pod],
                           want: dict[str, Code]) -> None:
    assert codes_of(run_filter(pod, nodes, existing)) == want


# ---- Filter (TestMultipleConstraints) ----------------------------------------------------------

ZN_FOO = [zn("node-a", "zone1", foo=""), zn("node-b", "zone1", foo=""),
          zn("node-x", "zone2", foo="")]

MULTI: list[tuple[str, Pod, list[Node], list[Pod], dict[str, Code]]] = [
    ("two Constraints on zone and node, spreads = [3/3, 2/1/0/3]",
     spod("p", labels={"foo": ""}, constraints=ZONE_NODE_FOO), ABXY, SPREAD_2_1_0_3,
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": OK, "node-y": UNSCHED}),
    ("two Constraints on zone and node, spreads = [3/4, 2/1/0/4]",
     spod("p", labels={"foo": ""}, constraints=ZONE_NODE_FOO), ABXY,
     [*SPREAD_2_1_0_3, ap("p-y4", "node-y", foo="")],
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": UNSCHED, "node-y": UNSCHED}),
    ("Constraints hold different labelSelectors, spreads = [1/0, 1/0/0/1]",
     spod("p", labels={"foo": "", "bar": ""},
          constraints=[sc(1, "zone", selector=FOO), sc(1, "node", selector=BAR)]), ABXY,
     [ap("p-a1", "node-a", foo=""), ap("p-y1", "node-y", bar="")],
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": OK, "node-y": UNSCHED}),
    ("Constraints hold different labelSelectors, spreads = [1/0, 0/0/1/1]",
     spod("p", labels={"foo": "", "bar": ""},
          constraints=[sc(1, "zone", selector=FOO), sc(1, "node", selector=BAR)]), ABXY,
     [ap("p-a1", "node-a", foo=""), ap("p-x1", "node-x", bar=""), ap("p-y1", "node-y", bar="")],
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": UNSCHED, "node-y": UNSCHED}),
    ("Constraints hold different labelSelectors, spreads = [2/3, 1/0/0/1]",
     spod("p", labels={"foo": "", "bar": ""},
          constraints=[sc(1, "zone", selector=FOO), sc(1, "node", selector=BAR)]), ABXY,
     [ap("p-a1", "node-a", foo=""), ap("p-a2", "node-a", foo="", bar=""),
      ap("p-y1", "node-y", foo=""), ap("p-y2", "node-y", foo="", bar=""),
      ap("p-y3", "node-y", foo="")],
     {"node-a": UNSCHED, "node-b": OK, "node-x": UNSCHED, "node-y": UNSCHED}),
    ("Constraints hold different labelSelectors but pod doesn't match itself on 'zone'",
     spod("p", labels={"bar": ""},
          constraints=[sc(1, "zone", selector=FOO), sc(1, "node", selector=BAR)]), ABXY,
     [ap("p-a1", "node-a", foo=""), ap("p-x1", "node-x", bar=""), ap("p-y1", "node-y", bar="")],
     {"node-a": OK, "node-b": OK, "node-x": UNSCHED, "node-y": UNSCHED}),
    ("two Constraints on zone and node, absence of label 'node' on node-x",
     spod("p", labels={"foo": ""}, constraints=ZONE_NODE_FOO),
     [zn("node-a", "zone1"), zn("node-b", "zone1"), snode("node-x", {"zone": "zone2"}),
      zn("node-y", "zone2")],
     foo_pods(("p-a1", "node-a"), ("p-y3", "node-y")),
     {"node-a": UNSCHED, "node-b": OK, "node-x": UNRES, "node-y": UNSCHED}),
    ("two node inclusion Constraints, zone: honor/ignore, node: ignore/ignore",
     spod("p", labels={"foo": ""}, node_selector={"foo": ""},
          constraints=[sc(1, "zone", selector=FOO),
                       sc(1, "node", selector=FOO, affinity="Ignore")]),
     [*ZN_FOO, zn("node-y", "zone2")],
     foo_pods(("p-a1", "node-a"), ("p-b1", "node-b"), ("p-y1", "node-y")),
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": OK, "node-y": UNSCHED}),
    ("two node inclusion Constraints, zone: honor/honor, node: honor/ignore",
     spod("p", labels={"foo": ""},
          constraints=[sc(1, "zone", selector=FOO, taints="Honor"),
                       sc(1, "node", selector=FOO)]),
     [*ZN_FOO, snode("node-y", {"zone": "zone2", "node": "node-y"}, [UNSCHED_TAINT])],
     foo_pods(("p-a1", "node-a"), ("p-b1", "node-b"), ("p-y1", "node-y")),
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": OK, "node-y": UNSCHED}),
    ("two node inclusion Constraints, zone: honor/ignore, node: honor/ignore",
     spod("p", labels={"foo": ""}, node_selector={"foo": ""}, constraints=ZONE_NODE_FOO),
     [zn("node-a", "zone1", foo=""), zn("node-b", "zone1"), zn("node-x", "zone2", foo=""),
      snode("node-y", {"zone": "zone2", "node": "node-y", "foo": ""}, [UNSCHED_TAINT])],
     foo_pods(("p-a1", "node-a"), ("p-b1", "node-b"), ("p-y1", "node-y")),
     {"node-a": UNSCHED, "node-b": OK, "node-x": OK, "node-y": UNSCHED}),
    ("two node inclusion Constraints, zone: honor/honor, node: ignore/ignore",
     spod("p", labels={"foo": ""}, node_selector={"foo": ""},
          constraints=[sc(1, "zone", selector=FOO, taints="Honor"),
                       sc(1, "node", selector=FOO, affinity="Ignore")]),
     [zn("node-a", "zone1", foo=""), zn("node-b", "zone1"), zn("node-x", "zone2", foo=""),
      snode("node-y", {"zone": "zone2", "node": "node-y", "foo": ""}, [UNSCHED_TAINT])],
     foo_pods(("p-a1", "node-a"), ("p-b1", "node-b"), ("p-y1", "node-y")),
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": OK, "node-y": UNSCHED}),
    ("two Constraints on zone, spreads = [3/3, 2/1]",
     spod("p", labels={"foo": "", "bar": ""},
          constraints=[sc(1, "zone", selector=BAR), sc(1, "zone", selector=FOO)]), ABXY,
     [ap("p-a1", "node-a", foo="", bar=""), ap("p-a2", "node-a", foo=""),
      ap("p-b1", "node-b", foo="", bar=""), ap("p-y1", "node-y", foo=""),
      ap("p-y2", "node-y", foo="", bar=""), ap("p-y3", "node-y", foo="")],
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": OK, "node-y": OK}),
    ("two Constraints on zone, spreads = [3/4, 2/1]",
     spod("p", labels={"foo": "", "bar": ""},
          constraints=[sc(1, "zone", selector=BAR), sc(1, "zone", selector=FOO)]), ABXY,
     [ap("p-a1", "node-a", foo="", bar=""), ap("p-a2", "node-a", foo=""),
      ap("p-b1", "node-b", foo="", bar=""), ap("p-y1", "node-y", foo=""),
      ap("p-y2", "node-y", foo="", bar=""), ap("p-y3", "node-y", foo=""),
      ap("p-y4", "node-y", foo="")],
     {"node-a": UNSCHED, "node-b": UNSCHED, "node-x": UNSCHED, "node-y": UNSCHED}),
]


@pytest.mark.parametrize(("name", "pod", "nodes", "existing", "want"), MULTI,
                         ids=[c[0] for c in MULTI])
def test_multiple_constraints(name: str, pod: Pod, nodes: list[Node], existing: list[Pod],
                              want: dict[str, Code]) -> None:
    assert codes_of(run_filter(pod, nodes, existing)) == want


# ---- reasons, errors and edge cases ------------------------------------------------------------


def test_reasons_and_first_failing_constraint_wins() -> None:
    """A node failing the skew of constraint 1 is Unschedulable even if it lacks the key of
    constraint 2 (upstream checks constraints in order and stops at the first failure)."""
    pod = spod("p", labels={"foo": ""},
               constraints=[sc(1, "zone", selector=FOO), sc(1, "rack", selector=FOO)])
    nodes = [snode("a", {"zone": "z1", "rack": "r1"}), snode("b", {"zone": "z2"}),
             snode("c", {"zone": "z3", "rack": "r3"}), snode("d", {"zone": "z2", "rack": "r2"})]
    existing = foo_pods(("p1", "d"), ("p2", "d"))
    got = run_filter(pod, nodes, existing)
    assert got["a"] is None
    assert got["b"] == (int(UNSCHED), [ERR_REASON_CONSTRAINTS_NOT_MATCH])
    assert got["c"] is None
    assert got["d"] == (int(UNSCHED), [ERR_REASON_CONSTRAINTS_NOT_MATCH])
    got = run_filter(pod, nodes, [])
    assert got["b"] == (int(UNRES), [ERR_REASON_NODE_LABEL_NOT_MATCH])


def test_reason_strings_match_upstream() -> None:
    assert ERR_REASON_CONSTRAINTS_NOT_MATCH == \
        "node(s) didn't match pod topology spread constraints"
    assert ERR_REASON_NODE_LABEL_NOT_MATCH == \
        "node(s) didn't match pod topology spread constraints (missing required label)"


def test_empty_label_selector_counts_nothing_but_matches_itself() -> None:
    """countPodsMatchSelector counts nothing for an empty selector, while the incoming pod's
    self-match (Selector.Matches) is still 1."""
    pod = spod("p", labels={"foo": ""}, constraints=[sc(1, "node", selector={})])
    nodes = [snode("a", {"node": "a"}), snode("b", {"node": "b"})]
    s, *_ = pre_filter_state(pod, nodes, foo_pods(("p1", "a"), ("p2", "a")))
    assert tp_counts(s) == [{"a": 0, "b": 0}]
    assert s.domains[0].self_match == 1
    assert codes_of(run_filter(pod, nodes, foo_pods(("p1", "a"), ("p2", "a")))) == {
        "a": OK, "b": OK}


def test_invalid_selector_is_an_error() -> None:
    pod = spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector={
        "matchExpressions": [{"key": "foo", "operator": "Bogus"}]})])
    _, st = plugin().pre_filter(new_state(), pod_info(pod), snapshot_of([zn("a", "z1")]))
    assert st is not None and st.code == Code.ERROR
    assert st.message() == ("get constraints from pod: obtaining pod's hard topology spread "
                            "constraints: \"Bogus\" is not a valid label selector operator")


def test_filter_without_pre_filter_is_an_error() -> None:
    snap = snapshot_of([zn("a", "z1")])
    ni = snap.get("a")
    assert ni is not None
    st = plugin().filter(new_state(), pod_info(spod("p")), ni)
    assert st is not None and st.code == Code.ERROR


def test_nodes_without_the_zone_label_are_not_domains() -> None:
    """A node lacking the key contributes no domain (its pods are not counted) and cannot
    host the pod."""
    pod = spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)])
    nodes = [zn("a", "z1"), zn("b", "z2"), snode("c", {"node": "c"})]
    existing = foo_pods(("p1", "c"), ("p2", "c"), ("p3", "a"))
    s, *_ = pre_filter_state(pod, nodes, existing)
    assert tp_counts(s) == [{"z1": 1, "z2": 0}]
    assert codes_of(run_filter(pod, nodes, existing)) == {"a": UNSCHED, "b": OK, "c": UNRES}


def test_counts_follow_cache_changes() -> None:
    """The per-node counts kept across cycles see pods added, relabelled, terminating and
    removed, and nodes added and removed."""
    cache = SchedulerCache()
    for n in [zn("a", "z1"), zn("b", "z2")]:
        cache.add_node(n)
    p = plugin()
    pod = spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)])

    def counts() -> list[dict[str, int]]:
        state = new_state()
        assert p.pre_filter(state, pod_info(pod), cache.snapshot) == (None, None)
        return tp_counts(state.read(PRE_FILTER_STATE_KEY))

    assert counts() == [{"z1": 0, "z2": 0}]
    p1 = ap("p1", "a", foo="")
    cache.add_pod(p1)
    assert counts() == [{"z1": 1, "z2": 0}]
    relabelled = msgspec.structs.replace(p1, metadata=msgspec.structs.replace(
        p1.metadata, labels={"bar": ""}))
    cache.update_pod(p1, relabelled)
    assert counts() == [{"z1": 0, "z2": 0}]
    cache.add_pod(ap("p2", "b", foo=""))
    cache.add_pod(ap("p3", "b", terminating=True, foo=""))
    assert counts() == [{"z1": 0, "z2": 1}]
    cache.add_node(zn("c", "z3"))
    cache.add_pod(ap("p4", "c", foo=""))
    assert counts() == [{"z1": 0, "z2": 1, "z3": 1}]
    cache.remove_node(zn("a", "z1"))
    assert counts() == [{"z2": 1, "z3": 1}]
    cache.remove_pod(relabelled)
    cache.remove_pod(ap("p4", "c", foo=""))  # no such uid: nothing changes
    assert counts() == [{"z2": 1, "z3": 1}]


# ---- through the framework runtime --------------------------------------------------------------


@dataclass(slots=True)
class Nominations:
    by_node: dict[str, list[PodInfo]]

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return self.by_node.get(node_name, [])

    def nominated_nodes(self) -> list[str]:
        return list(self.by_node)


def test_runtime_diagnosis_with_nominated_pods() -> None:
    """Batch rows and the nominated-pod path (AddPod on a cloned state) in one filtering pass;
    reasons are counted as upstream words them."""
    from builders import FakeHandle

    from pyscheduler.framework.runtime import Diagnosis, Framework, implemented_points
    from pyscheduler.plugins import default_binder, priority_sort

    p = plugin()
    handle = FakeHandle()
    plugins = {"PrioritySort": priority_sort.SPEC.factory(None, handle),
               "DefaultBinder": default_binder.SPEC.factory(None, handle), p.name: p}
    points: dict[str, list[str]] = {}
    for name, pl in plugins.items():
        for point in implemented_points(pl):
            points.setdefault(point, []).append(name)
    assert points["preFilter"] == points["filter"] == points["score"] == [p.name]
    nominated = [pod_info(ap(f"n{i}", "", foo="")) for i in range(3)]
    fwk = Framework("default-scheduler", plugins, points, {p.name: 2},
                    nominator=Nominations({"b": nominated}))
    snap = snapshot_of([zn("a", "z1"), zn("b", "z2"), nn("c")],
                       foo_pods(("e1", "a"), ("e2", "a")))
    pi = pod_info(spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", selector=FOO)]))
    state = new_state()
    _, st, _ = fwk.run_pre_filter(state, pi, snap)
    assert st is None
    diagnosis = Diagnosis(num_all_nodes=3)
    feasible = fwk.find_nodes_that_pass_filters(state, pi, snap, snap.all_rows(), diagnosis)
    assert len(feasible) == 0
    assert diagnosis.message() == (
        "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints "
        "(missing required label), 2 node(s) didn't match pod topology spread constraints.")
    assert sorted(diagnosis.resolvable_nodes) == ["a", "b"]
    assert diagnosis.unschedulable_plugins == {p.name}
    # Without the nominations node-b fits, and it is the only feasible node.
    fwk = Framework("default-scheduler", plugins, points, {p.name: 2},
                    nominator=Nominations({}))
    state = new_state()
    fwk.run_pre_filter(state, pi, snap)
    feasible = fwk.find_nodes_that_pass_filters(state, pi, snap, snap.all_rows(), Diagnosis(3))
    assert [snap.node_infos[r].name for r in feasible] == ["b"]
