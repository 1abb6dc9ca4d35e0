"""Scheduler metrics, under upstream kube-scheduler v1.37's names, labels, buckets and stability.

Contract: metrics are created once at import on the default prometheus registry (served by
cmd/server.py at /metrics). Names, label names and buckets are upstream's
(pkg/scheduler/metrics/metrics.go, client-go's rest_client metrics, component-base's
leader-election gauge); each HELP text starts with the stability level in brackets, as
component-base writes it ("[STABLE] ..."), so dashboards and alerts built for kube-scheduler read
ours. docs/METRICS.md maps every upstream metric to ours, or says why it cannot apply. Queue
metrics live in backend/queue/metrics.py, workqueue metrics in informers/workqueue_metrics.py;
gauges whose value is a count of something we hold (the cache's sizes, queued entities, asyncio
tasks) are collected at scrape time (``register_state_collectors``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Go's client exposes no *_created series; neither do we (dashboards never read them).
disable_created_metrics()  # type: ignore[no-untyped-call]

STABLE = "[STABLE] "
BETA = "[BETA] "
ALPHA = "[ALPHA] "


def exponential_buckets(start: float, factor: float, count: int) -> tuple[float, ...]:
    """component-base's ExponentialBuckets(start, factor, count)."""
    return tuple(start * factor**i for i in range(count))


_ATTEMPT_BUCKETS = exponential_buckets(0.001, 2, 15)
_EXT_BUCKETS = exponential_buckets(0.0001, 2, 12)
_SLI_BUCKETS = exponential_buckets(0.01, 2, 20)
_PLUGIN_BUCKETS = exponential_buckets(0.00001, 1.5, 20)
# client-go's request latency buckets
REST_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)

# Upstream's default pluginMetricsSamplePercent: per-plugin durations of one cycle in ten.
PLUGIN_METRICS_SAMPLE_PERCENT = 10

