"""The dry run's simulation loop: ``pyscheduler run``'s engine over an in-memory copy.

Contract:
* ``simulate(state, config, registry, options)`` assembles a ``SchedulerApp`` (the same
  frameworks, queue, scheduling and binding cycles, preemption evaluator and executor, event
  handlers and failure messages as ``run``) with memory.py's informer source and writers and
  a fake clock, then drives it: pop the queue's head (QueueSort order), run one scheduling
  cycle, let binding and preemption tasks and the copy's informer deliveries finish, repeat.
  When activeQ is empty the fake clock jumps to the next backoff expiry, so pods retried after a
  preemption or a cluster change are retried at once instead of after real seconds. Pods held
  at Permit when nothing else can happen are rejected as their Permit timeout would.
* Every placement and every preemption changes the copy before the next pod is popped, so
  later pods see earlier ones. Nothing is written to any API.
* Which pods: pending pods (no nodeName, not terminal) whose schedulerName names a profile,
  narrowed by ``namespace`` / ``selector``; pending pods outside them are left out of the
  simulation. ``extra_pods`` (``--pod``) are added as pending pods.
* Load-aware plugins score against one load sample (``options.load``, dryrun/load.py): each
  of their sources is polled once after the informers synced, before the first pod; without
  ``options.load`` they have no data and score every node by requests. ``Simulation.load``
  says, per source, what the sample was and how many nodes it left stale.
* The result lists the evaluated pods in the order they were first attempted (queue order),
  then the pods never attempted (held by PreEnqueue, e.g. scheduling gates), with the status
  message their PreEnqueue plugin gives.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pyscheduler.config import SchedulerConfig
from pyscheduler.dryrun.load import FrozenClock, LoadInput
from pyscheduler.dryrun.memory import MemoryCluster, MemoryInformerSource, memory_writers
from pyscheduler.dryrun.result import DryRunResult, PodResult
from pyscheduler.dryrun.snapshot import ClusterState
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.types import PodInfo
from pyscheduler.loadmetrics.monitor import LoadMonitor
from pyscheduler.model.pod import LabelSelector, Pod, is_terminal
from pyscheduler.model.selectors import compile_label_selector
from pyscheduler.scheduler.schedule_one import AttemptTrace

# A pod attempted this many times without the copy settling means a livelock: stop there.
MAX_ATTEMPTS_PER_POD = 50
PERMIT_TIMEOUT_MESSAGE = "rejected due to timeout after waiting at permit"


class FakeClock:
    """The queue's clock: starts at 0 and moves only when the engine says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass(slots=True)
class DryRunOptions:
    namespace: str | None = None
    selector: LabelSelector | None = None
    explain: str | None = None  # "namespace/name"
    extra_pods: list[Pod] = field(default_factory=list)
    progress: Callable[[int, int], None] | None = None
    seed: int | None = 0
    load: LoadInput | None = None


# (app, framework, pod info, trace) -> the explain analysis of a failed attempt; called right
# after the attempt, before anything else changes the copy.
Analyzer = Callable[[Any, Any, PodInfo, AttemptTrace], Any]


@dataclass(slots=True)
class Attempt:
    trace: AttemptTrace
    analysis: Any = None


@dataclass(slots=True)
class LoadReport:
    """One load source of the run, as polled once: where from, when, what it left stale."""

    source: str
    origin: str
    checked_at: float
    fresh: int
    stale: int
    error: str = ""


@dataclass(slots=True)
class Simulation:
    result: DryRunResult
    attempts: list[Attempt]  # of the explained pod
    load: list[LoadReport] = field(default_factory=list)


def _pending(pod: Pod) -> bool:
    return not pod.spec.node_name and not is_terminal(pod)


