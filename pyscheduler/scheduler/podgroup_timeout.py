"""A pod group left partly bound past its timeout gives its bound members back (issue 16).

A group can be partly bound only if something outside the group cycle bound part of it: a
leader that died between the quorum's binds, or binds made by hand. Its bound members then hold
room that the rest of the group may never get.

Contract:
* ``observe(fwk, policy, member, bound)``: the pod group cycle could not complete the group
  while ``bound`` of its members were already bound (0 < bound < min_count). The first
  observation starts one timer for ``policy.timeout`` seconds (Coscheduling: the PodGroup's
  scheduleTimeoutSeconds, else permitWaitingTimeSeconds; GangScheduling: upstream's 5 min).
  Later ones change nothing, so the clock runs from the first failure this process saw.
  ``forget(key)``: the group was scheduled, and its clock stops.
* When the timer fires, the group is read again from the informers (``fwk.gang_policy``). If it
  is gone, no longer partial, or a member is assumed (a bind in flight), nothing happens.
  Otherwise each bound member gets a Warning event, reason ``PodGroupTimeout``, and the
  group's failure is written in it: "PodGroup.scheduling.x-k8s.io ns/g: 3/6 members bound
  after the group's timeout (60s)". A member with an owner (a Job, a ReplicaSet) is then
  deleted, with a UID precondition, so that its controller recreates it pending and the group
  is scheduled whole again; the event says "deleting the bound members so the group holds
  nothing". A member without an owner is never deleted (nothing would recreate it); its event
  says so, and it keeps its place.
* ``cancel()`` (leader lost) disarms every timer and cancels deletions in flight; their writes
  are fenced anyway. On shutdown (``cancel(in_flight=False)``) deletions already started run
  on while the binds drain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import structlog

from pyscheduler.api.errors import NotFoundError
from pyscheduler.framework.interfaces import GangPolicy
from pyscheduler.framework.runtime import Framework
from pyscheduler.model.meta import object_key
from pyscheduler.model.pod import Pod

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


class PartialGroups:
    """The clocks of partly bound groups (see the module contract)."""

    def __init__(self, client: GroupEvictor, is_assumed: Callable[[str], bool]) -> None:
        self.client = client
        self.is_assumed = is_assumed
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._timers)

    def observe(self, fwk: Framework, policy: GangPolicy, member: Pod, bound: int) -> None:
        """The group cannot complete with ``bound`` members bound: start its clock once."""
        if policy.key in self._timers or not 0 < bound < policy.min_count or policy.timeout <= 0:
            return
        loop = asyncio.get_running_loop()
        self._timers[policy.key] = loop.call_later(policy.timeout, self._expire, fwk,
                                                   policy.key, member)
        log.info("pod group partly bound; evicting its bound members after its timeout",
                 pod_group=policy.name, bound=bound, min_count=policy.min_count,
                 timeout=policy.timeout)

    def forget(self, key: str) -> None:
        """The group was scheduled: stop its clock."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def cancel(self, *, in_flight: bool = True) -> None:
        """Disarm every timer and (``in_flight``) cancel deletions already started. A
        shutdown keeps them: the loop runs until binds drain, and a deletion cut short would
        leave the group more partial than it was."""
        for timer in self._timers.values():
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
        loop = asyncio.get_running_loop()
        for p in deleting:
            task = loop.create_task(self._delete(p), name=f"evict {object_key(p.metadata)}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return deleting

    async def _delete(self, pod: Pod) -> None:
        try:
            await self.client.delete_pod(pod)
        except NotFoundError:
            pass
        except Exception as err:
            log.warning("cannot delete a member of a partly bound pod group",
                        pod=object_key(pod.metadata), error=str(err))