SCHEDULE_ATTEMPTS = Counter(
    "scheduler_schedule_attempts",
    STABLE + "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod "
    "could not be scheduled, while 'error' means an internal scheduler problem.",
    ["result", "profile"],
)
EVENT_HANDLING_DURATION = Histogram(
    "scheduler_event_handling_duration_seconds",
    ALPHA + "Event handling latency in seconds.",
    ["event"],
    buckets=_EXT_BUCKETS,
)
SCHEDULING_ATTEMPT_DURATION = Histogram(
    "scheduler_scheduling_attempt_duration_seconds",
    STABLE + "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
    ["result", "profile"],
    buckets=_ATTEMPT_BUCKETS,
)
SCHEDULING_ALGORITHM_DURATION = Histogram(
    "scheduler_scheduling_algorithm_duration_seconds",
    BETA + "Scheduling algorithm latency in seconds",
    buckets=_ATTEMPT_BUCKETS,
)
POD_SCHEDULING_SLI_DURATION = Histogram(
    "scheduler_pod_scheduling_sli_duration_seconds",
    BETA + "E2e latency for a pod being scheduled, from the time the pod enters the scheduling "
    "queue and might involve multiple scheduling attempts.",
    ["attempts"],
    buckets=_SLI_BUCKETS,
)
POD_SCHEDULING_ATTEMPTS = Histogram(
    "scheduler_pod_scheduling_attempts",
    STABLE + "Number of attempts to successfully schedule a pod.",
    buckets=exponential_buckets(1, 2, 5),
)
POD_SCHEDULED_AFTER_FLUSH = Counter(
    "scheduler_pod_scheduled_after_flush",
    ALPHA + "Number of pods that were successfully scheduled after being flushed from "
    "unschedulableEntities due to timeout. This metric helps detect potential queueing hint "
    "misconfigurations or event handling issues.",
)
EXTENSION_POINT_DURATION = Histogram(
    "scheduler_framework_extension_point_duration_seconds",
    STABLE + "Latency for running all plugins of a specific extension point.",
    ["extension_point", "status", "profile"],
    buckets=_EXT_BUCKETS,
)
PLUGIN_EXECUTION_DURATION = Histogram(
    "scheduler_plugin_execution_duration_seconds",
    BETA + "Duration for running a plugin at a specific extension point.",
    ["plugin", "extension_point", "status"],
    buckets=_PLUGIN_BUCKETS,
)
QUEUEING_HINT_EXECUTION_DURATION = Histogram(
    "scheduler_queueing_hint_execution_duration_seconds",
    ALPHA + "Duration for running a queueing hint function of a plugin.",
    ["plugin", "event", "hint"],
    buckets=_PLUGIN_BUCKETS,
)
PERMIT_WAIT_DURATION = Histogram(
    "scheduler_permit_wait_duration_seconds",
    BETA + "Duration of waiting on permit.",
    ["result"],
    buckets=_ATTEMPT_BUCKETS,
)
UNSCHEDULABLE_PODS = Gauge(
    "scheduler_unschedulable_pods",
    BETA + "The number of unschedulable pods broken down by plugin name. A pod will increment "
    "the gauge for all plugins that caused it to not schedule and so this metric have meaning "
    "only when broken down by plugin.",
    ["plugin", "profile"],
)
PLUGIN_EVALUATION_TOTAL = Counter(
    "scheduler_plugin_evaluation",
    BETA + "Number of attempts to schedule pods by each plugin and the extension point "
    "(available only in PreFilter, Filter, PreScore, and Score).",
    ["plugin", "extension_point", "profile"],
)
PREEMPTION_ATTEMPTS = Counter(
    "scheduler_preemption_attempts", STABLE + "Total preemption attempts in the cluster till now"
)
PREEMPTION_VICTIMS = Histogram(
    "scheduler_preemption_victims",
    STABLE + "Number of selected preemption victims for preemption initiated by a single pod",
    buckets=exponential_buckets(1, 2, 7),
)
# SchedulerAsyncPreemption is on by default in v1.37, so upstream registers both.
PREEMPTION_GOROUTINES_DURATION = Histogram(
    "scheduler_preemption_goroutines_duration_seconds",
    ALPHA + "(Deprecated since 1.37.0) Duration in seconds for running goroutines for the "
    "preemption.",
    ["result"],
    buckets=_SLI_BUCKETS,
)
PREEMPTION_GOROUTINES_EXECUTION = Counter(
    "scheduler_preemption_goroutines_execution",
    ALPHA + "Number of preemption goroutines executed.",
    ["result"],
)
GOROUTINES = Gauge(
    "scheduler_goroutines",
    BETA + "Number of running goroutines split by the work they do such as binding.",
    ["operation"],
)
# Pod group (gang) scheduling, as upstream names them (GenericWorkload, v1.37; ALPHA there).
PODGROUP_SCHEDULE_ATTEMPTS = Counter(
    "scheduler_podgroup_schedule_attempts_total",
    ALPHA + "Number of attempts to schedule pod group, by the result. 'unschedulable' means a pod "
    "group could not be scheduled, while 'error' means an internal scheduler problem.",
    ["result", "profile"],
)
PODGROUP_SCHEDULING_ATTEMPT_DURATION = Histogram(
    "scheduler_podgroup_scheduling_attempt_duration_seconds",
    ALPHA + "Pod group scheduling attempt latency in seconds",
    ["result", "profile"],
    buckets=_ATTEMPT_BUCKETS,
)
PODGROUP_SCHEDULING_ALGORITHM_DURATION = Histogram(
    "scheduler_podgroup_scheduling_algorithm_duration_seconds",
    ALPHA + "Pod group scheduling algorithm latency in seconds",
    buckets=_ATTEMPT_BUCKETS,
)
VOLUME_BINDER_CACHE_REQUESTS = Counter(
    "scheduler_volume_binder_cache_requests",
    ALPHA + "Total number for request volume binding cache",
    ["operation"],
)
VOLUME_SCHEDULING_STAGE_ERROR = Counter(
    "scheduler_volume_scheduling_stage_error",
    ALPHA + "Volume scheduling stage error count",
    ["operation"],
)

