"""InterPodAffinity filtering: upstream filtering_test.go rows (same inputs and outcomes), run
per node and in batch, with and without the cluster index; plus AddPod/RemovePod, state
cloning, and the edge cases the upstream table leaves implicit (empty selectors, missing
topology labels, terminating pods, namespaceSelector, the first pod of a self-affine group)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from builders import filter_both, new_state, snapshot_of
from test_inter_pod_affinity_helpers import (
    SKIP,
    UNRES,
    UNSCHED,
    exists_term,
    expr,
    in_term,
    node,
    not_in_term,
    plugin,
    pod,
    run_filter,
    run_filter_both_modes,
    term,
)

from pyscheduler.framework.status import Code
from pyscheduler.framework.types import PodInfo
from pyscheduler.plugins.inter_pod_affinity import (
    ERR_REASON_AFFINITY,
    ERR_REASON_ANTI_AFFINITY,
    ERR_REASON_EXISTING_ANTI_AFFINITY,
    PRE_FILTER_STATE_KEY,
    PreFilterState,
)
from pyscheduler.plugins.inter_pod_affinity.terms import terms_of

AFF = (UNRES, [ERR_REASON_AFFINITY])
ANTI = (UNSCHED, [ERR_REASON_ANTI_AFFINITY])
EXISTING = (UNSCHED, [ERR_REASON_EXISTING_ANTI_AFFINITY])

SEC_SCAN = {"service": "securityscan"}
S1 = {"security": "S1"}
NODE1 = node("node1", {"region": "r1", "zone": "z11"})
EXISTING_POD = pod("existing", labels=SEC_SCAN, node="node1")
INVALID_VALUE_MSG = (
    'parsing pod: requiredAffinityTerms: values[0][service]: Invalid value: "{{.bad-value.}}": '
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
TEAM1 = {"matchExpressions": [expr("team", "In", ["team1"])]}

# upstream TestRequiredAffinitySingleNode: (name, incoming pod, existing pods, want PreFilter,
# want Filter on node1)
SINGLE_NODE: list[tuple[str, Any, list[Any], Any, Any]] = [
    ("no required pod affinity, no existing pods", pod(), [], SKIP, None),
    ("In operator matches the existing pod",
     pod(labels=S1, affinity=[in_term("service", "region", ["securityscan", "value2"])]),
     [EXISTING_POD], None, None),
    ("NotIn operator matches the existing pod",
     pod(labels=S1, affinity=[not_in_term("service", "region", ["securityscan3", "value3"])]),
     [EXISTING_POD], None, None),
    ("different namespace",
     pod(labels=S1, affinity=[term("", expr("service", "In", ["securityscan", "value2"]),
                                   namespaces=["DiffNameSpace"])]),
     [pod(ns="ns", labels=SEC_SCAN, node="node1")], None, AFF),
    ("unmatching labelSelector",
     pod(labels=SEC_SCAN, affinity=[in_term("service", "", ["antivirusscan", "value2"])]),
     [EXISTING_POD], None, AFF),
    ("different operators in multiple terms",
     pod(labels=S1, affinity=[
         term("region", expr("service", "Exists"), expr("wrongkey", "DoesNotExist")),
         term("region", expr("service", "In", ["securityscan"]),
              expr("service", "NotIn", ["WrongValue"]))]),
     [EXISTING_POD], None, None),
    ("matchExpressions are ANDed",
     pod(labels=S1, affinity=[
         term("region", expr("service", "Exists"), expr("wrongkey", "DoesNotExist")),
         term("region", expr("service", "In", ["securityscan2"]),
              expr("service", "NotIn", ["WrongValue"]))]),
     [EXISTING_POD], None, AFF),
    ("affinity and anti-affinity satisfied",
     pod(labels=S1, affinity=[in_term("service", "region", ["securityscan", "value2"])],
         anti=[in_term("service", "node", ["antivirusscan", "value2"])]),
     [EXISTING_POD], None, None),
    ("affinity, anti-affinity and anti-affinity symmetry satisfied",
     pod(labels=S1, affinity=[in_term("service", "region", ["securityscan", "value2"])],
         anti=[in_term("service", "node", ["antivirusscan", "value2"])]),
     [pod(labels=SEC_SCAN, node="node1",
          anti=[in_term("service", "node", ["antivirusscan", "value2"])])], None, None),
    ("affinity satisfied, anti-affinity not",
     pod(labels=S1, affinity=[in_term("service", "region", ["securityscan", "value2"])],
         anti=[in_term("service", "zone", ["securityscan", "value2"])]),
     [EXISTING_POD], None, ANTI),
    ("anti-affinity symmetry not satisfied",
     pod(labels=SEC_SCAN, affinity=[in_term("service", "region", ["securityscan", "value2"])],
         anti=[in_term("service", "node", ["antivirusscan", "value2"])]),
     [pod(labels=SEC_SCAN, node="node1",
          anti=[in_term("service", "zone", ["securityscan", "value2"])])], None, EXISTING),
    ("own labels do not match its NotIn affinity, matching pod on another node",
     pod(labels=SEC_SCAN, affinity=[not_in_term("service", "region", ["securityscan", "value2"])]),
     [pod(labels=SEC_SCAN, node="node2")], None, AFF),
    ("existing pod's anti-affinity respected without own anti-affinity",
     pod(labels=SEC_SCAN),
     [pod(labels=SEC_SCAN, node="node1",
          anti=[in_term("service", "zone", ["securityscan", "value2"])])], None, EXISTING),
    ("existing pod's anti-affinity does not select the pod",
     pod(labels=SEC_SCAN),
     [pod(labels=SEC_SCAN, node="node1",
          anti=[not_in_term("service", "zone", ["securityscan", "value2"])])], SKIP, None),
    ("own anti-affinity violated, existing pod's is not",
     pod(labels=SEC_SCAN, anti=[exists_term("service", "region"),
                                exists_term("security", "region")]),
     [pod(labels=S1, node="node1", anti=[exists_term("security", "zone")])], None, ANTI),
    ("symmetry a1: partial match on terms",
     pod(labels=SEC_SCAN, anti=[exists_term("service", "zone"), exists_term("security", "zone")]),
     [pod(labels=S1, node="node1", anti=[exists_term("security", "zone")])], None, ANTI),
    ("symmetry a2: partial match on terms",
     pod(labels=S1, anti=[exists_term("security", "zone")]),
     [pod(labels=SEC_SCAN, node="node1",
          anti=[exists_term("service", "zone"), exists_term("security", "zone")])],
     None, EXISTING),
    ("symmetry b1: partial match on terms",
     pod(labels={"abc": "", "xyz": ""}, anti=[exists_term("abc", "zone"),
                                             exists_term("def", "zone")]),
     [pod(labels={"def": "", "xyz": ""}, node="node1",
          anti=[exists_term("abc", "zone"), exists_term("def", "zone")])], None, ANTI),
    ("symmetry b2: partial match on terms",
     pod(labels={"def": "", "xyz": ""}, anti=[exists_term("abc", "zone"),
                                             exists_term("def", "zone")]),
     [pod(labels={"abc": "", "xyz": ""}, node="node1",
          anti=[exists_term("abc", "zone"), exists_term("def", "zone")])], None, ANTI),
    ("invalid affinity label value fails PreFilter",
     pod(labels=SEC_SCAN, affinity=[in_term("service", "region", ["{{.bad-value.}}"]),
                                    in_term("service", "node", ["antivirusscan", "value2"])]),
     [], (UNRES, [INVALID_VALUE_MSG]), None),
    ("invalid value in the second affinity term fails PreFilter",
     pod(labels=SEC_SCAN, affinity=[in_term("service", "region", ["foo"]),
                                    in_term("service", "node", ["{{.bad-value.}}"])]),
     [], (UNRES, [INVALID_VALUE_MSG]), None),
    ("affinity with namespaceSelector",
     pod(labels=S1, affinity=[term("region", expr("service", "In", ["securityscan", "value2"]),
                                   ns_selector=TEAM1)]),
     [pod(ns="subteam1.team1", labels=SEC_SCAN, node="node1")], None, None),
    ("affinity with non-matching namespaceSelector",
     pod(labels=S1, affinity=[term("region", expr("service", "In", ["securityscan", "value2"]),
                                   ns_selector=TEAM1)]),
     [pod(ns="subteam1.team2", labels=SEC_SCAN, node="node1")], None, AFF),
    ("anti-affinity with matching namespaceSelector",
     pod(ns="subteam1.team1", labels=S1,
         anti=[term("zone", expr("service", "In", ["securityscan", "value2"]),
                    ns_selector=TEAM1)]),
     [pod(ns="subteam2.team1", labels=SEC_SCAN, node="node1")], None, ANTI),
    ("anti-affinity with a namespaceSelector matching all",
     pod(ns="subteam1.team1", labels=S1,
         anti=[term("zone", expr("service", "In", ["securityscan", "value2"]), ns_selector={})]),
     [pod(ns="subteam2.team1", labels=SEC_SCAN, node="node1")], None, ANTI),
    ("anti-affinity with non-matching namespaceSelector",
     pod(ns="subteam1.team1", labels=S1,
         anti=[term("zone", expr("service", "In", ["securityscan", "value2"]),
                    ns_selector=TEAM1)]),
     [pod(ns="subteam1.team2", labels=SEC_SCAN, node="node1")], None, None),
]


@pytest.mark.parametrize(("name", "incoming", "pods", "want_pre", "want"), SINGLE_NODE,
                         ids=[c[0] for c in SINGLE_NODE])
def test_required_affinity_single_node(name: str, incoming: Any, pods: list[Any], want_pre: Any,
                                       want: Any) -> None:
    pre, got = run_filter_both_modes(incoming, pods, [NODE1])
    assert pre == want_pre
    if pre is None:
        assert got == {"node1": want}


CHINA = {"region": "China"}
CHINA_AZ1 = {"region": "China", "az": "az1"}
INDIA = {"region": "India"}


def _n(name: str, **labels: str) -> Any:
    return node(name, labels)


# upstream TestRequiredAffinityMultipleNodes: (name, incoming, existing, nodes, want PreFilter,
# want Filter per node in order)
MULTI_NODE: list[tuple[str, Any, list[Any], list[Any], Any, list[Any]]] = [
    ("same topology value as a node with a matching pod",
     pod(affinity=[in_term("foo", "region", ["bar"])]),
     [pod(node="node1", labels={"foo": "bar"})],
     [node("node1", CHINA), node("node2", CHINA_AZ1), node("node3", INDIA)],
     None, [None, None, AFF]),
    ("first pod of a collection is not blocked anywhere",
     pod(labels={"foo": "bar", "service": "securityscan"},
         affinity=[in_term("foo", "zone", ["bar"]), in_term("service", "zone", ["securityscan"])]),
     [pod(node="nodeA", labels={"foo": "bar"})],
     [_n("nodeA", zone="az1", hostname="h1"), _n("nodeB", zone="az2", hostname="h2")],
     None, [None, None]),
    ("first pod of a collection needs the topology keys",
     pod(labels={"foo": "bar", "service": "securityscan"},
         affinity=[in_term("foo", "zone", ["bar"]), in_term("service", "zone", ["securityscan"])]),
     [pod(node="nodeA", labels={"foo": "bar"})],
     [_n("nodeA", zoneLabel="az1", hostname="h1"), _n("nodeB", zoneLabel="az2", hostname="h2")],
     None, [AFF, AFF]),
    ("anti-affinity spans a shared topology value",
     pod(anti=[in_term("foo", "region", ["abc"])]),
     [pod(node="nodeA", labels={"foo": "abc"})],
     [_n("nodeA", region="r1", hostname="nodeA"), _n("nodeB", region="r1", hostname="nodeB")],
     None, [ANTI, ANTI]),
    ("anti-affinity: any term matching rejects",
     pod(anti=[in_term("foo", "region", ["abc"]), in_term("service", "zone", ["securityscan"])]),
     [pod(node="nodeA", labels={"foo": "abc", "service": "securityscan"})],
     [_n("nodeA", region="r1", zone="z1", hostname="nodeA"),
      _n("nodeB", region="r1", zone="z2", hostname="nodeB")],
     None, [ANTI, ANTI]),
    ("anti-affinity: other region is fine",
     pod(anti=[in_term("foo", "region", ["abc"])]),
     [pod(node="nodeA", labels={"foo": "abc"})],
     [node("nodeA", CHINA), node("nodeB", CHINA_AZ1), node("nodeC", INDIA)],
     None, [ANTI, ANTI, None]),
    ("anti-affinity: matching pod in another namespace does not count",
     pod(ns="NS1", labels={"foo": "123"}, anti=[in_term("foo", "region", ["bar"])]),
     [pod(node="nodeA", ns="NS1", labels={"foo": "bar"}),
      pod(node="nodeC", ns="NS2", anti=[in_term("foo", "region", ["123"])])],
     [node("nodeA", CHINA), node("nodeB", CHINA_AZ1), node("nodeC", INDIA)],
     None, [ANTI, ANTI, None]),
    ("existing pod's term with a topology key no node has",
     pod(labels={"foo": ""}),
     [pod(node="nodeA", anti=[exists_term("foo", "invalid-node-label")])],
     [_n("nodeA", region="r1", zone="z1", hostname="nodeA"),
      _n("nodeB", region="r1", zone="z1", hostname="nodeB")],
     SKIP, []),
    ("incoming pod's term with a topology key no node has",
     pod(node="nodeA", anti=[exists_term("foo", "invalid-node-label")]),
     [pod(node="nodeA", labels={"foo": ""})],
     [_n("nodeA", region="r1", zone="z1", hostname="nodeA"),
      _n("nodeB", region="r1", zone="z1", hostname="nodeB")],
     None, [None, None]),
    ("existing pods' terms violated on every node",
     pod(labels={"foo": "", "bar": ""}),
     [pod(node="nodeA", anti=[exists_term("foo", "zone")]),
      pod(node="nodeA", anti=[exists_term("bar", "region")])],
     [_n("nodeA", region="r1", zone="z1", hostname="nodeA"),
      _n("nodeB", region="r1", zone="z2", hostname="nodeB")],
     None, [EXISTING, EXISTING]),
    ("incoming pod violates one term on each node",
     pod(anti=[exists_term("foo", "zone"), exists_term("bar", "region")]),
     [pod(node="nodeA", labels={"foo": ""}), pod(node="nodeB", labels={"bar": ""})],
     [_n("nodeA", region="r1", zone="z1", hostname="nodeA"),
      _n("nodeB", region="r1", zone="z2", hostname="nodeB")],
     None, [ANTI, ANTI]),
    ("existing pod: a term with a missing topology key does not count",
     pod(labels={"foo": "", "bar": ""}),
     [pod(node="nodeA", anti=[exists_term("foo", "invalid-node-label"),
                              exists_term("bar", "zone")])],
     [_n("nodeA", region="r1", zone="z1", hostname="nodeA"),
      _n("nodeB", region="r1", zone="z2", hostname="nodeB")],
     None, [EXISTING, None]),
    ("incoming pod: a term with a missing topology key does not count",
     pod(anti=[exists_term("foo", "invalid-node-label"), exists_term("bar", "zone")]),
     [pod(node="nodeA", labels={"foo": "", "bar": ""})],
     [_n("nodeA", region="r1", zone="z1", hostname="nodeA"),
      _n("nodeB", region="r1", zone="z2", hostname="nodeB")],
     None, [ANTI, None]),
    ("existing pod: all terms with valid topology keys",
     pod(labels={"foo": "", "bar": ""}),
     [pod(node="nodeA", anti=[exists_term("foo", "region"), exists_term("bar", "zone")])],
     [_n("nodeA", region="r1", zone="z1", hostname="nodeA"),
      _n("nodeB", region="r1", zone="z2", hostname="nodeB")],
     None, [EXISTING, EXISTING]),
    ("incoming pod: all terms with valid topology keys",
     pod(anti=[exists_term("foo", "region"), exists_term("bar", "zone")]),
     [pod(node="nodeA", labels={"foo": "", "bar": ""})],
     [_n("nodeA", region="r1", zone="z1", hostname="nodeA"),
      _n("nodeB", region="r1", zone="z2", hostname="nodeB")],
     None, [ANTI, ANTI]),
    ("existing pods on two nodes each reject the pod; the third node is free",
     pod(labels={"foo": "", "bar": ""}),
     [pod(node="nodeA", anti=[exists_term("foo", "zone"), exists_term("labelA", "zone")]),
      pod(node="nodeB", anti=[exists_term("bar", "zone"), exists_term("labelB", "zone")])],
     [_n("nodeA", region="r1", zone="z1", hostname="nodeA"),
      _n("nodeB", region="r1", zone="z2", hostname="nodeB"),
      _n("nodeC", region="r1", zone="z3", hostname="nodeC")],
     None, [EXISTING, EXISTING, None]),
    ("affinity: one pod matches all terms, then topology keys are checked",
     pod(affinity=[exists_term("foo", "region"), exists_term("bar", "zone")]),
     [pod(node="nodeA", labels={"foo": "", "bar": ""})],
     [_n("nodeA", region="r1", zone="z1", hostname="nodeA"),
      _n("nodeB", region="r1", zone="z1", hostname="nodeB")],
     None, [None, None]),
    ("affinity: the terms must be matched by the same pod",
     pod(affinity=[exists_term("foo", "region"), exists_term("bar", "zone")]),
     [pod(node="nodeA", labels={"foo": ""}), pod(node="nodeB", labels={"bar": ""})],
     [_n("nodeA", region="r1", zone="z1", hostname="nodeA"),
      _n("nodeB", region="r1", zone="z2", hostname="nodeB")],
     None, [AFF, AFF]),
]


@pytest.mark.parametrize(("name", "incoming", "pods", "nodes", "want_pre", "want"), MULTI_NODE,
                         ids=[c[0] for c in MULTI_NODE])
def test_required_affinity_multiple_nodes(name: str, incoming: Any, pods: list[Any],
                                          nodes: list[Any], want_pre: Any,
                                          want: list[Any]) -> None:
    pre, got = run_filter_both_modes(incoming, pods, nodes, namespaces={"NS1": {}})
    assert pre == want_pre
    if pre is None:
        assert [got[n.metadata.name] for n in nodes] == want


def test_filter_without_pre_filter_is_an_error() -> None:
    snap = snapshot_of([NODE1])
    p = plugin()
    st = p.filter(new_state(), PodInfo.of(pod()), snap.node_infos[0])
    assert st is not None and st.code == Code.ERROR
    assert st.reasons == ['error reading "PreFilterInterPodAffinity" from cycleState: not found']
    assert p.add_pod(new_state(), PodInfo.of(pod()), PodInfo.of(pod()),
                     snap.node_infos[0]) is not None


# ---- AddPod / RemovePod (upstream TestPreFilterStateAddRemovePod) ---------------------------

L1 = {"region": "r1", "zone": "z11"}
L2 = {"region": "r1", "zone": "z12"}
L3 = {"region": "r2", "zone": "z21"}
FOO_BAR = {"foo": "bar"}
ANTI_FOO_BAR = [in_term("foo", "region", ["bar"])]
ANTI_COMPLEX = [in_term("foo", "region", ["bar", "buzz"]),
                not_in_term("service", "zone", ["bar", "security", "test"])]
AFF_COMPLEX = ANTI_COMPLEX


def _add_remove_nodes() -> list[Any]:
    return [node("nodeA", L1), node("nodeB", L2), node("nodeC", L3)]


ADD_REMOVE: list[tuple[str, Any, list[Any], Any, dict[str, dict[str, int]],
                       dict[str, dict[str, int]], dict[str, dict[str, int]]]] = [
    # (name, pending, existing, added, want anti, want affinity, want existing anti)
    ("anti-affinity terms",
     pod("pending", labels=FOO_BAR, anti=ANTI_FOO_BAR),
     [pod("p1", labels=FOO_BAR, node="nodeA"), pod("p2", node="nodeC", anti=ANTI_FOO_BAR)],
     pod("addedPod", labels=FOO_BAR, node="nodeB", anti=ANTI_FOO_BAR),
     {"region": {"r1": 2}}, {}, {"region": {"r1": 1, "r2": 1}}),
    ("complex anti-affinity terms",
     pod("pending", labels=FOO_BAR, anti=ANTI_COMPLEX),
     [pod("p1", labels=FOO_BAR, node="nodeA"), pod("p2", node="nodeC", anti=ANTI_FOO_BAR)],
     pod("addedPod", labels=FOO_BAR, node="nodeA", anti=ANTI_COMPLEX),
     {"region": {"r1": 2}, "zone": {"z11": 2, "z21": 1}}, {},
     {"region": {"r1": 1, "r2": 1}, "zone": {"z11": 1}}),
    ("affinity and anti-affinity",
     pod("pending", labels=FOO_BAR, affinity=AFF_COMPLEX),
     [pod("p1", labels=FOO_BAR, node="nodeA"),
      pod("p2", node="nodeC", anti=ANTI_FOO_BAR, affinity=AFF_COMPLEX)],
     pod("addedPod", labels=FOO_BAR, node="nodeA", anti=ANTI_COMPLEX),
     {}, {"region": {"r1": 2}, "zone": {"z11": 2}},
     {"region": {"r2": 1, "r1": 1}, "zone": {"z11": 1}}),
]


def _state(pending: Any, pods: list[Any], use_index: bool) -> tuple[Any, Any, PreFilterState,
                                                                    Any]:
    snap = snapshot_of(_add_remove_nodes(), pods)
    p = plugin(use_index=use_index)
    cs = new_state()
    _, st = p.pre_filter(cs, PodInfo.of(pending), snap)
    assert st is None
    s = cs.read(PRE_FILTER_STATE_KEY)
    assert isinstance(s, PreFilterState)
    return p, cs, s, snap


def _counts(s: PreFilterState) -> tuple[Any, Any, Any]:
    return s.anti, s.affinity, s.existing_anti


@pytest.mark.parametrize("use_index", [True, False])
@pytest.mark.parametrize(("name", "pending", "existing", "added", "want_anti", "want_aff",
                          "want_existing"), ADD_REMOVE, ids=[c[0] for c in ADD_REMOVE])
def test_pre_filter_state_add_remove_pod(name: str, pending: Any, existing: list[Any],
                                         added: Any, want_anti: Any, want_aff: Any,
                                         want_existing: Any, use_index: bool) -> None:
    _, _, all_pods_state, _ = _state(pending, [*existing, added], use_index)
    p, cs, s, snap = _state(pending, existing, use_index)
    original = tuple(map(dict, _counts(s)))
    ni = snap.get(added.spec.node_name)
    assert p.add_pod(cs, PodInfo.of(pending), PodInfo.of(added), ni) is None
    assert s.anti == want_anti
    assert s.affinity == want_aff
    assert _counts(s) == _counts(all_pods_state)
    assert s.existing_anti == want_existing
    assert p.remove_pod(cs, PodInfo.of(pending), PodInfo.of(added), ni) is None
    assert _counts(s) == original


def test_add_pod_on_a_clone_leaves_the_original_and_the_next_cycle_alone() -> None:
    pending = pod("pending", labels=FOO_BAR, anti=ANTI_FOO_BAR)
    existing = [pod("p1", labels=FOO_BAR, node="nodeA")]
    p, cs, s, snap = _state(pending, existing, True)
    before = {k: dict(v) for k, v in s.anti.items()}
    clone = cs.clone()
    cloned = clone.read(PRE_FILTER_STATE_KEY)
    assert cloned is not s
    p.add_pod(clone, PodInfo.of(pending), PodInfo.of(pod(labels=FOO_BAR, node="nodeC")),
              snap.get("nodeC"))
    assert cloned.anti == {"region": {"r1": 1, "r2": 1}}
    assert s.anti == before
    # the next cycle still sees the unmodified counts
    cs2 = new_state()
    p.pre_filter(cs2, PodInfo.of(pending), snap)
    assert cs2.read(PRE_FILTER_STATE_KEY).anti == before
    # mutating the original after cloning leaves the clone alone too
    p.remove_pod(cs, PodInfo.of(pending), PodInfo.of(existing[0]), snap.get("nodeA"))
    assert s.anti == {}
    assert cloned.anti == {"region": {"r1": 1, "r2": 1}}


def test_nominated_pod_through_add_pod_changes_the_verdict() -> None:
    """AddPod as the runtime uses it for nominated pods: the clone sees the extra pod."""
    pending = pod("pending", labels=FOO_BAR, anti=[in_term("foo", "zone", ["bar"])])
    p, cs, _, snap = _state(pending, [], True)
    ni = snap.get("nodeB").clone()
    nominated = PodInfo.of(pod(labels=FOO_BAR))
    ni.add_pod(nominated)
    st2 = cs.clone()
    p.add_pod(st2, PodInfo.of(pending), nominated, ni)
    assert p.filter(st2, PodInfo.of(pending), ni) is not None
    assert p.filter(cs, PodInfo.of(pending), snap.get("nodeB")) is None


# ---- upstream TestGetTPMapMatchingIncomingAffinityAntiAffinity ------------------------------

def _host_pod(*keys: str) -> Any:
    return pod("normal", node="nodeA", labels={k: "" for k in keys})


INCOMING_MAPS: list[tuple[str, list[Any], Any, Any, Any]] = [
    ("nil test", [], pod("aaa-normal"), {}, {}),
    ("incoming pod without affinity/anti-affinity causes a no-op", [_host_pod("aaa")],
     pod("aaa-normal"), {}, {}),
    ("no pod has label that violates incoming pod's affinity and anti-affinity",
     [_host_pod("bbb")],
     pod(affinity=[exists_term("aaa", "hostname")], anti=[exists_term("aaa", "hostname")]),
     {}, {}),
    ("existing pod matches affinity and anti-affinity - single term", [_host_pod("aaa")],
     pod(affinity=[exists_term("aaa", "hostname")], anti=[exists_term("aaa", "hostname")]),
     {"hostname": {"nodeA": 1}}, {"hostname": {"nodeA": 1}}),
    ("existing pod matches affinity and anti-affinity - multiple terms", [_host_pod("aaa", "bbb")],
     pod(affinity=[exists_term("aaa", "hostname"), exists_term("bbb", "hostname")],
         anti=[exists_term("aaa", "hostname")]),
     {"hostname": {"nodeA": 2}}, {"hostname": {"nodeA": 1}}),
    ("existing pod matches anti-affinity but not all affinity terms", [_host_pod("aaa")],
     pod(affinity=[exists_term("aaa", "hostname"), exists_term("bbb", "hostname")],
         anti=[exists_term("aaa", "hostname"), exists_term("bbb", "hostname")]),
     {}, {"hostname": {"nodeA": 1}}),
    ("anti-affinity with more than one term - partial violation 1", [_host_pod("aaa", "bbb")],
     pod(affinity=[exists_term("aaa", "hostname"), exists_term("ccc", "hostname")],
         anti=[exists_term("aaa", "hostname"), exists_term("ccc", "hostname")]),
     {}, {"hostname": {"nodeA": 1}}),
    ("anti-affinity with more than one term - partial violation 2", [_host_pod("bbb")],
     pod(affinity=[exists_term("aaa", "hostname"), exists_term("bbb", "hostname")],
         anti=[exists_term("aaa", "hostname"), exists_term("bbb", "hostname")]),
     {}, {"hostname": {"nodeA": 1}}),
]


@pytest.mark.parametrize("use_index", [True, False])
@pytest.mark.parametrize(("name", "existing", "incoming", "want_aff", "want_anti"), INCOMING_MAPS,
                         ids=[c[0] for c in INCOMING_MAPS])
def test_incoming_affinity_anti_affinity_counts(name: str, existing: list[Any], incoming: Any,
                                                want_aff: Any, want_anti: Any,
                                                use_index: bool) -> None:
    snap = snapshot_of([node("nodeA", {"hostname": "nodeA"})], existing)
    p = plugin(use_index=use_index)
    pi = PodInfo.of(incoming)
    t = terms_of(pi)
    assert p.incoming_counts(snap, t.required_affinity, t.required_anti) == (want_aff, want_anti)


# ---- edge cases -----------------------------------------------------------------------------

ZONE_NODES = [node("a1", {"zone": "a", "hostname": "a1"}),
              node("a2", {"zone": "a", "hostname": "a2"}),
              node("b1", {"zone": "b", "hostname": "b1"}), node("nolabels", {})]


def _filtered(incoming: Any, existing: list[Any]) -> dict[str, Any]:
    """Filter outcomes on ZONE_NODES, PreFilter having succeeded."""
    pre, got = run_filter_both_modes(incoming, existing, ZONE_NODES)
    assert pre is None
    return got


def test_empty_label_selector_matches_every_pod_and_missing_selector_none() -> None:
    everything = term("zone", selector={})
    nothing = {"topologyKey": "zone"}  # no labelSelector at all
    existing = [pod(node="a1", labels={"x": "y"})]
    got = _filtered(pod(anti=[everything]), existing)
    assert got == {"a1": ANTI, "a2": ANTI, "b1": None, "nolabels": None}
    got = _filtered(pod(anti=[nothing]), existing)
    assert got == {"a1": None, "a2": None, "b1": None, "nolabels": None}
    # affinity to "nothing": no pod can ever match, not even the pod itself
    got = _filtered(pod(affinity=[nothing]), existing)
    assert got == {"a1": AFF, "a2": AFF, "b1": AFF, "nolabels": AFF}


def test_missing_topology_label_on_nodes() -> None:
    existing = [pod(node="a1", labels={"app": "x"}), pod(node="nolabels", labels={"app": "x"})]
    # affinity: a node without the key never passes; the pod on the unlabeled node counts nowhere
    got = _filtered(
        pod(labels={"app": "y"}, affinity=[in_term("app", "zone", ["x"])]), existing)
    assert got == {"a1": None, "a2": None, "b1": AFF, "nolabels": AFF}
    # anti-affinity: a node without the key is never rejected
    got = _filtered(pod(anti=[in_term("app", "zone", ["x"])]), existing)
    assert got == {"a1": ANTI, "a2": ANTI, "b1": None, "nolabels": None}


def test_terminating_pods_still_count() -> None:
    """Upstream counts pods with a deletionTimestamp (they may run for a while yet)."""
    existing = [pod(node="a1", labels={"app": "x"}, deleting=True,
                    anti=[in_term("app", "hostname", ["y"])])]
    got = _filtered(pod(anti=[in_term("app", "zone", ["x"])]), existing)
    assert got["a1"] == ANTI and got["a2"] == ANTI
    got = _filtered(pod(labels={"app": "y"}), existing)
    assert got == {"a1": EXISTING, "a2": None, "b1": None, "nolabels": None}


def test_first_pod_of_a_self_affine_group() -> None:
    group = [in_term("app", "zone", ["web"])]
    # no pod matches anywhere: the first pod may go to any node with the topology key
    got = _filtered(pod(labels={"app": "web"}, affinity=group), [])
    assert got == {"a1": None, "a2": None, "b1": None, "nolabels": AFF}
    # ... but not when it does not match its own terms
    got = _filtered(pod(labels={"app": "db"}, affinity=group), [])
    assert got == {"a1": AFF, "a2": AFF, "b1": AFF, "nolabels": AFF}
    # once one exists, only its domain qualifies
    got = _filtered(pod(labels={"app": "web"}, affinity=group),
                                     [pod(node="b1", labels={"app": "web"})])
    assert got == {"a1": AFF, "a2": AFF, "b1": None, "nolabels": AFF}
    # a matching pod on a node without the topology key counts nowhere, so the group can start
    got = _filtered(pod(labels={"app": "web"}, affinity=group),
                                     [pod(node="nolabels", labels={"app": "web"})])
    assert got == {"a1": None, "a2": None, "b1": None, "nolabels": AFF}
    # the pod's own namespace must be selected by its terms too
    got = _filtered(
        pod(ns="subteam1.team1", labels={"app": "web"},
            affinity=[term("zone", expr("app", "In", ["web"]), namespaces=["other"])]),
        [])
    assert got == {"a1": AFF, "a2": AFF, "b1": AFF, "nolabels": AFF}


def test_namespace_selector_of_existing_pods_is_matched_against_the_incoming_namespace() -> None:
    existing = [pod(ns="subteam1.team1", node="a1", labels={"app": "x"},
                    anti=[term("zone", expr("app", "In", ["y"]), ns_selector=TEAM1)])]
    # team1 namespace: rejected in zone a
    got = _filtered(pod(ns="subteam2.team1", labels={"app": "y"}), existing)
    assert got == {"a1": EXISTING, "a2": EXISTING, "b1": None, "nolabels": None}
    # team2 namespace, or a namespace the lister does not know: not selected
    pre, _ = run_filter_both_modes(pod(ns="subteam1.team2", labels={"app": "y"}), existing,
                                   ZONE_NODES)
    assert pre == SKIP
    pre, _ = run_filter_both_modes(pod(ns="unknown", labels={"app": "y"}), existing, ZONE_NODES)
    assert pre == SKIP


def test_namespace_selector_and_namespaces_are_ored() -> None:
    t = term("zone", expr("app", "In", ["x"]), namespaces=["subteam2.team2"], ns_selector=TEAM1)
    for ns, want in [("subteam1.team1", ANTI), ("subteam2.team2", ANTI), ("subteam1.team2", None),
                     ("", None)]:
        got = _filtered(pod(anti=[t]), [pod(ns=ns, node="a1",
                                                              labels={"app": "x"})])
        assert got["a2"] == want, ns


def test_invalid_selectors_are_reported_like_apimachinery() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (term("zone", expr("app", "Bogus", ["x"])),
         'parsing pod: requiredAntiAffinityTerms: "Bogus" is not a valid label selector operator'),
        (term("zone", expr("app", "In", [])),
         "parsing pod: requiredAntiAffinityTerms: values: Invalid value: []string{}: "
         "for 'in', 'notin' operators, values set can't be empty"),
        (term("zone", expr("app", "Exists", ["x"])),
         'parsing pod: requiredAntiAffinityTerms: values: Invalid value: []string{"x"}: '
         "values set must be empty for exists and does not exist"),
        (term("zone", match_labels={"bad key!": "x"}),
         'parsing pod: requiredAntiAffinityTerms: key: Invalid value: "bad key!": name part '
         "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
         "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
         "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"),
        (term("zone", expr("app", "In", ["x"]),
              ns_selector={"matchExpressions": [expr("team", "Gt", ["1"])]}),
         'parsing pod: requiredAntiAffinityTerms: "Gt" is not a valid label selector operator'),
    ]
    for t, want in cases:
        pre, _ = run_filter(pod(anti=[t]), [], ZONE_NODES)
        assert pre == (UNRES, [want])
    both = pod(affinity=[term("zone", expr("a", "Bogus"))], anti=[term("zone", expr("b", "X"))])
    pre, _ = run_filter(both, [], ZONE_NODES)
    assert pre == (UNRES, ['parsing pod: [requiredAffinityTerms: "Bogus" is not a valid label '
                           'selector operator, requiredAntiAffinityTerms: "X" is not a valid '
                           "label selector operator]"])


def test_existing_pod_with_unparsable_terms_counts_none_of_that_list() -> None:
    bad = pod(node="a1", labels={"app": "x"},
              anti=[in_term("app", "zone", ["y"]), term("zone", expr("app", "Bogus"))])
    pre, _ = run_filter_both_modes(pod(labels={"app": "y"}), [bad], ZONE_NODES)
    assert pre == SKIP


def test_filter_rows_subset_and_order() -> None:
    """The batch form over a subset of rows in any order agrees with the per-node form."""
    existing = [pod(node="a1", labels={"app": "x"}, anti=[in_term("app", "hostname", ["y"])]),
                pod(node="b1", labels={"app": "z"})]
    incoming = pod(labels={"app": "y"}, affinity=[in_term("app", "zone", ["x"])],
                   anti=[in_term("app", "hostname", ["z"])])
    snap = snapshot_of(ZONE_NODES, existing)
    p = plugin()
    cs = new_state()
    pi = PodInfo.of(incoming)
    assert p.pre_filter(cs, pi, snap) == (None, None)
    for order in ([3, 0], [2, 1, 0], [1]):
        filter_both(p, cs, pi, snap, np.array(order, dtype=np.int64))
    got = filter_both(p, cs, pi, snap)
    assert got == {"a1": EXISTING, "a2": None, "b1": AFF, "nolabels": AFF}
