"""Informer event handlers: cluster changes into the cache and the queue (upstream
pkg/scheduler/eventhandlers.go).

Contract:
* Handlers are plain functions run by the informers' processing tasks on the scheduler's loop;
  each runs to completion (no await), so the cache and queue need no locks.
* Assigned pods (nodeName set) feed the cache; unassigned pods whose schedulerName one of our
  profiles owns feed the queue; other unassigned pods are ignored. Every pod tombstone goes to
  the cache, whatever its last known nodeName (see ``assigned_filter``); a tombstone of a pod
  we own goes to the queue too.
* Node changes update the cache and move pods whose rejecting plugins' hints say a change
  may help; changes of the other watched kinds (scheduler/watched.py) only move pods.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.backend.queue.events import node_scheduling_properties_change
from pyscheduler.backend.queue.scheduling_queue import PriorityQueue
from pyscheduler.framework.interfaces import PodNominator
from pyscheduler.framework.types import (
    EVENT_ASSIGNED_POD_DELETE,
    EVENT_NODE_ADD,
    ActionType,
    ClusterEvent,
)
from pyscheduler.framework.types import Resource as EventResource
from pyscheduler.framework.waiting_pods import WaitingPodsMap
from pyscheduler.informers.delta_fifo import DeletedFinalStateUnknown
from pyscheduler.informers.shared_informer import SharedInformer, unwrap
from pyscheduler.metrics import EVENT_HANDLING_DURATION
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod, with_node_name
from pyscheduler.scheduler.watched import WATCHED
from pyscheduler.scheduler.writers import StatusReporter

log = structlog.get_logger(__name__)


def assigned_filter(obj: Pod | DeletedFinalStateUnknown[Pod]) -> bool:
    """Pods that take node resources; every tombstone too.

    A pod deleted while we were not watching arrives as a tombstone carrying the last state we
    saw. If it was bound in that gap (by us: assumed in the cache), that state says
    "unassigned", and judging by it would leave the pod in the cache for ever, holding its
    node's resources. The cache removes by UID and ignores a UID it does not hold, so every
    tombstone goes to it (upstream's assigned-pod filter does the same)."""
    if isinstance(obj, DeletedFinalStateUnknown):
        return True
    return bool(obj.spec.node_name)


def _last_state(obj: Pod | DeletedFinalStateUnknown[Pod]) -> Pod | None:
    """The pod of a delete notification; None (logged) for a tombstone with no state."""
    if not isinstance(obj, DeletedFinalStateUnknown):
        return obj
    if obj.obj is None:
        log.warning("skipping pod tombstone without a last known state", key=obj.key)
    return obj.obj


class EventHandlers:
    """The handlers one scheduler process registers on its informers."""

    def __init__(self, cache: SchedulerCache, queue: PriorityQueue, nominator: PodNominator,
                 reporter: StatusReporter, waiting_pods: WaitingPodsMap,
                 responsible: Callable[[Pod], bool]) -> None:
        self.cache = cache
        self.queue = queue
        self.nominator = nominator
        self.reporter = reporter
        self.waiting_pods = waiting_pods
        self.responsible = responsible

    def add_all_event_handlers(self, pods: SharedInformer[Pod], nodes: SharedInformer[Node],
                               others: Mapping[str, SharedInformer[Any]]) -> None:
        """Register on the pod and node informers and on the other watched kinds' (upstream
        addAllEventHandlers)."""
        nodes.add_event_handler(*_timed("Node", self._node_add, self._node_update,
                                         self._node_delete))
        pods.add_event_handler(
            *_timed("AssignedPod", self._assigned_add, self._assigned_update,
                    self._assigned_delete),
            filter=assigned_filter,
        )
        pods.add_event_handler(
            *_timed("UnscheduledPod", self._pending_add, self._pending_update,
                    self._pending_delete),
            filter=self._pending_filter,
        )
        self.add_watched_handlers(others)

    def add_watched_handlers(self, others: Mapping[str, SharedInformer[Any]]) -> None:
        """Register queue-moving handlers on informers of the other watched kinds (also for
        informers a configuration reload starts)."""
        for name, inf in others.items():
            res = WATCHED[name].events
            if res is not None:
                inf.add_event_handler(*_timed(res.value, *self._cluster_event_handlers(res)))

    def _pending_filter(self, obj: Pod | DeletedFinalStateUnknown[Pod]) -> bool:
        if isinstance(obj, DeletedFinalStateUnknown):
            # The last known state may be stale (the pod may have been bound since), so do not
            # judge by its nodeName: clean the queue up anyway (upstream's unassigned filter).
            return obj.obj is not None and self.responsible(obj.obj)
        return not obj.spec.node_name and self.responsible(obj)

    def _cluster_event_handlers(
        self, res: EventResource
    ) -> tuple[Callable[[Any], None], Callable[[Any, Any], None], Callable[[Any], None]]:
        """Handlers that turn changes of a watched object into queue moves (upstream
        addAllEventHandlers for the volume/storage kinds)."""
        add_ev = ClusterEvent(res, ActionType.ADD)
        upd_ev = ClusterEvent(res, ActionType.UPDATE)
        del_ev = ClusterEvent(res, ActionType.DELETE)

        def on_add(obj: Any) -> None:
            self.queue.move_all_to_active_or_backoff(add_ev, None, obj)

        def on_update(old: Any, new: Any) -> None:
            self.queue.move_all_to_active_or_backoff(upd_ev, old, new)

        def on_delete(obj: Any) -> None:
            self.queue.move_all_to_active_or_backoff(del_ev, unwrap(obj), None)

        return on_add, on_update, on_delete

    def _node_add(self, node: Node) -> None:
        self.cache.add_node(node)
        self.queue.move_all_to_active_or_backoff(EVENT_NODE_ADD, None, node)

    def _node_update(self, old: Node, new: Node) -> None:
        self.cache.update_node(old, new)
        for ev in node_scheduling_properties_change(new, old):
            self.queue.move_all_to_active_or_backoff(ev, old, new)

    def _node_delete(self, obj: Node | DeletedFinalStateUnknown[Node]) -> None:
        node = unwrap(obj)  # a tombstone carries the last state; the cache keys on the name
        if node is None:
            log.warning("skipping node tombstone without a last known state",
                        key=obj.key if isinstance(obj, DeletedFinalStateUnknown) else "")
            return
        self.cache.remove_node(node)

    def _assigned_add(self, pod: Pod) -> None:
        self.cache.add_pod(pod)
        self.nominator.delete_nominated_pod_if_exists(pod)
        self.queue.assigned_pod_added(pod)

    def _assigned_update(self, old: Pod, new: Pod) -> None:
        self.cache.update_pod(old, new)
        self.queue.assigned_pod_updated(old, new)

    def _assigned_delete(self, obj: Pod | DeletedFinalStateUnknown[Pod]) -> None:
        tombstone = isinstance(obj, DeletedFinalStateUnknown)
        pod = _last_state(obj)
        if pod is None:
            return
        node = self.cache.pod_node(pod.metadata.uid)
        removed = self.cache.remove_pod(pod)
        self.reporter.forget(pod.metadata.uid)
        if removed is None:
            if tombstone:
                return  # a pending pod's tombstone (the pending handler has it): nothing freed
            freed = pod
        else:
            # The pod as it was counted: an assumed pod's object still says "unassigned", and
            # hints skip deleted pods without a node (upstream passes the assumed copy).
            freed = with_node_name(removed.pod, node or "")
        self.queue.move_all_to_active_or_backoff(EVENT_ASSIGNED_POD_DELETE, freed, None)

    def _pending_add(self, pod: Pod) -> None:
        self.queue.add(pod)
        self.queue.unscheduled_pod_added(pod)

    def _pending_update(self, old: Pod, new: Pod) -> None:
        self.queue.update(old, new)

    def _pending_delete(self, obj: Pod | DeletedFinalStateUnknown[Pod]) -> None:
        pod = _last_state(obj)
        if pod is None:
            return
        self.queue.delete(pod)
        self.reporter.forget(pod.metadata.uid)
        self.waiting_pods.reject(pod.metadata.uid, "", "pod was deleted")


def _timed(
    resource: str, add: Callable[[Any], None], update: Callable[[Any, Any], None],
    delete: Callable[[Any], None],
) -> tuple[Callable[[Any], None], Callable[[Any, Any], None], Callable[[Any], None]]:
    """The handlers, each observed in scheduler_event_handling_duration_seconds{event} under
    upstream's label (<Resource><Action>, e.g. AssignedPodAdd, UnscheduledPodUpdate)."""
    h_add = EVENT_HANDLING_DURATION.labels(f"{resource}Add")
    h_upd = EVENT_HANDLING_DURATION.labels(f"{resource}Update")
    h_del = EVENT_HANDLING_DURATION.labels(f"{resource}Delete")

    def on_add(obj: Any) -> None:
        start = time.perf_counter()
        try:
            add(obj)
        finally:
            h_add.observe(time.perf_counter() - start)

    def on_update(old: Any, new: Any) -> None:
        start = time.perf_counter()
        try:
            update(old, new)
        finally:
            h_upd.observe(time.perf_counter() - start)

    def on_delete(obj: Any) -> None:
        start = time.perf_counter()
        try:
            delete(obj)
        finally:
            h_del.observe(time.perf_counter() - start)

    return on_add, on_update, on_delete
