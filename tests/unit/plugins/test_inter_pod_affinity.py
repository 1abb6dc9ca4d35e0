"""InterPodAffinity as a plugin: args, events and queueing hints (upstream plugin_test.go rows),
the cluster index against a from-scratch computation while the cluster changes, a property
that the batch forms equal the per-node forms, and a run through the framework runtime."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import numpy as np
import pytest
from builders import filter_both, make_node, new_state, scores_both
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_inter_pod_affinity_helpers import (
    Handle,
    exists_term,
    expr,
    in_term,
    node,
    plugin,
    pod,
    term,
    weighted,
)

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.runtime import Diagnosis, Framework
from pyscheduler.framework.types import ActionType, ClusterEvent, PodInfo, QueueingHint, Resource
from pyscheduler.plugins import default_binder, priority_sort
from pyscheduler.plugins.inter_pod_affinity import (
    ERR_REASON_AFFINITY,
    ERR_REASON_ANTI_AFFINITY,
    ERR_REASON_EXISTING_ANTI_AFFINITY,
    NAME,
    PRE_FILTER_STATE_KEY,
    PRE_SCORE_STATE_KEY,
    SPEC,
    InterPodAffinity,
    InterPodAffinityArgs,
    new,
)
from pyscheduler.plugins.inter_pod_affinity import index as index_module
from pyscheduler.plugins.inter_pod_affinity import terms as terms_module
from pyscheduler.plugins.inter_pod_affinity.index import ClusterIndex
from pyscheduler.plugins.validation import ArgsError

Q, SKIP = QueueingHint.QUEUE, QueueingHint.SKIP

# ---- args ---------------------------------------------------------------------------------------


def test_args_defaults_and_decoding() -> None:
    assert SPEC.name == NAME == "InterPodAffinity"
    assert SPEC.args_type is InterPodAffinityArgs
    a = InterPodAffinityArgs()
    assert (a.hard_pod_affinity_weight, a.ignore_preferred_terms_of_existing_pods) == (1, False)
    a = msgspec.convert({"hardPodAffinityWeight": 5, "ignorePreferredTermsOfExistingPods": True},
                        InterPodAffinityArgs)
    assert (a.hard_pod_affinity_weight, a.ignore_preferred_terms_of_existing_pods) == (5, True)
    p = new(None, Handle())
    assert isinstance(p, InterPodAffinity) and p.args == InterPodAffinityArgs()


@pytest.mark.parametrize(("weight", "err"), [
    (0, None), (100, None),
    (-1, "hardPodAffinityWeight: Invalid value: -1: not in valid range [0, 100]"),
    (101, "hardPodAffinityWeight: Invalid value: 101: not in valid range [0, 100]"),
])
def test_args_validation(weight: int, err: str | None) -> None:
    args = InterPodAffinityArgs(hard_pod_affinity_weight=weight)
    if err is None:
        args.validate()
        new(args, Handle())
        return
    with pytest.raises(ArgsError) as info:
        args.validate()
    assert str(info.value) == err
    with pytest.raises(ArgsError):
        new(args, Handle())


# ---- events and hints ---------------------------------------------------------------------------


def test_events_to_register() -> None:
    events = [e.event for e in plugin().events_to_register()]
    # Pod (assigned and unscheduled): the hint must see the rejected pod's own relabeling
    assert events == [
        ClusterEvent(Resource.POD,
                     ActionType.ADD | ActionType.UPDATE_POD_LABEL | ActionType.DELETE),
        ClusterEvent(Resource.NODE, ActionType.ADD | ActionType.UPDATE_NODE_LABEL),
    ]


AFF_SCAN = in_term("service", "region", ["securityscan", "value2"])


def _p(name: str = "p", uid: str = "p", **kw: Any) -> Any:
    return pod(name, uid=uid, **kw)


def _o(node_name: str = "fake-node", **kw: Any) -> Any:
    return pod("other", uid="other", node=node_name, **kw)


# upstream Test_isSchedulableAfterPodChange: (name, target, old, new, want)
POD_CHANGE: list[tuple[str, Any, Any, Any, QueueingHint]] = [
    ("add a pod which matches the pod affinity", _p(affinity=[AFF_SCAN]), None,
     _o(labels={"service": "securityscan"}), Q),
    ("add an un-scheduled pod", _p(affinity=[AFF_SCAN]), None,
     _o("", labels={"service": "securityscan"}), SKIP),
    ("add a pod which doesn't match the pod affinity", _p(affinity=[AFF_SCAN]), None,
     _o(labels={"aaa": "a"}), SKIP),
    ("update a pod from non-match to match pod affinity", _p(affinity=[AFF_SCAN]),
     _o(labels={"aaa": "a"}), _o(labels={"service": "securityscan"}), Q),
    ("the updating pod matches target pod's affinity both before and after label changes",
     _p(affinity=[AFF_SCAN]), _o(labels={"service": "value2"}),
     _o(labels={"service": "securityscan"}), SKIP),
    ("update an un-scheduled pod", _p(affinity=[AFF_SCAN]), _o("", labels={"aaa": "a"}),
     _o("", labels={"service": "securityscan"}), SKIP),
    ("update a pod from match to non-match the pod affinity", _p(affinity=[AFF_SCAN]),
     _o(labels={"service": "securityscan"}), _o(labels={"aaa": "a"}), SKIP),
    ("update a pod from match to non-match pod's affinity - multiple terms case",
     _p(affinity=[exists_term("aaa", "hostname"), exists_term("bbb", "hostname")]),
     _o(labels={"aaa": "a"}), _o(labels={"service": "securityscan"}), SKIP),
    ("update a pod from non-match to match pod's affinity - multiple terms case",
     _p(affinity=[exists_term("aaa", "hostname"), exists_term("bbb", "hostname")]),
     _o(labels={"aaa": "a"}), _o(labels={"aaa": "", "bbb": ""}), Q),
    ("updated pod is the target pod", _p(labels={"foo": "baz"}), _p(labels={"foo": "bar"}),
     _p(labels={"foo": "baz"}), Q),
    ("modify pod label to change it from satisfying pod anti-affinity to not satisfying",
     _p(anti=[AFF_SCAN]), _o(labels={"service": "securityscan"}), _o(labels={"service": "aaaa"}),
     Q),
    ("modify pod label to change it from not satisfying pod anti-affinity to satisfying",
     _p(anti=[AFF_SCAN]), _o(labels={"service": "bbb"}), _o(labels={"service": "securityscan"}),
     SKIP),
    ("delete a pod which doesn't match pod's anti-affinity", _p(anti=[AFF_SCAN]),
     _o(labels={"aaa": "a"}), None, SKIP),
    ("delete a pod which matches pod's anti-affinity", _p(anti=[AFF_SCAN]),
     _o(labels={"service": "securityscan"}), None, Q),
    ("delete a pod with anti-affinity that matches pending pod",
     _p(labels={"service": "securityscan"}), _o(anti=[AFF_SCAN]), None, Q),
    ("delete a pod with anti-affinity that doesn't match pending pod",
     _p(labels={"service": "foo"}), _o(anti=[AFF_SCAN]), None, SKIP),
    ("delete a pod which doesn't match pending pod's anti-affinity and has anti-affinity that "
     "doesn't match pending pod", _p(labels={"service": "foo"}, anti=[AFF_SCAN]),
     _o(labels={"service": "foo"}, anti=[AFF_SCAN]), None, SKIP),
    # ours: namespaceSelector terms are matched with the changed pod's namespace labels
    ("add a pod matching an affinity namespaceSelector",
     _p(affinity=[term("zone", expr("app", "In", ["x"]),
                       ns_selector={"matchLabels": {"team": "team1"}})]), None,
     pod("other", uid="other", node="n", ns="subteam1.team1", labels={"app": "x"}), Q),
    ("add a pod outside an affinity namespaceSelector",
     _p(affinity=[term("zone", expr("app", "In", ["x"]),
                       ns_selector={"matchLabels": {"team": "team1"}})]), None,
     pod("other", uid="other", node="n", ns="subteam1.team2", labels={"app": "x"}), SKIP),
]


@pytest.mark.parametrize(("name", "target", "old", "new_", "want"), POD_CHANGE,
                         ids=[c[0] for c in POD_CHANGE])
def test_is_schedulable_after_pod_change(name: str, target: Any, old: Any, new_: Any,
                                         want: QueueingHint) -> None:
    assert plugin().is_schedulable_after_pod_change(target, old, new_) == want


ANTI_ZONE = term("zone", match_labels={"another": "label"})


def _node(name: str = "node-a", **labels: str) -> Any:
    return node(name, labels)


# upstream Test_isSchedulableAfterNodeChange: (name, target, old node, new node, want)
NODE_CHANGE: list[tuple[str, Any, Any, Any, QueueingHint]] = [
    ("add a new node with matched pod affinity topologyKey",
     _p(affinity=[in_term("service", "zone", ["securityscan", "value2"])]), None,
     _node(zone="zone1"), Q),
    ("add a new node without matched topologyKey",
     _p(affinity=[in_term("service", "region", ["securityscan", "value2"])]), None,
     _node(zone="zone1"), SKIP),
    ("update node label but not topologyKey",
     _p(affinity=[in_term("service", "zone", ["securityscan", "value2"])]), _node(aaa="a"),
     _node(aaa="b"), SKIP),
    ("update node label that isn't related to the pod affinity",
     _p(affinity=[in_term("service", "zone", ["securityscan", "value2"])]), _node(zone="zone1"),
     _node(zone="zone1", **{"unrelated-label": "unrelated"}), SKIP),
    ("update node with different affinity topologyKey value",
     _p(affinity=[in_term("service", "zone", ["securityscan", "value2"])]), _node(zone="zone1"),
     _node(zone="zone2"), Q),
    ("update node to have the affinity topology label",
     _p(affinity=[in_term("service", "zone", ["securityscan", "value2"])]), _node(aaa="a"),
     _node(zone="zone1"), Q),
    ("add a new node with matched pod anti-affinity topologyKey", _p(anti=[ANTI_ZONE]), None,
     _node(zone="zone1"), Q),
    ("add a new node without matched pod anti-affinity topologyKey", _p(anti=[ANTI_ZONE]), None,
     _node(), Q),
    ("update node label that isn't related to the pod anti-affinity", _p(anti=[ANTI_ZONE]),
     _node(zone="zone1"), _node(zone="zone1", **{"unrelated-label": "unrelated"}), SKIP),
    ("update node with different anti-affinity topologyKey value", _p(anti=[ANTI_ZONE]),
     _node(zone="zone1"), _node(zone="zone2"), Q),
    ("update node to have the anti-affinity topology label", _p(anti=[ANTI_ZONE]),
     _node(aaa="a"), _node(zone="zone1"), SKIP),
    ("update node label not to have anti-affinity topology label", _p(anti=[ANTI_ZONE]),
     _node(zone="zone1"), _node(aaa="a"), Q),
]


@pytest.mark.parametrize(("name", "target", "old", "new_", "want"), NODE_CHANGE,
                         ids=[c[0] for c in NODE_CHANGE])
def test_is_schedulable_after_node_change(name: str, target: Any, old: Any, new_: Any,
                                          want: QueueingHint) -> None:
    assert plugin().is_schedulable_after_node_change(target, old, new_) == want


def test_hints_queue_when_the_target_terms_do_not_parse() -> None:
    bad = _p(affinity=[term("zone", expr("app", "Bogus"))])
    assert plugin().is_schedulable_after_pod_change(bad, None, _o()) == Q
    assert plugin().is_schedulable_after_node_change(bad, None, _node()) == Q


def test_compiled_terms_are_shared_by_equal_pods_and_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terms_module, "_COMPILED", {})
    monkeypatch.setattr(terms_module, "COMPILED_MAX", 3)
    anti = [in_term("app", "hostname", ["web"])]
    a, b = pod(ns="x", anti=anti), pod(ns="x", anti=anti, labels={"other": "labels"})
    assert terms_module.pod_terms(a) is terms_module.pod_terms(b)
    # the namespace is the default of a term's namespaces: another namespace, other terms
    c = terms_module.pod_terms(pod(ns="y", anti=anti))
    assert c.required_anti[0].namespaces == frozenset({"y"})
    assert terms_module.pod_terms(a).required_anti[0].namespaces == frozenset({"x"})
    # PodInfo memo and hints go through the same cache
    assert terms_module.terms_of(PodInfo.of(a)) is terms_module.pod_terms(b)
    for i in range(5):
        terms_module.pod_terms(pod(ns=f"n{i}", anti=anti))
    assert len(terms_module._COMPILED) == 3
    assert terms_module.pod_terms(pod()) is terms_module.NO_TERMS


# ---- the cluster index -----------------------------------------------------------------------


def _random_cluster(rnd: random.Random, n_nodes: int) -> tuple[SchedulerCache, list[Any]]:
    cache = SchedulerCache()
    nodes = []
    for i in range(n_nodes):
        labels = {"hostname": f"n{i}"}
        if rnd.random() < 0.8:
            labels["zone"] = f"z{rnd.randrange(3)}"
        nodes.append(make_node(f"n{i}", labels=labels))
        cache.add_node(nodes[-1])
    return cache, nodes


APPS = ["a", "b", "c"]
NSS = ["", "subteam1.team1", "subteam1.team2"]


def _random_terms(rnd: random.Random) -> dict[str, Any]:
    def t() -> dict[str, Any]:
        kind = rnd.randrange(4)
        key = rnd.choice(["zone", "hostname", "rack"])
        if kind == 0:
            return term(key, match_labels={"app": rnd.choice(APPS)})
        if kind == 1:
            return term(key, expr("app", rnd.choice(["In", "NotIn"]),
                                  rnd.sample(APPS, rnd.randrange(1, 3))))
        if kind == 2:
            return term(key, expr("app", "Exists"), ns_selector={"matchLabels": {"team": "team1"}})
        return term(key, match_labels={"app": rnd.choice(APPS)}, namespaces=[rnd.choice(NSS)])

    out: dict[str, Any] = {}
    if rnd.random() < 0.3:
        out["affinity"] = [t() for _ in range(rnd.randrange(1, 3))]
    if rnd.random() < 0.4:
        out["anti"] = [t() for _ in range(rnd.randrange(1, 3))]
    if rnd.random() < 0.3:
        out["preferred"] = [weighted(rnd.randrange(1, 50), t())]
    if rnd.random() < 0.3:
        out["preferred_anti"] = [weighted(rnd.randrange(1, 50), t())]
    return out


def _random_pod(rnd: random.Random, node_name: str = "", unique: float = 0.0) -> Any:
    """A pod with random terms; with probability ``unique`` it also has a label of its own
    (as StatefulSet pods do), so it shares its shape with no other pod."""
    labels = {"app": rnd.choice(APPS)}
    if rnd.random() < unique:
        labels["pod-name"] = f"p{rnd.randrange(10**9)}"
    return pod(ns=rnd.choice(NSS), node=node_name, labels=labels, **_random_terms(rnd))


def _compare(indexed: InterPodAffinity, full: InterPodAffinity, snap: Any,
             incoming: Any) -> None:
    for p in (indexed, full):
        assert p.use_index is (p is indexed)
    outs = []
    for p in (indexed, full):
        cs = new_state()
        pi = PodInfo.of(incoming)
        _, st = p.pre_filter(cs, pi, snap)
        s = cs.get(PRE_FILTER_STATE_KEY)
        counts = None if s is None else (s.existing_anti, s.affinity, s.anti)
        filt = filter_both(p, cs, pi, snap) if st is None else None
        st2 = p.pre_score(cs, pi, snap, snap.all_rows())
        ts = cs.get(PRE_SCORE_STATE_KEY)
        scores = scores_both(p, cs, pi, snap) if st2 is None else None
        outs.append((None if st is None else st.code, counts, filt,
                     None if st2 is None else st2.code, ts and ts.topology_score, scores))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("max_watches", [index_module.MAX_WATCHES, 2])
# seed 27 (with changes piling up between refreshes) moved a term between aggregates in one
# fold, the fuzz-1-214 bug (test_index_keeps_a_term_moving_between_aggregates_in_one_fold)
@pytest.mark.parametrize("seed", [*range(8), 27])
def test_index_tracks_the_cluster(seed: int, max_watches: int,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """After every kind of change, the index's counts equal a from-scratch computation (with
    few watches, they are evicted and rebuilt from the shapes all the time)."""
    monkeypatch.setattr(index_module, "MAX_WATCHES", max_watches)
    rnd = random.Random(seed)
    cache, nodes = _random_cluster(rnd, 12)
    snap = cache.snapshot
    indexed, full = plugin(use_index=True), plugin(use_index=False)
    incoming = [_random_pod(rnd) for _ in range(5)]
    placed: list[Any] = []
    for step in range(100):
        action = rnd.randrange(6)
        if action <= 1 or not placed:  # add (informer or assume)
            p = _random_pod(rnd, f"n{rnd.randrange(len(nodes))}", unique=0.3)
            if action == 0:
                cache.add_pod(p)
            else:
                cache.assume_pod(PodInfo.of(p), p.spec.node_name)
            placed.append(p)
        elif action == 2:  # delete
            p = placed.pop(rnd.randrange(len(placed)))
            if cache.is_assumed(p.metadata.uid):
                cache.forget_pod(p.metadata.uid)
            else:
                cache.remove_pod(p)
        elif action == 3:  # relabel a pod
            i = rnd.randrange(len(placed))
            old = placed[i]
            if cache.is_assumed(old.metadata.uid):
                continue
            new_pod = msgspec.structs.replace(old, metadata=msgspec.structs.replace(
                old.metadata, labels={"app": rnd.choice(APPS)}))
            cache.update_pod(old, new_pod)
            placed[i] = new_pod
        elif action == 4:  # relabel a node
            i = rnd.randrange(len(nodes))
            old_node = nodes[i]
            labels = dict(old_node.metadata.labels)
            labels["zone"] = f"z{rnd.randrange(4)}"
            nodes[i] = msgspec.structs.replace(
                old_node, metadata=msgspec.structs.replace(old_node.metadata, labels=labels))
            cache.update_node(old_node, nodes[i])
        else:  # remove or add a node
            if rnd.random() < 0.5 and len(nodes) > 2:
                gone = nodes.pop(rnd.randrange(len(nodes)))
                cache.remove_node(gone)
            else:
                nodes.append(make_node(f"x{step}", labels={"zone": "z1", "hostname": f"x{step}"}))
                cache.add_node(nodes[-1])
        if rnd.random() < 0.4:
            continue  # let changes pile up: one refresh then folds several into a row
        for inc in incoming:
            _compare(indexed, full, snap, inc)
        assert len(indexed._index.watches) <= max_watches


def test_index_recomputes_only_changed_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = ClusterIndex._record

    def counting(self: ClusterIndex, ni: Any) -> Any:
        calls.append(ni.name)
        return real(self, ni)

    monkeypatch.setattr(ClusterIndex, "_record", counting)
    cache = SchedulerCache()
    for i in range(20):
        cache.add_node(node(f"n{i}", {"hostname": f"n{i}"}))
    p = plugin()
    incoming = PodInfo.of(pod(labels={"app": "a"}, anti=[in_term("app", "hostname", ["a"])]))
    p.pre_filter(new_state(), incoming, cache.snapshot)
    assert len(calls) == 20  # first cycle: a full pass
    calls.clear()
    p.pre_filter(new_state(), incoming, cache.snapshot)
    p.pre_score(new_state(), incoming, cache.snapshot, cache.snapshot.all_rows())
    assert calls == []  # nothing changed
    cache.assume_pod(PodInfo.of(pod(labels={"app": "a"})), "n7")
    cs = new_state()
    p.pre_filter(cs, incoming, cache.snapshot)
    assert calls == ["n7"]
    assert cs.read(PRE_FILTER_STATE_KEY).anti == {"hostname": {"n7": 1}}
    # a different pod shape needs no pass of its own
    calls.clear()
    other = PodInfo.of(pod(ns="x", labels={"app": "b"}, affinity=[in_term("app", "hostname",
                                                                           ["a"])]))
    p.pre_filter(new_state(), other, cache.snapshot)
    assert calls == []
    # a relabeled node needs nothing but its own row; a removed node moves the last row into
    # its place, and only that row is redone
    n3 = cache.snapshot.get("n3")
    assert n3 is not None and n3.node is not None
    relabeled = msgspec.structs.replace(n3.node, metadata=msgspec.structs.replace(
        n3.node.metadata, labels={"hostname": "n3", "zone": "z"}))
    cache.update_node(n3.node, relabeled)
    p.pre_filter(new_state(), incoming, cache.snapshot)
    assert calls == ["n3"]
    calls.clear()
    cache.remove_node(cache.snapshot.get("n7").node)  # type: ignore[union-attr]
    cs = new_state()
    p.pre_filter(cs, incoming, cache.snapshot)
    assert calls == ["n19"]
    assert cs.read(PRE_FILTER_STATE_KEY).anti == {}
    cache.add_node(node("n20", {"hostname": "n20"}))
    calls.clear()
    p.pre_filter(new_state(), incoming, cache.snapshot)
    assert calls == ["n20"]


def test_index_drops_shapes_and_terms_no_pod_holds() -> None:
    cache = SchedulerCache()
    cache.add_node(node("n0", {"hostname": "n0"}))
    p = plugin()
    pods = [pod(node="n0", labels={"app": str(i)}, anti=[in_term("app", "hostname", [str(i)])])
            for i in range(5)]
    for x in pods:
        cache.add_pod(x)
    incoming = PodInfo.of(pod(labels={"app": "z"}, anti=[in_term("app", "hostname", ["0"])]))
    p.pre_filter(new_state(), incoming, cache.snapshot)
    assert len(p._index.shapes) == 5 and len(p._index.terms) == 5
    for x in pods:
        cache.remove_pod(x)
    p.pre_filter(new_state(), incoming, cache.snapshot)
    idx = p._index
    assert (idx.shapes, idx.shape_labels, idx.anti, idx.terms) == ({}, {}, {}, {})
    # the watch of the incoming anti-affinity term forgot the shapes too
    assert [(w.memo, w.vec.tolist()) for w in idx.watches.values()] == [({}, [0])]


def test_index_keeps_a_term_moving_between_aggregates_in_one_fold() -> None:
    """Random differential scenario fuzz-1-214: on one node, a pod with a required
    anti-affinity term was preempted by a pod *preferring* to avoid the same pods (the same
    term). Both changes reach the index in one refresh of that row: the term leaves the
    required aggregate and enters the preferred one. Dropping it when its first count reached
    0 left the preferred entry without its term, and every later score raised KeyError."""
    cache = SchedulerCache()
    cache.add_node(node("n0", {"hostname": "n0"}))
    cache.add_node(node("n1", {"hostname": "n1"}))
    web = in_term("app", "hostname", ["web"])
    victim = pod("victim", node="n0", labels={"app": "web"}, anti=[web])
    cache.add_pod(victim)
    indexed, full = plugin(use_index=True), plugin(use_index=False)
    incoming = pod("incoming", labels={"app": "web"})
    _compare(indexed, full, cache.snapshot, incoming)
    cache.remove_pod(victim)
    cache.add_pod(pod("preemptor", node="n0", labels={"app": "db"},
                      preferred_anti=[weighted(98, web)]))
    _compare(indexed, full, cache.snapshot, incoming)
    idx = indexed._index
    assert list(idx.terms) == [k for k, _ in idx.preferred] and not idx.anti


# ---- batch == per node (property) ------------------------------------------------------------


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[Any], list[Any], Any, list[int], int, bool]:
    seed = draw(st.integers(0, 2**32 - 1))
    rnd = random.Random(seed)
    n = draw(st.integers(1, 8))
    nodes = []
    for i in range(n):
        labels: dict[str, str] = {}
        for key, values in (("zone", ["a", "b", ""]), ("hostname", [f"n{i}"]),
                            ("rack", ["r1", "r2"])):
            if rnd.random() < 0.75:
                labels[key] = rnd.choice(values)
        nodes.append(make_node(f"n{i}", labels=labels))
    pods = [_random_pod(rnd, f"n{rnd.randrange(n + 1)}")  # n{n} is a node that does not exist
            for _ in range(draw(st.integers(0, 10)))]
    incoming = _random_pod(rnd)
    order = draw(st.permutations(list(range(n))))
    rows = order[: draw(st.integers(1, n))]
    return nodes, pods, incoming, rows, draw(st.sampled_from([0, 1, 5])), draw(st.booleans())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_batch_forms_equal_per_node_forms(s: tuple[list[Any], list[Any], Any, list[int], int,
                                                   bool]) -> None:
    nodes, pods, incoming, rows, hard, use_index = s
    cache = SchedulerCache()
    for n in nodes:
        cache.add_node(n)
    for p in pods:
        cache.add_pod(p)
    snap = cache.snapshot
    plug = plugin(use_index=use_index, hard_weight=hard)
    cs = new_state()
    pi = PodInfo.of(incoming)
    r = np.array(rows, dtype=np.int64)
    _, status = plug.pre_filter(cs, pi, snap)
    if status is None:
        filter_both(plug, cs, pi, snap, r)
    if plug.pre_score(cs, pi, snap, r) is None:
        scores_both(plug, cs, pi, snap, r)


# ---- through the framework runtime ---------------------------------------------------------


def _framework(p: InterPodAffinity, nominator: Any = None) -> Framework:
    plugins = {NAME: p, priority_sort.NAME: priority_sort.new(None, None),  # type: ignore[arg-type]
               default_binder.NAME: default_binder.new(None, None)}  # type: ignore[arg-type]
    points = {"queueSort": [priority_sort.NAME], "preFilter": [NAME], "filter": [NAME],
              "preScore": [NAME], "score": [NAME], "bind": [default_binder.NAME]}
    return Framework("default-scheduler", plugins, points, {NAME: 2}, nominator=nominator)


def test_runtime_reasons_and_scores() -> None:
    cache = SchedulerCache()
    zones = {"a1": "a", "a2": "a", "b1": "b", "b2": "b", "c1": "c"}
    for name, z in zones.items():
        cache.add_node(node(name, {"zone": z, "hostname": name}))
    cache.add_pod(pod(node="a1", labels={"app": "db"}, anti=[in_term("app", "zone", ["web"])]))
    cache.add_pod(pod(node="b1", labels={"app": "cache"}))
    snap = cache.snapshot
    fw = _framework(plugin())
    incoming = PodInfo.of(pod(labels={"app": "web"}, anti=[in_term("app", "hostname", ["cache"])],
                              preferred=[weighted(10, in_term("app", "zone", ["cache"]))]))
    cs = new_state()
    _, st, _ = fw.run_pre_filter(cs, incoming, snap)
    assert st is None
    diag = Diagnosis(num_all_nodes=snap.num_nodes)
    feasible = fw.find_nodes_that_pass_filters(cs, incoming, snap, snap.all_rows(), diag)
    names = sorted(snap.node_infos[int(r)].name for r in feasible)
    assert names == ["b2", "c1"]
    assert diag.message() == (
        "0/5 nodes are available: 1 " + ERR_REASON_ANTI_AFFINITY + ", 2 "
        + ERR_REASON_EXISTING_ANTI_AFFINITY + ".")
    assert fw.run_pre_score(cs, incoming, snap, feasible) is None
    total = fw.run_score(cs, incoming, snap, feasible)
    by_name = {snap.node_infos[int(r)].name: int(s) for r, s in zip(feasible, total, strict=True)}
    assert by_name == {"b2": 200, "c1": 0}


def test_runtime_nominated_pods_and_affinity_reason() -> None:
    cache = SchedulerCache()
    for name, z in {"a1": "a", "b1": "b"}.items():
        cache.add_node(node(name, {"zone": z}))
    snap = cache.snapshot
    nominated = PodInfo.of(pod(labels={"app": "db"}, node="", uid="nom"))

    class Nominator:
        def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
            return [nominated] if node_name == "b1" else []

        def nominated_nodes(self) -> list[str]:
            return ["b1"]

    fw = _framework(plugin(), nominator=Nominator())
    incoming = PodInfo.of(pod(labels={"app": "web"}, anti=[in_term("app", "zone", ["db"])],
                              affinity=[exists_term("app", "zone")]))
    cs = new_state()
    _, st, _ = fw.run_pre_filter(cs, incoming, snap)
    assert st is None
    diag = Diagnosis(num_all_nodes=snap.num_nodes)
    feasible = fw.find_nodes_that_pass_filters(cs, incoming, snap, snap.all_rows(), diag)
    # a1: no pod matches "app exists" yet and the pod matches itself: the first pod may go;
    # b1: the nominated db pod conflicts with the anti-affinity.
    assert [snap.node_infos[int(r)].name for r in feasible] == ["a1"]
    assert diag.reasons == {ERR_REASON_ANTI_AFFINITY: 1}
    assert diag.unschedulable_plugins == {NAME}
    # the affinity reason is unresolvable (no preemption candidate), as upstream
    incoming2 = PodInfo.of(pod(labels={"app": "web"}, affinity=[in_term("app", "zone", ["x"])]))
    cs2 = new_state()
    fw.run_pre_filter(cs2, incoming2, snap)
    diag2 = Diagnosis(num_all_nodes=snap.num_nodes)
    assert len(fw.find_nodes_that_pass_filters(cs2, incoming2, snap, snap.all_rows(),
                                               diag2)) == 0
    assert diag2.reasons == {ERR_REASON_AFFINITY: 2}
    assert diag2.resolvable_nodes == []
