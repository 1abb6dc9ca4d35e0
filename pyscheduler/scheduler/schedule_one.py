"""schedule_one and the binding cycle (upstream pkg/scheduler/schedule_one.go).

Contract:
* One scheduling cycle at a time: ``schedule_one`` pops a pod and runs PreFilter through Permit
  *without awaiting*, so the cache and snapshot cannot change under it (see framework/snapshot.py).
  It then assumes the pod in the cache and hands it to a binding task; binding tasks run
  concurrently (bounded by the API dispatcher's QPS), the next cycle starts at once.
* Failure: unreserve, forget the assumed pod, then ``handle_failure``: if the pod is gone from
  the informer (deleted) or already has a node (bound by anyone), it is dropped; otherwise it is
  requeued (unschedulable pool or backoff) and reported: Warning event FailedScheduling with
  upstream's message and PodScheduled=False (reason Unschedulable or SchedulerError).
* A failure in the binding cycle also counts as an AssignedPodDelete of the assumed copy for
  the pods waiting in the pool (upstream handleBindingCycleError): what it held is free again.
* Success: Normal event Scheduled "Successfully assigned ns/name to node".
* Logs, as upstream's V(2) lines, with ``pod`` (ns/name), ``profile`` and ``attempt`` bound:
  "Successfully bound pod to node" (node, evaluatedNodes, feasibleNodes) and "Unable to schedule
  pod; no fit; waiting" (reason, message, whether preemption nominated a node) at info; errors
  as "Error scheduling pod; retrying" at error; per-cycle timings at debug.
* ``queue.done(uid)`` is called only when the pod's attempt fully ends (after binding), so
  cluster events during binding are still seen by the queue's in-flight bookkeeping.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import structlog

from pyscheduler import metrics
from pyscheduler.backend.cache.cache import CacheError, SchedulerCache
from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import I64, PodNominator, ScoreDetail
from pyscheduler.framework.runtime import Diagnosis, FitError, Framework, PluginError
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import (
    EVENT_ASSIGNED_POD_DELETE,
    ClusterEvent,
    PodInfo,
    QueuedPodInfo,
)
from pyscheduler.model.pod import Pod, with_node_name
from pyscheduler.scheduler.podgroup_timeout import PartialGroups
from pyscheduler.scheduler.schedule_one_podgroup import schedule_pod_group

log = structlog.get_logger(__name__)

REASON_UNSCHEDULABLE = "Unschedulable"
REASON_SCHEDULER_ERROR = "SchedulerError"


@dataclass(slots=True)
class ScheduleResult:
    suggested_host: str
    evaluated_nodes: int
    feasible_nodes: int
    # The chosen node's weighted total; None when nothing was scored (one feasible node, or
    # the nominated node passed), as upstream skips scoring then.
    score: int | None = None


@dataclass(slots=True)
class AttemptTrace:
    """What one scheduling attempt saw, recorded for the dry run (never on ``run``'s path).

    With ``detail`` the diagnosis keeps every node's status (NodeToStatus) and scoring keeps
    each plugin's raw and normalized scores, for --explain."""

    detail: bool = False
    diagnosis: Diagnosis | None = None
    result: ScheduleResult | None = None
    nominated_node_passed: str = ""
    # Every feasible node and its total, only with ``detail``: naming 5,000 nodes per attempt
    # costs more than the attempt itself, and only --explain shows them.
    feasible: list[str] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)
    # The feasible nodes that share the best total (the chosen one among them), always.
    top: list[str] = field(default_factory=list)
    plugin_scores: dict[str, tuple[I64, I64]] = field(default_factory=dict)
    # plugin -> node -> what it scored the node from (ScoreExplainer plugins), with ``detail``.
    score_details: dict[str, dict[str, ScoreDetail]] = field(default_factory=dict)
    error: str = ""


# A dry run's hook: the trace to fill for this attempt of this pod, or None.
Tracer = Callable[[PodInfo], AttemptTrace | None]


