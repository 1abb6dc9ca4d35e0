"""In-process mode: pyscheduler's own scheduling against an in-memory cluster, no API.

Contract:
* The cluster is the end-to-end mode's, built in memory: the same node bodies
  (envtest.fake_node with scheduler_perf's sizes and labels), the same pod templates, init pods
  assigned round-robin, all decoded into pyscheduler's model with msgspec as the informers do.
  The profile is built from the same KubeSchedulerConfiguration the end-to-end run gives
  pyscheduler (so the same plugins run), and every node is evaluated (no sampling).
* Two measurements per size, each on a freshly built cluster:
  - **cycle**: for each pod, PodInfo, ``Scheduler.schedule_pod`` (PreFilter..Score, select),
    assume, Reserve, Permit, then the informer-side confirmation of the bound pod
    (``cache.add_pod``). Per-pod times give p50/p99. This is the algorithm's ceiling.
  - **loop**: the real ``PriorityQueue`` and ``Scheduler.run`` with a binder that answers at
    once and confirms the pod the way app.py's informer handlers do. This adds the queue, the
    asyncio binding task per pod, metrics and logging as ``pyscheduler run`` logs by default
    (info, JSON, here into /dev/null): what a process with an infinitely fast API server would
    reach.
* ``profile()`` runs the loop once more under pyinstrument and returns the top functions by
  self time; ``memory()`` measures, in a child process, the RSS of 5,000 nodes and 100,000 pods
  decoded from API-shaped JSON pages into the informer's Indexer and the scheduler cache.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from envtest.nodes import fake_node
from hack.bench import procstat
from hack.bench.results import FAILED, NOT_APPLICABLE, InProcResult, percentile
from hack.bench.schedulers import missing_default_plugins, registered_plugins, scheduler_config
from hack.bench.workloads import (
    HIGH_PRIORITY,
    HIGH_PRIORITY_CLASS,
    INIT_NS,
    MEASURE_NS,
    NODE_CPU,
    NODE_MEMORY,
    NODE_PODS,
    SCHEDULER_NAME,
    Workload,
)

SIZES = (100, 1000, 5000, 15000)
# Every size runs SchedulingBasic; the other workloads run at this size only, unless asked
# (``--inproc-all``), to keep the default run short.
OTHERS_AT = 5000
# Workloads the in-process mode can run: no churn (it is time-based) and no preemption (its
# victims are deleted through the API).
# SchedulingRequiredPodAntiAffinityWithNSSelector is left out: its namespaceSelector needs the
# Namespace objects, which the in-memory cluster does not have.
RUNNABLE = ("SchedulingBasic", "SchedulingNodeAffinity", "SchedulingPodAntiAffinity",
            "TopologySpreading", "SchedulingPodAffinity", "SchedulingPreferredPodAffinity",
            "SchedulingPreferredPodAntiAffinity", "MixedSchedulingBasePod",
            "PreferredTopologySpreading")


def sized(w: Workload, nodes: int, measure_pods: int) -> Workload:
    """The workload at ``nodes`` nodes: one init pod per node, and as many measured pods as
    fit comfortably (scheduler_perf's 4-cpu nodes take 40 of its 100m pods). Pod
    anti-affinity allows one pod per node: init pods on a fifth of the nodes, as
    scheduler_perf's 500Nodes parameters (100 init, 400 measured)."""
    if w.name == "SchedulingPodAntiAffinity":
        init = nodes // 5
        return Workload(w.spec, nodes, init, min(measure_pods, nodes - init))
    return Workload(w.spec, nodes, nodes if w.spec.init_template else 0,
                    min(measure_pods, nodes * 20))


def _decode_pod(body: dict[str, Any], uid: str) -> Any:
    from pyscheduler.model.pod import Pod

    body["metadata"]["uid"] = uid
    if body["spec"].get("priorityClassName") == HIGH_PRIORITY_CLASS:
        body["spec"]["priority"] = HIGH_PRIORITY  # what the Priority admission plugin does
    return msgspec.json.decode(msgspec.json.encode(body), type=Pod)


class _Cluster:
    """A SchedulerCache filled with the workload's nodes and init pods, and its frameworks."""

    def __init__(self, w: Workload) -> None:
        from pyscheduler.backend.cache.cache import SchedulerCache
        from pyscheduler.backend.queue.nominator import Nominator
        from pyscheduler.config import parse_config
        from pyscheduler.framework.runtime import FrameworkOptions
        from pyscheduler.model.node import Node
        from pyscheduler.plugins.registry import default_registry
        from pyscheduler.scheduler.profile import build_frameworks

        self.cache = SchedulerCache()
        node_decoder = msgspec.json.Decoder(Node)
        labels = w.spec.node_labels
        for i in range(w.nodes):
            body = fake_node(f"kwok-node-{i}", cpu=NODE_CPU, memory=NODE_MEMORY, pods=NODE_PODS,
                             labels=labels(i) if labels else None)
            self.cache.add_node(node_decoder.decode(msgspec.json.encode(body)))
        if w.spec.init_template is not None:
            for i in range(w.init_pods):
                body = w.spec.init_template(f"init-{i}", INIT_NS)
                body["spec"]["nodeName"] = f"kwok-node-{i % w.nodes}"
                self.cache.add_pod(_decode_pod(body, f"init-{i}"))
        self.pending = [_decode_pod(w.spec.measure_template(f"m-{i}", MEASURE_NS), f"m-{i}")
                        for i in range(w.measure_pods)]
        self.pods = {f"{MEASURE_NS}/{p.metadata.name}": p for p in self.pending}
        cfg = scheduler_config(Path("/dev/null"), 5000, 5000, missing_default_plugins())
        self.config = parse_config(json.dumps(cfg), plugins=default_registry())
        self.nominator = Nominator(self._lookup)
        self.binder = _Binder(self)
        self.frameworks = build_frameworks(
            self.config,
            lambda profile: FrameworkOptions(snapshot=self.cache.snapshot,
                                             binding_client=self.binder,
                                             nominator=self.nominator),
        )
        self.fwk = self.frameworks[SCHEDULER_NAME]

    def _lookup(self, key: str, uid: str) -> Any:
        pod = self.pods.get(key)
        return pod if pod is not None and pod.metadata.uid == uid else None

    def bound_copy(self, pod: Any, node: str) -> Any:
        return msgspec.structs.replace(pod, spec=msgspec.structs.replace(pod.spec,
                                                                         node_name=node))


class _Binder:
    """DefaultBinder's client: succeeds at once; the confirmation follows on the next turn of
    the loop, as the informer's update would."""

    def __init__(self, cluster: _Cluster) -> None:
        self.cluster = cluster
        self.bound = 0
        self.on_bound: Callable[[], None] = lambda: None
        self.queue: Any = None

    async def bind(self, pod: Any, node_name: str) -> None:
        asyncio.get_running_loop().call_soon(self._confirm, pod, node_name)

    def _confirm(self, pod: Any, node: str) -> None:
        c = self.cluster
        new = c.bound_copy(pod, node)
        c.pods[f"{pod.metadata.namespace}/{pod.metadata.name}"] = new
        # app.py: the pending handler sees the pod leave (delete), the assigned one an add.
        if self.queue is not None:
            self.queue.delete(pod)
        c.cache.add_pod(new)
        c.nominator.delete_nominated_pod_if_exists(new)
        if self.queue is not None:
            self.queue.assigned_pod_added(new)
        self.bound += 1
        self.on_bound()


class _NullReporter:
    def scheduled(self, pod: Any, node: str) -> None:
        pass

    def failed(self, pod: Any, reason: str, message: str, nominated_node: str | None) -> None:
        pass


class _NullQueue:
    def done(self, uid: str) -> None:
        pass

    def scheduling_cycle(self) -> int:
        return 0

    def add_unschedulable_if_not_present(self, qpi: Any, cycle: int) -> None:
        raise RuntimeError(f"pod {qpi.key} did not fit")

    def move_all_to_active_or_backoff(self, event: Any, old: Any = None, new: Any = None,
                                      precheck: Any = None) -> None:
        pass

    async def pop(self) -> Any:
        return None


def run_cycle(w: Workload) -> tuple[float, list[float], float, float | None]:
    """Pods/s, per-pod cycle times (s), build time (s) and the process's RSS (MiB) with the
    cluster loaded; see module doc."""
    _log_as_run()
    from pyscheduler.framework.cycle_state import CycleState
    from pyscheduler.framework.types import PodInfo
    from pyscheduler.scheduler.schedule_one import Scheduler

    t = time.perf_counter()
    c = _Cluster(w)
    build_s = time.perf_counter() - t
    sched = Scheduler(c.cache, _NullQueue(), c.frameworks, _NullReporter(), c.pods.get)
    fwk = c.fwk
    times: list[float] = []
    # As SchedulerApp does after its informers sync: the cluster state is long-lived, so it is
    # moved out of the collector's view (otherwise full collections walk it mid-measurement).
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    for pod in c.pending:
        t0 = time.perf_counter()
        pi = PodInfo.of(pod)
        state = CycleState()
        host = sched.schedule_pod(fwk, state, pi).suggested_host
        c.cache.assume_pod(pi, host)
        if fwk.run_reserve(state, pi, host) is not None:
            raise RuntimeError("reserve failed")
        st, _ = fwk.run_permit(state, pi, host)
        if st is not None:
            raise RuntimeError("permit failed")
        c.cache.add_pod(c.bound_copy(pod, host))
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    gc.unfreeze()
    return len(c.pending) / total, times, build_s, procstat.rss_mib(os.getpid())


async def _loop(c: _Cluster) -> float:
    from pyscheduler.backend.queue.scheduling_queue import PriorityQueue
    from pyscheduler.scheduler.schedule_one import Scheduler

    fwk = c.fwk
    queue = PriorityQueue(fwk.less, pre_enqueue_plugins=fwk.pre_enqueue_plugins(),
                          events_by_plugin=fwk.events_by_plugin(), nominator=c.nominator)
    sched = Scheduler(c.cache, queue, c.frameworks, _NullReporter(), c.pods.get, c.nominator)
    c.binder.queue = queue
    n = len(c.pending)
    finished = asyncio.Event()

    def on_bound() -> None:
        if c.binder.bound >= n:
            finished.set()

    c.binder.on_bound = on_bound
    queue.run()
    start = time.perf_counter()
    for pod in c.pending:
        queue.add(pod)
    runner = asyncio.create_task(sched.run())
    await finished.wait()
    elapsed = time.perf_counter() - start
    queue.close()
    await sched.drain(grace=5)
    await runner
    await queue.aclose()
    return n / elapsed


@functools.cache
def _log_as_run() -> None:
    """Log as ``pyscheduler run`` does by default (info, one JSON object per line), into
    /dev/null: the loop then pays for the per-pod "Successfully bound" line as a real process
    does. Without this structlog's defaults render every debug line for the console, three
    per pod, which no run does. Once per process."""
    from pyscheduler.cmd.logsetup import configure

    configure("info", fmt="json", stream=open(os.devnull, "w"))  # noqa: SIM115 (process-long)


def run_loop(w: Workload) -> float:
    _log_as_run()
    c = _Cluster(w)
    gc.collect()
    gc.freeze()  # as SchedulerApp after informer sync
    try:
        return asyncio.run(_loop(c))
    finally:
        gc.unfreeze()


def not_applicable(w: Workload) -> str | None:
    if w.name not in RUNNABLE:
        return "not runnable in-process (time-based churn or API-side preemption)"
    missing = [p for p in w.spec.requires if p not in registered_plugins()]
    if missing:
        return f"plugin(s) not registered yet: {', '.join(missing)}"
    return None


def run(w: Workload) -> InProcResult:
    res = InProcResult(w.name, w.nodes, w.init_pods, w.measure_pods)
    why = not_applicable(w)
    if why is not None:
        res.status, res.reason = NOT_APPLICABLE, why
        return res
    try:
        pps, times, build_s, rss = run_cycle(w)
        res.cycle_pods_per_s, res.build_s, res.rss_mib = pps, build_s, rss
        res.cycle_p50_us = (percentile(times, 50) or 0) * 1e6
        res.cycle_p99_us = (percentile(times, 99) or 0) * 1e6
        res.loop_pods_per_s = run_loop(w)
    except Exception as err:
        res.status, res.reason = FAILED, f"{type(err).__name__}: {err}"
    return res


# ------------------------------------------------------------------------------ profiling


def profile(w: Workload, out_dir: Path, top: int = 15) -> list[dict[str, Any]]:
    """Run the loop under pyinstrument; write profile.html/.txt; return the top self times."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return [{"error": "pyinstrument is not installed (pip install -e '.[bench]')"}]
    _log_as_run()
    c = _Cluster(w)
    gc.collect()
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    asyncio.run(_loop(c))
    profiler.stop()
    (out_dir / "profile.html").write_text(profiler.output_html())
    (out_dir / "profile.txt").write_text(profiler.output_text(unicode=False, color=False,
                                                              show_all=False))
    session = profiler.last_session
    root = session.root_frame() if session is not None else None
    if session is None or root is None:
        return []
    total = session.duration or 1.0
    self_times: dict[tuple[str, str, int], float] = {}
    stack = [root]
    while stack:
        frame = stack.pop()
        stack.extend(frame.children)
        # A "[self]" child is synthetic: its time is already in its parent's total_self_time.
        if frame.is_synthetic or not frame.function:
            continue
        own = frame.total_self_time
        if own <= 0:
            continue
        key = (frame.function, frame.file_path_short or "", frame.line_no or 0)
        self_times[key] = self_times.get(key, 0.0) + own
    ranked = sorted(self_times.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return [{"function": fn, "where": f"{path}:{line}", "self_s": round(s, 4),
             "self_pct": round(100.0 * s / total, 1)} for (fn, path, line), s in ranked]


# ------------------------------------------------------------------------------ memory


def memory(nodes: int, pods: int, page: int = 500) -> dict[str, Any]:
    """RSS of ``nodes`` nodes and ``pods`` pods cached, measured in a child process."""
    out = subprocess.run(
        [sys.executable, "-m", "hack.bench.inproc", "--memory-worker", str(nodes), str(pods),
         str(page)],
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _memory_worker(nodes: int, pods: int, page: int) -> None:
    """Decode API-shaped pages (hack/bench_decode.py's generators: managedFields, status,
    ...) with the reflector's ListDecoder into Indexers and the SchedulerCache, as a synced
    informer pair would hold them."""
    import random

    from hack.bench_decode import make_node, make_pod
    from pyscheduler.api.listwatch import ListDecoder
    from pyscheduler.backend.cache.cache import SchedulerCache
    from pyscheduler.informers.indexer import (
        NAMESPACE_INDEX,
        NODE_NAME_INDEX,
        Indexer,
        index_by,
        index_by_namespace,
    )
    from pyscheduler.model.node import Node
    from pyscheduler.model.pod import Pod

    base = procstat.rss_mib(os.getpid()) or 0.0
    t = time.perf_counter()
    rng = random.Random(1)
    cache = SchedulerCache()
    node_index: Indexer[Node] = Indexer({})
    pod_index: Indexer[Pod] = Indexer({
        NAMESPACE_INDEX: index_by_namespace,
        NODE_NAME_INDEX: index_by(lambda p: p.spec.node_name),
    })
    node_dec, pod_dec = ListDecoder(Node), ListDecoder(Pod)

    def body(items: list[dict[str, Any]]) -> bytes:
        return msgspec.json.encode({"kind": "List", "apiVersion": "v1",
                                    "metadata": {"resourceVersion": "1"}, "items": items})

    for start in range(0, nodes, page):
        decoded, _ = node_dec.decode(body([make_node(i)
                                           for i in range(start, min(nodes, start + page))]))
        for n in decoded:
            node_index.add(n)
            cache.add_node(n)
    for start in range(0, pods, page):
        decoded_pods, _ = pod_dec.decode(body([make_pod(i, nodes, rng)
                                               for i in range(start, min(pods, start + page))]))
        for p in decoded_pods:
            pod_index.add(p)
            cache.add_pod(p)
    seconds = time.perf_counter() - t
    gc.collect()
    pid = os.getpid()
    print(json.dumps({
        "nodes": nodes, "pods": pods, "cached_pods": cache.pod_count,
        "rss_mib": procstat.rss_mib(pid), "peak_rss_mib": procstat.peak_rss_mib(pid),
        "baseline_rss_mib": base, "seconds": round(seconds, 1),
    }))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--memory-worker":
        _memory_worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit("usage: python -m hack.bench.inproc --memory-worker NODES PODS PAGE")
