"""PodTopologySpread's hard constraints: PreFilter state, AddPod/RemovePod and Filter
(upstream podtopologyspread/filtering.go).

Contract:
* PreFilter counts, per DoNotSchedule constraint, the matching pods of every *eligible* topology
  domain: a node is eligible when it has every constraint's topology key and passes the
  constraint's node inclusion policies. The state keeps, per constraint, the count and
  presence of each domain (indexed by the label codes of the constraint's key), the number of
  eligible domains and the global minimum (MaxInt32 when there is none).
* Filter rejects a node without a constraint's topology key as UnschedulableAndUnresolvable
  (``ERR_REASON_NODE_LABEL_NOT_MATCH``) and a node where ``domain count + (1 if the pod
  matches its own selector) - minimum > maxSkew`` as Unschedulable
  (``ERR_REASON_CONSTRAINTS_NOT_MATCH``); constraints are checked in order and the first
  failure decides. The minimum is 0 while fewer domains than ``minDomains`` are eligible.
* AddPod/RemovePod move one pod in or out of the counts, on a node that has every topology
  key and passes the constraint's policies, for the constraints whose selector matches it
  (upstream checks namespace but not deletionTimestamp here, and neither do we).
* The counts are built from ``PodCounts`` (per-row counts kept across cycles) with one
  ``bincount`` per constraint; the batch Filter is a handful of numpy gathers per constraint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pyscheduler.framework.interfaces import I64, BoolArr, Failure, FilterVerdict
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.snapshot import LabelCodes, Snapshot
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import PodInfo
from pyscheduler.plugins.pod_topology_spread.common import (
    ERR_REASON_CONSTRAINTS_NOT_MATCH,
    ERR_REASON_NODE_LABEL_NOT_MATCH,
    MAX_INT32,
    NAME,
    Constraint,
    PodCounts,
    all_keys_mask,
    inclusion_masks,
    matches_inclusion_policies,
    node_labels_match,
)

PRE_FILTER_STATE_KEY = "PreFilter" + NAME


@dataclass(slots=True)
class DomainCounts:
    """One constraint's eligible domains: counts and presence by label code."""

    constraint: Constraint
    codes: LabelCodes
    counts: I64
    present: BoolArr
    self_match: int  # 1 when the incoming pod matches the constraint's own selector
    domains: int = 0
    min_match: int = MAX_INT32

    def refresh(self) -> None:
        self.domains = int(self.present.sum())
        self.min_match = int(self.counts[self.present].min()) if self.domains else MAX_INT32

    def global_min(self) -> int:
        """minMatchNum: 0 while fewer than minDomains domains are eligible."""
        if self.domains < self.constraint.min_domains:
            return 0
        return self.min_match

    def count_of(self, value: str) -> int:
        code = self.codes.index.get(value)
        return int(self.counts[code]) if code is not None and code < len(self.counts) else 0

    def update(self, value: str, delta: int) -> None:
        code = self.codes.index.get(value)
        if code is None or code >= len(self.counts):
            # A value no snapshot row has (cannot come from a snapshot node): give it a slot.
            code = len(self.counts)
            self.codes = dataclasses.replace(self.codes, values=[*self.codes.values, value],
                                             index={**self.codes.index, value: code})
            self.counts = np.append(self.counts, 0)
            self.present = np.append(self.present, False)
        self.counts[code] += delta
        self.present[code] = True
        self.refresh()

    def clone(self) -> DomainCounts:
        return DomainCounts(self.constraint, self.codes, self.counts.copy(), self.present.copy(),
                            self.self_match, self.domains, self.min_match)


@dataclass(slots=True)
class PreFilterState:
    """What Filter reads (upstream preFilterState); cloned for nominated pods/preemption."""

    namespace: str
    domains: list[DomainCounts]

    @property
    def constraints(self) -> list[Constraint]:
        return [d.constraint for d in self.domains]

    def clone(self) -> PreFilterState:
        return PreFilterState(self.namespace, [d.clone() for d in self.domains])

    # ---- per node ---------------------------------------------------------------------------
    def filter_labels(self, labels: Mapping[str, str]) -> Status | None:
        """Filter against one node's labels."""
        for d in self.domains:
            value = labels.get(d.constraint.topology_key)
            if value is None:
                return Status.unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH, plugin=NAME)
            skew = d.count_of(value) + d.self_match - d.global_min()
            if skew > d.constraint.max_skew:
                return Status.unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH, plugin=NAME)
        return None

    # ---- batch ------------------------------------------------------------------------------
    def filter_rows(self, rows: I64) -> FilterVerdict | None:
        """The same verdicts for many rows: each constraint decides the rows still open."""
        n = len(rows)
        open_ = np.ones(n, dtype=np.bool_)
        missing = np.zeros(n, dtype=np.bool_)
        skewed = np.zeros(n, dtype=np.bool_)
        for d in self.domains:
            codes = d.codes.codes[rows]
            if d.codes.absent >= 0:
                lacks = open_ & (codes == d.codes.absent)
                if lacks.any():
                    missing |= lacks
                    open_ &= ~lacks
            limit = d.constraint.max_skew + d.global_min() - d.self_match
            # Rows lacking the key were closed above; their (absent) code reads count 0 here.
            over = open_ & (d.counts[codes] > limit)
            if over.any():
                skewed |= over
                open_ &= ~over
        if open_.all():
            return None
        failures = []
        if missing.any():
            failures.append(Failure(ERR_REASON_NODE_LABEL_NOT_MATCH, missing,
                                    Code.UNSCHEDULABLE_AND_UNRESOLVABLE))
        if skewed.any():
            failures.append(Failure(ERR_REASON_CONSTRAINTS_NOT_MATCH, skewed,
                                    Code.UNSCHEDULABLE))
        return FilterVerdict(open_, failures)

    # ---- AddPod / RemovePod -----------------------------------------------------------------
    def update_with_pod(self, pod: PodInfo, other: PodInfo, node_info: NodeInfo,
                        delta: int) -> None:
        """updateWithPod: count ``other`` in (+1) or out (-1) on node_info's domains."""
        node = node_info.node
        if node is None or other.pod.metadata.namespace != self.namespace:
            return
        labels = node.metadata.labels
        constraints = self.constraints
        if not node_labels_match(labels, constraints):
            return
        other_labels = other.pod.metadata.labels
        for d in self.domains:
            c = d.constraint
            if not c.selector.matches(other_labels):
                continue
            if not matches_inclusion_policies(c, pod, node):
                continue
            d.update(labels[c.topology_key], delta)


def compute_pre_filter_state(constraints: list[Constraint], pod: PodInfo, snapshot: Snapshot,
                             counter: PodCounts) -> PreFilterState:
    """calPreFilterState over every snapshot row."""
    ns = pod.pod.metadata.namespace
    eligible_base = all_keys_mask(constraints, snapshot)
    masks = inclusion_masks(constraints, pod, snapshot)
    pod_labels = pod.pod.metadata.labels
    out: list[DomainCounts] = []
    for c in constraints:
        kc = snapshot.label_codes(c.topology_key)
        eligible = eligible_base
        policy = masks.for_constraint(c)
        if policy is not None:
            eligible = eligible & policy
        k = len(kc.values)
        idx = kc.codes[eligible]
        present = np.bincount(idx, minlength=k) > 0
        per_row = counter.counts(snapshot, ns, c.selector)
        counts = np.bincount(idx, weights=per_row[eligible], minlength=k).astype(np.int64)
        d = DomainCounts(c, kc, counts, present, 1 if c.selector.matches(pod_labels) else 0)
        d.refresh()
        out.append(d)
    return PreFilterState(ns, out)
