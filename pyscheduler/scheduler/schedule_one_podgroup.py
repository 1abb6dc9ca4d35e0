"""The pod group cycle: all-or-nothing placement of a gang (upstream schedule_one_podgroup.go).

Contract:
* Entered from ``Scheduler.schedule_one`` when the popped pod's group has a gang policy
  (``Framework.gang_policy``). The group's other pending members are taken from the queue
  (``PriorityQueue.take``), so the whole group is one attempt.
* Members are placed one after the other in QueueSort order, each with the framework's own
  filters and scores (``Scheduler.schedule_pod``), each assumed and reserved before the next is
  placed, so later members see earlier ones. All of this runs without awaiting: no other cycle,
  informer handler or binding task runs in between, so the tentative placements are never
  visible outside the cycle.
* If at least ``min_count`` members are then scheduled (counting members already bound or
  assumed, for late members), every placed member goes through Permit and to its binding task.
  Otherwise every placement is reverted (unreserve and forget, last first) before the cycle
  ends, and every member is requeued with one FailedScheduling event that says why the group
  did not fit: "<group>: 6/8 members placeable; 0/6 nodes are available: ...". Nothing stays
  reserved by a group that cannot complete.
* The cycle stops early once even placing every remaining member could not reach min_count.
* Members never preempt on their own (a preemption for one member could leave the group
  partial). When the group cannot complete and the profile has a group preemption plugin
  (DefaultPreemption), the cycle lends it a ``_Placer``: a what-if run of this same placement
  for the quorum (min_count minus members already scheduled), with chosen pods taken out of
  the cache; the members' placements are undone after each run, and the pods taken out are
  put back when the plugin's call ends. If the plugin starts evicting
  victims, each member of the quorum is nominated to the node the what-if run gave it and the
  others' nominations are cleared; the message ends with the plugin's ("preemption: ...").
* A group the gang plugin finds invalid (``GangPolicy.invalid``: upstream validatePodGroup,
  e.g. a member whose priority is not the PodGroup's) is not tried: every member fails with
  that message as a SchedulerError, and so does the group's condition.
* A group that cannot complete while some of its members are bound starts its clock in
  ``Scheduler.partial_groups`` (scheduler/podgroup_timeout.py); a scheduled group stops it.
* Group backoff (``policy.backoff``, Coscheduling's podGroupBackoffSeconds; scheduler-plugins
  BackoffPodGroup): a group that cannot complete, and has at least min_count members, is held
  back that long (``Scheduler.group_backoff``; a backoff running is not extended). Its members
  go to backoffQ for at least that long (``QueuedPodInfo.min_backoff``). A member popped before
  it ends (activated, or an update) is not placed: every member fails at once with
  scheduler-plugins' "podGroup ns/name failed recently" and waits out the rest.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from pyscheduler import metrics
from pyscheduler.backend.cache.cache import CacheError, SchedulerCache, TakenPod
from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import GangPolicy, GroupPreemption, PodNominator
from pyscheduler.framework.runtime import FitError, Framework, PluginError
from pyscheduler.framework.types import PodInfo, QueuedPodInfo
from pyscheduler.scheduler.podgroup_timeout import PartialGroups

log = structlog.get_logger(__name__)

REASON_UNSCHEDULABLE = "Unschedulable"
REASON_SCHEDULER_ERROR = "SchedulerError"


class Scheduler(Protocol):
    """What the group cycle uses of schedule_one.Scheduler (a Protocol: no import cycle)."""

    cache: SchedulerCache
    queue: Any  # schedule_one.Queue (take, done, scheduling_cycle)
    nominator: PodNominator | None
    binding_tasks: set[asyncio.Task[None]]
    partial_groups: PartialGroups | None
    group_backoff: dict[str, float]

    def schedule_pod(self, fwk: Framework, state: CycleState, pod_info: PodInfo) -> Any: ...
    def _fail(self, fwk: Framework, queued: QueuedPodInfo, cycle: int, reason: str,
              message: str, nominated: str | None, start: float, result: str, bound: Any, *,
              no_nodes: bool = False) -> None: ...
    def binding_cycle(self, fwk: Framework, state: CycleState, queued: QueuedPodInfo,
                      host: str, waits: dict[str, float], start: float,
                      cycle: int, *, result: Any = None,
                      logger: Any = None) -> Coroutine[Any, Any, None]: ...


def _members_in_queue_order(sched: Scheduler, fwk: Framework, first: QueuedPodInfo,
                            policy: GangPolicy) -> list[QueuedPodInfo]:
    members = [first]
    for pod in policy.members:
        uid = pod.metadata.uid
        if uid == first.uid or pod.spec.node_name or sched.cache.is_assumed(uid):
            continue
        if pod.spec.scheduler_name != fwk.profile_name:
            continue  # another profile's (or scheduler's) pod: not ours to place
        queued = sched.queue.take(uid)
        if queued is not None:
            members.append(queued)
    members.sort(key=functools.cmp_to_key(
        lambda a, b: -1 if fwk.less(a, b) else (1 if fwk.less(b, a) else 0)))
    return members


Placed = list[tuple[QueuedPodInfo, CycleState, str]]
Rejected = list[tuple[QueuedPodInfo, str, set[str]]]


@dataclass(slots=True)
class _Attempt:
    placed: Placed = field(default_factory=list)
    rejected: Rejected = field(default_factory=list)
    error: str | None = None


def _place(sched: Scheduler, fwk: Framework, members: list[QueuedPodInfo], already: int,
           min_count: int, stop_at: int | None = None) -> _Attempt:
    """Place ``members`` in order, each assumed and reserved before the next; stop once
    min_count cannot be reached any more (or ``stop_at`` members are placed: a what-if, which
    records no plugin metrics)."""
    out = _Attempt()
    remaining = len(members)
    for queued in members:
        remaining -= 1
        pod_info = queued.pod_info
        state = CycleState()
        state.record_plugin_metrics = stop_at is None and metrics.sample_plugin_metrics()
        try:
            found = sched.schedule_pod(fwk, state, pod_info)
        except FitError as fe:
            out.rejected.append((queued, fe.diagnosis.message(),
                                 set(fe.diagnosis.unschedulable_plugins)))
        except PluginError as pe:
            out.error = pe.status.message()
            out.rejected.append((queued, out.error, set()))
            break
        else:
            host = found.suggested_host
            try:
                sched.cache.assume_pod(pod_info, host)
            except CacheError as err:
                out.error = str(err)
                out.rejected.append((queued, out.error, set()))
                break
            st = fwk.run_reserve(state, pod_info, host)
            if st is not None:
                sched.cache.forget_pod(pod_info.uid)
                fwk.run_unreserve(state, pod_info, host)
                out.rejected.append((queued, st.message(), {st.plugin} if st.plugin else set()))
            else:
                out.placed.append((queued, state, host))
        if stop_at is not None and len(out.placed) >= stop_at:
            break
        if already + len(out.placed) + remaining < min_count:
            break  # even placing every remaining member could not reach min_count
    return out


def _revert(sched: Scheduler, fwk: Framework, placed: Placed) -> None:
    """Give back every placement, newest first."""
    for queued, state, host in reversed(placed):
        fwk.run_unreserve(state, queued.pod_info, host)
        sched.cache.forget_pod(queued.pod_info.uid)


@dataclass(slots=True)
class _Placer:
    """The group cycle's what-if placement for group preemption (framework GroupPlacer).

    Pods taken out stay out between calls, and each call only takes out or puts back the
    difference from the previous one: a reprieve asks about sets that differ by one unit.
    ``restore()``, when the group preemption ends, puts every one of them back; nothing else
    runs in between (the cycle never awaits)."""

    sched: Scheduler
    fwk: Framework
    members: list[QueuedPodInfo]
    needed: int
    # Pods taken out, each put back as it was counted (victims being bound stay assumed).
    _out: dict[str, TakenPod] = field(default_factory=dict)

    def _take_out(self, removed: Sequence[PodInfo]) -> None:
        cache = self.sched.cache
        want = {v.uid: v for v in removed}
        for uid in [u for u in self._out if u not in want]:
            cache.put_back(self._out.pop(uid))
        for uid, v in want.items():
            if uid not in self._out:
                taken = cache.take_out(v.pod)
                if taken is not None:
                    self._out[uid] = taken

    def restore(self) -> None:
        """Put every pod taken out back in the cache."""
        self._take_out(())

    def place(self, removed: Sequence[PodInfo]) -> dict[str, str] | None:
        """With ``removed`` out of the cache, place ``needed`` members, and undo that."""
        self._take_out(removed)
        attempt = _Attempt()
        try:
            attempt = _place(self.sched, self.fwk, self.members, 0, self.needed,
                             stop_at=self.needed)
        finally:
            _revert(self.sched, self.fwk, attempt.placed)
        if attempt.error is not None or len(attempt.placed) < self.needed:
            return None
        return {q.uid: host for q, _, host in attempt.placed}

    def fits(self, placement: dict[str, str], removed: Sequence[PodInfo],
             only: set[str] | None = None) -> bool:
        """With ``removed`` out, check each member of ``placement`` (or of ``only``) on its
        node, counting every member there; undo the members."""
        self._take_out(removed)
        cache, fwk = self.sched.cache, self.fwk
        placed: Placed = []
        unchecked: list[str] = []
        try:
            for queued in self.members:
                host = placement.get(queued.uid)
                if host is None:
                    continue
                state = CycleState()
                state.record_plugin_metrics = False
                if only is not None and queued.uid not in only:
                    # Counted where it is, unchecked; not reserved either (Reserve plugins
                    # read the PreFilter state it does not have).
                    cache.assume_pod(queued.pod_info, host)
                    unchecked.append(queued.pod_info.uid)
                    continue
                if not self._fits_on(state, queued.pod_info, host):
                    return False
                cache.assume_pod(queued.pod_info, host)
                if fwk.run_reserve(state, queued.pod_info, host) is not None:
                    cache.forget_pod(queued.pod_info.uid)
                    fwk.run_unreserve(state, queued.pod_info, host)
                    return False
                placed.append((queued, state, host))
            return True
        except (CacheError, PluginError):
            return False
        finally:
            _revert(self.sched, fwk, placed)
            for uid in unchecked:
                cache.forget_pod(uid)

    def _fits_on(self, state: CycleState, pod_info: PodInfo, host: str) -> bool:
        snapshot = self.sched.cache.update_snapshot()
        node_info = snapshot.get(host)
        if node_info is None:
            return False
        pre, st, _ = self.fwk.run_pre_filter(state, pod_info, snapshot)
        if st is not None or (pre is not None and pre.node_names is not None
                              and host not in pre.node_names):
            return False
        return self.fwk.run_filter_with_nominated_pods(state, pod_info, node_info) is None


def _preempt(sched: Scheduler, fwk: Framework, policy: GangPolicy,
             members: list[QueuedPodInfo], needed: int) -> GroupPreemption | None:
    """The first group preemption plugin's outcome, or None (none enabled or it declined)."""
    placer = _Placer(sched, fwk, members, needed)
    for p in fwk.group_preemption:
        try:
            res = p.preempt_group(policy, [q.pod_info for q in members], needed, placer)
        except Exception:  # a plugin bug must not lose the group's pods
            log.exception("group preemption failed", pod_group=policy.name, plugin=p.name)
            return None
        finally:
            placer.restore()
        if res is not None:
            return res
    return None


