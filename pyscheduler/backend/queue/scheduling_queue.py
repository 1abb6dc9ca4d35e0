"""The scheduling queue (upstream backend/queue/scheduling_queue.go, active_queue.go,
backoff_queue.go), for one asyncio event loop. The unschedulable pool is
``unschedulable_pods.py``, the in-flight pods and their event log ``in_flight.py``, and the
queueing-hint evaluation ``hints.py``.

Contract:
* Every pending pod the queue knows of is in exactly one place, keyed by UID:
  - activeQ: a heap ordered by the profile's QueueSort ``less``; ``pop()`` takes its head;
  - backoffQ: pods waiting out their backoff (``backoff.py``; at least the failure's
    ``min_backoff``, a failed pod group's podGroupBackoffSeconds), ordered by backoff expiry;
  - the unschedulable pool: pods whose last attempt was rejected and that wait for a cluster
    event their rejector plugins say may help; pods rejected by PreEnqueue (scheduling gates)
    sit here too, marked ``gated``, and only events registered by their gating plugin (or an
    update of the pod itself) re-run PreEnqueue;
  - in flight: popped and not yet ``done()``; the scheduler owns the QueuedPodInfo meanwhile.
* Moves:
  - ``add`` runs PreEnqueue: pass → activeQ, reject → pool (gated).
  - ``add_unschedulable_if_not_present`` (after a failed attempt; it also calls ``done``)
    evaluates the cluster events recorded since the pod was popped against the hints of its
    rejector plugins: one says Queue → backoffQ (activeQ if the backoff already passed, or if
    a *pending* plugin said Queue), none → pool. A pod without rejector plugins failed with an
    Error and always goes to backoffQ. So an event that arrives while a pod is being scheduled
    is never lost.
  - ``move_all_to_active_or_backoff(event, old, new, precheck)`` moves pool pods for which a
    rejector plugin registered a matching event whose hint says Queue (no hint = Queue; a
    hint that raises = Queue, logged). Pods with no rejectors move on any event. Wildcard
    events (UnschedulableTimeout, ForceActivate) move every non-gated pod (ForceActivate
    carrying a pod moves only that pod).
  - A plugin name absent from ``events_by_plugin`` is taken to be interested in every event
    with no hint, as upstream registers plugins without EnqueueExtensions; a plugin mapped to
    an empty list is interested in none (only the unschedulable timeout moves its pods).
  - Flushes (``run()``'s tasks, or called directly): backoffQ → activeQ as each backoff
    completes (checked at least every ``backoff_flush_interval``), and pool pods not retried
    for ``pod_max_in_unschedulable_pods_duration`` → backoffQ/activeQ every
    ``unschedulable_flush_interval``.
  - ``update``: in activeQ/backoffQ the pod is updated in place; in the pool it is moved to
    backoffQ/activeQ when ``is_pod_updated`` (anything but status/resourceVersion changed),
    which re-runs PreEnqueue for a gated pod; an in-flight pod's update is recorded as
    in-flight events and its newest version replaces the popped one when it comes back.
  - ``delete`` removes the pod from wherever it is and from the nominator; a pod deleted while
    in flight is dropped when it comes back.
* ``pop()`` increments the attempts and the scheduling cycle, clears the rejector plugin sets
  (the scheduler sets them again on failure) and records the pod as in flight.
* The caller must not forward updates of pods it has assumed (bound or binding) in the cache,
  as upstream's event handlers do: such a pod is neither queued nor in flight once ``done``
  was called, and an update would queue it again.
Not thread-safe: every method must be called from the event loop that runs ``pop()``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from pyscheduler.backend.queue.backoff import (
    DEFAULT_POD_INITIAL_BACKOFF_SECONDS,
    DEFAULT_POD_MAX_BACKOFF_SECONDS,
    backoff_expiry,
    validate_backoff,
)
from pyscheduler.backend.queue.events import (
    BACKOFF_COMPLETE,
    EVENT_UNSCHEDULED_POD_ADD,
    EVENT_UNSCHEDULED_POD_UPDATE,
    FORCE_ACTIVATE,
    SCHEDULE_ATTEMPT_FAILURE,
    event_label,
    is_pod_updated,
    is_wildcard,
    pod_scheduling_properties_change,
)
from pyscheduler.backend.queue.heap import KeyedHeap
from pyscheduler.backend.queue.hints import HintEvaluator, QueueingStrategy
from pyscheduler.backend.queue.in_flight import InFlightLog, RecordedEvent
from pyscheduler.backend.queue.metrics import (
    ACTIVE,
    BACKOFF,
    GATED,
    UNSCHEDULABLE,
    QueueMetrics,
    default_queue_metrics,
)
from pyscheduler.backend.queue.nominator import Nominator
from pyscheduler.backend.queue.unschedulable_pods import UnschedulablePods
from pyscheduler.framework.interfaces import PreEnqueuePlugin
from pyscheduler.framework.status import Code, Status, is_success
from pyscheduler.framework.types import (
    EVENT_ASSIGNED_POD_ADD,
    EVENT_ASSIGNED_POD_DELETE,
    EVENT_FORCE_ACTIVATE,
    EVENT_POD_ADD,
    EVENT_UNSCHEDULABLE_TIMEOUT,
    ClusterEvent,
    ClusterEventWithHint,
    PodInfo,
    QueuedPodInfo,
)
from pyscheduler.metrics import UNSCHEDULABLE_PODS
from pyscheduler.model.pod import Pod

log = structlog.get_logger(__name__)

DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION = 300.0
DEFAULT_BACKOFF_FLUSH_INTERVAL = 1.0
DEFAULT_UNSCHEDULABLE_FLUSH_INTERVAL = 30.0
# Shortest sleep of the backoff loop: clock granularity must not turn it into a busy loop.
_MIN_BACKOFF_SLEEP = 0.001

# Where a pod is, as returned by ``where()``.
IN_FLIGHT = "in_flight"

PENDING_PODS_SUMMARY = "activeQ:{}; backoffQ:{}; unschedulablePods:{}"

_POD_ADD = event_label(EVENT_POD_ADD)
_POD_UPDATE = event_label(EVENT_UNSCHEDULED_POD_UPDATE)

LessFn = Callable[[QueuedPodInfo, QueuedPodInfo], bool]
PreEnqueueCheck = Callable[[Pod], bool]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(slots=True)
class _BackoffEntry:
    queued: QueuedPodInfo
    expiry: float


def _uid(queued: QueuedPodInfo) -> str:
    return queued.uid


def _backoff_uid(entry: _BackoffEntry) -> str:
    return entry.queued.uid


def _backoff_less(a: _BackoffEntry, b: _BackoffEntry) -> bool:
    return a.expiry < b.expiry


class PriorityQueue:
    """Pending pods of one profile: activeQ, backoffQ, the unschedulable pool and in-flight pods."""

    def __init__(
        self,
        less: LessFn,
        *,
        metrics: QueueMetrics | None = None,
        pre_enqueue_plugins: Mapping[str, PreEnqueuePlugin] | None = None,
        events_by_plugin: Mapping[str, Sequence[ClusterEventWithHint]] | None = None,
        clock: Clock = time.monotonic,
        pod_initial_backoff_seconds: float = DEFAULT_POD_INITIAL_BACKOFF_SECONDS,
        pod_max_backoff_seconds: float = DEFAULT_POD_MAX_BACKOFF_SECONDS,
        pod_max_in_unschedulable_pods_duration: float = (
            DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION
        ),
        backoff_flush_interval: float = DEFAULT_BACKOFF_FLUSH_INTERVAL,
        unschedulable_flush_interval: float = DEFAULT_UNSCHEDULABLE_FLUSH_INTERVAL,
        nominator: Nominator | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        validate_backoff(pod_initial_backoff_seconds, pod_max_backoff_seconds)
        if backoff_flush_interval <= 0 or unschedulable_flush_interval <= 0:
            raise ValueError("flush intervals must be > 0")
        if metrics is None:
            metrics = default_queue_metrics()
        self._less = less
        self._metrics = metrics
        self._pre_enqueue: dict[str, PreEnqueuePlugin] = dict(pre_enqueue_plugins or {})
        self._hints = HintEvaluator(events_by_plugin or {})
        self._clock = clock
        self._initial_backoff = pod_initial_backoff_seconds
        self._max_backoff = pod_max_backoff_seconds
        self._max_in_unschedulable = pod_max_in_unschedulable_pods_duration
        self._backoff_flush_interval = backoff_flush_interval
        # Upstream's GenericWorkload gate for queue moves: set while a gang plugin is enabled.
        self.workload_events = False
        self._unschedulable_flush_interval = unschedulable_flush_interval
        self._sleep = sleep
        self.nominator = nominator if nominator is not None else Nominator()

        self._active: KeyedHeap[QueuedPodInfo] = KeyedHeap(_uid, less)
        self._backoff: KeyedHeap[_BackoffEntry] = KeyedHeap(_backoff_uid, _backoff_less)
        self._pool = UnschedulablePods(metrics)
        # In-flight pods and the events received while any is (upstream inFlightEvents).
        self._in_flight = InFlightLog()
        self._cycle = 0

        # uid -> (profile, rejector plugins) counted in scheduler_unschedulable_pods
        self._rejectors: dict[str, tuple[str, frozenset[str]]] = {}
        self._gauge_active = metrics.pending_pods.labels(queue=ACTIVE)
        self._gauge_backoff = metrics.pending_pods.labels(queue=BACKOFF)
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []

    def set_plugins(self, pre_enqueue_plugins: Mapping[str, PreEnqueuePlugin],
                    events_by_plugin: Mapping[str, Sequence[ClusterEventWithHint]]) -> None:
        """A configuration reload's PreEnqueue plugins and event registrations; queued pods
        stay where they are and meet the new ones at their next move."""
        hints = HintEvaluator(events_by_plugin)
        # Pods already rejected by a plugin that registered no events may still be waiting, and
        # so may pods rejected by a plugin the new profiles no longer have: no event can be
        # dropped early for them (a missing plugin counts as interested in every event).
        hints.unknown_rejectors |= self._hints.unknown_rejectors
        for queued in self._pool.pods.values():
            hints.note_unknown_rejectors(queued)
        self._hints = hints
        self._pre_enqueue = dict(pre_enqueue_plugins)

    # ------------------------------------------------------------------------ lifecycle

    def run(self) -> None:
        """Start the flush loops on the running event loop (upstream Run)."""
        if self._tasks or self._closed:
            return
        self._tasks = [
            asyncio.create_task(self._backoff_loop(), name="queue-flush-backoff"),
            asyncio.create_task(self._unschedulable_loop(), name="queue-flush-unschedulable"),
        ]

    def close(self) -> None:
        """Stop the flush loops and make every waiting and future ``pop()`` return None."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        # As upstream: in-flight bookkeeping is released; a late done() is a no-op.
        for uid in list(self._in_flight.pods):
            self.done(uid)
        self._wake()

    async def aclose(self) -> None:
        """close() and wait for the flush loops to finish."""
        self.close()
        tasks, self._tasks = self._tasks, []
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def closed(self) -> bool:
        """close() was called."""
        return self._closed

    async def _backoff_loop(self) -> None:
        while not self._closed:
            try:
                self.flush_backoff_q_completed()
            except Exception:
                log.exception("flushing backoffQ failed")
            delay = self._backoff_flush_interval
            head = self._backoff.peek()
            if head is not None:
                # Wake when the next backoff completes, if that is sooner than the cadence.
                delay = min(delay, max(_MIN_BACKOFF_SLEEP, head.expiry - self._clock()))
            await self._sleep(delay)

    async def _unschedulable_loop(self) -> None:
        while not self._closed:
            await self._sleep(self._unschedulable_flush_interval)
            try:
                self.flush_unschedulable_pods_leftover()
            except Exception:
                log.exception("flushing unschedulable pods failed")

    # ---------------------------------------------------------------------- informer side

    def add(self, pod: Pod) -> None:
        """A new unscheduled pod of this profile (informer add)."""
        uid = pod.metadata.uid
        rec = self._in_flight.get(uid)
        if rec is not None and rec.deleted:
            # Deleted then re-added while its attempt runs (a relist can do this): it is live
            # again, and whatever the attempt's outcome it must come back to the queue.
            rec.deleted = False
            rec.latest = PodInfo.of(pod)
            rec.updated = True
            return
        existing = self._current_pod(uid)
        if existing is not None:
            # Re-delivered add (e.g. after a relist): keep one record, treat it as an update.
            self.update(existing, pod)
            return
        queued = QueuedPodInfo(PodInfo.of(pod), timestamp=self._clock())
        if self._move_to_active(queued, _POD_ADD, nominate=True):
            self._wake()

    def unscheduled_pod_added(self, pod: Pod) -> None:
        """After ``add``: upstream addPodToSchedulingQueue with GenericWorkload on moves pool
        pods on UnscheduledPodAdd, per their plugins' hints (a gang member arrived: its
        siblings held at PreEnqueue go to activeQ with it). Only while ``workload_events`` (a
        gang plugin is enabled), as upstream only with the gate on: PodTopologySpread and
        InterPodAffinity register every pod event, and the pool would be scanned on each add."""
        if self.workload_events:
            self.move_all_to_active_or_backoff(EVENT_UNSCHEDULED_POD_ADD, None, pod)

    def update(self, old: Pod, new: Pod) -> None:
        """An unscheduled pod of this profile changed (informer update)."""
        uid = new.metadata.uid
        rec = self._in_flight.get(uid)
        if rec is not None:
            if rec.deleted:
                return
            # Record the change: if the attempt fails, these events are evaluated against the
            # rejector plugins, and the newest version is what goes back to the queue.
            for ev in pod_scheduling_properties_change(new, old):
                self._in_flight.record(ev, old, new)
            if is_pod_updated(old, new):
                rec.updated = True
            rec.latest = PodInfo.of(new)
            self.nominator.update_nominated_pod(old, rec.latest)
            return

        queued = self._active.get(uid)
        if queued is not None:
            queued.pod_info = PodInfo.of(new)
            self._active.add_or_update(queued)  # re-sift: the sort key may depend on the pod
            self.nominator.update_nominated_pod(old, queued.pod_info)
            return

        entry = self._backoff.get(uid)
        if entry is not None:
            # The expiry depends on attempts and the failure time only: no re-sift needed.
            entry.queued.pod_info = PodInfo.of(new)
            self.nominator.update_nominated_pod(old, entry.queued.pod_info)
            return

        queued = self._pool.get(uid)
        if queued is not None:
            queued.pod_info = PodInfo.of(new)
            self.nominator.update_nominated_pod(old, queued.pod_info)
            if is_pod_updated(old, new):
                where = self._requeue(queued, QueueingStrategy.AFTER_BACKOFF, _POD_UPDATE)
                if where == ACTIVE:
                    self._wake()
            else:
                # Keep it where it is, with the new object (gated state unchanged).
                self._pool.add_or_update(queued, _POD_UPDATE)
            return

        # Not known: an update that became relevant (e.g. schedulerName changed to ours).
        queued = QueuedPodInfo(PodInfo.of(new), timestamp=self._clock())
        if self._move_to_active(queued, _POD_UPDATE, nominate=True):
            self._wake()

    def delete(self, pod: Pod) -> None:
        """The pod is gone or was bound (informer delete, or the unscheduled filter flipped)."""
        uid = pod.metadata.uid
        self.nominator.delete_nominated_pod_if_exists(pod)
        self._uncount_rejectors(uid)
        if self._active.delete(uid) is not None:
            self._gauge_active.dec()
            return
        if self._backoff.delete(uid) is not None:
            self._gauge_backoff.dec()
            return
        if self._pool.remove(uid) is not None:
            return
        rec = self._in_flight.get(uid)
        if rec is not None:
            rec.deleted = True

    def assigned_pod_added(self, pod: Pod) -> None:
        """A pod got bound (AssignedPodAdd): may help pods rejected for affinity/spreading."""
        self.move_all_to_active_or_backoff(EVENT_ASSIGNED_POD_ADD, None, pod)

    def assigned_pod_updated(self, old: Pod, new: Pod, event: ClusterEvent | None = None) -> None:
        """A bound pod changed (AssignedPod/Update*); ``event`` defaults to the diff's events."""
        events = [event] if event is not None else pod_scheduling_properties_change(new, old)
        for ev in events:
            self.move_all_to_active_or_backoff(ev, old, new)

    def assigned_pod_deleted(self, pod: Pod) -> None:
        """A bound pod is gone (AssignedPodDelete): frees resources on its node."""
        self.move_all_to_active_or_backoff(EVENT_ASSIGNED_POD_DELETE, pod, None)

    def move_all_to_active_or_backoff(
        self,
        event: ClusterEvent,
        old: Any = None,
        new: Any = None,
        precheck: PreEnqueueCheck | None = None,
    ) -> None:
        """Requeue pool pods that ``event`` may make schedulable, per their rejectors' hints."""
        matching = self._hints.matching(event)
        if not matching and not is_wildcard(event) and not self._hints.unknown_rejectors:
            # No enabled plugin cares: do not even look at the pool (or record the event).
            return
        candidates = [
            queued for queued in self._pool.pods.values()
            if precheck is None or precheck(queued.pod)
        ]
        self._move_pods(candidates, event, old, new)

    def activate(self, pods: Iterable[Pod]) -> None:
        """Move these pods to activeQ now, skipping backoff (upstream Activate/ForceActivate).

        A pod in flight gets a ForceActivate event recorded, so that if its attempt fails it
        is requeued instead of parked. Unknown pods and pods already in activeQ are ignored.
        """
        activated = False
        for pod in pods:
            uid = pod.metadata.uid
            queued = self._pool.get(uid)
            if queued is None:
                entry = self._backoff.delete(uid)
                if entry is not None:
                    self._gauge_backoff.dec()
                    queued = entry.queued
            if queued is not None:
                activated |= self._move_to_active(queued, FORCE_ACTIVATE)
                continue
            if uid in self._in_flight:
                self._in_flight.record(EVENT_FORCE_ACTIVATE, None, pod)
        if activated:
            self._wake()

    # --------------------------------------------------------------------- scheduler side

    async def pop(self) -> QueuedPodInfo | None:
        """The head of activeQ, waiting for one; None once the queue is closed."""
        while True:
            queued = self.try_pop()
            if queued is not None:
                return queued
            if self._closed:
                return None
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)

    def try_pop(self) -> QueuedPodInfo | None:
        """pop() without waiting: None when activeQ is empty or the queue is closed."""
        if self._closed:
            return None
        while True:
            queued = self._active.pop()
            if queued is None:
                return None
            self._gauge_active.dec()
            if queued.uid in self._in_flight:
                # Upstream discards such a duplicate too; add() routes known UIDs to update(),
                # so reaching this is a bug worth a loud log rather than a second attempt.
                log.error("pod is already in flight; discarding the duplicate", pod=queued.key)
                continue
            queued.attempts += 1
            self._uncount_rejectors(queued.uid)
            # The scheduler reports this attempt's rejectors afresh on failure.
            queued.unschedulable_plugins = set()
            queued.pending_plugins = set()
            queued.min_backoff = 0.0
            self._cycle += 1
            self._in_flight.start(queued.uid, queued.pod_info, self._cycle)
            return queued

    def take(self, uid: str) -> QueuedPodInfo | None:
        """Pop this pod wherever it waits (activeQ, backoffQ or the pool), as ``pop()`` would
        pop it: counted as an attempt and in flight. None if it is not queued (in flight
        already, or unknown). The pod group cycle takes a group's other members this way."""
        if self._closed or uid in self._in_flight:
            return None
        queued = self._active.delete(uid)
        if queued is not None:
            self._gauge_active.dec()
        else:
            entry = self._backoff.delete(uid)
            if entry is not None:
                self._gauge_backoff.dec()
                queued = entry.queued
            else:
                queued = self._pool.remove(uid)
        if queued is None:
            return None
        queued.attempts += 1
        queued.unschedulable_plugins = set()
        queued.pending_plugins = set()
        queued.min_backoff = 0.0
        self._cycle += 1
        self._in_flight.start(queued.uid, queued.pod_info, self._cycle)
        return queued

    def done(self, uid: str) -> None:
        """The scheduling (and binding) of a popped pod finished; release its in-flight record."""
        self._in_flight.finish(uid)

    def add_unschedulable_if_not_present(self, queued: QueuedPodInfo,
                                         scheduling_cycle: int = 0) -> None:
        """Requeue a pod whose attempt failed (``where(uid)`` tells where it went).

        The scheduler sets ``queued.unschedulable_plugins`` / ``pending_plugins`` to the plugins
        that rejected it (both empty for an Error). Calls ``done(uid)``. ``scheduling_cycle``
        is accepted for upstream parity: the in-flight event log makes it unnecessary.
        """
        del scheduling_cycle
        uid = queued.uid
        rec = self._in_flight.get(uid)
        try:
            if rec is not None and rec.deleted:
                log.debug("pod was deleted while in flight; not requeuing", pod=queued.key)
                return
            if uid in self._active or uid in self._backoff or uid in self._pool:
                log.error("pod is already queued; not adding it again", pod=queued.key)
                return
            if rec is not None and rec.latest is not None:
                queued.pod_info = rec.latest
            queued.gated = False
            queued.gating_plugin = ""
            # The failure time: backoff and the unschedulable timeout count from here.
            queued.timestamp = self._clock()
            self._hints.note_unknown_rejectors(queued)
            self._count_rejectors(queued)
            if rec is None:
                # Not popped, or done() already called: we cannot know what happened meanwhile,
                # so retry after backoff rather than risk parking it (upstream does the same).
                # close() releases every record, so after it this is the normal shutdown path.
                if not self._closed:
                    log.warning("pod was not in flight; requeuing after backoff", pod=queued.key)
                strategy = QueueingStrategy.AFTER_BACKOFF
            else:
                strategy = self._hints.strategy_for_in_flight(queued, rec, self._in_flight)
            if self._requeue(queued, strategy, SCHEDULE_ATTEMPT_FAILURE) == ACTIVE:
                self._wake()
        finally:
            self.done(uid)

    def scheduling_cycle(self) -> int:
        """Number of pods popped so far (upstream SchedulingCycle)."""
        return self._cycle

    def in_flight_cycle(self, uid: str) -> int | None:
        """The scheduling cycle in which this in-flight pod was popped."""
        rec = self._in_flight.get(uid)
        return None if rec is None else rec.cycle

    # ---------------------------------------------------------------------------- flushes

    def flush_backoff_q_completed(self) -> None:
        """Move pods whose backoff completed to activeQ (upstream flushBackoffQCompleted)."""
        now = self._clock()
        activated = False
        while True:
            head = self._backoff.peek()
            if head is None or head.expiry > now:
                break
            self._backoff.pop()
            self._gauge_backoff.dec()
            activated |= self._move_to_active(head.queued, BACKOFF_COMPLETE)
        if activated:
            self._wake()

    def flush_unschedulable_pods_leftover(self) -> None:
        """Requeue pool pods not retried for pod_max_in_unschedulable_pods_duration."""
        now = self._clock()
        stale = [
            queued for queued in self._pool.pods.values()
            if now - queued.timestamp > self._max_in_unschedulable
        ]
        if stale:
            for queued in stale:
                queued.flushed = True  # scheduler_pod_scheduled_after_flush_total counts these
            self._move_pods(stale, EVENT_UNSCHEDULABLE_TIMEOUT, None, None)

    # ---------------------------------------------------------------------- introspection

    def where(self, uid: str) -> str | None:
        """Which sub-queue holds the pod: active, backoff, unschedulable, gated, in_flight."""
        if uid in self._active:
            return ACTIVE
        if uid in self._backoff:
            return BACKOFF
        queued = self._pool.get(uid)
        if queued is not None:
            return GATED if queued.gated else UNSCHEDULABLE
        rec = self._in_flight.get(uid)
        if rec is not None and not rec.deleted:
            return IN_FLIGHT
        return None

    def get(self, uid: str) -> QueuedPodInfo | None:
        """The queued record of a pod that is not in flight."""
        queued = self._active.get(uid)
        if queued is not None:
            return queued
        entry = self._backoff.get(uid)
        if entry is not None:
            return entry.queued
        return self._pool.get(uid)

    def backoff_expiry(self, uid: str) -> float | None:
        """When the pod's backoff ends (clock time), if it is in backoffQ."""
        entry = self._backoff.get(uid)
        return None if entry is None else entry.expiry

    def next_backoff_expiry(self) -> float | None:
        """When the earliest backoff in backoffQ ends (clock time); None when it is empty."""
        head = self._backoff.peek()
        return None if head is None else head.expiry

    def pods_in_active_q(self) -> list[Pod]:
        """Pods in activeQ, in no particular order."""
        return [queued.pod for queued in self._active]

    def pods_in_backoff_q(self) -> list[Pod]:
        """Pods in backoffQ, in no particular order."""
        return [entry.queued.pod for entry in self._backoff]

    def unschedulable_pods(self) -> list[Pod]:
        """Pods in the unschedulable pool, gated ones included (as upstream)."""
        return [queued.pod for queued in self._pool.pods.values()]

    def in_flight_pods(self) -> list[Pod]:
        """Popped pods whose attempt is not done (deleted ones left out)."""
        return [rec.pod_info.pod for rec in self._in_flight if not rec.deleted]

    def pending_pods(self) -> tuple[list[Pod], str]:
        """Every queued pod and upstream's "activeQ:%v; backoffQ:%v; unschedulablePods:%v"."""
        active = self.pods_in_active_q()
        backoff = self.pods_in_backoff_q()
        pool = self.unschedulable_pods()
        return active + backoff + pool, PENDING_PODS_SUMMARY.format(
            len(active), len(backoff), len(pool)
        )

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        """The nominator's pods nominated to ``node_name``."""
        return self.nominator.nominated_pods_for_node(node_name)

    # ---------------------------------------------------------------------------- internals

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _current_pod(self, uid: str) -> Pod | None:
        queued = self.get(uid)
        if queued is not None:
            return queued.pod
        rec = self._in_flight.get(uid)
        if rec is not None and not rec.deleted:
            return (rec.latest or rec.pod_info).pod
        return None

    def counts(self) -> dict[str, int]:
        """Pods per sub-queue (active, backoff, unschedulable, gated), for the metrics."""
        gated = self._pool.gated_count
        return {ACTIVE: len(self._active), BACKOFF: len(self._backoff),
                UNSCHEDULABLE: len(self._pool) - gated, GATED: gated}

    def in_flight_event_counts(self) -> dict[str, int]:
        """scheduler_inflight_events{event}: events kept for in-flight pods, by label, plus
        one "PodPopped" per in-flight pod (upstream counts the pop as an event)."""
        counts: dict[str, int] = {"PodPopped": len(self._in_flight)}
        for rec in self._in_flight.events:
            label = event_label(rec.event)
            counts[label] = counts.get(label, 0) + 1
        return counts

    def _count_rejectors(self, queued: QueuedPodInfo) -> None:
        """scheduler_unschedulable_pods{plugin,profile}: a rejected or gated pod counts once
        for each plugin that rejected it, until it is popped again or deleted (upstream)."""
        self._uncount_rejectors(queued.uid)
        plugins = frozenset(queued.unschedulable_plugins | queued.pending_plugins)
        if not plugins:
            return
        profile = queued.pod.spec.scheduler_name
        for plugin in plugins:
            UNSCHEDULABLE_PODS.labels(plugin, profile).inc()
        self._rejectors[queued.uid] = (profile, plugins)

    def _uncount_rejectors(self, uid: str) -> None:
        entry = self._rejectors.pop(uid, None)
        if entry is not None:
            for plugin in entry[1]:
                UNSCHEDULABLE_PODS.labels(plugin, entry[0]).dec()

    def _is_backing_off(self, queued: QueuedPodInfo) -> bool:
        return self._expiry(queued) > self._clock()

    def _expiry(self, queued: QueuedPodInfo) -> float:
        return max(backoff_expiry(queued.timestamp, queued.attempts, self._initial_backoff,
                                  self._max_backoff), queued.timestamp + queued.min_backoff)

    def _add_to_active(self, queued: QueuedPodInfo, event: str) -> None:
        if self._active.add_or_update(queued):
            self._gauge_active.inc()
        self._metrics.incoming(ACTIVE, event)

    def _add_to_backoff(self, queued: QueuedPodInfo, event: str) -> None:
        if self._backoff.add_or_update(_BackoffEntry(queued, self._expiry(queued))):
            self._gauge_backoff.inc()
        self._metrics.incoming(BACKOFF, event)

    def _run_pre_enqueue(self, queued: QueuedPodInfo) -> bool:
        """Run PreEnqueue plugins, the gating one first; False (and gated) on a rejection."""
        if self._pre_enqueue:
            order = list(self._pre_enqueue.items())
            if queued.gating_plugin in self._pre_enqueue:
                # The plugin that gated it last is the likeliest to gate it again.
                order.sort(key=lambda item: item[0] != queued.gating_plugin)
            for name, plugin in order:
                status: Status | None
                try:
                    status = plugin.pre_enqueue(queued.pod)
                except Exception as err:
                    status = Status.as_error(err, name)
                if is_success(status):
                    continue
                assert status is not None
                queued.unschedulable_plugins.add(name)
                queued.gated = True
                queued.gating_plugin = name
                self._hints.note_unknown_rejectors(queued)
                self._count_rejectors(queued)
                if status.code == Code.ERROR:
                    log.error("PreEnqueue plugin failed; pod stays gated", pod=queued.key,
                              plugin=name, error=status.message(), exc_info=status.error)
                else:
                    log.debug("pod gated by PreEnqueue", pod=queued.key, plugin=name,
                              reason=status.message())
                return False
        queued.gated = False
        queued.gating_plugin = ""
        return True

    def _move_to_active(self, queued: QueuedPodInfo, event: str, nominate: bool = False,
                        pre_enqueued: bool = False) -> bool:
        """PreEnqueue (unless the caller just ran it), then activeQ; a gated pod goes to (or
        stays in) the pool instead."""
        uid = queued.uid
        if not pre_enqueued and not self._run_pre_enqueue(queued):
            if uid not in self._active and uid not in self._backoff:
                self._pool.add_or_update(queued, event)
            return False
        if queued.initial_attempt_timestamp is None:
            queued.initial_attempt_timestamp = self._clock()
        self._pool.remove(uid)
        if self._backoff.delete(uid) is not None:
            self._gauge_backoff.dec()
        self._add_to_active(queued, event)
        if nominate and queued.pod.status.nominated_node_name:
            # Only a nomination carried by the object is (re)installed: a pod update without
            # the field must not wipe one made in memory (see Nominator.update_nominated_pod).
            self.nominator.add_nominated_pod(queued.pod_info)
        return True

    def _requeue(self, queued: QueuedPodInfo, strategy: QueueingStrategy, event: str,
                 pre_enqueued: bool = False) -> str:
        """Put a pod (already out of activeQ/backoffQ) where ``strategy`` says; returns where."""
        if strategy == QueueingStrategy.SKIP:
            self._pool.add_or_update(queued, event)
            return UNSCHEDULABLE
        if strategy == QueueingStrategy.AFTER_BACKOFF and self._is_backing_off(queued):
            self._pool.remove(queued.uid)
            self._add_to_backoff(queued, event)
            return BACKOFF
        if self._move_to_active(queued, event, nominate=event == _POD_UPDATE,
                                pre_enqueued=pre_enqueued):
            return ACTIVE
        return GATED

    def _move_pods(self, candidates: list[QueuedPodInfo], event: ClusterEvent, old: Any,
                   new: Any) -> None:
        label = event_label(event)
        activated = False
        for queued in candidates:
            if queued.gated and not self._hints.gating_plugin_interested(queued, event):
                continue
            strategy = self._hints.worth_requeuing(queued, event, old, new)
            if strategy == QueueingStrategy.SKIP:
                continue
            passed = False
            if queued.gated:
                # Upstream moveToActiveQ leaves a still-gated pod where it is. Checking first
                # also spares the pool a remove/add (and the incoming-pods metric a count) per
                # event, which is most of the queue's work while preemptors wait for victims.
                if not self._run_pre_enqueue(queued):
                    continue
                passed = True
            self._pool.remove(queued.uid)
            activated |= self._requeue(queued, strategy, label, pre_enqueued=passed) == ACTIVE
        # Pods being scheduled now will evaluate this event if their attempt fails.
        self._in_flight.record(event, old, new)
        if activated:
            self._wake()

    @property
    def _events(self) -> list[RecordedEvent]:
        """The in-flight event log (tests inspect it)."""
        return self._in_flight.events
