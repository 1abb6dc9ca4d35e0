"""LowRiskOverCommitment: prefer nodes where over-commitment (limits above requests) is
least risky (scheduler-plugins pkg/trimaran/lowriskovercommitment).

Contract (formula in docs/LOAD_AWARE.md), per resource r in (cpu, memory), with C the node's
allocatable, Q and L the requests and limits (limits raised to requests) of the node's pods
plus the pod (Q capped at C), Q0 and L0 the same without the pod:
* ``riskLimit = (L - C) / (L - Q)`` when L > C, else 0;
* ``riskLoad = 1 - P(X <= Q0 / C)`` where X is the beta distribution with the node's measured
  mean ``U / C`` and std ``S / C * sqrt(smoothingWindowSize)`` (capped below the beta's
  maximum), conditioned on ``X <= L0 / C`` when L0 < C (upstream's special cases kept);
* ``risk_r = clamp(w_r * riskLimit + (1 - w_r) * riskLoad, 0, 1)``, w_r = riskLimitWeights[r];
* score = round((1 - max(risk_cpu, risk_memory)) * 100); 0 for a best-effort pod (upstream).
* A node without fresh load data gets riskLoad = 0 (its requests are all that is known), so
  it is ranked by the limit risk alone; upstream scores it 0.
* Per node only: the incomplete beta function is evaluated per node in Python. Node request
  and limit sums are cached per NodeInfo generation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    MAX_NODE_SCORE,
    Handle,
    PreScorePlugin,
    ScoreDetail,
    ScoreExplainer,
    ScorePlugin,
)
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Status
from pyscheduler.framework.types import PodInfo
from pyscheduler.loadmetrics.types import LoadView
from pyscheduler.model.quantity import CPU, MEMORY
from pyscheduler.plugins.trimaran.args import LowRiskOverCommitmentArgs
from pyscheduler.plugins.trimaran.beta import compute_probability, max_variance
from pyscheduler.plugins.trimaran.load import LoadEstimator, NodeFigures, percent, score_detail
from pyscheduler.plugins.trimaran.resources import burst_estimate, requests_and_limits
from pyscheduler.plugins.trimaran.rounding import go_round

NAME = "LowRiskOverCommitment"
POD_RESOURCES_KEY = NAME + ".PodResources"
MAX_VARIANCE_ALLOWANCE = 0.99


@dataclass(frozen=True, slots=True)
class RequestsAndLimits:
    """One resource on one node (upstream NodeRequestsAndLimits, for one resource)."""

    request: int
    limit: int
    request_minus_pod: int
    limit_minus_pod: int
    capacity: int


def compute_risk(rl: RequestsAndLimits, weight: float, smoothing_window_size: int,
                 used_avg: float | None, used_std: float) -> float:
    """Upstream computeRisk for one resource; ``used_avg`` None: no measured load."""
    risk_limit, risk_load = risk_parts(rl, smoothing_window_size, used_avg, used_std)
    total = weight * risk_limit + (1 - weight) * risk_load
    return min(max(total, 0.0), 1.0)


def risk_parts(rl: RequestsAndLimits, smoothing_window_size: int, used_avg: float | None,
               used_std: float) -> tuple[float, float]:
    """(riskLimit, riskLoad) of one resource, before weighting."""
    risk_limit = risk_load = 0.0
    if rl.limit > rl.capacity:
        risk_limit = float(rl.limit - rl.capacity) / float(rl.limit - rl.request)
    if used_avg is not None and rl.capacity > 0:
        cap = float(rl.capacity)
        mu = max(min(used_avg / cap, 1.0), 0.0)
        sigma = max(min(used_std / cap, 1.0), 0.0)
        sigma *= math.pow(float(smoothing_window_size), 0.5)
        sigma = min(sigma, math.sqrt(max_variance(mu) * MAX_VARIANCE_ALLOWANCE))
        alloc_threshold = min(max(float(rl.request_minus_pod) / cap, 0.0), 1.0)
        alloc_prob, dist = compute_probability(mu, sigma, alloc_threshold)
        if rl.limit_minus_pod < rl.capacity and rl.request_minus_pod <= rl.limit_minus_pod:
            limit_threshold = float(rl.limit_minus_pod) / cap
            if limit_threshold == 0:
                alloc_prob = 1.0  # zero over zero
            elif dist is not None:
                limit_prob = dist.distribution_function(limit_threshold)
                if limit_prob > 0:
                    alloc_prob = min(max(alloc_prob / limit_prob, 0.0), 1.0)
        risk_load = 1 - alloc_prob
    return risk_limit, risk_load


@dataclass(frozen=True, slots=True)
class _PodResources:
    view: LoadView
    requests: tuple[int, int]
    limits: tuple[int, int]


class LowRiskOverCommitment:
    """PreScore and Score (per node)."""

    def __init__(self, args: LowRiskOverCommitmentArgs, handle: Handle) -> None:
        """Validate ``args`` and ask the Handle for their load source."""
        args.validate()
        self.name = NAME
        self.args = args
        self.monitor = handle.load_metrics(args.source_spec())
        self.estimator = LoadEstimator(burst_estimate)
        # node name -> (NodeInfo generation, summed requests and limits of its pods)
        self._sums: dict[str, tuple[int, tuple[int, int, int, int]]] = {}

    def _pod_resources(self, state: CycleState, pod: PodInfo) -> _PodResources:
        pr = state.get(POD_RESOURCES_KEY)
        if not isinstance(pr, _PodResources):
            req, lim = requests_and_limits(pod.pod)
            pr = _PodResources(self.monitor.view(), req, lim)
            state.write(POD_RESOURCES_KEY, pr)
        return pr

    def pre_score(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                  rows: I64) -> Status | None:
        """Upstream PreScore: the pod's requests and limits, kept for the cycle."""
        state.delete(POD_RESOURCES_KEY)
        self._pod_resources(state, pod)
        return None

    def _node_sums(self, info: NodeInfo) -> tuple[int, int, int, int]:
        """(request cpu, request memory, limit cpu, limit memory) of the node's pods."""
        cached = self._sums.get(info.name)
        if cached is not None and cached[0] == info.generation:
            return cached[1]
        rc = rm = lc = lm = 0
        for pi in info.pods.values():
            (qc, qm), (xc, xm) = requests_and_limits(pi.pod)
            rc, rm, lc, lm = rc + qc, rm + qm, lc + xc, lm + xm
        sums = (rc, rm, lc, lm)
        if len(self._sums) > 4 * 65536:  # nodes come and go: bound the memo
            self._sums.clear()
        self._sums[info.name] = (info.generation, sums)
        return sums

    def requests_and_limits(self, info: NodeInfo, pr: _PodResources) -> tuple[
            RequestsAndLimits, RequestsAndLimits]:
        """Upstream GetNodeRequestsAndLimits, for cpu and memory."""
        rc, rm, lc, lm = self._node_sums(info)
        out = []
        for i, (name, q0, l0) in enumerate(((CPU, rc, lc), (MEMORY, rm, lm))):
            cap = info.allocatable.get(name, 0)
            out.append(RequestsAndLimits(
                request=min(q0 + pr.requests[i], cap),
                limit=l0 + pr.limits[i],
                request_minus_pod=min(q0, cap),
                limit_minus_pod=l0,
                capacity=cap,
            ))
        return out[0], out[1]

    def figures(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> NodeFigures:
        """The load figures ``score`` uses for this node (the dry run's explanation)."""
        return self.estimator.node(node_info, self._pod_resources(state, pod).view)

    def explain_score(self, state: CycleState, pod: PodInfo,
                      node_info: NodeInfo) -> ScoreDetail:
        """Per resource the limit risk, the load risk and their weighted risk, in %, and
        the measured mean and std behind the load risk."""
        pr = self._pod_resources(state, pod)
        f = self.estimator.node(node_info, pr.view)
        w = self.args.smoothing_window_size
        values: dict[str, float | int | str] = {}
        for res, rl, used, std in zip((CPU, MEMORY), self.requests_and_limits(node_info, pr),
                                      (f.cpu_used, f.mem_used), (f.cpu_std, f.mem_std),
                                      strict=True):
            if f.fresh:
                values[f"{res} used %"] = percent(used, rl.capacity)
                values[f"{res} std %"] = percent(std, rl.capacity)
            limit, load = risk_parts(rl, w, used if f.fresh else None, std)
            values[f"{res} limit risk %"] = round(100 * limit, 1)
            values[f"{res} load risk %"] = round(100 * load, 1)
            values[f"{res} risk %"] = round(
                100 * compute_risk(rl, self.args.weight(res), w, used if f.fresh else None,
                                   std), 1)
        if not any(pr.requests) and not any(pr.limits):
            values["best-effort pod"] = "scored 0 everywhere"
        return score_detail(f, pr.view, node_info.name, self.monitor.spec.stale_after, values)

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """(1 - the larger of the cpu and memory risks) * 100."""
        pr = self._pod_resources(state, pod)
        if not any(pr.requests) and not any(pr.limits):
            return 0  # upstream: best-effort pods are not this plugin's concern
        f = self.estimator.node(node_info, pr.view)
        cpu_rl, mem_rl = self.requests_and_limits(node_info, pr)
        w = self.args.smoothing_window_size
        risk_cpu = compute_risk(cpu_rl, self.args.weight(CPU), w,
                                f.cpu_used if f.fresh else None, f.cpu_std)
        risk_mem = compute_risk(mem_rl, self.args.weight(MEMORY), w,
                                f.mem_used if f.fresh else None, f.mem_std)
        return go_round((1 - max(risk_cpu, risk_mem)) * float(MAX_NODE_SCORE))


def new(args: LowRiskOverCommitmentArgs | None, handle: Handle) -> LowRiskOverCommitment:
    """Upstream New."""
    return LowRiskOverCommitment(args if args is not None else LowRiskOverCommitmentArgs(),
                                 handle)


SPEC = PluginSpec(NAME, new, LowRiskOverCommitmentArgs)


def _check(p: LowRiskOverCommitment) -> tuple[PreScorePlugin, ScorePlugin, ScoreExplainer]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p
