"""What PodTopologySpread's filtering and scoring share (upstream podtopologyspread/common.go).

Contract:
* ``Constraint`` is upstream's internal topologySpreadConstraint: the parsed selector (with
  ``matchLabelKeys`` merged in), ``minDomains`` defaulted to 1, ``nodeAffinityPolicy``
  defaulted to Honor and ``nodeTaintsPolicy`` to Ignore. ``filter_constraints`` keeps the
  constraints with one ``whenUnsatisfiable`` action and raises ``SelectorError`` for a selector
  the API would reject. The node-inclusion-policy and matchLabelKeys features are GA upstream
  and always on here.
* ``count_matching(pods, selector, ns)`` is upstream countPodsMatchSelector: pods being deleted
  (deletionTimestamp set) and pods of other namespaces never count, and an *empty* selector
  counts nothing (a nil selector matches nothing anyway).
* ``PodCounts`` keeps, per (namespace, selector), the count of every snapshot row, and on each
  call recounts only the rows whose NodeInfo generation moved since the last call: a pod
  add/remove/update or a node update bumps that generation, and generations are unique across
  NodeInfos, so a row that now holds another node is recounted too. This is what makes the
  per-domain totals a once-per-cycle numpy reduction instead of a pod-by-pod walk of the
  cluster. Entries are dropped least-recently-used beyond ``max_entries``.
* Topology keys are read through ``snapshot.label_codes(key)`` (framework/snapshot.py): per-row
  integer codes over the distinct values. ``absent`` is the code of rows without the label (-1
  when every row has it); ``go_codes`` merge the absent code into the code of the value "",
  which is how upstream's scoring reads a missing label (``node.Labels[key]``).
* ``inclusion_masks`` evaluates the per-constraint node inclusion policies over every row:
  Honor on node affinity keeps the nodes matching the pod's nodeSelector and required node
  affinity (unparsable terms never match), Honor on taints keeps the nodes whose
  NoSchedule/NoExecute taints the pod tolerates.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from pyscheduler.framework.interfaces import I64, BoolArr
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.snapshot import NodeTable, Snapshot
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.node import Node
from pyscheduler.model.pod import LabelSelector, Pod
from pyscheduler.model.taints import NO_EXECUTE, NO_SCHEDULE, find_untolerated
from pyscheduler.plugins import node_affinity
from pyscheduler.plugins.pod_topology_spread.selector import Selector

NAME = "PodTopologySpread"

ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"

DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
HONOR = "Honor"
IGNORE = "Ignore"

LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_TOPOLOGY_ZONE = "topology.kubernetes.io/zone"

MAX_INT32 = 2**31 - 1
_DO_NOT_SCHEDULE_EFFECTS = (NO_SCHEDULE, NO_EXECUTE)


class ConstraintSpec(Protocol):
    """The fields of a v1.TopologySpreadConstraint (a pod's, or one of the args' defaults)."""

    @property
    def max_skew(self) -> int: ...
    @property
    def topology_key(self) -> str: ...
    @property
    def when_unsatisfiable(self) -> str: ...
    @property
    def label_selector(self) -> LabelSelector | None: ...
    @property
    def min_domains(self) -> int | None: ...
    @property
    def node_affinity_policy(self) -> str | None: ...
    @property
    def node_taints_policy(self) -> str | None: ...
    @property
    def match_label_keys(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Constraint:
    max_skew: int
    topology_key: str
    selector: Selector
    min_domains: int = 1
    node_affinity_policy: str = HONOR
    node_taints_policy: str = IGNORE

    @property
    def honors_affinity(self) -> bool:
        return self.node_affinity_policy == HONOR

    @property
    def honors_taints(self) -> bool:
        return self.node_taints_policy == HONOR


def filter_constraints(specs: Iterable[ConstraintSpec], pod_labels: Mapping[str, str],
                       action: str) -> list[Constraint]:
    """Upstream filterTopologySpreadConstraints; raises SelectorError."""
    out: list[Constraint] = []
    for c in specs:
        if c.when_unsatisfiable != action:
            continue
        selector = Selector.from_label_selector(c.label_selector)
        if c.match_label_keys:
            match = {k: pod_labels[k] for k in c.match_label_keys if k in pod_labels}
            if match and not selector.nothing:
                # mergeLabelSetWithSelector: the pod's values ANDed with the selector.
                selector = Selector.from_set(match).add(selector.requirements)
        out.append(Constraint(
            max_skew=c.max_skew,
            topology_key=c.topology_key,
            selector=selector,
            min_domains=c.min_domains if c.min_domains is not None else 1,
            node_affinity_policy=c.node_affinity_policy or HONOR,
            node_taints_policy=c.node_taints_policy or IGNORE,
        ))
    return out


def node_labels_match(labels: Mapping[str, str], constraints: Sequence[Constraint]) -> bool:
    """nodeLabelsMatchSpreadConstraints: every topology key is a label of the node."""
    return all(c.topology_key in labels for c in constraints)


def pod_labels_match(constraints: Sequence[Constraint], labels: Mapping[str, str]) -> bool:
    """podLabelsMatchSpreadConstraints: some constraint's selector matches."""
    return any(c.selector.matches(labels) for c in constraints)


def count_matching(pods: Iterable[PodInfo], selector: Selector, namespace: str) -> int:
    """countPodsMatchSelector."""
    if selector.empty or selector.nothing:
        return 0
    match = selector.matches
    n = 0
    for pi in pods:
        meta = pi.pod.metadata
        if meta.deletion_timestamp is not None or meta.namespace != namespace:
            continue
        if match(meta.labels):
            n += 1
    return n


