"""GangScheduling and Coscheduling: all-or-nothing placement of a pod group.

Contract (upstream gangscheduling.go, v1.37.2; scheduler-plugins coscheduling for the second
API):
* ``gang_policy(pod)``: the group's gang constraint. The scheduler then runs a pod group cycle
  (scheduler/schedule_one_podgroup.py): at least ``min_count`` members are placed against one
  snapshot and reserved together, or none is.
* PreEnqueue holds a member back until its group object exists ("waiting for pods's pod group
  %q to appear in scheduling queue", upstream's wording) and until at least ``min_count``
  members exist ("waiting for minCount pods from a gang to appear in scheduling queue").
* Reserve/Unreserve track the group's assumed members, so that "scheduled" (assumed or bound)
  is exact while binds are in flight and a failed bind gives its place back.
* Permit lets a member through once the group's scheduled members reach ``min_count`` and
  allows the members held for it; otherwise it waits ("waiting for minCount pods from a gang to
  be scheduled"), up to the timeout (upstream 5 min; Coscheduling: the PodGroup's
  scheduleTimeoutSeconds, else the plugin's permitWaitingTimeSeconds).
* Events: a pod of the same group added (unscheduled or assigned), the group object added, or
  updated with a smaller minimum.
* Coscheduling only, PreFilter (scheduler-plugins PodGroupManager.PreFilter): a member is
  rejected UnschedulableAndUnresolvable (so no preemption is tried for it, as upstream) when
  fewer than minMember members exist ("pre-filter pod <name> cannot find enough sibling pods,
  current pods number: 2, minMember of group: 3"), or when ``spec.minResources`` plus
  ``pods: minMember`` do not fit in the cluster's free capacity, the group's own scheduled
  members counting as free (CheckClusterResource): "PodGroup ns/name: resource gap:
  map[cpu:1500m pods:1]", the resources still missing, sorted. Free capacity is each node's
  allocatable minus requested, never below zero. Because the cluster's free capacity also
  grows when any assigned pod goes or a node comes, Coscheduling registers those events for
  groups that set minResources.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    EnqueueExtensions,
    GangPlugin,
    GangPolicy,
    Handle,
    PartialClock,
    PermitPlugin,
    PreEnqueuePlugin,
    PreFilterExtensions,
    PreFilterPlugin,
    PreFilterResult,
    ReservePlugin,
)
from pyscheduler.framework.registry import PluginSpec
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
from pyscheduler.model import podgroup as pg
from pyscheduler.model.meta import rfc3339_seconds
from pyscheduler.model.pod import Pod, pod_priority
from pyscheduler.model.quantity import PODS, format_quantity, to_int
from pyscheduler.model.resources import pod_requests

GANG_SCHEDULING = "GangScheduling"
COSCHEDULING = "Coscheduling"

# Upstream's permitTimeoutDuration.
UPSTREAM_PERMIT_TIMEOUT = 5 * 60.0

MSG_NO_GROUP = 'waiting for pods\'s pod group "{name}" to appear in scheduling queue'
MSG_TOO_FEW = "waiting for minCount pods from a gang to appear in scheduling queue"
MSG_WAIT_QUORUM = "waiting for minCount pods from a gang to be scheduled"
MSG_SIBLINGS = ("pre-filter pod {pod} cannot find enough sibling pods, current pods number: "
                "{n}, minMember of group: {min}")
MSG_RESOURCE_GAP = "PodGroup {group}: resource gap: map[{gap}]"
CONDITION_INITIALLY_SCHEDULED = "PodGroupInitiallyScheduled"
# scheduler-plugins PodGroup phases that say the group reached minMember.
COMPLETE_PHASES = frozenset({"Scheduled", "Running", "Finished", "Failed"})
# Upstream validatePodGroup (schedule_one_podgroup.go), PodGroupPreemptionPolicy off.
MSG_SCHEDULER_NAME = ("all pods in a single pod group should have the same .spec.schedulerName "
                      'set, got: "{pod}" and "{first}"')
MSG_PRIORITY = ("all pods in a single pod group should have the same priority as the pod "
                "group's priority, got {pod} and {group}")
MSG_PREEMPTION_POLICY = ("all pods in a single pod group should have the same preemption "
                         "policy, got {pod} and {first}")


class CoschedulingArgs(msgspec.Struct, rename="camel", omit_defaults=True,
                       forbid_unknown_fields=True):
    """scheduler-plugins' CoschedulingArgs (v1): the Permit wait when the PodGroup sets no
    scheduleTimeoutSeconds, and how long a group that failed is held back
    (podGroupBackoffSeconds; 0: by its members' pod backoff only)."""

    permit_waiting_time_seconds: int = 60
    pod_group_backoff_seconds: int = 0

    def validate(self, path: str = "") -> None:
        """Both are non-negative (scheduler-plugins' validation)."""
        from pyscheduler.plugins import validation as v

        errs: list[v.FieldError] = []
        if self.permit_waiting_time_seconds < 0:
            errs.append(v.invalid(v.child(path, "permitWaitingTimeSeconds"),
                                  self.permit_waiting_time_seconds, "must be greater than or "
                                  "equal to 0"))
        if self.pod_group_backoff_seconds < 0:
            errs.append(v.invalid(v.child(path, "podGroupBackoffSeconds"),
                                  self.pod_group_backoff_seconds, "must be greater than or "
                                  "equal to 0"))
        v.raise_if(errs)


class Gang:
    """One engine for both APIs; ``api`` picks where the group comes from."""

    def __init__(self, name: str, api: str, handle: Handle, default_timeout: float,
                 backoff: float = 0.0) -> None:
        self.name = name
        self.api = api
        self.handle = handle
        self.default_timeout = default_timeout
        self.backoff = backoff
        self._group_of: Callable[[Pod], pg.GroupRef | None] = (
            pg.upstream_group if api == pg.UPSTREAM else pg.coscheduling_group)
        self._lister_name = pg.POD_GROUPS if api == pg.UPSTREAM else pg.COSCHEDULING_POD_GROUPS
        # group key -> UIDs of members assumed (reserved, not yet seen bound)
        self._assumed: dict[str, set[str]] = {}

    # ---- the group -----------------------------------------------------------------------
    def _group(self, ref: pg.GroupRef) -> Any | None:
        lister = self.handle.lister(self._lister_name)
        return None if lister is None else lister.get_by_key(ref.key)

    def _min_count(self, group: Any) -> int | None:
        """The gang minimum, or None when the group has no gang policy."""
        if self.api == pg.UPSTREAM:
            gang = group.spec.scheduling_policy.gang
            return None if gang is None else int(gang.min_count)
        return int(group.spec.min_member) if group.spec.min_member > 0 else None

    def _timeout(self, group: Any) -> float:
        if self.api == pg.COSCHEDULING and group.spec.schedule_timeout_seconds:
            return float(group.spec.schedule_timeout_seconds)
        return self.default_timeout

    def _members(self, ref: pg.GroupRef) -> list[Pod]:
        pods = self.handle.lister("pods")
        if pods is None:
            return []
        members: list[Pod] = pods.by_index(pg.POD_GROUP_INDEX, ref.index_key)
        return [p for p in members if p.status.phase not in ("Succeeded", "Failed")]

    def scheduled_count(self, ref: pg.GroupRef, members: list[Pod]) -> int:
        """Members bound (nodeName set) or assumed by this scheduler."""
        assumed = self._assumed.get(ref.index_key, set())
        return sum(1 for p in members if p.spec.node_name or p.metadata.uid in assumed)

    def gang_policy(self, pod: Pod) -> GangPolicy | None:
        """The group's gang constraint, or None (no group, no object yet, no gang policy)."""
        ref = self._group_of(pod)
        if ref is None:
            return None
        group = self._group(ref)
        if group is None:
            return None
        min_count = self._min_count(group)
        if min_count is None:
            return None
        kind = "PodGroup" if self.api == pg.UPSTREAM else "PodGroup.scheduling.x-k8s.io"
        members = self._members(ref)
        return GangPolicy(key=ref.index_key, name=f"{kind} {ref.key}",
                          min_count=min_count, members=tuple(members),
                          plugin=self.name, timeout=self._timeout(group),
                          backoff=self.backoff, invalid=self._invalid(group, members))

    def _invalid(self, group: Any, members: list[Pod]) -> str:
        """Upstream validatePodGroup for a scheduling.k8s.io PodGroup: all members share one
        schedulerName, have the group's priority (spec.priority, 0 when unset) and share one
        preemption policy; the first violation's message, or "". scheduler-plugins checks
        none of this."""
        if self.api != pg.UPSTREAM:
            return ""
        want = group.spec.priority or 0
        first: str | None = None
        scheduler: str | None = None
        # Upstream checks the members being scheduled before the scheduled ones.
        for p in sorted(members, key=lambda p: bool(p.spec.node_name)):
            if scheduler is None:
                scheduler = p.spec.scheduler_name
            if p.spec.scheduler_name != scheduler:
                return MSG_SCHEDULER_NAME.format(pod=p.spec.scheduler_name, first=scheduler)
            if (prio := pod_priority(p)) != want:
                return MSG_PRIORITY.format(pod=prio, group=want)
            policy = p.spec.preemption_policy or "PreemptLowerPriority"
            if first is None:
                first = policy
            elif policy != first:
                return MSG_PREEMPTION_POLICY.format(pod=policy, first=first)
        return ""

    def group_attempted(self, policy: GangPolicy, scheduled: bool, message: str, *,
                        error: bool = False) -> None:
        """Upstream updatePodGroupCondition: PodGroupInitiallyScheduled True (reason
        Scheduled) or False (reason Unschedulable, or SchedulerError after an error) on a
        scheduling.k8s.io PodGroup, never regressing True to False, and nothing written when
        it already says so."""
        if self.api != pg.UPSTREAM:
            return
        _, _, key = policy.key.partition("/")
        namespace, _, name = key.partition("/")
        group = self._group(pg.GroupRef(self.api, namespace, name))
        if group is None:
            return
        status = "True" if scheduled else "False"
        reason = "Scheduled" if scheduled else ("SchedulerError" if error else "Unschedulable")
        existing = next((c for c in group.status.conditions
                         if c.type == CONDITION_INITIALLY_SCHEDULED), None)
        if existing is not None:
            if existing.status == "True" and not scheduled:
                return
            if (existing.status, existing.reason, existing.message) == (status, reason,
                                                                          message):
                return
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        condition: dict[str, Any] = {
            "type": CONDITION_INITIALLY_SCHEDULED, "status": status, "reason": reason,
            "message": message,
            "lastTransitionTime": (existing.last_transition_time
                                   if existing is not None and existing.status == status
                                   and existing.last_transition_time else now)}
        if group.metadata.generation:
            condition["observedGeneration"] = group.metadata.generation
        others = [msgspec.to_builtins(c) for c in group.status.conditions
                  if c.type != CONDITION_INITIALLY_SCHEDULED]
        path = (f"/apis/scheduling.k8s.io/v1beta1/namespaces/{namespace}/podgroups/{name}"
                "/status")
        self.handle.status_client.patch_status(
            path, {"status": {"conditions": [*others, condition]}})

    def partial_clock(self, policy: GangPolicy) -> PartialClock:
        """From the API: upstream's group counts as partly bound until it was initially
        scheduled (the gang constraint is upstream's for initial scheduling); a
        scheduler-plugins group while its status says Pending or Scheduling and no member
        finished. The clock runs from the later of the group's ``scheduleStartTime`` and its
        earliest bound member's bind (PodScheduled's lastTransitionTime)."""
        _, _, key = policy.key.partition("/")
        namespace, _, name = key.partition("/")
        group = self._group(pg.GroupRef(self.api, namespace, name))
        if group is None:
            return PartialClock(settled=True)
        start: float | None = None
        if self.api == pg.UPSTREAM:
            if any(c.type == CONDITION_INITIALLY_SCHEDULED and c.status == "True"
                   for c in group.status.conditions):
                return PartialClock(settled=True)
        else:
            st = group.status
            # Finished members: past scheduling. A phase beyond Scheduling: the status
            # controller has not seen the group fall short yet, and will write a new
            # scheduleStartTime when it does.
            if st.succeeded or st.failed or st.phase in COMPLETE_PHASES:
                return PartialClock(settled=True)
            start = _seconds(st.schedule_start_time)
        bound = earliest_bind(policy.members)
        if bound is not None:
            start = bound if start is None else max(start, bound)
        return PartialClock(settled=False, start=start)

    # ---- PreEnqueue ---------------------------------------------------------------------
    def pre_enqueue(self, pod: Pod) -> Status | None:
        """Hold a member until its group exists and has at least min_count members."""
        ref = self._group_of(pod)
        if ref is None:
            return None
        group = self._group(ref)
        if group is None:
            return Status.unresolvable(MSG_NO_GROUP.format(name=ref.name), plugin=self.name)
        min_count = self._min_count(group)
        if min_count is None:
            return None
        if len(self._members(ref)) < min_count:
            return Status.unresolvable(MSG_TOO_FEW, plugin=self.name)
        return None

    # ---- Reserve ------------------------------------------------------------------------
    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """Count the member as scheduled from now on."""
        ref = self._group_of(pod.pod)
        if ref is not None:
            self._assumed.setdefault(ref.index_key, set()).add(pod.uid)
        return None

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """The member's placement was given up (failed group, failed bind)."""
        ref = self._group_of(pod.pod)
        if ref is None:
            return
        key = ref.index_key
        uids = self._assumed.get(key)
        if uids is not None:
            uids.discard(pod.uid)
            if not uids:
                del self._assumed[key]

    def forget_bound(self, ref: pg.GroupRef, members: list[Pod]) -> None:
        """Drop assumed UIDs that are bound or gone: the informer now counts them."""
        key = ref.index_key
        uids = self._assumed.get(key)
        if not uids:
            return
        alive = {p.metadata.uid for p in members if not p.spec.node_name}
        uids &= alive
        if not uids:
            del self._assumed[key]

    # ---- Permit -------------------------------------------------------------------------
    def permit(self, state: CycleState, pod: PodInfo,
               node_name: str) -> tuple[Status | None, float]:
        """Allow once scheduled members reach min_count (and release those held); else Wait."""
        ref = self._group_of(pod.pod)
        if ref is None:
            return None, 0.0
        group = self._group(ref)
        if group is None:
            return Status.as_error(RuntimeError(f"pod group {ref.key} not found"),
                                   self.name), 0.0
        min_count = self._min_count(group)
        if min_count is None:
            return None, 0.0
        members = self._members(ref)
        self.forget_bound(ref, members)
        if self.scheduled_count(ref, members) < min_count:
            unscheduled = [p for p in members if not p.spec.node_name
                           and p.metadata.uid not in self._assumed.get(
                               ref.index_key, set())]
            self.handle.activate(unscheduled)
            return Status(Code.WAIT, [MSG_WAIT_QUORUM], plugin=self.name), self._timeout(group)
        for p in members:
            wp = self.handle.get_waiting_pod(p.metadata.uid)
            if wp is not None:
                wp.allow(self.name)
        return None, 0.0

    # ---- EnqueueExtensions --------------------------------------------------------------
    def events_to_register(self) -> list[ClusterEventWithHint]:
        """Pods of the same group added; the group object added or its minimum lowered."""
        res = Resource.POD_GROUP if self.api == pg.UPSTREAM else Resource.COSCHEDULING_POD_GROUP
        return [
            ClusterEventWithHint(ClusterEvent(Resource.UNSCHEDULED_POD, ActionType.ADD),
                                 self._after_pod_added),
            ClusterEventWithHint(ClusterEvent(Resource.ASSIGNED_POD, ActionType.ADD),
                                 self._after_pod_added),
            ClusterEventWithHint(ClusterEvent(res, ActionType.ADD), self._after_group_added),
            ClusterEventWithHint(ClusterEvent(res, ActionType.UPDATE),
                                 self._after_group_updated),
        ]

    def _after_pod_added(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        mine, added = self._group_of(pod), self._group_of(new) if isinstance(new, Pod) else None
        return QueueingHint.QUEUE if mine is not None and mine == added else QueueingHint.SKIP

    def _same_group(self, pod: Pod, group: Any) -> bool:
        ref = self._group_of(pod)
        m = getattr(group, "metadata", None)
        return ref is not None and m is not None and (m.namespace, m.name) == (
            ref.namespace, ref.name)

    def _after_group_added(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        return QueueingHint.QUEUE if self._same_group(pod, new) else QueueingHint.SKIP

    def _after_group_updated(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        if not self._same_group(pod, new):
            return QueueingHint.SKIP
        before, after = self._min_count(old), self._min_count(new)
        if before is None or after is None:
            return QueueingHint.SKIP
        return QueueingHint.QUEUE if after < before else QueueingHint.SKIP


def _seconds(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return rfc3339_seconds(text)
    except ValueError:
        return None  # a malformed time is no time: the clock runs from when we saw it


def earliest_bind(members: Sequence[Pod]) -> float | None:
    """Epoch seconds of the earliest bind among bound ``members``: their PodScheduled True
    condition's lastTransitionTime, which the API server sets on binding; None if none says."""
    out: float | None = None
    for p in members:
        if not p.spec.node_name:
            continue
        for c in p.status.conditions:
            if c.type == "PodScheduled" and c.status == "True":
                t = _seconds(c.last_transition_time)
                if t is not None and (out is None or t < out):
                    out = t
    return out


def cluster_resource_gap(snapshot: Snapshot, wanted: dict[str, int],
                         own: dict[str, int]) -> dict[str, int]:
    """scheduler-plugins CheckClusterResource: what of ``wanted`` the free capacity (every
    node's allocatable minus requested, not below zero, plus ``own``: what the group's own
    scheduled members hold) cannot cover; empty when it all fits."""
    table = snapshot.table
    gap: dict[str, int] = {}
    for name, want in wanted.items():
        if name == PODS:
            free = int(np.maximum(table.max_pods - table.pod_count, 0).sum())
        else:
            col = table.columns.get(name)
            free = 0 if col is None else int(
                np.maximum(table.alloc[:, col] - table.req[:, col], 0).sum())
        left = want - free - own.get(name, 0)
        if left > 0:
            gap[name] = left
    return gap


class Coscheduling(Gang):
    """The scheduler-plugins API, plus its PreFilter (minMember siblings, minResources)."""

    def pre_filter(self, state: CycleState, pod: PodInfo,
                   snapshot: Snapshot) -> tuple[PreFilterResult | None, Status | None]:
        """Reject a member whose group lacks siblings or whose minResources cannot fit."""
        ref = self._group_of(pod.pod)
        if ref is None:
            return None, None
        group = self._group(ref)
        if group is None:
            return None, None
        min_member = int(group.spec.min_member)
        members = self._members(ref)
        if len(members) < min_member:
            return None, Status.unresolvable(MSG_SIBLINGS.format(
                pod=pod.pod.metadata.name, n=len(members), min=min_member), plugin=self.name)
        if not group.spec.min_resources:
            return None, None
        try:
            wanted = {name: to_int(name, q) for name, q in group.spec.min_resources.items()}
        except ValueError as err:
            # The CRD validates quantities; a bad one must not crash the cycle.
            return None, Status.unresolvable(
                f"PodGroup {ref.key}: invalid minResources: {err}", plugin=self.name)
        wanted[PODS] = min_member
        assumed = self._assumed.get(ref.index_key, set())
        own: dict[str, int] = {}
        for p in members:
            if p.spec.node_name or p.metadata.uid in assumed:
                for name, v in pod_requests(p).items():
                    own[name] = own.get(name, 0) + v
                own[PODS] = own.get(PODS, 0) + 1
        gap = cluster_resource_gap(snapshot, wanted, own)
        if gap:
            text = " ".join(f"{k}:{format_quantity(k, v)}" for k, v in sorted(gap.items()))
            return None, Status.unresolvable(MSG_RESOURCE_GAP.format(group=ref.key, gap=text),
                                             plugin=self.name)
        return None, None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        """None: the check is on the whole cluster, not per node."""
        return None

    def events_to_register(self) -> list[ClusterEventWithHint]:
        """Gang events, plus room appearing (an assigned pod gone, a node added or grown)
        for a group that sets minResources."""
        return [*super().events_to_register(),
                ClusterEventWithHint(ClusterEvent(Resource.ASSIGNED_POD, ActionType.DELETE),
                                     self._after_room_appeared),
                ClusterEventWithHint(ClusterEvent(Resource.NODE, ActionType.ADD
                                                  | ActionType.UPDATE_NODE_ALLOCATABLE),
                                     self._after_room_appeared)]

    def _after_room_appeared(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        ref = self._group_of(pod)
        group = None if ref is None else self._group(ref)
        return (QueueingHint.QUEUE if group is not None and group.spec.min_resources
                else QueueingHint.SKIP)


def new_gang_scheduling(args: None, handle: Handle) -> Gang:
    """Upstream's GangScheduling: scheduling.k8s.io/v1beta1 PodGroups."""
    return Gang(GANG_SCHEDULING, pg.UPSTREAM, handle, UPSTREAM_PERMIT_TIMEOUT)


def new_coscheduling(args: CoschedulingArgs | None, handle: Handle) -> Coscheduling:
    """scheduler-plugins' Coscheduling: scheduling.x-k8s.io/v1alpha1 PodGroups."""
    a = args or CoschedulingArgs()
    return Coscheduling(COSCHEDULING, pg.COSCHEDULING, handle,
                        float(a.permit_waiting_time_seconds),
                        float(a.pod_group_backoff_seconds))


GANG_SCHEDULING_SPEC = PluginSpec(GANG_SCHEDULING, new_gang_scheduling, None,
                                  listers=("pods", pg.POD_GROUPS))
COSCHEDULING_SPEC = PluginSpec(COSCHEDULING, new_coscheduling, CoschedulingArgs,
                               listers=("pods", pg.COSCHEDULING_POD_GROUPS))


def _check(p: Gang) -> tuple[GangPlugin, PreEnqueuePlugin, ReservePlugin, PermitPlugin,
                             EnqueueExtensions]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p, p, p


def _check_coscheduling(p: Coscheduling) -> PreFilterPlugin:
    """Compile-time conformance of Coscheduling's PreFilter."""
    return p