def schedule_pod_group(sched: Scheduler, fwk: Framework, first: QueuedPodInfo,
                       policy: GangPolicy) -> None:
    """One pod group cycle for ``first``'s group (see the module contract)."""
    start = time.perf_counter()
    cycle = sched.queue.scheduling_cycle()
    members = []
    for queued in _members_in_queue_order(sched, fwk, first, policy):
        if queued.pod_info.pod.metadata.deletion_timestamp is not None:
            sched.queue.done(queued.pod_info.uid)
        else:
            members.append(queued)
    if policy.invalid:
        # Upstream handlePodGroupFailureBeforeScheduling: nothing is tried, every member
        # fails with the validation error and backs off.
        for queued in members:
            queued.unschedulable_plugins = set()
            sched._fail(fwk, queued, cycle, REASON_SCHEDULER_ERROR, policy.invalid, None,
                        start, "error", _member_log(fwk, queued, policy))
        _observe("error", fwk, start)
        _report(fwk, policy, False, policy.invalid, error=True)
        log.info("pod group refused", pod_group=policy.name, reason=policy.invalid)
        return
    if _backing_off(sched, fwk, policy, members, start, cycle):
        return
    placing = {q.uid for q in members}
    already = sum(1 for p in policy.members if p.metadata.uid not in placing and (
        p.spec.node_name or sched.cache.is_assumed(p.metadata.uid)))
    bound = log.bind(pod_group=policy.name, members=len(members), min_count=policy.min_count,
                     already_scheduled=already, profile=fwk.profile_name)
    attempt = _place(sched, fwk, members, already, policy.min_count)
    placed, rejected, error = attempt.placed, attempt.rejected, attempt.error
    metrics.PODGROUP_SCHEDULING_ALGORITHM_DURATION.observe(time.perf_counter() - start)
    scheduled = already + len(placed)
    if error is None and scheduled >= policy.min_count:
        _submit(sched, fwk, policy, placed, start, cycle)
        # Members beyond the quorum that did not fit are ordinary unschedulable pods.
        for queued, message, plugins in rejected:
            queued.unschedulable_plugins = plugins
            sched._fail(fwk, queued, cycle, REASON_UNSCHEDULABLE, message, None, start,
                        "unschedulable", _member_log(fwk, queued, policy))
        if sched.partial_groups is not None:
            sched.partial_groups.forget(policy.key)
        sched.group_backoff.pop(policy.key, None)
        _observe("scheduled", fwk, start)
        _report(fwk, policy, True, "")
        bound.info("pod group scheduled", placed=len(placed), unplaced=len(rejected))
        return
    # The group cannot complete: give back everything, newest first, before anything awaits.
    _revert(sched, fwk, placed)
    why = rejected[0][1] if rejected else "no member could be evaluated"
    plugins = set().union(*(p for _, _, p in rejected)) if rejected else set()
    preemption: GroupPreemption | None = None
    if error is not None:
        message = f"{policy.name}: {why}"
        reason, outcome = REASON_SCHEDULER_ERROR, "error"
    else:
        message = (f"{policy.name}: {scheduled}/{policy.min_count} members placeable "
                   f"(minCount {policy.min_count}); {why}")
        reason, outcome = REASON_UNSCHEDULABLE, "unschedulable"
        if fwk.group_preemption and members:
            preemption = _preempt(sched, fwk, policy, members, policy.min_count - already)
        if preemption is not None and preemption.message:
            message = f"{message} {preemption.message}"
    # Every member waits on the same plugins: whatever could make the group fit.
    plugins.add(policy.plugin)
    hold = 0.0
    if outcome == "unschedulable":
        hold = _back_off(sched, policy)
    for queued in members:
        queued.unschedulable_plugins = set(plugins) if outcome == "unschedulable" else set()
        queued.min_backoff = hold
        nominated = _nominate(sched, queued, preemption)
        sched._fail(fwk, queued, cycle, reason, message, nominated, start, outcome,
                    _member_log(fwk, queued, policy))
    if sched.partial_groups is not None and outcome == "unschedulable":
        bound_members = sum(1 for p in policy.members if p.spec.node_name)
        sched.partial_groups.observe(fwk, policy, first.pod_info.pod, bound_members)
    _observe(outcome, fwk, start)
    _report(fwk, policy, False, message, error=outcome == "error")
    bound.info("Unable to schedule pod group", reason=message, placeable=scheduled,
               nominated=len(preemption.nominations or {}) if preemption else 0)


