"""Load-aware scoring against the real pipeline (issue 18's done-when): KWOK's resource-usage
emulation, scraped by the real metrics-server (built by hack/), served through the real
kube-apiserver's aggregator, read by pyscheduler's metrics.k8s.io source.

* A control plane of its own (the session's has no aggregation layer): kube-apiserver with the
  front-proxy flags (ControlPlaneOptions.aggregator), kwok serving every node's kubelet
  endpoint over TLS (kwok_kubelet) with a Metric (kubelet /metrics/resource) and a
  ClusterResourceUsage (usage from the pod annotations kwok.x-k8s.io/usage-cpu|memory).
* metrics-server runs as a process with the admin kubeconfig; an APIService
  v1beta1.metrics.k8s.io points at it through an ExternalName Service, as kwokctl does.
* The Prometheus source (second test): the real Prometheus (built by hack/) scrapes the same
  kwok endpoints, one job per node labelled ``node``; the scheduler's default queries read
  it, and new pods again avoid the hot nodes.
* Four equal nodes, each with one base pod requesting 1 cpu (requests equal everywhere); the
  base pods of two "hot" nodes use 3.6 cpu, of the two "idle" ones 0.1. New pods, scheduled
  by TargetLoadPacking alone, land on the idle nodes. Then metrics-server is stopped: every
  node goes stale (``pyscheduler_load_metrics_stale_nodes`` = 4, one log line per node), and
  placement falls back to requests, which now favour the hot nodes (fewer requests there).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from prometheus_client import REGISTRY

from envtest import ApiError, ControlPlane, ControlPlaneOptions, fake_node
from envtest._process import Process, spawn
from envtest.workload import create_pods, list_pods, pod_manifest
from integration import inprocess
from integration.waiting import await_until, wait_until
from pyscheduler.model.quantity import to_int

REPO = Path(__file__).resolve().parents[2]
PROFILE = "pyscheduler-load"
HOT, IDLE = ("load-hot-0", "load-hot-1"), ("load-idle-0", "load-idle-1")
SOURCE = {"source": "KubernetesMetricsServer"}
RESOURCE_METRICS_PATH = "metrics.k8s.io/resource-metrics-path"

# What kwok serves as each node's kubelet /metrics/resource (the metrics metrics-server reads),
# and where the usage comes from: each pod's annotations, else 1m cpu and 1Mi memory.
KWOK_METRICS = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Metric
metadata:
  name: metrics-resource
spec:
  path: "/metrics/nodes/{nodeName}/metrics/resource"
  metrics:
  - name: scrape_error
    dimension: node
    help: "1 if there was an error while getting metrics from the node, 0 otherwise"
    kind: gauge
    value: '0'
  - name: node_cpu_usage_seconds_total
    dimension: node
    help: "Cumulative cpu time consumed by the node in core-seconds"
    kind: counter
    value: 'node.CumulativeUsage("cpu")'
  - name: node_memory_working_set_bytes
    dimension: node
    help: "Current working set of the node in bytes"
    kind: gauge
    value: 'node.Usage("memory")'
  - name: container_start_time_seconds
    dimension: container
    help: "Start time of the container since unix epoch in seconds"
    kind: gauge
    labels:
    - {name: container, value: 'container.name'}
    - {name: namespace, value: 'pod.metadata.namespace'}
    - {name: pod, value: 'pod.metadata.name'}
    value: 'pod.SinceSecond()'
  - name: container_cpu_usage_seconds_total
    dimension: container
    help: "Cumulative cpu time consumed by the container in core-seconds"
    kind: counter
    labels:
    - {name: container, value: 'container.name'}
    - {name: namespace, value: 'pod.metadata.namespace'}
    - {name: pod, value: 'pod.metadata.name'}
    value: 'pod.CumulativeUsage("cpu", container.name)'
  - name: container_memory_working_set_bytes
    dimension: container
    help: "Current working set of the container in bytes"
    kind: gauge
    labels:
    - {name: container, value: 'container.name'}
    - {name: namespace, value: 'pod.metadata.namespace'}
    - {name: pod, value: 'pod.metadata.name'}
    value: 'pod.Usage("memory", container.name)'
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterResourceUsage
metadata:
  name: usage-from-annotation
spec:
  usages:
  - usage:
      cpu:
        expression: |
          "kwok.x-k8s.io/usage-cpu" in pod.metadata.annotations
          ? Quantity(pod.metadata.annotations["kwok.x-k8s.io/usage-cpu"])
          : Quantity("1m")
      memory:
        expression: |
          "kwok.x-k8s.io/usage-memory" in pod.metadata.annotations
          ? Quantity(pod.metadata.annotations["kwok.x-k8s.io/usage-memory"])
          : Quantity("1Mi")
"""

