"""--explain shows the load figures each load-aware score used, and their age (issue 18).

In-memory snapshots: four equal nodes (4 cpu, 16Gi, one bound 500m pod each) and NodeMetrics
for three of them: ``hot`` at 3 cores, ``idle`` at 0.2 cores, both sampled 15 s before the
capture time, and ``old`` sampled 300 s before it (past staleAfterSeconds 60); ``bare`` has no
NodeMetrics at all. The pending pod requests 500m cpu (TargetLoadPacking predicts 750m).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hack.dryrun_snapshots import as_list, node, pod
from pyscheduler.cmd.cli import main
from pyscheduler.config import parse_config
from pyscheduler.dryrun import explain as ex
from pyscheduler.dryrun import render
from pyscheduler.dryrun.engine import DryRunOptions, Simulation, simulate
from pyscheduler.dryrun.load import offline_load
from pyscheduler.dryrun.snapshot import CAPTURED_AT, ClusterState, InputError, load_state
from pyscheduler.model.meta import rfc3339_seconds
from pyscheduler.plugins.registry import new_in_tree_registry

REGISTRY = new_in_tree_registry()
CAPTURED = "2026-12-04T01:00:00Z"
T = rfc3339_seconds(CAPTURED)
PROVIDER = "{type: KubernetesMetricsServer, pollIntervalSeconds: 20, staleAfterSeconds: 60}"
CONFIG = f"""
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: pyscheduler
  plugins:
    score:
      disabled: [{{name: NodeResourcesBalancedAllocation}}, {{name: NodeResourcesFit}},
                 {{name: ImageLocality}}, {{name: TaintToleration}}, {{name: NodeAffinity}},
                 {{name: PodTopologySpread}}, {{name: InterPodAffinity}}]
      enabled:
      - {{name: TargetLoadPacking, weight: 3}}
      - {{name: LoadVariationRiskBalancing}}
      - {{name: LowRiskOverCommitment}}
  pluginConfig:
  - name: TargetLoadPacking
    args: {{metricProvider: {PROVIDER}}}
  - name: LoadVariationRiskBalancing
    args: {{metricProvider: {PROVIDER}}}
  - name: LowRiskOverCommitment
    args: {{metricProvider: {PROVIDER}}}
