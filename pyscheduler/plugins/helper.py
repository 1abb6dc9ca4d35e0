"""Score helpers shared by plugins (upstream plugins/helper: normalize_score.go, shape_score.go).

Contract:
* ``default_normalize_score(scores, reverse)`` rescales raw scores in place from
  ``[0, max(scores)]`` to ``[0, 100]`` with upstream's integer math
  (``100 * s // max``), then ``100 - s`` when ``reverse``. When every score is 0 the scores stay 0,
  or all become 100 with ``reverse``. Raw scores are assumed non-negative, as upstream does.
* ``go_div``/``go_div_array`` are Go's integer division (truncation toward zero), which differs
  from Python's floor division for negative operands; upstream's score math relies on it.
* ``BrokenLinear`` is upstream's BuildBrokenLinearFunction over (utilization, score) points,
  usable on one integer or on an int64 array (same results).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pyscheduler.framework.interfaces import I64, MAX_NODE_SCORE


def default_normalize_score(scores: I64, reverse: bool, max_priority: int = MAX_NODE_SCORE) -> None:
    """Upstream helper.DefaultNormalizeScore, in place on an int64 array."""
    if len(scores) == 0:
        return
    max_count = max(int(scores.max()), 0)
    if max_count == 0:
        if reverse:
            scores[:] = max_priority
        return
    # Non-negative operands: floor division equals Go's truncation here.
    np.floor_divide(scores * max_priority, max_count, out=scores)
    if reverse:
        np.subtract(max_priority, scores, out=scores)


def go_div(a: int, b: int) -> int:
    """Go's a / b on integers: the quotient truncated toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def go_div_array(a: I64, b: I64 | int) -> I64:
    """Element-wise Go integer division (truncation toward zero)."""
    q: I64 = np.abs(a) // np.abs(b)
    return np.where((a >= 0) == (np.asarray(b) > 0), q, -q)


@dataclass(frozen=True, slots=True)
class ShapePoint:
    utilization: int
    score: int


class BrokenLinear:
    """f(p): shape[0].score below the first point, shape[-1].score above the last, linear
    (with Go integer division) between points."""

    __slots__ = ("points",)

    def __init__(self, points: Sequence[ShapePoint]) -> None:
        if not points:
            raise ValueError("a broken linear function needs at least one point")
        self.points = tuple(points)

    def __call__(self, p: int) -> int:
        pts = self.points
        for i, pt in enumerate(pts):
            if p <= pt.utilization:
                if i == 0:
                    return pts[0].score
                prev = pts[i - 1]
                return prev.score + go_div(
                    (pt.score - prev.score) * (p - prev.utilization),
                    pt.utilization - prev.utilization,
                )
        return pts[-1].score

    def apply(self, p: I64) -> I64:
        """The same function over an array; evaluated segment by segment, last match wins
        in reverse so each element takes the first segment whose end is >= p."""
        pts = self.points
        out: I64 = np.full(p.shape, pts[-1].score, dtype=np.int64)
        # Walk segments from the last to the first so earlier segments overwrite: the scalar
        # form returns at the *first* point with p <= utilization.
        for i in range(len(pts) - 1, -1, -1):
            pt = pts[i]
            hit = p <= pt.utilization
            if i == 0:
                out = np.where(hit, pt.score, out)
            else:
                prev = pts[i - 1]
                val = prev.score + go_div_array(
                    (pt.score - prev.score) * (p - prev.utilization),
                    pt.utilization - prev.utilization,
                )
                out = np.where(hit, val, out)
        return out
