"""Framework runtime: filter ordering, batch vs per-node plugins, diagnostics, scoring."""

from __future__ import annotations

import random

import msgspec
import numpy as np

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import I64, Failure, FilterVerdict
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.runtime import (
    Diagnosis,
    Framework,
    num_feasible_nodes_to_find,
)
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import PodInfo, QueuedPodInfo
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod


class Sort:
    name = "Sort"

    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
        return a.timestamp < b.timestamp


class Binder:
    name = "Binder"

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        return None


class EvenOnly:
    """Batch filter: only nodes whose number is even; odd ones are unresolvable."""

    name = "EvenOnly"

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        if int(node_info.name[1:]) % 2:
            return Status.unresolvable("node(s) were odd")
        return None

    def filter_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                     rows: I64) -> FilterVerdict | None:
        odd = np.array([int(snapshot.node_infos[r].name[1:]) % 2 == 1 for r in rows])
        return FilterVerdict(~odd, [Failure("node(s) were odd", odd,
                                            Code.UNSCHEDULABLE_AND_UNRESOLVABLE)])


class NotFour:
    """Per-node filter that rejects n4 (resolvable)."""

    name = "NotFour"

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        return Status.unschedulable("node(s) were four") if node_info.name == "n4" else None


class ByNumber:
    name = "ByNumber"

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        return int(node_info.name[1:])


def make(n: int) -> SchedulerCache:
    cache = SchedulerCache()
    for i in range(n):
        cache.add_node(msgspec.convert(
            {"metadata": {"name": f"n{i}"}, "status": {"allocatable": {"pods": "10"}}}, Node))
    return cache


def fwk(*plugins: object, percentage: int | None = None) -> Framework:
    ps = {p.name: p for p in (Sort(), Binder(), *plugins)}  # type: ignore[attr-defined]
    points = {"queueSort": ["Sort"], "bind": ["Binder"],
              "filter": [p.name for p in plugins if hasattr(p, "filter")],  # type: ignore[attr-defined]
              "score": [p.name for p in plugins if hasattr(p, "score")]}  # type: ignore[attr-defined]
    return Framework("p", ps, points, {"ByNumber": 2}, rng=random.Random(1),  # type: ignore[arg-type]
                     percentage_of_nodes_to_score=percentage)


POD = PodInfo.of(msgspec.convert({"metadata": {"name": "x", "namespace": "d", "uid": "u"}}, Pod))


def test_first_failing_filter_wins_and_message_is_upstream_format() -> None:
    cache = make(6)
    f = fwk(EvenOnly(), NotFour())
    d = Diagnosis(num_all_nodes=6)
    rows = f.find_nodes_that_pass_filters(CycleState(), POD, cache.snapshot,
                                          cache.snapshot.all_rows(), d)
    names = sorted(cache.snapshot.node_infos[r].name for r in rows)
    assert names == ["n0", "n2"]
    assert d.message() == "0/6 nodes are available: 1 node(s) were four, 3 node(s) were odd."
    assert d.resolvable_nodes == ["n4"]  # odd nodes are unresolvable: no preemption there
    assert d.unschedulable_plugins == {"EvenOnly", "NotFour"}


def test_scores_are_weighted_and_best_is_selected() -> None:
    cache = make(4)
    f = fwk(ByNumber())
    rows = cache.snapshot.all_rows()
    total = f.run_score(CycleState(), POD, cache.snapshot, rows)
    assert list(total) == [0, 2, 4, 6]
    assert f.select_host(cache.snapshot, rows, total) == "n3"


def test_ties_are_broken_among_the_best_only() -> None:
    cache = make(4)
    f = fwk()
    rows = cache.snapshot.all_rows()
    picks = {f.select_host(cache.snapshot, rows, np.array([5, 9, 9, 1])) for _ in range(50)}
    assert picks == {"n1", "n2"}


def test_num_feasible_nodes_to_find_matches_upstream() -> None:
    assert num_feasible_nodes_to_find(None, 5000) == 5000
    assert num_feasible_nodes_to_find(0, 50) == 50  # below the minimum: all
    assert num_feasible_nodes_to_find(0, 5000) == 5000 * 10 // 100  # adaptive 50-40=10%
    assert num_feasible_nodes_to_find(0, 100_000) == 5000  # adaptive floor 5%
    assert num_feasible_nodes_to_find(1, 1000) == 100  # never below 100
    assert num_feasible_nodes_to_find(30, 1000) == 300


def test_pre_filter_result_absent_nodes_message() -> None:
    d = Diagnosis(num_all_nodes=3, evaluated=1,
                  absent_reason="node(s) didn't satisfy plugin(s) [NodeName]")
    d.reasons["node(s) were odd"] = 1
    assert d.message() == (
        "0/3 nodes are available: 1 node(s) were odd, "
        "2 node(s) didn't satisfy plugin(s) [NodeName]."
    )
