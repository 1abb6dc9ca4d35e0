"""The production PreemptionClient: preemption's API calls and scheduler hooks, on top of the
API dispatcher, the event reporter, the nominator, the shared waiting pods and the activator.

Contract: see preemption/client.py. Deletions and status patches go through the dispatcher, so
they obey the client QPS and are retried on 429/5xx; a 404 surfaces as NotFoundError.
``SchedulerHooks`` holds the calls that touch only the scheduler's own state (events through
the reporter, waiting pods, activation, the nominator); the dry run's client shares it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyscheduler.model.pod import Pod

if TYPE_CHECKING:
    from pyscheduler.backend.api_dispatcher import ApiDispatcher
    from pyscheduler.backend.queue.nominator import Nominator
    from pyscheduler.framework.interfaces import EventRecorder, PodActivator
    from pyscheduler.framework.waiting_pods import WaitingPodsMap


class SchedulerHooks:
    """The PreemptionClient calls that stay inside the scheduler (see the module contract)."""

    def __init__(self, reporter: EventRecorder, nominator: Nominator,
                 waiting_pods: WaitingPodsMap, activator: PodActivator) -> None:
        self.reporter = reporter
        self.nominator = nominator
        self.waiting_pods = waiting_pods
        self.activator = activator

    def record_event(self, regarding: Pod, related: Pod | None, type_: str, reason: str,
                     action: str, note: str) -> None:
        """An Event through the reporter."""
        self.reporter.event(regarding, type_, reason, action, note, related=related)

    def reject_waiting_pod(self, uid: str, plugin: str, message: str) -> bool:
        """Reject the pod held at Permit; False if none is waiting."""
        return self.waiting_pods.reject(uid, plugin, message)

    def activate(self, pod: Pod) -> None:
        """Move the pod to activeQ through the queue's activator."""
        self.activator.activate([pod])


class DispatcherPreemptionClient(SchedulerHooks):
    def __init__(self, dispatcher: ApiDispatcher, reporter: EventRecorder,
                 nominator: Nominator, waiting_pods: WaitingPodsMap, *,
                 activator: PodActivator) -> None:
        super().__init__(reporter, nominator, waiting_pods, activator)
        self.dispatcher = dispatcher

    async def patch_pod_status(self, pod: Pod, patch: dict[str, Any]) -> None:
        """Strategic-merge pods/status as kind 'disruption' (coalesced apart from other writers)."""
        m = pod.metadata
        await self.dispatcher.patch_pod_status(m.namespace, m.name, m.uid, patch,
                                               kind="disruption")

    async def delete_pod(self, pod: Pod) -> None:
        """DELETE with a UID precondition; raises the final error."""
        m = pod.metadata
        await self.dispatcher.delete_pod(m.namespace, m.name, m.uid)

    async def clear_nominated_node_name(self, pod: Pod) -> None:
        """Drop the in-memory nomination; clear status.nominatedNodeName if set."""
        self.nominator.delete_nominated_pod_if_exists(pod)
        if pod.status.nominated_node_name:
            m = pod.metadata
            await self.dispatcher.patch_pod_status(
                m.namespace, m.name, m.uid, {"status": {"nominatedNodeName": None}},
                kind="nomination")


if TYPE_CHECKING:
    from pyscheduler.preemption.client import PreemptionClient

    def _check(c: DispatcherPreemptionClient) -> PreemptionClient:
        return c
