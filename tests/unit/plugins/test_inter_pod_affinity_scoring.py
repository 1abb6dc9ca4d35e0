"""InterPodAffinity scoring: upstream scoring_test.go rows (TestPreferredAffinity and
TestPreferredAffinityWithHardPodAffinitySymmetricWeight), per node and in batch, with and
without the cluster index, plus NormalizeScore's arithmetic."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from builders import new_state, snapshot_of
from test_inter_pod_affinity_helpers import (
    NAMESPACES,
    SKIP,
    expr,
    node,
    plugin,
    pod,
    run_score,
    run_score_both_modes,
    term,
    weighted,
)

from pyscheduler.framework.status import Code
from pyscheduler.framework.types import PodInfo
from pyscheduler.plugins.inter_pod_affinity.scoring import PreScoreState, normalize

CHINA = {"region": "China"}
INDIA = {"region": "India"}
AZ1 = {"az": "az1"}
AZ2 = {"az": "az2"}
CHINA_AZ1 = {"region": "China", "az": "az1"}
S1 = {"security": "S1"}
S2 = {"security": "S2"}
TEAM1 = {"matchExpressions": [expr("team", "In", ["team1"])]}

STAY_S1_REGION = {"preferred": [weighted(5, term("region", expr("security", "In", ["S1"])))]}
STAY_S2_REGION = {"preferred": [weighted(6, term("region", expr("security", "In", ["S2"])))]}
AFFINITY3 = {"preferred": [
    weighted(8, term("region", expr("security", "NotIn", ["S1"]),
                     expr("security", "In", ["S2"]))),
    weighted(2, term("region", expr("security", "Exists"), expr("wrongkey", "DoesNotExist")))]}
HARD_AFFINITY = {"affinity": [
    term("region", expr("security", "In", ["S1", "value2"])),
    term("region", expr("security", "Exists"), expr("wrongkey", "DoesNotExist"))]}
AWAY_S1_AZ = {"preferred_anti": [weighted(5, term("az", expr("security", "In", ["S1"])))]}
AWAY_S2_AZ = {"preferred_anti": [weighted(5, term("az", expr("security", "In", ["S2"])))]}
STAY_S1_REGION_AWAY_S2_AZ = {
    "preferred": [weighted(8, term("region", expr("security", "In", ["S1"])))],
    "preferred_anti": [weighted(5, term("az", expr("security", "In", ["S2"])))]}
AFFINITY_NS_SELECTOR = {"preferred": [weighted(5, term(
    "region", expr("security", "In", ["S1"]), namespaces=["subteam2.team2"],
    ns_selector=TEAM1))]}
ANTI_AFFINITY_NS_SELECTOR = {"preferred_anti": [weighted(5, term(
    "region", expr("security", "In", ["S1"]), namespaces=["subteam2.team2"],
    ns_selector=TEAM1))]}
INVALID_AFFINITY = {"preferred": [weighted(8, term(
    "region", expr("security", "In", ["{{.bad-value.}}"])))]}
INVALID_ANTI = {"preferred_anti": [weighted(5, term(
    "az", expr("security", "In", ["{{.bad-value.}}"])))]}


def _nodes(*labels: dict[str, str]) -> list[Any]:
    return [node(f"node{i + 1}", lbl) for i, lbl in enumerate(labels)]


def _on(n: int, labels: dict[str, str] | None = None, ns: str = "",
        aff: dict[str, Any] | None = None) -> Any:
    return pod(node=f"node{n}", labels=labels, ns=ns, **(aff or {}))


MAX = 100
# (name, incoming, existing, nodes, want scores by node order or a PreScore outcome, kwargs)
PREFERRED: list[tuple[str, Any, list[Any], list[Any], Any, dict[str, Any]]] = [
    ("no affinity anywhere: Skip", pod(labels=S1), [], _nodes(CHINA, INDIA, AZ1), SKIP, {}),
    ("affinity: matching topology and pods score high",
     pod(labels=S1, **STAY_S1_REGION), [_on(1, S1), _on(2, S2), _on(3, S1)],
     _nodes(CHINA, INDIA, AZ1), [MAX, 0, 0], {}),
    ("affinity: same topology value scores the same",
     pod(**STAY_S1_REGION), [_on(1, S1)], _nodes(CHINA, CHINA_AZ1, INDIA), [MAX, MAX, 0], {}),
    ("affinity: the region with more matches scores high",
     pod(labels=S1, **STAY_S2_REGION),
     [_on(1, S2), _on(1, S2), _on(2, S2), _on(3, S2), _on(4, S2), _on(5, S2)],
     _nodes(CHINA, INDIA, CHINA, CHINA, INDIA), [MAX, 0, MAX, MAX, 0], {}),
    ("affinity: different operators and values, some failing",
     pod(labels=S1, **AFFINITY3), [_on(1, S1), _on(2, S2), _on(3, S1)],
     _nodes(CHINA, INDIA, AZ1), [20, MAX, 0], {}),
    ("affinity symmetry: existing pods' preferred terms",
     pod(labels=S2),
     [_on(1, S1, aff=STAY_S1_REGION), _on(2, S2, aff=STAY_S2_REGION)],
     _nodes(CHINA, INDIA, AZ1), [0, MAX, 0], {}),
    ("affinity symmetry with a namespaceSelector",
     pod(ns="subteam1.team1", labels=S1),
     [_on(1, S1, aff=AFFINITY_NS_SELECTOR), _on(2, S2, aff=STAY_S2_REGION)],
     _nodes(CHINA, INDIA, AZ1), [MAX, 0, 0], {}),
    ("anti-affinity symmetry with a namespaceSelector",
     pod(ns="subteam1.team1", labels=S1),
     [_on(1, S1, aff=ANTI_AFFINITY_NS_SELECTOR), _on(2, S2, aff=STAY_S2_REGION)],
     _nodes(CHINA, INDIA, AZ1), [0, MAX, MAX], {}),
    ("affinity symmetry: existing pods' required terms (hardPodAffinityWeight)",
     pod(labels=S1), [_on(1, S1, aff=HARD_AFFINITY), _on(2, S2, aff=HARD_AFFINITY)],
     _nodes(CHINA, INDIA, AZ1), [MAX, MAX, 0], {}),
    ("anti-affinity: non-matching pods score high",
     pod(labels=S1, **AWAY_S1_AZ), [_on(1, S1), _on(2, S2)], _nodes(AZ1, CHINA), [0, MAX], {}),
    ("anti-affinity: missing topology key scores high",
     pod(labels=S1, **AWAY_S1_AZ), [_on(1, S1), _on(2, S1)], _nodes(AZ1, CHINA), [0, MAX], {}),
    ("anti-affinity: more matching pods score lower",
     pod(labels=S1, **AWAY_S1_AZ), [_on(1, S1), _on(1, S1), _on(2, S2)],
     _nodes(AZ1, INDIA), [0, MAX], {}),
    ("anti-affinity symmetry",
     pod(labels=S2), [_on(1, S1, aff=AWAY_S2_AZ), _on(2, S2, aff=AWAY_S1_AZ)],
     _nodes(AZ1, AZ2), [0, MAX], {}),
    ("affinity and anti-affinity",
     pod(labels=S1, **STAY_S1_REGION_AWAY_S2_AZ), [_on(1, S1), _on(2, S1)],
     _nodes(CHINA, AZ1), [MAX, 0], {}),
    ("affinity and anti-affinity, same labels as the existing pods",
     pod(labels=S1, **STAY_S1_REGION_AWAY_S2_AZ),
     [_on(1, S1), _on(1, S1), _on(2, S1), _on(3, S1), _on(3, S1), _on(4, S1), _on(5, S1)],
     _nodes(CHINA_AZ1, INDIA, CHINA, CHINA, INDIA), [MAX, 0, MAX, MAX, 0], {}),
    ("affinity, anti-affinity and symmetry",
     pod(labels=S1, **STAY_S1_REGION_AWAY_S2_AZ),
     [_on(1, S1), _on(2, S2), _on(3, aff=STAY_S1_REGION_AWAY_S2_AZ), _on(4, aff=AWAY_S1_AZ)],
     _nodes(CHINA, AZ1, INDIA, AZ2), [MAX, 0, MAX, 0], {}),
    ("no panic when some nodes of a topology have no pods with affinity",
     pod(labels=S1), [_on(1, S1), _on(2, aff=STAY_S1_REGION_AWAY_S2_AZ)],
     _nodes(CHINA, CHINA), [0, 0], {}),
    ("invalid affinity fails PreScore", pod(**INVALID_AFFINITY), [], _nodes(CHINA, CHINA),
     "error", {}),
    ("invalid anti-affinity fails PreScore", pod(**INVALID_ANTI), [], _nodes(CHINA, CHINA),
     "error", {}),
    ("affinity with pods matching the namespaceSelector",
     pod(ns="subteam1.team1", labels=S1, **AFFINITY_NS_SELECTOR),
     [_on(1, S1, ns="subteam1.team1"), _on(1, S1, ns="subteam1.team1"),
      _on(1, S1, ns="subteam1.team2"), _on(2, S1, ns="subteam2.team1")],
     _nodes(CHINA, INDIA), [MAX, 0], {}),
    ("affinity with pods matching namespaceSelector and namespaces",
     pod(ns="subteam1.team1", labels=S1, **AFFINITY_NS_SELECTOR),
     [_on(1, S1, ns="subteam1.team1"), _on(1, S1, ns="subteam1.team1"),
      _on(1, S1, ns="subteam2.team2"), _on(2, S1, ns="subteam2.team1")],
     _nodes(CHINA, INDIA), [MAX, 0], {}),
    ("anti-affinity with pods matching the namespaceSelector",
     pod(ns="subteam1.team1", labels=S1, **ANTI_AFFINITY_NS_SELECTOR),
     [_on(1, S1, ns="subteam1.team1"), _on(1, S1, ns="subteam1.team1"),
      _on(1, S1, ns="subteam1.team2"), _on(2, S1, ns="subteam2.team1")],
     _nodes(CHINA, INDIA), [0, MAX], {}),
    ("anti-affinity with pods matching namespaceSelector and namespaces",
     pod(ns="subteam1.team1", labels=S1, **ANTI_AFFINITY_NS_SELECTOR),
     [_on(1, S1, ns="subteam1.team1"), _on(1, S1, ns="subteam1.team1"),
      _on(1, S1, ns="subteam2.team2"), _on(2, S1, ns="subteam2.team1")],
     _nodes(CHINA, INDIA), [0, MAX], {}),
    ("ignore preferred terms of existing pods",
     pod(labels=S2), [_on(1, S1, aff=STAY_S1_REGION_AWAY_S2_AZ), _on(2, S2, aff=STAY_S2_REGION)],
     _nodes(CHINA, INDIA), SKIP, {"ignore_preferred": True}),
    ("do not ignore preferred terms of existing pods",
     pod(labels=S2), [_on(1, S1, aff=STAY_S1_REGION_AWAY_S2_AZ), _on(2, S2, aff=STAY_S2_REGION)],
     _nodes(CHINA, INDIA), [0, MAX], {"ignore_preferred": False}),
    ("no nodes to score", pod(labels=S2), [], [], SKIP, {}),
]


@pytest.mark.parametrize(("name", "incoming", "pods", "nodes", "want", "kw"), PREFERRED,
                         ids=[c[0] for c in PREFERRED])
def test_preferred_affinity(name: str, incoming: Any, pods: list[Any], nodes: list[Any],
                            want: Any, kw: dict[str, Any]) -> None:
    pre, got = run_score_both_modes(incoming, pods, nodes, **kw)
    if want == "error":
        assert pre is not None and pre[0] == int(Code.ERROR)
        assert 'Invalid value: "{{.bad-value.}}"' in pre[1][0]
        assert pre[1][0].startswith("failed to parse pod: preferred")
        return
    if isinstance(want, tuple):
        assert pre == want
        return
    assert pre is None
    assert [got[n.metadata.name] for n in nodes] == want


HARD_POD_AFFINITY = {"affinity": [term(
    "region", expr("service", "In", ["S1"]), namespaces=["", "subteam2.team2"],
    ns_selector=TEAM1)]}
SERVICE_S1 = {"service": "S1"}


@pytest.mark.parametrize(("name", "ns", "weight", "want"), [
    ("with default weight", "", 1, [MAX, MAX, 0]),
    ("with zero weight", "", 0, SKIP),
    ("with no matching namespace", "subteam1.team2", 1, SKIP),
    ("with matching NamespaceSelector", "subteam1.team1", 1, [MAX, MAX, 0]),
    ("with matching Namespaces", "subteam2.team2", 1, [MAX, MAX, 0]),
])
def test_preferred_affinity_with_hard_pod_affinity_weight(name: str, ns: str, weight: int,
                                                          want: Any) -> None:
    nodes = _nodes(CHINA, INDIA, AZ1)
    existing = [_on(1, aff=HARD_POD_AFFINITY), _on(2, aff=HARD_POD_AFFINITY)]
    pre, got = run_score_both_modes(pod(ns=ns, labels=SERVICE_S1), existing, nodes,
                                    hard_weight=weight)
    if isinstance(want, tuple):
        assert pre == want
        return
    assert pre is None
    assert [got[n.metadata.name] for n in nodes] == want


def test_hard_weight_scales_the_raw_score() -> None:
    nodes = _nodes(CHINA, INDIA, AZ1)
    existing = [_on(1, aff=HARD_POD_AFFINITY), _on(1, aff=HARD_POD_AFFINITY)]
    snap = snapshot_of(nodes, existing)
    for w in (1, 7, 100):
        p = plugin(hard_weight=w)
        cs = new_state()
        pi = PodInfo.of(pod(labels=SERVICE_S1))
        assert p.pre_score(cs, pi, snap, snap.all_rows()) is None
        raw = p.score_nodes(cs, pi, snap, snap.all_rows())
        assert raw.tolist() == [2 * w, 0, 0]


def test_preferred_terms_see_every_node_not_only_feasible_ones() -> None:
    """PreScore counts pods on all nodes (upstream lists all NodeInfos), whatever rows it gets."""
    nodes = _nodes(CHINA, CHINA, INDIA)
    snap = snapshot_of(nodes, [_on(1, S1)])
    p = plugin()
    cs = new_state()
    pi = PodInfo.of(pod(**STAY_S1_REGION))
    rows = np.array([1, 2], dtype=np.int64)  # node1 (which hosts the match) is not feasible
    assert p.pre_score(cs, pi, snap, rows) is None
    assert p.score_nodes(cs, pi, snap, rows).tolist() == [5, 0]


@pytest.mark.parametrize(("raw", "want"), [
    ([0, 0, 0], [0, 0, 0]),
    ([5, 5], [0, 0]),
    ([-5, 0, 5], [0, 50, 100]),
    ([1, 2, 3], [0, 50, 100]),
    ([0, 1, 3], [0, 33, 100]),
    ([-3, -1, 0], [0, 66, 100]),
    ([0, 7, 9], [0, 77, 100]),
    ([], []),
])
def test_normalize_uses_float64_min_max(raw: list[int], want: list[int]) -> None:
    scores = np.array(raw, dtype=np.int64)
    normalize(PreScoreState({"k": {"v": 1}}), scores)
    assert scores.tolist() == want
    # Go's arithmetic, literally
    if raw:
        lo, hi = min(raw), max(raw)
        assert want == [int(100.0 * ((s - lo) / (hi - lo))) if hi > lo else 0 for s in raw]


def test_normalize_leaves_scores_alone_without_topology_scores() -> None:
    scores = np.array([3, 1], dtype=np.int64)
    normalize(PreScoreState({}), scores)
    assert scores.tolist() == [3, 1]


def test_namespaces_fixture_is_upstreams() -> None:
    assert set(NAMESPACES) == {"subteam1.team1", "subteam2.team1", "subteam1.team2",
                               "subteam2.team2"}


def test_run_score_without_index_on_an_empty_cluster() -> None:
    assert run_score(pod(labels=S1), [], [], use_index=False) == (SKIP, {})


def test_score_without_pre_score_state_is_an_error() -> None:
    snap = snapshot_of(_nodes(CHINA))
    p = plugin()
    with pytest.raises(RuntimeError) as info:
        p.score(new_state(), PodInfo.of(pod()), snap.node_infos[0])
    assert str(info.value) == ('failed to read "PreScoreInterPodAffinity" from cycleState: '
                               "not found")
