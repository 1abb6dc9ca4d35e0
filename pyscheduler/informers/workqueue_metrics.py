"""Prometheus metrics of workqueues, under client-go's names (component-base workqueue adapter).

Contract:
- The metric families are created once, at import, in the default registry, and every queue
  uses its own ``name`` label child. Creating any number of queues (as tests do) therefore never
  registers a metric twice. Queues created without a name record nothing (as upstream's noop
  provider).
- ``workqueue_unfinished_work_seconds`` and ``workqueue_longest_running_processor_seconds`` are
  computed when scraped from the queue's in-flight items (upstream refreshes them every 500ms);
  the queue is held weakly, so a dropped queue does not stay alive because of its metrics. If two
  live queues share a name, the most recently created one reports these two gauges.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Hashable

from prometheus_client import Counter, Gauge, Histogram

# ExponentialBuckets(10e-9, 10, 10): 10ns .. 10s, as upstream.
_BUCKETS = tuple(10e-9 * 10**i for i in range(10))

DEPTH = Gauge("workqueue_depth", "[ALPHA] Current depth of workqueue", ["name"])
ADDS = Counter("workqueue_adds", "[ALPHA] Total number of adds handled by workqueue", ["name"])
QUEUE_LATENCY = Histogram(
    "workqueue_queue_duration_seconds",
    "[ALPHA] How long in seconds an item stays in workqueue before being requested.",
    ["name"],
    buckets=_BUCKETS,
)
WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "[ALPHA] How long in seconds processing an item from workqueue takes.",
    ["name"],
    buckets=_BUCKETS,
)
UNFINISHED_WORK = Gauge(
    "workqueue_unfinished_work_seconds",
    "[ALPHA] How many seconds of work has done that is in progress and hasn't been observed by "
    "work_duration. Large values indicate stuck threads. One can deduce the number of stuck "
    "threads by observing the rate at which this increases.",
    ["name"],
)
LONGEST_RUNNING = Gauge(
    "workqueue_longest_running_processor_seconds",
    "[ALPHA] How many seconds has the longest running processor for workqueue been running.",
    ["name"],
)
RETRIES = Counter(
    "workqueue_retries", "[ALPHA] Total number of retries handled by workqueue", ["name"])


class QueueMetrics:
    """Per-queue recorder; a no-op when ``name`` is empty."""

    __slots__ = ("__weakref__", "_add_times", "_clock", "_enabled", "_processing_starts", "name")

    def __init__(self, name: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._enabled = bool(name)
        self._clock = clock
        self._add_times: dict[Hashable, float] = {}
        self._processing_starts: dict[Hashable, float] = {}
        if self._enabled:
            ref = weakref.ref(self)
            UNFINISHED_WORK.labels(name).set_function(lambda: _unfinished(ref))
            LONGEST_RUNNING.labels(name).set_function(lambda: _longest(ref))

    def add(self, item: Hashable) -> None:
        if not self._enabled:
            return
        ADDS.labels(self.name).inc()
        DEPTH.labels(self.name).inc()
        self._add_times.setdefault(item, self._clock())

    def get(self, item: Hashable) -> None:
        if not self._enabled:
            return
        now = self._clock()
        DEPTH.labels(self.name).dec()
        added = self._add_times.pop(item, None)
        if added is not None:
            QUEUE_LATENCY.labels(self.name).observe(now - added)
        self._processing_starts[item] = now

    def done(self, item: Hashable) -> None:
        if not self._enabled:
            return
        started = self._processing_starts.pop(item, None)
        if started is not None:
            WORK_DURATION.labels(self.name).observe(self._clock() - started)

    def retry(self) -> None:
        if self._enabled:
            RETRIES.labels(self.name).inc()

    def in_flight_seconds(self) -> list[float]:
        now = self._clock()
        return [now - start for start in self._processing_starts.values()]


def _unfinished(ref: weakref.ref[QueueMetrics]) -> float:
    metrics = ref()
    return sum(metrics.in_flight_seconds()) if metrics is not None else 0.0


def _longest(ref: weakref.ref[QueueMetrics]) -> float:
    metrics = ref()
    if metrics is None:
        return 0.0
    return max(metrics.in_flight_seconds(), default=0.0)
