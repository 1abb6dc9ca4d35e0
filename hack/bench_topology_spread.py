"""Micro-benchmark of PodTopologySpread on a large snapshot: per-pod filter + score time.

Cluster: N nodes (default 5,000) in Z zones (default 50; node i is in zone i % Z, every node
has its hostname label) and P existing pods of one spread workload (default 10,000, label
app=web, namespace default, placed round-robin so every zone holds the same number), plus
P/4 unrelated pods (other labels, another namespace) that the counting has to skip.

The incoming pod is one more app=web replica with the two constraints of a typical spread
deployment: zone maxSkew 1 DoNotSchedule and hostname maxSkew 1 ScheduleAnyway. One "cycle" is
PreFilter + batch Filter over every row + PreScore + batch Score + NormalizeScore over the
feasible rows, with a fresh CycleState and PodInfo each time. Three situations are timed:

* steady: a stream of replicas; after each cycle the pod is assumed on the best node, so the
  next cycle sees one changed node (what a scheduler scheduling a deployment does);
* warm: the same pod again and again on an unchanged cache (the kept counts are all valid);
* cold: the kept per-node counts are dropped before every cycle (the first pod of a workload,
  or every pod of workloads that never repeat a selector): a full walk of all pods.

A fourth line times the system default constraints (a pod owned by a ReplicaSet, no
constraints of its own: hostname maxSkew 3 + zone maxSkew 5, both ScheduleAnyway), score only.

Run: .venv/bin/python hack/bench_topology_spread.py [--nodes 5000] [--zones 50]
     [--pods 10000] [--number 50]
Prints milliseconds per pod (best of 5 repeats) for each situation, with the phase split.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import I64, Lister
from pyscheduler.framework.status import Code
from pyscheduler.framework.types import PodInfo
from pyscheduler.informers.indexer import NAMESPACE_INDEX, Indexer, index_by_namespace
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.model.workloads import ReplicaSet
from pyscheduler.plugins.pod_topology_spread import PodTopologySpread, PodTopologySpreadArgs

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
SELECTOR = {"matchLabels": {"app": "web"}}


class Handle:
    def __init__(self, listers: dict[str, Lister]) -> None:
        self.listers = listers

    def lister(self, resource: str) -> Lister | None:
        return self.listers.get(resource)


def build(n_nodes: int, zones: int, n_pods: int) -> SchedulerCache:
    cache = SchedulerCache()
    alloc = {"cpu": "64", "memory": "256Gi", "pods": "250"}
    for i in range(n_nodes):
        cache.add_node(msgspec.convert({
            "metadata": {"name": f"node-{i}", "labels": {
                HOSTNAME: f"node-{i}", ZONE: f"zone-{i % zones}"}},
            "status": {"allocatable": alloc, "capacity": alloc}}, Node))
    for j in range(n_pods):
        cache.add_pod(pod(f"web-{j}", node=f"node-{j % n_nodes}"))
    for j in range(n_pods // 4):
        cache.add_pod(msgspec.convert({
            "metadata": {"name": f"other-{j}", "namespace": "kube-system", "uid": f"o{j}",
                         "labels": {"app": "web"}},
            "spec": {"nodeName": f"node-{(7 * j) % n_nodes}"}}, Pod))
    return cache


def pod(name: str, *, node: str = "", constraints: bool = False, owner: bool = False) -> Pod:
    spec: dict[str, Any] = {}
    if node:
        spec["nodeName"] = node
    if constraints:
        spec["topologySpreadConstraints"] = [
            {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
             "labelSelector": SELECTOR},
            {"maxSkew": 1, "topologyKey": HOSTNAME, "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": SELECTOR}]
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": name,
                            "labels": {"app": "web"}}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": "web", "uid": "rs", "controller": True}]
    return msgspec.convert({"metadata": meta, "spec": spec}, Pod)


Phases = dict[str, float]


def cycle(p: PodTopologySpread, cache: SchedulerCache, pi: PodInfo, phases: Phases) -> I64:
    """One scheduling cycle of the plugin; returns the feasible rows by descending score."""
    snap = cache.snapshot
    state = CycleState()
    t0 = time.perf_counter()
    _, st = p.pre_filter(state, pi, snap)
    t1 = time.perf_counter()
    rows = snap.all_rows()
    if st is None:
        verdict = p.filter_nodes(state, pi, snap, rows)
        if verdict is not None:
            rows = rows[verdict.passed]
    else:
        assert st.code == Code.SKIP
    t2 = time.perf_counter()
    st = p.pre_score(state, pi, snap, rows)
    t3 = time.perf_counter()
    scores = np.zeros(len(rows), dtype=np.int64)
    if st is None:
        scores = p.score_nodes(state, pi, snap, rows)
        p.normalize_score(state, pi, scores)
    t4 = time.perf_counter()
    for k, d in (("preFilter", t1 - t0), ("filter", t2 - t1), ("preScore", t3 - t2),
                 ("score", t4 - t3)):
        phases[k] = phases.get(k, 0.0) + d
    return rows[np.argsort(-scores, kind="stable")]


def timed(name: str, number: int, run: Callable[[Phases], None]) -> None:
    best: tuple[float, Phases] | None = None
    for _ in range(5):
        phases: Phases = {}
        t = time.perf_counter()
        run(phases)
        total = time.perf_counter() - t
        if best is None or total < best[0]:
            best = (total, phases)
    assert best is not None
    total, phases = best
    split = "  ".join(f"{k} {1e3 * v / number:.2f}" for k, v in phases.items())
    print(f"{name:<34} {1e3 * total / number:7.2f} ms/pod   ({split})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--zones", type=int, default=50)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--number", type=int, default=50)
    a = ap.parse_args()
    t = time.perf_counter()
    cache = build(a.nodes, a.zones, a.pods)
    print(f"{a.nodes} nodes, {a.zones} zones, {a.pods} spread pods (+{a.pods // 4} others); "
          f"built in {time.perf_counter() - t:.1f}s")
    p = PodTopologySpread(PodTopologySpreadArgs(defaulting_type="List"))
    template = pod("incoming", constraints=True)
    counter = iter(range(10**9))

    def steady(phases: Phases) -> None:
        for _ in range(a.number):
            pi = PodInfo.of(pod(f"new-{next(counter)}", constraints=True))
            order = cycle(p, cache, pi, phases)
            cache.assume_pod(pi, cache.snapshot.node_infos[int(order[0])].name)

    def warm(phases: Phases) -> None:
        for _ in range(a.number):
            cycle(p, cache, PodInfo.of(template), phases)

    def cold(phases: Phases) -> None:
        for _ in range(a.number):
            p.counter._entries.clear()
            cycle(p, cache, PodInfo.of(template), phases)

    rs: Indexer[Any] = Indexer({NAMESPACE_INDEX: index_by_namespace})
    rs.add(msgspec.convert({"metadata": {"name": "web", "namespace": "default"},
                            "spec": {"selector": SELECTOR}}, ReplicaSet))
    system = PodTopologySpread(PodTopologySpreadArgs(), Handle({"replicasets": rs}))
    owned = pod("owned", owner=True)

    def system_defaults(phases: Phases) -> None:
        for _ in range(a.number):
            cycle(system, cache, PodInfo.of(owned), phases)

    cycle(p, cache, PodInfo.of(template), {})  # first sight of the selector: count once
    timed("steady (assume after each pod)", a.number, steady)
    timed("warm (unchanged cache)", a.number, warm)
    timed("cold (no kept counts)", a.number, cold)
    timed("system defaults, score only (warm)", a.number, system_defaults)


if __name__ == "__main__":
    main()