CONFIG = f"""\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: {PROFILE}
  plugins:
    score:
      disabled:
      - name: "*"
      enabled:
      - name: TargetLoadPacking
  pluginConfig:
  - name: TargetLoadPacking
    args:
      metricProvider:
        type: KubernetesMetricsServer
        pollIntervalSeconds: 2
        staleAfterSeconds: 30
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _binary(component: str) -> Path:
    """hack/ builds it from the Go module registry (cached: milliseconds when warm)."""
    out = subprocess.run([str(REPO / "hack" / "build-components.sh"), component],
                         check=True, capture_output=True, text=True)
    binary = Path(out.stdout.strip().splitlines()[-1]) / component
    assert binary.exists(), binary
    return binary


def _node_usage(cp: ControlPlane) -> dict[str, int]:
    """metrics.k8s.io as the admin reads it: node -> cpu usage in millicores."""
    try:
        body = cp.request("GET", "/apis/metrics.k8s.io/v1beta1/nodes")
    except ApiError:
        return {}
    return {i["metadata"]["name"]: to_int("cpu", i["usage"]["cpu"]) for i in body["items"]}


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    keep = os.environ.get("PYSCHEDULER_ENVTEST_KEEP", "") not in ("", "0", "false")
    opts = ControlPlaneOptions(aggregator=True, kwok_kubelet=True,
                               kwok_extra_config=KWOK_METRICS, keep=keep)
    with ControlPlane.start(opts) as cp:
        yield cp


@pytest.fixture(scope="module")
def metrics_server(plane: ControlPlane) -> Iterator[Process]:
    port = _free_port()
    certs = plane.work_dir / "metrics-server"
    certs.mkdir(exist_ok=True)
    kubeconfig = str(plane.admin_kubeconfig)
    proc = spawn("metrics-server", [
        str(_binary("metrics-server")),
        f"--secure-port={port}", "--bind-address=127.0.0.1", f"--cert-dir={certs}",
        f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        # kwok answers for every node at 127.0.0.1:<its port>, with the path annotated on
        # the node; its serving certificate is not the nodes' own.
        "--kubelet-insecure-tls", "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port", "--metric-resolution=10s",
        "--kubelet-request-timeout=5s",
    ], plane.work_dir / "logs" / "metrics-server.log")
    plane.apply([
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "metrics-server", "namespace": "kube-system"},
         "spec": {"type": "ExternalName", "externalName": "localhost",
                  "ports": [{"name": "https", "port": port}]}},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": {"name": "v1beta1.metrics.k8s.io"},
         "spec": {"group": "metrics.k8s.io", "version": "v1beta1",
                  "groupPriorityMinimum": 100, "versionPriority": 100,
                  "insecureSkipTLSVerify": True,
                  "service": {"name": "metrics-server", "namespace": "kube-system",
                              "port": port}}},
    ])
    try:
        yield proc
    finally:
        proc.stop(timeout=10)


@pytest.fixture(scope="module")
def skewed_cluster(plane: ControlPlane, metrics_server: Process) -> tuple[str, dict[str, int]]:
    """Four equal nodes, equal requests, two of them hot; the namespace and measured usage."""
    names = [*HOT, *IDLE]
    for name in names:
        body = fake_node(name, cpu="4", memory="16Gi",
                         annotations={RESOURCE_METRICS_PATH:
                                      f"/metrics/nodes/{name}/metrics/resource"})
        plane.request("POST", "/api/v1/nodes", body)
    plane.wait_nodes_ready(names)
    ns = plane.create_namespace("load-aware-")
    base = []
    for name in names:
        m = pod_manifest(f"base-{name}", cpu="1", memory="1Gi", node_name=name)
        m["metadata"]["annotations"] = {
            "kwok.x-k8s.io/usage-cpu": "3600m" if name in HOT else "100m",
            "kwok.x-k8s.io/usage-memory": "2Gi"}
        base.append(m)
    create_pods(plane, ns, base)

    def skewed() -> dict[str, int] | None:
        assert metrics_server.alive(), metrics_server.tail()
        usage = _node_usage(plane)
        if set(names) <= usage.keys() and all(usage[n] > 3000 for n in HOT) and all(
                usage[n] < 1000 for n in IDLE):
            return usage
        return None

    # metrics-server reports CPU after two scrapes of the cumulative counter (10 s apart).
    usage: dict[str, int] = wait_until(skewed, timeout=120, interval=1,
                                       what="skewed usage in metrics.k8s.io")
    return ns, usage


def running_app(cp: ControlPlane, config: str = CONFIG) -> inprocess.AppContext:
    """pyscheduler in-process with this module's profile (integration/inprocess.py)."""
    return inprocess.running_app(cp, config)


