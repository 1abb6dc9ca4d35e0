"""Micro-benchmark of InterPodAffinity's PreFilter + batch Filter + PreScore + batch Score.

Builds a cluster of N nodes (default 5,000; labels kubernetes.io/hostname, 3 zones) with P pods
(default 10,000) spread over them: a share of them (default 20%) belong to "anti" deployments
of 100 replicas whose pods carry required anti-affinity to their own app label on the hostname,
the rest belong to 50 plain services. With ``--unique-labels`` every existing pod also carries
a label of its own (as StatefulSet pods do), so no two pods share a shape. Then, per incoming
pod, it times what one scheduling cycle costs this plugin over *all* nodes:

  PreFilter + filter_nodes(all rows) + PreScore + score_nodes + normalize_score.

After each cycle the pod is assumed on the best feasible node, as the scheduler does, so the
next cycle sees one changed node. Scenarios (microseconds per pod, median and p90 of the timed
pods, the median CPU time of this thread per cycle, which is steadier than wall time on a
loaded machine, and the first cycle, which builds the plugin's cluster index):
* ``steady``: a stream of replicas of one anti deployment (required anti-affinity on hostname
  to their own label);
* ``unique``: the same, but every incoming pod has a label of its own too;
* ``preferred``: steady, but the pods also carry a *preferred* anti-affinity term on the zone;
* ``scratch``: steady with ``use_index=False``: every cycle recomputes every count from the
  NodeInfos (the reference path; upstream's per-cycle shape of work).

Run: .venv/bin/python hack/bench_inter_pod_affinity.py [--nodes 5000] [--pods 10000]
     [--anti-share 0.2] [--cycles 200] [--unique-labels]
The machine is shared: numbers under load are noisy; compare runs made back to back.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import msgspec
import numpy as np

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.status import Code
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.plugins.inter_pod_affinity import InterPodAffinity, InterPodAffinityArgs

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
ZONES = ["z0", "z1", "z2"]
REPLICAS = 100


def _anti(app: str, key: str) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}


def make_pod(name: str, app: str, node: str = "", anti_host: bool = False,
             preferred_zone: bool = False, unique: bool = False) -> Pod:
    spec: dict[str, Any] = {"nodeName": node} if node else {}
    paa: dict[str, Any] = {}
    if anti_host:
        paa["requiredDuringSchedulingIgnoredDuringExecution"] = [_anti(app, HOSTNAME)]
    if preferred_zone:
        paa["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {"weight": 10, "podAffinityTerm": _anti(app, ZONE)}]
    if paa:
        spec["affinity"] = {"podAntiAffinity": paa}
    labels = {"app": app}
    if unique:
        labels["statefulset.kubernetes.io/pod-name"] = name
    obj = {"metadata": {"name": name, "namespace": "default", "uid": name,
                        "labels": labels}, "spec": spec}
    return msgspec.convert(obj, Pod)


def build_cluster(n_nodes: int, n_pods: int, anti_share: float, seed: int = 1,
                  unique: bool = False) -> tuple[SchedulerCache, int]:
    rnd = random.Random(seed)
    cache = SchedulerCache()
    for i in range(n_nodes):
        obj = {"metadata": {"name": f"node-{i}",
                            "labels": {HOSTNAME: f"node-{i}", ZONE: ZONES[i % len(ZONES)]}},
               "status": {"allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"}}}
        cache.add_node(msgspec.convert(obj, Node))
    n_anti = int(n_pods * anti_share)
    n_deployments = max(1, n_anti // REPLICAS)
    for d in range(n_deployments):
        # replicas of one deployment on distinct nodes (their anti-affinity demands it)
        for k, node in enumerate(rnd.sample(range(n_nodes), REPLICAS)):
            cache.add_pod(make_pod(f"anti-{d}-{k}", f"anti-{d}", f"node-{node}", anti_host=True,
                                   unique=unique))
    for k in range(n_pods - n_deployments * REPLICAS):
        cache.add_pod(make_pod(f"plain-{k}", f"svc-{k % 50}", f"node-{rnd.randrange(n_nodes)}",
                               unique=unique))
    return cache, n_deployments


def run(cache: SchedulerCache, plugin: InterPodAffinity, app: str, cycles: int,
        preferred: bool, unique: bool, tag: str) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds of this thread) per cycle."""
    snap = cache.snapshot
    times: list[float] = []
    cpu: list[float] = []
    for i in range(cycles):
        pi = PodInfo.of(make_pod(f"{tag}-{i}", app, anti_host=True, preferred_zone=preferred,
                                 unique=unique))
        rows = snap.all_rows()
        c0, t0 = time.thread_time(), time.perf_counter()
        state = CycleState()
        _, st = plugin.pre_filter(state, pi, snap)
        feasible = rows
        if st is None:
            verdict = plugin.filter_nodes(state, pi, snap, rows)
            if verdict is not None:
                feasible = rows[verdict.passed]
        elif st.code != Code.SKIP:
            raise RuntimeError(st.message())
        scores = np.zeros(len(feasible), dtype=np.int64)
        st2 = plugin.pre_score(state, pi, snap, feasible)
        if st2 is None:
            scores = plugin.score_nodes(state, pi, snap, feasible)
            plugin.normalize_score(state, pi, scores)
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        if len(feasible) == 0:
            raise RuntimeError("no feasible node left; use fewer cycles")
        # Assume the pod where the scheduler would put it: the next cycle sees one change.
        best = int(feasible[int(np.argmax(scores))]) if len(scores) else int(feasible[0])
        cache.assume_pod(pi, snap.node_infos[best].name)
    return times, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--anti-share", type=float, default=0.2)
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--unique-labels", action="store_true",
                    help="every existing pod has a label of its own (no shared shapes)")
    a = ap.parse_args()
    t0 = time.perf_counter()
    cache, n_dep = build_cluster(a.nodes, a.pods, a.anti_share, unique=a.unique_labels)
    print(f"cluster: {a.nodes} nodes, {cache.pod_count} pods "
          f"({n_dep * REPLICAS} with required anti-affinity on hostname"
          f"{', every pod uniquely labeled' if a.unique_labels else ''}), "
          f"built in {time.perf_counter() - t0:.1f}s")
    results: dict[str, list[float]] = {}
    # Each scenario streams replicas of a different anti deployment so they do not interact.
    scenarios = [("steady", True, False, False), ("unique", True, False, True),
                 ("preferred", True, True, False), ("scratch", False, False, False)]
    for idx, (name, use_index, preferred, unique) in enumerate(scenarios):
        plugin = InterPodAffinity(InterPodAffinityArgs(), None, use_index=use_index)
        app = f"anti-{idx % n_dep}"
        first, _ = run(cache, plugin, app, 1, preferred, unique, f"{name}-first")
        wall, cpu = run(cache, plugin, app, a.cycles, preferred, unique, name)
        results[name] = wall
        med = statistics.median(wall) * 1e6
        p90 = sorted(wall)[int(len(wall) * 0.9)] * 1e6
        cpu_med = statistics.median(cpu) * 1e6
        print(f"{name:>10}: median {med:8.0f} us/pod   p90 {p90:8.0f} us/pod   "
              f"cpu median {cpu_med:8.0f} us/pod   (first cycle {first[0] * 1e6:8.0f} us)")


if __name__ == "__main__":
    main()
