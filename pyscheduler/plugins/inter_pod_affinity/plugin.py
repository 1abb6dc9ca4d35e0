"""The InterPodAffinity plugin: args, extension points, queueing hints (upstream plugin.go).

Contract:
* Extension points: PreFilter (+ AddPod/RemovePod), Filter (per node and batch), PreScore,
  Score (per node and batch), NormalizeScore, EnqueueExtensions. Semantics are in
  filtering.py and scoring.py.
* Per-cycle cost: the counts are "per topology domain, once per cycle", never a pod-by-pod scan
  per node. They are kept in ``NodeMemo``s across cycles (memo.py): a cycle recomputes only the
  nodes whose NodeInfo generation moved since the memo was last refreshed, then Filter/Score
  evaluate every row with numpy lookups. ``use_memo=False`` recomputes from scratch each cycle
  (same per-node functions; tests compare both).
* Namespaces come from ``handle.lister("namespaces")`` (objects with ``.metadata.name`` and
  ``.metadata.labels``; pyscheduler.model.namespace.Namespace). Without that lister an unknown
  namespace has no labels and a namespaceSelector resolves to no namespace.
* Queueing hints (queueing hints on, as 1.37):
  - assigned pod added / label-updated / deleted (``isSchedulableAfterPodChange``): Queue for the
    rejected pod itself; Skip when either version is unscheduled; on update, Queue when the pod
    starts matching all of the target's affinity terms or stops matching all of its
    anti-affinity terms; on add, Queue when it matches all affinity terms; on delete, Queue when
    it matched all anti-affinity terms or one of its own required anti-affinity terms selects the
    target pod (an existing pod's anti-affinity can be what rejected it);
  - node added / label-updated (``isSchedulableAfterNodeChange``): for affinity terms, Queue on a
    new node carrying the topology key, or a node that gained the key or changed its value; for
    anti-affinity terms, Queue on any new node, or a node that lost the key or changed its value.
  Terms that do not parse answer Queue (upstream returns Queue with the error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from pyscheduler.cache.node_info import NodeInfo
from pyscheduler.cache.snapshot import Snapshot
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
from pyscheduler.framework.registry import PluginSpec
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
from pyscheduler.plugins.inter_pod_affinity.filtering import (
    NAME,
    PRE_FILTER_STATE_KEY,
    PreFilterState,
    existing_anti_on_node,
    filter_node,
    filter_rows,
    incoming_on_node,
    missing_state,
)
from pyscheduler.plugins.inter_pod_affinity.memo import (
    Counts,
    CountsMemo,
    MemoCache,
    PairCountsMemo,
    RowGenerations,
    add_entries,
)
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
    terms_key,
    terms_of,
)
from pyscheduler.plugins.node_affinity import LabelCodes

NAMESPACES = "namespaces"

MIN_HARD_POD_AFFINITY_WEIGHT = 0
MAX_HARD_POD_AFFINITY_WEIGHT = 100
DEFAULT_HARD_POD_AFFINITY_WEIGHT = 1

# How many distinct pod shapes each memo cache keeps (least recently used goes first).
MEMO_SIZE = 32


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


def _weighted_key(terms: tuple[WeightedTerm, ...]) -> tuple[tuple[bytes, frozenset[str], int], ...]:
    return tuple((w.term.raw, w.term.namespaces, w.weight) for w in terms)


def _labels_key(labels: dict[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


@dataclass(slots=True)
class InterPodAffinity:
    """PreFilter (+extensions), Filter (batch), PreScore, Score (batch), NormalizeScore,
    EnqueueExtensions."""

    args: InterPodAffinityArgs
    handle: Handle | None = None
    use_memo: bool = True
    name: str = NAME
    codes: LabelCodes = field(default_factory=LabelCodes)
    _gens: RowGenerations = field(default_factory=RowGenerations)
    _existing: MemoCache[Any, CountsMemo] = field(
        default_factory=lambda: MemoCache(MEMO_SIZE))
    _incoming: MemoCache[Any, PairCountsMemo] = field(
        default_factory=lambda: MemoCache(MEMO_SIZE))
    _scores: MemoCache[Any, CountsMemo] = field(default_factory=lambda: MemoCache(MEMO_SIZE))

    def __post_init__(self) -> None:
        self.args.validate()

    def _ns_lister(self) -> Lister | None:
        return self.handle.lister(NAMESPACES) if self.handle is not None else None

    # ---- counts ---------------------------------------------------------------------------
    def existing_anti_counts(self, snapshot: Snapshot, pod: Pod,
                             ns_labels: dict[str, str]) -> Counts:
        """Existing pods' required anti-affinity terms matching the incoming pod, by domain."""

        def compute(ni: NodeInfo) -> Any:
            return existing_anti_on_node(ni, pod, ns_labels)

        if not self.use_memo:
            counts: Counts = {}
            for ni in snapshot.have_pods_with_required_anti_affinity:
                c = compute(ni)
                if c is not None:
                    add_entries(counts, c, 1)
            return counts
        meta = pod.metadata
        key = (meta.namespace, _labels_key(meta.labels), _labels_key(ns_labels))
        memo = self._existing.get_or_create(key, CountsMemo)
        memo.refresh(snapshot, self._gens.get(snapshot), compute,
                     lambda: snapshot.have_pods_with_required_anti_affinity)
        return memo.counts

    def incoming_counts(self, snapshot: Snapshot, affinity: tuple[AffinityTerm, ...],
                        anti: tuple[AffinityTerm, ...]) -> tuple[Counts, Counts]:
        """Existing pods matching the incoming pod's (merged) required terms, by domain."""
        if not affinity and not anti:
            return {}, {}

        def compute(ni: NodeInfo) -> Any:
            return incoming_on_node(ni, affinity, anti)

        if not self.use_memo:
            aff: Counts = {}
            anti_counts: Counts = {}
            for ni in snapshot.node_infos:
                c = compute(ni)
                if c is not None:
                    add_entries(aff, c[0], 1)
                    add_entries(anti_counts, c[1], 1)
            return aff, anti_counts
        memo = self._incoming.get_or_create((terms_key(affinity), terms_key(anti)),
                                            PairCountsMemo)
        memo.refresh(snapshot, self._gens.get(snapshot), compute)
        return memo.first, memo.second

    def topology_scores(self, snapshot: Snapshot, pod: Pod, ns_labels: dict[str, str],
                        preferred: tuple[WeightedTerm, ...],
                        preferred_anti: tuple[WeightedTerm, ...],
                        has_constraints: bool) -> tuple[Counts, bool]:
        """PreScore's topology scores and whether any node contributed."""
        hard = self.args.hard_pod_affinity_weight

        def compute(ni: NodeInfo) -> Any:
            return score_on_node(ni, pod, ns_labels, preferred, preferred_anti, hard,
                                 has_constraints)

        if not self.use_memo:
            scores: Counts = {}
            contributed = False
            nodes = snapshot.node_infos if has_constraints else snapshot.have_pods_with_affinity
            for ni in nodes:
                c = compute(ni)
                if c is not None:
                    contributed = True
                    add_entries(scores, c, 1)
            return scores, contributed
        meta = pod.metadata
        key = (meta.namespace, _labels_key(meta.labels), _labels_key(ns_labels), has_constraints,
               _weighted_key(preferred), _weighted_key(preferred_anti))
        memo = self._scores.get_or_create(key, CountsMemo)
        memo.refresh(snapshot, self._gens.get(snapshot), compute,
                     None if has_constraints else (lambda: snapshot.have_pods_with_affinity))
        return memo.counts, memo.contributing > 0

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
        existing = self.existing_anti_counts(snapshot, pod.pod, ns_labels)
        if not existing and not affinity and not anti:
            return None, Status.skip()
        aff_counts, anti_counts = self.incoming_counts(snapshot, affinity, anti)
        state.write(PRE_FILTER_STATE_KEY, PreFilterState(
            pod, ns_labels, affinity, anti, existing, aff_counts, anti_counts,
            pod_matches_all(affinity, pod.pod)))
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
        return filter_rows(s, snapshot, rows, self.codes)

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
        state.write(PRE_SCORE_STATE_KEY, PreScoreState(scores))
        return None

    @staticmethod
    def _score_state(state: CycleState) -> PreScoreState:
        s = state.get(PRE_SCORE_STATE_KEY)
        if not isinstance(s, PreScoreState):
            raise RuntimeError(f'failed to read "{PRE_SCORE_STATE_KEY}" from cycleState')
        return s

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """The topology scores of the node's domains, summed."""
        return score_labels(self._score_state(state), node_info.labels)

    def score_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                    rows: I64) -> I64:
        """The same sums over many rows."""
        return score_rows(self._score_state(state), snapshot, rows, self.codes)

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: I64) -> None:
        """Min-max scale to 0..100."""
        normalize(self._score_state(state), scores)

    # ---- queueing hints -------------------------------------------------------------------
    def events_to_register(self) -> list[ClusterEventWithHint]:
        """Assigned pods added, relabeled or deleted; nodes added or relabeled."""
        return [
            ClusterEventWithHint(
                ClusterEvent(Resource.ASSIGNED_POD,
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
        pt = terms_of(PodInfo.of(pod))
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
        deleted = terms_of(PodInfo.of(original))
        if deleted.required_anti:
            target_ns = namespace_labels(lister, pod.metadata.namespace)
            if any(t.matches(pod, target_ns) for t in deleted.required_anti):
                return QueueingHint.QUEUE
        return QueueingHint.SKIP

    def is_schedulable_after_node_change(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """Could this node's arrival or new labels open a topology domain for ``pod``?"""
        original: Node | None = old
        modified: Node = new
        pt = terms_of(PodInfo.of(pod))
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


SPEC = PluginSpec(NAME, new, InterPodAffinityArgs)


def _check(p: InterPodAffinity) -> tuple[PreFilterPlugin, PreFilterExtensions, BatchFilterPlugin,
                                         PreScorePlugin, BatchScorePlugin, NormalizeScorePlugin,
                                         EnqueueExtensions]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p, p, p, p, p
