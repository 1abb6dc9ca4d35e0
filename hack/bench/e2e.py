"""End-to-end mode: each scheduler against a real kube-apiserver, etcd and KWOK.

Contract, per sized workload (:func:`run_workload`):

1. One fresh control plane (envtest) with the workload's nodes (scheduler_perf's
   node template, labels by index) made Ready by KWOK, and its pre-bound init pods (see
   workloads.py), waited on until KWOK reports them Running.
2. Then each run (one QPS setting x one scheduler), in turn, on that same cluster:
   a. the scheduler is started; a warm-up pod is created and waited on until bound: the
      scheduler has synced and is scheduling, so start-up is not measured (it is reported);
   a'. a gang workload's PodGroups are created (outside the measurement, as scheduler_perf's
      createPodGroups); groups/s and the groups left partly bound are reported with pods/s;
   b. churn starts (if the workload has one), KWOK is paused (SIGSTOP, see below), the bind
      watcher (watcher.py) starts, the scheduler's CPU time is read, and the measured pods are
      created concurrently by an unthrottled admin client, their send times recorded;
   c. when every measured pod is seen bound (or at the run's deadline, or when the scheduler
      dies) the scheduler's CPU and peak RSS are read, KWOK resumes, the scheduler stops;
   d. the next run starts from the same state: measured, warm-up and churn objects are
      deleted (grace period 0) and init pods deleted by preemption are created again.
3. The control plane is torn down.

Why KWOK is paused while measuring (``--kwok-running`` keeps it running): scheduler_perf runs
no kubelets, so nothing but the scheduler and the test writes while it measures. Running,
KWOK renews every node's lease and moves every bound pod to Running, several writes per pod
and per node that compete with both schedulers for the same 2 cores and the same API server.
No controller-manager runs (see envtest), so nothing marks nodes NotReady meanwhile.

The harness, the control plane and the scheduler share the machine's cores: figures from a
2-core machine are noisy, and the results record what else was busy (kube-apiserver CPU, load).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from envtest import ControlPlane, ControlPlaneOptions, fake_node
from hack.bench import procstat
from hack.bench.results import (
    FAILED,
    NOT_APPLICABLE,
    OK,
    E2EResult,
    group_throughput,
    measure,
)
from hack.bench.schedulers import (
    CEILINGS,
    PYSCHEDULER,
    missing_default_plugins,
    registered_plugins,
    start,
)
from hack.bench.watcher import BindWatcher, WatchTarget
from hack.bench.workloads import (
    CHURN_MIXED,
    CHURN_NS,
    CHURN_UNSCHEDULABLE,
    GANG_APISERVER_ARGS,
    HIGH_PRIORITY,
    HIGH_PRIORITY_CLASS,
    INIT_NS,
    MEASURE_NS,
    NAMESPACE_LABELS,
    NAMESPACES,
    NODE_CPU,
    NODE_MEMORY,
    NODE_PODS,
    WARMUP_NS,
    Workload,
    gang_group_name,
    pod_default,
    pod_group,
    pod_high_priority_large_cpu,
)

_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class E2EOptions:
    assets: Path
    results_dir: Path
    create_concurrency: int = 32
    timeout_scale: float = 1.0
    match_profiles: bool = False
    # Stop KWOK (SIGSTOP) while measuring; it resumes for the next run's reset.
    pause_kwok: bool = True
    # Drain mode: create the measured pods while the scheduler is stopped (SIGSTOP), then
    # release it and measure from the release: the scheduler's own pace, creation excluded.
    drain: bool = False
    log: Callable[[str], None] = print


class Api:
    """A small admin client over aiohttp: JSON in, JSON out, retries on overload."""

    def __init__(self, cp: ControlPlane, *, connections: int) -> None:
        ctx = ssl.create_default_context(cafile=str(cp.ca_file))
        ctx.load_cert_chain(str(cp.admin_cert_file), str(cp.admin_key_file))
        self.base = cp.apiserver_url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ctx, limit=connections),
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def close(self) -> None:
        await self.session.close()

    async def request(self, method: str, path: str, body: bytes | None = None,
                      params: dict[str, str] | None = None, *, ok: tuple[int, ...] = ()
                      ) -> Any:
        """Send; retry 429/5xx/connection errors; statuses in ``ok`` count as success."""
        delay = 0.05
        for attempt in range(6):
            try:
                async with self.session.request(
                    method, self.base + path, data=body, params=params,
                    headers={"Content-Type": "application/json"} if body is not None else None,
                ) as resp:
                    data = await resp.read()
                    if resp.status < 300 or resp.status in ok:
                        return msgspec.json.decode(data) if data else None
                    if resp.status != 429 and resp.status < 500:
                        raise RuntimeError(f"{method} {path}: {resp.status} {data[:300]!r}")
            except (aiohttp.ClientError, TimeoutError):
                if attempt == 5:
                    raise
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)
        raise RuntimeError(f"{method} {path}: gave up after retries")

    async def create_many(self, path: str, bodies: list[tuple[str, bytes]], concurrency: int,
                          sent: dict[str, float] | None = None) -> None:
        """POST every body, ``concurrency`` at a time; record send times into ``sent``."""
        it = iter(bodies)

        async def worker() -> None:
            for name, body in it:
                if sent is not None:
                    sent[name] = time.monotonic()
                # 409: a retried create that had in fact succeeded.
                await self.request("POST", path, body, ok=(409,))

        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))


def _pod_bodies(template: Callable[[str, str], dict[str, Any]], prefix: str, ns: str, n: int,
                node_of: Callable[[int], str] | None = None) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        name = f"{prefix}-{i}"
        body = template(name, ns)
        if node_of is not None:
            body["spec"]["nodeName"] = node_of(i)
        out.append((name, _encode(body)))
    return out


def pods_path(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/pods"


def pod_groups_path(ns: str) -> str:
    return f"/apis/scheduling.k8s.io/v1beta1/namespaces/{ns}/podgroups"


async def _wait_running(api: Api, ns: str, timeout: float) -> bool:
    """Until no pod of ``ns`` is outside phase Running (served from the watch cache)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = await api.request("GET", pods_path(ns), params={
            "fieldSelector": "status.phase!=Running", "resourceVersion": "0"})
        if not listed["items"]:
            return True
        await asyncio.sleep(0.5)
    return False