def _placed(cp: ControlPlane, ns: str, prefix: str) -> dict[str, str]:
    return {p["metadata"]["name"]: p["spec"].get("nodeName", "")
            for p in list_pods(cp, ns) if p["metadata"]["name"].startswith(prefix)}


def _new_pods(prefix: str, n: int) -> list[dict[str, Any]]:
    return [pod_manifest(f"{prefix}{i}", scheduler_name=PROFILE, cpu="500m", memory="256Mi")
            for i in range(n)]


def _dry_run(args: list[str], tmp: Path, config: str = CONFIG
             ) -> subprocess.CompletedProcess[str]:
    """``pyscheduler`` as a user runs it, with this module's profile."""
    import sys

    cfg = tmp / "config.yaml"
    cfg.write_text(config)
    return subprocess.run([sys.executable, "-m", "pyscheduler", *args, "--config", str(cfg)],
                          capture_output=True, text=True, timeout=300)


def _tlp_figures(out: str) -> dict[str, tuple[str, str]]:
    """Node -> (SAMPLE AGE, FIGURES) of the TargetLoadPacking rows of --explain's text."""
    rows = {}
    for line in out.splitlines():
        cells = line.split(None, 3)
        if len(cells) == 4 and cells[1] == "TargetLoadPacking":
            rows[cells[0]] = (cells[2], cells[3])
    return rows


def _measured(figures: str) -> float:
    head = figures.split("measured cpu % ", 1)[1]
    return float(head.split(",", 1)[0])


def _assert_load_figures(out: str, max_age: float) -> None:
    rows = _tlp_figures(out)
    assert set(HOT + IDLE) <= rows.keys(), out
    for node in HOT + IDLE:
        age, figures = rows[node]
        # A real sample: metrics-server scrapes every 10 s; staleAfterSeconds is 30.
        assert age.endswith("s") and 0 <= float(age[:-1]) <= max_age, (node, age)
        # kwok's emulated usage: 3.6 of 4 cpu on the hot nodes, 0.1 on the idle ones.
        measured = _measured(figures)
        assert (measured > 75) if node in HOT else (measured < 25), (node, figures)
        assert "target % 40" in figures


