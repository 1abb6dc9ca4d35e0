"""The metrics kube-scheduler v1.37.2 exports that apply to pyscheduler: the list the metrics
test checks a real run's /metrics against (docs/METRICS.md explains each, and the ones that
cannot apply).

Sources: k8s.io/kubernetes v1.37.2 pkg/scheduler/metrics/metrics.go (registered always, or
behind a gate that is on by default: SchedulerAsyncPreemption) and
pkg/scheduler/framework/plugins/volumebinding/metrics; k8s.io/component-base v0.37.2
metrics/prometheus/restclient (client-go's rest_client_*), .../clientgo/leaderelection and
.../workqueue; the process collector. ``samples`` says whether the test's run must have produced
at least one sample (a labelled family without one still must be exported, with its HELP).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str          # family name as exposed (counters without _total, as the parser reads)
    type: str          # counter | gauge | histogram
    labels: frozenset[str]
    stability: str     # STABLE | BETA | ALPHA | "" (not component-base: no prefix)
    samples: bool


def _m(name: str, type_: str, labels: str, stability: str, samples: bool = True) -> Upstream:
    return Upstream(name, type_, frozenset(labels.split()), stability, samples)


UPSTREAM_METRICS: tuple[Upstream, ...] = (
    # pkg/scheduler/metrics/metrics.go, metricsList
    _m("scheduler_schedule_attempts", "counter", "result profile", "STABLE"),
    _m("scheduler_scheduling_attempt_duration_seconds", "histogram", "result profile", "STABLE"),
    _m("scheduler_scheduling_algorithm_duration_seconds", "histogram", "", "BETA"),
    _m("scheduler_event_handling_duration_seconds", "histogram", "event", "ALPHA"),
    _m("scheduler_preemption_victims", "histogram", "", "STABLE"),
    _m("scheduler_preemption_attempts", "counter", "", "STABLE"),
    _m("scheduler_pending_pods", "gauge", "queue", "STABLE"),
    _m("scheduler_queued_entities", "gauge", "queue type", "ALPHA"),
    _m("scheduler_pod_scheduling_sli_duration_seconds", "histogram", "attempts", "BETA"),
    _m("scheduler_pod_scheduling_attempts", "histogram", "", "STABLE"),
    _m("scheduler_pod_scheduled_after_flush", "counter", "", "ALPHA"),
    _m("scheduler_framework_extension_point_duration_seconds", "histogram",
       "extension_point status profile", "STABLE"),
    _m("scheduler_plugin_execution_duration_seconds", "histogram",
       "plugin extension_point status", "BETA"),
    _m("scheduler_queue_incoming_pods", "counter", "queue event", "STABLE"),
    _m("scheduler_queue_incoming_entities", "counter", "queue event type", "ALPHA"),
    _m("scheduler_goroutines", "gauge", "operation", "BETA"),
    _m("scheduler_permit_wait_duration_seconds", "histogram", "result", "BETA", samples=False),
    _m("scheduler_cache_size", "gauge", "type", "ALPHA"),
    _m("scheduler_unschedulable_pods", "gauge", "plugin profile", "BETA"),
    _m("scheduler_plugin_evaluation", "counter", "plugin extension_point profile", "BETA"),
    _m("scheduler_queueing_hint_execution_duration_seconds", "histogram", "plugin event hint",
       "ALPHA"),
    _m("scheduler_inflight_events", "gauge", "event", "ALPHA"),
    # SchedulerAsyncPreemption (beta, on by default): registered; no preemption in the run
    _m("scheduler_preemption_goroutines_duration_seconds", "histogram", "result", "ALPHA",
       samples=False),
    _m("scheduler_preemption_goroutines_execution", "counter", "result", "ALPHA", samples=False),
    # volumebinding/metrics (upstream never increments the cache counter either)
    _m("scheduler_volume_binder_cache_requests", "counter", "operation", "ALPHA", samples=False),
    _m("scheduler_volume_scheduling_stage_error", "counter", "operation", "ALPHA",
       samples=False),
    # client-go (component-base restclient), leader election, workqueue
    _m("rest_client_requests", "counter", "code method host", "ALPHA"),
    _m("rest_client_request_duration_seconds", "histogram", "verb host", "ALPHA"),
    _m("leader_election_master_status", "gauge", "name", "ALPHA"),
    _m("workqueue_depth", "gauge", "name", "ALPHA"),
    _m("workqueue_adds", "counter", "name", "ALPHA"),
    _m("workqueue_queue_duration_seconds", "histogram", "name", "ALPHA"),
    _m("workqueue_work_duration_seconds", "histogram", "name", "ALPHA"),
    _m("workqueue_unfinished_work_seconds", "gauge", "name", "ALPHA"),
    _m("workqueue_longest_running_processor_seconds", "gauge", "name", "ALPHA"),
    _m("workqueue_retries", "counter", "name", "ALPHA", samples=False),  # none retried
    # the process collector, and go_goroutines' stand-in (asyncio tasks)
    _m("process_cpu_seconds", "counter", "", ""),
    _m("process_resident_memory_bytes", "gauge", "", ""),
    _m("go_goroutines", "gauge", "", ""),
)
