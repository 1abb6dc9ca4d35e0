"""The load figures Trimaran plugins score with: measured usage plus what was bound since the
sample, or, for nodes without fresh data, the node's requests.

Contract:
* ``LoadEstimator.node(info, view)`` (one NodeInfo) and ``LoadEstimator.rows(snapshot, rows,
  view)`` (snapshot rows, as arrays) give the same figures for the same node.
* A node in ``view.fresh``: ``used`` = its measured usage plus ``extra``, the estimate of the
  pods on it that the sample cannot contain yet: pods without ``status.startTime`` (assumed,
  just bound, not started) or started after the sample's window began. Each counts
  ``extra_of(pod)`` (a plugin's prediction: the limit where set, else the request).
  ``std`` = the std of its recent samples.
* Any other node (stale, missing, added since the last poll) falls back: ``used`` = the sum of
  the requests of its pods (bound and assumed), ``std`` = 0, ``fresh`` False. It is never
  scored as if it were idle or as if it were full.
* ``cycle_load(state, key, monitor, pod_figures)`` reads the monitor's view once per cycle
  (kept in the CycleState under ``key`` with the pod's own figures), so every node of one pod
  is scored against the same poll.
* ``rows`` is incremental: per-node sample figures are rebuilt when the view or the node set
  changes, the ``extra`` of a row only when its NodeInfo generation moved.
* ``score_detail(figures, view, node, stale_after, values)`` is a plugin's ScoreDetail for
  --explain: the sample's age against the view's check time, or, for a node scored by
  requests, why ("no load sample", "load sample 130s old, over staleAfterSeconds 90", "load
  sample lacks cpu or memory"), ending in ": scored by requests", as ``run`` logs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import I64, BoolArr, LoadMetrics, ScoreDetail
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.loadmetrics.types import LoadView, NodeLoad
from pyscheduler.model.meta import rfc3339_seconds
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.model.quantity import CPU, MEMORY, to_int

F64 = npt.NDArray[np.float64]
ExtraOf = Callable[[Pod], tuple[float, float]]


@lru_cache(maxsize=65536)
def _start_time(text: str) -> float:
    try:
        return rfc3339_seconds(text)
    except ValueError:
        return float("inf")  # unparsable: count the pod (never undercount)


def capacity_cpu(node: Node | None) -> int:
    """status.capacity's cpu in millicores (TargetLoadPacking's denominator); 0 if unset."""
    if node is None:
        return 0
    text = node.status.capacity.get(CPU)
    if text is None:
        return 0
    try:
        return to_int(CPU, text)
    except ValueError:
        return 0


def unsampled_extra(info: NodeInfo, load: NodeLoad, extra_of: ExtraOf) -> tuple[float, float]:
    """(cpu, memory) of the pods on ``info`` that ``load``'s sample cannot contain."""
    since = load.timestamp - load.window
    cpu = mem = 0.0
    for pi in info.pods.values():
        started = pi.pod.status.start_time
        if started is None or _start_time(started) > since:
            c, m = extra_of(pi.pod)
            cpu += c
            mem += m
    return cpu, mem


@dataclass(frozen=True, slots=True)
class CycleLoad:
    """What a Trimaran score reads once per cycle: the view, and the pod's own figures."""

    view: LoadView
    pod: tuple[float, ...]


def cycle_load(state: CycleState, key: str, monitor: LoadMetrics,
               pod_figures: Callable[[], tuple[float, ...]]) -> CycleLoad:
    """This cycle's CycleLoad under ``key``, made (view read, pod figured) on first use."""
    cl = state.get(key)
    if not isinstance(cl, CycleLoad):
        cl = CycleLoad(monitor.view(), pod_figures())
        state.write(key, cl)
    return cl