def select_pods(state: ClusterState, profiles: set[str], options: DryRunOptions) -> list[Pod]:
    """The pods to simulate, with extra pods added (module contract); updates ``state``."""
    matcher = compile_label_selector(options.selector) if options.selector else None

    def wanted(p: Pod) -> bool:
        if options.namespace and p.metadata.namespace != options.namespace:
            return False
        return matcher is None or matcher(p.metadata.labels)

    kept: list[Pod] = []
    evaluated: list[Pod] = []
    for p in state.objects.get("pods", []):
        if _pending(p) and p.spec.scheduler_name in profiles:
            if not wanted(p):
                continue
            evaluated.append(p)
        kept.append(p)
    kept.extend(options.extra_pods)
    evaluated.extend(options.extra_pods)
    state.objects["pods"] = kept
    return evaluated


async def simulate(state: ClusterState, config: SchedulerConfig,
                   registry: Mapping[str, PluginSpec] | None, options: DryRunOptions,
                   analyzer: Analyzer | None = None) -> Simulation:
    """Run the engine over ``state`` (module contract)."""
    from pyscheduler.scheduler.scheduler import SchedulerApp

    profiles = {p.scheduler_name for p in config.profiles}
    evaluated = select_pods(state, profiles, options)
    cluster = MemoryCluster()
    source = MemoryInformerSource(state.objects)
    clock = FakeClock()
    order: dict[str, None] = {}
    tries: dict[str, int] = {}
    last: dict[str, AttemptTrace] = {}
    explained: list[Attempt] = []

    def tracer(pod_info: PodInfo) -> AttemptTrace:
        uid = pod_info.uid
        order.setdefault(uid, None)
        tries[uid] = tries.get(uid, 0) + 1
        trace = AttemptTrace(detail=pod_info.key == options.explain)
        last[uid] = trace
        if trace.detail:
            explained.append(Attempt(trace))
        return trace

    load = options.load or LoadInput(lambda spec: None, FrozenClock(0.0), "no load source")
    app = SchedulerApp(None, config, registry=registry, informers=source,
                       writers=memory_writers(cluster), clock=clock, tracer=tracer,
                       seed=options.seed, load_sources=load.source_for, load_clock=load.clock)
    # A dry run says where pending pods would go; evicting bound members on a wall-clock timer
    # (partly bound groups past their timeout) is live scheduling only.
    app.scheduler.partial_groups = None
    await app.start_informers()
    await source.shutdown()
    # The monitors judge the nodes the snapshot has (a sample of a node it lacks is dropped).
    app.cache.update_snapshot()
    reports = [await _sample(mon, load.origin) for mon in app.load_metrics.monitors]
    cluster.attach({"pods": app.pods, "nodes": app.nodes, **app.extra_informers})
    await _drive(app, cluster, clock, tries, explained, analyzer, options, len(evaluated))
    return Simulation(_results(app, cluster, evaluated, order, last), explained, reports)


async def _sample(mon: LoadMonitor, origin: str) -> LoadReport:
    """Poll ``mon`` once (the nodes are known now) and say what it got."""
    await mon.poll_once()
    view = mon.view()
    return LoadReport(mon.spec.label, origin, view.checked_at, len(view.fresh),
                      len(view.stale), mon.last_error)


async def _settle(app: Any, cluster: MemoryCluster) -> None:
    """Until binding and preemption tasks (other than pods held at Permit) and deliveries to
    the copy are done."""
    # Polling is right here: these tasks and callbacks need only loop turns (nothing waits on
    # I/O in memory), and no single event marks "all of them done".
    while (cluster.pending or app.preemption_executor.in_flight  # noqa: ASYNC110
           or len(app.scheduler.binding_tasks) > len(app.waiting_pods)):
        await asyncio.sleep(0)


