"""The poller: reads a source every interval, off the scheduling loop's cycles, and swaps an
immutable LoadView.

Contract:
* ``LoadMonitor.run()`` is one asyncio task per source: poll, then sleep ``pollIntervalSeconds``,
  forever. A scheduling cycle never awaits it: it reads ``view()``, one attribute, and the poll
  replaces that attribute whole, so a cycle sees either the old view or the new one.
* Samples are kept per node (the last ``historySize`` distinct ones: a sample whose time did
  not advance is the source repeating itself and is not added again). A node's load is its
  latest sample's usage, with the std over the kept samples.
* Freshness is decided at each poll (``refresh``), whether or not the poll succeeded, and again
  whenever ``view()`` is read after the view's ``expires_at`` (the moment its oldest fresh
  sample passes ``stale_after``): a node of the cluster (``node_names()``) is *stale* when it
  has no sample, its latest is older than ``stale_after``, or it lacks cpu or memory. So a
  sample is never scored with past the threshold, whatever the poll interval. Each node's
  change between fresh and stale is logged once; the count is the gauge
  ``pyscheduler_load_metrics_stale_nodes{source}``. A failed poll keeps the samples it had
  (they age out) and is logged once per change between failing and succeeding; its error is
  kept in ``last_error``.
* ``LoadMetricsHub`` gives one monitor per distinct ``LoadSourceSpec``, so plugins in several
  profiles asking for the same source share one poller; monitors asked for after ``start()``
  start at once. ``retain(specs)`` stops and forgets the monitors of every other spec (a
  configuration reload whose plugins no longer ask for them); ``recording()`` collects the
  specs asked for while a configuration's frameworks are built.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import types
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import TYPE_CHECKING

import structlog

from pyscheduler.loadmetrics.metrics import LOAD_METRICS_POLLS, LOAD_METRICS_STALE_NODES
from pyscheduler.loadmetrics.types import (
    EMPTY_VIEW,
    LoadSourceSpec,
    LoadView,
    MetricsSource,
    NodeLoad,
    NodeSample,
    ResourceLoad,
    SourceError,
)

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

log = structlog.get_logger(__name__)


def _std(values: list[float]) -> float:
    """Population standard deviation (0 for fewer than two values)."""
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) * (v - mean) for v in values) / len(values))


def node_load(history: Iterable[NodeSample]) -> NodeLoad:
    """A node's load from its kept samples (the last one is the latest)."""
    samples = list(history)
    last = samples[-1]

    def resource(pick: Callable[[NodeSample], float | None]) -> ResourceLoad | None:
        latest = pick(last)
        if latest is None:
            return None
        values = [v for v in (pick(s) for s in samples) if v is not None]
        return ResourceLoad(avg=latest, std=_std(values))

    return NodeLoad(cpu=resource(lambda s: s.cpu_milli),
                    memory=resource(lambda s: s.memory_bytes),
                    timestamp=last.timestamp, window=last.window)


class LoadMonitor:
    """Polls one source and keeps the current LoadView (see the module contract)."""

    def __init__(self, spec: LoadSourceSpec, source: MetricsSource | None,
                 node_names: Callable[[], Iterable[str]],
                 clock: Callable[[], float] = time.time) -> None:
        """A monitor of ``source`` (None: never any data) for the nodes ``node_names`` gives."""
        self.spec = spec
        self._source = source
        self._node_names = node_names
        self._clock = clock
        self._history: dict[str, deque[NodeSample]] = {}
        self._view: LoadView = EMPTY_VIEW
        self._failing = False
        self.last_error = ""
        self._gauge = LOAD_METRICS_STALE_NODES.labels(source=spec.label)

    def view(self) -> LoadView:
        """The current immutable view (read it once per cycle); re-judged first when its
        oldest fresh sample has passed ``stale_after`` since the last poll."""
        if self._clock() > self._view.expires_at:
            self.refresh()
        return self._view

    async def poll_once(self) -> None:
        """One poll: merge what the source answers, then refresh freshness."""
        if self._source is not None:
            try:
                samples = await self._source.fetch()
            except SourceError as err:
                if not self._failing:
                    log.warning("load metrics poll failing; samples age out",
                                source=self.spec.label, error=str(err))
                self._failing = True
                self.last_error = str(err)
                LOAD_METRICS_POLLS.labels(source=self.spec.label, result="error").inc()
            else:
                LOAD_METRICS_POLLS.labels(source=self.spec.label, result="success").inc()
                if self._failing:
                    log.info("load metrics poll succeeds again", source=self.spec.label)
                self._failing = False
                self.last_error = ""
                self.merge(samples)
        self.refresh()

    def merge(self, samples: dict[str, NodeSample]) -> None:
        """Add each node's new sample to its history (repeats of the last one are dropped)."""
        size = max(1, self.spec.history_size)
        for node, sample in samples.items():
            hist = self._history.get(node)
            if hist is None:
                hist = self._history[node] = deque(maxlen=size)
            if hist and sample.timestamp <= hist[-1].timestamp:
                continue
            hist.append(sample)

    def refresh(self) -> None:
        """Decide freshness now, swap the view, log transitions and set the gauge."""
        now = self._clock()
        names = set(self._node_names())
        # Forget nodes that left the cluster, so the history does not grow without bound.
        for gone in [n for n in self._history if n not in names]:
            del self._history[gone]
        limit = self.spec.stale_after
        fresh: dict[str, NodeLoad] = {}
        ages: dict[str, float] = {}
        latest: dict[str, float] = {}
        oldest = math.inf
        for node, hist in self._history.items():
            latest[node] = hist[-1].timestamp
            age = now - hist[-1].timestamp
            ages[node] = age
            if age <= limit:
                load = node_load(hist)
                # A node reporting one resource only is stale too, visibly (upstream's
                # "Cpu metric not found in node metrics" was a silent minimum score).
                if load.cpu is not None and load.memory is not None:
                    fresh[node] = load
                    oldest = min(oldest, load.timestamp)
        stale = frozenset(names - fresh.keys())
        before = self._view
        for node in sorted(stale - before.stale):
            last_age = ages.get(node)
            log.warning("node load metrics stale; scoring it by requests",
                        node=node, source=self.spec.label,
                        age_seconds=None if last_age is None else round(last_age, 1),
                        stale_after_seconds=limit)
        for node in sorted(before.stale & fresh.keys()):
            log.info("node load metrics fresh again", node=node, source=self.spec.label)
        self._view = LoadView(fresh=types.MappingProxyType(fresh), stale=stale,
                              checked_at=now, generation=before.generation + 1,
                              expires_at=oldest + limit,
                              latest=types.MappingProxyType(latest))
        self._gauge.set(len(stale))

    async def run(self) -> None:
        """Poll every ``pollIntervalSeconds`` until cancelled."""
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in a source must not end polling for good
                log.exception("load metrics poll raised", source=self.spec.label)
            await asyncio.sleep(self.spec.poll_interval_seconds)

    async def close(self) -> None:
        """Release the source's connections."""
        if self._source is not None:
            await self._source.close()


