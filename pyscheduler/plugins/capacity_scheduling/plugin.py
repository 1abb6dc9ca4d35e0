"""CapacityScheduling: elastic quotas with borrowing and reclaim (scheduler-plugins
pkg/capacityscheduling), over scheduler-plugins' ElasticQuota CRD.

Contract:
* Not in the default profile: a profile enables it (PreFilter, PostFilter, Reserve, or
  multiPoint), usually with DefaultPreemption disabled, as scheduler-plugins' example does.
* Used figures come from the cache: ``NamespaceUsage`` over the snapshot counts every bound and
  assumed pod, refreshed at PreFilter and Reserve (only the nodes that changed). Assume comes
  before Reserve, so a reserved pod counts at once; a failed bind runs Unreserve and then
  forgets the assumed pod, so the next refresh gives its requests back. ``status.used`` of an
  ElasticQuota is never read (the status writer, scheduler/quota_status.py, writes it).
* PreFilter (pods of namespaces with a quota): Unschedulable when used + request (with the
  nominated pods it must not double-claim, see state.py) exceeds max ("quota team-a: cpu used
  6 + 2 > max 7"), or when the sum of used over every quota plus the request exceeds the sum
  of min (the pod would borrow more than the others leave unused, or what it is guaranteed is
  held by borrowers). Both are resolvable: PostFilter may reclaim. Pods of namespaces without
  a quota pass.
* PreFilter extensions AddPod/RemovePod keep the cycle's quota snapshot in step with
  hypothetical pods (nominated pods, preemption's dry runs).
* PostFilter: ``QuotaEvaluator.preempt`` (DefaultPreemption's algorithm with the quota victim
  policy, reclaim.py); when no single node works, ``reclaim_across_nodes``. The chosen victims
  go to the process-wide preemption executor. Messages are prefixed "preemption: " as
  DefaultPreemption's, and say why nothing was reclaimed.
* PreEnqueue holds a preemptor back while its preemption's API calls run (as DefaultPreemption
  does; the two share the executor). Events: assigned pod deletions (quota freed) and every
  ElasticQuota change requeue the pods this plugin rejected.
* Listers read: "elasticquotas", "pods" (the preemptor's latest version),
  "poddisruptionbudgets".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import structlog

from pyscheduler import metrics
from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    EnqueueExtensions,
    Handle,
    PostFilterPlugin,
    PostFilterResult,
    PreEnqueuePlugin,
    PreFilterExtensions,
    PreFilterPlugin,
    PreFilterResult,
    ReservePlugin,
)
from pyscheduler.framework.namespace_usage import NamespaceUsage, Resources, add_into
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.runtime import Diagnosis, MissingDependencyError
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import (
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    PodInfo,
    QueueingHint,
    Resource,
)
from pyscheduler.model.elasticquota import ELASTIC_QUOTAS
from pyscheduler.model.pdb import PodDisruptionBudget
from pyscheduler.model.pod import Pod
from pyscheduler.plugins.capacity_scheduling import explain
from pyscheduler.plugins.capacity_scheduling.quota import QuotaBook, QuotaInfos
from pyscheduler.plugins.capacity_scheduling.reclaim import QuotaEvaluator
from pyscheduler.plugins.capacity_scheduling.state import (
    NAME,
    PRE_FILTER_STATE_KEY,
    SNAPSHOT_KEY,
    PreFilterState,
    QuotaSnapshot,
    quota_snapshot,
)
from pyscheduler.preemption.evaluator import courtesy_rule
from pyscheduler.preemption.gang import spare_pod_groups
from pyscheduler.preemption.pdb import PDBChecker
from pyscheduler.preemption.plugin_support import (
    latest_preemptor,
    preemption_in_flight,
    start_preemption,
)

MESSAGE_PREFIX = "preemption: "
PODS = "pods"

log = structlog.get_logger(__name__)
PDBS = "poddisruptionbudgets"


def _prefixed(st: Status | None) -> Status | None:
    if st is None or not st.reasons:
        return st
    return Status(st.code, [MESSAGE_PREFIX + st.message()], NAME, st.error)


def _update(state: CycleState, other: PodInfo, *, add: bool) -> Status | None:
    snap = quota_snapshot(state)
    if snap is None:
        return Status(Code.ERROR, [f'error reading "{SNAPSHOT_KEY}" from cycleState'], NAME)
    (snap.infos.add_pod if add else snap.infos.remove_pod)(other)
    return None


@dataclass(slots=True)
class CapacityScheduling:
    """PreEnqueue, PreFilter (+extensions), PostFilter, Reserve and EnqueueExtensions."""

    handle: Handle
    usage: NamespaceUsage = field(default_factory=NamespaceUsage)
    book: QuotaBook = field(default_factory=QuotaBook)
    evaluator: QuotaEvaluator | None = None
    # victim UID -> (preemptor UID, victim): handed to the executor, not yet being deleted
    reclaimed: dict[str, tuple[str, PodInfo]] = field(default_factory=dict)
    name: str = NAME

    def __post_init__(self) -> None:
        if self.evaluator is None:
            self.evaluator = QuotaEvaluator(self.usage)

    def quota_infos(self, snapshot: Snapshot) -> QuotaInfos:
        """The quotas with usage as of now (usage refreshed from the snapshot)."""
        self.usage.refresh(snapshot)
        lister = self.handle.lister(ELASTIC_QUOTAS)
        quotas = lister.list() if lister is not None else []
        infos = self.book.build(quotas, self.usage)
        self._discount_reclaimed(infos)
        return infos

    def _discount_reclaimed(self, infos: QuotaInfos) -> None:
        """Victims of a preemption whose calls are still running count as gone: their quota
        is claimed by the nominated preemptor, and the next preemptor must not reclaim it
        again before the informer shows them terminating (then the usage drops them)."""
        if not self.reclaimed:
            return
        try:
            executor = self.handle.preemption_executor
        except MissingDependencyError:
            self.reclaimed.clear()
            return
        for uid, (preemptor, victim) in list(self.reclaimed.items()):
            if not executor.is_pod_running_preemption(preemptor):
                del self.reclaimed[uid]
                continue
            infos.remove_pod(victim)

    # ---- PreFilter --------------------------------------------------------------------------
    def pre_filter(self, state: CycleState, pod: PodInfo,
                   snapshot: Snapshot) -> tuple[PreFilterResult | None, Status | None]:
        """Reject a pod over its quota's max, or borrowing beyond what others leave unused."""
        infos = self.quota_infos(snapshot)
        state.write(SNAPSHOT_KEY, QuotaSnapshot(infos))
        ns = pod.pod.metadata.namespace
        eq = infos.get(ns)
        if eq is None:
            state.write(PRE_FILTER_STATE_KEY, PreFilterState(pod.requests, pod.requests,
                                                             pod.requests))
            return None, None
        in_quota: Resources = dict(pod.requests)
        in_all: Resources = dict(pod.requests)
        nominator = self.handle.nominator
        for node in nominator.nominated_nodes():
            for npi in nominator.nominated_pods_for_node(node):
                nns = npi.pod.metadata.namespace
                # An assumed or bound pod may still be nominated until its update arrives:
                # the usage counts it already (upstream would count it twice).
                if npi.uid == pod.uid or npi.uid in self.usage.pods.get(nns, {}):
                    continue
                info = infos.get(nns)
                if info is None:
                    continue
                if nns == ns and npi.priority >= pod.priority:
                    add_into(in_quota, npi.requests)
                    add_into(in_all, npi.requests)
                elif nns != ns and not info.over_min():
                    add_into(in_all, npi.requests)
        # Only what the pod's quota governs is judged (quota.py's contract): a cpu-only quota
        # says nothing about the memory the pod and the nominated pods request.
        in_quota, in_all = eq.governed(in_quota), eq.governed(in_all)
        state.write(PRE_FILTER_STATE_KEY, PreFilterState(dict(pod.requests), in_quota, in_all))
        r = eq.over_max_with(in_quota)
        if r is not None:
            return None, Status.unschedulable(explain.over_max(eq, r, in_quota), plugin=NAME)
        r = infos.aggregated_over_min_with(in_all)
        if r is not None:
            return None, Status.unschedulable(
                explain.over_aggregated_min(infos, eq, r, in_all), plugin=NAME)
        return None, None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        """AddPod/RemovePod on the cycle's quota snapshot."""
        return self

    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo,
                node_info: NodeInfo) -> Status | None:
        """Count ``pod_to_add`` in its quota in this (cloned) state."""
        return _update(state, pod_to_add, add=True)

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo,
                   node_info: NodeInfo) -> Status | None:
        """Stop counting ``pod_to_remove`` in its quota in this (cloned) state."""
        return _update(state, pod_to_remove, add=False)

    # ---- Reserve ----------------------------------------------------------------------------
    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """The pod is assumed by now: fold it into the used figures."""
        self.usage.refresh(self.handle.snapshot)
        return None

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """Nothing to undo here: the cache forgets the assumed pod right after Unreserve and
        the next refresh gives its requests back (idempotent by construction)."""

    # ---- PostFilter -------------------------------------------------------------------------
    def post_filter(self, state: CycleState, pod: PodInfo,
                    diagnosis: Any) -> tuple[PostFilterResult | None, Status | None]:
        """Reclaim from borrowers (or preempt within the namespace) so the pod can run."""
        try:
            return self._post_filter(state, pod, diagnosis)
        except MissingDependencyError as err:
            return None, Status(Code.ERROR, [MESSAGE_PREFIX + str(err)], NAME)
        finally:
            metrics.PREEMPTION_ATTEMPTS.inc()

    def _post_filter(self, state: CycleState, pod: PodInfo,
                     diagnosis: Diagnosis) -> tuple[PostFilterResult | None, Status | None]:
        handle = self.handle
        ev = self.evaluator
        assert ev is not None
        latest = latest_preemptor(handle, pod)
        if latest is None:
            return None, Status(Code.ERROR, [
                MESSAGE_PREFIX + f"pod {json.dumps(pod.pod.metadata.name)} not found"], NAME)
        pdb_lister = handle.lister(PDBS)
        pdbs: list[PodDisruptionBudget] = pdb_lister.list() if pdb_lister is not None else []
        ev.is_eligible_pod = spare_pod_groups(courtesy_rule(
            handle.preemption_allowed_scheduler_names))
        ev.cycle_state = state
        ev.reclaim_in_flight = self._reclaim_in_flight(pod)
        snapshot = handle.snapshot
        try:
            result, status, candidate = ev.preempt(
                handle, state, pod, diagnosis, snapshot, pdbs, latest)
            if candidate is None and result is not None:
                cross, why = ev.reclaim_across_nodes(handle, state, pod, snapshot,
                                                     PDBChecker(pdbs))
                if cross is not None:
                    candidate, result, status = cross, PostFilterResult(cross.node_name), None
                elif why and status is not None:
                    status = Status(status.code, [f"{status.message()} {why}."], NAME)
        finally:
            ev.cycle_state = None
        if candidate is not None:
            snap, pre = quota_snapshot(state), state.get(PRE_FILTER_STATE_KEY)
            log.debug("reclaim", pod=pod.key, node=candidate.node_name,
                      victims=[v.key for v in candidate.victims],
                      used={ns: q.used for ns, q in (snap.infos if snap else {}).items()},
                      in_all=getattr(pre, "in_all", None))
            start_preemption(handle, candidate, latest, pod.priority, NAME)
            for v in candidate.victims:
                self.reclaimed[v.uid] = (pod.uid, v)
        return result, _prefixed(status)

    def _reclaim_in_flight(self, pod: PodInfo) -> bool:
        """Whether another pod of this namespace nominated by a preemption still has that
        preemption's API calls running (its victims are not terminating yet)."""
        try:
            executor = self.handle.preemption_executor
        except MissingDependencyError:
            return False
        nominator = self.handle.nominator
        ns = pod.pod.metadata.namespace
        return any(npi.pod.metadata.namespace == ns and npi.uid != pod.uid
                   and executor.is_pod_running_preemption(npi.uid)
                   for node in nominator.nominated_nodes()
                   for npi in nominator.nominated_pods_for_node(node))

    # ---- PreEnqueue, events -----------------------------------------------------------------
    def pre_enqueue(self, pod: Pod) -> Status | None:
        """Hold the pod back while the API calls of its preemption are still running."""
        return preemption_in_flight(self.handle, pod, NAME)

    def events_to_register(self) -> list[ClusterEventWithHint]:
        """Assigned pod deletions free quota; any ElasticQuota change may admit the pod."""
        return [
            ClusterEventWithHint(ClusterEvent(Resource.ASSIGNED_POD, ActionType.DELETE),
                                 self._queue),
            ClusterEventWithHint(ClusterEvent(Resource.ELASTIC_QUOTA, ActionType.ALL),
                                 self._queue),
        ]

    def _queue(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        return QueueingHint.QUEUE


def new(args: Any, handle: Handle) -> CapacityScheduling:
    """Build the plugin (it takes no args, as upstream)."""
    return CapacityScheduling(handle)


SPEC = PluginSpec(NAME, new, None, listers=(ELASTIC_QUOTAS, PODS, PDBS))


def _check(p: CapacityScheduling) -> tuple[PreFilterPlugin, PreFilterExtensions,
                                           PostFilterPlugin, ReservePlugin, PreEnqueuePlugin,
                                           EnqueueExtensions]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p, p, p, p
