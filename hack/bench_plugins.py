"""Micro-benchmark of the issue-4 plugins' batch forms on a large snapshot.

Builds a cluster of N nodes (default 5,000; 3 zones, 4 instance types, 10% tainted, 2% cordoned,
5% with GPUs) with P assigned pods per node (default 10), then times, per plugin, what one
scheduling cycle costs for one typical pod over *all* nodes:

* filter = PreFilter + batch Filter over every row,
* score  = PreScore + batch Score + NormalizeScore over every row,

with a fresh CycleState and an empty ``PodInfo.memo`` each time (so compiling the pod's
selectors is included). The typical pod requests 500m cpu / 512Mi memory in two containers,
selects ``disk=ssd``, requires zone in {z0, z1}, prefers two instance types and tolerates
nothing. It has no host port, so NodePorts' PreFilter returns Skip; NodePorts is also timed,
separately, for a variant of the pod that asks for one host port.

Run: .venv/bin/python hack/bench_plugins.py [--nodes 5000] [--pods-per-node 10] [--number 200]
Prints microseconds per pod (best of 5 repeats) for each plugin and the total.
"""

from __future__ import annotations

import argparse
import random
import time
import timeit
from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Code
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.plugins import (
    node_affinity,
    node_name,
    node_ports,
    node_unschedulable,
    taint_toleration,
)
from pyscheduler.plugins.noderesources import balanced_allocation
from pyscheduler.plugins.noderesources import fit as node_resources_fit

ZONES = ["z0", "z1", "z2"]
TYPES = ["m5.large", "m5.xlarge", "c5.2xlarge", "r5.4xlarge"]


def build_cluster(n_nodes: int, pods_per_node: int, seed: int = 1) -> SchedulerCache:
    rnd = random.Random(seed)
    cache = SchedulerCache()
    for i in range(n_nodes):
        alloc = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "200Gi"}
        if rnd.random() < 0.05:
            alloc["nvidia.com/gpu"] = "8"
        taints = []
        if rnd.random() < 0.10:
            taints.append({"key": "dedicated", "value": rnd.choice(["gpu", "infra"]),
                           "effect": "NoSchedule"})
        if rnd.random() < 0.05:
            taints.append({"key": "spot", "value": "true", "effect": "PreferNoSchedule"})
        node = {
            "metadata": {"name": f"node-{i}", "labels": {
                "kubernetes.io/hostname": f"node-{i}",
                "topology.kubernetes.io/zone": ZONES[i % len(ZONES)],
                "node.kubernetes.io/instance-type": rnd.choice(TYPES),
                "disk": rnd.choice(["ssd", "ssd", "hdd"]),
            }},
            "spec": {"unschedulable": rnd.random() < 0.02, "taints": taints},
            "status": {"allocatable": alloc, "capacity": alloc},
        }
        cache.add_node(msgspec.convert(node, Node))
    uid = 0
    for i in range(n_nodes):
        for _ in range(rnd.randint(0, 2 * pods_per_node)):
            uid += 1
            containers: list[dict[str, Any]] = [{"name": "app", "resources": {"requests": {
                "cpu": f"{rnd.choice([100, 250, 500, 1000])}m",
                "memory": f"{rnd.choice([128, 256, 512, 1024])}Mi"}}}]
            if rnd.random() < 0.02:
                containers[0]["ports"] = [{"containerPort": 9100, "hostPort": 9100}]
            pod = {"metadata": {"name": f"p{uid}", "namespace": "default", "uid": f"u{uid}"},
                   "spec": {"nodeName": f"node-{i}", "containers": containers}}
            cache.add_pod(msgspec.convert(pod, Pod))
    return cache


