"""The dry run's first pass (Evaluator.cannot_help) and the reprieve's room shortcut
(Evaluator.room_shortcut) change nothing but speed.

Over random clusters (capacities, pod slots, pods of several priorities, nominated pods of
higher priority), for a random preemptor:
* soundness: every node cannot_help rules out fails select_victims_on_node too;
* the dry run with the first pass and the shortcut returns the same candidates, in the same
  order, with the same victims, as the dry run over every node with every reprieve filtered;
  and when it finds none, the statuses too.
"""

from __future__ import annotations

import random

import pytest
from preemption_fixtures import make_env, node, pdb, vpod

from pyscheduler.framework.types import PodInfo
from pyscheduler.preemption.evaluator import Evaluator
from pyscheduler.preemption.pdb import PDBChecker


def _cluster(seed: int, *, counter_filter: bool = True) -> tuple[object, object]:
    rng = random.Random(seed)
    nodes = [node(f"n{i}", {"cpu": f"{rng.choice([1000, 2000, 4000])}m",
                            "memory": f"{rng.choice([1, 2, 4])}Gi"}, pods=rng.choice([2, 3, 8]))
             for i in range(rng.randint(2, 12))]
    pods = []
    for i in range(rng.randint(0, 30)):
        n = rng.choice(nodes).metadata.name
        pods.append(vpod(f"p{i}", node=n, priority=rng.choice([0, 5, 10, 20]),
                         requests={"cpu": f"{rng.choice([100, 300, 700, 1200])}m",
                                   "memory": f"{rng.choice([128, 512, 1024])}Mi"},
                         start=f"1970-01-01T00:00:{rng.randint(0, 59):02d}Z",
                         labels={"app": rng.choice("ab")}))
    preemptor = vpod("incoming", priority=rng.choice([5, 10, 15, 30]),
                     requests={"cpu": f"{rng.choice([200, 900, 1500, 3000])}m",
                               "memory": f"{rng.choice([256, 1024, 3072])}Mi"})
    env = make_env(nodes, pods, preemptor=preemptor, room_shortcut=True,
                   counter_filter=counter_filter)
    for j in range(rng.randint(0, 3)):
        nominated = vpod(f"nom{j}", priority=rng.choice([10, 20, 40]),
                         requests={"cpu": f"{rng.choice([300, 1000])}m", "memory": "256Mi"})
        env.nominator.add_nominated_pod(PodInfo.of(nominated), rng.choice(nodes).metadata.name)
    return env, preemptor


@pytest.mark.parametrize("room_only", [False, True])
@pytest.mark.parametrize("seed", range(300))
def test_first_pass_is_sound_and_changes_no_outcome(seed: int, room_only: bool) -> None:
    # room_only: NodeResourcesFit is the only filter, so the dry run takes the integer path
    # (Evaluator._select_by_room); otherwise a second filter keeps the general one.
    env, preemptor = _cluster(seed, counter_filter=not room_only)
    state, pi = env.state_for(preemptor)  # type: ignore[attr-defined]
    ev: Evaluator = env.plugin.evaluator  # type: ignore[attr-defined]
    infos = list(env.snapshot.node_infos)  # type: ignore[attr-defined]
    fwk = env.fwk  # type: ignore[attr-defined]
    for ni in infos:
        if ev.cannot_help(fwk, state, pi, ni):
            _, _, st = ev.select_victims_on_node(fwk, state.clone(), pi, ni.clone(),
                                                 PDBChecker([]))
            assert st is not None, ni.name
    # A budget on app=a for some seeds: PDB-violating victims are reprieved first.
    budgets = PDBChecker([pdb(match_labels={"app": "a"}, allowed=seed % 3)]
                         if seed % 2 else [])
    dry = state.clone()
    dry.settled_filters = fwk.settled_filters(dry)
    assert ev._resource_only(fwk, dry, pi) == room_only
    offset, k = seed % len(infos), 1 + seed % 4
    quick = ev._dry_run(fwk, state, pi, infos, budgets, offset, k, quick=True)
    ev.room_shortcut = False  # the reference: every node and every reprieve filtered
    full = ev._dry_run(fwk, state, pi, infos, budgets, offset, k, quick=False)
    ev.room_shortcut = True
    shape = [(c.node_name, [v.uid for v in c.victims], c.num_pdb_violations)
             for c in quick.candidates]
    assert shape == [(c.node_name, [v.uid for v in c.victims], c.num_pdb_violations)
                     for c in full.candidates]
    run = ev.dry_run_preemption(fwk, state, pi, infos, budgets, offset, k)
    assert [c.node_name for c in run.candidates] == [c.node_name for c in full.candidates]
    if not full.candidates:
        assert {n: s.message() for n, s in run.statuses.items()} == {
            n: s.message() for n, s in full.statuses.items()}


def test_first_pass_rules_out_nodes_full_of_nominated_pods() -> None:
    """The PreemptionBasic shape: a node whose one low pod is evictable, but a nominated pod
    of higher priority already claims the room; the full dry run fails it on cpu too."""
    env = make_env([node("n1", {"cpu": "4", "memory": "8Gi"})],
                   [vpod("low", node="n1", priority=0, requests={"cpu": "900m"})])
    env.nominator.add_nominated_pod(PodInfo.of(vpod("waiting", priority=10,
                                                    requests={"cpu": "3"})), "n1")
    incoming = vpod("incoming", priority=10, requests={"cpu": "3"})
    state, pi = env.state_for(incoming)
    ev: Evaluator = env.plugin.evaluator
    ni = env.snapshot.node_infos[0]
    assert ev.cannot_help(env.fwk, state, pi, ni)
    _, _, st = ev.select_victims_on_node(env.fwk, state.clone(), pi, ni.clone(), PDBChecker([]))
    assert st is not None and st.message() == "Insufficient cpu"
