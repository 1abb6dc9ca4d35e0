"""Result records of both modes and the arithmetic on them (no I/O here, so it is testable).

Contract: throughput is scheduler_perf's definition, measured pods over the time from the first
create request to the last pod seen bound; latency is per pod, from its create request being
sent to its ``spec.nodeName`` being seen on a watch (so both include the API's round trips,
identically for both schedulers). Percentiles interpolate linearly between ranks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

OK = "ok"
FAILED = "failed"
NOT_APPLICABLE = "n/a"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear interpolation between closest ranks."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


@dataclass(slots=True)
class Latencies:
    throughput: float | None
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    first_create: float | None
    last_bound: float | None


def measure(sent: Mapping[str, float], bound: Mapping[str, tuple[float, str]]) -> Latencies:
    """Throughput and latency percentiles from send times and bound times (monotonic s)."""
    lat = [(bound[n][0] - t) * 1000.0 for n, t in sent.items() if n in bound]
    if not sent or not lat:
        return Latencies(None, None, None, None, None, None, None)
    first = min(sent.values())
    last = max(bound[n][0] for n in sent if n in bound)
    span = last - first
    return Latencies(
        throughput=len(lat) / span if span > 0 else None,
        p50_ms=percentile(lat, 50),
        p90_ms=percentile(lat, 90),
        p99_ms=percentile(lat, 99),
        max_ms=max(lat),
        first_create=first,
        last_bound=last,
    )


def group_throughput(sent: Mapping[str, float], bound: Mapping[str, tuple[float, str]],
                     group_of: Callable[[str], str]) -> tuple[float | None, int]:
    """Pod groups placed per second and the groups left partly bound. A group is placed when
    its last member is seen bound; the span is the same as ``measure``'s (first create to
    last bound), so groups/s is pods/s over the group size when every group is whole."""
    members: dict[str, list[str]] = {}
    for name in sent:
        members.setdefault(group_of(name), []).append(name)
    done: list[float] = []
    partial = 0
    for names in members.values():
        times = [bound[n][0] for n in names if n in bound]
        if len(times) == len(names):
            done.append(max(times))
        elif times:
            partial += 1
    if not sent or not done:
        return None, partial
    span = max(done) - min(sent.values())
    return (len(done) / span if span > 0 else None), partial


@dataclass(slots=True)
class E2EResult:
    """One end-to-end run: one workload size, one QPS setting, one scheduler."""

    workload: str
    nodes: int
    init_pods: int
    measure_pods: int
    qps: float
    burst: int
    scheduler: str
    # "create": pods created while the scheduler runs (scheduler_perf); "drain": created while
    # it was stopped, measured from its release.
    mode: str = "create"
    status: str = OK
    reason: str = ""
    bound: int = 0
    pods_per_s: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    # Scheduler process: CPU during the measured phase, CPU since start, peak RSS (VmHWM).
    cpu_s: float | None = None
    cpu_total_s: float | None = None
    peak_rss_mib: float | None = None
    # From process start to the warm-up pod being bound (informer sync included).
    startup_s: float | None = None
    # How long creating the measured pods took (creation must not be the bottleneck).
    create_s: float | None = None
    apiserver_cpu_s: float | None = None
    etcd_cpu_s: float | None = None
    # Every core of the machine, over the measured phase: busy ticks / all ticks. Near 1, no
    # core was left for anyone (the question behind "use the second core").
    machine_busy: float | None = None
    loadavg_1m: float | None = None
    duration_s: float | None = None
    disabled_plugins: list[str] = field(default_factory=list)
    # Gang workloads: members per group, groups placed whole per second, and the groups seen
    # partly bound when the run ended (all-or-nothing means 0).
    gang_size: int = 0
    groups_per_s: float | None = None
    partial_groups: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class InProcResult:
    """One in-process run: the scheduling loop over an in-memory cluster, no API."""

    workload: str
    nodes: int
    init_pods: int
    measure_pods: int
    status: str = OK
    reason: str = ""
    # The scheduling cycle alone (PreFilter..Permit + assume + confirm), pods/s and per pod.
    cycle_pods_per_s: float | None = None
    cycle_p50_us: float | None = None
    cycle_p99_us: float | None = None
    # The whole loop: queue pop, cycle, binding task, informer-side confirmation.
    loop_pods_per_s: float | None = None
    build_s: float | None = None
    # The harness process's RSS with the cluster loaded (interpreter and imports included).
    rss_mib: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ratio(py: float | None, ks: float | None) -> float | None:
    if py is None or ks is None or ks == 0:
        return None
    return py / ks
