"""LeastAllocated: favor nodes with fewer requested resources (upstream least_allocated.go).

Contract: per resource with allocatable > 0, ``(alloc - req) * 100 // alloc`` (0 when the
request exceeds the allocatable), weighted and integer-divided by the sum of the weights; a node
where no resource counts scores 0. ``least_allocated_score`` takes one node's lists,
``least_allocated_scores`` one resource's columns over many rows (the same integer math).
"""

from __future__ import annotations

import numpy as np

from pyscheduler.framework.interfaces import I64, MAX_NODE_SCORE


def least_allocated_score(requested: list[int], alloc: list[int], weights: list[int]) -> int:
    """One node's LeastAllocated score from per-resource requested/allocatable/weights."""
    node_score = weight_sum = 0
    for r, a, w in zip(requested, alloc, weights, strict=True):
        if a == 0:
            continue
        node_score += (0 if r > a else (a - r) * MAX_NODE_SCORE // a) * w
        weight_sum += w
    return node_score // weight_sum if weight_sum else 0


def least_allocated_scores(alloc: I64, req: I64, safe: I64) -> I64:
    """One resource's unweighted score per row; ``safe`` is ``alloc`` without zeros."""
    # (alloc - req) * 100 // alloc is negative exactly when req > alloc: upstream's 0.
    out: I64 = np.maximum((alloc - req) * MAX_NODE_SCORE // safe, 0)
    return out