MSG_FAILED_RECENTLY = "podGroup {group} failed recently"


def _back_off(sched: Scheduler, policy: GangPolicy) -> float:
    """Hold a failed group back for ``policy.backoff`` seconds (scheduler-plugins: only when
    at least min_count members exist, and a backoff running is not extended); the seconds
    its members must wait from now."""
    if policy.backoff <= 0 or len(policy.members) < policy.min_count:
        return 0.0
    now = time.monotonic()
    for key in [k for k, until in sched.group_backoff.items() if until <= now]:
        del sched.group_backoff[key]
    until = sched.group_backoff.setdefault(policy.key, now + policy.backoff)
    return until - now


def _backing_off(sched: Scheduler, fwk: Framework, policy: GangPolicy,
                 members: list[QueuedPodInfo], start: float, cycle: int) -> bool:
    """A group still held back is not placed: its members fail at once, waiting out the
    rest of the backoff (True)."""
    until = sched.group_backoff.get(policy.key)
    if until is None:
        return False
    left = until - time.monotonic()
    if left <= 0:
        del sched.group_backoff[policy.key]
        return False
    message = MSG_FAILED_RECENTLY.format(group=policy.key.partition("/")[2])
    for queued in members:
        queued.unschedulable_plugins = {policy.plugin}
        queued.min_backoff = left
        sched._fail(fwk, queued, cycle, REASON_UNSCHEDULABLE, message, None, start,
                    "unschedulable", _member_log(fwk, queued, policy))
    _observe("unschedulable", fwk, start)
    log.debug("pod group held back after a failure", pod_group=policy.name,
              left=round(left, 1), members=len(members))
    return True


