"""Carrying out a chosen preemption, asynchronously (upstream preemption/executor.go, KEP-4832).

Contract:
* One ``Executor`` per scheduler process, shared by every profile: the queue asks it (through
  DefaultPreemption's PreEnqueue) whether a preemptor's API calls are still in flight, whatever
  profile started them.
* ``prepare_candidate_async(candidate, preemptor, plugin, lower_nominated)`` returns at once; an
  asyncio task then, in order: clears the nomination of each lower-priority pod nominated to the
  node, preempts every victim but the last concurrently, then the last one. Victims already
  being deleted (``deletionTimestamp`` set) get no call; when that leaves none, nothing runs at
  all (upstream). ``scheduler_preemption_victims`` is observed with the candidate's victim count
  when the task is started.
* Preempting one victim: a victim held at Permit is rejected ("preempted") instead of deleted;
  otherwise its status gets the condition DisruptionTarget=True, reason PreemptionByScheduler,
  message "<preemptor's schedulerName>: preempting to accommodate a higher priority pod" (skipped
  when already present with that reason and message), then it is deleted with a UID
  precondition. A victim found gone (404) is done, silently. Then a Normal event "Preempted"
  (action "Preempting") regarding the victim, related to the preemptor: "Preempted by pod <uid>
  on node <node>".
* If any victim's calls fail, the remaining ones are cancelled (the last victim is not
  attempted) and the preemptor is activated, so it retries at once rather than waiting in the
  unschedulable pool. A failure to clear a nomination is logged and also activates it.
* ``is_pod_running_preemption(uid)``: True from ``prepare_candidate_async`` until the task
  ends, except that once the last victim's delete is under way, it turns False as soon as the
  informer shows that victim deleted or terminating. This closes the race where the victim's
  delete event reaches the queue before the task has finished: the preemptor must not be gated
  then, or it would wait for an event that already went by.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from pyscheduler import metrics
from pyscheduler.api.errors import NotFoundError
from pyscheduler.framework.interfaces import PreemptionCandidate
from pyscheduler.model.meta import format_rfc3339, object_key
from pyscheduler.model.pod import Pod
from pyscheduler.preemption.client import PreemptionClient
from pyscheduler.preemption.evaluator import DISRUPTION_TARGET, REASON_PREEMPTION_BY_SCHEDULER

log = structlog.get_logger(__name__)

EVENT_REASON_PREEMPTED = "Preempted"
EVENT_ACTION_PREEMPTING = "Preempting"
WAITING_POD_REJECT_MESSAGE = "preempted"

PodGetter = Callable[[str], Pod | None]  # "ns/name" -> the informer's current pod, or None


def disruption_message(scheduler_name: str) -> str:
    """The DisruptionTarget condition's message upstream writes on a victim."""
    return f"{scheduler_name}: preempting to accommodate a higher priority pod"


def preempted_note(preemptor: Pod, node_name: str) -> str:
    """The note of the Preempted Event regarding a victim."""
    return f"Preempted by pod {preemptor.metadata.uid} on node {node_name}"


def disruption_condition_patch(victim: Pod, scheduler_name: str,
                               now: float | None = None) -> dict[str, Any] | None:
    """The status patch adding DisruptionTarget, or None when the victim already carries it
    (upstream UpdatePodCondition reports "unchanged" and no patch is sent)."""
    message = disruption_message(scheduler_name)
    old = next((c for c in victim.status.conditions if c.type == DISRUPTION_TARGET), None)
    if (old is not None and old.status == "True" and old.reason == REASON_PREEMPTION_BY_SCHEDULER
            and old.message == message):
        return None
    # The transition time only moves when the status does.
    if old is not None and old.status == "True" and old.last_transition_time:
        transition = old.last_transition_time
    else:
        transition = format_rfc3339(time.time() if now is None else now)
    cond: dict[str, Any] = {
        "type": DISRUPTION_TARGET,
        "status": "True",
        "reason": REASON_PREEMPTION_BY_SCHEDULER,
        "message": message,
        "lastTransitionTime": transition,
    }
    if victim.metadata.generation:
        # PodObservedGenerationTracking (GA): conditions record the generation they saw.
        cond["observedGeneration"] = victim.metadata.generation
    return {"status": {"conditions": [cond]}}