# ---- node inclusion policies --------------------------------------------------------------------


def required_affinity(pod: PodInfo) -> node_affinity.RequiredNodeAffinity:
    """The pod's nodeSelector + required node affinity, compiled once per pod version."""
    memo = pod.memo.get(NAME + "/affinity")
    if not isinstance(memo, node_affinity.RequiredNodeAffinity):
        memo = node_affinity.RequiredNodeAffinity.of(pod.pod)
        pod.memo[NAME + "/affinity"] = memo
    return memo


def tolerates_node(pod: Pod, node: Node) -> bool:
    """No NoSchedule/NoExecute taint of the node is left untolerated by the pod."""
    return find_untolerated(node.spec.taints, pod.spec.tolerations,
                            _DO_NOT_SCHEDULE_EFFECTS) is None


def matches_inclusion_policies(c: Constraint, pod: PodInfo, node: Node) -> bool:
    """topologySpreadConstraint.matchNodeInclusionPolicies for one node."""
    if c.honors_affinity and not required_affinity(pod).matches(node.metadata.labels,
                                                                node.metadata.name):
        return False
    return not (c.honors_taints and not tolerates_node(pod.pod, node))


@dataclass(slots=True)
class InclusionMasks:
    """Per constraint, which snapshot rows its inclusion policies admit (None = all)."""

    affinity: BoolArr | None
    taints: BoolArr | None

    def for_constraint(self, c: Constraint) -> BoolArr | None:
        masks = [m for m, on in ((self.affinity, c.honors_affinity),
                                 (self.taints, c.honors_taints)) if on and m is not None]
        if not masks:
            return None
        if len(masks) == 1:
            return masks[0]
        return masks[0] & masks[1]


# ---- per-row match counts -----------------------------------------------------------------------


@dataclass(slots=True)
class _CountEntry:
    generations: I64
    counts: I64


@dataclass(slots=True)
class PodCounts:
    """Per (namespace, selector), the matching pods of every snapshot row (see contract)."""

    max_entries: int = 64
    _entries: OrderedDict[tuple[str, Selector], _CountEntry] = field(default_factory=OrderedDict)
    _gens_key: tuple[int, int, int] = (-1, -1, -1)
    _gens: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def _generations(self, table: NodeTable) -> I64:
        key = (id(table), table.generation, table.n)
        if key != self._gens_key:
            # The table keeps each row's NodeInfo generation; copy it so a later cycle can
            # compare against this one.
            self._gens = table.row_generations.copy()
            self._gens_key = key
        return self._gens

    def counts(self, snapshot: Snapshot, namespace: str, selector: Selector) -> I64:
        """Matching pods per row (read-only: the array is shared with later calls)."""
        table = snapshot.table
        n = table.n
        if selector.empty or selector.nothing:
            return np.zeros(n, dtype=np.int64)
        gens = self._generations(table)
        infos = table.infos
        key = (namespace, selector)
        entry = self._entries.get(key)
        if entry is None:
            counts = np.fromiter((count_matching(i.pods.values(), selector, namespace)
                                  for i in infos), dtype=np.int64, count=n)
            entry = _CountEntry(gens, counts)
            self._entries[key] = entry
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return counts
        self._entries.move_to_end(key)
        if entry.generations is gens:
            return entry.counts
        old = entry.generations
        m = min(len(old), n)
        stale = np.flatnonzero(old[:m] != gens[:m])
        counts = entry.counts
        if len(counts) != n:
            grown = np.zeros(n, dtype=np.int64)
            grown[:m] = counts[:m]
            counts = grown
            stale = np.concatenate([stale, np.arange(m, n, dtype=np.int64)])
        elif len(stale):
            counts = counts.copy()  # callers may still hold the previous array
        for r in stale.tolist():
            counts[r] = count_matching(infos[r].pods.values(), selector, namespace)
        entry.generations = gens
        entry.counts = counts
        return counts


def inclusion_masks(constraints: Sequence[Constraint], pod: PodInfo,
                    snapshot: Snapshot) -> InclusionMasks:
    """The Honor policies' row masks over all rows, computed only when some constraint needs
    them and they can exclude anything."""
    table = snapshot.table
    n = table.n
    aff: BoolArr | None = None
    if any(c.honors_affinity for c in constraints):
        req = required_affinity(pod)
        if req.selector or req.affinity is not None:
            rows = np.arange(n, dtype=np.int64)
            aff = req.mask(node_affinity._RowEval(snapshot, rows))
    taints: BoolArr | None = None
    if any(c.honors_taints for c in constraints):
        tainted = np.flatnonzero(table.tainted)
        if len(tainted):
            taints = np.ones(n, dtype=np.bool_)
            verdicts: dict[tuple[tuple[str, str, str], ...], bool] = {}
            infos: list[NodeInfo] = table.infos
            for r in tainted.tolist():
                node = infos[r].node
                if node is None:
                    continue
                tk = tuple((t.key, t.value, t.effect) for t in node.spec.taints)
                ok = verdicts.get(tk)
                if ok is None:
                    ok = tolerates_node(pod.pod, node)
                    verdicts[tk] = ok
                taints[r] = ok
    return InclusionMasks(aff, taints)


def all_keys_mask(constraints: Sequence[Constraint], snapshot: Snapshot) -> BoolArr:
    """Rows whose node has every topology key of the constraints."""
    out = np.ones(snapshot.table.n, dtype=np.bool_)
    for key in {c.topology_key for c in constraints}:
        kc = snapshot.label_codes(key)
        if kc.absent >= 0:
            out &= kc.codes != kc.absent
    return out