class Reporter(Protocol):
    """Where users learn the outcome: events and the PodScheduled condition."""

    def scheduled(self, pod: Pod, node: str) -> None:
        """The pod was bound to ``node``: tell its users."""
        ...

    def failed(self, pod: Pod, reason: str, message: str, nominated_node: str | None) -> None:
        """The attempt failed; ``nominated_node`` None keeps, '' clears the nomination."""
        ...


class Queue(Protocol):
    def done(self, uid: str) -> None:
        """Upstream SchedulingQueue.Done: the popped pod's attempt fully ended."""
        ...

    def scheduling_cycle(self) -> int:
        """Upstream SchedulingCycle: the number of pods popped so far."""
        ...

    def add_unschedulable_if_not_present(self, queued: QueuedPodInfo, cycle: int) -> None:
        """Upstream AddUnschedulableIfNotPresent: requeue where its hints say."""
        ...

    def move_all_to_active_or_backoff(
        self, event: ClusterEvent, old: Any = None, new: Any = None,
        precheck: Callable[[Pod], bool] | None = None,
    ) -> None:
        """Upstream MoveAllToActiveOrBackoffQueue: requeue pool pods ``event`` may help."""
        ...

    def take(self, uid: str) -> QueuedPodInfo | None:
        """Pop this queued pod wherever it waits (the pod group cycle's other members)."""
        ...

    async def pop(self) -> QueuedPodInfo | None:
        """Upstream Pop: the next pod, waiting for one; None once the queue is closed."""
        ...


PodGetter = Callable[[str], Pod | None]  # "ns/name" -> latest pod from the informer


