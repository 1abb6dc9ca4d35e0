"""Assembly of a running scheduler: informers -> cache/queue -> scheduling loop -> API writes.

Contract (who owns what; see docs/ARCHITECTURE.md):
* Everything runs on one asyncio event loop. Informer handlers are plain functions called by
  each informer's processing task; they mutate the cache and the queue synchronously, so there
  is no locking: one handler call or one scheduling cycle runs at a time.
* The pod informer watches all non-terminal pods (upstream's field selector); eventhandlers.py
  routes their changes to the cache and the queue.
* Scheduling starts only after the pod and node informers have synced, so the first cycles see
  a complete cluster.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from pyscheduler import metrics
from pyscheduler.api.resources import NODES, PODS
from pyscheduler.api.resources import Resource as ApiResource
from pyscheduler.api.types import T
from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.backend.cache.debugger import CacheDebugger
from pyscheduler.framework.interfaces import Lister
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.runtime import Framework, FrameworkOptions
from pyscheduler.framework.waiting_pods import WaitingPodsMap
from pyscheduler.informers.indexer import IndexFunc
from pyscheduler.informers.shared_informer import SharedInformer
from pyscheduler.loadmetrics.monitor import LoadMetricsHub
from pyscheduler.loadmetrics.types import LoadSourceSpec, MetricsSource
from pyscheduler.model.elasticquota import ELASTIC_QUOTAS
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.model.podgroup import (
    COSCHEDULING_POD_GROUPS,
    POD_GROUP_INDEX,
    POD_GROUP_LABEL,
    group_index,
)
from pyscheduler.operator.podgroup_status import PodGroupStatusController
from pyscheduler.scheduler.eventhandlers import EventHandlers
from pyscheduler.scheduler.podgroup_timeout import PartialGroups
from pyscheduler.scheduler.quota_status import QuotaStatusWriter
from pyscheduler.scheduler.schedule_one import Scheduler, Tracer
from pyscheduler.scheduler.watched import WATCHED
from pyscheduler.scheduler.writers import Writers

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

log = structlog.get_logger(__name__)


NON_TERMINAL = "status.phase!=Succeeded,status.phase!=Failed"


class InformersNotSyncedError(RuntimeError):
    """The initial list of some informer did not complete in time (API server unreachable?)."""


def needed_listers(config: Any) -> set[str]:
    """Lister names the enabled plugins of every profile declare (PluginSpec.listers)."""
    names: set[str] = set()
    for prof in config.profiles:
        for plugin in prof.plugin_names:
            names.update(prof.specs[plugin].listers)
    return {n for n in names if n in WATCHED}


def _queue_plugins(frameworks: Mapping[str, Framework]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The PreEnqueue plugins and the event registrations of every profile, by plugin name."""
    events: dict[str, Any] = {}
    pre_enqueue: dict[str, Any] = {}
    for fwk in frameworks.values():
        events.update(fwk.events_by_plugin())
        pre_enqueue.update(fwk.pre_enqueue_plugins())
    return pre_enqueue, events


def _queue_sort(config: Any) -> tuple[str, ...]:
    """The QueueSort plugin names of a configuration's profiles (validation makes them one)."""
    return tuple(sorted({name for p in config.profiles for name in p.queue_sort}))


def _node_name_index(pod: Pod) -> list[str]:
    return [pod.spec.node_name] if pod.spec.node_name else []


@dataclass(frozen=True, slots=True)
class ReloadSummary:
    """What a configuration reload changed about which pods are ours."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    queued: int  # pending pods of added profiles, queued
    dropped: int  # pending pods of removed profiles, taken out of the queue


def _restart_only_changes(old: Any, new: Any) -> list[str]:
    """Fields a running process cannot change: the client connection, leader election and
    cache timing are fixed at start (upstream reads them once, too)."""
    errors: list[str] = []
    for attr, path in (("client_connection", "clientConnection"),
                       ("leader_election", "leaderElection"),
                       ("delay_cache_until_active", "delayCacheUntilActive"),
                       ("pod_initial_backoff_seconds", "podInitialBackoffSeconds"),
                       ("pod_max_backoff_seconds", "podMaxBackoffSeconds")):
        if getattr(old, attr) != getattr(new, attr):
            errors.append(f"{path}: Forbidden: cannot change without a restart")
    return errors


class InformerSource(Protocol):
    """Where the app's informers come from: a SharedInformerFactory over the API, or the dry
    run's in-memory one (same informers, fed from a snapshot)."""

    def informer_for(self, resource: ApiResource, object_type: type[T], *,
                     namespace: str | None = None, label_selector: str = "",
                     field_selector: str = "",
                     indexers: Mapping[str, IndexFunc[T]] | None = None) -> SharedInformer[T]:
        """The shared informer for this resource and selectors (created on first ask)."""
        ...

    def start(self) -> None:
        """Start every informer not running yet."""
        ...

    async def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """True once every started informer synced; False after ``timeout``."""
        ...

    async def shutdown(self) -> None:
        """Stop every informer."""
        ...


