"""A pod group left partly bound past its timeout gives its bound members back (issue 16).

A group can be partly bound only if something outside the group cycle bound part of it: a
leader that died between the quorum's binds, or binds made by hand. Its bound members then hold
room that the rest of the group may never get.

Contract:
* A group is partly bound while 0 < bound members < ``min_count`` and its gang plugin's
  ``partial_clock`` does not call it settled. Its clock runs from the API's word
  (``PartialClock.start``: the later of the PodGroup's ``scheduleStartTime`` and its earliest
  bound member's bind), so a restart or a failover does not restart it; when the API gives
  no time, from when this process first saw the group partly bound. It runs for
  ``policy.timeout`` seconds (Coscheduling: the PodGroup's scheduleTimeoutSeconds, else
  permitWaitingTimeSeconds; GangScheduling: upstream's 5 min).
* The clock is driven by group state: ``sweep(frameworks, pods)`` (every ``interval`` seconds
  from ``run``, leader only) checks every group the pod informer indexes, so a group with no
  pending member left (the rest deleted) is found too; a failed group cycle checks its group
  at once (``observe``). ``check`` arms one timer per group, moved when the API's start
  moves, and disarms it when the group is no longer partly bound; it arms nothing while a
  member's bind is in flight (the group is being completed). ``forget(key)``: the
  group was scheduled, and its clock stops.
* When the timer fires, the group is read again from the informers (``fwk.gang_policy``). If it
  is gone, settled, no longer partial, or a member is assumed (a bind in flight), nothing
  happens. Otherwise each bound member gets a Warning event, reason ``PodGroupTimeout``, and the
  group's failure is written in it: "PodGroup.scheduling.x-k8s.io ns/g: 3/6 members bound
  after the group's timeout (60s)". A member with an owner (a Job, a ReplicaSet) is then
  deleted, with a UID precondition, so that its controller recreates it pending and the group
  is scheduled whole again; the event says "deleting the bound members so the group holds
  nothing". A member without an owner is never deleted (nothing would recreate it); its event
  says so, and it keeps its place (its group is not acted on again while it stays so).
* ``cancel()`` (leader lost) disarms every timer and cancels deletions in flight; their writes
  are fenced anyway. On shutdown (``cancel(in_flight=False)``) deletions already started run
  on while the binds drain.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import structlog

from pyscheduler.api.errors import NotFoundError
from pyscheduler.framework.interfaces import GangPolicy, PartialClock
from pyscheduler.framework.runtime import Framework
from pyscheduler.model.meta import object_key
from pyscheduler.model.pod import Pod
from pyscheduler.model.podgroup import POD_GROUP_INDEX

log = structlog.get_logger(__name__)

EVENT_REASON = "PodGroupTimeout"
EVENT_ACTION = "Deleting"
MSG_TIMEOUT = "{group}: {bound}/{min} members bound after the group's timeout ({timeout:g}s)"
MSG_DELETING = "; deleting the bound members so the group holds nothing"
MSG_KEPT = "; this member has no owner to recreate it, so it is not deleted"


class GroupEvictor(Protocol):
    """The API calls it makes (the scheduler's preemption client has them)."""

    async def delete_pod(self, pod: Pod) -> None:
        """Delete with a UID precondition; NotFoundError when already gone."""
        ...

    def record_event(self, regarding: Pod, related: Pod | None, type_: str, reason: str,
                     action: str, note: str) -> None:
        """Emit an Event regarding ``regarding`` (fire and forget)."""
        ...


class GroupIndex(Protocol):
    """The pod informer's indexer, as the sweep reads it."""

    def list_index_func_values(self, index_name: str) -> list[str]:
        """Every value ``index_name``'s function produced (here: every group key)."""
        ...

    def by_index(self, index_name: str, value: str) -> list[Any]:
        """The objects ``index_name``'s function maps to ``value``."""
        ...


def partial_clock(fwk: Framework, policy: GangPolicy) -> PartialClock:
    """The group's gang plugin's word on its clock (settled when the plugin is gone)."""
    for p in fwk.gang_plugins:
        if p.name == policy.plugin:
            return p.partial_clock(policy)
    return PartialClock(settled=True)


class PartialGroups:
    """The clocks of partly bound groups (see the module contract)."""

    def __init__(self, client: GroupEvictor, is_assumed: Callable[[str], bool], *,
                 clock: Callable[[], float] = time.time, interval: float = 5.0) -> None:
        self.client = client
        self.is_assumed = is_assumed
        self.clock = clock
        self.interval = interval
        self._timers: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        # group key -> when this process first saw it partly bound (the API gave no start)
        self._first_seen: dict[str, float] = {}
        # groups already reported whose bound members have no owner: reported once
        self._reported: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._timers)

    def deadline(self, key: str) -> float | None:
        """When ``key``'s clock runs out (epoch seconds), if it is armed."""
        armed = self._timers.get(key)
        return None if armed is None else armed[0]

    def observe(self, fwk: Framework, policy: GangPolicy, member: Pod, bound: int) -> None:
        """A group cycle could not complete the group with ``bound`` members bound."""
        del bound  # counted again from the policy, as the sweep does
        self.check(fwk, policy, member)

    def check(self, fwk: Framework, policy: GangPolicy, member: Pod) -> None:
        """Arm, move or disarm ``policy``'s group clock from its current state."""
        key = policy.key
        bound = sum(1 for p in policy.members if p.spec.node_name)
        clock = None
        if 0 < bound < policy.min_count and policy.timeout > 0:
            clock = partial_clock(fwk, policy)
        if clock is None or clock.settled:
            self.forget(key)
            return
        if any(self.is_assumed(p.metadata.uid) for p in policy.members):
            return  # binds in flight: being completed; the next sweep sees how they land
        now = self.clock()
        start = clock.start
        if start is None:
            start = self._first_seen.setdefault(key, now)
        deadline = start + policy.timeout
        armed = self._timers.get(key)
        if armed is not None:
            if armed[0] == deadline:
                return
            armed[1].cancel()
        elif key in self._reported:
            return  # reported already; nothing of it could be deleted
        loop = asyncio.get_running_loop()
        handle = loop.call_later(max(0.0, deadline - now), self._expire, fwk, key, member)
        self._timers[key] = (deadline, handle)
        if armed is None:
            log.info("pod group partly bound; evicting its bound members after its timeout",
                     pod_group=policy.name, bound=bound, min_count=policy.min_count,
                     timeout=policy.timeout, left=round(max(0.0, deadline - now), 1))

    def sweep(self, frameworks: Mapping[str, Framework], pods: GroupIndex) -> int:
        """Check every group the pod informer indexes; returns how many clocks are armed."""
        seen: set[str] = set()
        for value in pods.list_index_func_values(POD_GROUP_INDEX):
            members: list[Pod] = pods.by_index(POD_GROUP_INDEX, value)
            for member in members:
                fwk = frameworks.get(member.spec.scheduler_name)
                if fwk is None or not fwk.gang_plugins:
                    continue
                policy = fwk.gang_policy(member)
                if policy is not None and policy.key not in seen:
                    seen.add(policy.key)
                    self.check(fwk, policy, member)
                break
        for key in [k for k in self._timers if k not in seen]:
            self.forget(key)  # the group's pods are gone
        for key in [k for k in self._first_seen if k not in seen]:
            del self._first_seen[key]
        self._reported &= seen
        return len(self._timers)

    async def run(self, frameworks: Callable[[], Mapping[str, Framework]],
                  pods: GroupIndex) -> None:
        """Sweep every ``interval`` seconds until cancelled (the leader's side task)."""
        while True:
            try:
                self.sweep(frameworks(), pods)
            except Exception:  # a bad object must not stop the clocks
                log.exception("checking partly bound pod groups failed")
            await asyncio.sleep(self.interval)

    def forget(self, key: str) -> None:
        """The group is no longer partly bound (scheduled, settled or gone): stop its clock."""
        armed = self._timers.pop(key, None)
        if armed is not None:
            armed[1].cancel()
        self._first_seen.pop(key, None)
        self._reported.discard(key)

    def cancel(self, *, in_flight: bool = True) -> None:
        """Disarm every timer and (``in_flight``) cancel deletions already started. A
        shutdown keeps them: the loop runs until binds drain, and a deletion cut short would
        leave the group more partial than it was."""
        for _, timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if in_flight:
            for t in self._tasks:
                t.cancel()

    def _expire(self, fwk: Framework, key: str, member: Pod) -> None:
        self._timers.pop(key, None)
        try:
            self.expire(fwk, member)
        except Exception:  # a timer callback must never take the loop down
            log.exception("evicting a partly bound pod group failed", pod_group=key)

    def expire(self, fwk: Framework, member: Pod) -> list[Pod]:
        """Act on ``member``'s group now (the timer's work); the members being deleted."""
        policy = fwk.gang_policy(member)
        if policy is None:
            return []
        bound = [p for p in policy.members if p.spec.node_name]
        if not bound or len(bound) >= policy.min_count:
            return []
        if partial_clock(fwk, policy).settled:
            return []
        if any(self.is_assumed(p.metadata.uid) for p in policy.members):
            return []  # a bind in flight: the group cycle decides again when it lands
        message = MSG_TIMEOUT.format(group=policy.name, bound=len(bound), min=policy.min_count,
                                     timeout=policy.timeout)
        deleting = [p for p in bound if p.metadata.owner_references]
        for p in bound:
            self.client.record_event(p, None, "Warning", EVENT_REASON, EVENT_ACTION,
                                     message + (MSG_DELETING if p.metadata.owner_references
                                                else MSG_KEPT))
        log.warning("pod group partly bound past its timeout", pod_group=policy.name,
                    bound=len(bound), deleting=len(deleting))
        self._reported.add(policy.key)
        loop = asyncio.get_running_loop()
        for p in deleting:
            task = loop.create_task(self._delete(policy.key, p),
                                    name=f"evict {object_key(p.metadata)}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return deleting

    async def _delete(self, key: str, pod: Pod) -> None:
        try:
            await self.client.delete_pod(pod)
        except NotFoundError:
            pass
        except Exception as err:
            self._reported.discard(key)  # the next sweep tries again
            log.warning("cannot delete a member of a partly bound pod group",
                        pod=object_key(pod.metadata), error=str(err))