async def _wait_bound(api: Api, ns: str, name: str, timeout: float, alive: Callable[[], bool]
                      ) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        pod = await api.request("GET", f"{pods_path(ns)}/{name}")
        if pod["spec"].get("nodeName"):
            return True
        await asyncio.sleep(0.02)
    return False


async def _churn(api: Api, mode: str, stop: asyncio.Event, st: _ChurnState) -> None:
    """scheduler_perf's churn opcode for the two modes the workloads use."""
    i = 0
    interval = 0.2 if mode == CHURN_UNSCHEDULABLE else 1.0
    nxt = time.monotonic()
    prev: tuple[str, str, str] | None = None
    while not stop.is_set():
        try:
            if mode == CHURN_UNSCHEDULABLE:
                body = pod_high_priority_large_cpu(f"{st.prefix}churn-pod-{i}", CHURN_NS)
                await api.request("POST", pods_path(CHURN_NS), _encode(body), ok=(409,))
            elif mode == CHURN_MIXED:
                if prev is not None:
                    node, pod, svc = prev
                    await asyncio.gather(
                        api.request("DELETE", f"/api/v1/nodes/{node}", ok=(404,)),
                        api.request("DELETE", f"{pods_path(CHURN_NS)}/{pod}",
                                    params={"gracePeriodSeconds": "0"}, ok=(404,)),
                        api.request("DELETE", f"/api/v1/namespaces/{CHURN_NS}/services/{svc}",
                                    ok=(404,)),
                    )
                    st.nodes.discard(node)
                    st.services.discard(svc)
                names = (f"{st.prefix}node-churn-{i}", f"{st.prefix}churn-pod-{i}",
                         f"{st.prefix}churn-svc-{i}")
                # scheduler_perf's churn node: capacity pods 0, so nothing ever fits on it.
                node_body = fake_node(names[0], cpu=NODE_CPU, memory=NODE_MEMORY, pods=0)
                svc_body = {"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": names[2]},
                            "spec": {"selector": {"app": "churn"},
                                     "ports": [{"port": 80, "targetPort": 80}]}}
                st.nodes.add(names[0])
                st.services.add(names[2])
                await asyncio.gather(
                    api.request("POST", "/api/v1/nodes", _encode(node_body), ok=(409,)),
                    api.request("POST", pods_path(CHURN_NS),
                                _encode(pod_high_priority_large_cpu(names[1], CHURN_NS)),
                                ok=(409,)),
                    api.request("POST", f"/api/v1/namespaces/{CHURN_NS}/services",
                                _encode(svc_body), ok=(409,)),
                )
                prev = names
            st.ops += 1
        except Exception:  # churn is background noise; never fail the measurement for it
            pass
        i += 1
        nxt += interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, nxt - time.monotonic()))


