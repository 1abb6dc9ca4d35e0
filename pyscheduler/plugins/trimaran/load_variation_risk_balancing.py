"""LoadVariationRiskBalancing: balance the risk of load variation across nodes
(scheduler-plugins pkg/trimaran/loadvariationriskbalancing).

Contract (formula in docs/LOAD_AWARE.md), per resource r in (cpu, memory), with C the node's
allocatable, R the pod's effective request, U and S the node's used amount and its std
(plugins/trimaran/load.py; requests and S = 0 for a node without fresh data):
* ``mu = clamp((clamp(U, 0, C) + R) / C, 0, 1)``, ``sigma = clamp(clamp(S, 0, C) / C, 0, 1)``;
* ``sigma = clamp(margin * sigma ** (1 / sensitivity), 0, 1)`` (sensitivity 0: exponent +Inf);
* ``risk = (mu + sigma) / 2``, ``score_r = (1 - risk) * 100`` (0 when C <= 0);
* score = round(min(score_cpu, score_memory)). Memory is in MiB as upstream (MegaFactor).
* Batch and per-node forms compute the same float64 operations.
"""

from __future__ import annotations

import math

import numpy as np

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    MAX_NODE_SCORE,
    BatchScorePlugin,
    Handle,
    ScoreDetail,
    ScoreExplainer,
)
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.quantity import CPU, MEMORY
from pyscheduler.plugins.trimaran.args import LoadVariationRiskBalancingArgs
from pyscheduler.plugins.trimaran.load import (
    F64,
    CycleLoad,
    LoadEstimator,
    NodeFigures,
    cycle_load,
    percent,
    score_detail,
)
from pyscheduler.plugins.trimaran.resources import burst_estimate, effective
from pyscheduler.plugins.trimaran.rounding import go_round, go_round_array

NAME = "LoadVariationRiskBalancing"
STATE_KEY = "Score" + NAME
MEGA_FACTOR = 1.0 / 1024.0 / 1024.0


def risk_parts(capacity: float, req: float, used_avg: float, used_std: float,
               margin: float, sensitivity: float) -> tuple[float, float, float] | None:
    """(mu, sigma after margin and sensitivity, risk) of one resource; None when C <= 0."""
    if capacity <= 0:
        return None
    req = max(req, 0.0)
    used_avg = max(min(used_avg, capacity), 0.0)
    used_std = max(min(used_std, capacity), 0.0)
    mu = max(min((used_avg + req) / capacity, 1.0), 0.0)
    sigma = max(min(used_std / capacity, 1.0), 0.0)
    if sensitivity >= 0:
        sigma = sigma ** _exponent(sensitivity)
    sigma *= margin
    sigma = max(min(sigma, 1.0), 0.0)
    return mu, sigma, (mu + sigma) / 2


def compute_score(capacity: float, req: float, used_avg: float, used_std: float,
                  margin: float, sensitivity: float) -> float:
    """Upstream computeScore for one resource: (1 - risk) * 100, unrounded."""
    parts = risk_parts(capacity, req, used_avg, used_std, margin, sensitivity)
    if parts is None:
        return 0.0
    return (1.0 - parts[2]) * float(MAX_NODE_SCORE)


def compute_scores(capacity: F64, req: float, used_avg: F64, used_std: F64,
                   margin: float, sensitivity: float) -> F64:
    """``compute_score`` over arrays."""
    req = max(req, 0.0)
    ok = capacity > 0
    cap = np.where(ok, capacity, 1.0)
    used_avg = np.maximum(np.minimum(used_avg, cap), 0.0)
    used_std = np.maximum(np.minimum(used_std, cap), 0.0)
    mu = np.maximum(np.minimum((used_avg + req) / cap, 1.0), 0.0)
    sigma = np.maximum(np.minimum(used_std / cap, 1.0), 0.0)
    if sensitivity >= 0:
        sigma = sigma ** _exponent(sensitivity)
    sigma = sigma * margin
    sigma = np.maximum(np.minimum(sigma, 1.0), 0.0)
    risk = (mu + sigma) / 2
    out: F64 = np.where(ok, (1.0 - risk) * float(MAX_NODE_SCORE), 0.0)
    return out


def _exponent(sensitivity: float) -> float:
    # Go: 1/0.0 is +Inf, and Pow(sigma, +Inf) is 0 for sigma < 1, 1 for sigma == 1.
    return math.inf if sensitivity == 0 else 1 / sensitivity


