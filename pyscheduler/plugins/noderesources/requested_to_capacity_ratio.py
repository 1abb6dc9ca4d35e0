"""RequestedToCapacityRatio: score by a broken linear function of utilization (upstream
requested_to_capacity_ratio.go).

Contract: per resource with allocatable > 0, utilization ``req * 100 // alloc`` (100 when the
request exceeds the allocatable) goes through the shape (whose scores the plugin has already
scaled x10 to 0..100); resources scoring 0 are left out of both the weighted sum and the weight
sum, and the result is rounded half up (Go's math.Round on non-negative values).
"""

from __future__ import annotations

import numpy as np

from pyscheduler.framework.interfaces import I64, BoolArr
from pyscheduler.plugins.helper import BrokenLinear

MAX_UTILIZATION = 100


def round_half_up_div(a: int, b: int) -> int:
    """math.Round(float64(a) / float64(b)) for non-negative a and positive b."""
    return (2 * a + b) // (2 * b)


def requested_to_capacity_ratio_score(shape: BrokenLinear, requested: list[int],
                                      alloc: list[int], weights: list[int]) -> int:
    """One node's score from per-resource requested/allocatable/weights."""
    node_score = weight_sum = 0
    for r, a, w in zip(requested, alloc, weights, strict=True):
        if a == 0:
            continue
        util = MAX_UTILIZATION if r > a else r * MAX_UTILIZATION // a
        rs = shape(util)
        if rs > 0:
            node_score += rs * w
            weight_sum += w
    return round_half_up_div(node_score, weight_sum) if weight_sum else 0


def requested_to_capacity_ratio_scores(shape: BrokenLinear, alloc: I64, req: I64,
                                       safe: I64) -> tuple[I64, BoolArr]:
    """One resource's unweighted score per row and the rows that count it (score > 0)."""
    # req > alloc gives 100 here too (maxUtilization), as upstream.
    util = np.minimum(req, alloc) * MAX_UTILIZATION // safe
    rs = shape.apply(util)
    return rs, rs > 0