# ---- client-go and component-base ----------------------------------------------------------
REST_CLIENT_REQUESTS = Counter(
    "rest_client_requests",
    ALPHA + "Number of HTTP requests, partitioned by status code, method, and host.",
    ["code", "method", "host"],
)
REST_CLIENT_REQUEST_DURATION = Histogram(
    "rest_client_request_duration_seconds",
    ALPHA + "Request latency in seconds. Broken down by verb, and host.",
    ["verb", "host"],
    buckets=REST_BUCKETS,
)
LEADER_ELECTION_MASTER_STATUS = Gauge(
    "leader_election_master_status",
    ALPHA + "Gauge of if the reporting system is master of the relevant lease, 0 indicates "
    "backup, 1 indicates master. 'name' is the string used to identify the lease. Please make "
    "sure to group by name.",
    ["name"],
)

GOROUTINE_RESULT_SUCCESS = "success"
GOROUTINE_RESULT_ERROR = "error"


def sample_plugin_metrics() -> bool:
    """Whether this cycle records per-plugin durations (upstream samples 10% of cycles)."""
    return random.randrange(100) < PLUGIN_METRICS_SAMPLE_PERCENT


# ---- gauges read at scrape time -------------------------------------------------------------
class _StateCollector(Collector):
    """Reads counts of what the process holds when /metrics is scraped, so they are never stale
    and cost nothing on the hot path (upstream sets its cache gauge from a 1 s loop)."""

    def __init__(self, cache_sizes: Callable[[], dict[str, int]],
                 pending: Callable[[], dict[str, int]],
                 in_flight_events: Callable[[], dict[str, int]]) -> None:
        self._cache_sizes = cache_sizes
        self._pending = pending
        self._in_flight_events = in_flight_events

    def collect(self) -> Iterable[GaugeMetricFamily]:
        cache = GaugeMetricFamily(
            "scheduler_cache_size",
            ALPHA + "Number of nodes, pods, and assumed (bound) pods in the scheduler cache.",
            labels=["type"])
        for kind, n in self._cache_sizes().items():
            cache.add_metric([kind], n)
        yield cache
        entities = GaugeMetricFamily(
            "scheduler_queued_entities",
            ALPHA + "Number of queued scheduling entities ('pod' or 'podgroup'; 'pod' stands "
            "for individual pods that are not members of any podgroup) by the queue type.",
            labels=["queue", "type"])
        for queue, count in self._pending().items():
            entities.add_metric([queue, "pod"], count)  # no pod groups here: every entity is a pod
        yield entities
        events = GaugeMetricFamily(
            "scheduler_inflight_events",
            ALPHA + "Number of events currently tracked in the scheduling queue.",
            labels=["event"])
        for label, count in self._in_flight_events().items():
            events.add_metric([label], count)
        yield events

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []


class _TaskCollector(Collector):
    """``go_goroutines``' stand-in: the asyncio tasks of the scheduler's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def collect(self) -> Iterable[GaugeMetricFamily]:
        g = GaugeMetricFamily(
            "go_goroutines",
            "Number of goroutines that currently exist. pyscheduler: the asyncio tasks of its "
            "event loop (the stand-in for dashboards built for Go components).")
        g.add_metric([], len(asyncio.all_tasks(self._loop)))
        yield g

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []


_registered: list[Collector] = []


def register_state_collectors(
    cache_sizes: Callable[[], dict[str, int]],
    pending: Callable[[], dict[str, int]],
    in_flight_events: Callable[[], dict[str, int]],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Export the cache sizes, queued entities, in-flight events and asyncio task count of one
    running scheduler (replacing a previous one's: tests build several in one process)."""
    unregister_state_collectors()
    for c in (_StateCollector(cache_sizes, pending, in_flight_events), _TaskCollector(loop)):
        REGISTRY.register(c)
        _registered.append(c)


def unregister_state_collectors() -> None:
    """Stop exporting the gauges ``register_state_collectors`` registered."""
    while _registered:
        REGISTRY.unregister(_registered.pop())
