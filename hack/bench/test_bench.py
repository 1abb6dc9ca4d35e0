"""Unit tests of the harness's own arithmetic and plans (no control plane).

Run ``.venv/bin/python -m pytest -q hack/bench`` (``-m`` puts the repository root on sys.path).
"""

from __future__ import annotations

import pytest

from hack.bench import procstat, report, workloads
from hack.bench.results import (
    FAILED,
    NOT_APPLICABLE,
    E2EResult,
    group_throughput,
    measure,
    percentile,
    ratio,
)
from hack.bench.schedulers import (
    BIND_CEILING,
    BIND_EVENT_CEILING,
    KUBE_SCHEDULER,
    PYSCHEDULER,
    scheduler_config,
)


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile(list(map(float, range(101))), 99) == pytest.approx(99.0)
    assert percentile([5.0, 1.0, 3.0], 0) == 1.0
    assert percentile([5.0, 1.0, 3.0], 100) == 5.0


def test_measure_is_first_create_to_last_bound() -> None:
    sent = {"a": 10.0, "b": 10.5, "c": 11.0}
    bound = {"a": (10.2, "n1"), "b": (11.5, "n2"), "c": (12.0, "n1"), "other": (9.0, "n3")}
    lat = measure(sent, bound)
    assert lat.throughput == pytest.approx(3 / 2.0)
    assert lat.p50_ms == pytest.approx(1000.0)
    assert lat.max_ms == pytest.approx(1000.0)
    assert lat.first_create == 10.0 and lat.last_bound == 12.0


def test_measure_ignores_unbound_and_handles_none() -> None:
    lat = measure({"a": 1.0, "b": 2.0}, {"a": (1.5, "n")})
    assert lat.throughput == pytest.approx(1 / 0.5)
    assert lat.p99_ms == pytest.approx(500.0)
    empty = measure({"a": 1.0}, {})
    assert empty.throughput is None and empty.p50_ms is None


def test_ratio() -> None:
    assert ratio(50.0, 100.0) == 0.5
    assert ratio(None, 1.0) is None
    assert ratio(1.0, 0.0) is None


def test_default_plan_has_every_workload_and_the_target_row() -> None:
    plan = workloads.plan(list(workloads.DEFAULT_WORKLOADS), workloads.DEFAULT_SIZES,
                          extra=workloads.DEFAULT_EXTRA)
    labels = [w.label for w in plan]
    assert labels[:len(workloads.DEFAULT_WORKLOADS)] == [
        f"{n}/500Nodes" for n in workloads.DEFAULT_WORKLOADS]
    assert labels[-1] == "SchedulingBasic/1000Nodes"
    basic = plan[0]
    assert (basic.init_pods, basic.measure_pods) == (500, 1000)
    churn = next(w for w in plan if w.name == "MixedChurn")
    assert churn.init_pods == 0


def test_plan_overrides_and_scaling() -> None:
    (w,) = workloads.plan(["PreemptionBasic"], (2000,), measure_pods=7)
    # No 2,000-node parameters upstream: scaled from the nearest (1,000: 4,000 init pods).
    assert (w.nodes, w.init_pods, w.measure_pods) == (2000, 8000, 7)
    (m,) = workloads.plan(["MixedChurn"], (500,), init_pods=10)
    assert m.init_pods == 0  # no init template: nothing to create


def test_anti_affinity_sizes_fit_one_pod_per_node() -> None:
    spec = workloads.WORKLOADS["SchedulingPodAntiAffinity"]
    for nodes, (init, measure_n) in spec.sizes.items():
        assert init + measure_n <= nodes


def test_templates_name_the_bench_scheduler_and_priority_class() -> None:
    for template in (workloads.pod_default, workloads.pod_with_node_affinity,
                     workloads.pod_with_pod_anti_affinity, workloads.pod_with_topology_spreading,
                     workloads.pod_low_priority, workloads.pod_high_priority,
                     workloads.pod_high_priority_large_cpu):
        body = template("p", "ns")
        assert body["spec"]["schedulerName"] == workloads.SCHEDULER_NAME
        assert body["metadata"] == {**body["metadata"], "name": "p", "namespace": "ns"}
        assert "priority" not in body["spec"]  # the API server refuses a bare priority
    assert workloads.pod_high_priority("p", "ns")["spec"]["priorityClassName"] == (
        workloads.HIGH_PRIORITY_CLASS)