class Scheduler:
    def __init__(
        self,
        cache: SchedulerCache,
        queue: Queue,
        frameworks: dict[str, Framework],
        reporter: Reporter,
        get_pod: PodGetter,
        nominator: PodNominator | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.cache = cache
        self.tracer = tracer
        self.queue = queue
        self.frameworks = frameworks
        self.reporter = reporter
        self.get_pod = get_pod
        self.nominator = nominator
        self.binding_tasks: set[asyncio.Task[None]] = set()
        # Clocks of partly bound pod groups (set by the app; None: no eviction on timeout).
        self.partial_groups: PartialGroups | None = None
        # Pod groups held back after a failure (podGroupBackoffSeconds): key -> monotonic
        # time the hold ends (scheduler/schedule_one_podgroup.py).
        self.group_backoff: dict[str, float] = {}
        self._stopping = False

    # ---- metric children (labels() is costly per call; the label sets are few) ------------
    @staticmethod
    @functools.cache
    def _attempts(result: str, profile: str) -> Any:
        return metrics.SCHEDULE_ATTEMPTS.labels(result, profile)

    @staticmethod
    @functools.cache
    def _attempt_duration(result: str, profile: str) -> Any:
        return metrics.SCHEDULING_ATTEMPT_DURATION.labels(result, profile)

    # ---- main loop ------------------------------------------------------------------------
    async def run(self) -> None:
        """Upstream's ScheduleOne loop: one pod at a time until stopped or the queue closes."""
        while not self._stopping:
            queued = await self.queue.pop()
            if queued is None:
                break
            try:
                self.schedule_one(queued)
            except Exception:  # never let one pod kill the loop, nor lose the pod
                log.exception("unexpected error scheduling pod", pod=queued.key)
                queued.unschedulable_plugins = set()
                queued.pending_plugins = set()
                self.queue.add_unschedulable_if_not_present(queued, self.queue.scheduling_cycle())
            # Give binding tasks and informer handlers a turn between cycles.
            await asyncio.sleep(0)

    async def drain(self, grace: float = 30.0) -> None:
        """Stop taking pods and wait for in-flight binds (SIGTERM path): nothing half-done."""
        self._stopping = True
        if self.partial_groups is not None:
            self.partial_groups.cancel(in_flight=False)
        seen: set[str] = set()
        for fwk in self.frameworks.values():  # profiles may share one map (upstream's do)
            for wp in fwk.iterate_waiting_pods():
                if wp.pod_info.uid not in seen:
                    seen.add(wp.pod_info.uid)
                    wp.reject("", "scheduler is shutting down")
        in_flight = set(self.binding_tasks)
        abandoned = 0
        if in_flight:
            _, not_done = await asyncio.wait(in_flight, timeout=grace)
            abandoned = len(not_done)
        # "abandoned" binds are still in flight after the grace period: their pods may or may
        # not end up bound, and the next scheduler process settles them from the informer.
        log.info("drained binding cycles", in_flight=len(in_flight), abandoned=abandoned)

    def abort(self) -> None:
        """Lease lost: stop taking pods and cancel every binding cycle, without waiting.

        Nothing they would still send can leave the process (the API writers are fenced
        first); their assumed pods die with the process, and the next leader rebuilds from the
        API."""
        self._stopping = True
        if self.partial_groups is not None:
            self.partial_groups.cancel()
        for task in self.binding_tasks:
            task.cancel()
        log.warning("binding cycles cancelled after losing the leader lease",
                    in_flight=len(self.binding_tasks))

    def schedule_one(self, queued: QueuedPodInfo) -> None:
        """Upstream ScheduleOne: one cycle without awaiting, then a binding task."""
        try:
            self._schedule_one(queued)
        finally:
            fwk = self.frameworks.get(queued.pod_info.pod.spec.scheduler_name)
            if fwk is not None:
                fwk.flush_evaluations()

    def _schedule_one(self, queued: QueuedPodInfo) -> None:
        pod_info = queued.pod_info
        pod = pod_info.pod
        fwk = self.frameworks.get(pod.spec.scheduler_name)
        if fwk is None:
            log.error("no profile for pod's schedulerName", pod=pod_info.key,
                      scheduler_name=pod.spec.scheduler_name)
            self.queue.done(pod_info.uid)
            return
        if pod.metadata.deletion_timestamp is not None or self.cache.is_assumed(pod_info.uid):
            # Upstream skipPodSchedule: being deleted, or already assumed by an earlier cycle.
            self.queue.done(pod_info.uid)
            return
        if fwk.gang_plugins:
            policy = fwk.gang_policy(pod)
            if policy is not None:
                schedule_pod_group(self, fwk, queued, policy)
                return
        bound = log.bind(pod=pod_info.key, profile=fwk.profile_name, attempt=queued.attempts)
        start = time.perf_counter()
        state = CycleState()
        state.record_plugin_metrics = metrics.sample_plugin_metrics()
        cycle = self.queue.scheduling_cycle()
        trace = self.tracer(pod_info) if self.tracer is not None else None
        try:
            result = self.schedule_pod(fwk, state, pod_info, trace)
        except FitError as fe:
            nominated = self._post_filter(fwk, state, pod_info, fe.diagnosis)
            queued.unschedulable_plugins = set(fe.diagnosis.unschedulable_plugins)
            queued.pending_plugins = set(fe.diagnosis.pending_plugins)
            self._fail(fwk, queued, cycle, REASON_UNSCHEDULABLE, fe.diagnosis.message(),
                       nominated, start, "unschedulable", bound,
                       no_nodes=fe.diagnosis.num_all_nodes == 0)
            return
        except PluginError as pe:
            if trace is not None:
                trace.error = pe.status.message()
            self._fail(fwk, queued, cycle, REASON_SCHEDULER_ERROR, pe.status.message(), None,
                       start, "error", bound)
            return
        if trace is not None:
            trace.result = result
        host = result.suggested_host
        try:
            self.cache.assume_pod(pod_info, host)
        except CacheError as err:
            self._fail(fwk, queued, cycle, REASON_SCHEDULER_ERROR, str(err), None, start, "error",
                       bound)
            return
        st = fwk.run_reserve(state, pod_info, host)
        if st is not None:
            self._undo(fwk, state, pod_info, host)
            self._fail(fwk, queued, cycle, *self._reason(st), None, start, self._result(st),
                       bound)
            return
        st, waits = fwk.run_permit(state, pod_info, host)
        if st is not None:
            self._undo(fwk, state, pod_info, host)
            self._fail(fwk, queued, cycle, *self._reason(st), None, start, self._result(st),
                       bound)
            return
        bound.debug("scheduling cycle done", node=host, evaluatedNodes=result.evaluated_nodes,
                    feasibleNodes=result.feasible_nodes,
                    cycle_seconds=round(time.perf_counter() - start, 6))
        if self.nominator is not None:
            # The pod goes to the binding cycle: it no longer needs its nomination.
            self.nominator.delete_nominated_pod_if_exists(pod)
        task = asyncio.get_running_loop().create_task(
            self.binding_cycle(fwk, state, queued, host, waits, start, cycle,
                               result=result, logger=bound),
            name=f"bind {pod_info.key}",
        )
        self.binding_tasks.add(task)
        task.add_done_callback(self.binding_tasks.discard)

    def schedule_pod(self, fwk: Framework, state: CycleState, pod_info: PodInfo,
                     trace: AttemptTrace | None = None) -> ScheduleResult:
        """Upstream schedulePod: filter, then score and pick; raises FitError. ``trace``
        (the dry run's) records what the attempt saw."""
        start = time.perf_counter()
        snapshot = self.cache.update_snapshot()
        n = snapshot.num_nodes
        diagnosis = Diagnosis(num_all_nodes=n,
                              node_to_status={} if trace is not None and trace.detail else None)
        if trace is not None:
            trace.diagnosis = diagnosis
        if n == 0:
            raise FitError(pod_info, diagnosis)
        pre_res, st, narrowing = fwk.run_pre_filter(
            state, pod_info, snapshot, diagnosis.unschedulable_plugins)
        if st is not None:
            if st.code not in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE):
                raise PluginError(st)
            diagnosis.pre_filter_msg = st.message()
            if st.code == Code.UNSCHEDULABLE:
                # Every node carries this resolvable status, so each is a preemption candidate
                # (upstream SetAbsentNodesStatus).
                diagnosis.resolvable_rows = [snapshot.all_rows()]
                diagnosis.node_infos = snapshot.node_infos
            raise FitError(pod_info, diagnosis)
        # A pod nominated earlier tries its nominated node first (evaluateNominatedNode).
        nominated_node = pod_info.pod.status.nominated_node_name
        if nominated_node and pre_res is None:
            info = snapshot.get(nominated_node)
            if (info is not None
                    and fwk.run_filter_with_nominated_pods(state, pod_info, info) is None):
                if trace is not None:
                    trace.nominated_node_passed = nominated_node
                return ScheduleResult(nominated_node, 1, 1)
        if pre_res is not None and pre_res.node_names is not None:
            index = snapshot.table.index
            rows = np.fromiter(
                (index[name] for name in sorted(pre_res.node_names) if name in index),
                dtype=np.int64,
            )
            diagnosis.absent_reason = (
                "node(s) didn't satisfy plugin(s) [" + " ".join(sorted(narrowing)) + "]"
            )
        else:
            rows = snapshot.all_rows()
            if fwk.percentage_of_nodes_to_score is not None:
                # Sampling: rotate where the search starts, as upstream's nextStartNodeIndex.
                # Evaluating every node needs no rotation (ties are broken at random).
                rows = np.roll(rows, -(fwk.next_start_row % n))
        feasible = fwk.find_nodes_that_pass_filters(state, pod_info, snapshot, rows, diagnosis)
        if fwk.percentage_of_nodes_to_score is not None and len(rows) == n:
            fwk.next_start_row = (fwk.next_start_row + len(rows)) % n
        if len(feasible) == 0:
            raise FitError(pod_info, diagnosis)
        if trace is not None and trace.detail:
            trace.feasible = [snapshot.node_infos[int(r)].name for r in feasible]
        if len(feasible) == 1:
            host = snapshot.node_infos[int(feasible[0])].name
            if trace is not None:
                trace.top = [host]
            metrics.SCHEDULING_ALGORITHM_DURATION.observe(time.perf_counter() - start)
            return ScheduleResult(host, diagnosis.evaluated, 1)
        st = fwk.run_pre_score(state, pod_info, snapshot, feasible)
        if st is not None:
            raise PluginError(st)
        detail = trace is not None and trace.detail
        scores = fwk.run_score(state, pod_info, snapshot, feasible,
                               trace.plugin_scores if trace is not None and detail else None,
                               trace.score_details if trace is not None and detail else None)
        host = fwk.select_host(snapshot, feasible, scores)
        if trace is not None:
            trace.top = [snapshot.node_infos[int(r)].name
                         for r in feasible[scores == scores.max()]]
            if trace.detail:
                trace.totals = scores.tolist()
        metrics.SCHEDULING_ALGORITHM_DURATION.observe(time.perf_counter() - start)
        return ScheduleResult(host, diagnosis.evaluated, len(feasible), int(scores.max()))

    def _post_filter(self, fwk: Framework, state: CycleState, pod_info: PodInfo,
                     diagnosis: Diagnosis) -> str | None:
        if not fwk.post_filter:
            return None
        result, st = fwk.run_post_filter(state, pod_info, diagnosis)
        if result is None:
            return None  # nothing said: the pod keeps any nomination it has
        if st is None and result.nominated_node_name:
            if self.nominator is not None:
                self.nominator.add_nominated_pod(pod_info, result.nominated_node_name)
            return result.nominated_node_name
        if not result.nominated_node_name:
            # Preemption cannot help any more: clear the nomination, in memory and on the pod,
            # so the pod is never left with a stale nominatedNodeName.
            if self.nominator is not None:
                self.nominator.delete_nominated_pod_if_exists(pod_info.pod)
            return ""
        return None

    # ---- binding cycle --------------------------------------------------------------------
    async def binding_cycle(self, fwk: Framework, state: CycleState, queued: QueuedPodInfo,
                            host: str, waits: dict[str, float], start: float,
                            cycle: int, *, result: ScheduleResult | None = None,
                            logger: Any = None) -> None:
        """Upstream bindingCycle: WaitOnPermit, PreBind, Bind, PostBind; undo on failure."""
        pod_info = queued.pod_info
        bound = logger if logger is not None else log.bind(
            pod=pod_info.key, profile=fwk.profile_name, attempt=queued.attempts)
        bind_start = time.perf_counter()
        metrics.GOROUTINES.labels("binding").inc()
        try:
            st: Status | None = None
            if waits:
                st = await fwk.wait_on_permit(pod_info, waits)
            if st is None:
                st = await fwk.run_pre_bind(state, pod_info, host)
            if st is None:
                st = await fwk.run_bind(state, pod_info, host)
                if st is not None:
                    # 403, 5xx after retries, 409: say so; the failure path requeues or drops.
                    bound.warning("failed to bind pod", node=host, code=st.code.name,
                                  error=st.message())
            if st is not None:
                self._binding_failed(fwk, state, queued, host, st, start, cycle, bound)
                return
            self.cache.finish_binding(pod_info.uid)
            now = time.perf_counter()
            elapsed = now - start
            self._attempts("scheduled", fwk.profile_name).inc()
            self._attempt_duration("scheduled", fwk.profile_name).observe(
                elapsed
            )
            metrics.POD_SCHEDULING_ATTEMPTS.observe(queued.attempts)
            if queued.flushed:
                metrics.POD_SCHEDULED_AFTER_FLUSH.inc()
            if queued.initial_attempt_timestamp is not None:
                metrics.POD_SCHEDULING_SLI_DURATION.labels(str(min(queued.attempts, 15))).observe(
                    time.monotonic() - queued.initial_attempt_timestamp
                )
            bound.info("Successfully bound pod to node", node=host,
                       evaluatedNodes=result.evaluated_nodes if result else None,
                       feasibleNodes=result.feasible_nodes if result else None)
            bound.debug("binding cycle done", node=host,
                        binding_seconds=round(now - bind_start, 6),
                        attempt_seconds=round(elapsed, 6))
            self.reporter.scheduled(pod_info.pod, host)
            fwk.run_post_bind(state, pod_info, host)
        except Exception as err:
            bound.exception("binding cycle failed unexpectedly")
            self._binding_failed(fwk, state, queued, host,
                                 Status.as_error(err), start, cycle, bound)
        finally:
            metrics.GOROUTINES.labels("binding").dec()
            self.queue.done(pod_info.uid)

    # ---- failure --------------------------------------------------------------------------
    def _binding_failed(self, fwk: Framework, state: CycleState, queued: QueuedPodInfo,
                        host: str, st: Status, start: float, cycle: int,
                        bound: Any) -> None:
        """Upstream handleBindingCycleError: unreserve, forget the assumed pod, report and
        requeue it, then treat the forget as an AssignedPodDelete for the pods waiting in the
        pool: the resources the assumed pod held are free again, and without this event the
        pods it crowded out would wait for the 5-minute flush (a pod deleted while its bind was
        queued, then re-created, left its replacement stranded that way). A rejected pod is not
        moved by its own event; it is Unschedulable whatever the hints say."""
        pod_info = queued.pod_info
        self._undo(fwk, state, pod_info, host)
        self._fail(fwk, queued, cycle, *self._reason(st), None, start, self._result(st), bound)
        uid = pod_info.uid
        # The assumed copy (nodeName set), as upstream passes it: hints skip deleted pods that
        # never had a node.
        assumed = with_node_name(pod_info.pod, host)
        self.queue.move_all_to_active_or_backoff(
            EVENT_ASSIGNED_POD_DELETE, assumed, None,
            precheck=(lambda p: p.metadata.uid != uid) if st.is_rejected() else None)

    def _undo(self, fwk: Framework, state: CycleState, pod_info: PodInfo, host: str) -> None:
        fwk.run_unreserve(state, pod_info, host)
        self.cache.forget_pod(pod_info.uid)

    @staticmethod
    def _reason(st: Status) -> tuple[str, str]:
        if st.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE, Code.PENDING):
            return REASON_UNSCHEDULABLE, st.message()
        return REASON_SCHEDULER_ERROR, st.message()

    @staticmethod
    def _result(st: Status) -> str:
        return "unschedulable" if st.is_rejected() else "error"

    def _fail(self, fwk: Framework, queued: QueuedPodInfo, cycle: int, reason: str, message: str,
              nominated: str | None, start: float, result: str, bound: Any, *,
              no_nodes: bool = False) -> None:
        """Upstream handleSchedulingFailure: requeue unless gone or bound, and report."""
        elapsed = time.perf_counter() - start
        self._attempts(result, fwk.profile_name).inc()
        self._attempt_duration(result, fwk.profile_name).observe(elapsed)
        if reason == REASON_UNSCHEDULABLE:
            # nominated: None = preemption said nothing, "" = it cleared the nomination
            bound.info("Unable to schedule pod; no nodes are registered to the cluster; waiting"
                       if no_nodes else "Unable to schedule pod; no fit; waiting",
                       reason=reason, message=message,
                       preemption_nominated=bool(nominated), nominated_node=nominated or "")
        else:
            bound.error("Error scheduling pod; retrying", reason=reason, error=message)
        bound.debug("scheduling attempt failed", attempt_seconds=round(elapsed, 6))
        pod_info = queued.pod_info
        latest = self.get_pod(pod_info.key)
        if latest is None or latest.metadata.uid != pod_info.uid:
            bound.info("Pod doesn't exist in informer cache; not requeued")
            self.queue.done(pod_info.uid)
            return
        if latest.spec.node_name:
            bound.info("Pod has been assigned to node. Abort adding it back to queue.",
                       node=latest.spec.node_name)
            self.queue.done(pod_info.uid)
            return
        if latest is not pod_info.pod:
            queued.pod_info = PodInfo.of(latest)
        if reason == REASON_SCHEDULER_ERROR:
            # An error says nothing about which events could help: retry after backoff.
            queued.unschedulable_plugins = set()
        self.queue.add_unschedulable_if_not_present(queued, cycle)
        self.reporter.failed(latest, reason, message, nominated)
