"""NodeName: a pod that names a node (``spec.nodeName``) can only go there.

Contract (upstream nodename/node_name.go, queueing hints enabled): Filter rejects every node but
the named one, UnschedulableAndUnresolvable with "node(s) didn't match the requested node name";
a pod without ``spec.nodeName`` fits everywhere. pyscheduler adds a PreFilter that upstream does
not have: it narrows the candidate set to the named node (PreFilterResult) and returns Skip for
pods without a name, so the Filter never runs for them. The only visible difference is the
diagnosis for nodes left out by the narrowing, which the runtime reports as
"node(s) didn't satisfy plugin(s) [NodeName]" (upstream's wording for narrowed-out nodes).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    BatchFilterPlugin,
    EnqueueExtensions,
    Failure,
    FilterVerdict,
    Handle,
    PreFilterExtensions,
    PreFilterPlugin,
    PreFilterResult,
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
    Resource,
)

NAME = "NodeName"

ERR_REASON = "node(s) didn't match the requested node name"


def fits(pod: PodInfo, node_info: NodeInfo) -> bool:
    """Upstream Fits: no requested name, or the node is the one requested."""
    want = pod.pod.spec.node_name
    return not want or want == node_info.name


@dataclass(slots=True)
class NodeName:
    """PreFilter, Filter (batch) and EnqueueExtensions."""

    name: str = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo,
                   snapshot: Snapshot) -> tuple[PreFilterResult | None, Status | None]:
        """Narrow to the named node; Skip (no Filter) when the pod names none."""
        want = pod.pod.spec.node_name
        if not want:
            return None, Status.skip()
        return PreFilterResult({want}), None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return None

    def node_only_filter(self) -> bool:
        """Its verdict reads only the pod and the Node, and rejects as unresolvable."""
        return True

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """Reject every node but the named one."""
        if fits(pod, node_info):
            return None
        return Status.unresolvable(ERR_REASON, plugin=NAME)

    def filter_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                     rows: I64) -> FilterVerdict | None:
        """Only the named node's row passes."""
        want = pod.pod.spec.node_name
        if not want or len(rows) == 0:
            return None
        passed = rows == snapshot.table.index.get(want, -1)
        if passed.all():
            return None
        return FilterVerdict(passed, [Failure(ERR_REASON, ~passed,
                                              Code.UNSCHEDULABLE_AND_UNRESOLVABLE)])

    def events_to_register(self) -> list[ClusterEventWithHint]:
        """Only a new node can be the named one; no hint (always queue), as upstream."""
        return [ClusterEventWithHint(ClusterEvent(Resource.NODE, ActionType.ADD))]


def new(args: None, handle: Handle) -> NodeName:
    return NodeName()


SPEC = PluginSpec(NAME, new, None)


def _check(p: NodeName) -> tuple[PreFilterPlugin, BatchFilterPlugin, EnqueueExtensions]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p
