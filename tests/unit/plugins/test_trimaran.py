"""Trimaran plugins: scheduler-plugins' table cases where they apply, the curves at their
boundary points, the request-based fallback, args, and batch = per-node (property test)."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np
import pytest
from builders import (
    FakeHandle,
    info,
    make_node,
    make_pod,
    new_state,
    pod_info,
    scores_both,
    snapshot_of,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from pyscheduler.config import ConfigError, parse_config
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.loadmetrics.types import LoadSourceSpec, LoadView, NodeLoad, ResourceLoad
from pyscheduler.model.pod import Pod
from pyscheduler.plugins.registry import new_in_tree_registry
from pyscheduler.plugins.trimaran import beta
from pyscheduler.plugins.trimaran.args import (
    LoadVariationRiskBalancingArgs,
    LowRiskOverCommitmentArgs,
    TargetLoadPackingArgs,
)
from pyscheduler.plugins.trimaran.load_variation_risk_balancing import (
    LoadVariationRiskBalancing,
    compute_score,
)
from pyscheduler.plugins.trimaran.low_risk_over_commitment import (
    LowRiskOverCommitment,
    RequestsAndLimits,
    compute_risk,
)
from pyscheduler.plugins.trimaran.rounding import go_round
from pyscheduler.plugins.trimaran.target_load_packing import TargetLoadPacking, tlp_score

NOW = 1_000_000.0


class _Monitor:
    def __init__(self, spec: LoadSourceSpec, view: LoadView) -> None:
        self.spec = spec
        self.current = view

    def view(self) -> LoadView:
        return self.current


class LoadHandle(FakeHandle):
    """A FakeHandle whose load source answers a fixed view."""

    def __init__(self, snapshot: Snapshot, view: LoadView) -> None:
        super().__init__(snapshot)
        self.load_view = view
        self.asked: list[LoadSourceSpec] = []

    def load_metrics(self, spec: LoadSourceSpec) -> _Monitor:
        self.asked.append(spec)
        return _Monitor(spec, self.load_view)


def view_of(loads: dict[str, tuple[float, float, float, float]], gen: int = 1,
            ts: float = NOW - 5) -> LoadView:
    """node -> (cpu milli, cpu std, memory bytes, memory std)."""
    fresh = {n: NodeLoad(ResourceLoad(c, cs), ResourceLoad(m, ms), timestamp=ts, window=10)
             for n, (c, cs, m, ms) in loads.items()}
    return LoadView(fresh=fresh, generation=gen)


def cpu_pod(name: str = "p", *, requests: list[str] | None = None,
            limits: list[str] | None = None, overhead: str | None = None,
            node: str = "", started: str | None = None) -> Pod:
    containers: list[dict[str, Any]] = []
    for i in range(max(len(requests or []), len(limits or []))):
        res: dict[str, Any] = {}
        if requests and i < len(requests) and requests[i]:
            res["requests"] = {"cpu": requests[i]}
        if limits and i < len(limits) and limits[i]:
            res["limits"] = {"cpu": limits[i]}
        containers.append({"name": f"c{i}", "resources": res})
    obj: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {"nodeName": node, "containers": containers},
        "status": {"startTime": started} if started else {},
    }
    if overhead:
        obj["spec"]["overhead"] = {"cpu": overhead}
    return msgspec.convert(obj, Pod)


# ---- TargetLoadPacking ------------------------------------------------------------------------

def _tlp(snapshot: Snapshot, view: LoadView, **args: Any) -> TargetLoadPacking:
    a = msgspec.convert(args, TargetLoadPackingArgs)
    return TargetLoadPacking(a, LoadHandle(snapshot, view))


@pytest.mark.parametrize(("name", "pod", "util_percent", "expected"), [
    # scheduler-plugins TestTargetLoadPackingScoring, node of 1000m
    ("new node", cpu_pod(), 0.0, 40),
    ("hot node", cpu_pod(), 50.0, 33),
    ("excess utilization returns min score", cpu_pod(requests=["1000m"], limits=["1000m"],
                                                      overhead="0"), 30.0, 0),
])
def test_tlp_upstream_table(name: str, pod: Pod, util_percent: float, expected: int) -> None:
    snap = snapshot_of([make_node("node-1", cpu="1000m", memory="1Gi")])
    pl = _tlp(snap, view_of({"node-1": (util_percent * 10, 0, 0, 0)}))
    assert scores_both(pl, new_state(), pod_info(pod), snap) == {"node-1": expected}


@pytest.mark.parametrize(("predicted", "expected"), [
    (0.0, 40),      # idle node: the target itself
    (20.0, 70),     # halfway to the target: 60 * 20 / 40 + 40
    (40.0, 100),    # at the target: the best score
    (70.0, 20),     # halfway from target to full: 40 * 30 / 60
    (100.0, 0),     # full
    (100.5, 0),     # above full: the minimum
])
def test_tlp_curve_boundaries(predicted: float, expected: int) -> None:
    assert tlp_score(predicted * 10, 0.0, 1000.0, 40) == expected


def test_tlp_zero_capacity_and_target_100() -> None:
    assert tlp_score(500.0, 0.0, 0.0, 40) == 40  # upstream: predicted 0 without capacity
    assert tlp_score(1000.0, 0.0, 1000.0, 100) == 100
    assert tlp_score(1001.0, 0.0, 1000.0, 100) == 0


def test_tlp_predicts_limit_then_request_times_multiplier_then_default() -> None:
    snap = snapshot_of([make_node("n")])
    pl = _tlp(snap, LoadView(), defaultRequests={"cpu": "300m"},
              defaultRequestsMultiplier="1.25")
    pod = cpu_pod(requests=["100m", "", "101m"], limits=["700m", "", ""], overhead="50m")
    # 700 (limit) + 300 (no request: default) + round(101 * 1.25 = 126.25) + 50 overhead
    assert pl.predict_pod(pod) == 700 + 300 + 126 + 50
    assert go_round(2.5) == 3 and go_round(0.49999999999999994) == 0


def test_tlp_falls_back_to_requests_for_stale_nodes_and_counts_unsampled_pods() -> None:
    nodes = [make_node("idle", cpu="10"), make_node("hot", cpu="10"),
             make_node("stale", cpu="10"), make_node("burst", cpu="10")]
    pods = [
        # 2 cores requested on "stale": with no data it is scored by them (20%)
        make_pod("s1", node="stale", requests={"cpu": "2"}),
        # on "burst": one pod started long before the sample (in it), one not started yet
        cpu_pod("b1", node="burst", requests=["1"], started="1970-01-01T00:00:00Z"),
        cpu_pod("b2", node="burst", requests=["1"], limits=["3"]),
    ]
    snap = snapshot_of(nodes, pods)
    view = view_of({"idle": (0, 0, 0, 0), "hot": (9000, 0, 0, 0), "burst": (1000, 0, 0, 0)})
    pl = _tlp(snap, view)
    pod = cpu_pod(requests=["1"], limits=["1"])
    got = scores_both(pl, new_state(), pod_info(pod), snap)
    assert got == {
        "idle": go_round(60 * 10 / 40 + 40),        # 10% with the pod
        "hot": 0,                                   # 100% with the pod
        "stale": go_round(60 * 30 / 40 + 40),       # 20% requested + 10%
        "burst": go_round(40 * (100 - 50) / 60),    # 10% measured + 30% (b2's limit) + 10%
    }
    f = pl.figures(new_state(), pod_info(pod), info(snap, "burst"))
    assert f.fresh and f.cpu_extra == 3000 and f.age(NOW) == pytest.approx(5.0)
    assert not pl.figures(new_state(), pod_info(pod), info(snap, "stale")).fresh


# ---- LoadVariationRiskBalancing ---------------------------------------------------------------

@pytest.mark.parametrize(("margin", "sensitivity", "cap", "req", "avg", "std", "expected"), [
    # scheduler-plugins analysis_test.go TestComputeScore
    (1, 1, 100, 10, 40, 36, 57),
    (1, 2, 0, 10, 40, 36, 0),
    (1, 2, 100, 10, -40, 36, 65),
    (1, 2, 100, 10, 200, 36, 20),
    (1, 2, 100, 10, 40, -36, 75),
    (1, 2, 100, 10, 40, 120, 25),
    (-1, 1, 100, 10, 40, 36, 75),
    (1, -1, 100, 10, 40, 36, 57),
    (1, 0, 100, 10, 40, 36, 75),
])
def test_lvrb_compute_score_upstream_table(margin: float, sensitivity: float, cap: float,
                                           req: float, avg: float, std: float,
                                           expected: int) -> None:
    assert go_round(compute_score(cap, req, avg, std, margin, sensitivity)) == expected


def test_lvrb_curve_boundaries() -> None:
    assert compute_score(100, 0, 0, 0, 1, 1) == 100.0   # idle, steady: no risk
    assert compute_score(100, 0, 100, 0, 1, 1) == 50.0  # full, steady: mu = 1
    assert compute_score(100, 0, 100, 100, 1, 1) == 0.0  # full and swinging: risk 1
    assert compute_score(100, 0, 0, 100, 1, 1) == 50.0   # idle but swinging fully


def test_lvrb_takes_the_minimum_of_cpu_and_memory() -> None:
    snap = snapshot_of([make_node("a", cpu="10", memory="10Gi"),
                        make_node("b", cpu="10", memory="10Gi")])
    gi = 1024**3
    view = view_of({"a": (1000, 0, 9 * gi, 0), "b": (5000, 1000, 1 * gi, 0)})
    pl = LoadVariationRiskBalancing(LoadVariationRiskBalancingArgs(), LoadHandle(snap, view))
    got = scores_both(pl, new_state(), pod_info(make_pod(requests={"cpu": "1",
                                                                  "memory": "1Gi"})), snap)
    # a: cpu (1 - 0.2/2) = 90, memory (1 - 1.0/2) = 50 -> 50
    # b: cpu mu 0.6 sigma 0.1 -> 65, memory mu 0.2 -> 90 -> 65
    assert got == {"a": 50, "b": 65}


# ---- LowRiskOverCommitment --------------------------------------------------------------------

# scheduler-plugins lowriskovercommitment_test.go: node_A (4000m, 4Ki), cpu 80% / memory 25%
# measured, std 0, nrla_A1 and nrla_A2.
_A1 = {"cpu": RequestsAndLimits(2000, 3000, 1000, 2000, 4000),
       "memory": RequestsAndLimits(2048, 6144, 0, 0, 4096)}
_A2 = {"cpu": RequestsAndLimits(4000, 5000, 3000, 4000, 4000),
       "memory": RequestsAndLimits(1024, 7168, 512, 6144, 4096)}


@pytest.mark.parametrize(("rl", "used", "expected"), [
    (_A1["cpu"], 0.80 * 4000, 0.5),
    (_A1["memory"], 0.25 * 4096, 0.25),
    (_A2["cpu"], 0.80 * 4000, 1.0),
    (_A2["memory"], 0.25 * 4096, 0.75),
])
def test_lro_compute_risk_upstream_table(rl: RequestsAndLimits, used: float,
                                         expected: float) -> None:
    assert compute_risk(rl, 0.5, 5, used, 0.0) == expected


def test_lro_best_effort_pod_scores_min_and_no_load_means_limit_risk_only() -> None:
    snap = snapshot_of([make_node("node-1", cpu="1000m", memory="1Gi")])
    view = view_of({"node-1": (200, 0, 0, 0)})
    pl = LowRiskOverCommitment(LowRiskOverCommitmentArgs(), LoadHandle(snap, view))
    st_ = new_state()
    assert pl.pre_score(st_, pod_info(cpu_pod()), snap, snap.all_rows()) is None
    assert scores_both(pl, st_, pod_info(cpu_pod()), snap) == {"node-1": 0}  # upstream "new node"
    # No fresh data: only riskLimit counts. Limit 2000m on 1000m: (2000-1000)/(2000-500) = 2/3,
    # half-weighted -> risk 1/3 -> 67.
    stale = LowRiskOverCommitment(LowRiskOverCommitmentArgs(), LoadHandle(snap, LoadView()))
    pod = cpu_pod(requests=["500m"], limits=["2000m"])
    assert scores_both(stale, new_state(), pod_info(pod), snap) == {"node-1": 67}


def test_beta_distribution_upstream_cases() -> None:
    assert beta.BetaDistribution.new(-1, 1) is None and beta.BetaDistribution.new(1, -1) is None
    b22 = beta.BetaDistribution(2, 2)
    assert b22.density_function(0.5) == pytest.approx(1.5, abs=1e-9)
    assert b22.distribution_function(0.5) == pytest.approx(0.5, abs=1e-12)
    assert b22.distribution_function(0.0) == 0.0 and b22.distribution_function(1.0) == 1.0
    assert [beta.max_variance(m) for m in (0, 1, 0.5, -1)] == [0, 0, 0.25, 0]
    uniform = beta.BetaDistribution.match_moments(0.5, 0.25 + 1 / 12)  # upstream "beta(1,1)"
    assert uniform is not None
    assert (uniform.alpha, uniform.beta) == (pytest.approx(1.0), pytest.approx(1.0))
    assert beta.BetaDistribution.match_moments(0, 0) is None


@pytest.mark.parametrize(("a", "b", "x", "want"), [
    (2, 3, 0.3, 0.3483),                                    # 1 - (1-x)^3 (1+3x)
    (0.5, 0.5, 0.2, 2 / math.pi * math.asin(math.sqrt(0.2))),  # arcsine distribution
    (1, 1, 0.37, 0.37),                                     # uniform
    (5, 1, 0.8, 0.8**5),
])
def test_reg_inc_beta_closed_forms(a: float, b: float, x: float, want: float) -> None:
    assert beta.reg_inc_beta(a, b, x) == pytest.approx(want, abs=1e-13)


# ---- args --------------------------------------------------------------------------------------

HEADER = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"


def _profile(plugin: str, args: str) -> str:
    return (HEADER + "profiles:\n- schedulerName: load\n  plugins:\n    score:\n      enabled:\n"
            f"      - name: {plugin}\n  pluginConfig:\n  - name: {plugin}\n    args:\n{args}")


def test_args_take_upstream_defaults_and_upstream_defaulting() -> None:
    tlp = msgspec.convert({"targetUtilization": -1}, TargetLoadPackingArgs)
    assert (tlp.target_utilization, tlp.default_requests, tlp.default_requests_multiplier) == (
        40, {"cpu": "1000m"}, "1.5")
    assert tlp.metric_provider.type == "KubernetesMetricsServer"
    lv = msgspec.convert({"safeVarianceMargin": -2, "safeVarianceSensitivity": -1},
                         LoadVariationRiskBalancingArgs)
    assert (lv.safe_variance_margin, lv.safe_variance_sensitivity) == (1.0, 1.0)
    lro = msgspec.convert({"smoothingWindowSize": 0, "riskLimitWeights": {"cpu": 2}},
                          LowRiskOverCommitmentArgs)
    assert (lro.smoothing_window_size, lro.weight("cpu"), lro.weight("memory")) == (5, 0.5, 0.5)
    prom = msgspec.convert({"metricProvider": {"type": "Prometheus", "address": "http://p"}},
                           TargetLoadPackingArgs)
    assert prom.metric_provider.insecure_skip_verify is True


def test_plugins_are_registered_but_not_in_the_default_profile() -> None:
    reg = new_in_tree_registry()
    for name in ("TargetLoadPacking", "LoadVariationRiskBalancing", "LowRiskOverCommitment",
                 "PodState"):
        assert name in reg
    c = parse_config(HEADER, plugins=reg)
    assert not set(c.profiles[0].plugin_names) & {
        "TargetLoadPacking", "LoadVariationRiskBalancing", "LowRiskOverCommitment", "PodState"}


@pytest.mark.parametrize(("plugin", "args", "errors"), [
    ("TargetLoadPacking", "      metricProvider: {type: Prometheus}\n",
     ["profiles[0].pluginConfig[0].args.metricProvider.address: Required value: the "
      "Prometheus HTTP API's base URL"]),
    ("TargetLoadPacking", "      metricProvider: {type: SignalFx}\n",
     ['profiles[0].pluginConfig[0].args.metricProvider.type: Unsupported value: "SignalFx": '
      'supported values: "KubernetesMetricsServer", "Prometheus"']),
    ("TargetLoadPacking", "      defaultRequestsMultiplier: abc\n      targetUtilization: 120\n",
     ['profiles[0].pluginConfig[0].args.defaultRequestsMultiplier: Invalid value: "abc": '
      "unable to parse DefaultRequestsMultiplier: must be a number",
      "profiles[0].pluginConfig[0].args.targetUtilization: Invalid value: 120: must be less "
      "than or equal to 100"]),
    ("LoadVariationRiskBalancing", "      watcherAddress: http://lw:2020\n",
     ['profiles[0].pluginConfig[0].args.watcherAddress: Invalid value: "http://lw:2020": the '
      "load-watcher service is not supported by pyscheduler; set metricProvider instead"]),
    ("LowRiskOverCommitment", "      metricProvider: {pollIntervalSeconds: 0, historySize: 0}\n",
     ["profiles[0].pluginConfig[0].args.metricProvider.pollIntervalSeconds: Invalid value: "
      "0.0: must be greater than 0",
      "profiles[0].pluginConfig[0].args.metricProvider.historySize: Invalid value: 0: must be "
      "greater than or equal to 1"]),
])
def test_invalid_args_name_the_field(plugin: str, args: str, errors: list[str]) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_config(_profile(plugin, args), plugins=new_in_tree_registry())
    assert ei.value.errors == errors


def test_equal_sources_are_asked_for_once_per_plugin() -> None:
    snap = snapshot_of([make_node("n")])
    h = LoadHandle(snap, LoadView())
    TargetLoadPacking(TargetLoadPackingArgs(), h)
    LoadVariationRiskBalancing(LoadVariationRiskBalancingArgs(), h)
    assert h.asked[0] == h.asked[1] == LoadSourceSpec()


# ---- batch = per node (property) ---------------------------------------------------------------

_node = st.tuples(
    st.sampled_from(["500m", "2", "4", "16", "0"]),       # cpu capacity
    st.sampled_from(["1Gi", "8Gi", "64Gi"]),              # memory
    st.one_of(st.none(), st.tuples(                       # load: None = stale/missing
        st.floats(0, 20000), st.floats(0, 5000), st.floats(0, 80 * 1024**3),
        st.floats(0, 8 * 1024**3))),
    st.lists(st.tuples(st.sampled_from(["100m", "1", "3"]), st.booleans(), st.booleans()),
             max_size=3),                                 # pods: request, has limit, started
)


@settings(max_examples=60, deadline=None)
@given(nodes=st.lists(_node, min_size=1, max_size=8),
       pod_cpu=st.sampled_from([None, "100m", "1", "7"]),
       target=st.integers(1, 100), margin=st.floats(0, 3), sensitivity=st.floats(0, 4))
def test_batch_and_per_node_forms_agree(nodes: list[Any], pod_cpu: str | None, target: int,
                                        margin: float, sensitivity: float) -> None:
    objs, pods, loads = [], [], {}
    for i, (cpu, mem, load, node_pods) in enumerate(nodes):
        name = f"n{i}"
        objs.append(make_node(name, cpu=cpu, memory=mem))
        if load is not None:
            loads[name] = load
        for j, (req, has_limit, started) in enumerate(node_pods):
            pods.append(cpu_pod(f"p{i}-{j}", node=name, requests=[req],
                                limits=["4"] if has_limit else None,
                                started="1970-01-01T00:00:00Z" if started else None))
    snap = snapshot_of(objs, pods)
    view = view_of(loads)
    pod = pod_info(cpu_pod(requests=[pod_cpu] if pod_cpu else None))
    tlp = _tlp(snap, view, targetUtilization=target)
    lvrb = LoadVariationRiskBalancing(
        LoadVariationRiskBalancingArgs(safe_variance_margin=margin,
                                       safe_variance_sensitivity=sensitivity),
        LoadHandle(snap, view))
    for pl in (tlp, lvrb):
        scores_both(pl, new_state(), pod, snap)
        # and on a subset of rows, through the incremental cache
        rows = np.array(list(range(0, snap.num_nodes, 2)), dtype=np.int64)
        scores_both(pl, new_state(), pod, snap, rows)
