"""NodeResourcesBalancedAllocation: upstream v1.37.2's balanced_allocation_test.go rows (per-node
and batch; the score is the change in balance the pod brings), the best-effort Skip, and args
validation."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from builders import make_node, make_pod, new_state, pod_info, scores_both, snapshot_of

from pyscheduler.framework.status import Code
from pyscheduler.plugins.noderesources.balanced_allocation import (
    BalancedAllocation,
    NodeResourcesBalancedAllocationArgs,
    balance,
    balanced_score,
    new,
)

GPU = "nvidia.com/gpu"
CPU_MEM = [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]
CPU_MEM_GPU = [*CPU_MEM, {"name": GPU, "weight": 1}]

CPU_ONLY = [{"cpu": "1000m", "memory": "0"}, {"cpu": "2000m", "memory": "0"}]
CPU_AND_MEMORY = [{"cpu": "1000m", "memory": "2000"}, {"cpu": "2000m", "memory": "3000"}]
CPU_MEMORY_GPU = [{"cpu": "1000m", "memory": "2000"},
                  {"cpu": "2000m", "memory": "3000", GPU: "3"}]


def plugin(resources: list[dict[str, Any]] | None = None) -> BalancedAllocation:
    args = msgspec.convert({"resources": resources} if resources is not None else {},
                           NodeResourcesBalancedAllocationArgs)
    return new(args, None)  # type: ignore[arg-type]


def node(name: str, milli_cpu: int, memory: int, gpus: int | None = None) -> Any:
    """Upstream's makeNode(name, milliCPU, memory, scalars)."""
    return make_node(name, cpu=f"{milli_cpu}m", memory=str(memory),
                     extra={GPU: str(gpus)} if gpus is not None else None)


CASES = [
    # Each comment: balance without the pod -> with it; score 50 + (50 + with - without) // 2.
    # node1 cpu 3000/4000, memory 5000/10000: 100 -> 87 = 68; node2 evenly used: 100 -> 100 = 75
    ("nothing scheduled, resources requested, differently sized nodes", CPU_MEM,
     CPU_AND_MEMORY, [node("n1", 4000, 10000), node("n2", 6000, 10000)], [], [68, 75]),
    # node1: 85 -> 82 = 73; node2: 97 -> 95 = 74
    ("resources requested, pods scheduled with resources", CPU_MEM, CPU_AND_MEMORY,
     [node("n1", 10000, 20000), node("n2", 10000, 20000)],
     [("n1", CPU_ONLY), ("n2", CPU_AND_MEMORY)], [73, 74]),
    # node1: 85 -> 82 = 73; node2: 90 -> 80 = 70
    ("resources requested, pods scheduled with resources, differently sized nodes", CPU_MEM,
     CPU_AND_MEMORY, [node("n1", 10000, 20000), node("n2", 10000, 50000)],
     [("n1", CPU_ONLY), ("n2", CPU_AND_MEMORY)], [73, 70]),
    # node1 (cpu full, memory empty): 50 -> 100 = 100; node2 (empty): 100 -> 50 = 50
    ("resources requested, pods scheduled with resources, nodes to reach min/max score",
     CPU_MEM, [{"memory": "2000"}, {"memory": "3000"}],
     [node("n1", 3000, 5000), node("n2", 3000, 5000)], [("n1", CPU_ONLY)], [100, 50]),
    # fractions capped at 1: node1 75 -> 50 = 62; node2 100 -> 75 = 62
    ("requested resources at node capacity", CPU_MEM, CPU_ONLY,
     [node("n1", 6000, 10000), node("n2", 6000, 10000)],
     [("n1", CPU_ONLY), ("n2", CPU_AND_MEMORY)], [62, 62]),
    # three fractions, population standard deviation: node1 69 -> 70 = 75; node2 62 -> 65 = 76
    ("scalar resource is included in the score computation if pod requests the scalar resource",
     CPU_MEM_GPU, [{"cpu": "0", "memory": "0", GPU: "1"}],
     [node("n1", 3500, 40000, 8), node("n2", 3500, 40000, 8)],
     [("n1", CPU_MEMORY_GPU), ("n2", CPU_AND_MEMORY)], [75, 76]),
    # the pod does not ask for the gpu: it is left out on both nodes; 100 -> 63 = 56
    ("node without the scalar resource should skip the scalar resource", CPU_MEM_GPU,
     CPU_AND_MEMORY, [node("n1", 3500, 40000, 8), node("n2", 3500, 40000)], [], [56, 56]),
]