def typical_pod(host_port: bool = False) -> Pod:
    containers: list[dict[str, Any]] = [
        {"name": "app", "resources": {"requests": {"cpu": "400m", "memory": "384Mi"}}},
        {"name": "sidecar", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
    ]
    if host_port:
        containers[0]["ports"] = [{"containerPort": 8080, "hostPort": 8080}]
    pod = {
        "metadata": {"name": "web-0", "namespace": "default", "uid": "web-0"},
        "spec": {
            "containers": containers,
            "nodeSelector": {"disk": "ssd"},
            "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "topology.kubernetes.io/zone",
                                           "operator": "In", "values": ["z0", "z1"]}]}]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "preference": {"matchExpressions": [
                        {"key": "node.kubernetes.io/instance-type", "operator": "In",
                         "values": ["m5.xlarge", "c5.2xlarge"]}]}}],
            }},
        },
    }
    return msgspec.convert(pod, Pod)


def filter_once(pl: Any, pi: PodInfo, snap: Snapshot) -> None:
    pi.memo.clear()
    state = CycleState()
    if hasattr(pl, "pre_filter"):
        _, st = pl.pre_filter(state, pi, snap)
        if st is not None and st.code != Code.SUCCESS:
            return
    pl.filter_nodes(state, pi, snap, snap.all_rows())


def score_once(pl: Any, pi: PodInfo, snap: Snapshot) -> None:
    pi.memo.clear()
    state = CycleState()
    rows = snap.all_rows()
    st = pl.pre_score(state, pi, snap, rows)
    if st is not None:
        return
    scores = pl.score_nodes(state, pi, snap, rows)
    if hasattr(pl, "normalize_score"):
        pl.normalize_score(state, pi, scores)


def best_us(fn: Callable[[], None], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods-per-node", type=int, default=10)
    ap.add_argument("--number", type=int, default=200)
    a = ap.parse_args()

    t0 = time.perf_counter()
    cache = build_cluster(a.nodes, a.pods_per_node)
    snap = cache.snapshot
    print(f"cluster: {snap.num_nodes} nodes, {cache.pod_count} pods "
          f"(built in {time.perf_counter() - t0:.1f}s)")

    pi = PodInfo.of(typical_pod())
    pi_port = PodInfo.of(typical_pod(host_port=True))
    plugins: list[tuple[str, Any, PodInfo]] = [
        ("NodeUnschedulable", node_unschedulable.new(None, None), pi),  # type: ignore[arg-type]
        ("NodeName", node_name.new(None, None), pi),  # type: ignore[arg-type]
        ("TaintToleration", taint_toleration.new(None, None), pi),  # type: ignore[arg-type]
        ("NodeAffinity", node_affinity.new(None, None), pi),  # type: ignore[arg-type]
        ("NodePorts", node_ports.new(None, None), pi),  # type: ignore[arg-type]
        ("NodeResourcesFit", node_resources_fit.new(None, None), pi),  # type: ignore[arg-type]
        ("NodeResourcesBalancedAllocation", balanced_allocation.new(None, None), pi),  # type: ignore[arg-type]
    ]

    # First call per plugin builds the per-snapshot caches (label codes, taint sets).
    for _, pl, p in plugins:
        if hasattr(pl, "filter_nodes"):
            filter_once(pl, p, snap)
        if hasattr(pl, "score_nodes"):
            score_once(pl, p, snap)

    print(f"{'plugin':34} {'filter µs':>10} {'score µs':>10}")
    total_f = total_s = 0.0
    for name, pl, p in plugins:
        f = s = 0.0
        if hasattr(pl, "filter_nodes"):
            f = best_us(partial(filter_once, pl, p, snap), a.number)
        if hasattr(pl, "score_nodes"):
            s = best_us(partial(score_once, pl, p, snap), a.number)
        total_f += f
        total_s += s
        print(f"{name:34} {f:10.1f} {s:10.1f}")
    print(f"{'total':34} {total_f:10.1f} {total_s:10.1f}   (filter + score: "
          f"{total_f + total_s:.1f} µs per pod over {snap.num_nodes} nodes)")
    ports_pl = node_ports.new(None, None)  # type: ignore[arg-type]
    hp = best_us(partial(filter_once, ports_pl, pi_port, snap), a.number)
    print(f"{'NodePorts, pod with a hostPort':34} {hp:10.1f}   (not in the total: a typical "
          "pod has no host port, so its PreFilter returns Skip)")


if __name__ == "__main__":
    main()
