"""PodTopologySpread: spread pods over topology domains (upstream podtopologyspread/plugin.go).

Contract (upstream v1.37 semantics; NodeInclusionPolicy, MatchLabelKeys and queueing hints are
GA there and always on here):
* The constraints of a pod are its own ``topologySpreadConstraints`` of the point's action
  (DoNotSchedule for PreFilter/Filter, ScheduleAnyway for PreScore/Score). A pod without any
  gets the args' default constraints, with the selector of its Services and controller
  (workloads.default_selector); no selector found means no default constraints.
* PreFilter returns Skip when the pod has no hard constraint, and an Error for a selector the
  API would reject. Filter, AddPod and RemovePod: filtering.py. PreScore returns Skip without
  nodes or soft constraints. Score and NormalizeScore: scoring.py.
* Parsed explicit constraints are memoized in ``PodInfo.memo[NAME]``; per-node match counts
  live in the plugin (common.PodCounts) and are refreshed per changed node, so a cycle costs a
  few numpy passes over the rows plus one recount per node that changed since the last pod.
* Queueing hints (upstream isSchedulableAfterPodChange / isSchedulableAfterNodeChange):
  an assigned pod of the same namespace (or the pod itself) added, deleted or relabelled such
  that a hard constraint's selector now matches differently, or the pod's own tolerations
  changed while a hard constraint honors taints; a node added or deleted that has every
  topology key, or updated so that it gains/loses a key, changes a key's value or its taints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    BatchFilterPlugin,
    BatchScorePlugin,
    EnqueueExtensions,
    FilterVerdict,
    Handle,
    NormalizeScorePlugin,
    PreFilterExtensions,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
)
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Status
from pyscheduler.framework.types import (
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    PodInfo,
    QueueingHint,
    Resource,
)
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod, TopologySpreadConstraint
from pyscheduler.plugins.pod_topology_spread.args import PodTopologySpreadArgs
from pyscheduler.plugins.pod_topology_spread.common import (
    DO_NOT_SCHEDULE,
    NAME,
    SCHEDULE_ANYWAY,
    Constraint,
    PodCounts,
    filter_constraints,
    node_labels_match,
    pod_labels_match,
)
from pyscheduler.plugins.pod_topology_spread.filtering import (
    PRE_FILTER_STATE_KEY,
    PreFilterState,
    compute_pre_filter_state,
)
from pyscheduler.plugins.pod_topology_spread.scoring import (
    PRE_SCORE_STATE_KEY,
    PreScoreState,
    compute_pre_score_state,
    normalize,
)
from pyscheduler.plugins.pod_topology_spread.selector import SelectorError
from pyscheduler.plugins.pod_topology_spread.workloads import default_selector

_ACTION_LABEL = {DO_NOT_SCHEDULE: "hard", SCHEDULE_ANYWAY: "soft"}


@dataclass(frozen=True, slots=True)
class _Explicit:
    """A pod version's own constraints, parsed (or the error parsing them raised)."""

    hard: list[Constraint] | None
    soft: list[Constraint] | None
    hard_error: str = ""
    soft_error: str = ""


def _parse(pod: Pod, action: str) -> tuple[list[Constraint] | None, str]:
    try:
        return filter_constraints(pod.spec.topology_spread_constraints, pod.metadata.labels,
                                  action), ""
    except SelectorError as err:
        return None, (f"obtaining pod's {_ACTION_LABEL[action]} topology spread constraints: "
                      f"{err}")


def _explicit(pod: PodInfo) -> _Explicit:
    memo = pod.memo.get(NAME)
    if not isinstance(memo, _Explicit):
        hard, hard_err = _parse(pod.pod, DO_NOT_SCHEDULE)
        soft, soft_err = _parse(pod.pod, SCHEDULE_ANYWAY)
        memo = _Explicit(hard, soft, hard_err, soft_err)
        pod.memo[NAME] = memo
    return memo