def test_scheduler_config_is_loadable_by_pyscheduler(tmp_path: object) -> None:
    import json

    from pyscheduler.config import parse_config
    from pyscheduler.plugins.registry import default_registry

    cfg = scheduler_config(__import__("pathlib").Path("/dev/null"), 50, 100, [])
    parsed = parse_config(json.dumps(cfg), plugins=default_registry())
    assert [p.scheduler_name for p in parsed.profiles] == [workloads.SCHEDULER_NAME]
    assert parsed.client_connection.qps == 50 and parsed.client_connection.burst == 100
    assert parsed.leader_election.leader_elect is False


def _r(scheduler: str, pods_per_s: float | None, status: str = "ok", **kw: object) -> E2EResult:
    r = E2EResult("SchedulingBasic", 500, 500, 1000, 5000.0, 5000, scheduler, status=status,
                  pods_per_s=pods_per_s, p50_ms=10.0, p99_ms=20.0, cpu_s=1.0,
                  peak_rss_mib=100.0, create_s=1.0)
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def test_table_shows_ratio_and_failures() -> None:
    text = report.e2e_table([_r(KUBE_SCHEDULER, 100.0), _r(PYSCHEDULER, 150.0, p99_ms=10.0)])
    row = next(line for line in text.splitlines()
               if f" {PYSCHEDULER} " in line and "measured" in line)
    assert row.split()[-2:] == ["1.50", "0.50"]
    text = report.e2e_table([
        _r(KUBE_SCHEDULER, 100.0),
        _r(PYSCHEDULER, None, status=NOT_APPLICABLE, reason="plugin(s) not registered yet: X"),
    ])
    assert "N/A  plugin(s) not registered yet: X" in text
    text = report.e2e_table([_r(KUBE_SCHEDULER, 3.0, status=FAILED, reason="timeout: 3/1000")])
    assert "FAILED  timeout: 3/1000" in text


def test_table_shows_each_scheduler_as_a_fraction_of_the_bind_ceiling() -> None:
    text = report.e2e_table([_r(KUBE_SCHEDULER, 100.0), _r(PYSCHEDULER, 150.0, p99_ms=10.0),
                             _r(BIND_CEILING, 200.0)])
    lines = text.splitlines()
    ks = next(line for line in lines if f" {KUBE_SCHEDULER} " in line)
    py = next(line for line in lines if f" {PYSCHEDULER} " in line and "measured" in line)
    ceiling = next(line for line in lines if f" {BIND_CEILING} " in line)
    assert ks.split()[-1] == "0.50"
    assert py.split()[-3:] == ["1.50", "0.50", "0.75"]
    assert ceiling.split()[-1] != "1.00"  # the ceiling is not a fraction of itself


def test_gang_workloads_are_whole_groups_of_8_and_64_outside_the_default_run() -> None:
    assert "SchedulingGang8" not in workloads.DEFAULT_WORKLOADS
    assert "SchedulingGang64" not in workloads.DEFAULT_WORKLOADS
    eight, sixty_four = workloads.plan(["SchedulingGang8", "SchedulingGang64"], (5000,))
    # The row: 5,000 nodes, groups of 8 and 64; no init pods.
    assert (eight.nodes, eight.init_pods, eight.measure_pods, eight.groups) == (5000, 0, 4096, 512)
    assert (sixty_four.measure_pods, sixty_four.groups) == (4096, 64)
    for w in (eight, sixty_four):
        assert w.spec.requires == (workloads.GANG_PLUGIN,)
    # Overrides and scaling keep whole groups.
    (w,) = workloads.plan(["SchedulingGang64"], (500,), measure_pods=100)
    assert (w.measure_pods, w.groups) == (64, 1)
    (w,) = workloads.plan(["SchedulingGang8"], (700,))
    assert w.measure_pods % 8 == 0 and w.groups == w.measure_pods // 8


def test_gang_members_name_their_upstream_pod_group() -> None:
    template = workloads.WORKLOADS["SchedulingGang8"].measure_template
    members = [template(f"m0-{i}", "sched-1") for i in (0, 7, 8)]
    assert [m["spec"]["schedulingGroup"]["podGroupName"] for m in members] == [
        "m0-gang-0", "m0-gang-0", "m0-gang-1"]
    assert members[0]["spec"]["schedulerName"] == workloads.SCHEDULER_NAME
    group = workloads.pod_group("m0-gang-0", "sched-1", 8)
    assert group["apiVersion"] == "scheduling.k8s.io/v1beta1"
    assert group["spec"] == {"schedulingPolicy": {"gang": {"minCount": 8}}}
    # v1.37.2 has no GangScheduling feature gate (kube-scheduler refuses one).
    assert workloads.GANG_KUBE_SCHEDULER_GATES == "GenericWorkload=true"
    assert workloads.GANG_APISERVER_ARGS["runtime-config"] == "scheduling.k8s.io/v1beta1=true"


