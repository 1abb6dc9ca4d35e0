"""NodeUnschedulable: keep pods off cordoned nodes (``spec.unschedulable``).

Contract (upstream nodeunschedulable/node_unschedulable.go, queueing hints enabled): a node
with ``spec.unschedulable`` is UnschedulableAndUnresolvable ("node(s) were unschedulable")
unless the pod tolerates the ``node.kubernetes.io/unschedulable:NoSchedule`` taint. The batch
form reads the table's ``unschedulable`` column: one mask, no per-node work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    BatchFilterPlugin,
    EnqueueExtensions,
    Failure,
    FilterVerdict,
    Handle,
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
from pyscheduler.model.node import Node, Taint
from pyscheduler.model.pod import Pod, Toleration
from pyscheduler.model.taints import NO_SCHEDULE, tolerated

NAME = "NodeUnschedulable"

ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
# Upstream's exported reason for the old NodeUnknownCondition predicate (unused there too).
ERR_REASON_UNKNOWN_CONDITION = "node(s) had unknown conditions"

TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
_UNSCHEDULABLE_TAINT = Taint(key=TAINT_NODE_UNSCHEDULABLE, effect=NO_SCHEDULE)


def tolerates_unschedulable(tolerations: list[Toleration]) -> bool:
    """A pod tolerating the unschedulable taint also tolerates spec.unschedulable."""
    return tolerated(_UNSCHEDULABLE_TAINT, tolerations)


@dataclass(slots=True)
class NodeUnschedulable:
    """Filter (batch) and EnqueueExtensions."""

    name: str = NAME

    def node_only_filter(self) -> bool:
        """Its verdict reads only the pod and the Node, and rejects as unresolvable."""
        return True

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """Reject a cordoned node unless the pod tolerates it."""
        node = node_info.node
        if node is None:
            return Status.as_error(RuntimeError("node not found"), NAME)
        if node.spec.unschedulable and not tolerates_unschedulable(pod.pod.spec.tolerations):
            return Status.unresolvable(ERR_REASON_UNSCHEDULABLE, plugin=NAME)
        return None

    def filter_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                     rows: I64) -> FilterVerdict | None:
        """The table's unschedulable column is the failure mask."""
        if len(rows) == 0:
            return None
        cordoned = snapshot.table.unschedulable[snapshot.row_index(rows)]
        if not cordoned.any() or tolerates_unschedulable(pod.pod.spec.tolerations):
            return None
        return FilterVerdict(~cordoned, [Failure(ERR_REASON_UNSCHEDULABLE, cordoned,
                                                 Code.UNSCHEDULABLE_AND_UNRESOLVABLE)])

    def events_to_register(self) -> list[ClusterEventWithHint]:
        """Node added or uncordoned (reported as a taint update); the pod's tolerations."""
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
        """Queue when a schedulable node was added or a node was uncordoned."""
        modified: Node = new
        if modified.spec.unschedulable:
            return QueueingHint.SKIP
        if old is None or old.spec.unschedulable:
            return QueueingHint.QUEUE
        return QueueingHint.SKIP

    def is_schedulable_after_pod_toleration_change(self, pod: Pod, old: Any,
                                                   new: Any) -> QueueingHint:
        """Queue when the rejected pod itself now tolerates the unschedulable taint."""
        modified: Pod = new
        if modified.metadata.uid == pod.metadata.uid and tolerates_unschedulable(
            modified.spec.tolerations
        ):
            return QueueingHint.QUEUE
        return QueueingHint.SKIP


def new(args: None, handle: Handle) -> NodeUnschedulable:
    return NodeUnschedulable()


SPEC = PluginSpec(NAME, new, None)


def _check(p: NodeUnschedulable) -> tuple[BatchFilterPlugin, EnqueueExtensions]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p