def _timeout(w: Workload, qps: float) -> float:
    # Writes per measured pod: a bind and an event; preemption adds a status patch and the
    # victims' deletions. The client QPS bounds how fast those can go.
    writes = 7.0 if w.name == "PreemptionBasic" else 3.0
    return 120.0 + w.measure_pods * writes / min(qps, 200.0)


def _shared_cpu(apiserver_pid: int | None, etcd_pid: int | None
                ) -> tuple[float | None, float | None, tuple[int, int] | None]:
    """CPU seconds so far of kube-apiserver and etcd, and the machine's CPU ticks: read at the
    start and the end of the timed phase, beside the scheduler's own CPU."""
    return (procstat.cpu_seconds(apiserver_pid) if apiserver_pid else None,
            procstat.cpu_seconds(etcd_pid) if etcd_pid else None,
            procstat.machine_ticks())


def not_applicable(w: Workload, scheduler: str) -> str | None:
    """Why ``scheduler`` cannot run ``w`` (yet), or None."""
    if scheduler in CEILINGS and w.spec.churn:
        return "the bind ceiling binds round robin over the nodes it saw first; churn deletes them"
    if scheduler != PYSCHEDULER:
        return None
    missing = [p for p in w.spec.requires if p not in registered_plugins()]
    if missing:
        return f"plugin(s) not registered yet: {', '.join(missing)}"
    return None


def run_workload(w: Workload, runs: list[tuple[float, int, str]], opts: E2EOptions
                 ) -> list[E2EResult]:
    """Every (qps, burst, scheduler) run of one sized workload on one control plane.

    The cluster (nodes, init pods) is built once; after each run the measured, warm-up and churn
    objects are deleted and init pods that preemption deleted are created again, so each run
    starts from the same state. Never raises for a scheduler's failure.
    """
    results: list[E2EResult] = []
    todo: list[tuple[E2EResult, Path]] = []
    for qps, burst, scheduler in runs:
        res = E2EResult(w.name, w.nodes, w.init_pods, w.measure_pods, qps, burst, scheduler,
                        mode="drain" if opts.drain else "create", gang_size=w.spec.gang_size)
        if scheduler == PYSCHEDULER or opts.match_profiles:
            res.disabled_plugins = missing_default_plugins()
        results.append(res)
        why = not_applicable(w, scheduler)
        if why is not None:
            res.status, res.reason = NOT_APPLICABLE, why
            continue
        run_dir = opts.results_dir / "runs" / f"{w.name}-{w.nodes}-qps{qps:g}-{scheduler}"
        run_dir.mkdir(parents=True, exist_ok=True)
        todo.append((res, run_dir))
    if not todo:
        return results
    cp = ControlPlane.start(ControlPlaneOptions(
        assets_dir=opts.assets,
        apiserver_args=GANG_APISERVER_ARGS if w.spec.gang_size else {}))
    try:
        asyncio.run(_run_all(cp, w, todo, opts))
    except Exception as err:  # the cluster itself failed: every run not done yet fails
        for res, _ in todo:
            if res.duration_s is None:
                res.status, res.reason = FAILED, f"{type(err).__name__}: {err}"
    finally:
        cp.stop()
    return results