def test_gang_profile_enables_gang_scheduling_in_pyscheduler() -> None:
    import json

    from pyscheduler.config import parse_config
    from pyscheduler.plugins.registry import default_registry

    cfg = scheduler_config(__import__("pathlib").Path("/dev/null"), 50, 100, [],
                           (workloads.GANG_PLUGIN,))
    parsed = parse_config(json.dumps(cfg), plugins=default_registry())
    assert workloads.GANG_PLUGIN in parsed.profiles[0].specs


def test_group_throughput_counts_whole_groups_and_partial_ones() -> None:
    sent = {f"m0-{i}": 10.0 + i * 0.1 for i in range(6)}
    bound = {"m0-0": (11.0, "n"), "m0-1": (12.0, "n"), "m0-2": (12.5, "n"),  # gang 0 whole
             "m0-3": (13.0, "n")}                                             # gang 1 partial
    per_s, partial = group_throughput(sent, bound, lambda n: workloads.gang_group_name(n, 3))
    assert per_s == pytest.approx(1 / 2.5) and partial == 1
    assert group_throughput({}, {}, str) == (None, 0)


def test_table_shows_groups_per_second_for_gang_rows() -> None:
    rows = [_r(KUBE_SCHEDULER, 80.0, gang_size=8, groups_per_s=10.0, partial_groups=0),
            _r(PYSCHEDULER, 96.0, gang_size=8, groups_per_s=12.0, partial_groups=0)]
    text = report.e2e_table(rows)
    assert ("groups of 8: kube-scheduler 10.00 groups/s (0 left partial), pyscheduler 12.00 "
            "groups/s (0 left partial)") in text


def test_table_shows_where_the_cpu_went() -> None:
    text = report.e2e_table([
        _r(KUBE_SCHEDULER, 100.0, apiserver_cpu_s=3.0, etcd_cpu_s=0.5, machine_busy=0.97),
        _r(PYSCHEDULER, 150.0, apiserver_cpu_s=2.5, etcd_cpu_s=0.4, machine_busy=0.61)])
    line = next(ln for ln in text.splitlines() if "all cores busy" in ln)
    assert f"{KUBE_SCHEDULER} 1.0, 3.0, 0.5; 97%" in line
    assert f"{PYSCHEDULER} 1.0, 2.5, 0.4; 61%" in line


def test_machine_ticks_count_busy_time_within_the_total() -> None:
    t0 = procstat.machine_ticks()
    sum(i * i for i in range(200_000))  # some busy time on this core
    t1 = procstat.machine_ticks()
    assert t0 is not None and t1 is not None and 0 <= t0[0] <= t0[1]
    frac = procstat.busy_fraction(t0, t1)
    assert frac is None or 0.0 <= frac <= 1.0  # None: no tick passed between the reads
    assert procstat.busy_fraction((10, 100), (40, 200)) == 0.3
    assert procstat.busy_fraction(None, t1) is None


def test_table_shows_the_bind_and_event_ceiling_beside_the_bind_only_one() -> None:
    text = report.e2e_table([_r(KUBE_SCHEDULER, 100.0), _r(PYSCHEDULER, 150.0, p99_ms=10.0),
                             _r(BIND_CEILING, 300.0), _r(BIND_EVENT_CEILING, 200.0)])
    lines = text.splitlines()
    py = next(line for line in lines if f" {PYSCHEDULER} " in line and "measured" in line)
    assert py.split()[-1] == "0.50"  # "of ceiling" stays the bind-only ceiling's
    assert any(f" {BIND_EVENT_CEILING} " in line for line in lines)
    line = next(ln for ln in lines if "of the bind+event ceiling" in ln)
    assert f"{KUBE_SCHEDULER} 0.50" in line and f"{PYSCHEDULER} 0.75" in line


def test_no_bind_and_event_line_without_a_scheduler_row() -> None:
    text = report.e2e_table([_r(BIND_CEILING, 300.0), _r(BIND_EVENT_CEILING, 200.0)])
    assert "of the bind+event ceiling" not in text
