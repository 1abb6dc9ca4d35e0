"""What an operator sees of a real run (issue 15): logs, metrics, dashboard queries, events.

One ``python -m pyscheduler run`` (two profiles, leader election on, JSON logs at ``-v 4``,
i.e. debug) schedules on
the real apiserver with KWOK nodes: pods that fit, one pod that fits nowhere until a big node
is added, and pods of the second profile. The tests below read what it left behind: its log,
one /metrics scrape, and the events it wrote.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from envtest import ControlPlane
from envtest.workload import (
    SchedulerProcess,
    create_pods,
    list_events,
    list_pods,
    pod_manifest,
    runnable_config_yaml,
)
from integration.upstream_metrics import UPSTREAM_METRICS
from integration.waiting import wait_until

SECOND = "pyscheduler-b"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/pyscheduler-system/leases/pyscheduler"
QUERIES = Path(__file__).parent / "queries" / "kubernetes_mixin_scheduler.yaml"
# Enough cycles that upstream's 10% plugin-duration sampling has surely fired (0.9^100 < 1e-4).
FITTING = 100


@dataclass
class Run:
    namespace: str
    log: list[dict[str, Any]]
    log_text: str
    metrics: str
    events: list[dict[str, Any]]


def _delete_lease(cp: ControlPlane) -> None:
    with contextlib.suppress(Exception):  # absent: nothing to clean
        cp.request("DELETE", LEASE)


def _scrape_value(text: str, name: str, labels: dict[str, str]) -> float | None:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


@pytest.fixture(scope="module")
def run(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    cp = control_plane
    cp.check_alive()
    tmp = tmp_path_factory.mktemp("observability")
    ns = cp.create_namespace("observability-")
    nodes = cp.create_nodes(2, cpu="8", memory="16Gi", name_prefix="obs-node-")
    config = tmp / "pyscheduler.yaml"
    base = runnable_config_yaml().replace("leaderElect: false", "leaderElect: true")
    config.write_text(base + runnable_config_yaml(scheduler_name=SECOND).split("profiles:\n")[1])
    _delete_lease(cp)  # a lease left by another run would make us wait out its duration
    proc = SchedulerProcess(cp.scheduler_kubeconfig, tmp / "pyscheduler.log", config=config,
                            leader_elect=True,
                            extra_args=("--logging-format", "json", "-v", "4"))
    try:
        proc.start()
        create_pods(cp, ns, [pod_manifest(f"ok-{i}", cpu="10m", memory="16Mi")
                             for i in range(FITTING)]
                    + [pod_manifest("b-0", scheduler_name=SECOND),
                       pod_manifest("big", cpu="16")])
        wait_until(lambda: sum(1 for p in list_pods(cp, ns) if p["spec"].get("nodeName"))
                   >= FITTING + 1, timeout=120, what="fitting pods bound")
        # The big pod waits in the unschedulable pool; a node that fits moves it (NodeAdd, so
        # the queueing hints run), and it binds.
        wait_until(lambda: _scrape_value(proc.metrics(), "scheduler_pending_pods",
                                         {"queue": "unschedulable"}) == 1.0,
                   timeout=60, what="big pod in the unschedulable pool")
        nodes += cp.create_nodes(1, cpu="32", memory="64Gi", name_prefix="obs-big-")
        wait_until(lambda: cp.request("GET", f"/api/v1/namespaces/{ns}/pods/big")["spec"].get(
            "nodeName"), timeout=60, what="big pod bound after the node was added")
        metrics = proc.metrics()
        events = list_events(cp, ns)
    finally:
        rc = proc.stop(signal.SIGTERM)
        _delete_lease(cp)
    text = proc.log_path.read_text()
    log = [json.loads(line) for line in text.splitlines() if line.strip()]
    yield Run(ns, log, text, metrics, events)
    assert rc == 0, proc.tail()
    cp.delete_namespace(ns)
    cp.delete_nodes(nodes)


# ---- logs -----------------------------------------------------------------------------------
def test_every_log_line_is_json(run: Run) -> None:
    # (the fixture parsed every line; a non-JSON line would have failed it)
    assert run.log and all({"event", "level", "timestamp"} <= set(r) for r in run.log)
    assert "Traceback" not in run.log_text


def test_bind_lines_name_pod_node_profile_and_attempt(run: Run) -> None:
    bound = {r["pod"]: r for r in run.log if r["event"] == "Successfully bound pod to node"}
    ok = bound[f"{run.namespace}/ok-0"]
    assert ok["level"] == "info" and ok["profile"] == "pyscheduler" and ok["attempt"] == 1
    assert ok["node"].startswith("obs-") and ok["feasibleNodes"] >= 1
    assert bound[f"{run.namespace}/b-0"]["profile"] == SECOND
    big = bound[f"{run.namespace}/big"]
    assert big["node"].startswith("obs-big-") and big["attempt"] >= 2


def test_unschedulable_line_carries_reason_and_preemption_outcome(run: Run) -> None:
    lines = [r for r in run.log if r["event"] == "Unable to schedule pod; no fit; waiting"
             and r["pod"] == f"{run.namespace}/big"]
    assert lines, "no unschedulable line for the big pod"
    first = lines[0]
    assert first["level"] == "info" and first["reason"] == "Unschedulable"
    assert first["profile"] == "pyscheduler" and first["attempt"] == 1
    assert "Insufficient cpu" in first["message"]
    assert first["preemption_nominated"] is False and first["nominated_node"] == ""


def test_debug_adds_per_cycle_timings(run: Run) -> None:
    pod = f"{run.namespace}/ok-0"
    cycle = [r for r in run.log if r["event"] == "scheduling cycle done" and r["pod"] == pod]
    binding = [r for r in run.log if r["event"] == "binding cycle done" and r["pod"] == pod]
    assert len(cycle) == 1 and len(binding) == 1
    assert cycle[0]["level"] == "debug" and cycle[0]["cycle_seconds"] >= 0
    assert binding[0]["binding_seconds"] >= 0
    assert binding[0]["attempt_seconds"] >= binding[0]["binding_seconds"]
    failed = [r for r in run.log if r["event"] == "scheduling attempt failed"
              and r["pod"] == f"{run.namespace}/big"]
    assert failed and failed[0]["attempt_seconds"] >= 0


# ---- metrics --------------------------------------------------------------------------------
def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


_SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def test_every_upstream_metric_is_exported_with_its_labels(run: Run) -> None:
    fams = _families(run.metrics)
    problems: list[str] = []
    for want in UPSTREAM_METRICS:
        fam = fams.get(want.name)
        if fam is None:
            problems.append(f"{want.name}: not exported")
            continue
        if fam.type != want.type:
            problems.append(f"{want.name}: type {fam.type}, want {want.type}")
        if want.stability and not fam.documentation.startswith(f"[{want.stability}] "):
            problems.append(f"{want.name}: HELP lacks [{want.stability}]")
        if want.samples and not fam.samples:
            problems.append(f"{want.name}: no sample after the run")
        for s in fam.samples:
            assert s.name == want.name or s.name.removeprefix(want.name) in _SUFFIXES, s.name
            got = set(s.labels) - ({"le"} if s.name.endswith("_bucket") else set())
            if got != want.labels:
                problems.append(f"{want.name}: labels {sorted(got)}, want {sorted(want.labels)}")
                break
    assert not problems, "\n".join(problems)


def test_metric_values_describe_the_run(run: Run) -> None:
    m = run.metrics
    assert _scrape_value(m, "scheduler_schedule_attempts_total",
                         {"result": "scheduled", "profile": "pyscheduler"}) == FITTING + 1
    assert _scrape_value(m, "scheduler_schedule_attempts_total",
                         {"result": "scheduled", "profile": SECOND}) == 1
    assert (_scrape_value(m, "scheduler_schedule_attempts_total",
                          {"result": "unschedulable", "profile": "pyscheduler"}) or 0) >= 1
    # every pod bound: the cache counts them, none is still assumed or rejected
    assert (_scrape_value(m, "scheduler_cache_size", {"type": "pods"}) or 0) >= FITTING + 2
    assert _scrape_value(m, "scheduler_cache_size", {"type": "assumed_pods"}) == 0
    assert (_scrape_value(m, "scheduler_cache_size", {"type": "nodes"}) or 0) >= 3
    assert _scrape_value(m, "scheduler_unschedulable_pods",
                         {"plugin": "NodeResourcesFit", "profile": "pyscheduler"}) == 0
    assert _scrape_value(m, "leader_election_master_status", {"name": "pyscheduler"}) == 1
    assert (_scrape_value(m, "rest_client_requests_total",
                          {"code": "201", "method": "POST"}) or 0) >= FITTING + 2
    assert (_scrape_value(m, "scheduler_queueing_hint_execution_duration_seconds_count",
                          {"plugin": "NodeResourcesFit", "event": "NodeAdd"}) or 0) >= 1
    assert (_scrape_value(m, "scheduler_plugin_evaluation_total",
                          {"plugin": "NodeResourcesFit", "extension_point": "Filter",
                           "profile": "pyscheduler"}) or 0) >= FITTING


# ---- the dashboard's queries ----------------------------------------------------------------
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}")
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _selectors(expr: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    out = []
    for name, body in _SELECTOR.findall(expr):
        matchers = [(m.group(1), m.group(2), m.group(3)) for m in _MATCHER.finditer(body)]
        out.append((name, matchers))
    return out


def _matches(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for label, op, value in matchers:
        got = labels.get(label, "")
        ok = {"=": got == value, "!=": got != value,
              "=~": re.fullmatch(value, got) is not None,
              "!~": re.fullmatch(value, got) is None}[op]
        if not ok:
            return False
    return True


def _series(text: str, name: str, matchers: list[tuple[str, str, str]]) -> int:
    return sum(1 for fam in text_string_to_metric_families(text) for s in fam.samples
               if s.name == name and _matches(s.labels, matchers))


def test_every_applicable_mixin_panel_returns_data(run: Run) -> None:
    doc = yaml.safe_load(QUERIES.read_text())
    empty: list[str] = []
    checked = 0
    for panel in doc["panels"]:
        if panel.get("applies", True) is False:
            continue
        targets = [t if isinstance(t, dict) else {"expr": t} for t in panel["targets"]]
        live = [t["expr"] for t in targets if t.get("applies", True)]
        assert live, panel["title"]
        with_data = [e for e in live
                     if all(_series(run.metrics, n, ms) for n, ms in _selectors(e))]
        checked += 1
        if not with_data:
            empty.append(panel["title"])
    assert checked == 8
    assert not empty, f"panels without data: {empty}"


def test_query_file_selectors_parse() -> None:
    assert _selectors('sum(rate(rest_client_requests_total{code=~"2.."}[5m]))') == [
        ("rest_client_requests_total", [("code", "=~", "2..")])]
    assert _selectors("go_goroutines{}") == [("go_goroutines", [])]


# ---- events ---------------------------------------------------------------------------------
def test_events_name_the_profile_and_this_host(run: Run) -> None:
    host = socket.gethostname()
    by_pod = {(e["regarding"]["name"], e["reason"]): e for e in run.events}
    ok = by_pod[("ok-0", "Scheduled")]
    assert (ok["reportingController"], ok["reportingInstance"]) == (
        "pyscheduler", f"pyscheduler-{host}")
    b = by_pod[("b-0", "Scheduled")]
    assert (b["reportingController"], b["reportingInstance"]) == (SECOND, f"{SECOND}-{host}")
    failed = by_pod[("big", "FailedScheduling")]
    assert failed["reportingController"] == "pyscheduler"