async def _run_all(cp: ControlPlane, w: Workload, todo: list[tuple[E2EResult, Path]],
                   opts: E2EOptions) -> None:
    api = Api(cp, connections=max(64, opts.create_concurrency * 2))
    try:
        init_bodies = await _setup_cluster(cp, api, w, opts)
        for i, (res, run_dir) in enumerate(todo):
            if i > 0:
                await _reset(cp, api, w, init_bodies, opts, i)
            t0 = time.monotonic()
            opts.log(f"  {res.scheduler} at QPS/burst {res.qps:g}/{res.burst}")
            churn = _ChurnState(prefix=f"r{i}-")
            try:
                sched = start(res.scheduler, assets=opts.assets,
                              kubeconfig=cp.admin_kubeconfig, qps=res.qps, burst=res.burst,
                              run_dir=run_dir, match_profiles=opts.match_profiles,
                              gang=bool(w.spec.gang_size))
                try:
                    await _measure(cp, api, w, sched, res.qps, opts, res, churn, i)
                finally:
                    sched.stop()
            except Exception as err:
                res.status, res.reason = FAILED, f"{type(err).__name__}: {err}"
            finally:
                res.duration_s = time.monotonic() - t0
                await _delete_churn(api, churn)
            _log_result(res, opts)
    finally:
        _resume_kwok(cp)
        await api.close()


def _resume_kwok(cp: ControlPlane) -> None:
    kwok = cp._kwok
    if kwok is not None and kwok.pid is not None and kwok.alive():
        os.kill(kwok.pid, signal.SIGCONT)  # harmless when it is not stopped


def _log_result(r: E2EResult, opts: E2EOptions) -> None:
    if r.status == OK:
        groups = (f"{r.groups_per_s or 0:.2f} groups/s of {r.gang_size} "
                  f"({r.partial_groups} partly bound), " if r.gang_size else "")
        opts.log(f"    -> {groups}{r.pods_per_s or 0:.1f} pods/s, p50 {r.p50_ms or 0:.0f} ms, "
                 f"p99 {r.p99_ms or 0:.0f} ms, CPU {r.cpu_s or 0:.2f}s, "
                 f"RSS {r.peak_rss_mib or 0:.0f} MiB, created at "
                 f"{r.measure_pods / (r.create_s or 1):.0f}/s ({r.duration_s or 0:.0f}s)")
    else:
        opts.log(f"    -> {r.status}: {r.reason}")