def _nominate(sched: Scheduler, queued: QueuedPodInfo,
              preemption: GroupPreemption | None) -> str | None:
    """As schedule_one's PostFilter handling, for one member: None keeps its nomination, ""
    clears it, a node name nominates it there."""
    if preemption is None or preemption.nominations is None:
        return None
    node = preemption.nominations.get(queued.uid, "")
    if sched.nominator is not None:
        if node:
            sched.nominator.add_nominated_pod(queued.pod_info, node)
        else:
            sched.nominator.delete_nominated_pod_if_exists(queued.pod_info.pod)
    return node


def _member_log(fwk: Framework, queued: QueuedPodInfo, policy: GangPolicy) -> Any:
    """The per-pod logger schedule_one binds, plus the group."""
    return log.bind(pod=queued.pod_info.key, profile=fwk.profile_name,
                    attempt=queued.attempts, pod_group=policy.name)


def _submit(sched: Scheduler, fwk: Framework, policy: GangPolicy,
            placed: list[tuple[QueuedPodInfo, CycleState, str]], start: float,
            cycle: int) -> None:
    """Permit for each placed member, then its binding task (as ``schedule_one`` does)."""
    loop = asyncio.get_running_loop()
    for queued, state, host in placed:
        pod_info = queued.pod_info
        st, waits = fwk.run_permit(state, pod_info, host)
        if st is not None:
            fwk.run_unreserve(state, pod_info, host)
            sched.cache.forget_pod(pod_info.uid)
            reason, result = ((REASON_UNSCHEDULABLE, "unschedulable") if st.is_rejected()
                              else (REASON_SCHEDULER_ERROR, "error"))
            sched._fail(fwk, queued, cycle, reason, st.message(), None, start, result,
                        _member_log(fwk, queued, policy))
            continue
        if sched.nominator is not None:
            sched.nominator.delete_nominated_pod_if_exists(pod_info.pod)
        task = loop.create_task(
            sched.binding_cycle(fwk, state, queued, host, waits, start, cycle,
                                logger=_member_log(fwk, queued, policy)),
            name=f"bind {pod_info.key}")
        sched.binding_tasks.add(task)
        task.add_done_callback(sched.binding_tasks.discard)


def _report(fwk: Framework, policy: GangPolicy, scheduled: bool, message: str, *,
            error: bool = False) -> None:
    for p in fwk.gang_plugins:
        if p.name == policy.plugin:
            try:
                p.group_attempted(policy, scheduled, message, error=error)
            except Exception:  # a status write must never fail the cycle
                log.exception("recording the pod group's outcome failed", pod_group=policy.name)


def _observe(result: str, fwk: Framework, start: float) -> None:
    metrics.PODGROUP_SCHEDULE_ATTEMPTS.labels(result, fwk.profile_name).inc()
    metrics.PODGROUP_SCHEDULING_ATTEMPT_DURATION.labels(result, fwk.profile_name).observe(
        time.perf_counter() - start)