def test_dry_run_explain_shows_the_live_sample_and_a_snapshot_keeps_it(
        plane: ControlPlane, metrics_server: Process,
        skewed_cluster: tuple[str, dict[str, int]], tmp_path: Path) -> None:
    """``dry-run --kubeconfig --explain`` samples metrics.k8s.io once, with metrics-server's
    own timestamps; ``snapshot`` writes that sample as NodeMetrics with its capture time, and
    ``dry-run --snapshot`` shows the same figures, aged at the capture time. Nothing is written
    to the cluster (the pod comes from --pod)."""
    probe = tmp_path / "probe.yaml"
    probe.write_text(json.dumps(pod_manifest("probe-0", scheduler_name=PROFILE, cpu="500m",
                                             memory="256Mi")))
    kubeconfig = str(plane.admin_kubeconfig)
    live = _dry_run(["dry-run", "--kubeconfig", kubeconfig, "--pod", str(probe),
                     "--explain", "default/probe-0"], tmp_path)
    assert live.returncode == 0, live.stderr
    assert ("load source KubernetesMetricsServer: one sample of each configured source, ages "
            "at the time it was taken; ") in live.stdout, live.stdout
    _assert_load_figures(live.stdout, max_age=30)
    placed = live.stdout.splitlines()[1]
    assert any(f"node {n}," in placed for n in IDLE), live.stdout

    snap = tmp_path / "snap.json"
    written = _dry_run(["snapshot", "--kubeconfig", kubeconfig, "-o", str(snap)], tmp_path)
    assert written.returncode == 0, written.stderr
    doc = json.loads(snap.read_text())
    metrics = {i["metadata"]["name"]: i for i in doc["items"] if i["kind"] == "NodeMetrics"}
    assert set(HOT + IDLE) <= metrics.keys()
    assert "pyscheduler.dev/captured-at" in doc["metadata"]["annotations"]
    offline = _dry_run(["dry-run", "--snapshot", str(snap), "--pod", str(probe),
                        "--explain", "default/probe-0"], tmp_path)
    assert offline.returncode == 0, offline.stderr
    assert "the snapshot's NodeMetrics" in offline.stdout and "ages at the capture time" in (
        offline.stdout)
    _assert_load_figures(offline.stdout, max_age=30)


async def test_new_pods_avoid_hot_nodes_then_fall_back_to_requests_when_metrics_stop(
        plane: ControlPlane, metrics_server: Process,
        skewed_cluster: tuple[str, dict[str, int]]) -> None:
    ns, usage = skewed_cluster
    async with running_app(plane) as app:
        monitor = app.load_metrics.monitors[0]
        await await_until(lambda: set(HOT + IDLE) <= monitor.view().fresh.keys(), timeout=30,
                          what="fresh load figures for every node", blocking=False)

        # Load-aware: equal requests, so only the measured usage tells the nodes apart.
        await asyncio.to_thread(create_pods, plane, ns, _new_pods("fresh-", 4))
        placed = await await_until(
            lambda: (lambda d: d if len(d) == 4 and all(d.values()) else None)(
                _placed(plane, ns, "fresh-")), timeout=60, what="fresh- pods bound")
        assert set(placed.values()) <= set(IDLE), (placed, usage)
        assert REGISTRY.get_sample_value("pyscheduler_load_metrics_stale_nodes", SOURCE) == 0

        # The pipeline stops: metrics.k8s.io answers 503, the samples age out.
        with structlog.testing.capture_logs() as logs:
            metrics_server.stop(timeout=10)
            await await_until(
                lambda: REGISTRY.get_sample_value("pyscheduler_load_metrics_stale_nodes",
                                                  SOURCE) == 4,
                timeout=90, interval=1, what="every node stale", blocking=False)
        stale_lines = sorted(e["node"] for e in logs
                             if e["event"] == "node load metrics stale; scoring it by requests")
        assert stale_lines == sorted(HOT + IDLE)

        # Request-based fallback: TargetLoadPacking now sees each node's requests. Every node
        # is above the target with the pod (>= 1 cpu + 750m predicted of 4), where the curve
        # falls with utilization: the pod goes to a least-requested node, which is a hot one
        # (the idle ones took the fresh- pods), where by load it scored 0.
        for i in range(2):
            requested = _requested_cpu(plane, ns)
            least = min(requested.values())
            await asyncio.to_thread(create_pods, plane, ns, _new_pods(f"stale{i}-", 1))
            placed = await await_until(
                lambda i=i: (lambda d: d if d and all(d.values()) else None)(
                    _placed(plane, ns, f"stale{i}-")), timeout=60, what=f"stale{i}- pod bound")
            node = next(iter(placed.values()))
            assert requested[node] == least, (node, requested)
            assert node in HOT, (node, requested)


