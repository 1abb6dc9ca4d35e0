"""The production PreemptionClient: preemption's API calls and scheduler hooks, on top of the
API dispatcher, the event reporter, the nominator, the queue and the scheduler's waiting pods.

Contract: see preemption/client.py. Deletions and status patches go through the dispatcher, so
they obey the client QPS and are retried on 429/5xx; a 404 surfaces as NotFoundError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyscheduler.model.pod import Pod

if TYPE_CHECKING:
    from pyscheduler.api_dispatcher import ApiDispatcher
    from pyscheduler.events import EventReporter
    from pyscheduler.queue.nominator import Nominator
    from pyscheduler.queue.scheduling_queue import PriorityQueue
    from pyscheduler.scheduler import Scheduler


class DispatcherPreemptionClient:
    def __init__(self, dispatcher: ApiDispatcher, reporter: EventReporter,
                 nominator: Nominator) -> None:
        self.dispatcher = dispatcher
        self.reporter = reporter
        self.nominator = nominator
        # Set once the scheduler and queue exist (they are built after the frameworks).
        self.scheduler: Scheduler | None = None
        self.queue: PriorityQueue | None = None

    async def patch_pod_status(self, pod: Pod, patch: dict[str, Any]) -> None:
        m = pod.metadata
        await self.dispatcher.patch_pod_status(m.namespace, m.name, m.uid, patch,
                                               kind="disruption")

    async def delete_pod(self, pod: Pod) -> None:
        m = pod.metadata
        await self.dispatcher.delete_pod(m.namespace, m.name, m.uid)

    async def clear_nominated_node_name(self, pod: Pod) -> None:
        self.nominator.delete_nominated_pod_if_exists(pod)
        if pod.status.nominated_node_name:
            m = pod.metadata
            await self.dispatcher.patch_pod_status(
                m.namespace, m.name, m.uid, {"status": {"nominatedNodeName": None}},
                kind="nomination")

    def record_event(self, regarding: Pod, related: Pod | None, type_: str, reason: str,
                     action: str, note: str) -> None:
        self.reporter.event(regarding, type_, reason, action, note, related=related)

    def reject_waiting_pod(self, uid: str, plugin: str, message: str) -> bool:
        wp = self.scheduler.waiting_pods.get(uid) if self.scheduler is not None else None
        if wp is None:
            return False
        wp.reject(plugin, message)
        return True

    def activate(self, pod: Pod) -> None:
        if self.queue is not None:
            self.queue.activate([pod])


if TYPE_CHECKING:
    from pyscheduler.preemption.client import PreemptionClient

    def _check(c: DispatcherPreemptionClient) -> PreemptionClient:
        return c
