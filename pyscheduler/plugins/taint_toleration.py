"""TaintToleration: keep pods off nodes with NoSchedule/NoExecute taints they do not tolerate,
and prefer nodes with fewer untolerated PreferNoSchedule taints.

Contract (upstream tainttoleration/taint_toleration.go, queueing hints enabled):
* Filter: a node with a NoSchedule or NoExecute taint that none of the pod's tolerations
  tolerates is UnschedulableAndUnresolvable with the reason "node(s) had untolerated taint(s)".
  Upstream dropped the taint's key and value from this message (kubernetes#134740, in 1.35 and
  backported to 1.34): taints can carry sensitive data and pod status is widely readable.
* Score: the number of PreferNoSchedule taints not tolerated by the pod's tolerations whose
  effect is PreferNoSchedule or empty; NormalizeScore reverses it (fewest taints -> 100).
* The batch forms look at each distinct *taint set* once per pod: nodes are grouped by their
  taints (an index rebuilt only when the snapshot's topology generation changes), the verdict
  is computed per group in Python and spread to rows with one numpy gather. Rows whose node has
  no NoSchedule/NoExecute taint pass the filter without any Python work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    BatchFilterPlugin,
    BatchScorePlugin,
    EnqueueExtensions,
    Failure,
    FilterExplainer,
    FilterVerdict,
    Handle,
    NormalizeScorePlugin,
    PreScorePlugin,
)
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.snapshot import NodeTable, Snapshot
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import (
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    PodInfo,
    QueueingHint,
    Resource,
)
from pyscheduler.model.node import Node, Taint
from pyscheduler.model.pod import Pod, Toleration
from pyscheduler.model.taints import (
    NO_EXECUTE,
    NO_SCHEDULE,
    PREFER_NO_SCHEDULE,
    find_untolerated,
    tolerated,
)
from pyscheduler.plugins.helper import default_normalize_score

NAME = "TaintToleration"
PRE_SCORE_STATE_KEY = "PreScore" + NAME

ERR_REASON_UNTOLERATED = "node(s) had untolerated taint(s)"
# Upstream's exported (now unused) generic reason, kept for callers that match on it.
ERR_REASON_NOT_MATCH = "node(s) had taints that the pod didn't tolerate"

DO_NOT_SCHEDULE_EFFECTS = (NO_SCHEDULE, NO_EXECUTE)


def _untolerated(taints: list[Taint], tolerations: list[Toleration]) -> bool:
    return find_untolerated(taints, tolerations, DO_NOT_SCHEDULE_EFFECTS) is not None


def count_intolerable_prefer_no_schedule(taints: list[Taint],
                                         tolerations: list[Toleration]) -> int:
    return sum(1 for t in taints if t.effect == PREFER_NO_SCHEDULE
               and not tolerated(t, tolerations))


def prefer_no_schedule_tolerations(tolerations: list[Toleration]) -> list[Toleration]:
    """Tolerations that can tolerate a PreferNoSchedule taint (empty effect means all)."""
    return [t for t in tolerations if t.effect in ("", PREFER_NO_SCHEDULE)]


@dataclass(slots=True)
class _TaintIndex:
    """Rows grouped by identical taint lists; group 0 is "no taints"."""

    table: NodeTable
    generation: int
    codes: I64
    groups: list[list[Taint]]


def _build_index(table: NodeTable) -> _TaintIndex:
    ids: dict[tuple[tuple[str, str, str], ...], int] = {(): 0}
    groups: list[list[Taint]] = [[]]
    codes = np.zeros(table.n, dtype=np.int64)
    for row, info in enumerate(table.infos):
        taints = info.node.spec.taints if info.node is not None else []
        if not taints:
            continue
        key = tuple((t.key, t.value, t.effect) for t in taints)
        gid = ids.get(key)
        if gid is None:
            gid = len(groups)
            ids[key] = gid
            groups.append(list(taints))
        codes[row] = gid
    return _TaintIndex(table, table.topology_generation, codes, groups)


@dataclass(slots=True)
class _PreScoreState:
    tolerations: list[Toleration]


@dataclass(slots=True)
class TaintToleration:
    """Filter (batch), PreScore, Score (batch), NormalizeScore and EnqueueExtensions."""

    name: str = NAME
    _index: _TaintIndex | None = field(default=None, init=False, repr=False)

    def _taint_index(self, snapshot: Snapshot) -> _TaintIndex:
        t = snapshot.table
        idx = self._index
        if idx is None or idx.table is not t or idx.generation != t.topology_generation:
            idx = _build_index(t)
            self._index = idx
        return idx

    # ---- filter ---------------------------------------------------------------------------
    def node_only_filter(self) -> bool:
        """Its verdict reads only the pod and the Node, and rejects as unresolvable."""
        return True

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """Reject a node with a NoSchedule/NoExecute taint the pod does not tolerate."""
        node = node_info.node
        if node is None:
            return Status.as_error(RuntimeError("node not found"), NAME)
        if _untolerated(node.spec.taints, pod.pod.spec.tolerations):
            return Status.unresolvable(ERR_REASON_UNTOLERATED, plugin=NAME)
        return None

    def explain_filter(self, state: CycleState, pod: PodInfo,
                       node_info: NodeInfo) -> str | None:
        """The first taint the pod would have to tolerate (--explain)."""
        node = node_info.node
        if node is None:
            return None
        t = find_untolerated(node.spec.taints, pod.pod.spec.tolerations,
                             DO_NOT_SCHEDULE_EFFECTS)
        if t is None:
            return None
        value = f"={t.value}" if t.value else ""
        return f"it tolerated taint {t.key}{value}:{t.effect}"

    def filter_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                     rows: I64) -> FilterVerdict | None:
        """Untainted rows pass as a block; each distinct taint set is checked once."""
        if len(rows) == 0 or not snapshot.table.tainted[snapshot.row_index(rows)].any():
            return None
        idx = self._taint_index(snapshot)
        tolerations = pod.pod.spec.tolerations
        lut = np.fromiter((_untolerated(g, tolerations) for g in idx.groups),
                          dtype=np.bool_, count=len(idx.groups))
        fail = lut[idx.codes[rows]]
        if not fail.any():
            return None
        return FilterVerdict(~fail, [Failure(ERR_REASON_UNTOLERATED, fail,
                                             Code.UNSCHEDULABLE_AND_UNRESOLVABLE)])

    # ---- score ----------------------------------------------------------------------------
    def pre_score(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                  rows: I64) -> Status | None:
        """Keep the tolerations that matter for PreferNoSchedule taints."""
        state.write(PRE_SCORE_STATE_KEY,
                    _PreScoreState(prefer_no_schedule_tolerations(pod.pod.spec.tolerations)))
        return None

    @staticmethod
    def _tolerations(state: CycleState, pod: PodInfo) -> list[Toleration]:
        s = state.get(PRE_SCORE_STATE_KEY)
        if isinstance(s, _PreScoreState):
            return s.tolerations
        return prefer_no_schedule_tolerations(pod.pod.spec.tolerations)

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """The number of the node's PreferNoSchedule taints the pod does not tolerate."""
        node = node_info.node
        if node is None:
            return 0
        return count_intolerable_prefer_no_schedule(node.spec.taints,
                                                    self._tolerations(state, pod))

    def score_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                    rows: I64) -> I64:
        """The same count per row, computed once per distinct taint set."""
        idx = self._taint_index(snapshot)
        tolerations = self._tolerations(state, pod)
        lut = np.fromiter(
            (count_intolerable_prefer_no_schedule(g, tolerations) for g in idx.groups),
            dtype=np.int64, count=len(idx.groups),
        )
        result: I64 = lut[idx.codes[rows]]
        return result

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: I64) -> None:
        """Fewer untolerated taints score higher."""
        default_normalize_score(scores, reverse=True)

    # ---- queueing hints -------------------------------------------------------------------
    def events_to_register(self) -> list[ClusterEventWithHint]:
        """Node added or its taints changed; the pod's own tolerations changed."""
        return [
            ClusterEventWithHint(
                ClusterEvent(Resource.NODE, ActionType.ADD | ActionType.UPDATE_NODE_TAINT),
                self.is_schedulable_after_node_change,
            ),
            ClusterEventWithHint(
                ClusterEvent(Resource.POD, ActionType.UPDATE_POD_TOLERATION),
                self.is_schedulable_after_pod_toleration_change,
            ),
        ]

    def is_schedulable_after_node_change(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """Queue when the node went from untolerated (or absent) to tolerated."""
        tolerations = pod.spec.tolerations
        was_untolerated = True
        if old is not None:
            was_untolerated = _untolerated(old.spec.taints, tolerations)
        modified: Node = new
        if was_untolerated and not _untolerated(modified.spec.taints, tolerations):
            return QueueingHint.QUEUE
        return QueueingHint.SKIP

    def is_schedulable_after_pod_toleration_change(self, pod: Pod, old: Any,
                                                   new: Any) -> QueueingHint:
        """Only the rejected pod's own toleration change can help it."""
        modified: Pod = new
        if modified.metadata.uid == pod.metadata.uid:
            return QueueingHint.QUEUE
        return QueueingHint.SKIP


def new(args: None, handle: Handle) -> TaintToleration:
    return TaintToleration()


SPEC = PluginSpec(NAME, new, None)


def _check(p: TaintToleration) -> tuple[BatchFilterPlugin, PreScorePlugin, BatchScorePlugin,
                                         NormalizeScorePlugin, EnqueueExtensions,
                                         FilterExplainer]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p, p, p, p