@pytest.mark.parametrize(("name", "resources", "pod", "nodes", "pods", "want"), CASES,
                         ids=[c[0] for c in CASES])
def test_balanced_allocation(name: str, resources: list[dict[str, Any]],
                             pod: list[dict[str, str]], nodes: list[Any],
                             pods: list[tuple[str, list[dict[str, str]]]],
                             want: list[int]) -> None:
    assigned = [make_pod(f"e{i}", node=n, requests=reqs) for i, (n, reqs) in enumerate(pods)]
    snap = snapshot_of(nodes, assigned)
    pl = plugin(resources)
    pi = pod_info(make_pod("incoming", requests=pod))
    for run_pre_score in (True, False):  # upstream also scores without PreScore
        state = new_state()
        if run_pre_score:
            assert pl.pre_score(state, pi, snap, snap.all_rows()) is None
        got = scores_both(pl, state, pi, snap)
        assert [got[n.metadata.name] for n in nodes] == want


def test_best_effort_pod_is_skipped() -> None:
    snap = snapshot_of([node("n1", 4000, 10000)])
    st = plugin().pre_score(new_state(), pod_info(make_pod()), snap, snap.all_rows())
    assert st is not None and st.code == Code.SKIP
    # Empty containers count no requests here (plain requests, not the non-zero defaults).
    st = plugin().pre_score(new_state(), pod_info(make_pod(requests=[{}])), snap,
                            snap.all_rows())
    assert st is not None and st.code == Code.SKIP


def test_plain_requests_not_non_zero_defaults() -> None:
    # An existing pod with empty containers adds nothing: node1 stays (3000/4000, 5000/10000).
    snap = snapshot_of([node("n1", 4000, 10000)], [make_pod("e", node="n1", requests=[{}])])
    pl = plugin()
    state = new_state()
    pi = pod_info(make_pod(requests=CPU_AND_MEMORY))
    pl.pre_score(state, pi, snap, snap.all_rows())
    assert scores_both(pl, state, pi, snap) == {"n1": 68}  # 100 -> 87


def test_no_present_resource_scores_unchanged_balance() -> None:
    # Nodes without allocatable cpu/memory leave no fraction: std 0 with and without the pod.
    snap = snapshot_of([make_node("n1", cpu=None, memory=None)])
    pl = plugin()
    state = new_state()
    pi = pod_info(make_pod(requests=CPU_AND_MEMORY))
    pl.pre_score(state, pi, snap, snap.all_rows())
    assert scores_both(pl, state, pi, snap) == {"n1": 75}


def test_balanced_score_formula() -> None:
    assert balance([3000, 5000], [4000, 10000]) == 87
    assert balance([1, 1], [0, 0]) == 100
    assert balance([5, 0, 0], [10, 10, 0]) == 75
    # The change in balance: unchanged 75, evened out 100, skewed 50.
    assert balanced_score([3000, 5000], [3000, 5000], [4000, 10000]) == 75
    assert balanced_score([4000, 4000], [4000, 0], [4000, 4000]) == 100
    assert balanced_score([2000, 0], [0, 0], [2000, 2000]) == 50


def test_issue_20_change_in_balance_decides_between_nodes() -> None:
    """Derived from the issue-20 fuzz cases: the balance *with* the pod alone prefers n1 (90 vs
    85), the change the pod brings prefers n2, as upstream v1.37 scores it."""
    nodes = [node("n1", 4000, 4000), node("n2", 4000, 4000)]
    assigned = [make_pod("e1", node="n1", requests=[{"cpu": "400m", "memory": "400"}]),
                make_pod("e2", node="n2", requests=[{"cpu": "0", "memory": "2000"}])]
    snap = snapshot_of(nodes, assigned)
    pl = plugin()
    state = new_state()
    pi = pod_info(make_pod(requests=[{"cpu": "800m", "memory": "0"}]))
    pl.pre_score(state, pi, snap, snap.all_rows())
    assert balance([1200, 400], [4000, 4000]) > balance([800, 2000], [4000, 4000])
    # n1: (0.1, 0.1) 100 -> (0.3, 0.1) 90 = 70; n2: (0, 0.5) 75 -> (0.2, 0.5) 85 = 80
    assert scores_both(pl, state, pi, snap) == {"n1": 70, "n2": 80}
