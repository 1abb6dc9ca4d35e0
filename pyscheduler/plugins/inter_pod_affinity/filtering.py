"""InterPodAffinity filtering: PreFilter counts, Filter per node and over rows, AddPod/RemovePod.

Contract (upstream interpodaffinity/filtering.go, InterPodAffinityHostnameFastPath off, which is
1.37's default):
* PreFilter computes three ``Counts`` (topology key -> value -> number of matches):
  - ``existing_anti``: for every existing pod with required anti-affinity (only nodes listed in
    ``snapshot.have_pods_with_required_anti_affinity`` are visited), each of its terms that
    selects the incoming pod (namespaceSelector matched against the incoming pod's namespace
    labels) counts once at the (term's topology key, that node's value) pair;
  - ``affinity``: each existing pod that matches *all* of the incoming pod's required affinity
    terms counts once per term at (term key, its node's value);
  - ``anti``: each existing pod counts once per incoming required anti-affinity term it matches.
  A pair is only counted when the node carries the topology key. The incoming pod's terms have
  their namespaceSelector resolved into namespaces first (terms.merge_namespaces).
  PreFilter returns Skip when ``existing_anti`` is empty and the pod has no required terms, and
  UnschedulableAndUnresolvable "parsing pod: ..." when the pod's terms do not parse.
* Filter, first failure wins:
  1. affinity: the node must carry every affinity term's topology key (else fail, even for the
     first pod of a group) and have a positive count for each; if not, it still passes when no
     pod in the cluster matched (``affinity`` is empty) and the pod matches all of its own
     terms (the first pod of a self-affine group) -> UnschedulableAndUnresolvable
     "node(s) didn't match pod affinity rules";
  2. anti: a positive ``anti`` count at any term's (key, node value) -> Unschedulable
     "node(s) didn't match pod anti-affinity rules";
  3. existing: a positive ``existing_anti`` count at any (label, value) of the node ->
     Unschedulable "node(s) didn't satisfy existing pods anti-affinity rules".
  Filter without PreFilter state is an Error, as upstream.
* AddPod/RemovePod (nominated pods, preemption dry runs) update the three counts for one pod on
  one node exactly as the full computation would have counted it. The state is copy-on-write:
  ``clone()`` is O(1) and the first mutation of either copy duplicates the counts (preemption
  clones the state once per candidate node), so no copy ever writes through another.
* The batch form turns each count map into a lookup table over the snapshot's per-key label
  codes and evaluates all rows with numpy gathers; the per-node and batch forms agree row by
  row (tests check).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from pyscheduler.framework.interfaces import I64, BoolArr, Failure, FilterVerdict
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.pod import Pod
from pyscheduler.plugins.inter_pod_affinity.counts import (
    Counts,
    CountsView,
    Entries,
    add_count,
    copy_counts,
    count_of,
)
from pyscheduler.plugins.inter_pod_affinity.terms import AffinityTerm, pod_matches_all, terms_of

NAME = "InterPodAffinity"
PRE_FILTER_STATE_KEY = "PreFilter" + NAME

ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"

Labels = Mapping[str, str]

# names of PreFilterState's count maps (keys of its lookup tables)
EXISTING_ANTI, AFFINITY, ANTI = "existing_anti", "affinity", "anti"


# ---- per-node contributions (the from-scratch path, use_index=False) ---------------------------


def existing_anti_on_node(ni: NodeInfo, pod: Pod, ns_labels: Labels) -> Entries | None:
    """What the node's pods' required anti-affinity terms count against the incoming pod."""
    if ni.pods_with_required_anti_affinity == 0:
        return None
    labels = ni.labels
    out: list[tuple[str, str, int]] = []
    for pi in ni.pods.values():
        for t in terms_of(pi).required_anti:
            if t.matches(pod, ns_labels):
                value = labels.get(t.topology_key)
                if value is not None:
                    out.append((t.topology_key, value, 1))
    return tuple(out) or None


def incoming_on_node(ni: NodeInfo, affinity: tuple[AffinityTerm, ...],
                     anti: tuple[AffinityTerm, ...]) -> tuple[Entries, Entries] | None:
    """What the node's pods count for the incoming pod's (merged) affinity and anti terms."""
    if not ni.pods:
        return None
    labels = ni.labels
    matched_all = 0
    anti_hits = [0] * len(anti)
    for pi in ni.pods.values():
        p = pi.pod
        if affinity and pod_matches_all(affinity, p):
            matched_all += 1
        for j, t in enumerate(anti):
            if t.matches(p, None):
                anti_hits[j] += 1
    aff_out: list[tuple[str, str, int]] = []
    if matched_all:
        for t in affinity:
            value = labels.get(t.topology_key)
            if value is not None:
                aff_out.append((t.topology_key, value, matched_all))
    anti_out: list[tuple[str, str, int]] = []
    for j, t in enumerate(anti):
        if anti_hits[j]:
            value = labels.get(t.topology_key)
            if value is not None:
                anti_out.append((t.topology_key, value, anti_hits[j]))
    if not aff_out and not anti_out:
        return None
    return tuple(aff_out), tuple(anti_out)


# ---- state --------------------------------------------------------------------------------------


@dataclass(slots=True)
class PreFilterState:
    """What PreFilter computed for Filter (upstream preFilterState)."""

    pod: PodInfo
    # the incoming pod's namespace labels (existing pods' namespaceSelectors match them)
    ns_labels: dict[str, str]
    # the incoming pod's required terms, namespaceSelector resolved
    affinity_terms: tuple[AffinityTerm, ...]
    anti_terms: tuple[AffinityTerm, ...]
    # Read-only views until the first AddPod/RemovePod (_own): PreFilter's counts are named
    # lazily (DomainCounts), since the batch filter reads only the lookup tables.
    existing_anti: CountsView
    affinity: CountsView
    anti: CountsView
    # the pod matches all of its own affinity terms (first-pod-of-a-group rule)
    self_match: bool
    # PreFilter's per-domain counts as lookup tables over label codes, for the batch filter:
    # (count map name, topology key) -> counts by code, valid for the label column it was
    # built from (``lut_columns[key]``); dropped on the first AddPod/RemovePod.
    luts: dict[tuple[str, str], I64] = field(default_factory=dict)
    lut_columns: dict[str, object] = field(default_factory=dict)
    # the counts are this state's own copies (else shared with another clone)
    owned: bool = False

    def clone(self) -> PreFilterState:
        """O(1): both copies duplicate the counts before their next mutation."""
        self.owned = False
        return PreFilterState(self.pod, self.ns_labels, self.affinity_terms, self.anti_terms,
                              self.existing_anti, self.affinity, self.anti, self.self_match,
                              self.luts, self.lut_columns)

    def _own(self) -> tuple[Counts, Counts, Counts]:
        if not self.owned:
            self.existing_anti = copy_counts(self.existing_anti)
            self.affinity = copy_counts(self.affinity)
            self.anti = copy_counts(self.anti)
            self.owned = True
        self.luts = {}
        return (cast(Counts, self.existing_anti), cast(Counts, self.affinity),
                cast(Counts, self.anti))

    def update_with_pod(self, other: PodInfo, node_info: NodeInfo, sign: int) -> None:
        """Count (sign=+1) or uncount (-1) one pod on one node (upstream updateWithPod)."""
        existing_anti, affinity, anti = self._own()
        labels = node_info.labels
        me = self.pod.pod
        for t in terms_of(other).required_anti:
            if t.matches(me, self.ns_labels):
                value = labels.get(t.topology_key)
                if value is not None:
                    add_count(existing_anti, t.topology_key, value, sign)
        p = other.pod
        if pod_matches_all(self.affinity_terms, p):
            for t in self.affinity_terms:
                value = labels.get(t.topology_key)
                if value is not None:
                    add_count(affinity, t.topology_key, value, sign)
        for t in self.anti_terms:
            if t.matches(p, None):
                value = labels.get(t.topology_key)
                if value is not None:
                    add_count(anti, t.topology_key, value, sign)


def missing_state() -> Status:
    return Status(Code.ERROR,
                  [f'error reading "{PRE_FILTER_STATE_KEY}" from cycleState: not found'], NAME)


# ---- Filter, one node ---------------------------------------------------------------------------


def _satisfies_affinity(s: PreFilterState, labels: Labels) -> bool:
    terms = s.affinity_terms
    if not terms:
        return True
    pods_exist = True
    for t in terms:
        value = labels.get(t.topology_key)
        if value is None:
            # Every topology label must exist on the node, for the first pod of a group too.
            return False
        if count_of(s.affinity, t.topology_key, value) <= 0:
            pods_exist = False
    if pods_exist:
        return True
    return not s.affinity and s.self_match


def _violates_anti(s: PreFilterState, labels: Labels) -> bool:
    if not s.anti:
        return False
    for t in s.anti_terms:
        value = labels.get(t.topology_key)
        if value is not None and count_of(s.anti, t.topology_key, value) > 0:
            return True
    return False


def _violates_existing(s: PreFilterState, labels: Labels) -> bool:
    for key, values in s.existing_anti.items():
        value = labels.get(key)
        if value is not None and values.get(value, 0) > 0:
            return True
    return False


def filter_node(s: PreFilterState, node_info: NodeInfo) -> Status | None:
    labels = node_info.labels
    if not _satisfies_affinity(s, labels):
        return Status.unresolvable(ERR_REASON_AFFINITY, plugin=NAME)
    if _violates_anti(s, labels):
        return Status.unschedulable(ERR_REASON_ANTI_AFFINITY, plugin=NAME)
    if _violates_existing(s, labels):
        return Status.unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY, plugin=NAME)
    return None


# ---- Filter, many rows --------------------------------------------------------------------------


class _RowCounts:
    """Per-row count lookups for one batch call: one gather per (count map, topology key)."""

    __slots__ = ("_cache", "rows", "snapshot", "state")

    def __init__(self, s: PreFilterState, snapshot: Snapshot, rows: I64) -> None:
        self.state, self.snapshot, self.rows = s, snapshot, rows
        self._cache: dict[tuple[str, str], I64] = {}

    def present(self, key: str) -> BoolArr:
        kc = self.snapshot.label_codes(key)
        absent = kc.index.get(None)
        row_codes = kc.codes[self.rows]
        if absent is None:
            return np.ones(len(self.rows), dtype=np.bool_)
        result: BoolArr = row_codes != absent
        return result

    def counts(self, name: str, key: str) -> I64:
        """Each row's count in count map ``name`` (an attribute of the state) at (key, the
        row's value of key); 0 where the label is absent."""
        cache_key = (name, key)
        got = self._cache.get(cache_key)
        if got is not None:
            return got
        s = self.state
        counts: CountsView = getattr(s, name)
        # A key present has a non-zero count somewhere (Counts and DomainCounts drop empty
        # keys); membership does not name a DomainCounts' values, and the table does not
        # need them while it matches the snapshot's label column.
        if key not in counts:
            got = np.zeros(len(self.rows), dtype=np.int64)
        else:
            kc = self.snapshot.label_codes(key)
            lut = s.luts.get(cache_key)
            if lut is None or s.lut_columns.get(key) is not kc.column:
                lut = lut_of(counts[key], kc)
            got = lut[kc.codes[self.rows]]
        self._cache[cache_key] = got
        return got


