"""PodTopologySpread's soft constraints: PreScore state, Score and NormalizeScore
(upstream podtopologyspread/scoring.go).

Contract:
* PreScore ignores the feasible nodes that lack one of the constraints' topology keys, unless
  the constraints are the *system* defaults (so nodes without a zone label still get hostname
  spreading). For each ScheduleAnyway constraint on a key other than ``kubernetes.io/hostname``
  it seeds the domains of the non-ignored feasible nodes and counts, over *all* nodes that have
  every key (when required) and pass the constraint's inclusion policies, the matching pods of
  the seeded domains. A missing label reads as the value "" when counting, as upstream's map
  lookup does. Each constraint gets the weight ``log(size + 2)`` where size is the number of
  seeded domains, or for the hostname key the number of non-ignored feasible nodes.
* Score of a node: ``round(sum(count * weight + (maxSkew - 1)))`` over the constraints whose
  key the node has, where count is the domain's count, or for the hostname key the node's own
  matching pods (counted without inclusion policies, as upstream). Ignored nodes get the raw
  score -1 (upstream's ``invalidScore``, which it assigns in NormalizeScore from the ignored
  set; encoding it in the raw score lets NormalizeScore work on the score array alone).
* NormalizeScore: ignored nodes 0; if the highest raw score is 0 every other node gets 100,
  else ``100 * (max + min - s) // max`` with min and max over the non-ignored nodes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pyscheduler.framework.interfaces import I64, MAX_NODE_SCORE, BoolArr
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.snapshot import LabelCodes, Snapshot
from pyscheduler.framework.types import PodInfo
from pyscheduler.plugins.pod_topology_spread.common import (
    LABEL_HOSTNAME,
    NAME,
    Constraint,
    PodCounts,
    all_keys_mask,
    count_matching,
    inclusion_masks,
    node_labels_match,
)

PRE_SCORE_STATE_KEY = "PreScore" + NAME
INVALID_SCORE = -1

F64 = npt.NDArray[np.float64]


def topology_normalizing_weight(size: int) -> float:
    """log(size + 2): smaller topologies are not watered down by bigger ones."""
    return math.log(size + 2)


def go_round(x: float) -> int:
    """Go's math.Round (half away from zero) for the non-negative scores here."""
    whole = math.trunc(x)
    return int(whole + (1 if x - whole >= 0.5 else 0))


def go_round_array(x: F64) -> I64:
    whole = np.trunc(x)
    out: I64 = (whole + (x - whole >= 0.5)).astype(np.int64)
    return out


@dataclass(slots=True)
class ScoredConstraint:
    constraint: Constraint
    codes: LabelCodes
    weight: float
    hostname: bool
    # Non-hostname keys: matching pods per domain, indexed by ``codes.go_codes`` values, and
    # which domains the feasible nodes seeded (only those are counted).
    domain_counts: I64 | None
    seeded: BoolArr | None
    # Hostname key: matching pods per snapshot row (the node's own).
    row_counts: I64 | None


@dataclass(slots=True)
class PreScoreState:
    """What Score reads (upstream preScoreState)."""

    namespace: str
    scored: list[ScoredConstraint]
    require_all: bool
    # Rows of the snapshot PreScore saw as ignored (missing a required topology key).
    ignored_rows: BoolArr

    def clone(self) -> PreScoreState:
        return self  # read-only after PreScore, as upstream's

    @property
    def constraints(self) -> list[Constraint]:
        return [s.constraint for s in self.scored]

    # ---- per node ---------------------------------------------------------------------------
    def score_node(self, node_info: NodeInfo) -> int:
        labels: Mapping[str, str] = node_info.labels
        if self.require_all and not node_labels_match(labels, self.constraints):
            return INVALID_SCORE
        total = 0.0
        for s in self.scored:
            value = labels.get(s.constraint.topology_key)
            if value is None:
                continue
            if s.hostname:
                cnt = count_matching(node_info.pods.values(), s.constraint.selector,
                                     self.namespace)
            else:
                assert s.domain_counts is not None
                code = s.codes.go_code(value)
                cnt = int(s.domain_counts[code]) if code is not None else 0
            total += cnt * s.weight + float(s.constraint.max_skew - 1)
        return go_round(total)

    # ---- batch ------------------------------------------------------------------------------
    def score_rows(self, rows: I64) -> I64:
        total = np.zeros(len(rows), dtype=np.float64)
        for s in self.scored:
            codes = s.codes.codes[rows]
            if s.hostname:
                assert s.row_counts is not None
                cnt = s.row_counts[rows]
            else:
                assert s.domain_counts is not None
                cnt = s.domain_counts[s.codes.go_codes[rows]]
            part = cnt * s.weight + float(s.constraint.max_skew - 1)
            if s.codes.absent >= 0:
                part = np.where(codes == s.codes.absent, 0.0, part)
            total = total + part
        out = go_round_array(total)
        if self.require_all:
            out[self.ignored_rows[rows]] = INVALID_SCORE
        return out


def compute_pre_score_state(constraints: list[Constraint], require_all: bool, pod: PodInfo,
                            snapshot: Snapshot, rows: I64,
                            counter: PodCounts) -> PreScoreState:
    """initPreScoreState + PreScore's counting over every snapshot row."""
    ns = pod.pod.metadata.namespace
    n = snapshot.table.n
    has_keys = all_keys_mask(constraints, snapshot)
    ignored = ~has_keys if require_all else np.zeros(n, dtype=np.bool_)
    scored_rows = rows[~ignored[rows]]
    eligible_base = has_keys if require_all else np.ones(n, dtype=np.bool_)
    masks = inclusion_masks(constraints, pod, snapshot)
    out: list[ScoredConstraint] = []
    for c in constraints:
        kc = snapshot.label_codes(c.topology_key)
        per_row = counter.counts(snapshot, ns, c.selector)
        if c.topology_key == LABEL_HOSTNAME:
            weight = topology_normalizing_weight(len(scored_rows))
            out.append(ScoredConstraint(c, kc, weight, True, None, None, per_row))
            continue
        k = len(kc.values)
        seeded = np.zeros(k, dtype=np.bool_)
        seeded[kc.go_codes[scored_rows]] = True
        eligible = eligible_base
        policy = masks.for_constraint(c)
        if policy is not None:
            eligible = eligible & policy
        eligible = eligible & seeded[kc.go_codes]
        counts = np.bincount(kc.go_codes[eligible], weights=per_row[eligible],
                             minlength=k).astype(np.int64)
        weight = topology_normalizing_weight(int(seeded.sum()))
        out.append(ScoredConstraint(c, kc, weight, False, counts, seeded, None))
    return PreScoreState(ns, out, require_all, ignored)


def normalize(scores: I64) -> None:
    """NormalizeScore in place (see contract)."""
    if len(scores) == 0:
        return
    valid = scores != INVALID_SCORE
    if not valid.any():
        scores[:] = 0
        return
    vals = scores[valid]
    max_score = max(int(vals.max()), 0)
    min_score = int(vals.min())
    if max_score == 0:
        scores[valid] = MAX_NODE_SCORE
    else:
        # Operands are non-negative, so floor division is Go's truncation here.
        scores[valid] = MAX_NODE_SCORE * (max_score + min_score - vals) // max_score
    scores[~valid] = 0
