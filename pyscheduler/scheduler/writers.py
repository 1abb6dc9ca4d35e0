"""Where the scheduler's decisions leave the engine: the one seam between scheduling and the API.

Contract:
* ``Writers`` bundles everything the assembled scheduler writes through: the Bind plugins'
  binding client, VolumeBinding's PV/PVC client, the status client (PodGroup and
  ElasticQuota status), the reporter (events, PodScheduled,
  nominatedNodeName) and the factory of preemption's client (victim patches and deletions).
  Nothing else in ``SchedulerApp`` writes.
* ``api_writers`` is what ``pyscheduler run`` uses: every call goes through an ``ApiDispatcher``
  (QPS, retries, the leader-lease guard); ``dispatchers`` lists them so the app can start,
  drain and fence them.
* ``pyscheduler dry-run`` passes in-memory writers instead (pyscheduler/dryrun/memory.py): the
  same frameworks, queue and cycle run, and their writes land in an in-memory copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pyscheduler.framework.interfaces import (
    BindingClient,
    EventRecorder,
    PodActivator,
    StatusClient,
    VolumeClient,
)
from pyscheduler.framework.waiting_pods import WaitingPodsMap
from pyscheduler.model.pod import Pod
from pyscheduler.preemption.client import PreemptionClient

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from pyscheduler.backend.api_dispatcher import ApiDispatcher
    from pyscheduler.backend.queue.nominator import Nominator


class StatusReporter(Protocol):
    """What users learn about pods: events and the PodScheduled condition (scheduler/reporter.py
    is the API one)."""

    def scheduled(self, pod: Pod, node: str) -> None:
        """The pod was bound to ``node``."""
        ...

    def failed(self, pod: Pod, reason: str, message: str, nominated_node: str | None) -> None:
        """The attempt failed; ``nominated_node`` None keeps, '' clears the nomination."""
        ...

    def forget(self, uid: str) -> None:
        """The pod is gone: drop what is remembered about it."""
        ...

    def event(self, pod: Pod, type_: str, reason: str, action: str, note: str,
              related: Pod | None = None) -> None:
        """Record an event regarding ``pod`` (fire and forget)."""
        ...

    def recorder(self, profile: str) -> EventRecorder:
        """The EventRecorder of one profile: its events name ``profile`` as the controller."""
        ...

    def object_event(self, regarding: dict[str, Any], type_: str, reason: str, action: str,
                     note: str) -> None:
        """Record an event about any object (e.g. the ConfigMap a reload read)."""
        ...

    def flush_all(self) -> None:
        """Write aggregated event series now."""
        ...


# (nominator, shared waiting pods, activator) -> preemption's client
PreemptionClientFactory = Callable[["Nominator", WaitingPodsMap, PodActivator], PreemptionClient]


@dataclass(frozen=True, slots=True)
class Writers:
    """Every writer the assembled scheduler uses (see the module contract)."""

    binder: BindingClient
    volumes: VolumeClient
    status: StatusClient  # status subresources of objects other than pods (PodGroup, quotas)
    reporter: StatusReporter
    preemption_client: PreemptionClientFactory
    dispatchers: tuple[ApiDispatcher, ...] = ()


class DispatcherBinder:
    """DefaultBinder's client: POST pods/binding through the dispatcher."""

    def __init__(self, dispatcher: ApiDispatcher) -> None:
        self.dispatcher = dispatcher

    async def bind(self, pod: Pod, node_name: str) -> None:
        """POST pods/binding through the dispatcher; raises the call's final error."""
        m = pod.metadata
        await self.dispatcher.bind(m.namespace, m.name, m.uid, node_name)


def api_writers(client: ApiClient, *, qps: float, burst: int,
                guard: Callable[[], bool] | None = None) -> Writers:
    """The writers of ``pyscheduler run``: two dispatchers (writes, and events with their own
    QPS budget, as kube-scheduler's separate event client), each checking ``guard`` (the
    leader elector's holds_lease) before every call is sent."""
    from pyscheduler.backend.api_dispatcher import ApiDispatcher
    from pyscheduler.scheduler.preemption_client import DispatcherPreemptionClient
    from pyscheduler.scheduler.reporter import EventReporter

    dispatcher = ApiDispatcher(client, qps=qps, burst=burst, guard=guard)
    events = ApiDispatcher(client, qps=qps, burst=burst, workers=16,
                           name="api_dispatcher_events", guard=guard)
    reporter = EventReporter(dispatcher, event_dispatcher=events)

    def preemption(nominator: Nominator, waiting: WaitingPodsMap,
                   activator: PodActivator) -> PreemptionClient:
        return DispatcherPreemptionClient(dispatcher, reporter, nominator, waiting,
                                          activator=activator)

    return Writers(DispatcherBinder(dispatcher), dispatcher, dispatcher, reporter, preemption,
                   (dispatcher, events))
