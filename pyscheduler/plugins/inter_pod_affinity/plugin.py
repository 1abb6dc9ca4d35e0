"""The InterPodAffinity plugin: args, extension points, queueing hints (upstream plugin.go).

Contract:
* Extension points: PreFilter (+ AddPod/RemovePod), Filter (per node and batch), PreScore,
  Score (per node and batch), NormalizeScore, EnqueueExtensions. Semantics are in
  filtering.py and scoring.py.
* Per-cycle cost: counts are computed per topology domain once per cycle, never by a pod-by-pod
  scan per node. A ``ClusterIndex`` (index.py), refreshed from the rows whose NodeInfo
  generation moved since the previous cycle, groups the pods by shape and their terms by key.
  PreFilter/PreScore match the incoming pod against the distinct terms of existing pods, read
  per-row match counts for the incoming pod's own terms from the index's watches (kept current
  as rows change, so their cost does not grow with the number of distinct pod shapes), fold the
  rows into domains with ``np.bincount`` over the snapshot's label codes, and hand those lookup
  tables to the batch Filter/Score, which are numpy gathers over every row. Changed rows are
  found by comparing the table's per-row NodeInfo generations with the previous cycle's (one
  vectorized comparison). ``use_index=False`` recomputes everything from the NodeInfos with the
  per-node functions (the reference; tests compare).
* Namespaces come from ``handle.lister("namespaces")`` (objects with ``.metadata.name`` and
  ``.metadata.labels``; pyscheduler.model.namespace.Namespace). Without that lister an unknown
  namespace has no labels and a namespaceSelector resolves to no namespace.
* Queueing hints (queueing hints on, as 1.37):
  - pod added / label-updated / deleted (``isSchedulableAfterPodChange``): Queue for the
    rejected pod itself; Skip when either version is unscheduled; on update, Queue when the pod
    starts matching all of the target's affinity terms or stops matching all of its
    anti-affinity terms; on add, Queue when it matches all affinity terms; on delete, Queue when
    it matched all anti-affinity terms or one of its own required anti-affinity terms selects the
    target pod (an existing pod's anti-affinity can be what rejected it). Knowingly different
    from upstream: the target's terms are matched with the changed pod's namespace labels, so a
    namespaceSelector term can say Queue; upstream matches them against no labels and answers
    Skip for such pods (the pod then waits for the unschedulable timeout);
  - node added / label-updated (``isSchedulableAfterNodeChange``): for affinity terms, Queue on a
    new node carrying the topology key, or a node that gained the key or changed its value; for
    anti-affinity terms, Queue on any new node, or a node that lost the key or changed its value.
  Terms that do not parse answer Queue (upstream returns Queue with the error).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    BatchFilterPlugin,
    BatchScorePlugin,
    EnqueueExtensions,
    Failure,
    FilterVerdict,
    Handle,
    Lister,
    NormalizeScorePlugin,
    PreFilterExtensions,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
)
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import (
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    PodInfo,
    QueueingHint,
    Resource,
)
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.plugins import validation as v
from pyscheduler.plugins.inter_pod_affinity.counts import (
    Counts,
    CountsView,
    DomainCounts,
    add_entries,
    copy_counts,
)
from pyscheduler.plugins.inter_pod_affinity.filtering import (
    AFFINITY,
    ANTI,
    EXISTING_ANTI,
    NAME,
    PRE_FILTER_STATE_KEY,
    PreFilterState,
    existing_anti_on_node,
    filter_node,
    filter_rows,
    incoming_on_node,
    missing_state,
)
from pyscheduler.plugins.inter_pod_affinity.index import ClusterIndex, RowGenerations
from pyscheduler.plugins.inter_pod_affinity.scoring import (
    PRE_SCORE_STATE_KEY,
    PreScoreState,
    normalize,
    score_labels,
    score_on_node,
    score_rows,
)
from pyscheduler.plugins.inter_pod_affinity.terms import (
    AffinityTerm,
    PodTerms,
    WeightedTerm,
    merge_all,
    merge_weighted,
    namespace_labels,
    pod_matches_all,
    pod_terms,
    terms_of,
)

NAMESPACES = "namespaces"

MIN_HARD_POD_AFFINITY_WEIGHT = 0
MAX_HARD_POD_AFFINITY_WEIGHT = 100
DEFAULT_HARD_POD_AFFINITY_WEIGHT = 1


class InterPodAffinityArgs(msgspec.Struct, rename="camel", omit_defaults=True):
    hard_pod_affinity_weight: int = DEFAULT_HARD_POD_AFFINITY_WEIGHT
    ignore_preferred_terms_of_existing_pods: bool = False

    def validate(self, path: str = "") -> None:
        """Upstream ValidateInterPodAffinityArgs; raises ArgsError."""
        w = self.hard_pod_affinity_weight
        if not MIN_HARD_POD_AFFINITY_WEIGHT <= w <= MAX_HARD_POD_AFFINITY_WEIGHT:
            v.raise_if([v.invalid(
                v.child(path, "hardPodAffinityWeight"), w,
                f"not in valid range [{MIN_HARD_POD_AFFINITY_WEIGHT}, "
                f"{MAX_HARD_POD_AFFINITY_WEIGHT}]")])

    validate_args = validate


@dataclass(slots=True)
class Domains:
    """Per-domain counts, and the same as lookup tables over the snapshot's label codes."""

    counts: CountsView = field(default_factory=dict)
    luts: dict[str, I64] = field(default_factory=dict)
    columns: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class InterPodAffinity:
    """PreFilter (+extensions), Filter (batch), PreScore, Score (batch), NormalizeScore,
    EnqueueExtensions."""

    args: InterPodAffinityArgs
    handle: Handle | None = None
    # False: recompute every count from the NodeInfos each cycle (the reference path)
    use_index: bool = True
    name: str = NAME
    _gens: RowGenerations = field(default_factory=RowGenerations)
    _index: ClusterIndex = field(default_factory=ClusterIndex)

    def __post_init__(self) -> None:
        self.args.validate()

    def _ns_lister(self) -> Lister | None:
        return self.handle.lister(NAMESPACES) if self.handle is not None else None

    def _refreshed_index(self, snapshot: Snapshot) -> ClusterIndex:
        self._index.refresh(snapshot, self._gens.get(snapshot))
        return self._index

    def _domains(self, snapshot: Snapshot, vectors: Iterable[tuple[str, I64]], *,
                 named: bool = True) -> Domains:
        """Fold per-row vectors into per-domain counts, by topology key (``named=False``:
        the lookup tables only; the caller names the domains lazily)."""
        out = Domains()
        for key, vec in vectors:
            kc = snapshot.label_codes(key)
            dom = np.bincount(kc.codes, weights=vec, minlength=len(kc.values)).astype(np.int64)
            absent = kc.index.get(None)
            if absent is not None:
                dom[absent] = 0  # a node without the topology key counts nowhere
            prev = out.luts.get(key)
            out.luts[key] = dom if prev is None else prev + dom
            out.columns[key] = kc.column
        if named:
            # Named on first use: the batch filter reads only the tables, and naming every
            # hostname domain each cycle cost more than the fold.
            out.counts = DomainCounts(out.luts, {key: snapshot.label_codes(key).values
                                                 for key in out.luts})
        return out

    # ---- counts ---------------------------------------------------------------------------
    def existing_anti_domains(self, snapshot: Snapshot, pod: Pod,
                              ns_labels: dict[str, str]) -> Domains:
        """Existing pods' required anti-affinity terms selecting the incoming pod, by domain."""
        if not self.use_index:
            counts: Counts = {}
            for ni in snapshot.have_pods_with_required_anti_affinity:
                c = existing_anti_on_node(ni, pod, ns_labels)
                if c is not None:
                    add_entries(counts, c, 1)
            return Domains(counts)
        if not snapshot.any_pods_with_required_anti_affinity:
            # Nothing to count, and no reason to bring the index up to date with this cycle's
            # pod churn (most clusters: no pod carries required anti-affinity).
            return Domains()
        meta = pod.metadata
        vectors = self._refreshed_index(snapshot).existing_anti(meta.namespace, meta.labels,
                                                                ns_labels)
        return self._domains(snapshot, vectors.items())

    def incoming_domains(self, snapshot: Snapshot, affinity: tuple[AffinityTerm, ...],
                         anti: tuple[AffinityTerm, ...]) -> tuple[Domains, Domains]:
        """Existing pods matching the incoming pod's (merged) required terms, by domain."""
        if not affinity and not anti:
            return Domains(), Domains()
        if not self.use_index:
            aff: Counts = {}
            anti_counts: Counts = {}
            for ni in snapshot.node_infos:
                c = incoming_on_node(ni, affinity, anti)
                if c is not None:
                    add_entries(aff, c[0], 1)
                    add_entries(anti_counts, c[1], 1)
            return Domains(aff), Domains(anti_counts)
        v_all, v_anti = self._refreshed_index(snapshot).incoming(affinity, anti)
        # a pod matching all affinity terms counts once per term (upstream's map, keyed by
        # (key, value), adds one per term even when two terms share a key)
        aff_vectors = [(t.topology_key, v_all) for t in affinity] if v_all is not None else []
        anti_vectors = [(t.topology_key, v) for t, v in zip(anti, v_anti, strict=True)]
        return self._domains(snapshot, aff_vectors), self._domains(snapshot, anti_vectors)

    def incoming_counts(self, snapshot: Snapshot, affinity: tuple[AffinityTerm, ...],
                        anti: tuple[AffinityTerm, ...]) -> tuple[Counts, Counts]:
        """incoming_domains' counts, as plain Counts."""
        a, b = self.incoming_domains(snapshot, affinity, anti)
        return copy_counts(a.counts), copy_counts(b.counts)

    def topology_scores(self, snapshot: Snapshot, pod: Pod, ns_labels: dict[str, str],
                        preferred: tuple[WeightedTerm, ...],
                        preferred_anti: tuple[WeightedTerm, ...],
                        has_constraints: bool) -> tuple[Domains, bool]:
        """PreScore's topology scores and whether any existing pod contributed."""
        hard = self.args.hard_pod_affinity_weight
        if not self.use_index:
            scores: Counts = {}
            contributed = False
            nodes = snapshot.node_infos if has_constraints else snapshot.have_pods_with_affinity
            for ni in nodes:
                c = score_on_node(ni, pod, ns_labels, preferred, preferred_anti, hard,
                                  has_constraints)
                if c is not None:
                    contributed = True
                    add_entries(scores, c, 1)
            return Domains(scores), contributed
        if not has_constraints and not snapshot.any_pods_with_affinity:
            return Domains(), False  # no term anywhere can contribute a score
        meta = pod.metadata
        sums, touched = self._refreshed_index(snapshot).scores(
            meta.namespace, meta.labels, ns_labels, preferred, preferred_anti, hard,
            has_constraints)
        contributed = False
        for key, tv in touched.items():
            kc = snapshot.label_codes(key)
            absent = kc.index.get(None)
            hit = tv if absent is None else tv & (kc.codes != absent)
            if hit.any():
                contributed = True
                break
        # PreScore's counts are named lazily (DomainCounts): the batch score reads only the
        # lookup tables, and naming every hostname domain cost more than the rest of PreScore.
        return self._domains(snapshot, sums.items(), named=False), contributed

    # ---- filter ---------------------------------------------------------------------------
    def pre_filter(self, state: CycleState, pod: PodInfo,
                   snapshot: Snapshot) -> tuple[PreFilterResult | None, Status | None]:
        """Count, per topology domain, what the incoming pod's terms and the existing pods'
        anti-affinity terms match; Skip when nothing can reject the pod."""
        pt: PodTerms = terms_of(pod)
        if pt.error is not None:
            return None, Status.unresolvable(f"parsing pod: {pt.error}", plugin=NAME)
        lister = self._ns_lister()
        affinity = merge_all(pt.required_affinity, lister)
        anti = merge_all(pt.required_anti, lister)
        ns_labels = namespace_labels(lister, pod.pod.metadata.namespace)
        existing = self.existing_anti_domains(snapshot, pod.pod, ns_labels)
        if not existing.counts and not affinity and not anti:
            return None, Status.skip()
        aff, anti_d = self.incoming_domains(snapshot, affinity, anti)
        luts: dict[tuple[str, str], I64] = {}
        columns: dict[str, object] = {}
        for name, d in ((EXISTING_ANTI, existing), (AFFINITY, aff), (ANTI, anti_d)):
            for key, lut in d.luts.items():
                luts[(name, key)] = lut
            columns.update(d.columns)
        state.write(PRE_FILTER_STATE_KEY, PreFilterState(
            pod, ns_labels, affinity, anti, existing.counts, aff.counts, anti_d.counts,
            pod_matches_all(affinity, pod.pod), luts, columns))
        return None, None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return self

    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo,
                node_info: NodeInfo) -> Status | None:
        """Count pod_to_add on node_info, as if it had been there at PreFilter."""
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, PreFilterState):
            return missing_state()
        s.update_with_pod(pod_to_add, node_info, 1)
        return None

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo,
                   node_info: NodeInfo) -> Status | None:
        """Uncount pod_to_remove on node_info."""
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, PreFilterState):
            return missing_state()
        s.update_with_pod(pod_to_remove, node_info, -1)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """The node's domains must hold the pod's affinity matches and no anti-affinity
        conflict in either direction."""
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, PreFilterState):
            return missing_state()
        return filter_node(s, node_info)

    def filter_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                     rows: I64) -> FilterVerdict | None:
        """The same check over many rows, one numpy lookup per (count map, topology key)."""
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, PreFilterState):
            st = missing_state()
            return FilterVerdict(np.zeros(len(rows), dtype=np.bool_),
                                 [Failure(st.message(), np.ones(len(rows), dtype=np.bool_),
                                          Code.ERROR)])
        return filter_rows(s, snapshot, rows)

    # ---- score ----------------------------------------------------------------------------
    def pre_score(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                  rows: I64) -> Status | None:
        """Sum preferred (and existing pods' required) affinity weights per topology domain."""
        a = pod.pod.spec.affinity
        has_constraints = a is not None and (
            (a.pod_affinity is not None
             and bool(a.pod_affinity.preferred_during_scheduling_ignored_during_execution))
            or (a.pod_anti_affinity is not None
                and bool(a.pod_anti_affinity.preferred_during_scheduling_ignored_during_execution))
        )
        if self.args.ignore_preferred_terms_of_existing_pods and not has_constraints:
            return Status.skip()
        pt = terms_of(pod)
        if pt.error is not None:
            return Status.as_error(ValueError(f"failed to parse pod: {pt.error}"), NAME)
        lister = self._ns_lister()
        preferred = merge_weighted(pt.preferred_affinity, lister)
        preferred_anti = merge_weighted(pt.preferred_anti, lister)
        ns_labels = namespace_labels(lister, pod.pod.metadata.namespace)
        scores, contributed = self.topology_scores(snapshot, pod.pod, ns_labels, preferred,
                                                   preferred_anti, has_constraints)
        if not contributed:
            return Status.skip()
        topology: Mapping[str, Mapping[str, int]] = scores.counts
        if self.use_index:
            topology = DomainCounts(scores.luts, {key: snapshot.label_codes(key).values
                                                  for key in scores.luts})
        state.write(PRE_SCORE_STATE_KEY, PreScoreState(topology, scores.luts, scores.columns))
        return None

    @staticmethod
    def _score_state(state: CycleState) -> PreScoreState:
        s = state.get(PRE_SCORE_STATE_KEY)
        if not isinstance(s, PreScoreState):
            raise RuntimeError(
                f'failed to read "{PRE_SCORE_STATE_KEY}" from cycleState: not found')
        return s

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """The topology scores of the node's domains, summed."""
        return score_labels(self._score_state(state), node_info.labels)

    def score_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                    rows: I64) -> I64:
        """The same sums over many rows."""
        return score_rows(self._score_state(state), snapshot, rows)

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: I64) -> None:
        """Min-max scale to 0..100."""
        normalize(self._score_state(state), scores)

    # ---- queueing hints -------------------------------------------------------------------
    def events_to_register(self) -> list[ClusterEventWithHint]:
        """Pods added, relabeled or deleted; nodes added or relabeled."""
        return [
            # Pod, not AssignedPod: the hint also sees the rejected pod's own label changes
            # (its labels decide self-affinity and which existing anti-affinity selects it).
            ClusterEventWithHint(
                ClusterEvent(Resource.POD,
                             ActionType.ADD | ActionType.UPDATE_POD_LABEL | ActionType.DELETE),
                self.is_schedulable_after_pod_change,
            ),
            ClusterEventWithHint(
                ClusterEvent(Resource.NODE, ActionType.ADD | ActionType.UPDATE_NODE_LABEL),
                self.is_schedulable_after_node_change,
            ),
        ]

    def is_schedulable_after_pod_change(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """Could this assigned pod's arrival, relabeling or departure let ``pod`` fit?"""
        original: Pod | None = old
        modified: Pod | None = new
        if modified is not None and modified.metadata.uid == pod.metadata.uid:
            # The rejected pod itself changed (its labels decide self-affinity and whether
            # existing pods' anti-affinity selects it).
            return QueueingHint.QUEUE
        if (modified is not None and not modified.spec.node_name) or (
                original is not None and not original.spec.node_name):
            return QueueingHint.SKIP
        pt = pod_terms(pod)
        if pt.error is not None:
            return QueueingHint.QUEUE
        lister = self._ns_lister()
        affinity, anti = pt.required_affinity, pt.required_anti
        changed = modified if modified is not None else original
        assert changed is not None
        # Terms are matched with the changed pod's namespace labels (the filter resolves
        # namespaceSelectors the same way); upstream matches them against no labels here.
        ns = namespace_labels(lister, changed.metadata.namespace)
        if modified is not None and original is not None:
            if (not pod_matches_all(affinity, original, ns)
                    and pod_matches_all(affinity, modified, ns)):
                return QueueingHint.QUEUE
            if pod_matches_all(anti, original, ns) and not pod_matches_all(anti, modified, ns):
                return QueueingHint.QUEUE
            return QueueingHint.SKIP
        if modified is not None:
            if pod_matches_all(affinity, modified, ns):
                return QueueingHint.QUEUE
            return QueueingHint.SKIP
        assert original is not None
        if pod_matches_all(anti, original, ns):
            return QueueingHint.QUEUE
        # The deleted pod's own required anti-affinity may be what rejected ``pod``.
        deleted = pod_terms(original)
        if deleted.required_anti:
            target_ns = namespace_labels(lister, pod.metadata.namespace)
            if any(t.matches(pod, target_ns) for t in deleted.required_anti):
                return QueueingHint.QUEUE
        return QueueingHint.SKIP

    def is_schedulable_after_node_change(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """Could this node's arrival or new labels open a topology domain for ``pod``?"""
        original: Node | None = old
        modified: Node = new
        pt = pod_terms(pod)
        if pt.error is not None:
            return QueueingHint.QUEUE
        new_labels = modified.metadata.labels
        old_labels = original.metadata.labels if original is not None else None
        for t in pt.required_affinity:
            key = t.topology_key
            if old_labels is None:
                if key in new_labels:
                    return QueueingHint.QUEUE
                continue
            if key in new_labels and (key not in old_labels or old_labels[key] != new_labels[key]):
                return QueueingHint.QUEUE
        for t in pt.required_anti:
            key = t.topology_key
            if old_labels is None:
                # A new node: one without the key always takes the pod; one with it may join
                # a domain free of conflicting pods, which this hint cannot cheaply tell.
                return QueueingHint.QUEUE
            if key in old_labels and (key not in new_labels or old_labels[key] != new_labels[key]):
                return QueueingHint.QUEUE
        return QueueingHint.SKIP


def new(args: InterPodAffinityArgs | None, handle: Handle) -> InterPodAffinity:
    return InterPodAffinity(args if args is not None else InterPodAffinityArgs(), handle)


SPEC = PluginSpec(NAME, new, InterPodAffinityArgs, listers=("namespaces",))


def _check(p: InterPodAffinity) -> tuple[PreFilterPlugin, PreFilterExtensions, BatchFilterPlugin,
                                         PreScorePlugin, BatchScorePlugin, NormalizeScorePlugin,
                                         EnqueueExtensions]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p, p, p, p, p
