"""The scheduler cache: nodes, the pods assigned to them, and pods assumed by the scheduler.

Contract (upstream pkg/scheduler/backend/cache):
* Keys are pod UIDs, never names: a pod deleted and re-created under the same name is two
  objects, and the old one is removed by its own delete event. A delete removes the UID from
  the node the cache holds it on, whatever node the deleted object (possibly a stale tombstone)
  names.
* ``assume_pod`` adds a pod to its chosen node before the bind is confirmed, so the next cycle
  sees the resources taken. ``forget_pod`` undoes it when binding fails. The informer's add of
  the bound pod *confirms* an assumed pod: it replaces the assumed copy in place (never counted
  twice). An assumed pod never expires on its own (upstream's TTL is 0): it stays until
  confirmed, forgotten, or deleted.
* A pod added by the informer for a node the cache does not know yet creates a "ghost"
  NodeInfo (node=None) that is not schedulable and holds the pods until the node arrives.
* Every mutation syncs the node's row in the columnar table; nothing is rebuilt per cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.snapshot import NodeTable, Snapshot
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _PodState:
    info: PodInfo
    node: str
    assumed: bool
    binding_finished: bool = False


@dataclass(frozen=True, slots=True)
class TakenPod:
    """A pod ``SchedulerCache.take_out`` removed: what ``put_back`` restores."""

    info: PodInfo
    node: str
    assumed: bool
    binding_finished: bool


class CacheError(Exception):
    """An inconsistency the caller should log (never crash the scheduler on it)."""


class SchedulerCache:
    def __init__(self) -> None:
        self.table = NodeTable()
        self.snapshot = Snapshot(self.table)
        self.nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, _PodState] = {}

    # ---- nodes ----------------------------------------------------------------------------
    def add_node(self, node: Node) -> NodeInfo:
        """Upstream AddNode: set the node on its NodeInfo (a ghost becomes real), sync."""
        name = node.metadata.name
        info = self.nodes.get(name)
        if info is None:
            info = NodeInfo(name)
            self.nodes[name] = info
        info.set_node(node)
        if info.row < 0:
            self.table.add(info)
        else:
            self.table.sync(info, topology_changed=True, node_changed=True)
        return info

    def update_node(self, old: Node | None, new: Node) -> NodeInfo:
        """Upstream UpdateNode: as add_node; topology bumps on labels, taints, unschedulable."""
        info = self.nodes.get(new.metadata.name)
        if info is None or info.node is None:
            return self.add_node(new)
        topo = (
            old is None
            or old.metadata.labels != new.metadata.labels
            or old.spec.taints != new.spec.taints
            or old.spec.unschedulable != new.spec.unschedulable
        )
        info.set_node(new)
        self.table.sync(info, topology_changed=topo, node_changed=True)
        return info

    def remove_node(self, node: Node) -> None:
        """Upstream RemoveNode: drop the node's row; a NodeInfo with pods stays a ghost."""
        name = node.metadata.name
        info = self.nodes.get(name)
        if info is None:
            return
        self.table.remove(info)
        info.node = None
        if not info.pods:
            del self.nodes[name]
        # else: keep the ghost until its pods are deleted (their deletes will come).

    # ---- pods -----------------------------------------------------------------------------
    def _node_info(self, name: str) -> NodeInfo:
        info = self.nodes.get(name)
        if info is None:
            info = NodeInfo(name)
            self.nodes[name] = info
        return info

    def _add_to_node(self, pi: PodInfo, node: str) -> None:
        info = self._node_info(node)
        info.add_pod(pi)
        self.table.sync(info)

    def _remove_from_node(self, uid: str, node: str) -> None:
        info = self.nodes.get(node)
        if info is None:
            return
        info.remove_pod(uid)
        if info.node is None and not info.pods:
            del self.nodes[node]
        else:
            self.table.sync(info)

    def assume_pod(self, pi: PodInfo, node: str) -> None:
        """Upstream AssumePod: count the pod on ``node`` now; CacheError if UID known."""
        if pi.uid in self._pods:
            raise CacheError(f"pod {pi.key} ({pi.uid}) is in the cache, so can't be assumed")
        self._add_to_node(pi, node)
        self._pods[pi.uid] = _PodState(pi, node, assumed=True)

    def finish_binding(self, uid: str) -> None:
        """Upstream FinishBinding: mark an assumed pod's bind done (it never expires)."""
        st = self._pods.get(uid)
        if st is not None and st.assumed:
            st.binding_finished = True

    def forget_pod(self, uid: str) -> None:
        """Upstream ForgetPod: undo assume_pod; a no-op unless the UID is assumed."""
        st = self._pods.get(uid)
        if st is None or not st.assumed:
            return
        self._remove_from_node(uid, st.node)
        del self._pods[uid]

    def is_assumed(self, uid: str) -> bool:
        """Upstream IsAssumedPod: assumed and not yet confirmed by the informer."""
        st = self._pods.get(uid)
        return st is not None and st.assumed

    def add_pod(self, pod: Pod) -> PodInfo:
        """An assigned pod from the informer: confirms an assumed pod or adds a new one."""
        pi = PodInfo.of(pod)
        node = pod.spec.node_name
        st = self._pods.get(pi.uid)
        if st is not None:
            # Confirmation (or a replay after relist): replace what was counted, in place.
            self._remove_from_node(pi.uid, st.node)
            if st.assumed and st.node != node:
                log.info("pod was assumed to a different node than it was bound to",
                         pod=pi.key, assumed=st.node, actual=node)
        self._add_to_node(pi, node)
        self._pods[pi.uid] = _PodState(pi, node, assumed=False)
        return pi

    def update_pod(self, old: Pod, new: Pod) -> PodInfo:
        """Upstream UpdatePod: ``new`` replaces whatever is counted for its UID."""
        return self.add_pod(new)

    def remove_pod(self, pod: Pod) -> PodInfo | None:
        """Remove the pod with ``pod``'s UID from wherever the cache counts it; the removed
        PodInfo, or None if the cache does not hold that UID.

        The cache's own record decides the node, never ``pod.spec.nodeName``: a delete that
        arrives as a tombstone carries the last state the informer saw, which may be
        "unassigned" for a pod bound (assumed here) while the watch was down."""
        uid = pod.metadata.uid
        st = self._pods.pop(uid, None)
        if st is None:
            return None
        if pod.spec.node_name != st.node:
            log.info("removing pod from the node the cache holds it on", pod=st.info.key,
                     cached_node=st.node, last_seen_node=pod.spec.node_name or None,
                     assumed=st.assumed)
        self._remove_from_node(uid, st.node)
        return st.info

    def take_out(self, pod: Pod) -> TakenPod | None:
        """``remove_pod`` for a what-if (group preemption's): also keeps where and how the pod
        was counted (assumed or not), for ``put_back``; None if the UID is not held."""
        st = self._pods.get(pod.metadata.uid)
        if st is None:
            return None
        taken = TakenPod(st.info, st.node, st.assumed, st.binding_finished)
        self.remove_pod(pod)
        return taken

    def put_back(self, taken: TakenPod) -> None:
        """Count a pod ``take_out`` removed again, exactly as it was (a what-if being undone).
        No-op if the UID is back."""
        pi = taken.info
        if pi.uid in self._pods:
            return
        self._add_to_node(pi, taken.node)
        self._pods[pi.uid] = _PodState(pi, taken.node, taken.assumed, taken.binding_finished)

    def get_pod(self, uid: str) -> PodInfo | None:
        """The PodInfo counted for this UID (assumed or confirmed), or None."""
        st = self._pods.get(uid)
        return None if st is None else st.info

    def pod_node(self, uid: str) -> str | None:
        """The node the cache counts this UID on, or None."""
        st = self._pods.get(uid)
        return None if st is None else st.node

    @property
    def pod_count(self) -> int:
        """Pods the cache counts, assumed ones included."""
        return len(self._pods)

    @property
    def assumed_count(self) -> int:
        """Assumed pods not yet confirmed by the informer (O(pods))."""
        return sum(1 for s in self._pods.values() if s.assumed)

    def dump(self) -> dict[str, Any]:
        """The cache's view for debugging (/debug/cache, SIGUSR2): per node, the summed
        requests and the allocatable resources (cpu in millicores, the rest in units) and pod
        keys; and the assumed pods."""
        nodes = {
            name: {
                "requested": {k: v for k, v in info.requested.items() if v},
                "allocatable": dict(info.allocatable),
                "pods": sorted(pi.key for pi in info.pods.values()),
                "schedulable": info.node is not None,
            }
            for name, info in sorted(self.nodes.items())
        }
        assumed = sorted(st.info.key for st in self._pods.values() if st.assumed)
        return {"nodes": nodes, "assumed": assumed, "pod_count": len(self._pods)}

    def pod_uids(self) -> dict[str, tuple[str, bool]]:
        """uid -> (node, assumed) for every pod the cache counts."""
        return {uid: (st.node, st.assumed) for uid, st in self._pods.items()}

    def update_snapshot(self) -> Snapshot:
        """The snapshot for the next cycle (a live view; see snapshot.py's contract)."""
        return self.snapshot
