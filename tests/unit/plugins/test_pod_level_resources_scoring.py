"""Pod-level requests in the resource scorers, with kube-scheduler v1.37.2's own numbers.

Upstream's NodeResourcesFit builds its resourceAllocationScorer without the
enablePodLevelResources flag, so its score counts the incoming pod's *container* requests (with
the 100m / 200Mi defaults for missing ones, overhead added) and ignores ``spec.resources``;
NodeResourcesBalancedAllocation sets the flag and counts the pod-level requests. The node side
counts pod-level requests in both (PodInfo.CalculateResource). The expected scores are the
per-plugin scores kube-scheduler logged for the random differential scenarios fuzz-4-116 (pod p2)
and fuzz-5-187 (pod p5), where pyscheduler once chose another node.
"""

from __future__ import annotations

from typing import Any

import msgspec
from builders import make_node, make_pod, new_state, pod_info, scores_both, snapshot_of

from pyscheduler.plugins.noderesources.balanced_allocation import (
    NodeResourcesBalancedAllocationArgs,
)
from pyscheduler.plugins.noderesources.balanced_allocation import new as new_balanced
from pyscheduler.plugins.noderesources.fit import NodeResourcesFitArgs
from pyscheduler.plugins.noderesources.fit import new as new_fit


def _scores(plugin: Any, pod: Any, nodes: list[Any], pods: list[Any]) -> dict[str, int]:
    snap = snapshot_of(nodes, pods)
    pi = pod_info(pod)
    state = new_state()
    assert plugin.pre_score(state, pi, snap, snap.all_rows()) is None
    got: dict[str, int] = scores_both(plugin, state, pi, snap)
    return got


def _fit() -> Any:
    return new_fit(msgspec.convert({}, NodeResourcesFitArgs), None)  # type: ignore[arg-type]


def _balanced() -> Any:
    return new_balanced(msgspec.convert({}, NodeResourcesBalancedAllocationArgs),
                        None)  # type: ignore[arg-type]


def test_fuzz_4_116_pod_level_cpu_without_container_cpu() -> None:
    # p2: one container asking 3392Mi and no cpu; pod level 400m / 3392Mi; empty nodes.
    p2 = make_pod("p2", requests={"memory": "3392Mi"},
                  pod_level={"cpu": "400m", "memory": "3392Mi"})
    nodes = [make_node("n1", cpu="2", memory="16Gi"), make_node("n4", cpu="2", memory="8Gi"),
             make_node("n10", cpu="8", memory="16Gi")]
    # Fit counts the container default 100m: n1 (95 + 79) // 2 = 87, not 400m's 79.
    assert _scores(_fit(), p2, nodes, []) == {"n1": 87, "n4": 76, "n10": 88}
    # BalancedAllocation counts 400m: n1 cpu 0.2 / memory 0.207 keeps the node even.
    assert _scores(_balanced(), p2, nodes, []) == {"n1": 74, "n4": 69, "n10": 71}


def test_fuzz_5_187_overhead_and_pod_level_on_both_sides() -> None:
    # p5: container 150m (no memory), pod level 550m / 128Mi, RuntimeClass overhead 500m/512Mi.
    p5 = make_pod("p5", requests={"cpu": "150m"}, pod_level={"cpu": "550m", "memory": "128Mi"},
                  overhead={"cpu": "500m", "memory": "512Mi"})
    nodes = [make_node("n3", cpu="2", memory="8Gi"), make_node("n4", cpu="8", memory="16Gi")]
    pods = [
        # e4 on n3: its pod-level 700m counts in the node's non-zero sum (not its 500m).
        make_pod("e4", node="n3", requests={"cpu": "500m", "memory": "896Mi"},
                 pod_level={"cpu": "700m", "memory": "896Mi"}),
        # n4: p1 (which preempted e1) and p3.
        make_pod("p1", node="n4", requests={"cpu": "2550m", "memory": "5312Mi"}),
        make_pod("p3", node="n4", requests={"cpu": "1450m", "memory": "1600Mi"}),
    ]
    # Fit: the pod counts 150m + 500m and 200Mi + 512Mi; n3 (32 + 80) // 2 = 56.
    assert _scores(_fit(), p5, nodes, pods) == {"n3": 56, "n4": 47}
    assert _scores(_balanced(), p5, nodes, pods) == {"n3": 64, "n4": 72}
