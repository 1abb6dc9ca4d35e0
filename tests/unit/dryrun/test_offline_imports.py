"""`dry-run --snapshot` is offline: it must not load the Kubernetes client or aiohttp.

Loading them costs about a second of the command's start (kubernetes-asyncio's generated
client), and an offline command has no use for them. This guards the package seams that keep
them out (api.resources apart from api.listwatch, the CLI's serving flags apart from the
server, SchedulerApp importing the API's informers and writers only when it builds them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from hack.dryrun_snapshots import as_list, node, pod

PROBE = """
import io, runpy, sys, contextlib
sys.argv = ["pyscheduler", "dry-run", "--snapshot", *sys.argv[1:]]
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        runpy.run_module("pyscheduler", run_name="__main__")
    except SystemExit as exit:
        code = exit.code
heavy = sorted(m for m in ("kubernetes_asyncio", "aiohttp", "kopf") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy, "out": out.getvalue()}))
"""


def test_snapshot_dry_run_loads_no_client_library(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps(as_list([
        node("n1", "2", "4Gi", zone="a"),
        pod("default", "p1", cpu="500m"),
    ])))
    report = _probe(str(snap), "-o", "json")
    assert report["code"] == 0
    assert [p["node"] for p in json.loads(report["out"])["pods"]] == ["n1"]
    assert report["heavy"] == []


def _probe(*args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", "import json\n" + PROBE, *args],
                          capture_output=True, text=True, check=True)
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def test_a_load_aware_explain_from_snapshot_metrics_loads_no_client_library(
        tmp_path: Path) -> None:
    """Load-aware plugins asking for Prometheus and metrics.k8s.io sources: offline, both are
    answered by the snapshot's NodeMetrics, and neither source's client is imported."""
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps(as_list([
        node("n1", "2", "4Gi", zone="a"),
        node("n2", "2", "4Gi", zone="a"),
        pod("default", "p1", cpu="500m"),
        {"apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics",
         "metadata": {"name": "n1"}, "timestamp": "2026-12-04T01:00:00Z", "window": "20s",
         "usage": {"cpu": "250m", "memory": "1Gi"}},
    ])))
    cfg = tmp_path / "config.yaml"
    cfg.write_text("""apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: pyscheduler
  plugins:
    score:
      enabled: [{name: TargetLoadPacking}, {name: LoadVariationRiskBalancing}]
  pluginConfig:
  - name: TargetLoadPacking
    args: {metricProvider: {type: Prometheus, address: "http://127.0.0.1:9"}}
""")
    report = _probe(str(snap), "--config", str(cfg), "--explain", "default/p1",
                    "--now", "2026-12-04T01:00:10Z")
    assert report["code"] == 0
    assert "load source Prometheus:http://127.0.0.1:9: the snapshot's NodeMetrics" in (
        report["out"])
    assert report["heavy"] == []
    assert "no load sample: scored by requests" in report["out"]  # n2