def _requested_cpu(cp: ControlPlane, ns: str) -> dict[str, int]:
    """Node -> the cpu its bound pods request (millicores), from the API."""
    out = dict.fromkeys(HOT + IDLE, 0)
    for p in list_pods(cp, ns):
        node = p["spec"].get("nodeName", "")
        if node in out:
            for c in p["spec"]["containers"]:
                out[node] += to_int("cpu", c.get("resources", {}).get("requests", {})
                                    .get("cpu", "0"))
    return out


@pytest.fixture
def prometheus(plane: ControlPlane, skewed_cluster: tuple[str, dict[str, int]]) -> Iterator[str]:
    """The real Prometheus scraping kwok's kubelet endpoints of the four nodes; its URL."""
    port = _free_port()
    jobs = [{"job_name": name, "scheme": "https", "scrape_interval": "2s",
             "metrics_path": f"/metrics/nodes/{name}/metrics/resource",
             "tls_config": {"insecure_skip_verify": True},
             "static_configs": [{"targets": [f"127.0.0.1:{plane.kwok_port}"],
                                 "labels": {"node": name}}]}
            for name in HOT + IDLE]
    work = plane.work_dir / "prometheus"
    work.mkdir(exist_ok=True)
    config = work / "prometheus.yml"
    config.write_text(json.dumps({"global": {"scrape_interval": "2s"},
                                  "scrape_configs": jobs}))
    proc = spawn("prometheus", [
        str(_binary("prometheus")), f"--config.file={config}",
        f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
    ], plane.work_dir / "logs" / "prometheus.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop(timeout=10)


async def test_the_prometheus_source_reads_real_prometheus_and_avoids_hot_nodes(
        plane: ControlPlane, skewed_cluster: tuple[str, dict[str, int]], prometheus: str,
        tmp_path: Path) -> None:
    ns, _ = skewed_cluster
    config = CONFIG.replace(PROFILE, PROFILE + "-prom").replace(
        "type: KubernetesMetricsServer", f"type: Prometheus\n        address: {prometheus}")
    source = {"source": f"Prometheus:{prometheus}"}
    async with running_app(plane, config) as app:
        monitor = app.load_metrics.monitors[0]
        def skewed() -> dict[str, float] | None:
            fresh = monitor.view().fresh
            cpu = {n: load.cpu.avg for n, load in fresh.items() if load.cpu is not None}
            if set(HOT + IDLE) <= cpu.keys() and all(cpu[n] > 3000 for n in HOT) and all(
                    cpu[n] < 1000 for n in IDLE):
                return cpu
            return None

        # rate() over the kubelet's cumulative cpu counter settles after a few scrapes.
        await await_until(skewed, timeout=120, interval=1, blocking=False,
                          what="skewed load figures from Prometheus")
        assert REGISTRY.get_sample_value("pyscheduler_load_metrics_stale_nodes", source) == 0
        pods = [pod_manifest(f"prom-{i}", scheduler_name=PROFILE + "-prom", cpu="500m",
                             memory="256Mi") for i in range(2)]
        await asyncio.to_thread(create_pods, plane, ns, pods)
        placed = await await_until(
            lambda: (lambda d: d if len(d) == 2 and all(d.values()) else None)(
                _placed(plane, ns, "prom-")), timeout=60, what="prom- pods bound")
        assert set(placed.values()) <= set(IDLE), placed

    # The dry run reads the same Prometheus, as the args say, once.
    probe = tmp_path / "probe.yaml"
    probe.write_text(json.dumps(pod_manifest("probe-0", scheduler_name=PROFILE + "-prom",
                                             cpu="500m", memory="256Mi")))
    live = await asyncio.to_thread(
        _dry_run, ["dry-run", "--kubeconfig", str(plane.admin_kubeconfig), "--pod", str(probe),
                   "--explain", "default/probe-0"], tmp_path, config)
    assert live.returncode == 0, live.stderr
    assert f"load source Prometheus:{prometheus}: one sample" in live.stdout, live.stdout
    _assert_load_figures(live.stdout, max_age=30)
