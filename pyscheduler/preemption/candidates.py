"""Preemption candidates and how one is chosen (upstream pickOneNodeForPreemption and helpers).

Contract:
* A ``Candidate`` is a node plus the victims that must go for the preemptor to fit there,
  ordered most important first, and how many of them violate a PodDisruptionBudget.
* ``more_important`` is upstream's MoreImportantPod: higher priority first, then the pod that
  started earlier (a pod without ``status.startTime`` counts as starting now).
* ``pick_one_node_for_preemption`` applies, in order, until a single node is left: fewest PDB
  violations, lowest highest-victim priority, smallest sum of victim priorities (each shifted by
  2^31 so negative priorities cannot make more victims look cheaper), fewest victims, latest
  start time among the highest-priority victims. A remaining tie goes to the first candidate
  in the given order. Every candidate has at least one victim (the dry run guarantees it).
* ``num_candidates`` is upstream's calculateNumCandidates: ``max(n * pct // 100, absolute)``
  capped at ``n``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyscheduler.framework.types import PodInfo
from pyscheduler.model.meta import rfc3339_seconds
from pyscheduler.model.pod import Pod

_PRIORITY_SHIFT = 2**31  # math.MaxInt32 + 1


@dataclass(slots=True)
class Candidate:
    node_name: str
    # Most important first (upstream keeps victims sorted by MoreImportantPod).
    victims: list[PodInfo] = field(default_factory=list)
    num_pdb_violations: int = 0

    @property
    def victim_pods(self) -> list[Pod]:
        """The victims' Pod objects, in victim order."""
        return [v.pod for v in self.victims]


@functools.lru_cache(maxsize=4096)
def _parse_time(ts: str) -> float:
    try:
        return rfc3339_seconds(ts)
    except ValueError:
        return time.time()


def start_time(pod: Pod, now: float | None = None) -> float:
    """status.startTime as seconds since the epoch; pods not started yet count as "now"."""
    ts = pod.status.start_time
    if ts is None:
        return time.time() if now is None else now
    return _parse_time(ts)


def importance_key(pi: PodInfo, now: float) -> tuple[int, float]:
    """Sort key putting the most important pod first (ascending sort)."""
    return (-pi.priority, start_time(pi.pod, now))


def more_important(a: PodInfo, b: PodInfo, now: float | None = None) -> bool:
    """Upstream MoreImportantPod: higher priority, then earlier start (unstarted: now)."""
    if a.priority != b.priority:
        return a.priority > b.priority
    t = time.time() if now is None else now
    return start_time(a.pod, t) < start_time(b.pod, t)


def sort_by_importance(pods: list[PodInfo], now: float | None = None) -> None:
    """In place, most important first; stable for equal keys."""
    t = time.time() if now is None else now
    pods.sort(key=lambda pi: importance_key(pi, t))


def earliest_start_of_highest(victims: Sequence[PodInfo], now: float) -> float:
    """Upstream GetEarliestPodStartTime: earliest start among the highest-priority victims."""
    top = max(v.priority for v in victims)
    return min(start_time(v.pod, now) for v in victims if v.priority == top)


ScoreFunc = Callable[[Candidate], float]


def default_score_funcs(now: float) -> list[ScoreFunc]:
    """Upstream's ordered criteria, each as "higher is better"."""
    return [
        lambda c: -c.num_pdb_violations,
        lambda c: -c.victims[0].priority,
        lambda c: -sum(v.priority + _PRIORITY_SHIFT for v in c.victims),
        lambda c: -len(c.victims),
        lambda c: earliest_start_of_highest(c.victims, now),
    ]


def pick_one_node_for_preemption(candidates: Sequence[Candidate],
                                 score_funcs: Sequence[ScoreFunc] | None = None,
                                 now: float | None = None) -> Candidate | None:
    """Upstream pickOneNodeForPreemption: keep the best per criterion in turn; None if empty."""
    if not candidates:
        return None
    funcs = score_funcs or default_score_funcs(time.time() if now is None else now)
    remaining = list(candidates)
    for f in funcs:
        scores = [f(c) for c in remaining]
        best = max(scores)
        remaining = [c for c, s in zip(remaining, scores, strict=True) if s == best]
        if len(remaining) == 1:
            return remaining[0]
    return remaining[0]


def num_candidates(num_nodes: int, percentage: int, absolute: int) -> int:
    """Upstream calculateNumCandidates: percentage, at least ``absolute``, at most all."""
    n = num_nodes * percentage // 100
    if n < absolute:
        n = absolute
    return min(n, num_nodes)
