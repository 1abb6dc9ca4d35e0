"""PodTopologySpread scoring: upstream scoring_test.go tables (TestPreScoreSkip,
TestPreScoreStateEmptyNodes, TestPodTopologySpreadScore) with the same inputs and expected
scores, every Score checked per node and in batch; plus system defaulting through Services,
ReplicaSets, StatefulSets and ReplicationControllers read from listers."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np
import pytest
from builders import new_state, pod_info, rows_of, snapshot_of
from test_pod_topology_spread import (
    BAR,
    FOO,
    HOSTNAME,
    UNSCHED_TAINT,
    ZONE,
    ap,
    foo_pods,
    indexer,
    match_labels,
    nn,
    plugin,
    run_score,
    sc,
    snode,
    spod,
)

from pyscheduler.framework.status import Code
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.model.workloads import (
    ReplicaSet,
    ReplicationController,
    Service,
    StatefulSet,
)
from pyscheduler.plugins.pod_topology_spread import PodTopologySpread
from pyscheduler.plugins.pod_topology_spread.scoring import (
    PRE_SCORE_STATE_KEY,
    PreScoreState,
    go_round,
    normalize,
    topology_normalizing_weight,
)

SA = "ScheduleAnyway"


def hn(name: str, **labels: str) -> Node:
    """A node with the hostname label (and more labels)."""
    return snode(name, {HOSTNAME: name, **labels})


def hzn(name: str, zone: str) -> Node:
    return snode(name, {"zone": zone, HOSTNAME: name})


def service(selector: dict[str, str] | None, ns: str = "default", name: str = "s") -> Service:
    spec: dict[str, Any] = {} if selector is None else {"selector": selector}
    return msgspec.convert({"metadata": {"name": name, "namespace": ns}, "spec": spec}, Service)


def replica_set(name: str, selector: dict[str, Any] | None, ns: str = "default") -> ReplicaSet:
    spec: dict[str, Any] = {} if selector is None else {"selector": selector}
    return msgspec.convert({"metadata": {"name": name, "namespace": ns}, "spec": spec},
                           ReplicaSet)


RS_OWNER = ("apps/v1", "ReplicaSet", "rs1")


def pre_score(pod: Pod, nodes: list[Node], p: PodTopologySpread,
              existing: list[Pod] | None = None) -> tuple[Any, PreScoreState | None]:
    snap = snapshot_of(nodes, existing or [])
    state = new_state()
    st = p.pre_score(state, pod_info(pod), snap, snap.all_rows())
    return st, state.get(PRE_SCORE_STATE_KEY)


def summary(s: PreScoreState) -> tuple[list[dict[str, int]], list[float], list[str]]:
    """(upstream TopologyValueToPodCounts, TopologyNormalizingWeight, constraint keys)."""
    counts: list[dict[str, int]] = []
    for sc_ in s.scored:
        if sc_.hostname:
            counts.append({})
            continue
        assert sc_.domain_counts is not None and sc_.seeded is not None
        kc = sc_.codes
        # A missing label is the value "" (upstream's map lookup), which is its go code.
        counts.append({("" if kc.values[c] is None else str(kc.values[c])):
                       int(sc_.domain_counts[c]) for c in np.flatnonzero(sc_.seeded)})
    return counts, [x.weight for x in s.scored], [x.constraint.topology_key for x in s.scored]


# ---- TestPreScoreSkip ---------------------------------------------------------------------------


def test_pre_score_skip_without_soft_constraints() -> None:
    pod = spod("p")
    st, _ = pre_score(pod, [hn("node-a"), hn("node-b")], plugin("List"))
    assert st is not None and st.code == Code.SKIP


def test_pre_score_skip_default_constraints_and_a_replicaset_that_doesnt_match() -> None:
    p = plugin("List", [sc(2, "planet", SA)],
               {"replicasets": indexer(replica_set("rs1", {"matchExpressions": [
                   {"key": "tar", "operator": "Exists"}]}))})
    pod = spod("p", labels={"foo": "bar", "baz": "sup"}, owner=("apps/v1", "ReplicaSet", "rs2"))
    st, _ = pre_score(pod, [snode("node-a", {"planet": "mars"})], p)
    assert st is not None and st.code == Code.SKIP


def test_pre_score_skip_without_nodes() -> None:
    pod = spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", SA, FOO)])
    st, _ = pre_score(pod, [], plugin("List"))
    assert st is not None and st.code == Code.SKIP


# ---- TestPreScoreStateEmptyNodes ----------------------------------------------------------------

W = topology_normalizing_weight

STATE_CASES: list[tuple[str, Pod, list[Node], PodTopologySpread, list[dict[str, int]],
                        list[float], list[str]]] = [
    ("normal case",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", SA, FOO), sc(1, HOSTNAME, SA, FOO)]),
     [hzn("node-a", "zone1"), hzn("node-b", "zone1"), hzn("node-x", "zone2")], plugin("List"),
     [{"zone1": 0, "zone2": 0}, {}], [W(2), W(3)], []),
    ("null selector",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", SA)]),
     [hzn("node-a", "zone1"), hzn("node-b", "zone1"), hzn("node-x", "zone2")], plugin("List"),
     [{"zone1": 0, "zone2": 0}], [W(2)], []),
    ("node-x doesn't have label zone",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", SA, FOO), sc(1, HOSTNAME, SA, BAR)]),
     [hzn("node-a", "zone1"), hzn("node-b", "zone1"), hn("node-x")], plugin("List"),
     [{"zone1": 0}, {}], [W(1), W(2)], ["node-x"]),
    ("system default constraints and a replicaset",
     spod("p", labels={"foo": "tar", "baz": "sup"}, owner=RS_OWNER),
     [hn("node-a", **{ZONE: "mars"}), hn("node-b", **{ZONE: "mars"}), hn("node-c"),
      hn("node-d")],
     plugin("System", listers={"replicasets": indexer(replica_set("rs1", FOO))}),
     [{}, {"mars": 0, "": 0}], [W(4), W(2)], []),
    ("default constraints and a replicaset",
     spod("p", labels={"foo": "tar", "baz": "sup"}, owner=RS_OWNER),
     [snode("node-a", {"rack": "rack1", HOSTNAME: "node-a", "planet": "mars"})],
     plugin("List", [sc(1, HOSTNAME, SA), sc(2, "rack"), sc(2, "planet", SA)],
            {"replicasets": indexer(replica_set("rs1", FOO))}),
     [{}, {"mars": 0}], [W(1), W(1)], []),
    ("default constraints and a replicaset, but pod has constraints",
     spod("p", labels={"foo": "bar", "baz": "sup"}, owner=RS_OWNER,
          constraints=[sc(1, "zone", selector=BAR), sc(2, "planet", SA, match_labels(baz="sup"))]),
     [snode("node-a", {"planet": "mars", "galaxy": "andromeda"})],
     plugin("List", [sc(2, "galaxy", SA)], {"replicasets": indexer(replica_set("rs1", FOO))}),
     [{"mars": 0}], [W(1)], []),
    ("NodeAffinityPolicy honored with labelSelectors",
     spod("p", labels={"foo": ""}, node_selector={"foo": ""}, constraints=[sc(1, "zone", SA, BAR)]),
     [snode("node-a", {"zone": "zone1", "foo": "", HOSTNAME: "node-a"}),
      snode("node-b", {"zone": "zone1", "foo": "", HOSTNAME: "node-b"}), hzn("node-x", "zone2")],
     plugin("List"), [{"zone1": 0, "zone2": 0}], [W(2)], []),
    ("NodeTaintsPolicy honored",
     spod("p", labels={"foo": ""}, constraints=[sc(1, "zone", SA, BAR, taints="Honor")]),
     [snode("node-a", {"zone": "zone1", "foo": "", HOSTNAME: "node-a"}),
      snode("node-b", {"zone": "zone1", "foo": "", HOSTNAME: "node-b"}),
      snode("node-x", {"zone": "zone2", HOSTNAME: "node-x"}, [UNSCHED_TAINT])],
     plugin("List"), [{"zone1": 0, "zone2": 0}], [W(2)], []),
]


@pytest.mark.parametrize(("name", "pod", "nodes", "p", "want_counts", "want_weights",
                          "want_ignored"), STATE_CASES, ids=[c[0] for c in STATE_CASES])
def test_pre_score_state(name: str, pod: Pod, nodes: list[Node], p: PodTopologySpread,
                         want_counts: list[dict[str, int]], want_weights: list[float],
                         want_ignored: list[str]) -> None:
    snap = snapshot_of(nodes)
    state = new_state()
    assert p.pre_score(state, pod_info(pod), snap, snap.all_rows()) is None
    s = state.read(PRE_SCORE_STATE_KEY)
    counts, weights, _ = summary(s)
    assert counts == want_counts
    assert weights == want_weights
    ignored = [snap.node_infos[r].name for r in np.flatnonzero(s.ignored_rows)]
    assert sorted(ignored) == sorted(want_ignored) or not s.require_all


# ---- TestPodTopologySpreadScore -----------------------------------------------------------------

ABCD = [hn("node-a"), hn("node-b"), hn("node-c"), hn("node-d")]
SPREAD_4_3_2_1 = foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-a3", "node-a"),
                          ("p-a4", "node-a"), ("p-b1", "node-b"), ("p-b2", "node-b"),
                          ("p-b3", "node-b"), ("p-c1", "node-c"), ("p-c2", "node-c"),
                          ("p-d1", "node-d"))
SPREAD_2_1_0_3 = foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b"),
                          ("p-d1", "node-d"), ("p-d2", "node-d"), ("p-d3", "node-d"))
SPREAD_4_2_1_3 = foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-a3", "node-a"),
                          ("p-a4", "node-a"), ("p-b1", "node-b"), ("p-b2", "node-b"),
                          ("p-x1", "node-x"), ("p-y1", "node-y"), ("p-y2", "node-y"),
                          ("p-y3", "node-y"))
ZONE_NODES = [hzn("node-a", "zone1"), hzn("node-b", "zone1"), hzn("node-x", "zone2"),
              hzn("node-y", "zone2")]
PFOO = {"foo": ""}
PFOOBAR = {"foo": "", "bar": ""}
NODE_FOO_HONOR = [nn("node-a", foo=""), nn("node-b", foo=""), nn("node-c")]
SPREAD_2_1_1 = foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b"),
                        ("p-c1", "node-c"))
IN_FOO = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "foo", "operator": "In", "values": [""]}]}]}}

SCORE_CASES: list[tuple[str, Pod, list[Pod], list[Node], list[Node], dict[str, int]]] = [
    ("one constraint on node, no existing pods",
     spod("p", labels=PFOO, constraints=[sc(1, HOSTNAME, SA, FOO)]), [],
     [hn("node-a"), hn("node-b")], [], {"node-a": 100, "node-b": 100}),
    ("one constraint on node, only one node is candidate",
     spod("p", labels=PFOO, constraints=[sc(1, HOSTNAME, SA, FOO)]),
     foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b")),
     [hn("node-a")], [hn("node-b")], {"node-a": 100}),
    ("one constraint on node, all nodes have the same number of matching pods",
     spod("p", labels=PFOO, constraints=[sc(1, HOSTNAME, SA, FOO)]),
     foo_pods(("p-a1", "node-a"), ("p-b1", "node-b")), [hn("node-a"), hn("node-b")], [],
     {"node-a": 100, "node-b": 100}),
    ("one constraint on node, all 4 nodes are candidates",
     spod("p", labels=PFOO, constraints=[sc(1, HOSTNAME, SA, FOO)]), SPREAD_2_1_0_3, ABCD, [],
     {"node-a": 20, "node-b": 60, "node-c": 100, "node-d": 0}),
    ("one constraint on node, null selector",
     spod("p", labels=PFOO, constraints=[sc(1, HOSTNAME, SA)]), SPREAD_2_1_0_3, ABCD, [],
     {"node-a": 100, "node-b": 100, "node-c": 100, "node-d": 100}),
    ("one constraint on node, all 4 nodes are candidates, maxSkew=2",
     spod("p", labels=PFOO, constraints=[sc(2, HOSTNAME, SA, FOO)]), SPREAD_2_1_0_3, ABCD, [],
     {"node-a": 33, "node-b": 66, "node-c": 100, "node-d": 16}),
    ("one constraint on node, all 4 nodes are candidates, maxSkew=3",
     spod("p", labels=PFOO, constraints=[sc(3, HOSTNAME, SA, FOO)]), SPREAD_4_3_2_1, ABCD, [],
     {"node-a": 44, "node-b": 66, "node-c": 77, "node-d": 100}),
    ("one constraint on node, 3 out of 4 nodes are candidates",
     spod("p", labels=PFOO, constraints=[sc(1, HOSTNAME, SA, FOO)]), SPREAD_4_2_1_3,
     [hn("node-a"), hn("node-b"), hn("node-x")], [hn("node-y")],
     {"node-a": 33, "node-b": 83, "node-x": 100}),
    ("one constraint on node, 3 out of 4 nodes are candidates, one node doesn't match key",
     spod("p", labels=PFOO, constraints=[sc(1, HOSTNAME, SA, FOO)]), SPREAD_4_2_1_3,
     [hn("node-a"), snode("node-b", {"n": "node-b"}), hn("node-x")], [hn("node-y")],
     {"node-a": 16, "node-b": 0, "node-x": 100}),
    ("one constraint on zone, 3 out of 4 nodes are candidates",
     spod("p", labels=PFOO, constraints=[sc(1, "zone", SA, FOO)]), SPREAD_4_2_1_3,
     ZONE_NODES[:3], ZONE_NODES[3:], {"node-a": 75, "node-b": 75, "node-x": 100}),
    ("two Constraints on zone and node, 2 out of 4 nodes are candidates",
     spod("p", labels=PFOO, constraints=[sc(1, "zone", SA, FOO), sc(1, HOSTNAME, SA, FOO)]),
     foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b"), ("p-x1", "node-x"),
              ("p-x2", "node-x"), ("p-y1", "node-y"), ("p-y2", "node-y"), ("p-y3", "node-y"),
              ("p-y4", "node-y")),
     [ZONE_NODES[0], ZONE_NODES[2]], [ZONE_NODES[1], ZONE_NODES[3]],
     {"node-a": 100, "node-x": 63}),
    ("two Constraints on zone, 2 out of 4 nodes are candidates",
     spod("p", labels=PFOOBAR, constraints=[sc(1, "zone", SA, FOO), sc(1, "zone", SA, BAR)]),
     [ap("p-a1", "node-a", foo="", bar=""), ap("p-a2", "node-a", foo=""),
      ap("p-b1", "node-b", foo="", bar=""), ap("p-y1", "node-y", foo=""),
      ap("p-y2", "node-y", foo="", bar=""), ap("p-y3", "node-y", foo="")],
     [snode("node-a", {"zone": "zone1"}), snode("node-x", {"zone": "zone2"})],
     [snode("node-b", {"zone": "zone1"}), snode("node-y", {"zone": "zone2"})],
     {"node-a": 85, "node-x": 100}),
    ("two Constraints on zone and node, with different labelSelectors",
     spod("p", labels=PFOOBAR, constraints=[sc(1, "zone", SA, FOO), sc(1, HOSTNAME, SA, BAR)]),
     [ap("p-a1", "node-a", foo=""), ap("p-b1", "node-b", foo="", bar=""),
      ap("p-y1", "node-y", foo=""), ap("p-y2", "node-y", bar="")],
     ZONE_NODES, [], {"node-a": 60, "node-b": 20, "node-x": 100, "node-y": 60}),
    ("two Constraints on zone and node, with different labelSelectors, some nodes have 0 pods",
     spod("p", labels=PFOOBAR, constraints=[sc(1, "zone", SA, FOO), sc(1, HOSTNAME, SA, BAR)]),
     [ap("p-b1", "node-b", bar=""), ap("p-x1", "node-x", foo=""),
      ap("p-y1", "node-y", foo="", bar="")],
     ZONE_NODES, [], {"node-a": 100, "node-b": 60, "node-x": 40, "node-y": 0}),
    ("two Constraints on zone and node, with different labelSelectors, 3 out of 4 candidates",
     spod("p", labels=PFOOBAR, constraints=[sc(1, "zone", SA, FOO), sc(1, HOSTNAME, SA, BAR)]),
     [ap("p-a1", "node-a", foo=""), ap("p-b1", "node-b", foo="", bar=""),
      ap("p-y1", "node-y", foo=""), ap("p-y2", "node-y", bar="")],
     ZONE_NODES[:3], ZONE_NODES[3:], {"node-a": 50, "node-b": 25, "node-x": 100}),
    ("existing pods in a different namespace do not count",
     spod("p", labels=PFOO, constraints=[sc(1, HOSTNAME, SA, FOO)]),
     [ap("p-a1", "node-a", ns="ns1", foo=""), ap("p-a2", "node-a", foo=""),
      ap("p-b1", "node-b", foo=""), ap("p-b2", "node-b", foo="")],
     [hn("node-a"), hn("node-b")], [], {"node-a": 100, "node-b": 33}),
    ("terminating Pods should be excluded",
     spod("p", labels=PFOO, constraints=[sc(1, HOSTNAME, SA, FOO)]),
     [ap("p-a", "node-a", terminating=True, foo=""), ap("p-b", "node-b", foo="")],
     [hn("node-a"), hn("node-b")], [], {"node-a": 100, "node-b": 0}),
    ("minDomains has no effect when ScheduleAnyway",
     spod("p", labels=PFOO, constraints=[sc(2, "node", SA, FOO, min_domains=10)]),
     foo_pods(("p-a1", "node-a"), ("p-a2", "node-a"), ("p-b1", "node-b"), ("p-b2", "node-b"),
              ("p-c1", "node-c")),
     [nn("node-a"), nn("node-b"), nn("node-c")], [],
     {"node-a": 75, "node-b": 75, "node-c": 100}),
    ("NodeAffinityPolicy honored with labelSelectors",
     spod("p", labels=PFOO, node_selector={"foo": ""}, constraints=[sc(1, "node", SA, FOO)]),
     SPREAD_2_1_1, NODE_FOO_HONOR, [], {"node-a": 0, "node-b": 33, "node-c": 100}),
    ("NodeAffinityPolicy ignored with labelSelectors",
     spod("p", labels=PFOO, node_selector={"foo": ""},
          constraints=[sc(1, "node", SA, FOO, affinity="Ignore")]),
     SPREAD_2_1_1, NODE_FOO_HONOR, [], {"node-a": 66, "node-b": 100, "node-c": 100}),
    ("NodeAffinityPolicy honored with nodeAffinity",
     spod("p", labels=PFOO, node_affinity=IN_FOO, constraints=[sc(1, "node", SA, FOO)]),
     SPREAD_2_1_1, NODE_FOO_HONOR, [], {"node-a": 0, "node-b": 33, "node-c": 100}),
    ("NodeAffinityPolicy ignored with nodeAffinity",
     spod("p", labels=PFOO, node_affinity=IN_FOO,
          constraints=[sc(1, "node", SA, FOO, affinity="Ignore")]),
     SPREAD_2_1_1, NODE_FOO_HONOR, [], {"node-a": 66, "node-b": 100, "node-c": 100}),
    ("NodeTaintsPolicy honored",
     spod("p", labels=PFOO, constraints=[sc(1, "node", SA, FOO, taints="Honor")]),
     SPREAD_2_1_1, [nn("node-a"), nn("node-b"), snode("node-c", {"node": "node-c"},
                                                      [UNSCHED_TAINT])], [],
     {"node-a": 0, "node-b": 33, "node-c": 100}),
    ("NodeTaintsPolicy ignored",
     spod("p", labels=PFOO, constraints=[sc(1, "node", SA, FOO)]),
     SPREAD_2_1_1, [nn("node-a"), nn("node-b"), snode("node-c", {"node": "node-c"},
                                                      [UNSCHED_TAINT])], [],
     {"node-a": 66, "node-b": 100, "node-c": 100}),
    ("matchLabelKeys ANDed with LabelSelector when LabelSelector is empty",
     spod("p", labels=PFOOBAR, constraints=[sc(1, "zone", SA, {}, match_label_keys=["foo"]),
                                            sc(1, HOSTNAME, SA, {}, match_label_keys=["bar"])]),
     [ap("p-a1", "node-a", foo=""), ap("p-b1", "node-b", foo="", bar=""),
      ap("p-y1", "node-c", foo=""), ap("p-y2", "node-c", bar="")],
     [hzn("node-a", "zone1"), hzn("node-b", "zone1"), hzn("node-c", "zone2"),
      hzn("node-d", "zone2")], [],
     {"node-a": 60, "node-b": 20, "node-c": 60, "node-d": 100}),
    ("matchLabelKeys ANDed with LabelSelector when LabelSelector isn't empty",
     spod("p", labels={"foo": "", "bar": "", "baz": ""},
          constraints=[sc(1, "zone", SA, FOO),
                       sc(1, HOSTNAME, SA, BAR, match_label_keys=["baz"])]),
     [ap("p-a1", "node-a", foo=""), ap("p-b1", "node-b", foo="", bar="", baz=""),
      ap("p-c1", "node-c", foo=""), ap("p-c2", "node-c", bar=""),
      ap("p-d3", "node-c", bar="", baz="")],
     [hzn("node-a", "zone1"), hzn("node-b", "zone1"), hzn("node-c", "zone2"),
      hzn("node-d", "zone2")], [],
     {"node-a": 60, "node-b": 20, "node-c": 60, "node-d": 100}),
]


@pytest.mark.parametrize(("name", "pod", "existing", "nodes", "failed", "want"), SCORE_CASES,
                         ids=[c[0] for c in SCORE_CASES])
def test_pod_topology_spread_score(name: str, pod: Pod, existing: list[Pod], nodes: list[Node],
                                   failed: list[Node], want: dict[str, int]) -> None:
    assert run_score(pod, nodes, existing, failed) == want


def test_system_defaulting_nodes_dont_have_zone_pods_match_service() -> None:
    """Upstream "system defaulting, nodes don't have zone, pods match service": the zone
    default is not applied to nodes without the zone label; scores equal one hostname
    constraint with maxSkew 3."""
    p = plugin("System", listers={"services": indexer(service({"foo": ""}))})
    pod = spod("p", labels=PFOO)
    assert run_score(pod, ABCD, SPREAD_4_3_2_1, p=p) == {
        "node-a": 44, "node-b": 66, "node-c": 77, "node-d": 100}


# ---- system defaults and workload selectors -----------------------------------------------------


def _defaults_selector(pod: Pod, listers: dict[str, Any]) -> Any:
    p = plugin("System", listers=listers)
    return p.constraints(pod_info(pod), SA)


@pytest.mark.parametrize(("name", "owner", "listers", "want_match", "want_none"), [
    ("service", None, {"services": indexer(service({"app": "web"}))},
     {"app": "web"}, False),
    ("service in another namespace", None,
     {"services": indexer(service({"app": "web"}, ns="other"))}, None, True),
    ("service without selector matches nothing", None,
     {"services": indexer(service(None))}, None, True),
    ("service with empty selector adds nothing", None,
     {"services": indexer(service({}))}, None, True),
    ("no listers at all", RS_OWNER, {}, None, True),
    ("replicaset", RS_OWNER,
     {"replicasets": indexer(replica_set("rs1", {"matchLabels": {"app": "web"},
                                                 "matchExpressions": [
                                                     {"key": "tier", "operator": "In",
                                                      "values": ["a", "b"]}]}))},
     {"app": "web", "tier": "a"}, False),
    ("replicaset of an old API group is not a supported controller",
     ("extensions/v1beta1", "ReplicaSet", "rs1"),
     {"replicasets": indexer(replica_set("rs1", {"matchLabels": {"app": "web"}}))}, None, True),
    ("replicaset with a nil selector adds nothing", RS_OWNER,
     {"replicasets": indexer(replica_set("rs1", None))}, None, True),
    ("statefulset", ("apps/v1", "StatefulSet", "ss1"),
     {"statefulsets": indexer(msgspec.convert(
         {"metadata": {"name": "ss1", "namespace": "default"},
          "spec": {"selector": {"matchLabels": {"app": "db"}}}}, StatefulSet))},
     {"app": "db"}, False),
    ("replicationcontroller with a service", ("v1", "ReplicationController", "rc1"),
     {"services": indexer(service({"tier": "a"})),
      "replicationcontrollers": indexer(msgspec.convert(
          {"metadata": {"name": "rc1", "namespace": "default"},
           "spec": {"selector": {"app": "web"}}}, ReplicationController))},
     {"app": "web", "tier": "a"}, False),
    ("service and replicaset are ANDed", RS_OWNER,
     {"services": indexer(service({"tier": "a"})),
      "replicasets": indexer(replica_set("rs1", {"matchLabels": {"app": "web"}}))},
     {"app": "web", "tier": "a"}, False),
])
def test_system_default_selectors(name: str, owner: tuple[str, str, str] | None,
                                  listers: dict[str, Any], want_match: dict[str, str] | None,
                                  want_none: bool) -> None:
    pod = spod("p", labels={"app": "web", "tier": "a"}, owner=owner)
    constraints = _defaults_selector(pod, listers)
    if want_none:
        assert constraints == []
        return
    assert [(c.topology_key, c.max_skew) for c in constraints] == [(HOSTNAME, 3), (ZONE, 5)]
    assert want_match is not None
    sel = constraints[0].selector
    assert sel.matches(want_match)
    for k in want_match:  # every key of the workload selector is required
        assert not sel.matches({x: y for x, y in want_match.items() if x != k})


def test_system_defaults_score_spreads_over_hostname_and_zone() -> None:
    """A ReplicaSet's pods spread by the system defaults: the zone with fewer replicas and,
    within it, the node with fewer replicas wins."""
    p = plugin("System", listers={"replicasets": indexer(replica_set(
        "rs1", {"matchLabels": {"app": "web"}}))})
    nodes = [hn(f"n{i}", **{ZONE: f"z{i % 2}"}) for i in range(4)]
    existing = [spod(f"w{j}", node=f"n{j % 3}", labels={"app": "web"}) for j in range(6)]
    pod = spod("p", labels={"app": "web"}, owner=RS_OWNER)
    got = run_score(pod, nodes, existing, p=p)
    assert max(got, key=got.__getitem__) == "n3"
    assert got["n3"] == 100


def test_system_defaults_are_not_hard() -> None:
    """System defaults are ScheduleAnyway only: PreFilter skips."""
    p = plugin("System", listers={"services": indexer(service({"app": "web"}))})
    pod = spod("p", labels={"app": "web"})
    _, st = p.pre_filter(new_state(), pod_info(pod), snapshot_of([hn("a")]))
    assert st is not None and st.code == Code.SKIP


# ---- formula details ----------------------------------------------------------------------------


def test_normalize_ignored_and_all_zero() -> None:
    scores = np.array([-1, 0, 0], dtype=np.int64)
    normalize(scores)
    assert scores.tolist() == [0, 100, 100]
    scores = np.array([-1, -1], dtype=np.int64)
    normalize(scores)
    assert scores.tolist() == [0, 0]
    scores = np.array([9, 7, 6, 4, -1], dtype=np.int64)
    normalize(scores)
    assert scores.tolist() == [44, 66, 77, 100, 0]


def test_go_round_is_half_away_from_zero() -> None:
    assert [go_round(x) for x in (0.5, 1.5, 2.5, 2.4999, 0.0)] == [1, 2, 3, 2, 0]
    assert topology_normalizing_weight(3) == math.log(5)


def test_score_without_pre_score_raises() -> None:
    snap = snapshot_of([hn("a")])
    ni = snap.get("a")
    assert ni is not None
    with pytest.raises(RuntimeError):
        plugin().score(new_state(), pod_info(spod("p")), ni)


def test_rows_subset_and_order_do_not_change_scores() -> None:
    """Scores depend on the feasible set, not on its order."""
    p = plugin("List")
    pod = spod("p", labels=PFOO, constraints=[sc(1, "zone", SA, FOO), sc(1, HOSTNAME, SA, FOO)])
    snap = snapshot_of(ZONE_NODES, SPREAD_4_2_1_3)
    for names in (["node-a", "node-b", "node-x"], ["node-x", "node-a", "node-b"]):
        rows = rows_of(snap, names)
        state = new_state()
        assert p.pre_score(state, pod_info(pod), snap, rows) is None
        raw = p.score_nodes(state, pod_info(pod), snap, rows)
        got = dict(zip(names, raw.tolist(), strict=True))
        # zone: domains zone1 (6 pods) and zone2 (4, node-y counts though not feasible),
        # weight log(2+2); hostname: the node's own pods, weight log(3+2).
        wz, wh = math.log(4), math.log(5)
        assert got == {"node-a": go_round(6 * wz + 4 * wh), "node-b": go_round(6 * wz + 2 * wh),
                       "node-x": go_round(4 * wz + 1 * wh)}
