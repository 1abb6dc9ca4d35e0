"""InterPodAffinity scoring: PreScore's topology scores, Score per node and over rows, and
NormalizeScore (upstream interpodaffinity/scoring.go).

Contract:
* PreScore sums, into one ``Counts`` (topology key -> value -> score), for every existing pod on
  a node that carries labels:
  - +weight for each of the incoming pod's preferred affinity terms the existing pod matches,
    -weight for each preferred anti-affinity term (incoming terms have their namespaceSelector
    resolved into namespaces);
  - +hardPodAffinityWeight (when > 0) for each of the existing pod's *required* affinity terms
    that selects the incoming pod, +weight / -weight for its preferred affinity / anti-affinity
    terms that select it (namespaceSelector matched against the incoming pod's namespace
    labels);
  each at (term's topology key, the existing pod's node value) when that node has the key.
  Unless the incoming pod has preferred terms, only pods with pod (anti-)affinity are visited
  (nodes in ``snapshot.have_pods_with_affinity``). Every node is considered, not only the
  feasible ones, as upstream.
* PreScore returns Skip when ``ignorePreferredTermsOfExistingPods`` is set and the pod has no
  preferred terms, or when no existing pod contributed anything; an Error "failed to parse pod:
  ..." when the pod's terms do not parse.
* Score: the sum, over the topology keys in the map, of the map's value for the node's label
  value. NormalizeScore: ``int64(100 * (s - min) / (max - min))`` computed in float64 as
  upstream, all 0 when max == min; scores stay as they are when the map is empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from pyscheduler.framework.interfaces import I64, MAX_NODE_SCORE
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.model.pod import Pod
from pyscheduler.plugins.inter_pod_affinity.counts import Entries
from pyscheduler.plugins.inter_pod_affinity.filtering import NAME, lut_of
from pyscheduler.plugins.inter_pod_affinity.terms import WeightedTerm, terms_of

PRE_SCORE_STATE_KEY = "PreScore" + NAME

Labels = Mapping[str, str]


def score_on_node(ni: NodeInfo, pod: Pod, ns_labels: Labels,
                  preferred: tuple[WeightedTerm, ...], preferred_anti: tuple[WeightedTerm, ...],
                  hard_weight: int, has_constraints: bool) -> Entries | None:
    """One node's contribution to the topology scores (upstream processExistingPod, per node).

    Entries are kept even when their weight is 0: a node that matched anything "contributed",
    which is what PreScore's Skip decision asks.
    """
    labels = ni.labels
    if not labels:
        return None
    if not has_constraints and ni.pods_with_affinity == 0:
        return None
    out: list[tuple[str, str, int]] = []
    for pi in ni.pods.values():
        existing = pi.pod
        if has_constraints:
            for wt in preferred:
                t = wt.term
                if t.matches(existing, None):
                    value = labels.get(t.topology_key)
                    if value is not None:
                        out.append((t.topology_key, value, wt.weight))
            for wt in preferred_anti:
                t = wt.term
                if t.matches(existing, None):
                    value = labels.get(t.topology_key)
                    if value is not None:
                        out.append((t.topology_key, value, -wt.weight))
        pt = terms_of(pi)
        if not pt.with_affinity:
            continue
        if hard_weight > 0:
            for t in pt.required_affinity:
                if t.matches(pod, ns_labels):
                    value = labels.get(t.topology_key)
                    if value is not None:
                        out.append((t.topology_key, value, hard_weight))
        for wt in pt.preferred_affinity:
            t = wt.term
            if t.matches(pod, ns_labels):
                value = labels.get(t.topology_key)
                if value is not None:
                    out.append((t.topology_key, value, wt.weight))
        for wt in pt.preferred_anti:
            t = wt.term
            if t.matches(pod, ns_labels):
                value = labels.get(t.topology_key)
                if value is not None:
                    out.append((t.topology_key, value, -wt.weight))
    return tuple(out) or None


@dataclass(slots=True)
class PreScoreState:
    """Topology scores for Score; read-only, so clones share it (upstream does the same)."""

    topology_score: Mapping[str, Mapping[str, int]]
    # the same scores by label code per topology key, valid for the label column they were
    # built from (``lut_columns[key]``)
    luts: dict[str, I64] = field(default_factory=dict)
    lut_columns: dict[str, object] = field(default_factory=dict)

    def clone(self) -> PreScoreState:
        return self


def score_labels(s: PreScoreState, labels: Labels) -> int:
    total = 0
    for key, values in s.topology_score.items():
        value = labels.get(key)
        if value is not None:
            total += values.get(value, 0)
    return total


def score_rows(s: PreScoreState, snapshot: Snapshot, rows: I64) -> I64:
    out = np.zeros(len(rows), dtype=np.int64)
    if len(rows) == 0:
        return out
    for key in s.topology_score:
        kc = snapshot.label_codes(key)
        lut = s.luts.get(key)
        if lut is None or s.lut_columns.get(key) is not kc.column:
            # Only then are the key's values read (and, for DomainCounts, named).
            lut = lut_of(s.topology_score[key], kc)
        out += lut[kc.codes[rows]]
    return out


def normalize(s: PreScoreState, scores: I64) -> None:
    """Min-max scaling to 0..100 with upstream's float64 arithmetic, in place."""
    if not s.topology_score or len(scores) == 0:
        return
    lo = int(scores.min())
    hi = int(scores.max())
    diff = hi - lo
    if diff <= 0:
        scores[:] = 0
        return
    scaled = float(MAX_NODE_SCORE) * ((scores - lo).astype(np.float64) / float(diff))
    scores[:] = scaled.astype(np.int64)
