"""Properties of PodTopologySpread over random clusters:

* the batch Filter and Score give exactly the per-node answers (row by row, any row subset and
  order), also after AddPod/RemovePod moved the PreFilter state;
* both agree with a plain reference written straight from upstream's Go (dictionaries keyed by
  topology value, one pass over every node's pods, no numpy, no caching), including the
  normalized scores;
* the per-node counts the plugin keeps across cycles stay right while the cache changes.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np
from builders import filter_both, make_node, new_state, pod_info, scores_both, snapshot_of
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_pod_topology_spread import ListerHandle, indexer, spod

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.status import Code
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.model.workloads import Service
from pyscheduler.plugins.pod_topology_spread import PodTopologySpread, PodTopologySpreadArgs
from pyscheduler.plugins.pod_topology_spread.common import (
    ERR_REASON_CONSTRAINTS_NOT_MATCH,
    ERR_REASON_NODE_LABEL_NOT_MATCH,
    LABEL_HOSTNAME,
    MAX_INT32,
    Constraint,
    count_matching,
    matches_inclusion_policies,
    node_labels_match,
)

KEYS = ["zone", "rack", LABEL_HOSTNAME]
SELECTORS: list[dict[str, Any] | None] = [
    None, {}, {"matchLabels": {"app": "a"}},
    {"matchExpressions": [{"key": "foo", "operator": "Exists"}]},
    {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["b"]}]},
    {"matchExpressions": [{"key": "bar", "operator": "DoesNotExist"}]},
]
pod_labels = st.fixed_dictionaries({}, optional={
    "app": st.sampled_from(["a", "b"]), "foo": st.just(""), "bar": st.sampled_from(["", "x"])})


@st.composite
def nodes(draw: st.DrawFn) -> list[Node]:
    out = []
    for i in range(draw(st.integers(1, 9))):
        labels: dict[str, str] = {}
        if draw(st.integers(0, 5)) > 0:
            labels["zone"] = draw(st.sampled_from(["z1", "z2", "z3", ""]))
        if draw(st.booleans()):
            labels["rack"] = draw(st.sampled_from(["r1", "r2"]))
        if draw(st.integers(0, 6)) > 0:
            labels[LABEL_HOSTNAME] = f"n{i}"
        if draw(st.booleans()):
            labels["disk"] = "ssd"
        taints = [{"key": "t", "value": "", "effect": draw(st.sampled_from(
            ["NoSchedule", "NoExecute", "PreferNoSchedule"]))}] if draw(
            st.integers(0, 3)) == 0 else []
        out.append(make_node(f"n{i}", labels=labels, taints=taints))
    return out


@st.composite
def assigned(draw: st.DrawFn, n_nodes: int) -> list[Pod]:
    return [spod(f"e{j}", node=f"n{draw(st.integers(0, n_nodes - 1))}",
                 ns=draw(st.sampled_from(["default", "default", "other"])),
                 labels=draw(pod_labels), terminating=draw(st.integers(0, 5)) == 0)
            for j in range(draw(st.integers(0, 14)))]


@st.composite
def constraint(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {
        "maxSkew": draw(st.integers(1, 3)),
        "topologyKey": draw(st.sampled_from(KEYS)),
        "whenUnsatisfiable": draw(st.sampled_from(["DoNotSchedule", "ScheduleAnyway"])),
    }
    sel = draw(st.sampled_from(SELECTORS))
    if sel is not None:
        out["labelSelector"] = sel
    md = draw(st.sampled_from([None, 1, 2, 4]))
    if md is not None:
        out["minDomains"] = md
    for field in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
        pol = draw(st.sampled_from([None, "Honor", "Ignore"]))
        if pol is not None:
            out[field] = pol
    mlk = draw(st.sampled_from([[], ["app"], ["foo"]]))
    if mlk:
        out["matchLabelKeys"] = mlk
    return out


@st.composite
def pending(draw: st.DrawFn) -> Pod:
    return spod("pending", labels=draw(pod_labels),
                constraints=draw(st.lists(constraint(), max_size=3)),
                node_selector=draw(st.sampled_from([None, {"disk": "ssd"}])),
                tolerations=draw(st.sampled_from([[], [{"key": "t", "operator": "Exists"}]])))


def make_plugin(system: bool) -> PodTopologySpread:
    svc = msgspec.convert({"metadata": {"name": "s", "namespace": "default"},
                           "spec": {"selector": {"app": "a"}}}, Service)
    args = PodTopologySpreadArgs(defaulting_type="System" if system else "List")
    return PodTopologySpread(args, ListerHandle({"services": indexer(svc)}))


# ---- the reference: upstream's Go, transcribed with dictionaries --------------------------------


def ref_filter(constraints: list[Constraint], pi: PodInfo,
               infos: list[NodeInfo]) -> dict[str, Any]:
    ns = pi.pod.metadata.namespace
    tp: list[dict[str, int]] = [{} for _ in constraints]
    for ni in infos:
        node = ni.node
        assert node is not None
        if not node_labels_match(node.metadata.labels, constraints):
            continue
        for i, c in enumerate(constraints):
            if not matches_inclusion_policies(c, pi, node):
                continue
            v = node.metadata.labels[c.topology_key]
            tp[i][v] = tp[i].get(v, 0) + count_matching(ni.pods.values(), c.selector, ns)
    mins = [min(t.values()) if t else MAX_INT32 for t in tp]
    out: dict[str, Any] = {}
    for ni in infos:
        labels = ni.labels
        res: Any = None
        for i, c in enumerate(constraints):
            if c.topology_key not in labels:
                res = (int(Code.UNSCHEDULABLE_AND_UNRESOLVABLE), [ERR_REASON_NODE_LABEL_NOT_MATCH])
                break
            m = 0 if len(tp[i]) < c.min_domains else mins[i]
            me = 1 if c.selector.matches(pi.pod.metadata.labels) else 0
            if tp[i].get(labels[c.topology_key], 0) + me - m > c.max_skew:
                res = (int(Code.UNSCHEDULABLE), [ERR_REASON_CONSTRAINTS_NOT_MATCH])
                break
        out[ni.name] = res
    return out


def ref_scores(constraints: list[Constraint], require_all: bool, pi: PodInfo,
               all_infos: list[NodeInfo], filtered: list[NodeInfo]) -> dict[str, int]:
    ns = pi.pod.metadata.namespace
    ignored: set[str] = set()
    counts: list[dict[str, int]] = [{} for _ in constraints]
    size = [0] * len(constraints)
    for ni in filtered:
        labels = ni.labels
        if require_all and not node_labels_match(labels, constraints):
            ignored.add(ni.name)
            continue
        for i, c in enumerate(constraints):
            if c.topology_key == LABEL_HOSTNAME:
                continue
            v = labels.get(c.topology_key, "")
            if v not in counts[i]:
                counts[i][v] = 0
                size[i] += 1
    weights = []
    for i, c in enumerate(constraints):
        sz = len(filtered) - len(ignored) if c.topology_key == LABEL_HOSTNAME else size[i]
        weights.append(math.log(sz + 2))
    for ni in all_infos:
        node = ni.node
        assert node is not None
        if require_all and not node_labels_match(node.metadata.labels, constraints):
            continue
        for i, c in enumerate(constraints):
            if not matches_inclusion_policies(c, pi, node):
                continue
            v = node.metadata.labels.get(c.topology_key, "")
            if v not in counts[i]:
                continue
            counts[i][v] += count_matching(ni.pods.values(), c.selector, ns)
    raw: dict[str, int] = {}
    for ni in filtered:
        if ni.name in ignored:
            raw[ni.name] = 0
            continue
        score = 0.0
        for i, c in enumerate(constraints):
            v = ni.labels.get(c.topology_key)
            if v is None:
                continue
            if c.topology_key == LABEL_HOSTNAME:
                cnt = count_matching(ni.pods.values(), c.selector, ns)
            else:
                cnt = counts[i][v]
            score += cnt * weights[i] + float(c.max_skew - 1)
        whole = math.floor(score)  # Go's math.Round: halves away from zero
        raw[ni.name] = int(whole) + (1 if score - whole >= 0.5 else 0)
    lo, hi = 2**63 - 1, 0
    for name, s in raw.items():
        if name in ignored:
            continue
        lo, hi = min(lo, s), max(hi, s)
    out = {}
    for name, s in raw.items():
        if name in ignored:
            out[name] = 0
        elif hi == 0:
            out[name] = 100
        else:
            out[name] = 100 * (hi + lo - s) // hi
    return out


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_batch_equals_per_node_equals_reference(data: st.DataObject) -> None:
    ns_ = data.draw(nodes())
    existing = data.draw(assigned(len(ns_)))
    pod = data.draw(pending())
    system = data.draw(st.booleans())
    p = make_plugin(system)
    snap = snapshot_of(ns_, existing)
    pi = pod_info(pod)
    infos = list(snap.node_infos)
    order = data.draw(st.permutations(list(range(len(infos)))))
    rows = np.array(order[: data.draw(st.integers(1, len(infos)))], dtype=np.int64)

    # filtering
    state = new_state()
    _, st_ = p.pre_filter(state, pi, snap)
    if st_ is None:
        got = filter_both(p, state, pi, snap, rows)
        want = ref_filter(p.constraints(pi, "DoNotSchedule"), pi, infos)
        assert got == {infos[r].name: want[infos[r].name] for r in rows.tolist()}
        event("filter: some row rejected" if any(got.values()) else "filter: all pass")
        # AddPod/RemovePod move the state; batch and per-node must still agree.
        other = spod("nominated", labels=data.draw(pod_labels))
        target = infos[data.draw(st.integers(0, len(infos) - 1))]
        clone = state.clone()
        p.add_pod(clone, pi, pod_info(other), target)
        if data.draw(st.booleans()) and target.pods:
            p.remove_pod(clone, pi, next(iter(target.pods.values())), target)
        filter_both(p, clone, pi, snap, rows)
    else:
        assert st_.code == Code.SKIP
        assert not p.constraints(pi, "DoNotSchedule")

    # scoring
    state = new_state()
    st_ = p.pre_score(state, pi, snap, rows)
    if st_ is not None:
        assert st_.code == Code.SKIP
        return
    got_scores = scores_both(p, state, pi, snap, rows)
    require_all = bool(pod.spec.topology_spread_constraints) or not system
    want_scores = ref_scores(p.constraints(pi, "ScheduleAnyway"), require_all, pi, infos,
                             [infos[r] for r in rows.tolist()])
    assert got_scores == want_scores
    event("score: distinct scores" if len(set(got_scores.values())) > 1 else "score: flat")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_kept_counts_follow_the_cache(data: st.DataObject) -> None:
    """Interleave cache changes (pods added/updated/removed, nodes added/removed) with
    PreFilter runs; the counts must always equal a fresh count of the current cache."""
    cache = SchedulerCache()
    node_list = data.draw(nodes())
    for n in node_list:
        cache.add_node(n)
    p = make_plugin(False)
    fresh = make_plugin(False)
    pod = spod("pending", labels={"app": "a"}, constraints=[
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
         "labelSelector": {"matchLabels": {"app": "a"}}}])
    live: list[Pod] = []
    for step in range(data.draw(st.integers(1, 12))):
        action = data.draw(st.sampled_from(["add", "add", "update", "remove", "node+", "node-"]))
        if action == "add":
            node_name = data.draw(st.sampled_from([n.metadata.name for n in node_list]))
            p_new = spod(f"s{step}", node=node_name, labels=data.draw(pod_labels),
                         terminating=data.draw(st.integers(0, 4)) == 0)
            cache.add_pod(p_new)
            live.append(p_new)
        elif action == "update" and live:
            i = data.draw(st.integers(0, len(live) - 1))
            upd = msgspec.structs.replace(live[i], metadata=msgspec.structs.replace(
                live[i].metadata, labels=data.draw(pod_labels)))
            cache.update_pod(live[i], upd)
            live[i] = upd
        elif action == "remove" and live:
            cache.remove_pod(live.pop(data.draw(st.integers(0, len(live) - 1))))
        elif action == "node+":
            extra = make_node(f"x{step}", labels={"zone": data.draw(st.sampled_from(["z1", "z9"]))})
            cache.add_node(extra)
            node_list.append(extra)
        elif action == "node-" and len(node_list) > 1:
            cache.remove_node(node_list.pop(data.draw(st.integers(0, len(node_list) - 1))))
        s1, s2 = new_state(), new_state()
        r1 = p.pre_filter(s1, pod_info(pod), cache.snapshot)
        fresh.counter._entries.clear()  # a plugin that never keeps counts across cycles
        r2 = fresh.pre_filter(s2, pod_info(pod), cache.snapshot)
        assert r1 == r2
        if r1[1] is None:
            a = s1.read("PreFilterPodTopologySpread")
            b = s2.read("PreFilterPodTopologySpread")
            assert [d.counts[d.present].tolist() for d in a.domains] == [
                d.counts[d.present].tolist() for d in b.domains]