async def _setup_cluster(cp: ControlPlane, api: Api, w: Workload, opts: E2EOptions
                         ) -> dict[str, bytes]:
    """Namespaces, the priority class, nodes, init pods (Running). Returns the init bodies."""
    for ns in NAMESPACES:
        meta: dict[str, Any] = {"name": ns}
        if ns in (INIT_NS, MEASURE_NS):
            meta["labels"] = NAMESPACE_LABELS
        await api.request("POST", "/api/v1/namespaces", _encode({"metadata": meta}), ok=(409,))
    await api.request("POST", "/apis/scheduling.k8s.io/v1/priorityclasses", _encode({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": HIGH_PRIORITY_CLASS}, "value": HIGH_PRIORITY}), ok=(409,))
    t = time.monotonic()
    await asyncio.to_thread(
        cp.create_nodes, w.nodes, cpu=NODE_CPU, memory=NODE_MEMORY, pods=NODE_PODS,
        labels=w.spec.node_labels, concurrency=32, timeout=120.0 + w.nodes / 10.0,
    )
    opts.log(f"  {w.nodes} nodes Ready in {time.monotonic() - t:.1f}s")
    if not w.init_pods or w.spec.init_template is None:
        return {}
    t = time.monotonic()
    bodies = _pod_bodies(w.spec.init_template, "init", INIT_NS, w.init_pods,
                         node_of=lambda i: f"kwok-node-{i % w.nodes}")
    await api.create_many(pods_path(INIT_NS), bodies, opts.create_concurrency)
    if not await _wait_running(api, INIT_NS, 60.0 + w.init_pods / 20.0):
        opts.log("  warning: init pods not all Running; measuring anyway")
    opts.log(f"  {w.init_pods} init pods Running in {time.monotonic() - t:.1f}s")
    return dict(bodies)


async def _reset(cp: ControlPlane, api: Api, w: Workload, init_bodies: dict[str, bytes],
                 opts: E2EOptions, run_index: int) -> None:
    """Back to the state _setup_cluster left: measured, warm-up and churn pods gone, init
    pods complete again (preemption deletes some)."""
    t = time.monotonic()
    for ns in (MEASURE_NS, WARMUP_NS, CHURN_NS):
        # Grace period 0: removed from storage at once, whether anything runs them or not.
        await api.request("DELETE", pods_path(ns), params={"gracePeriodSeconds": "0"})
    if w.spec.gang_size:
        await api.request("DELETE", pod_groups_path(MEASURE_NS))
    deadline = time.monotonic() + 120.0
    for ns in (MEASURE_NS, WARMUP_NS, CHURN_NS):
        while time.monotonic() < deadline:
            listed = await api.request("GET", pods_path(ns), params={"limit": "1"})
            if not listed["items"]:
                break
            await asyncio.sleep(0.2)
    _resume_kwok(cp)
    if init_bodies:
        listed = await api.request("GET", pods_path(INIT_NS), params={"resourceVersion": "0"})
        # "init-<i>", or "init-<i>-r<run>" once re-created: never reuse a deleted pod's name.
        present = {"-".join(p["metadata"]["name"].split("-")[:2]) for p in listed["items"]}
        missing = []
        for name, body in init_bodies.items():
            if name not in present:
                pod = msgspec.json.decode(body)
                pod["metadata"]["name"] = new = f"{name}-r{run_index}"
                missing.append((new, _encode(pod)))
        if missing:
            await api.create_many(pods_path(INIT_NS), missing, opts.create_concurrency)
            await _wait_running(api, INIT_NS, 60.0 + len(missing) / 20.0)
            opts.log(f"  reset: {len(missing)} init pods created again")
    opts.log(f"  reset in {time.monotonic() - t:.1f}s")


@dataclass(slots=True)
class _ChurnState:
    """What the churn created and has not deleted yet (nodes and Services are not in a
    namespace _reset empties)."""

    # Names differ from run to run: an object of a finished run that some component still
    # acts on (KWOK resuming with a stale view) can never be mistaken for one of this run.
    prefix: str = ""
    nodes: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    ops: int = 0


async def _delete_churn(api: Api, st: _ChurnState) -> None:
    await asyncio.gather(
        *(api.request("DELETE", f"/api/v1/nodes/{n}", ok=(404,)) for n in st.nodes),
        *(api.request("DELETE", f"/api/v1/namespaces/{CHURN_NS}/services/{s}", ok=(404,))
          for s in st.services),
        return_exceptions=True,
    )
    st.nodes.clear()
    st.services.clear()


async def _measure(cp: ControlPlane, api: Api, w: Workload, sched: Any, qps: float,
                   opts: E2EOptions, res: E2EResult, churn_state: _ChurnState, run_index: int
                   ) -> None:
    started = time.monotonic()
    warmup = f"warmup-{run_index}"
    await api.request("POST", pods_path(WARMUP_NS), _encode(pod_default(warmup, WARMUP_NS)))
    if not await _wait_bound(api, WARMUP_NS, warmup, 180.0, sched.alive):
        raise RuntimeError(
            f"{sched.name} did not bind the warm-up pod "
            f"({'exited' if not sched.alive() else 'timeout'}); last log lines:\n{sched.tail()}"
        )
    res.startup_s = time.monotonic() - started
    prefix = f"m{run_index}"
    bodies = _pod_bodies(w.spec.measure_template, prefix, MEASURE_NS, w.measure_pods)
    size = w.spec.gang_size
    if size:
        groups = [gang_group_name(f"{prefix}-{j * size}", size) for j in range(w.groups)]
        await api.create_many(pod_groups_path(MEASURE_NS), [
            (g, _encode(pod_group(g, MEASURE_NS, size))) for g in groups],
            opts.create_concurrency)
    deadline = time.monotonic() + _timeout(w, qps) * opts.timeout_scale
    watcher = BindWatcher(
        WatchTarget(cp.apiserver_url, str(cp.ca_file), str(cp.admin_cert_file),
                    str(cp.admin_key_file), MEASURE_NS),
        expected=w.measure_pods, deadline=deadline,
    )
    await asyncio.to_thread(watcher.start)
    stop_churn = asyncio.Event()
    churn: asyncio.Task[None] | None = None
    kwok_pid = cp._kwok.pid if (opts.pause_kwok and cp._kwok is not None) else None
    apiserver_pid = cp._apiserver.pid  # read-only: its CPU, for context
    etcd_pid = cp._etcd.pid
    sent: dict[str, float] = {}
    starts: dict[str, float] = {}
    held = False

    async def stop_when_dead() -> None:
        # A process exit has no awaitable to wait on: poll.
        while sched.alive():  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        watcher.stop()

    guard = asyncio.create_task(stop_when_dead())
    try:
        if w.spec.churn:
            churn = asyncio.create_task(_churn(api, w.spec.churn, stop_churn, churn_state))
        if kwok_pid is not None:
            # scheduler_perf has no kubelets: while measuring, KWOK's lease renewals and pod
            # status updates would only load the shared API server (see module doc).
            os.kill(kwok_pid, signal.SIGSTOP)
        if opts.drain:
            # Hold the scheduler while every pod is created, then release it: creation is out
            # of the measurement, and so is the API server's work for it.
            os.kill(sched.pid, signal.SIGSTOP)
            held = True
        api_cpu0, etcd_cpu0, ticks0 = _shared_cpu(apiserver_pid, etcd_pid)
        cpu0 = procstat.cpu_seconds(sched.pid)
        t_create = time.monotonic()
        await api.create_many(pods_path(MEASURE_NS), bodies, opts.create_concurrency, sent)
        res.create_s = time.monotonic() - t_create
        if held:
            api_cpu0, etcd_cpu0, ticks0 = _shared_cpu(apiserver_pid, etcd_pid)
            released = time.monotonic()
            os.kill(sched.pid, signal.SIGCONT)
            held = False
            # Throughput and latency count from the release.
            starts = dict.fromkeys(sent, released)
        bound = await asyncio.to_thread(watcher.result, None)
        cpu1 = procstat.cpu_seconds(sched.pid)
        api_cpu1, etcd_cpu1, ticks1 = _shared_cpu(apiserver_pid, etcd_pid)
        res.machine_busy = procstat.busy_fraction(ticks0, ticks1)
        res.peak_rss_mib = procstat.peak_rss_mib(sched.pid)
        res.loadavg_1m = procstat.loadavg()
    finally:
        if held and sched.alive():
            os.kill(sched.pid, signal.SIGCONT)
        guard.cancel()
        watcher.stop()
        stop_churn.set()
        if churn is not None:
            await churn
        # KWOK stays paused until _reset has deleted this run's pods: resumed now, it would
        # first update every one of them to Running, only for them to be deleted.
    if cpu0 is not None and cpu1 is not None:
        res.cpu_s, res.cpu_total_s = cpu1 - cpu0, cpu1
    if api_cpu0 is not None and api_cpu1 is not None:
        res.apiserver_cpu_s = api_cpu1 - api_cpu0
    if etcd_cpu0 is not None and etcd_cpu1 is not None:
        res.etcd_cpu_s = etcd_cpu1 - etcd_cpu0
    lat = measure(starts if opts.drain else sent, bound)
    res.bound = sum(1 for n in sent if n in bound)
    res.pods_per_s, res.p50_ms, res.p90_ms = lat.throughput, lat.p50_ms, lat.p90_ms
    res.p99_ms, res.max_ms = lat.p99_ms, lat.max_ms
    if size:
        res.groups_per_s, res.partial_groups = group_throughput(
            starts if opts.drain else sent, bound, lambda n: gang_group_name(n, size))
    if res.bound < w.measure_pods:
        res.status = FAILED
        cause = "scheduler exited" if not sched.alive() else "timeout"
        res.reason = f"{cause}: {res.bound}/{w.measure_pods} bound"
        if watcher.error:
            res.reason += f"; watcher: {watcher.error}"
        if not sched.alive():
            res.reason += f"; last log lines:\n{sched.tail(15)}"
    else:
        res.status = OK