def lut_of(values: Mapping[str, int], kc: Any) -> I64:
    """Counts by label code for one topology key (kc: the snapshot's LabelCodes of the key)."""
    lut = np.zeros(len(kc.values), dtype=np.int64)
    index = kc.index
    for value, n in values.items():
        code = index.get(value)
        if code is not None:
            lut[code] = n
    return lut


def filter_rows(s: PreFilterState, snapshot: Snapshot, rows: I64) -> FilterVerdict | None:
    n = len(rows)
    if n == 0:
        return None
    rc = _RowCounts(s, snapshot, rows)
    failures: list[Failure] = []
    ok = np.ones(n, dtype=np.bool_)
    if s.affinity_terms:
        has_all = np.ones(n, dtype=np.bool_)
        all_positive = np.ones(n, dtype=np.bool_)
        for t in s.affinity_terms:
            has_all &= rc.present(t.topology_key)
            all_positive &= rc.counts(AFFINITY, t.topology_key) > 0
        passes = has_all & all_positive
        if not s.affinity and s.self_match:
            passes = has_all
        fail = ~passes
        if fail.any():
            failures.append(Failure(ERR_REASON_AFFINITY, fail, Code.UNSCHEDULABLE_AND_UNRESOLVABLE))
            ok &= passes
    if s.anti and ok.any():
        hit = np.zeros(n, dtype=np.bool_)
        for t in s.anti_terms:
            hit |= rc.counts(ANTI, t.topology_key) > 0
        fail = hit & ok
        if fail.any():
            failures.append(Failure(ERR_REASON_ANTI_AFFINITY, fail, Code.UNSCHEDULABLE))
            ok &= ~fail
    if s.existing_anti and ok.any():
        hit = np.zeros(n, dtype=np.bool_)
        for key in s.existing_anti:
            hit |= rc.counts(EXISTING_ANTI, key) > 0
        fail = hit & ok
        if fail.any():
            failures.append(Failure(ERR_REASON_EXISTING_ANTI_AFFINITY, fail, Code.UNSCHEDULABLE))
            ok &= ~fail
    if not failures:
        return None
    return FilterVerdict(ok, failures)