class SchedulerApp:
    """Builds and runs one scheduler process against an API server."""

    def __init__(self, client: ApiClient | None, config: Any, *, qps: float | None = None,
                 burst: int | None = None, write_guard: Callable[[], bool] | None = None,
                 registry: Mapping[str, PluginSpec] | None = None,
                 informers: InformerSource | None = None, writers: Writers | None = None,
                 clock: Callable[[], float] | None = None,
                 tracer: Tracer | None = None, seed: int | None = None,
                 load_sources: Callable[[LoadSourceSpec], MetricsSource | None] | None = None,
                 load_clock: Callable[[], float] | None = None) -> None:
        """Build everything, in one direction: API writers, cache and informers, the
        nominator, waiting pods and preemption executor, then one Framework per profile (each
        its plugins' Handle), then the queue and the scheduling loop. ``registry`` is the
        plugin registry the configuration was resolved with (in-tree plus out-of-tree).

        ``informers`` and ``writers`` default to the API's (a SharedInformerFactory over
        ``client``, ``writers.api_writers``); the dry run passes in-memory ones, and a fake
        ``clock`` for the queue's backoff, a ``tracer`` that records what each attempt saw and
        a ``seed`` for tie-breaking, so the very same engine runs, reproducibly, without
        writing; and ``load_sources`` / ``load_clock`` for its one load sample."""
        from pyscheduler.backend.queue.scheduling_queue import PriorityQueue
        from pyscheduler.scheduler.profile import build_frameworks

        self.client = client
        self.config = config
        conn = config.client_connection
        if (writers is None or informers is None) and client is None:
            raise ValueError("an API client is needed unless informers and writers are given")
        if writers is None:
            assert client is not None
            # The API's writers and informers are imported only when used: the offline dry
            # run builds this app without the Kubernetes client library loaded at all.
            from pyscheduler.scheduler.writers import api_writers

            # write_guard (the leader elector's holds_lease) is checked before every write.
            writers = api_writers(client, qps=qps or conn.qps, burst=burst or conn.burst,
                                  guard=write_guard)
        self.writers = writers
        self.reporter = writers.reporter
        self.cache = SchedulerCache()
        if informers is None:
            assert client is not None
            from pyscheduler.informers.factory import SharedInformerFactory

            informers = SharedInformerFactory(client)
        self.factory: InformerSource = informers
        self.pods: SharedInformer[Pod] = self.factory.informer_for(
            PODS, Pod, field_selector=NON_TERMINAL,
            indexers={"nodeName": _node_name_index, POD_GROUP_INDEX: group_index}
        )
        self.nodes: SharedInformer[Node] = self.factory.informer_for(NODES, Node)
        from pyscheduler.backend.queue.nominator import Nominator
        from pyscheduler.preemption.executor import Executor

        self.nominator = Nominator(self._lookup_pod)
        self.listers: dict[str, Lister] = {"pods": self.pods.indexer}
        self.extra_informers: dict[str, SharedInformer[Any]] = {}
        for name in sorted(needed_listers(config)):
            w = WATCHED[name]
            inf: SharedInformer[Any] = self.factory.informer_for(
                w.api, w.type, indexers=w.all_indexers())
            self.extra_informers[name] = inf
            self.listers[name] = inf.indexer
        self.waiting_pods = WaitingPodsMap()
        # scheduler-plugins' PodGroup status, when Coscheduling is enabled: it counts terminal
        # members too, so it reads a watch of every labelled pod (the pod informer above
        # holds non-terminal pods only).
        self.podgroup_status: PodGroupStatusController | None = None
        if COSCHEDULING_POD_GROUPS in self.extra_informers:
            group_pods: SharedInformer[Pod] = self.factory.informer_for(
                PODS, Pod, label_selector=POD_GROUP_LABEL,
                indexers={POD_GROUP_INDEX: group_index})
            self.podgroup_status = PodGroupStatusController(
                self.listers[COSCHEDULING_POD_GROUPS], group_pods.indexer, writers.status)
        # activator=self: the queue does not exist yet; activate() forwards to it, and nothing
        # calls it before scheduling starts.
        self.preemption_client = writers.preemption_client(
            self.nominator, self.waiting_pods, self)
        # One executor for every profile: the queue keeps one PreEnqueue instance per plugin
        # name, and it must see every preemptor's calls in flight.
        self.preemption_executor = Executor(self.preemption_client, self.get_pod)

        # Node load pollers for load-aware plugins (issue 18): created as plugins ask for a
        # source, polling from run() on; never started by the dry run, which polls each once
        # (dryrun/load.py).
        self.load_metrics = LoadMetricsHub(client, lambda: self.cache.snapshot.table.index,
                                           load_clock or time.time, load_sources)

        def options_for(profile: str) -> FrameworkOptions:
            return FrameworkOptions(
                snapshot=self.cache.snapshot,
                listers=self.listers,
                binding_client=writers.binder,
                volume_client=writers.volumes,
                status_client=writers.status,
                event_recorder=self.reporter.recorder(profile),
                nominator=self.nominator,
                activator=self,
                waiting_pods=self.waiting_pods,
                preemption_executor=self.preemption_executor,
                load_metrics=self.load_metrics,
                preemption_allowed_scheduler_names=config.preemption_allowed_scheduler_names,
                seed=seed,
            )

        # Kept for reload(): a new configuration's frameworks get the same Handle options.
        self._options_for = options_for
        self._registry = registry
        with self.load_metrics.recording() as load_specs:
            self.frameworks: dict[str, Framework] = build_frameworks(config, options_for,
                                                                     registry)
        # The load sources these frameworks read: reload() stops the pollers of the others.
        self._load_specs = frozenset(load_specs)
        first = next(iter(self.frameworks.values()))
        pre_enqueue, events = _queue_plugins(self.frameworks)
        self.queue = PriorityQueue(
            first.less,
            pre_enqueue_plugins=pre_enqueue,
            events_by_plugin=events,
            pod_initial_backoff_seconds=float(config.pod_initial_backoff_seconds),
            pod_max_backoff_seconds=float(config.pod_max_backoff_seconds),
            nominator=self.nominator,
            clock=clock or time.monotonic,
        )
        self.queue.workload_events = any(f.gang_plugins for f in self.frameworks.values())
        self.scheduler = Scheduler(
            self.cache, self.queue, self.frameworks, self.reporter, self.get_pod,
            self.nominator, tracer,
        )
        self.scheduler.partial_groups = PartialGroups(self.preemption_client,
                                                      self.cache.is_assumed)
        self.handlers = EventHandlers(self.cache, self.queue, self.nominator, self.reporter,
                                      self.waiting_pods, self.responsible)
        self.handlers.add_all_event_handlers(self.pods, self.nodes, self.extra_informers)
        self.debugger = CacheDebugger(self.cache, self.pods.indexer, self.nodes.indexer,
                                      self.queue)
        # status.used of ElasticQuotas, when a profile's plugins watch them (CapacityScheduling)
        quotas = self.listers.get(ELASTIC_QUOTAS)
        self.quota_status: QuotaStatusWriter | None = (
            QuotaStatusWriter(lambda: self.cache.snapshot, quotas, writers.status)
            if quotas is not None else None)
        self.synced = False
        self._aborted = asyncio.Event()

    # ---- lookups --------------------------------------------------------------------------
    def get_pod(self, key: str) -> Pod | None:
        """The informer's current pod for 'namespace/name', or None."""
        obj: Pod | None = self.pods.indexer.get_by_key(key)
        return obj

    def _lookup_pod(self, key: str, uid: str) -> Pod | None:
        pod = self.get_pod(key)
        return pod if pod is not None and pod.metadata.uid == uid else None

    def _cache_sizes(self) -> dict[str, int]:
        """scheduler_cache_size{type}: upstream's assumed_pods, pods and nodes."""
        return {"assumed_pods": self.cache.assumed_count, "pods": self.cache.pod_count,
                "nodes": self.cache.snapshot.num_nodes}

    def activate(self, pods: Iterable[Pod]) -> None:
        """framework.PodActivator: move these pods to activeQ now (through the queue)."""
        self.queue.activate(pods)

    def responsible(self, pod: Pod) -> bool:
        """Whether one of our profiles schedules ``pod`` (its schedulerName names one)."""
        return pod.spec.scheduler_name in self.frameworks

    # ---- configuration reload -------------------------------------------------------------
    async def reload(self, config: Any) -> ReloadSummary:
        """Swap to ``config``'s profiles between scheduling cycles; ConfigError (nothing
        changed) if its frameworks cannot be built or it changes what needs a restart.

        Cycles and binding cycles already running finish on the frameworks they hold; the
        cache, the queue, nominations and waiting pods carry over. Pods of an added profile
        are queued at once; pods of a removed profile leave the queue and are left alone."""
        from pyscheduler.config import ConfigError
        from pyscheduler.scheduler.profile import build_frameworks

        errors = _restart_only_changes(self.config, config)
        if errors:
            raise ConfigError(errors)
        # Informers first, since plugins may look their listers up when built; then build: a
        # failure leaves the frameworks as they were (build_frameworks is all or none), and at
        # worst an informer nobody reads yet keeps running.
        await self._start_listers(config)
        try:
            with self.load_metrics.recording() as load_specs:
                frameworks = build_frameworks(config, self._options_for, self._registry)
            new_qs = {f.queue_sort.name for f in frameworks.values()}
            old_qs = {f.queue_sort.name for f in self.frameworks.values()}
            if new_qs != old_qs:
                raise ConfigError([f"profiles[0].plugins.queueSort: Forbidden: changing the "
                                   f"queue sort plugin ({', '.join(sorted(old_qs))} to "
                                   f"{', '.join(sorted(new_qs))}) needs a restart"])
        except BaseException:
            # Pollers the refused build started (plugins ask for their source when built).
            await self.load_metrics.retain(self._load_specs)
            raise
        old_names, new_names = set(self.frameworks), set(frameworks)
        pre_enqueue, events = _queue_plugins(frameworks)
        # From here to the end nothing awaits: no cycle can see half of the swap.
        self.frameworks = frameworks
        self.scheduler.frameworks = frameworks
        self.config = config
        self.queue.set_plugins(pre_enqueue, events)
        self.queue.workload_events = any(f.gang_plugins for f in frameworks.values())
        removed = sorted(old_names - new_names)
        added = sorted(new_names - old_names)
        dropped = 0
        if removed:
            queued, _ = self.queue.pending_pods()
            for pod in queued:
                if pod.spec.scheduler_name in removed:
                    self.queue.delete(pod)
                    dropped += 1
            log.warning("profiles removed: their pods are left alone from now on",
                        profiles=removed, pods_dropped_from_queue=dropped)
        picked = 0
        if added:
            for pod in self.pods.indexer.list():
                if not pod.spec.node_name and pod.spec.scheduler_name in added:
                    self.queue.add(pod)
                    picked += 1
            log.info("profiles added: their pending pods are queued", profiles=added,
                     pods_queued=picked)
        # The old profiles' pollers that no new plugin reads (cycles still running on the old
        # frameworks keep the last view they read).
        self._load_specs = frozenset(load_specs)
        await self.load_metrics.retain(self._load_specs)
        return ReloadSummary(added=tuple(added), removed=tuple(removed), queued=picked,
                             dropped=dropped)

    async def _start_listers(self, config: Any) -> None:
        """Start (and wait for) informers that ``config``'s plugins need and are not running."""
        missing = sorted(needed_listers(config) - set(self.extra_informers))
        if not missing:
            return
        started: dict[str, SharedInformer[Any]] = {}
        for name in missing:
            w = WATCHED[name]
            started[name] = self.factory.informer_for(w.api, w.type, indexers=w.all_indexers())
        self.handlers.add_watched_handlers(started)
        if self.synced:  # before the first sync, start_informers() starts them with the rest
            self.factory.start()
            if not await self.factory.wait_for_cache_sync(timeout=60.0):
                # Leave them running: they sync eventually, and the plugins that read them
                # see the objects once they do.
                log.warning("informers added by the reload did not sync in 60s",
                            informers=missing)
        self.extra_informers.update(started)
        for name, inf in started.items():
            self.listers[name] = inf.indexer

    # ---- lifecycle ------------------------------------------------------------------------
    async def start_informers(self, timeout: float = 120.0) -> None:
        """Start the informers, wait for sync; InformersNotSyncedError on timeout."""
        self.factory.start()
        if not await self.factory.wait_for_cache_sync(timeout=timeout):
            raise InformersNotSyncedError(f"informers did not sync within {timeout:.0f}s")
        self.synced = True
        # The initial list is the bulk of what this process will ever hold and lives as long as
        # it does: move it out of the collector's view, so that full collections stop
        # re-walking it (about half a second per collection with 100k pods cached).
        gc.collect()
        gc.freeze()
        log.info("informers synced", nodes=self.cache.snapshot.num_nodes,
                 pods=self.cache.pod_count)

    def abort(self) -> None:
        """Lease lost: from this call on, no binding, status patch, deletion or event leaves
        the process; every binding cycle and preemption is cancelled, none is drained.

        Synchronous, so it can run from the elector's lease-lost callback before any other
        task gets a turn. ``run()`` then returns at once; the caller exits non-zero."""
        if self._aborted.is_set():
            return
        for d in self.writers.dispatchers:
            d.abort()
        self.scheduler.abort()
        self.preemption_executor.cancel()
        self.queue.close()
        self._aborted.set()

    @property
    def aborted(self) -> bool:
        """True once ``abort()`` ran."""
        return self._aborted.is_set()

    async def _until(self, stop: asyncio.Event, work: Awaitable[None]) -> bool:
        """Run ``work`` unless ``stop`` or an abort comes first; True if it completed."""
        task = asyncio.ensure_future(work)
        stopper = asyncio.create_task(stop.wait())
        aborter = asyncio.create_task(self._aborted.wait())
        try:
            await asyncio.wait({task, stopper, aborter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            aborter.cancel()
        if task.done():
            task.result()  # re-raise its error
            return True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False

    async def run(self, stop: asyncio.Event,
                  leader: Callable[[], Awaitable[None]] | None = None, *,
                  sync_timeout: float = 120.0) -> None:
        """Sync the informers, wait to lead (``leader``, if given), then schedule until
        ``stop`` is set (finish in-flight binds and writes) or ``abort()`` (finish nothing).

        Informers start before leadership, so a follower's cache is warm when it takes over
        (upstream keeps followers' informers running too)."""
        for d in self.writers.dispatchers:
            d.start()
        metrics.register_state_collectors(self._cache_sizes, self.queue.counts,
                                          self.queue.in_flight_event_counts,
                                          asyncio.get_running_loop())
        scheduled = False
        # Followers poll too (reads only), so a new leader scores by load from its first pod.
        self.load_metrics.start()
        try:
            if not await self._until(stop, self.start_informers(sync_timeout)):
                return
            if leader is not None:
                if not await self._until(stop, leader()):
                    return
                log.info("leading: scheduling starts")
            if self.aborted:
                return
            scheduled = True
            await self._schedule(stop)  # cleans up after itself
        finally:
            await self.load_metrics.stop()
            metrics.unregister_state_collectors()
            if not scheduled:
                # Stopped (or deposed) before scheduling started: nothing is in flight.
                if not self.aborted:
                    await self._shutdown_writers()
                await self.factory.shutdown()

    async def _schedule(self, stop: asyncio.Event) -> None:
        self.queue.run()
        loop_task = asyncio.create_task(self.scheduler.run(), name="scheduling-loop")
        flush_task = asyncio.create_task(self._flush_events(stop), name="event-series")
        # Leader-only like every write: they start with scheduling and are cancelled with it.
        side_tasks = [flush_task]
        if self.podgroup_status is not None:
            side_tasks.append(asyncio.create_task(self.podgroup_status.run(),
                                                  name="podgroup-status"))
        if self.quota_status is not None:
            side_tasks.append(asyncio.create_task(self.quota_status.run(),
                                                  name="elasticquota-status"))
        if self.scheduler.partial_groups is not None:
            # Group state, not failed cycles, drives the clocks of partly bound groups (a
            # reload may enable a gang plugin, so it runs whatever the profiles are now).
            side_tasks.append(asyncio.create_task(self.scheduler.partial_groups.run(
                lambda: self.scheduler.frameworks, self.pods.indexer), name="partial-groups"))
        stopper = asyncio.create_task(stop.wait())
        aborter = asyncio.create_task(self._aborted.wait())
        await asyncio.wait({stopper, aborter}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        aborter.cancel()
        if self.aborted:
            # Cancel, never drain: abort() already fenced every writer.
            loop_task.cancel()
            for t in side_tasks:
                t.cancel()
            tasks = [loop_task, *side_tasks, *self.scheduler.binding_tasks]
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.factory.shutdown()
            log.info("stopped after losing the leader lease")
            return
        log.info("stopping: finishing in-flight binds")
        self.queue.close()
        await self.scheduler.drain()
        # Preemptions already decided finish their calls: a victim patched but not deleted
        # would be half-done.
        await self.preemption_executor.drain()
        loop_task.cancel()
        for t in side_tasks:
            t.cancel()
        await asyncio.gather(loop_task, *side_tasks, return_exceptions=True)
        self.reporter.flush_all()
        await self._shutdown_writers()
        await self.factory.shutdown()

    async def _shutdown_writers(self) -> None:
        for d in self.writers.dispatchers:
            await d.shutdown()

    async def _flush_events(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(10.0)
            self.reporter.flush_all()
