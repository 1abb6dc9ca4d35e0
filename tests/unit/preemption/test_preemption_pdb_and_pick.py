"""PDB accounting (upstream filterPodsWithPDBViolation), the PDB model, and the candidate choice
(pickOneNodeForPreemption) on hand-made candidates."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from preemption_fixtures import epoch, pdb, vpod

from pyscheduler.framework.types import PodInfo
from pyscheduler.model.pdb import PodDisruptionBudget
from pyscheduler.preemption.candidates import (
    Candidate,
    more_important,
    pick_one_node_for_preemption,
    sort_by_importance,
)
from pyscheduler.preemption.pdb import PDBChecker


def pis(*pods: Any) -> list[PodInfo]:
    return [PodInfo.of(p) for p in pods]


def split_names(pdbs: list[Any], pods: list[PodInfo]) -> tuple[list[str], list[str]]:
    v, nv = PDBChecker(pdbs).split(pods)
    return [p.pod.metadata.name for p in v], [p.pod.metadata.name for p in nv]


APP = {"app": "foo"}


def test_budget_is_charged_in_order() -> None:
    pods = pis(vpod("a", labels=APP), vpod("b", labels=APP), vpod("c", labels=APP))
    assert split_names([pdb(match_labels=APP, allowed=1)], pods) == (["b", "c"], ["a"])
    assert split_names([pdb(match_labels=APP, allowed=3)], pods) == ([], ["a", "b", "c"])
    # Every call starts again from disruptionsAllowed (each node's dry run is separate).
    checker = PDBChecker([pdb(match_labels=APP, allowed=1)])
    assert len(checker.split(pods)[0]) == len(checker.split(pods)[0]) == 2


def test_disrupted_pods_are_not_charged() -> None:
    pods = pis(vpod("a", labels=APP), vpod("b", labels=APP))
    assert split_names([pdb(match_labels=APP, allowed=1, disrupted=["a"])], pods) == (
        [], ["a", "b"])
    assert split_names([pdb(match_labels=APP, allowed=0, disrupted=["b"])], pods) == (
        ["a"], ["b"])


@pytest.mark.parametrize(
    ("budget", "violating"),
    [
        (pdb(match_labels=APP, allowed=0, namespace="other"), False),  # other namespace
        (pdb(allowed=0), False),  # no selector: matches nothing
        (pdb(selector={}, allowed=0), False),  # empty selector: nothing, for preemption
        (pdb(selector={"matchExpressions": [{"key": "app", "operator": "In", "values": []}]},
             allowed=0), False),  # invalid selector
        (pdb(selector={"matchExpressions": [{"key": "app", "operator": "Exists",
                                             "values": ["x"]}]}, allowed=0), False),
        (pdb(selector={"matchExpressions": [{"key": "app", "operator": "Gt",
                                             "values": ["1"]}]}, allowed=0), False),
        (pdb(selector={"matchExpressions": [{"key": "app", "operator": "Exists"}]},
             allowed=0), True),
        (pdb(selector={"matchExpressions": [{"key": "app", "operator": "NotIn",
                                             "values": ["bar"]}]}, allowed=0), True),
        (pdb(match_labels={"app": "bar"}, allowed=0), False),
        (pdb(match_labels=APP, allowed=0), True),
    ],
)
def test_which_budgets_match(budget: Any, violating: bool) -> None:
    pods = pis(vpod("a", labels=APP))
    assert split_names([budget], pods) == ((["a"], []) if violating else ([], ["a"]))


def test_pod_without_labels_matches_nothing() -> None:
    # Even a NotIn selector, which would select an unlabelled pod, is not consulted.
    budget = pdb(selector={"matchExpressions": [{"key": "app", "operator": "NotIn",
                                                  "values": ["bar"]}]}, allowed=0)
    assert split_names([budget], pis(vpod("a"))) == ([], ["a"])


def test_any_violated_budget_makes_the_pod_violating() -> None:
    pods = pis(vpod("a", labels={"app": "foo", "tier": "web"}))
    budgets = [pdb("one", match_labels={"app": "foo"}, allowed=5),
               pdb("two", match_labels={"tier": "web"}, allowed=0)]
    assert split_names(budgets, pods) == (["a"], [])


def test_pdb_model_decodes_api_json() -> None:
    raw = {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "b", "namespace": "ns", "uid": "u"},
        "spec": {"minAvailable": "50%", "maxUnavailable": 1,
                 "selector": {"matchLabels": {"app": "x"}},
                 "unhealthyPodEvictionPolicy": "AlwaysAllow"},
        "status": {"disruptionsAllowed": 2, "currentHealthy": 3, "desiredHealthy": 1,
                   "expectedPods": 3, "observedGeneration": 4,
                   "disruptedPods": {"x-1": "2024-01-01T00:00:00Z"},
                   "conditions": [{"type": "DisruptionAllowed", "status": "True"}]},
    }
    b = msgspec.json.decode(msgspec.json.encode(raw), type=PodDisruptionBudget)
    assert b.spec.min_available == "50%" and b.spec.max_unavailable == 1
    assert b.spec.selector is not None and b.spec.selector.match_labels == {"app": "x"}
    assert b.status.disruptions_allowed == 2
    assert b.status.disrupted_pods == {"x-1": "2024-01-01T00:00:00Z"}
    assert PodDisruptionBudget().status.disruptions_allowed == 0


# ---- ordering and choice ------------------------------------------------------------------------


def test_more_important() -> None:
    hi, lo = PodInfo.of(vpod("hi", priority=10)), PodInfo.of(vpod("lo", priority=1))
    old, new = (PodInfo.of(vpod("old", priority=1, start=epoch(1))),
                PodInfo.of(vpod("new", priority=1, start=epoch(2))))
    not_started = PodInfo.of(vpod("pending", priority=1))
    assert more_important(hi, lo) and not more_important(lo, hi)
    assert more_important(old, new) and not more_important(new, old)
    assert more_important(new, not_started, now=1e9)  # not started counts as "now"
    pods = [lo, new, not_started, hi, old]
    sort_by_importance(pods, now=1e9)
    assert [p.pod.metadata.name for p in pods] == ["hi", "old", "new", "lo", "pending"]


def cand(name: str, *victims: tuple[int, str | None], pdb_violations: int = 0) -> Candidate:
    vs = [PodInfo.of(vpod(f"{name}-{i}", priority=p, start=s))
          for i, (p, s) in enumerate(victims)]
    sort_by_importance(vs, now=1e9)
    return Candidate(name, vs, pdb_violations)


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        # fewest PDB violations first, whatever the rest says
        ([cand("a", (0, None), pdb_violations=1), cand("b", (900, None), (900, None))], "b"),
        # then the lowest highest-victim priority
        ([cand("a", (100, None)), cand("b", (50, None), (50, None), (50, None))], "b"),
        # then the smallest priority sum (shifted: more negative victims are not cheaper)
        ([cand("a", (100, None), (-100, None), (-100, None)),
          cand("b", (100, None), (-100, None))], "b"),
        # then the fewest victims
        ([cand("a", (100, None), (0, None)), cand("b", (100, None), (0, None)),
          cand("c", (100, None))], "c"),
        # then the latest start among the highest-priority victims
        ([cand("a", (100, epoch(2)), (0, epoch(50))), cand("b", (100, epoch(3)), (0, epoch(1)))],
         "b"),
        # a full tie: the first in the list
        ([cand("a", (100, epoch(2))), cand("b", (100, epoch(2)))], "a"),
    ],
)
def test_pick_one_node_for_preemption(candidates: list[Candidate], expected: str) -> None:
    best = pick_one_node_for_preemption(candidates, now=1e9)
    assert best is not None and best.node_name == expected


def test_pick_from_nothing() -> None:
    assert pick_one_node_for_preemption([]) is None