@dataclass(frozen=True, slots=True)
class NodeFigures:
    """One node's load as a plugin scores it (millicores, bytes)."""

    fresh: bool
    cpu_used: float
    cpu_std: float
    mem_used: float
    mem_std: float
    cpu_extra: float = 0.0
    mem_extra: float = 0.0
    timestamp: float = 0.0

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the sample, None for a node scored by requests."""
        if not self.fresh:
            return None
        return max(0.0, (time.time() if now is None else now) - self.timestamp)


@dataclass(slots=True)
class RowFigures:
    """``NodeFigures`` as arrays aligned with the rows asked for."""

    fresh: BoolArr
    cpu_used: F64
    cpu_std: F64
    mem_used: F64
    mem_std: F64
    cap_cpu: I64  # status.capacity cpu (millicores)


class _Cache:
    __slots__ = (
        "cap_cpu",
        "cpu_avg",
        "cpu_extra",
        "cpu_std",
        "fresh",
        "gens",
        "loads",
        "mem_avg",
        "mem_extra",
        "mem_std",
        "n",
        "node_gen",
        "view_gen",
    )

    def __init__(self, snapshot: Snapshot, view: LoadView) -> None:
        t = snapshot.table
        n = t.n
        self.view_gen = view.generation
        self.node_gen = t.node_generation
        self.n = n
        self.loads: list[NodeLoad | None] = [view.fresh.get(info.name) for info in t.infos]
        self.fresh = np.fromiter((x is not None for x in self.loads), dtype=np.bool_, count=n)

        def col(pick: Callable[[NodeLoad], float]) -> F64:
            return np.fromiter((0.0 if x is None else pick(x) for x in self.loads),
                               dtype=np.float64, count=n)

        self.cpu_avg = col(lambda x: x.cpu.avg if x.cpu else 0.0)
        self.cpu_std = col(lambda x: x.cpu.std if x.cpu else 0.0)
        self.mem_avg = col(lambda x: x.memory.avg if x.memory else 0.0)
        self.mem_std = col(lambda x: x.memory.std if x.memory else 0.0)
        self.cap_cpu = np.fromiter((capacity_cpu(info.node) for info in t.infos),
                                   dtype=np.int64, count=n)
        self.gens = np.full(n, -1, dtype=np.int64)
        self.cpu_extra = np.zeros(n, dtype=np.float64)
        self.mem_extra = np.zeros(n, dtype=np.float64)

    def valid(self, snapshot: Snapshot, view: LoadView) -> bool:
        t = snapshot.table
        return (self.view_gen == view.generation and self.node_gen == t.node_generation
                and self.n == t.n)


class LoadEstimator:
    """Per-plugin load figures (see the module contract)."""

    def __init__(self, extra_of: ExtraOf) -> None:
        """An estimator counting each unsampled pod as ``extra_of(pod)``."""
        self._extra_of = extra_of
        self._cache: _Cache | None = None

    def node(self, info: NodeInfo, view: LoadView) -> NodeFigures:
        """The figures of one node."""
        load = view.fresh.get(info.name)
        if load is None or load.cpu is None or load.memory is None:
            return NodeFigures(False, float(info.requested.get(CPU, 0)), 0.0,
                               float(info.requested.get(MEMORY, 0)), 0.0)
        c, m = unsampled_extra(info, load, self._extra_of)
        return NodeFigures(True, load.cpu.avg + c, load.cpu.std, load.memory.avg + m,
                           load.memory.std, c, m, load.timestamp)

    def rows(self, snapshot: Snapshot, rows: I64, view: LoadView) -> RowFigures:
        """The figures of ``rows`` (same values as ``node`` for each)."""
        cache = self._cache
        if cache is None or not cache.valid(snapshot, view):
            cache = self._cache = _Cache(snapshot, view)
        t = snapshot.table
        changed = np.flatnonzero(t.row_generations != cache.gens)
        for r in changed:
            info = t.infos[r]
            load = cache.loads[r]
            if load is not None:
                cache.cpu_extra[r], cache.mem_extra[r] = unsampled_extra(
                    info, load, self._extra_of)
            cache.gens[r] = info.generation
        idx = snapshot.row_index(rows)
        fresh = cache.fresh[idx]
        req_cpu = t.req[idx, t.columns[CPU]].astype(np.float64)
        req_mem = t.req[idx, t.columns[MEMORY]].astype(np.float64)
        return RowFigures(
            fresh=fresh,
            cpu_used=np.where(fresh, cache.cpu_avg[idx] + cache.cpu_extra[idx], req_cpu),
            cpu_std=np.where(fresh, cache.cpu_std[idx], 0.0),
            mem_used=np.where(fresh, cache.mem_avg[idx] + cache.mem_extra[idx], req_mem),
            mem_std=np.where(fresh, cache.mem_std[idx], 0.0),
            cap_cpu=cache.cap_cpu[idx],
        )


FALLBACK = "scored by requests"


def fallback_reason(view: LoadView, node: str, stale_after: float) -> str:
    """Why ``node`` has no fresh load in ``view`` (it is then scored by requests)."""
    ts = view.latest.get(node)
    if ts is None:
        return f"no load sample: {FALLBACK}"
    age = max(0.0, view.checked_at - ts)
    if age > stale_after:
        return (f"load sample {age:.0f}s old, over staleAfterSeconds {stale_after:g}: "
                f"{FALLBACK}")
    return f"load sample lacks cpu or memory: {FALLBACK}"


def score_detail(figures: NodeFigures, view: LoadView, node: str, stale_after: float,
                 values: dict[str, float | int | str]) -> ScoreDetail:
    """The ScoreDetail of one node's load-aware score (module contract)."""
    if figures.fresh:
        return ScoreDetail(values, figures.age(view.checked_at))
    return ScoreDetail(values, None, fallback_reason(view, node, stale_after))


def percent(part: float, whole: float) -> float:
    """100 * part / whole, rounded to 0.1 (0 when whole is 0): for --explain figures."""
    return round(100.0 * part / whole, 1) if whole else 0.0
