"""The preemption algorithm, ported from upstream default_preemption_test.go (TestDryRunPreemption,
TestSelectBestCandidate, TestCustomSelection, TestPodEligibleToPreemptOthers): same inputs,
same candidates, victims and chosen node."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from preemption_fixtures import (
    HIGH,
    LARGE,
    LOW,
    MEDIUM,
    MID,
    NEG,
    SMALL,
    VERY_HIGH,
    VERY_LARGE,
    ErroringExtensions,
    FalseFilter,
    ScriptedRandom,
    epoch,
    make_env,
    names,
    node,
    pdb,
    terminating_victim,
    vpod,
)

from pyscheduler.framework.status import Code
from pyscheduler.framework.types import PodInfo
from pyscheduler.plugins.default_preemption import DefaultPreemptionArgs
from pyscheduler.preemption.evaluator import (
    ERR_NO_VICTIMS,
    Evaluator,
    courtesy_rule,
    potential_nodes,
    terminating_by_preemption,
)
from pyscheduler.preemption.pdb import PDBChecker


def dry_run(env: Any, pod: Any, pdbs: Sequence[Any] = ()) -> list[tuple[str, list[str], int]]:
    """Upstream's TestDryRunPreemption harness: all nodes, offset/count from the plugin, then
    candidates and victims sorted by name."""
    state, pi = env.state_for(pod)
    infos = sorted(env.snapshot.node_infos, key=lambda ni: ni.name)
    ev: Evaluator = env.plugin.evaluator
    offset, k = ev.get_offset_and_num_candidates(len(infos))
    run = ev.dry_run_preemption(env.fwk, state, pi, infos, PDBChecker(pdbs), offset, k)
    out = [(c.node_name, sorted(names(c.victims)), c.num_pdb_violations) for c in run.candidates]
    return sorted(out)


TWO_MID_LARGE = [vpod("p1", node="node1", priority=MID, requests=LARGE),
                 vpod("p2", node="node2", priority=MID, requests=LARGE)]


@pytest.mark.parametrize(
    ("case", "pod", "pods", "filters", "codes", "expected", "filter_calls"),
    [
        ("a pod that does not fit on any node",
         vpod("p", priority=HIGH),
         [vpod("p1", node="node1", priority=MID), vpod("p2", node="node2", priority=MID)],
         [FalseFilter()], {}, [], 2),
        ("a pod that fits with no preemption",
         vpod("p", priority=HIGH),
         [vpod("p1", node="node1", priority=MID), vpod("p2", node="node2", priority=MID)],
         [], {"node1": Code.UNSCHEDULABLE, "node2": Code.UNSCHEDULABLE}, [], 2),
        ("a pod that fits on both nodes when lower priority pods are preempted",
         vpod("p", priority=HIGH, requests=LARGE), TWO_MID_LARGE, [], {},
         [("node1", ["p1"], 0), ("node2", ["p2"], 0)], 4),
        ("a pod that would fit on the nodes, but other pods running are higher priority",
         vpod("p", priority=LOW, requests=LARGE), TWO_MID_LARGE, [], {}, [], 0),
        ("medium priority pod is preempted, but lower priority one stays as it is small",
         vpod("p", priority=HIGH, requests=LARGE),
         [vpod("p1.1", node="node1", priority=LOW, requests=SMALL),
          vpod("p1.2", node="node1", priority=MID, requests=LARGE),
          vpod("p2", node="node2", priority=MID, requests=LARGE)],
         [], {}, [("node1", ["p1.2"], 0), ("node2", ["p2"], 0)], 5),
        ("mixed priority pods are preempted",
         vpod("p", priority=HIGH, requests=LARGE),
         [vpod("p1.1", node="node1", priority=MID, requests=SMALL),
          vpod("p1.2", node="node1", priority=LOW, requests=SMALL),
          vpod("p1.3", node="node1", priority=MID, requests=MEDIUM),
          vpod("p1.4", node="node1", priority=HIGH, requests=SMALL),
          vpod("p2", node="node2", priority=HIGH, requests=LARGE)],
         [], {}, [("node1", ["p1.2", "p1.3"], 0)], 4),
        ("mixed priority pods are preempted, pick later StartTime one when priorities are equal",
         vpod("p", priority=HIGH, requests=LARGE),
         [vpod("p1.1", node="node1", priority=LOW, requests=SMALL, start=epoch(5)),
          vpod("p1.2", node="node1", priority=LOW, requests=SMALL, start=epoch(4)),
          vpod("p1.3", node="node1", priority=MID, requests=MEDIUM, start=epoch(3)),
          vpod("p1.4", node="node1", priority=HIGH, requests=SMALL, start=epoch(2)),
          vpod("p2", node="node2", priority=HIGH, requests=LARGE, start=epoch(1))],
         [], {}, [("node1", ["p1.1", "p1.3"], 0)], 4),
        ("get Unschedulable in the preemption phase when the filter plugins filtering the nodes",
         vpod("p", priority=HIGH, requests=LARGE), TWO_MID_LARGE, [],
         {"node1": Code.UNSCHEDULABLE, "node2": Code.UNSCHEDULABLE}, [], 2),
    ],
)
def test_dry_run_preemption(case: str, pod: Any, pods: list[Any], filters: list[Any],
                            codes: Mapping[str, Code], expected: list[Any],
                            filter_calls: int) -> None:
    # Upstream's filter call counts hold with every reprieve filtered (room_shortcut off).
    env = make_env([node("node1", VERY_LARGE), node("node2", VERY_LARGE)], pods,
                   preemptor=pod, extra_filters=filters, counter_codes=codes)
    assert dry_run(env, pod) == expected, case
    assert env.counter.calls == filter_calls, case
    # The shortcut (the scheduler's default) finds the same victims, with no more calls.
    env = make_env([node("node1", VERY_LARGE), node("node2", VERY_LARGE)], pods,
                   preemptor=pod, extra_filters=filters, counter_codes=codes,
                   room_shortcut=True)
    assert dry_run(env, pod) == expected, case
    assert env.counter.calls <= filter_calls, case


FOO = {"app": "foo"}


@pytest.mark.parametrize(
    ("case", "pods", "budget", "expected", "filter_calls"),
    [
        ("preemption with violation of same pdb",
         [vpod("p1.1", node="node1", labels=FOO, priority=MID, requests=MEDIUM),
          vpod("p1.2", node="node1", labels=FOO, priority=MID, requests=MEDIUM)],
         pdb(match_labels=FOO, allowed=1),
         [("node1", ["p1.1", "p1.2"], 1)], 3),
        ("violation of the pdb with pod whose eviction was processed, the victim doesn't belong "
         "to DisruptedPods",
         [vpod("p1.1", node="node1", labels=FOO, priority=MID, requests=MEDIUM),
          vpod("p1.2", node="node1", labels=FOO, priority=MID, requests=MEDIUM)],
         pdb(match_labels=FOO, allowed=1, disrupted=["p2"]),
         [("node1", ["p1.1", "p1.2"], 1)], 3),
        ("violation of the pdb with pod whose eviction was processed, the victim belongs to "
         "DisruptedPods",
         [vpod("p1.1", node="node1", labels=FOO, priority=MID, requests=MEDIUM),
          vpod("p1.2", node="node1", labels=FOO, priority=MID, requests=MEDIUM)],
         pdb(match_labels=FOO, allowed=1, disrupted=["p1.2"]),
         [("node1", ["p1.1", "p1.2"], 0)], 3),
        ("the victim which belongs to DisruptedPods is treated as 'nonViolating'",
         [vpod("p1.1", node="node1", labels=FOO, priority=MID, requests=MEDIUM),
          vpod("p1.2", node="node1", labels=FOO, priority=MID, requests=MEDIUM),
          vpod("p1.3", node="node1", labels=FOO, priority=MID, requests=MEDIUM)],
         pdb(match_labels=FOO, allowed=1, disrupted=["p1.3"]),
         [("node1", ["p1.1", "p1.2", "p1.3"], 1)], 4),
    ],
)
def test_dry_run_with_pdbs(case: str, pods: list[Any], budget: Any, expected: list[Any],
                           filter_calls: int) -> None:
    pod = vpod("p", priority=HIGH, requests=VERY_LARGE)
    env = make_env([node("node1", VERY_LARGE)], pods, preemptor=pod)
    assert dry_run(env, pod, [budget]) == expected, case
    assert env.counter.calls == filter_calls, case


FIVE = [f"node{i}" for i in range(1, 6)]


def five_nodes_env(pods: list[Any], offsets: list[int], pct: int = 40, absolute: int = 1,
                   preemptor: Any = None) -> Any:
    return make_env([node(n, VERY_LARGE) for n in FIVE], pods, preemptor=preemptor,
                    args=DefaultPreemptionArgs(pct, absolute), rng=ScriptedRandom(offsets))


def test_all_nodes_possible_candidates_but_args_limit_to_two() -> None:
    pods = [vpod(f"p{i}", node=f"node{i}", priority=MID, requests=LARGE) for i in range(1, 6)]
    pod = vpod("p", priority=HIGH, requests=LARGE)
    env = five_nodes_env(pods, [4])
    # offset 4 => node5 (yes), node1 (yes)
    assert dry_run(env, pod) == [("node1", ["p1"], 0), ("node5", ["p5"], 0)]
    assert env.counter.calls == 4


def test_some_nodes_not_possible_candidates_args_limit_to_two() -> None:
    prios = {1: MID, 2: VERY_HIGH, 3: MID, 4: MID, 5: VERY_HIGH}
    pods = [vpod(f"p{i}", node=f"node{i}", priority=prios[i], requests=LARGE)
            for i in range(1, 6)]
    pod = vpod("p", priority=HIGH, requests=LARGE)
    env = five_nodes_env(pods, [4])
    # offset 4 => node5 (no), node1 (yes), node2 (no), node3 (yes)
    assert dry_run(env, pod) == [("node1", ["p1"], 0), ("node3", ["p3"], 0)]
    assert env.counter.calls == 4


def test_offset_across_cycles_and_wrap_around() -> None:
    pods = [vpod(f"p{i}", node=f"node{i}", priority=MID, requests=LARGE) for i in range(1, 6)]
    env = five_nodes_env(pods, [4, 1, 3])
    got = []
    calls = []
    for name in ("tp1", "tp2", "tp3"):
        before = env.counter.calls
        got.append(dry_run(env, vpod(name, priority=HIGH, requests=LARGE)))
        calls.append(env.counter.calls - before)
    assert got == [
        [("node1", ["p1"], 0), ("node5", ["p5"], 0)],  # offset 4
        [("node2", ["p2"], 0), ("node3", ["p3"], 0)],  # offset 1
        [("node4", ["p4"], 0), ("node5", ["p5"], 0)],  # offset 3
    ]
    assert calls == [4, 4, 4]


def test_looks_past_num_candidates_until_a_non_pdb_violating_node() -> None:
    labels = {1: FOO, 2: FOO, 3: None, 4: None, 5: FOO}
    pods = [vpod(f"p{i}", node=f"node{i}", labels=labels[i], priority=MID, requests=LARGE)
            for i in range(1, 6)]
    env = five_nodes_env(pods, [4], absolute=2)
    # offset 4 => node5 (yes, pdb), node1 (yes, pdb), node2 (no room in the list), node3 (yes)
    assert dry_run(env, vpod("p", priority=HIGH, requests=LARGE),
                   [pdb(match_labels=FOO, allowed=0)]) == [
        ("node1", ["p1"], 1), ("node3", ["p3"], 0), ("node5", ["p5"], 1)]
    assert env.counter.calls == 8


# ---- SelectBestCandidate ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "nodes", "pod", "pods", "expected"),
    [
        ("a pod that fits on both nodes when lower priority pods are preempted",
         ["node1", "node2"], vpod("p", priority=HIGH, requests=LARGE),
         [vpod("p1", node="node1", priority=MID, requests=LARGE, start=epoch(0)),
          vpod("p2", node="node2", priority=MID, requests=LARGE, start=epoch(0))],
         {"node1", "node2"}),
        ("node with min highest priority pod is picked",
         ["node1", "node2", "node3"], vpod("p", priority=HIGH, requests=VERY_LARGE),
         [vpod("p1.1", node="node1", priority=MID, requests=MEDIUM, start=epoch(0)),
          vpod("p1.2", node="node1", priority=MID, requests=LARGE, start=epoch(0)),
          vpod("p2.1", node="node2", priority=MID, requests=MEDIUM, start=epoch(0)),
          vpod("p2.2", node="node2", priority=LOW, requests=MEDIUM, start=epoch(0)),
          vpod("p3.1", node="node3", priority=LOW, requests=MEDIUM, start=epoch(0)),
          vpod("p3.2", node="node3", priority=LOW, requests=MEDIUM, start=epoch(0))],
         {"node3"}),
        ("when highest priorities are the same, minimum sum of priorities is picked",
         ["node1", "node2", "node3"], vpod("p", priority=HIGH, requests=VERY_LARGE),
         [vpod("p1.1", node="node1", priority=MID, requests=MEDIUM, start=epoch(0)),
          vpod("p1.2", node="node1", priority=MID, requests=LARGE, start=epoch(0)),
          vpod("p2.1", node="node2", priority=MID, requests=LARGE, start=epoch(0)),
          vpod("p2.2", node="node2", priority=LOW, requests=MEDIUM, start=epoch(0)),
          vpod("p3.1", node="node3", priority=MID, requests=MEDIUM, start=epoch(0)),
          vpod("p3.2", node="node3", priority=MID, requests=MEDIUM, start=epoch(0))],
         {"node2"}),
        ("when highest priority and sum are the same, minimum number of pods is picked",
         ["node1", "node2", "node3"], vpod("p", priority=HIGH, requests=VERY_LARGE),
         [vpod("p1.1", node="node1", priority=MID, requests=SMALL, start=epoch(0)),
          vpod("p1.2", node="node1", priority=NEG, requests=SMALL, start=epoch(0)),
          vpod("p1.3", node="node1", priority=MID, requests=SMALL, start=epoch(0)),
          vpod("p1.4", node="node1", priority=NEG, requests=SMALL, start=epoch(0)),
          vpod("p2.1", node="node2", priority=MID, requests=LARGE, start=epoch(0)),
          vpod("p2.2", node="node2", priority=NEG, requests=MEDIUM, start=epoch(0)),
          vpod("p3.1", node="node3", priority=MID, requests=MEDIUM, start=epoch(0)),
          vpod("p3.2", node="node3", priority=NEG, requests=SMALL, start=epoch(0)),
          vpod("p3.3", node="node3", priority=LOW, requests=SMALL, start=epoch(0))],
         {"node2"}),
        ("sum of adjusted priorities is considered",
         ["node1", "node2", "node3"], vpod("p", priority=HIGH, requests=VERY_LARGE),
         [vpod("p1.1", node="node1", priority=MID, requests=SMALL, start=epoch(0)),
          vpod("p1.2", node="node1", priority=NEG, requests=SMALL, start=epoch(0)),
          vpod("p1.3", node="node1", priority=NEG, requests=SMALL, start=epoch(0)),
          vpod("p2.1", node="node2", priority=MID, requests=LARGE, start=epoch(0)),
          vpod("p2.2", node="node2", priority=NEG, requests=MEDIUM, start=epoch(0)),
          vpod("p3.1", node="node3", priority=MID, requests=MEDIUM, start=epoch(0)),
          vpod("p3.2", node="node3", priority=NEG, requests=SMALL, start=epoch(0)),
          vpod("p3.3", node="node3", priority=LOW, requests=SMALL, start=epoch(0))],
         {"node2"}),
        ("non-overlapping lowest high priority, sum priorities, and number of pods",
         ["node1", "node2", "node3", "node4"], vpod("p", priority=VERY_HIGH, requests=VERY_LARGE),
         [vpod("p1.1", node="node1", priority=MID, requests=SMALL, start=epoch(0)),
          vpod("p1.2", node="node1", priority=LOW, requests=SMALL, start=epoch(0)),
          vpod("p1.3", node="node1", priority=LOW, requests=SMALL, start=epoch(0)),
          vpod("p2.1", node="node2", priority=HIGH, requests=LARGE, start=epoch(0)),
          vpod("p3.1", node="node3", priority=MID, requests=MEDIUM, start=epoch(0)),
          vpod("p3.2", node="node3", priority=LOW, requests=SMALL, start=epoch(0)),
          vpod("p3.3", node="node3", priority=LOW, requests=SMALL, start=epoch(0)),
          vpod("p3.4", node="node3", priority=LOW, requests=MEDIUM, start=epoch(0)),
          vpod("p4.1", node="node4", priority=MID, requests=MEDIUM, start=epoch(0)),
          vpod("p4.2", node="node4", priority=MID, requests=SMALL, start=epoch(0)),
          vpod("p4.3", node="node4", priority=MID, requests=SMALL, start=epoch(0)),
          vpod("p4.4", node="node4", priority=NEG, requests=SMALL, start=epoch(0))],
         {"node1"}),
        ("same priority, same number of victims, different start time for each node's pod",
         ["node1", "node2", "node3"], vpod("p", priority=HIGH, requests=VERY_LARGE),
         [vpod("p1.1", node="node1", priority=MID, requests=MEDIUM, start=epoch(2)),
          vpod("p1.2", node="node1", priority=MID, requests=MEDIUM, start=epoch(2)),
          vpod("p2.1", node="node2", priority=MID, requests=MEDIUM, start=epoch(3)),
          vpod("p2.2", node="node2", priority=MID, requests=MEDIUM, start=epoch(3)),
          vpod("p3.1", node="node3", priority=MID, requests=MEDIUM, start=epoch(1)),
          vpod("p3.2", node="node3", priority=MID, requests=MEDIUM, start=epoch(1))],
         {"node2"}),
        ("same priority, same number of victims, different start time for all pods",
         ["node1", "node2", "node3"], vpod("p", priority=HIGH, requests=VERY_LARGE),
         [vpod("p1.1", node="node1", priority=MID, requests=MEDIUM, start=epoch(4)),
          vpod("p1.2", node="node1", priority=MID, requests=MEDIUM, start=epoch(2)),
          vpod("p2.1", node="node2", priority=MID, requests=MEDIUM, start=epoch(5)),
          vpod("p2.2", node="node2", priority=MID, requests=MEDIUM, start=epoch(1)),
          vpod("p3.1", node="node3", priority=MID, requests=MEDIUM, start=epoch(3)),
          vpod("p3.2", node="node3", priority=MID, requests=MEDIUM, start=epoch(6))],
         {"node3"}),
        ("different priority, same number of victims, different start time for all pods",
         ["node1", "node2", "node3"], vpod("p", priority=HIGH, requests=VERY_LARGE),
         [vpod("p1.1", node="node1", priority=LOW, requests=MEDIUM, start=epoch(4)),
          vpod("p1.2", node="node1", priority=MID, requests=MEDIUM, start=epoch(2)),
          vpod("p2.1", node="node2", priority=MID, requests=MEDIUM, start=epoch(6)),
          vpod("p2.2", node="node2", priority=LOW, requests=MEDIUM, start=epoch(1)),
          vpod("p3.1", node="node3", priority=LOW, requests=MEDIUM, start=epoch(3)),
          vpod("p3.2", node="node3", priority=MID, requests=MEDIUM, start=epoch(5))],
         {"node2"}),
    ],
)
@pytest.mark.parametrize("offset", [0, 1, 2, 3])
def test_select_best_candidate(case: str, nodes: list[str], pod: Any, pods: list[Any],
                               expected: set[str], offset: int) -> None:
    env = make_env([node(n, VERY_LARGE) for n in nodes], pods, preemptor=pod,
                   rng=ScriptedRandom([offset % len(nodes)]))
    state, pi = env.state_for(pod)
    ev: Evaluator = env.plugin.evaluator
    infos = list(env.snapshot.node_infos)
    o, k = ev.get_offset_and_num_candidates(len(infos))
    run = ev.dry_run_preemption(env.fwk, state, pi, infos, PDBChecker([]), o, k)
    best = ev.select_candidate(run.candidates)
    assert best is not None and best.node_name in expected, (case, best)


# ---- custom eligibility (upstream TestCustomSelection); the courtesy rule is one ----------


def _label_is(key: str, val: str) -> Any:
    return lambda ni, victim, preemptor: victim.pod.metadata.labels.get(key) == val


def _on_node(name: str) -> Any:
    return lambda ni, victim, preemptor: ni.name == name


def _preemptor_at_least(minimum: int) -> Any:
    return lambda ni, victim, preemptor: (preemptor.spec.priority or 0) >= minimum


def _victim_at_most(maximum: int) -> Any:
    return lambda ni, victim, preemptor: victim.priority <= maximum


LABELLED = [
    vpod("v1", labels={"preemptible": "no"}, node="node1", priority=MID, requests=LARGE),
    vpod("v2", labels={"preemptible": "yes"}, node="node2", priority=MID, requests=LARGE),
    vpod("v3", labels={"preemptible": "yes"}, node="node3", priority=LOW, requests=LARGE),
    vpod("v4", node="node4", priority=LOW, requests=LARGE),
]
ON_NODE1 = [
    vpod("v1", node="node1", priority=HIGH, requests=MEDIUM),
    vpod("v2", node="node1", priority=MID, requests=SMALL),
    vpod("v3", node="node1", priority=LOW, requests=SMALL),
    vpod("v4", node="node2", priority=MID, requests=LARGE),
    vpod("v5", node="node3", priority=LOW, requests=LARGE),
]
ON_NODE1_SMALL = [
    vpod("v1", node="node1", priority=HIGH, requests=SMALL),
    *ON_NODE1[1:],
]
ONE_EACH = [
    vpod("v1", node="node1", priority=HIGH, requests=LARGE),
    vpod("v2", node="node2", priority=MID, requests=LARGE),
    vpod("v3", node="node3", priority=LOW, requests=LARGE),
]


@pytest.mark.parametrize(
    ("case", "eligible", "n_nodes", "priority", "pods", "expected"),
    [
        ("filter for matching pod label: high priority", _label_is("preemptible", "yes"), 4,
         HIGH, LABELLED, {"node2": ["v2"], "node3": ["v3"]}),
        ("filter for matching pod label: mid priority", _label_is("preemptible", "yes"), 4,
         MID, LABELLED, {"node3": ["v3"]}),
        ("filter for matching pod label: low priority", _label_is("preemptible", "yes"), 4,
         LOW, LABELLED, {}),
        ("filter for matching victim node: high priority", _on_node("node1"), 3, HIGH,
         ON_NODE1, {"node1": ["v2", "v3"]}),
        ("filter for matching victim node: mid priority", _on_node("node1"), 3, MID,
         ON_NODE1_SMALL, {"node1": ["v3"]}),
        ("filter for matching victim node: low priority", _on_node("node1"), 3, LOW,
         ON_NODE1_SMALL, {}),
        ("only pods at or above specified priority can preempt: high priority",
         _preemptor_at_least(HIGH), 3, HIGH, ONE_EACH, {"node2": ["v2"], "node3": ["v3"]}),
        ("only pods at or above specified priority can preempt: mid priority",
         _preemptor_at_least(HIGH), 3, MID, ONE_EACH, {}),
        ("only pods at or below specified priority can be preempted: high priority",
         _victim_at_most(MID), 3, HIGH, ONE_EACH, {"node2": ["v2"], "node3": ["v3"]}),
    ],
)
def test_custom_selection(case: str, eligible: Any, n_nodes: int, priority: int,
                          pods: list[Any], expected: dict[str, list[str]]) -> None:
    pod = vpod("p", priority=priority, requests=LARGE)
    env = make_env([node(f"node{i}", VERY_LARGE) for i in range(1, n_nodes + 1)], pods,
                   preemptor=pod)
    ev: Evaluator = env.plugin.evaluator
    ev.is_eligible_pod = eligible
    state, pi = env.state_for(pod)
    infos = list(env.snapshot.node_infos)
    o, k = ev.get_offset_and_num_candidates(len(infos))
    candidates = ev.dry_run_preemption(env.fwk, state, pi, infos, PDBChecker([]), o,
                                       k).candidates
    assert len(candidates) == len(expected), case
    # Selected one after the other, each with its victims most important first.
    while candidates:
        best = ev.select_candidate(candidates)
        assert best is not None
        assert names(best.victims) == expected[best.node_name], case
        candidates = [c for c in candidates if c.node_name != best.node_name]


def test_courtesy_rule_protects_other_schedulers_pods() -> None:
    pods = [
        vpod("theirs", node="node1", priority=LOW, requests=LARGE, scheduler_name="other"),
        vpod("ours", node="node2", priority=MID, requests=LARGE, scheduler_name="pyscheduler"),
        vpod("mixed-ours", node="node3", priority=LOW, requests=SMALL,
             scheduler_name="pyscheduler"),
        vpod("mixed-theirs", node="node3", priority=LOW, requests=LARGE,
             scheduler_name="default-scheduler"),
    ]
    pod = vpod("p", priority=HIGH, requests=LARGE, scheduler_name="pyscheduler")
    env = make_env([node(f"node{i}", VERY_LARGE) for i in range(1, 4)], pods, preemptor=pod)
    ev: Evaluator = env.plugin.evaluator
    state, pi = env.state_for(pod)
    infos = list(env.snapshot.node_infos)

    def candidates(allowed: frozenset[str] | None) -> dict[str, list[str]]:
        ev.is_eligible_pod = courtesy_rule(allowed)
        run = ev.dry_run_preemption(env.fwk, state, pi, infos, PDBChecker([]), 0, 3)
        return {c.node_name: names(c.victims) for c in run.candidates}

    # Upstream (courtesy off): the cheapest victims are another scheduler's pods.
    assert candidates(None) == {"node1": ["theirs"], "node2": ["ours"],
                                "node3": ["mixed-theirs"]}
    # Courtesy on: only our pods; on node3 removing ours alone frees too little.
    assert candidates(frozenset({"pyscheduler"})) == {"node2": ["ours"]}
    assert candidates(frozenset({"pyscheduler", "default-scheduler"})) == {
        "node2": ["ours"], "node3": ["mixed-theirs"]}


# ---- PodEligibleToPreemptOthers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "pod", "pods", "nominated_status", "expected"),
    [
        ("pod with nominated node",
         vpod("p_with_nominated_node", priority=HIGH, nominated="node1"),
         [vpod("p1", priority=LOW, node="node1", deleting=True)],
         Code.UNSCHEDULABLE_AND_UNRESOLVABLE, True),
        ("pod without nominated node", vpod("p_without_nominated_node", priority=HIGH), [],
         None, True),
        ("pod with 'PreemptNever' preemption policy",
         vpod("p_with_preempt_never_policy", priority=HIGH, preemption_policy="Never"), [],
         None, False),
        ("preemption victim pod terminating, as indicated by the dedicated DisruptionTarget "
         "condition",
         vpod("p_with_nominated_node", priority=HIGH, nominated="node1"),
         [terminating_victim(vpod("p1", priority=LOW, node="node1"))], None, False),
        ("non-victim pods terminating",
         vpod("p_with_nominated_node", priority=HIGH, nominated="node1"),
         [vpod("p1", priority=LOW, node="node1", deleting=True)], None, True),
        ("terminating victim of higher priority does not count",
         vpod("p_with_nominated_node", priority=HIGH, nominated="node1"),
         [terminating_victim(vpod("p1", priority=VERY_HIGH, node="node1"))], None, True),
    ],
)
def test_pod_eligible_to_preempt_others(case: str, pod: Any, pods: list[Any],
                                        nominated_status: Code | None, expected: bool) -> None:
    env = make_env([node("node1")], pods, preemptor=pod)
    ok, _ = env.plugin.evaluator.pod_eligible_to_preempt_others(pod, env.snapshot,
                                                                 nominated_status)
    assert ok is expected, case


def test_terminating_victim_protected_by_courtesy_does_not_block() -> None:
    # A terminating pod that our courtesy rule would never preempt is not "our" victim.
    pod = vpod("p", priority=HIGH, nominated="node1", scheduler_name="pyscheduler")
    victim = terminating_victim(vpod("p1", priority=LOW, node="node1",
                                     scheduler_name="other"))
    env = make_env([node("node1")], [victim], preemptor=pod)
    ev: Evaluator = env.plugin.evaluator
    assert ev.pod_eligible_to_preempt_others(pod, env.snapshot, Code.UNSCHEDULABLE)[0] is False
    ev.is_eligible_pod = courtesy_rule(frozenset({"pyscheduler"}))
    assert ev.pod_eligible_to_preempt_others(pod, env.snapshot, Code.UNSCHEDULABLE)[0] is True


def test_terminating_by_preemption() -> None:
    assert terminating_by_preemption(terminating_victim(vpod("a")))
    assert not terminating_by_preemption(vpod("a", deleting=True))
    assert not terminating_by_preemption(vpod("a", conditions=[
        {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}]))
    assert not terminating_by_preemption(vpod("a", deleting=True, conditions=[
        {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}]))


# ---- SelectVictimsOnNode details -------------------------------------------------------------


def test_no_lower_priority_pods_is_unresolvable() -> None:
    pod = vpod("p", priority=MID, requests=LARGE)
    env = make_env([node("node1", VERY_LARGE)],
                   [vpod("p1", node="node1", priority=MID, requests=LARGE)], preemptor=pod)
    state, pi = env.state_for(pod)
    ni = env.snapshot.node_infos[0].clone()
    victims, n, st = env.plugin.evaluator.select_victims_on_node(env.fwk, state, pi, ni,
                                                                 PDBChecker([]))
    assert (victims, n) == ([], 0)
    assert st is not None and st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert st.reasons == [ERR_NO_VICTIMS]


def test_dry_run_leaves_the_cache_untouched() -> None:
    pod = vpod("p", priority=HIGH, requests=LARGE)
    env = make_env([node("node1", VERY_LARGE)],
                   [vpod("p1", node="node1", priority=MID, requests=LARGE)], preemptor=pod)
    live = env.snapshot.node_infos[0]
    before = (dict(live.requested), list(live.pods), env.snapshot.table.req.tolist())
    assert dry_run(env, pod) == [("node1", ["p1"], 0)]
    assert (dict(live.requested), list(live.pods), env.snapshot.table.req.tolist()) == before


def test_victims_sorted_most_important_first_when_pdb_groups_mix() -> None:
    # p-low violates a budget, p-mid does not: both must go, reported most important first.
    pods = [vpod("p-low", node="node1", priority=LOW, requests=MEDIUM, labels=FOO),
            vpod("p-mid", node="node1", priority=MID, requests=MEDIUM)]
    pod = vpod("p", priority=HIGH, requests=VERY_LARGE)
    env = make_env([node("node1", VERY_LARGE)], pods, preemptor=pod)
    state, pi = env.state_for(pod)
    victims, n, st = env.plugin.evaluator.select_victims_on_node(
        env.fwk, state, pi, env.snapshot.node_infos[0].clone(),
        PDBChecker([pdb(match_labels=FOO, allowed=0)]))
    assert st is None
    assert (names(victims), n) == (["p-mid", "p-low"], 1)


def test_pdb_violating_victims_are_reprieved_first() -> None:
    # Room for one of the two back: the PDB-protected one is tried (and kept) first, even
    # though it is less important.
    pods = [vpod("protected", node="node1", priority=LOW, requests=MEDIUM, labels=FOO),
            vpod("plain", node="node1", priority=MID, requests=MEDIUM)]
    pod = vpod("p", priority=HIGH, requests=LARGE)
    env = make_env([node("node1", VERY_LARGE)], pods, preemptor=pod)
    assert dry_run(env, pod, [pdb(match_labels=FOO, allowed=0)]) == [("node1", ["plain"], 0)]
    assert dry_run(env, pod) == [("node1", ["protected"], 0)]


def test_nominated_pods_count_during_the_dry_run() -> None:
    # An equal-priority pod nominated to node1 takes the room a victim would free.
    pod = vpod("p", priority=HIGH, requests=LARGE)
    env = make_env([node("node1", VERY_LARGE), node("node2", VERY_LARGE)],
                   [vpod("p1", node="node1", priority=MID, requests=LARGE),
                    vpod("p2", node="node2", priority=MID, requests=LARGE)], preemptor=pod)
    env.nominator.add_nominated_pod(PodInfo.of(vpod("n", priority=HIGH, requests=LARGE)),
                                    "node1")
    assert dry_run(env, pod) == [("node2", ["p2"], 0)]
    # A lower-priority nomination does not count.
    env.nominator.add_nominated_pod(PodInfo.of(vpod("n", priority=LOW, requests=LARGE)), "node1")
    assert dry_run(env, pod) == [("node1", ["p1"], 0), ("node2", ["p2"], 0)]


def test_pre_filter_extension_error_fails_the_node() -> None:
    pod = vpod("p", priority=HIGH, requests=LARGE)
    env = make_env([node("node1", LARGE, labels={"error": "true"}), node("node2", LARGE)],
                   [vpod("p1", node="node1"), vpod("p2", node="node2", requests=MEDIUM)],
                   preemptor=pod, extra_pre_filters=[ErroringExtensions()])
    state, pi = env.state_for(pod)
    ev: Evaluator = env.plugin.evaluator
    run = ev.dry_run_preemption(env.fwk, state, pi, list(env.snapshot.node_infos),
                                PDBChecker([]), 0, 2)
    assert [c.node_name for c in run.candidates] == ["node2"]
    assert run.errors == [
        'running RemovePod on PreFilter plugin "test-plugin": failed to remove pod: p']
    assert run.statuses["node1"].code == Code.ERROR


def test_potential_nodes_from_rows_and_names() -> None:
    import numpy as np

    env = make_env([node(f"n{i}") for i in range(4)])
    d = env.diagnosis(["n3", "missing"])
    d.resolvable_rows.append(np.array([env.snapshot.table.index["n1"]], dtype=np.int64))
    d.node_infos = env.snapshot.node_infos
    assert [ni.name for ni in potential_nodes(d, env.snapshot)] == ["n1", "n3"]


# ---- PreFilter extensions in the dry run (InterPodAffinity, PodTopologySpread) ------------------


def _with_spec(pod: Any, **fields: Any) -> Any:
    import msgspec

    from pyscheduler.model.pod import Pod

    obj = msgspec.to_builtins(pod)
    obj["spec"].update(fields)
    return msgspec.convert(obj, Pod)


EXISTS_FOO = {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}


def _labelled_nodes(*specs: str) -> list[Any]:
    """Upstream's "name/zone" node names: hostname and zone labels."""
    out = []
    for s in specs:
        parts = s.split("/")
        labels = dict(zip(("hostname", "zone", "region"), parts, strict=False))
        out.append(node(parts[0], VERY_LARGE, labels=labels))
    return out