class Executor:
    def __init__(self, client: PreemptionClient, get_pod: PodGetter) -> None:
        self.client = client
        self.get_pod = get_pod
        # Preemptor UIDs whose preemption task is running.
        self._preempting: set[str] = set()
        # Preemptor UID -> (key, uid) of the last victim, once its calls have started.
        self._last_victim: dict[str, tuple[str, str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- queue-facing ---------------------------------------------------------------------
    def is_pod_running_preemption(self, uid: str) -> bool:
        """Upstream IsPodRunningPreemption: its task runs, its last victim not terminating."""
        if uid not in self._preempting:
            return False
        last = self._last_victim.get(uid)
        if last is None:
            return True  # victims other than the last are still being preempted
        key, victim_uid = last
        current = self.get_pod(key)
        if current is None or current.metadata.uid != victim_uid:
            return False  # the last victim is gone: the preemption is effectively done
        return current.metadata.deletion_timestamp is None

    @property
    def in_flight(self) -> int:
        """Preemptors whose preemption calls are still running."""
        return len(self._preempting)

    # ---- acting ---------------------------------------------------------------------------
    def prepare_candidate_async(self, candidate: PreemptionCandidate, preemptor: Pod,
                                plugin: str,
                                lower_nominated: Sequence[Pod] = ()) -> bool:
        """Start preempting ``candidate``'s victims; False when there was nothing to do."""
        victims = [v.pod for v in candidate.victims
                   if v.pod.metadata.deletion_timestamp is None]
        if not victims:
            # Every victim is already terminating: no call to make, nothing to wait for.
            return False
        metrics.PREEMPTION_VICTIMS.observe(len(candidate.victims))
        uid = preemptor.metadata.uid
        self._preempting.add(uid)
        task = asyncio.get_running_loop().create_task(
            self._run(candidate.node_name, preemptor, victims, plugin, list(lower_nominated)),
            name=f"preempt for {object_key(preemptor.metadata)}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, node: str, preemptor: Pod, victims: list[Pod], plugin: str,
                   lower_nominated: list[Pod]) -> None:
        uid = preemptor.metadata.uid
        bound = log.bind(preemptor=object_key(preemptor.metadata), node=node)
        failed = False
        started = time.perf_counter()
        try:
            bound.debug("starting preemption", victims=len(victims))
            # Lower-priority pods nominated here may no longer fit: free them to look elsewhere
            # now rather than after the victims are gone.
            for p in lower_nominated:
                try:
                    await self.client.clear_nominated_node_name(p)
                except Exception as err:
                    failed = True
                    bound.warning("cannot clear nominatedNodeName of a lower-priority pod",
                                  pod=object_key(p.metadata), error=str(err))
            preempt_last = True
            if len(victims) > 1:
                try:
                    async with asyncio.TaskGroup() as tg:
                        for v in victims[:-1]:
                            tg.create_task(self.preempt_pod(node, preemptor, v, plugin))
                except* Exception as group:
                    failed = True
                    preempt_last = False
                    bound.warning("preemption failed", errors=[str(e) for e in group.exceptions])
            if preempt_last:
                last = victims[-1]
                self._last_victim[uid] = (object_key(last.metadata), last.metadata.uid)
                try:
                    await self.preempt_pod(node, preemptor, last, plugin)
                except Exception as err:
                    failed = True
                    bound.warning("preemption of the last victim failed", error=str(err))
        finally:
            self._preempting.discard(uid)
            self._last_victim.pop(uid, None)
            if failed:
                # Otherwise the preemptor could sit in the unschedulable pool indefinitely.
                self.client.activate(preemptor)
            result = metrics.GOROUTINE_RESULT_ERROR if failed else metrics.GOROUTINE_RESULT_SUCCESS
            metrics.PREEMPTION_GOROUTINES_DURATION.labels(result).observe(
                time.perf_counter() - started)
            metrics.PREEMPTION_GOROUTINES_EXECUTION.labels(result).inc()
            bound.debug("preemption finished", failed=failed)

    async def preempt_pod(self, node: str, preemptor: Pod, victim: Pod, plugin: str) -> None:
        """Upstream PreemptPod for one victim; raises on an API failure other than 404."""
        vkey = object_key(victim.metadata)
        if self.client.reject_waiting_pod(victim.metadata.uid, plugin,
                                          WAITING_POD_REJECT_MESSAGE):
            log.debug("rejected a pod waiting at Permit", victim=vkey, node=node)
        else:
            patch = disruption_condition_patch(victim, preemptor.spec.scheduler_name)
            if patch is not None:
                try:
                    await self.client.patch_pod_status(victim, patch)
                except NotFoundError:
                    log.debug("victim already deleted", victim=vkey)
                    return
            try:
                await self.client.delete_pod(victim)
            except NotFoundError:
                log.debug("victim already deleted", victim=vkey)
                return
            log.debug("preempted victim", victim=vkey, node=node)
        self.client.record_event(victim, preemptor, "Normal", EVENT_REASON_PREEMPTED,
                                 EVENT_ACTION_PREEMPTING, preempted_note(preemptor, node))

    def cancel(self) -> None:
        """Lease lost: cancel every running preemption at once (their writes are fenced)."""
        for t in self._tasks:
            t.cancel()

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for running preemption tasks (shutdown); cancel what is left after ``timeout``."""
        if not self._tasks:
            return
        tasks = set(self._tasks)
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
