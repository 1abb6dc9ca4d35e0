"""TargetLoadPacking: pack nodes up to a target CPU utilization (scheduler-plugins
pkg/trimaran/targetloadpacking).

Contract (formula in docs/LOAD_AWARE.md):
* The pod's CPU prediction is, per container, its cpu limit if set, else round(request x
  defaultRequestsMultiplier), else defaultRequests' cpu; plus the pod's cpu overhead.
* A node's predicted utilization ``U = 100 * (used + pod) / capacity`` (status.capacity cpu;
  U = 0 when the capacity is 0), where ``used`` is the measured usage plus the predictions of
  pods the sample cannot contain yet (plugins/trimaran/load.py), or the node's requested cpu
  when its data is stale or missing (the request-based fallback; upstream scores such a node 0).
* Score, with target T: ``round((100 - T) * U / T + T)`` for U <= T (T at an idle node, 100 at
  the target); ``round(T * (100 - U) / (100 - T))`` for T < U <= 100; 0 above 100.
* Batch and per-node forms compute the same float64 operations.
"""

from __future__ import annotations

import numpy as np

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    BatchScorePlugin,
    Handle,
    ScoreDetail,
    ScoreExplainer,
)
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.pod import Container, Pod
from pyscheduler.model.quantity import CPU, to_int
from pyscheduler.plugins.trimaran.args import TargetLoadPackingArgs
from pyscheduler.plugins.trimaran.load import (
    F64,
    CycleLoad,
    LoadEstimator,
    NodeFigures,
    capacity_cpu,
    cycle_load,
    percent,
    score_detail,
)
from pyscheduler.plugins.trimaran.rounding import go_round, go_round_array

NAME = "TargetLoadPacking"
STATE_KEY = "Score" + NAME


def tlp_score(used: float, pod_cpu: float, capacity: float, target: int) -> int:
    """Upstream Score's curve for one node (millicores in, 0..100 out)."""
    predicted = 0.0
    if capacity != 0:
        predicted = 100 * (used + pod_cpu) / capacity
    if predicted > target:
        if predicted > 100:
            return 0
        return go_round(target * (100 - predicted) / (100 - target))
    return go_round((100 - target) * predicted / target + target)


def tlp_scores(used: F64, pod_cpu: float, capacity: F64, target: int) -> I64:
    """``tlp_score`` over arrays."""
    with np.errstate(divide="ignore", invalid="ignore"):
        predicted = np.where(capacity != 0, 100 * (used + pod_cpu) / capacity, 0.0)
        above = go_round_array(np.where(predicted > target,
                                        target * (100 - predicted) / max(100 - target, 1), 0.0))
        below = go_round_array((100 - target) * predicted / target + target)
    out: I64 = np.where(predicted > 100, 0, np.where(predicted > target, above, below))
    return out


class TargetLoadPacking:
    """Score (batch)."""

    def __init__(self, args: TargetLoadPackingArgs, handle: Handle) -> None:
        """Validate ``args`` and ask the Handle for their load source."""
        args.validate()
        self.name = NAME
        self.args = args
        self.target = args.target_utilization
        self._default_milli = args.requests_milli_cores()
        self._multiplier = args.multiplier()
        self.monitor = handle.load_metrics(args.source_spec())
        self.estimator = LoadEstimator(lambda pod: (float(self.predict_pod(pod)), 0.0))

    def predict_container(self, c: Container) -> int:
        """Upstream PredictUtilisation: limit, else request x multiplier, else the default."""
        res = c.resources
        if res is not None and CPU in res.limits:
            return _milli(res.limits[CPU])
        if res is not None and CPU in res.requests:
            return go_round(_milli(res.requests[CPU]) * self._multiplier)
        return self._default_milli

    def predict_pod(self, pod: Pod) -> int:
        """The pod's predicted CPU: its containers' predictions plus its cpu overhead."""
        total = sum(self.predict_container(c) for c in pod.spec.containers)
        overhead = pod.spec.overhead.get(CPU)
        return total + (_milli(overhead) if overhead is not None else 0)

    def _cycle(self, state: CycleState, pod: PodInfo) -> CycleLoad:
        return cycle_load(state, STATE_KEY, self.monitor,
                          lambda: (float(self.predict_pod(pod.pod)),))

    def figures(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> NodeFigures:
        """The load figures ``score`` uses for this node (the dry run's explanation)."""
        return self.estimator.node(node_info, self._cycle(state, pod).view)

    def explain_score(self, state: CycleState, pod: PodInfo,
                      node_info: NodeInfo) -> ScoreDetail:
        """The cpu figures ``score`` used for this node, as % of its cpu capacity."""
        cl = self._cycle(state, pod)
        f = self.estimator.node(node_info, cl.view)
        cap = float(capacity_cpu(node_info.node))
        values: dict[str, float | int | str] = {}
        if f.fresh:
            values["measured cpu %"] = percent(f.cpu_used - f.cpu_extra, cap)
            values["unsampled pods cpu %"] = percent(f.cpu_extra, cap)
        else:
            values["requested cpu %"] = percent(f.cpu_used, cap)
        values["pod predicted cpu %"] = percent(cl.pod[0], cap)
        values["predicted %"] = percent(f.cpu_used + cl.pod[0], cap)
        values["target %"] = self.target
        return score_detail(f, cl.view, node_info.name, self.monitor.spec.stale_after, values)

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """The target-packing score of one node."""
        cl = self._cycle(state, pod)
        f = self.estimator.node(node_info, cl.view)
        return tlp_score(f.cpu_used, cl.pod[0], float(capacity_cpu(node_info.node)),
                         self.target)

    def score_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                    rows: I64) -> I64:
        """The same scores for many rows."""
        cl = self._cycle(state, pod)
        f = self.estimator.rows(snapshot, rows, cl.view)
        return tlp_scores(f.cpu_used, cl.pod[0], f.cap_cpu.astype(np.float64), self.target)


def _milli(text: str) -> int:
    try:
        return to_int(CPU, text)
    except ValueError:
        return 0


def new(args: TargetLoadPackingArgs | None, handle: Handle) -> TargetLoadPacking:
    """Upstream New."""
    return TargetLoadPacking(args if args is not None else TargetLoadPackingArgs(), handle)


SPEC = PluginSpec(NAME, new, TargetLoadPackingArgs)


def _check(p: TargetLoadPacking) -> tuple[BatchScorePlugin, ScoreExplainer]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p
