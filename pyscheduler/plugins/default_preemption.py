"""DefaultPreemption: when no node fits, make room by evicting lower-priority pods.

Contract (upstream defaultpreemption/default_preemption.go, SchedulerAsyncPreemption on, as in
v1.37 by default):
* PostFilter runs ``preemption.Evaluator`` (see its contract) and, when it picks a node, hands
  the victims to the process-wide ``preemption.Executor``, which deletes them asynchronously;
  the result nominates the node, with upstream's Success status "found a potential placement
  for pod on node <node>, preempting <n> victims". Every non-empty status message is prefixed
  "preemption: ", so FailedScheduling reads e.g. "0/5 nodes are available: 5 Insufficient cpu.
  preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod." or
  "0/2 nodes are available: 2 Insufficient cpu. preemption: found a potential placement for
  pod on node n1, preempting 1 victims".
  ``scheduler_preemption_attempts_total`` counts every call.
* PreEnqueue holds a pod back (UnschedulableAndUnresolvable, "waiting for the preemption for
  this pod to be finished") while its preemption calls are in flight. The plugin registers
  AssignedPod/Delete with a hint that always skips: the plugins that rejected the pod decide
  when it may move; the registration only makes the queue re-run PreEnqueue on those events.
* Pod groups (``preempt_group``, called by the pod group cycle when a group's quorum does not
  fit): victims are chosen across nodes by ``preemption.gang`` so that the whole quorum fits,
  a victim group going whole or not at all. The group may not preempt when a member's
  preemptionPolicy is Never, a member's preemption calls are still in flight, or a member's
  nominated node still has a victim terminating (upstream's rules, applied per member). Each
  node's victims go to the executor with a member nominated there as the preemptor. A single
  pod's preemption never takes a member of a pod group.
* Args: ``minCandidateNodesPercentage`` (default 10, 0..100) and ``minCandidateNodesAbsolute``
  (default 100, >= 0), not both 0.
* What it reads from its Handle (the profile's Framework): ``snapshot``; the plugins runner
  (filters with nominated pods, PreFilter AddPod/RemovePod) for the dry runs; ``nominator``;
  ``preemption_executor`` (one ``Executor`` shared by all profiles);
  ``preemption_allowed_scheduler_names`` (pyscheduler's courtesy set, None = any pod may be a
  victim); listers "pods" (the preemptor's latest version) and "poddisruptionbudgets".
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from pyscheduler import metrics
from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    EnqueueExtensions,
    GangPolicy,
    GroupPlacer,
    GroupPreemption,
    GroupPreemptionPlugin,
    Handle,
    PostFilterPlugin,
    PostFilterResult,
    PreEnqueuePlugin,
)
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.runtime import Diagnosis, MissingDependencyError
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import (
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    PodInfo,
    QueueingHint,
    Resource,
)
from pyscheduler.model.pdb import PodDisruptionBudget
from pyscheduler.model.pod import Pod
from pyscheduler.plugins import validation as v
from pyscheduler.preemption import gang
from pyscheduler.preemption.candidates import Candidate
from pyscheduler.preemption.evaluator import (
    ERR_NOT_ELIGIBLE_NEVER,
    ERR_NOT_ELIGIBLE_TERMINATING,
    PREEMPT_NEVER,
    Evaluator,
    courtesy_rule,
    terminating_by_preemption,
)
from pyscheduler.preemption.pdb import PDBChecker
from pyscheduler.preemption.plugin_support import (
    ERR_WAITING_FOR_PREEMPTION,
    latest_preemptor,
    preemption_in_flight,
    start_preemption,
)

NAME = "DefaultPreemption"

MESSAGE_PREFIX = "preemption: "
MESSAGE_PLACEMENT = ("found a potential placement for pod on node {node}, "
                     "preempting {victims} victims")

PODS = "pods"
PDBS = "poddisruptionbudgets"


class DefaultPreemptionArgs(msgspec.Struct, rename="camel", omit_defaults=True):
    min_candidate_nodes_percentage: int = 10
    min_candidate_nodes_absolute: int = 100

    def validate(self, path: str = "") -> None:
        """Upstream ValidateDefaultPreemptionArgs; raises ArgsError."""
        errs: list[v.FieldError] = []
        pct_path = v.child(path, "minCandidateNodesPercentage")
        abs_path = v.child(path, "minCandidateNodesAbsolute")
        pct, absolute = self.min_candidate_nodes_percentage, self.min_candidate_nodes_absolute
        if not 0 <= pct <= 100:
            errs.append(v.invalid(pct_path, pct, "not in valid range [0, 100]"))
        if absolute < 0:
            errs.append(v.invalid(abs_path, absolute, "not in valid range [0, inf)"))
        if pct == 0 and absolute == 0:
            errs.append(v.invalid(pct_path, pct,
                                  "cannot be zero at the same time as minCandidateNodesAbsolute"))
            errs.append(v.invalid(abs_path, absolute,
                                  "cannot be zero at the same time as minCandidateNodesPercentage"))
        v.raise_if(errs)

    validate_args = validate


def _prefixed(st: Status | None) -> Status | None:
    if st is None or not st.reasons:
        return st
    return Status(st.code, [MESSAGE_PREFIX + st.message()], NAME, st.error)


def _error(message: str) -> Status:
    return Status(Code.ERROR, [MESSAGE_PREFIX + message], NAME)


@dataclass(slots=True)
class DefaultPreemption:
    """PostFilter, PreEnqueue and EnqueueExtensions."""

    handle: Handle
    args: DefaultPreemptionArgs
    evaluator: Evaluator
    name: str = NAME

    def post_filter(self, state: CycleState, pod: PodInfo,
                    diagnosis: Any) -> tuple[PostFilterResult | None, Status | None]:
        """Find a node where evicting lower-priority pods lets the pod fit, and start that."""
        try:
            return self._post_filter(state, pod, diagnosis)
        except MissingDependencyError as err:
            return None, _error(str(err))
        finally:
            metrics.PREEMPTION_ATTEMPTS.inc()

    def _post_filter(self, state: CycleState, pod: PodInfo,
                     diagnosis: Diagnosis) -> tuple[PostFilterResult | None, Status | None]:
        handle = self.handle
        latest = latest_preemptor(handle, pod)
        if latest is None:
            # Upstream reads the preemptor from the pod lister first and fails the same way.
            return None, _error(f"pod {json.dumps(pod.pod.metadata.name)} not found")
        pdb_lister = handle.lister(PDBS)
        pdbs: list[PodDisruptionBudget] = pdb_lister.list() if pdb_lister is not None else []
        self.evaluator.is_eligible_pod = gang.spare_pod_groups(courtesy_rule(
            handle.preemption_allowed_scheduler_names))
        result, status, candidate = self.evaluator.preempt(
            handle, state, pod, diagnosis, handle.snapshot, pdbs, latest)
        if candidate is not None:
            # Upstream Evaluator.Preempt's Success status; PostFilter prefixes it, and it ends
            # the FitError message (PodScheduled condition and FailedScheduling event).
            status = Status(Code.SUCCESS, [MESSAGE_PLACEMENT.format(
                node=candidate.node_name, victims=len(candidate.victims))], NAME)
            start_preemption(handle, candidate, latest, pod.priority, NAME)
        return result, _prefixed(status)

    def preempt_group(self, policy: GangPolicy, members: Sequence[PodInfo], needed: int,
                      placer: GroupPlacer) -> GroupPreemption | None:
        """Evict lower-priority pods across nodes so that the group's quorum fits."""
        metrics.PREEMPTION_ATTEMPTS.inc()
        try:
            return self._preempt_group(policy, members, placer)
        except MissingDependencyError as err:
            return GroupPreemption(None, MESSAGE_PREFIX + str(err))

    def _preempt_group(self, policy: GangPolicy, members: Sequence[PodInfo],
                       placer: GroupPlacer) -> GroupPreemption | None:
        handle = self.handle
        snapshot = handle.snapshot
        executor = handle.preemption_executor
        rule = courtesy_rule(handle.preemption_allowed_scheduler_names)
        uids = {m.uid for m in members}
        # The in-memory nomination is there at once; the pod's status only after its patch.
        remembered = {pi.uid: node for node in handle.nominator.nominated_nodes()
                      for pi in handle.nominator.nominated_pods_for_node(node)
                      if pi.uid in uids}
        latest: dict[str, Pod] = {}
        for m in members:
            pod = latest_preemptor(handle, m)
            if pod is None:
                continue  # gone: it will not be placed anyway
            if executor.is_pod_running_preemption(pod.metadata.uid):
                return GroupPreemption(None, MESSAGE_PREFIX + ERR_WAITING_FOR_PREEMPTION)
            if pod.spec.preemption_policy == PREEMPT_NEVER:
                return GroupPreemption(None, MESSAGE_PREFIX + ERR_NOT_ELIGIBLE_NEVER)
            node = pod.status.nominated_node_name or remembered.get(m.uid, "")
            ni = snapshot.get(node) if node else None
            if ni is not None and any(
                    p.priority < m.priority and rule(ni, p, pod)
                    and terminating_by_preemption(p.pod) for p in ni.pods.values()):
                return GroupPreemption(None, MESSAGE_PREFIX + ERR_NOT_ELIGIBLE_TERMINATING)
            latest[m.uid] = pod
        if not latest:
            return None
        priority = min(m.priority for m in members if m.uid in latest)
        first = next(iter(latest.values()))

        def allowed(ni: NodeInfo, victim: PodInfo) -> bool:
            return victim.priority < priority and rule(ni, victim, first)

        pdb_lister = handle.lister(PDBS)
        pdbs = PDBChecker(pdb_lister.list() if pdb_lister is not None else [])
        chosen, why = gang.select_group_victims(snapshot, policy.key, allowed, pdbs, placer,
                                                self.evaluator.clock())
        if chosen is None:
            return GroupPreemption({}, MESSAGE_PREFIX + why)
        preemptor_on = {node: uid for uid, node in chosen.placement.items()}
        fallback = next((latest[u] for u in chosen.placement if u in latest), first)
        for node, victims in chosen.by_node().items():
            uid = preemptor_on.get(node)
            preemptor = latest.get(uid, fallback) if uid is not None else fallback
            start_preemption(handle, Candidate(node, victims), preemptor, priority, NAME)
        return GroupPreemption(dict(chosen.placement), MESSAGE_PREFIX + gang.describe(chosen))

    def pre_enqueue(self, pod: Pod) -> Status | None:
        """Hold the pod back while the API calls of its preemption are still running."""
        return preemption_in_flight(self.handle, pod, NAME)

    def events_to_register(self) -> list[ClusterEventWithHint]:
        """Assigned pod deletions (which may end a wait in PreEnqueue)."""
        return [ClusterEventWithHint(
            ClusterEvent(Resource.ASSIGNED_POD, ActionType.DELETE),
            self.is_schedulable_after_assigned_pod_deletion,
        )]

    def is_schedulable_after_assigned_pod_deletion(self, pod: Pod, old: Any,
                                                   new: Any) -> QueueingHint:
        """Always skip: the plugins whose failure the preemption resolves decide."""
        return QueueingHint.SKIP


def new(args: DefaultPreemptionArgs | None, handle: Handle) -> DefaultPreemption:
    a = args if args is not None else DefaultPreemptionArgs()
    a.validate()
    # The Framework's random source, when the handle has one, so a seeded dry run is
    # reproducible; test handles without it get a fresh one.
    rng = getattr(handle, "rng", None)
    return DefaultPreemption(
        handle, a, Evaluator(a.min_candidate_nodes_percentage, a.min_candidate_nodes_absolute,
                             rng=rng if isinstance(rng, random.Random) else None))


SPEC = PluginSpec(NAME, new, DefaultPreemptionArgs, listers=("pods", "poddisruptionbudgets"))


def _check(p: DefaultPreemption) -> tuple[PostFilterPlugin, PreEnqueuePlugin, EnqueueExtensions,
                                         GroupPreemptionPlugin]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p, p