"""
POD = "default/web-0"


def _metrics(name: str, cpu: str, age: float, memory: str = "2Gi") -> dict[str, Any]:
    from pyscheduler.model.meta import format_rfc3339

    return {"apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics",
            "metadata": {"name": name}, "timestamp": format_rfc3339(T - age),
            "window": "20s", "usage": {"cpu": cpu, "memory": memory}}


def _items(*, metrics: bool = True) -> list[dict[str, Any]]:
    names = ["hot", "idle", "old", "bare"]
    items = [node(n, "4", "16Gi", zone="a") for n in names]
    items += [pod("default", f"sys-{n}", cpu="500m", node_name=n) for n in names]
    items.append(pod("default", "web-0", cpu="500m"))
    if metrics:
        items += [_metrics("hot", "3", 15), _metrics("idle", "200m", 15),
                  _metrics("old", "100m", 300)]
    return items


def _snapshot(items: list[dict[str, Any]], captured: str | None = CAPTURED) -> ClusterState:
    doc = as_list(items)
    if captured is not None:
        doc["metadata"]["annotations"] = {CAPTURED_AT: captured}
    return load_state(msgspec.json.encode(doc), "snapshot")


def _simulate(state: ClusterState, now: float | None = None) -> Simulation:
    config = parse_config(CONFIG, plugins=REGISTRY)
    opts = DryRunOptions(explain=POD, load=offline_load(state, now))
    return asyncio.run(simulate(state, config, REGISTRY, opts, analyzer=ex.analyze))


def _explanation(sim: Simulation) -> ex.Explanation:
    weights = dict(parse_config(CONFIG, plugins=REGISTRY).profiles[0].score_weights)
    return ex.build(POD, sim.attempts, weights, sim.result.pods[0], sim.load)


def _details(e: ex.Explanation) -> dict[str, dict[str, Any]]:
    (attempt,) = e.attempts
    return {s.node: s.details for s in attempt.feasible}


def test_each_load_score_shows_its_figures_and_the_sample_age() -> None:
    sim = _simulate(_snapshot(_items()))
    e = _explanation(sim)
    d = _details(e)
    # One source for the three plugins (equal specs): polled once, before the first pod.
    (rep,) = sim.load
    assert (rep.source, rep.fresh, rep.stale, rep.checked_at) == (
        "KubernetesMetricsServer", 2, 2, T)
    tlp = d["idle"]["TargetLoadPacking"]
    assert tlp.sample_age_seconds == 15.0 and tlp.fallback == ""
    assert tlp.figures == {"measured cpu %": 5.0, "unsampled pods cpu %": 0.0,
                           "pod predicted cpu %": 18.8, "predicted %": 23.8, "target %": 40}
    assert d["hot"]["TargetLoadPacking"].figures["measured cpu %"] == 75.0
    lvrb = d["hot"]["LoadVariationRiskBalancing"]
    # mean = (3000 + 500) / 4000; one sample, so std 0; risk = (mean + 0) / 2.
    assert lvrb.figures["cpu mean %"] == 87.5 and lvrb.figures["cpu std %"] == 0.0
    assert lvrb.figures["cpu risk %"] == 43.8 and lvrb.sample_age_seconds == 15.0
    lro = d["idle"]["LowRiskOverCommitment"]
    assert lro.figures["cpu used %"] == 5.0 and lro.sample_age_seconds == 15.0
    # The hot node scores lowest under every load plugin.
    (attempt,) = e.attempts
    assert attempt.feasible[-1].node == "hot"


def test_nodes_without_fresh_data_say_why_and_show_request_figures() -> None:
    d = _details(_explanation(_simulate(_snapshot(_items()))))
    for plugin in ("TargetLoadPacking", "LoadVariationRiskBalancing", "LowRiskOverCommitment"):
        assert d["bare"][plugin].fallback == "no load sample: scored by requests"
        assert d["bare"][plugin].sample_age_seconds is None
        assert d["old"][plugin].fallback == (
            "load sample 300s old, over staleAfterSeconds 60: scored by requests")
    # Scored by requests: the node's requested 500m of 4 cpu.
    assert d["bare"]["TargetLoadPacking"].figures["requested cpu %"] == 12.5
    assert "cpu used %" not in d["bare"]["LowRiskOverCommitment"].figures


def test_explain_text_lists_the_figures_per_node_and_plugin() -> None:
    text = render.explain_text(_explanation(_simulate(_snapshot(_items()))))
    assert ("  load source KubernetesMetricsServer: the snapshot's NodeMetrics (3 nodes), "
            "ages at the capture time 2026-12-04T01:00:00Z; 2 nodes with a fresh sample, "
            "2 scored by requests") in text
    assert "Figures behind the scores (SAMPLE AGE: of the load sample used):" in text
    lines = text.splitlines()
    idle = next(x for x in lines if x.split()[:2] == ["idle", "TargetLoadPacking"])
    assert idle.split()[2] == "15s"
    assert idle.endswith("measured cpu % 5.0, unsampled pods cpu % 0.0, pod predicted cpu % "
                         "18.8, predicted % 23.8, target % 40")
    bare = next(x for x in lines if x.split()[:2] == ["bare", "TargetLoadPacking"])
    assert bare.split()[2] == "<none>"
    assert "no load sample: scored by requests; requested cpu % 12.5" in bare


def test_without_node_metrics_every_node_is_scored_by_requests_visibly() -> None:
    sim = _simulate(_snapshot(_items(metrics=False)))
    (rep,) = sim.load
    assert rep.origin == "the snapshot has no NodeMetrics" and rep.fresh == 0 and rep.stale == 4
    d = _details(_explanation(sim))
    assert {n: x["TargetLoadPacking"].fallback for n, x in d.items()} == {
        n: "no load sample: scored by requests" for n in ("hot", "idle", "old", "bare")}


def test_ages_are_taken_at_now_else_the_newest_sample_without_a_capture_time() -> None:
    state = _snapshot(_items(), captured=None)
    sim = _simulate(state)
    assert sim.load[0].checked_at == T - 15  # the newest sample: its age is 0
    assert "the snapshot records no capture time (pass --now)" in sim.load[0].origin
    assert _details(_explanation(sim))["idle"]["TargetLoadPacking"].sample_age_seconds == 0.0
    # At --now 50 s after the capture, "hot" and "idle" (65 s old) are stale too.
    d = _details(_explanation(_simulate(_snapshot(_items()), now=T + 50)))
    assert d["idle"]["TargetLoadPacking"].fallback == (
        "load sample 65s old, over staleAfterSeconds 60: scored by requests")


def test_a_node_metrics_list_as_the_api_serves_it_is_read() -> None:
    # The metrics API's list items carry no kind: the list's kind names them.
    metrics = [_metrics("idle", "200m", 15)]
    for m in metrics:
        del m["kind"], m["apiVersion"]
    doc = {"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "items": metrics}
    state = load_state(msgspec.json.encode(doc), "metrics.json")
    assert state.node_metrics["idle"].cpu_milli == 200.0
    assert state.node_metrics["idle"].window == 20.0


@pytest.mark.parametrize(("change", "message"), [
    ({"timestamp": "yesterday"}, "timestamp: not an RFC 3339 time: 'yesterday'"),
    ({"usage": {"cpu": "fast"}}, "usage.cpu: invalid quantity 'fast'"),
])
def test_a_bad_node_metrics_object_is_one_line_naming_it(change: dict[str, Any],
                                                          message: str) -> None:
    doc = as_list([{**_metrics("idle", "200m", 15), **change}])
    with pytest.raises(InputError) as err:
        load_state(msgspec.json.encode(doc), "snap.json")
    assert str(err.value) == f"snap.json: document items[0] (NodeMetrics idle): {message}"


def test_cli_now_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = tmp_path / "snap.json"
    doc = as_list(_items())
    doc["metadata"]["annotations"] = {CAPTURED_AT: CAPTURED}
    snap.write_text(msgspec.json.encode(doc).decode())
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG)
    base = ["dry-run", "--snapshot", str(snap), "--config", str(cfg), "--explain", POD]
    assert main([*base, "--now", "2026-12-04T01:00:30Z"]) == 0
    out = capsys.readouterr().out
    assert "ages at --now 2026-12-04T01:00:30Z" in out
    idle = next(x for x in out.splitlines() if x.split()[:2] == ["idle", "TargetLoadPacking"])
    assert idle.split()[2] == "45s"
    assert main([*base, "--now", "soon"]) == 2
    assert "--now 'soon': not an RFC 3339 time" in capsys.readouterr().err


def test_explain_json_carries_the_figures_age_and_fallback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    snap = tmp_path / "snap.json"
    doc = as_list(_items())
    doc["metadata"]["annotations"] = {CAPTURED_AT: CAPTURED}
    snap.write_text(msgspec.json.encode(doc).decode())
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG)
    assert main(["dry-run", "--snapshot", str(snap), "--config", str(cfg), "--explain", POD,
                 "-o", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "DryRunExplanation" and out["pod"] == POD
    assert out["loadSources"] == [{
        "source": "KubernetesMetricsServer",
        "origin": "the snapshot's NodeMetrics (3 nodes), ages at the capture time "
                  "2026-12-04T01:00:00Z",
        "checkedAt": "2026-12-04T01:00:00.000000Z", "freshNodes": 2, "staleNodes": 2,
        "error": None}]
    feasible = {f["node"]: f["plugins"] for f in out["attempts"][0]["feasible"]}
    idle = feasible["idle"]["TargetLoadPacking"]
    assert idle["sampleAgeSeconds"] == 15.0 and idle["fallback"] is None
    assert idle["figures"]["measured cpu %"] == 5.0 and idle["weight"] == 3
    bare = feasible["bare"]["LoadVariationRiskBalancing"]
    assert bare["sampleAgeSeconds"] is None
    assert bare["fallback"] == "no load sample: scored by requests"
    assert set(feasible["idle"]) == {"TargetLoadPacking", "LoadVariationRiskBalancing",
                                     "LowRiskOverCommitment"}
    assert feasible["idle"]["LowRiskOverCommitment"]["raw"] == 50


def test_a_failed_live_sample_scores_by_requests_and_says_why() -> None:
    """live_load's sources fetch once; a failure leaves every node scored by requests, and the
    explanation names the error (here a source that fails as an unreachable one does)."""
    from pyscheduler.dryrun.load import FrozenClock, LoadInput
    from pyscheduler.loadmetrics.types import NodeSample, SourceError

    class Down:
        async def fetch(self) -> dict[str, NodeSample]:
            raise SourceError("GET /apis/metrics.k8s.io/v1beta1/nodes: 503 Service Unavailable")

        async def close(self) -> None:
            pass

    state = _snapshot(_items())
    config = parse_config(CONFIG, plugins=REGISTRY)
    load = LoadInput(lambda spec: Down(), FrozenClock(T), "one sample of each configured source")
    sim = asyncio.run(simulate(state, config, REGISTRY, DryRunOptions(explain=POD, load=load),
                               analyzer=ex.analyze))
    (rep,) = sim.load
    assert rep.fresh == 0 and rep.stale == 4 and "503" in rep.error
    text = render.explain_text(_explanation(sim))
    assert "(the sample failed: GET /apis/metrics.k8s.io/v1beta1/nodes: 503" in text
    d = _details(_explanation(sim))
    assert {x["TargetLoadPacking"].fallback for x in d.values()} == {
        "no load sample: scored by requests"}


def test_a_live_source_is_fetched_once_for_every_run_of_the_dry_run() -> None:
    """--compare-config runs the engine twice: both runs must see the one sample."""
    from pyscheduler.dryrun.load import _OnceSource
    from pyscheduler.loadmetrics.types import NodeSample

    class Counting:
        def __init__(self) -> None:
            self.fetches = self.closes = 0

        async def fetch(self) -> dict[str, NodeSample]:
            self.fetches += 1
            return {"a": NodeSample(1.0, 2.0, timestamp=float(self.fetches))}

        async def close(self) -> None:
            self.closes += 1

    async def twice() -> tuple[Counting, list[float]]:
        src = Counting()
        once = _OnceSource(src)
        return src, [(await once.fetch())["a"].timestamp for _ in range(2)]

    src, stamps = asyncio.run(twice())
    assert stamps == [1.0, 1.0] and src.fetches == 1 and src.closes == 1
