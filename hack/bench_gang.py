"""In-process benchmark of the pod group (gang) cycle against single-pod scheduling.

Builds SchedulerApp (the real frameworks, queue, cache and scheduling loop of
``pyscheduler run``) on an API client that is never used, with N nodes (default 5,000, 4 cpu
each, as scheduler_perf's) and the Coscheduling plugin enabled. It then schedules:

* ``basic``: P pods without a group (SchedulingBasic's shape, 100m cpu / 128Mi each);
* ``gang-8`` and ``gang-64``: the same number of pods in scheduler-plugins PodGroups of 8 or 64
  members (minMember = the group size).

Each run pops every pod and runs its scheduling cycle (for a group: the whole group cycle),
on a fresh cluster. Binds are not sent: a placed pod stays assumed in the cache, as the
algorithm's ceiling (the in-process "cycle" measurement of hack/bench). Every node is
evaluated (no sampling).

Run: .venv/bin/python -m hack.bench_gang [--nodes 5000] [--pods 4096] [--repeat 3]
Prints pods/s and groups/s per workload, the median of the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from typing import Any

import msgspec

from envtest.nodes import fake_node

CONFIG = """apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
percentageOfNodesToScore: 100
profiles:
- schedulerName: pyscheduler
  plugins:
    multiPoint:
      enabled:
      - name: Coscheduling
"""


async def _run(nodes: int, pods: int, group_size: int) -> tuple[float, int]:
    from kubernetes_asyncio.client import ApiClient, Configuration

    from pyscheduler.config import parse_config
    from pyscheduler.model.node import Node
    from pyscheduler.model.pod import Pod
    from pyscheduler.model.podgroup import (
        COSCHEDULING_POD_GROUPS,
        POD_GROUP_LABEL,
        CoschedulingPodGroup,
    )
    from pyscheduler.plugins.registry import default_registry
    from pyscheduler.scheduler.scheduler import SchedulerApp

    reg = default_registry()
    client = ApiClient(Configuration(host="http://127.0.0.1:9"))
    app = SchedulerApp(client, parse_config(CONFIG, plugins=reg), registry=reg)

    class Quiet:
        def scheduled(self, *a: Any) -> None: ...
        def failed(self, *a: Any) -> None: ...
        def forget(self, *a: Any) -> None: ...
        def event(self, *a: Any, **k: Any) -> None: ...

    app.scheduler.reporter = Quiet()  # type: ignore[assignment]
    app.handlers.reporter = Quiet()  # type: ignore[assignment]
    for i in range(nodes):
        node = msgspec.convert(fake_node(f"n{i}", cpu="4", memory="32Gi", pods=110), Node)
        app.nodes.indexer.add(node)
        app.handlers._node_add(node)
    groups = 0
    for i in range(pods):
        labels = {}
        if group_size:
            name = f"g{i // group_size}"
            labels[POD_GROUP_LABEL] = name
            if i % group_size == 0:
                groups += 1
                app.listers[COSCHEDULING_POD_GROUPS].add(  # type: ignore[attr-defined]
                    msgspec.convert({"metadata": {"name": name, "namespace": "b"},
                                     "spec": {"minMember": group_size}},
                                    CoschedulingPodGroup))
        pod = msgspec.convert({
            "metadata": {"name": f"p{i}", "namespace": "b", "uid": f"u{i}", "labels": labels},
            "spec": {"schedulerName": "pyscheduler", "containers": [{"name": "c", "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"}}}]},
            "status": {}}, Pod)
        app.pods.indexer.add(pod)
    # Queue them only once every member exists, as a burst that has landed would be.
    for pod in app.pods.indexer.list():
        app.queue.add(pod)
    gc.collect()
    start = time.perf_counter()
    while (queued := app.queue.try_pop()) is not None:
        app.scheduler.schedule_one(queued)
    elapsed = time.perf_counter() - start
    assumed = sum(1 for _, (_, a) in app.cache.pod_uids().items() if a)
    assert assumed == pods, f"only {assumed} of {pods} placed"
    for t in list(app.scheduler.binding_tasks):
        t.cancel()
    await asyncio.gather(*app.scheduler.binding_tasks, return_exceptions=True)
    await client.close()
    return elapsed, groups


def main() -> None:
    """Run the three workloads and print the medians."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    from pyscheduler.cmd import logsetup

    logsetup.configure("warning")  # one info line per group would be timed too
    print(f"{a.nodes} nodes, {a.pods} pods, median of {a.repeat}")
    for label, size in (("basic", 0), ("gang-8", 8), ("gang-64", 64)):
        runs = [asyncio.run(_run(a.nodes, a.pods, size)) for _ in range(a.repeat)]
        secs = statistics.median(r[0] for r in runs)
        groups = runs[0][1]
        line = f"{label:8s} {a.pods / secs:8.0f} pods/s"
        if groups:
            line += f" {groups / secs:8.1f} groups/s"
        print(line, flush=True)


if __name__ == "__main__":
    main()
