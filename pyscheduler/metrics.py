"""Scheduler metrics, under upstream kube-scheduler's names and labels.

Contract: metrics are created once at import on the default prometheus registry (served by
cmd/server.py at /metrics). Buckets follow upstream's where they are documented, so dashboards built
for kube-scheduler read ours. Queue metrics live in backend/queue/metrics.py, workqueue metrics in
informers/workqueue.py.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# exponential(0.001, 2, 15) — upstream's scheduling attempt buckets
_ATTEMPT_BUCKETS = tuple(0.001 * 2**i for i in range(15))
# exponential(0.0001, 2, 12) — upstream's extension point buckets
_EXT_BUCKETS = tuple(0.0001 * 2**i for i in range(12))
# exponential(0.01, 2, 20) — upstream's SLI buckets
_SLI_BUCKETS = tuple(0.01 * 2**i for i in range(20))

SCHEDULE_ATTEMPTS = Counter(
    "scheduler_schedule_attempts",
    "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not "
    "be scheduled, while 'error' means an internal scheduler problem.",
    ["result", "profile"],
)
SCHEDULING_ATTEMPT_DURATION = Histogram(
    "scheduler_scheduling_attempt_duration_seconds",
    "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
    ["result", "profile"],
    buckets=_ATTEMPT_BUCKETS,
)
SCHEDULING_ALGORITHM_DURATION = Histogram(
    "scheduler_scheduling_algorithm_duration_seconds",
    "Scheduling algorithm latency in seconds",
    buckets=_ATTEMPT_BUCKETS,
)
POD_SCHEDULING_SLI_DURATION = Histogram(
    "scheduler_pod_scheduling_sli_duration_seconds",
    "E2e latency for a pod being scheduled, from the time the pod enters the scheduling queue "
    "and might involve multiple scheduling attempts.",
    ["attempts"],
    buckets=_SLI_BUCKETS,
)
POD_SCHEDULING_ATTEMPTS = Histogram(
    "scheduler_pod_scheduling_attempts",
    "Number of attempts to successfully schedule a pod.",
    buckets=(1, 2, 4, 8, 16),
)
EXTENSION_POINT_DURATION = Histogram(
    "scheduler_framework_extension_point_duration_seconds",
    "Latency for running all plugins of a specific extension point.",
    ["extension_point", "status", "profile"],
    buckets=_EXT_BUCKETS,
)
PREEMPTION_ATTEMPTS = Counter(
    "scheduler_preemption_attempts", "Total preemption attempts in the cluster till now"
)
PREEMPTION_VICTIMS = Histogram(
    "scheduler_preemption_victims", "Number of selected preemption victims",
    buckets=tuple(2**i for i in range(7)),
)
CACHE_SIZE = Gauge(
    "scheduler_cache_size",
    "Number of nodes, pods, and assumed (bound) pods in the scheduler cache.",
    ["type"],
)
GOROUTINES = Gauge(
    "scheduler_goroutines",
    "Number of running asyncio tasks split by the work they do such as binding.",
    ["operation"],
)
# Pod group (gang) scheduling, as upstream names them (GenericWorkload, v1.37; ALPHA there).
PODGROUP_SCHEDULE_ATTEMPTS = Counter(
    "scheduler_podgroup_schedule_attempts_total",
    "Number of attempts to schedule pod group, by the result. 'unschedulable' means a pod "
    "group could not be scheduled, while 'error' means an internal scheduler problem.",
    ["result", "profile"],
)
PODGROUP_SCHEDULING_ATTEMPT_DURATION = Histogram(
    "scheduler_podgroup_scheduling_attempt_duration_seconds",
    "Pod group scheduling attempt latency in seconds",
    ["result", "profile"],
    buckets=_ATTEMPT_BUCKETS,
)
PODGROUP_SCHEDULING_ALGORITHM_DURATION = Histogram(
    "scheduler_podgroup_scheduling_algorithm_duration_seconds",
    "Pod group scheduling algorithm latency in seconds",
    buckets=_ATTEMPT_BUCKETS,
)
