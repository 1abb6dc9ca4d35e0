"""NodeResourcesBalancedAllocation: upstream's balanced_allocation_test.go rows (per-node and
batch), the best-effort Skip, and args validation."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from builders import make_node, make_pod, new_state, pod_info, scores_both, snapshot_of

from pyscheduler.framework.status import Code
from pyscheduler.plugins.noderesources.balanced_allocation import (
    BalancedAllocation,
    NodeResourcesBalancedAllocationArgs,
    balanced_score,
    new,
)
from pyscheduler.plugins.validation import ArgsError

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
    # cpu 3000/4000, memory 5000/10000: std 0.125 -> 87; node2 evenly used -> 100
    ("nothing scheduled, resources requested, differently sized nodes", CPU_MEM,
     CPU_AND_MEMORY, [node("n1", 4000, 10000), node("n2", 6000, 10000)], [], [87, 100]),
    # node1 cpu 6000/10000, memory 5000/20000: std 0.175 -> 82; node2: std 0.05 -> 95
    ("resources requested, pods scheduled with resources", CPU_MEM, CPU_AND_MEMORY,
     [node("n1", 10000, 20000), node("n2", 10000, 20000)],
     [("n1", CPU_ONLY), ("n2", CPU_AND_MEMORY)], [82, 95]),
    ("resources requested, pods scheduled with resources, differently sized nodes", CPU_MEM,
     CPU_AND_MEMORY, [node("n1", 10000, 20000), node("n2", 10000, 50000)],
     [("n1", CPU_ONLY), ("n2", CPU_AND_MEMORY)], [82, 80]),
    # fractions capped at 1: node1 (1, 0) -> 50; node2 (1, 0.5) -> 75
    ("requested resources at node capacity", CPU_MEM, CPU_ONLY,
     [node("n1", 6000, 10000), node("n2", 6000, 10000)],
     [("n1", CPU_ONLY), ("n2", CPU_AND_MEMORY)], [50, 75]),
    # three fractions: population standard deviation
    ("include scalar resource on a node for balanced resource allocation", CPU_MEM_GPU,
     [{"memory": "0", GPU: "1"}], [node("n1", 3500, 40000, 8), node("n2", 3500, 40000, 8)],
     [("n1", CPU_MEMORY_GPU), ("n2", CPU_AND_MEMORY)], [70, 65]),
    # the pod does not ask for the gpu: it is left out on both nodes
    ("node without the scalar resource should skip the scalar resource", CPU_MEM_GPU,
     CPU_AND_MEMORY, [node("n1", 3500, 40000, 8), node("n2", 3500, 40000)], [], [63, 63]),
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
    assert scores_both(pl, state, pi, snap) == {"n1": 87}


def test_no_present_resource_scores_max() -> None:
    # Nodes without allocatable cpu/memory leave no fraction: std 0.
    snap = snapshot_of([make_node("n1", cpu=None, memory=None)])
    pl = plugin()
    state = new_state()
    pi = pod_info(make_pod(requests=CPU_AND_MEMORY))
    pl.pre_score(state, pi, snap, snap.all_rows())
    assert scores_both(pl, state, pi, snap) == {"n1": 100}


def test_balanced_score_formula() -> None:
    assert balanced_score([3000, 5000], [4000, 10000]) == 87
    assert balanced_score([1, 1], [0, 0]) == 100
    assert balanced_score([5, 0, 0], [10, 10, 0]) == 75


def test_args_defaults_and_validation() -> None:
    args = msgspec.convert({}, NodeResourcesBalancedAllocationArgs)
    assert [(r.name, r.weight) for r in args.resources] == [("cpu", 1), ("memory", 1)]
    args = msgspec.convert({"resources": [{"name": "cpu", "weight": 0}]},
                           NodeResourcesBalancedAllocationArgs)
    assert [(r.name, r.weight) for r in args.resources] == [("cpu", 1)]
    with pytest.raises(ArgsError) as err:
        plugin([{"name": "cpu", "weight": 2}, {"name": "cpu", "weight": 1}])
    assert str(err.value) == (
        "[resources[0].weight: Invalid value: 2: must be 1, "
        'resources[1].name: Duplicate value: "cpu"]'
    )