class LoadVariationRiskBalancing:
    """Score (batch)."""

    def __init__(self, args: LoadVariationRiskBalancingArgs, handle: Handle) -> None:
        """Validate ``args`` and ask the Handle for their load source."""
        args.validate()
        self.name = NAME
        self.args = args
        self.margin = args.safe_variance_margin
        self.sensitivity = args.safe_variance_sensitivity
        self.monitor = handle.load_metrics(args.source_spec())
        self.estimator = LoadEstimator(burst_estimate)

    def _cycle(self, state: CycleState, pod: PodInfo) -> CycleLoad:
        def requests() -> tuple[float, float]:
            cpu, mem = effective(pod.pod, "requests")
            return float(cpu), float(mem)

        return cycle_load(state, STATE_KEY, self.monitor, requests)

    def figures(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> NodeFigures:
        """The load figures ``score`` uses for this node (the dry run's explanation)."""
        return self.estimator.node(node_info, self._cycle(state, pod).view)

    def _resources(self, cl: CycleLoad, f: NodeFigures, node_info: NodeInfo) -> tuple[
            tuple[float, float, float, float], tuple[float, float, float, float]]:
        """(capacity, pod request, used, std) of cpu and of memory (MiB), as scored."""
        return ((float(node_info.allocatable.get(CPU, 0)), cl.pod[0], f.cpu_used, f.cpu_std),
                (float(node_info.allocatable.get(MEMORY, 0)) * MEGA_FACTOR,
                 cl.pod[1] * MEGA_FACTOR, f.mem_used * MEGA_FACTOR, f.mem_std * MEGA_FACTOR))

    def explain_score(self, state: CycleState, pod: PodInfo,
                      node_info: NodeInfo) -> ScoreDetail:
        """Per resource the mean (with the pod), the std and the risk ``score`` used, in %."""
        cl = self._cycle(state, pod)
        f = self.estimator.node(node_info, cl.view)
        values: dict[str, float | int | str] = {}
        for res, (cap, req, used, std) in zip((CPU, MEMORY), self._resources(cl, f, node_info),
                                              strict=True):
            parts = risk_parts(cap, req, used, std, self.margin, self.sensitivity)
            mu, _, risk = parts if parts is not None else (0.0, 0.0, 1.0)
            values[f"{res} mean %"] = round(100 * mu, 1)
            values[f"{res} std %"] = percent(max(min(std, cap), 0.0), cap)
            values[f"{res} risk %"] = round(100 * risk, 1)
        return score_detail(f, cl.view, node_info.name, self.monitor.spec.stale_after, values)

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """The risk-balancing score of one node."""
        cl = self._cycle(state, pod)
        f = self.estimator.node(node_info, cl.view)
        cpu, mem = (compute_score(cap, req, used, std, self.margin, self.sensitivity)
                    for cap, req, used, std in self._resources(cl, f, node_info))
        return go_round(min(mem, cpu))

    def score_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                    rows: I64) -> I64:
        """The same scores for many rows."""
        cl = self._cycle(state, pod)
        f = self.estimator.rows(snapshot, rows, cl.view)
        t = snapshot.table
        idx = snapshot.row_index(rows)
        alloc_cpu = t.alloc[idx, t.columns[CPU]].astype(np.float64)
        alloc_mem = t.alloc[idx, t.columns[MEMORY]].astype(np.float64) * MEGA_FACTOR
        cpu = compute_scores(alloc_cpu, cl.pod[0], f.cpu_used, f.cpu_std,
                             self.margin, self.sensitivity)
        mem = compute_scores(alloc_mem, cl.pod[1] * MEGA_FACTOR, f.mem_used * MEGA_FACTOR,
                             f.mem_std * MEGA_FACTOR, self.margin, self.sensitivity)
        return go_round_array(np.minimum(mem, cpu))


def new(args: LoadVariationRiskBalancingArgs | None,
        handle: Handle) -> LoadVariationRiskBalancing:
    """Upstream New."""
    return LoadVariationRiskBalancing(
        args if args is not None else LoadVariationRiskBalancingArgs(), handle)


SPEC = PluginSpec(NAME, new, LoadVariationRiskBalancingArgs)


def _check(p: LoadVariationRiskBalancing) -> tuple[BatchScorePlugin, ScoreExplainer]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p