@dataclass(slots=True)
class PodTopologySpread:
    """PreFilter (+AddPod/RemovePod), Filter (batch), PreScore, Score (batch), NormalizeScore
    and EnqueueExtensions."""

    args: PodTopologySpreadArgs
    handle: Handle | None = None
    name: str = NAME
    default_constraints: list[TopologySpreadConstraint] = field(default_factory=list)
    system_defaulted: bool = False
    counter: PodCounts = field(default_factory=PodCounts)

    def __post_init__(self) -> None:
        self.args.validate()
        self.default_constraints, self.system_defaulted = self.args.constraints()

    # ---- constraints ------------------------------------------------------------------------
    def _defaults(self, pod: Pod, action: str) -> list[Constraint]:
        """buildDefaultConstraints: the defaults of this action with the workload selector."""
        constraints = filter_constraints(self.default_constraints, pod.metadata.labels, action)
        if not constraints:
            return []
        selector = default_selector(pod, self.handle)
        if selector.empty:
            return []
        return [Constraint(c.max_skew, c.topology_key, selector, c.min_domains,
                           c.node_affinity_policy, c.node_taints_policy) for c in constraints]

    def constraints(self, pod: PodInfo, action: str) -> list[Constraint]:
        """getConstraints for one action; raises SelectorError."""
        if pod.pod.spec.topology_spread_constraints:
            ex = _explicit(pod)
            got, err = (ex.hard, ex.hard_error) if action == DO_NOT_SCHEDULE else (ex.soft,
                                                                                    ex.soft_error)
            if got is None:
                raise SelectorError(err)
            return got
        return self._defaults(pod.pod, action)

    def _constraints_of(self, pod: Pod, action: str) -> list[Constraint]:
        """The same for a bare Pod (queueing hints), without memoizing."""
        if pod.spec.topology_spread_constraints:
            got, err = _parse(pod, action)
            if got is None:
                raise SelectorError(err)
            return got
        return self._defaults(pod, action)

    # ---- filter -----------------------------------------------------------------------------
    def pre_filter(self, state: CycleState, pod: PodInfo,
                   snapshot: Snapshot) -> tuple[PreFilterResult | None, Status | None]:
        """Count the matching pods of every eligible domain once for this cycle."""
        try:
            constraints = self.constraints(pod, DO_NOT_SCHEDULE)
        except SelectorError as err:
            return None, Status.as_error(ValueError(f"get constraints from pod: {err}"), NAME)
        if not constraints:
            return None, Status.skip()
        state.write(PRE_FILTER_STATE_KEY, compute_pre_filter_state(
            constraints, pod, snapshot, self.counter))
        return None, None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return self

    @staticmethod
    def _pre_filter_state(state: CycleState) -> PreFilterState | Status:
        s = state.get(PRE_FILTER_STATE_KEY)
        if isinstance(s, PreFilterState):
            return s
        return Status.as_error(KeyError(f"reading {PRE_FILTER_STATE_KEY!r} from cycleState: "
                                        "not found"), NAME)

    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo,
                node_info: NodeInfo) -> Status | None:
        """Count pod_to_add in, as if it ran on node_info."""
        s = self._pre_filter_state(state)
        if isinstance(s, Status):
            return s
        s.update_with_pod(pod, pod_to_add, node_info, +1)
        return None

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo,
                   node_info: NodeInfo) -> Status | None:
        """Count pod_to_remove out, as if it were gone from node_info."""
        s = self._pre_filter_state(state)
        if isinstance(s, Status):
            return s
        s.update_with_pod(pod, pod_to_remove, node_info, -1)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """The node must have every topology key and keep each skew within maxSkew."""
        s = self._pre_filter_state(state)
        if isinstance(s, Status):
            return s
        if not s.domains:
            return None
        return s.filter_labels(node_info.labels)

    def filter_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                     rows: I64) -> FilterVerdict | None:
        """The same verdicts over many rows with numpy gathers."""
        s = self._pre_filter_state(state)
        if isinstance(s, Status):
            raise RuntimeError(s.message())
        if not s.domains or len(rows) == 0:
            return None
        return s.filter_rows(rows)

    # ---- score ------------------------------------------------------------------------------
    def pre_score(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                  rows: I64) -> Status | None:
        """Weights and per-domain counts of the soft constraints, once for this cycle."""
        if snapshot.num_nodes == 0:
            return Status.skip()
        try:
            constraints = self.constraints(pod, SCHEDULE_ANYWAY)
        except SelectorError as err:
            return Status.as_error(ValueError(f"calculating preScoreState: {err}"), NAME)
        if not constraints:
            return Status.skip()
        # Only non-system defaults require every topology key: nodes without a zone label
        # still get hostname spreading under the system defaults.
        require_all = bool(pod.pod.spec.topology_spread_constraints) or not self.system_defaulted
        state.write(PRE_SCORE_STATE_KEY, compute_pre_score_state(
            constraints, require_all, pod, snapshot, rows, self.counter))
        return None

    @staticmethod
    def _pre_score_state(state: CycleState) -> PreScoreState:
        s = state.get(PRE_SCORE_STATE_KEY)
        if not isinstance(s, PreScoreState):
            raise RuntimeError(f"error reading {PRE_SCORE_STATE_KEY!r} from cycleState: "
                               "not found")
        return s

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """The node's weighted matching-pod count (lower is better; -1 when ignored)."""
        return self._pre_score_state(state).score_node(node_info)

    def score_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                    rows: I64) -> I64:
        """The same raw scores over many rows."""
        return self._pre_score_state(state).score_rows(rows)

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: I64) -> None:
        """Fewer matching pods score higher; ignored nodes score 0."""
        normalize(scores)

    # ---- queueing hints ---------------------------------------------------------------------
    def events_to_register(self) -> list[ClusterEventWithHint]:
        """Assigned pods added/deleted/relabelled, the pod's tolerations; nodes added, deleted,
        relabelled or retainted."""
        return [
            ClusterEventWithHint(
                ClusterEvent(Resource.POD, ActionType.ADD | ActionType.UPDATE_POD_LABEL
                             | ActionType.UPDATE_POD_TOLERATION | ActionType.DELETE),
                self.is_schedulable_after_pod_change,
            ),
            ClusterEventWithHint(
                ClusterEvent(Resource.NODE, ActionType.ADD | ActionType.DELETE
                             | ActionType.UPDATE_NODE_LABEL | ActionType.UPDATE_NODE_TAINT),
                self.is_schedulable_after_node_change,
            ),
        ]

    def is_schedulable_after_pod_change(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """Queue when the change can move a hard constraint's counts (see contract)."""
        original: Pod | None = old
        modified: Pod | None = new
        if (modified is not None and not _involved(modified, pod)) or (
                original is not None and not _involved(original, pod)):
            return QueueingHint.SKIP
        constraints = self._constraints_of(pod, DO_NOT_SCHEDULE)  # raising means Queue
        if modified is not None and original is not None:
            if (pod.metadata.uid == modified.metadata.uid
                    and modified.spec.tolerations != original.spec.tolerations
                    and any(c.honors_taints for c in constraints)):
                return QueueingHint.QUEUE
            if modified.metadata.labels == original.metadata.labels:
                return QueueingHint.SKIP
            for c in constraints:
                if c.selector.matches(original.metadata.labels) != c.selector.matches(
                        modified.metadata.labels):
                    return QueueingHint.QUEUE
            return QueueingHint.SKIP
        if modified is not None:
            if pod_labels_match(constraints, modified.metadata.labels):
                return QueueingHint.QUEUE
            return QueueingHint.SKIP
        if original is not None and pod_labels_match(constraints, original.metadata.labels):
            return QueueingHint.QUEUE
        return QueueingHint.SKIP

    def is_schedulable_after_node_change(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """Queue when a node that has (or had) every topology key appears, goes or changes."""
        original: Node | None = old
        modified: Node | None = new
        constraints = self._constraints_of(pod, DO_NOT_SCHEDULE)  # raising means Queue
        original_ok = original is not None and node_labels_match(original.metadata.labels,
                                                                 constraints)
        modified_ok = modified is not None and node_labels_match(modified.metadata.labels,
                                                                 constraints)
        if original is not None and modified is not None:
            if original_ok != modified_ok:
                return QueueingHint.QUEUE
            if modified_ok and (
                any(original.metadata.labels.get(c.topology_key)
                    != modified.metadata.labels.get(c.topology_key) for c in constraints)
                or original.spec.taints != modified.spec.taints
            ):
                return QueueingHint.QUEUE
            return QueueingHint.SKIP
        if modified is not None:
            return QueueingHint.QUEUE if modified_ok else QueueingHint.SKIP
        return QueueingHint.QUEUE if original_ok else QueueingHint.SKIP


def _involved(incoming: Pod, pod: Pod) -> bool:
    """involvedInTopologySpreading: the pod itself, or an assigned pod of its namespace."""
    return incoming.metadata.uid == pod.metadata.uid or (
        bool(incoming.spec.node_name) and incoming.metadata.namespace == pod.metadata.namespace)


def new(args: PodTopologySpreadArgs | None, handle: Handle) -> PodTopologySpread:
    return PodTopologySpread(args if args is not None else PodTopologySpreadArgs(), handle)


SPEC = PluginSpec(NAME, new, PodTopologySpreadArgs, listers=(
    "services", "replicationcontrollers", "replicasets", "statefulsets"))


def _check(p: PodTopologySpread) -> tuple[PreFilterPlugin, PreFilterExtensions,
                                           BatchFilterPlugin, PreScorePlugin, BatchScorePlugin,
                                           NormalizeScorePlugin, EnqueueExtensions]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p, p, p, p, p
