"""NodePorts: a pod's host ports must be free on the node.

Contract (upstream nodeports/node_ports.go and framework.HostPortInfo, queueing hints enabled):
* The pod's wanted ports are the ``hostPort > 0`` ports of its containers and of its
  restartable (sidecar) init containers (upstream util.GetHostPorts), with an empty host IP read
  as 0.0.0.0 and an empty protocol as TCP. PreFilter returns Skip for a pod without host ports,
  so the Filter never runs for it.
* A wanted ``(ip, protocol, port)`` conflicts with a used one of the same protocol and port when
  either side binds 0.0.0.0 or the IPs are equal. A conflict is Unschedulable ("node(s) didn't
  have free ports for the requested pod ports"): preemption can free the port.
* The batch form only looks at rows whose node has any used host port.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

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
    HostPort,
    PodInfo,
    QueueingHint,
    Resource,
    host_ports,
)
from pyscheduler.model.pod import Pod

NAME = "NodePorts"
PRE_FILTER_STATE_KEY = "PreFilter" + NAME

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"

DEFAULT_BIND_ALL_HOST_IP = "0.0.0.0"
DEFAULT_PROTOCOL = "TCP"


def check_conflict(used: dict[HostPort, int], want: HostPort) -> bool:
    """Upstream HostPortInfo.CheckConflict."""
    ip, proto, port = want
    if port <= 0:
        return False
    if ip == DEFAULT_BIND_ALL_HOST_IP:
        # 0.0.0.0 conflicts with the same protocol/port on any IP.
        return any(u_proto == proto and u_port == port for (_, u_proto, u_port) in used)
    return (DEFAULT_BIND_ALL_HOST_IP, proto, port) in used or (ip, proto, port) in used


def fits_ports(want: list[HostPort], used: dict[HostPort, int]) -> bool:
    return not any(check_conflict(used, w) for w in want)


@dataclass(frozen=True, slots=True)
class _PreFilterState:
    ports: list[HostPort]


@dataclass(slots=True)
class NodePorts:
    """PreFilter, Filter (batch) and EnqueueExtensions."""

    name: str = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo,
                   snapshot: Snapshot) -> tuple[PreFilterResult | None, Status | None]:
        """Record the wanted host ports; Skip when there are none."""
        ports = pod.host_ports
        if not ports:
            return None, Status.skip()
        state.write(PRE_FILTER_STATE_KEY, _PreFilterState(ports))
        return None, None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return None

    @staticmethod
    def _wanted(state: CycleState) -> list[HostPort] | Status:
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, _PreFilterState):
            return Status.as_error(RuntimeError(
                f'reading "{PRE_FILTER_STATE_KEY}" from cycleState: not found'), NAME)
        return s.ports

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """Reject the node when one of the wanted ports is taken."""
        want = self._wanted(state)
        if isinstance(want, Status):
            return want
        if fits_ports(want, node_info.used_ports):
            return None
        return Status.unschedulable(ERR_REASON, plugin=NAME)

    def filter_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                     rows: I64) -> FilterVerdict | None:
        """The same check, skipping nodes that use no host port at all."""
        want = self._wanted(state)
        if isinstance(want, Status):
            raise RuntimeError(want.message())
        infos = snapshot.node_infos
        # Protocol/port pairs first: a node only needs the full (IP-aware) check when it uses
        # one of the pod's ports at all, which is rare.
        wanted = {(proto, port) for _, proto, port in want}
        conflict = np.zeros(len(rows), dtype=np.bool_)
        for i, r in enumerate(rows.tolist()):
            used = infos[r].used_ports
            if not used:
                continue
            for _ip, proto, port in used:
                if (proto, port) in wanted:
                    conflict[i] = not fits_ports(want, used)
                    break
        if not conflict.any():
            return None
        return FilterVerdict(~conflict, [Failure(ERR_REASON, conflict, Code.UNSCHEDULABLE)])

    def events_to_register(self) -> list[ClusterEventWithHint]:
        """A deleted pod may free a port; a new node has all ports free."""
        return [
            ClusterEventWithHint(ClusterEvent(Resource.POD, ActionType.DELETE),
                                 self.is_schedulable_after_pod_deleted),
            ClusterEventWithHint(ClusterEvent(Resource.NODE, ActionType.ADD)),
        ]

    def is_schedulable_after_pod_deleted(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """Queue only when the deleted pod was placed (or nominated) and held a wanted port."""
        deleted: Pod = old
        if not deleted.spec.node_name and not deleted.status.nominated_node_name:
            return QueueingHint.SKIP
        # Upstream counts the deleted pod's regular containers' ports here.
        used: dict[HostPort, int] = {}
        for c in deleted.spec.containers:
            for p in c.ports:
                if p.host_port > 0:
                    hp = (p.host_ip or DEFAULT_BIND_ALL_HOST_IP, p.protocol or DEFAULT_PROTOCOL,
                          p.host_port)
                    used[hp] = used.get(hp, 0) + 1
        if not used:
            return QueueingHint.SKIP
        if fits_ports(host_ports(pod), used):
            return QueueingHint.SKIP
        return QueueingHint.QUEUE


def new(args: None, handle: Handle) -> NodePorts:
    return NodePorts()


SPEC = PluginSpec(NAME, new, None)


def _check(p: NodePorts) -> tuple[PreFilterPlugin, BatchFilterPlugin, EnqueueExtensions]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p