class LoadMetricsHub:
    """One LoadMonitor per distinct source spec, started and stopped together."""

    def __init__(self, client: ApiClient | None, node_names: Callable[[], Iterable[str]],
                 clock: Callable[[], float] = time.time,
                 sources: Callable[[LoadSourceSpec], MetricsSource | None] | None = None
                 ) -> None:
        """A hub whose metrics.k8s.io sources read through ``client``; ``sources`` replaces
        the source each spec names (the dry run's one fixed sample)."""
        self._client = client
        self._node_names = node_names
        self._clock = clock
        self._sources = sources
        self._monitors: dict[LoadSourceSpec, LoadMonitor] = {}
        self._tasks: dict[LoadSourceSpec, asyncio.Task[None]] = {}
        self._running = False
        self._recorded: set[LoadSourceSpec] | None = None

    def _new_source(self, spec: LoadSourceSpec) -> MetricsSource | None:
        if self._sources is not None:
            return self._sources(spec)
        # Imported here: the sources need aiohttp and the Kubernetes client, which the
        # offline dry run (whose hub has no client and creates no source) never loads.
        from pyscheduler.loadmetrics.sources import new_source

        return new_source(spec, self._client)

    def monitor(self, spec: LoadSourceSpec) -> LoadMonitor:
        """The monitor of ``spec``, created (and started, if the hub runs) on first use."""
        if self._recorded is not None:
            self._recorded.add(spec)
        mon = self._monitors.get(spec)
        if mon is None:
            mon = LoadMonitor(spec, self._new_source(spec), self._node_names, self._clock)
            self._monitors[spec] = mon
            if self._running:
                self._start(spec, mon)
        return mon

    @contextlib.contextmanager
    def recording(self) -> Iterator[set[LoadSourceSpec]]:
        """Collect the specs asked for inside the block (a configuration's build)."""
        outer, self._recorded = self._recorded, set()
        try:
            yield self._recorded
        finally:
            self._recorded = outer

    @property
    def specs(self) -> set[LoadSourceSpec]:
        """The specs with a monitor."""
        return set(self._monitors)

    @property
    def running_pollers(self) -> int:
        """Polling tasks not finished (one per monitor while the hub runs)."""
        return sum(1 for t in self._tasks.values() if not t.done())

    async def retain(self, specs: Collection[LoadSourceSpec]) -> None:
        """Stop, close and forget the monitors of every spec not in ``specs``."""
        gone = [spec for spec in self._monitors if spec not in specs]
        tasks = [t for t in (self._tasks.pop(spec, None) for spec in gone) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for spec in gone:
            mon = self._monitors.pop(spec)
            await mon.close()
            if all(m.spec.label != spec.label for m in self._monitors.values()):
                # Its gauge child would report the old count forever.
                with contextlib.suppress(KeyError):
                    LOAD_METRICS_STALE_NODES.remove(spec.label)
            log.info("load metrics poller stopped: no plugin reads it any more",
                     source=spec.label)

    @property
    def monitors(self) -> list[LoadMonitor]:
        """Every monitor created so far."""
        return list(self._monitors.values())

    def _start(self, spec: LoadSourceSpec, mon: LoadMonitor) -> None:
        self._tasks[spec] = asyncio.get_running_loop().create_task(
            mon.run(), name=f"load-metrics {spec.label}")

    def start(self) -> None:
        """Start polling every monitor (on the running loop)."""
        self._running = True
        for spec, mon in self._monitors.items():
            if spec not in self._tasks:
                self._start(spec, mon)

    async def stop(self) -> None:
        """Cancel the pollers and close their sources."""
        self._running = False
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for mon in self._monitors.values():
            await mon.close()