async def _drive(app: Any, cluster: MemoryCluster, clock: FakeClock, tries: dict[str, int],
                 explained: list[Attempt], analyzer: Analyzer | None, options: DryRunOptions,
                 total: int) -> None:
    queue = app.queue
    for step in itertools.count():
        queued = queue.try_pop()
        if queued is not None:
            if tries.get(queued.uid, 0) >= MAX_ATTEMPTS_PER_POD:
                queue.done(queued.uid)  # leave it pending with its last message
                continue
            n_explained = len(explained)
            app.scheduler.schedule_one(queued)
            if analyzer is not None and len(explained) > n_explained:
                attempt = explained[-1]
                if attempt.trace.result is None:
                    fwk = app.frameworks[queued.pod_info.pod.spec.scheduler_name]
                    attempt.analysis = analyzer(app, fwk, queued.pod_info, attempt.trace)
            if options.progress is not None and step % 50 == 0:
                options.progress(len(tries), total)
            await _settle(app, cluster)
            continue
        await _settle(app, cluster)
        if queue.pods_in_active_q():
            continue
        expiry = queue.next_backoff_expiry()
        if expiry is not None:
            clock.now = max(clock.now, expiry)
            queue.flush_backoff_q_completed()
            continue
        waiting = list(app.waiting_pods)
        if waiting:
            for wp in waiting:
                wp.reject("", PERMIT_TIMEOUT_MESSAGE)
            await _settle(app, cluster)
            continue
        break
    if options.progress is not None:
        options.progress(len(tries), total)


def _gate_message(app: Any, pod: Pod) -> str:
    fwk = app.frameworks.get(pod.spec.scheduler_name)
    for p in fwk.pre_enqueue if fwk is not None else []:
        st = p.pre_enqueue(pod)
        if st is not None and not st.is_success():
            return str(st.message())
    return "pod was not attempted"


def _results(app: Any, cluster: MemoryCluster, evaluated: list[Pod], order: dict[str, None],
             last: dict[str, AttemptTrace]) -> DryRunResult:
    by_uid = {p.metadata.uid: p for p in evaluated}
    uids = [u for u in order if u in by_uid]
    uids += sorted((u for u in by_uid if u not in order),
                   key=lambda u: (by_uid[u].metadata.namespace, by_uid[u].metadata.name))
    out = cluster.outcomes
    pods: list[PodResult] = []
    for uid in uids:
        pod = by_uid[uid]
        m = pod.metadata
        r = PodResult(m.namespace, m.name, pod.spec.scheduler_name,
                      victims=list(out.victims.get(uid, [])))
        node = out.bound.get(uid)
        if node is not None:
            r.node = node
            trace = last.get(uid)
            if trace is not None and trace.result is not None:
                r.score = trace.result.score
                r.tied = [n for n in trace.top if n != node]
        elif uid in out.failures:
            r.message = out.failures[uid]
        else:
            r.message = _gate_message(app, pod)
        pods.append(r)
    return DryRunResult(pods)


def complete_pod(pod: Pod, index: int, default_scheduler: str,
                 priority_classes: list[dict[str, Any]]) -> Pod:
    """A ``--pod`` spec as the apiserver would admit it: namespace ``default``, a UID, the
    first profile's schedulerName when none is set (documented departure: upstream defaults
    to default-scheduler), spec.priority resolved from its PriorityClass (or the global
    default one)."""
    m = pod.metadata
    meta = msgspec.structs.replace(
        m, namespace=m.namespace or "default", uid=m.uid or f"dry-run-pod-{index}",
        resource_version=m.resource_version or "1",
        creation_timestamp=m.creation_timestamp or "2000-01-01T00:00:00Z")
    spec = pod.spec
    changes: dict[str, Any] = {}
    if "schedulerName" not in _set_fields(pod):
        changes["scheduler_name"] = default_scheduler
    if spec.priority is None:
        value = 0
        for pc in priority_classes:
            name = (pc.get("metadata") or {}).get("name")
            if (spec.priority_class_name and name == spec.priority_class_name) or (
                    not spec.priority_class_name and pc.get("globalDefault")):
                value = int(pc.get("value", 0))
                if spec.priority_class_name:
                    break
        changes["priority"] = value
    if changes:
        spec = msgspec.structs.replace(spec, **changes)
    return msgspec.structs.replace(pod, metadata=meta, spec=spec)


def _set_fields(pod: Pod) -> set[str]:
    return set(msgspec.to_builtins(pod.spec).keys())