def test_pod_with_anti_affinity_is_preempted() -> None:
    from pyscheduler.plugins import inter_pod_affinity

    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": EXISTS_FOO, "topologyKey": "hostname"}]}}
    pod = vpod("p", labels={"foo": ""}, priority=HIGH, requests=SMALL)
    pods = [
        _with_spec(vpod("p1.1", node="node1", labels={"foo": ""}, priority=LOW, requests=SMALL),
                   affinity=anti),
        vpod("p1.2", node="node1", priority=MID, requests=SMALL),
        vpod("p1.3", node="node1", priority=HIGH, requests=SMALL),
        vpod("p2", node="node2", priority=HIGH, requests=SMALL),
    ]
    ipa = inter_pod_affinity.new(None, None)  # type: ignore[arg-type]
    env = make_env(_labelled_nodes("node1", "node2"), pods, preemptor=pod,
                   extra_pre_filters=[ipa], extra_filters=[ipa])
    assert dry_run(env, pod) == [("node1", ["p1.1"], 0)]
    assert env.counter.calls == 3  # node2 has no lower-priority pod: no filter call


def test_preemption_resolves_pod_topology_spread() -> None:
    from pyscheduler.plugins import pod_topology_spread

    spread = [{"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": EXISTS_FOO} for key in ("zone", "hostname")]
    pod = _with_spec(vpod("p", labels={"foo": ""}, priority=HIGH),
                     topologySpreadConstraints=spread)
    pods = [
        vpod("pod-a1", node="node-a", labels={"foo": ""}, priority=MID),
        vpod("pod-a2", node="node-a", labels={"foo": ""}, priority=LOW),
        vpod("pod-b1", node="node-b", labels={"foo": ""}, priority=LOW),
        vpod("pod-x1", node="node-x", labels={"foo": ""}, priority=HIGH),
        vpod("pod-x2", node="node-x", labels={"foo": ""}, priority=HIGH),
    ]
    pts = pod_topology_spread.new(None, None)  # type: ignore[arg-type]
    env = make_env(_labelled_nodes("node-a/zone1", "node-b/zone1", "node-x/zone2"), pods,
                   preemptor=pod, extra_pre_filters=[pts], extra_filters=[pts],
                   resources_fit=False)
    assert dry_run(env, pod) == [("node-a", ["pod-a2"], 0), ("node-b", ["pod-b1"], 0)]
    assert env.counter.calls == 5  # node-a (3), node-b (2), node-x (0)
