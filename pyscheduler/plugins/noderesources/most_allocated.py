"""MostAllocated: favor nodes with more requested resources (upstream most_allocated.go).

Contract: per resource with allocatable > 0, ``min(req, alloc) * 100 // alloc`` (the request
may exceed the allocatable because empty-request pods count default requests), weighted and
integer-divided by the sum of the weights; a node where no resource counts scores 0.
"""

from __future__ import annotations

import numpy as np

from pyscheduler.framework.interfaces import I64, MAX_NODE_SCORE


def most_allocated_score(requested: list[int], alloc: list[int], weights: list[int]) -> int:
    """One node's MostAllocated score from per-resource requested/allocatable/weights."""
    node_score = weight_sum = 0
    for r, a, w in zip(requested, alloc, weights, strict=True):
        if a == 0:
            continue
        # requested may exceed capacity because empty-request pods count default requests
        node_score += min(r, a) * MAX_NODE_SCORE // a * w
        weight_sum += w
    return node_score // weight_sum if weight_sum else 0


def most_allocated_scores(alloc: I64, req: I64, safe: I64) -> I64:
    """One resource's unweighted score per row; ``safe`` is ``alloc`` without zeros."""
    out: I64 = np.minimum(req, alloc) * MAX_NODE_SCORE // safe
    return out
