"""Pods nominated to run on nodes (upstream backend/queue/nominator.go).

Contract:
* A nomination says "this pending pod is expected to land on node N once preemption victims
  are gone"; the scheduler counts nominated pods of equal or higher priority when filtering
  node N for other pods. Nominations are keyed by pod UID; a pod has at most one.
* ``add_nominated_pod(pod_info, node_name=None)``: ``node_name=None`` takes the pod's own
  ``status.nominatedNodeName`` (upstream ModeNoop, used when a pod enters the queue);
  a string overrides it (ModeOverride, e.g. a PostFilter result), and ``""`` clears the
  nomination. If a ``pod_lookup`` is configured, a pod that no longer exists or is already
  bound is not nominated (upstream checks the pod lister the same way).
* ``update_nominated_pod(old_pod, new_pod_info)``: refreshes the stored PodInfo. If neither the
  old nor the new object carries ``status.nominatedNodeName`` the in-memory nomination is kept:
  the update is likely an informer event that predates our own status patch. If the update
  adds, changes or removes the field, the new object's value wins.
* ``delete_nominated_pod_if_exists(pod)`` forgets the pod's nomination (pod deleted or bound).
* ``nominated_pods_for_node(node)`` returns a new list, in nomination order.
Not thread-safe: like the queue, it is used from the scheduler's event loop only.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from pyscheduler.framework.types import PodInfo
from pyscheduler.model.pod import Pod

log = structlog.get_logger(__name__)

# (namespace/name key, uid) -> the current Pod as the informer sees it, or None if gone.
PodLookup = Callable[[str, str], Pod | None]


class Nominator:
    __slots__ = ("_by_node", "_node_of", "_pod_lookup")

    def __init__(self, pod_lookup: PodLookup | None = None) -> None:
        self._pod_lookup = pod_lookup
        # node name -> {uid: PodInfo}; dicts keep insertion order, which is nomination order.
        self._by_node: dict[str, dict[str, PodInfo]] = {}
        self._node_of: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._node_of)

    def add_nominated_pod(self, pod_info: PodInfo, node_name: str | None = None) -> None:
        """Nominate the pod to ``node_name`` (None: to its status.nominatedNodeName)."""
        # Never store two nominations for one pod.
        self._delete(pod_info.uid)
        node = pod_info.pod.status.nominated_node_name if node_name is None else node_name
        if not node:
            return
        if self._pod_lookup is not None:
            current = self._pod_lookup(pod_info.key, pod_info.uid)
            if current is None or current.metadata.uid != pod_info.uid:
                log.debug("pod is gone; not nominating", pod=pod_info.key)
                return
            if current.spec.node_name:
                log.debug("pod is already bound; not nominating", pod=pod_info.key,
                          node=current.spec.node_name)
                return
        self._node_of[pod_info.uid] = node
        self._by_node.setdefault(node, {})[pod_info.uid] = pod_info

    def update_nominated_pod(self, old_pod: Pod, new_pod_info: PodInfo) -> None:
        """Follow a pod update, keeping an in-memory nomination the update does not know of."""
        node: str | None = None
        if (not old_pod.status.nominated_node_name
                and not new_pod_info.pod.status.nominated_node_name):
            # The only case where the in-memory nomination must survive: neither version has
            # the field, e.g. an update that raced with our own nominatedNodeName patch.
            node = self._node_of.get(old_pod.metadata.uid)
        self._delete(old_pod.metadata.uid)
        self.add_nominated_pod(new_pod_info, node)

    def delete_nominated_pod_if_exists(self, pod: Pod) -> None:
        """Upstream DeleteNominatedPodIfExists: drop the in-memory nomination."""
        self._delete(pod.metadata.uid)

    def nominated_node_name(self, uid: str) -> str | None:
        """The node this UID is nominated to in memory, or None."""
        return self._node_of.get(uid)

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        """Upstream NominatedPodsForNode: the node's pods (a copy), in nomination order."""
        pods = self._by_node.get(node_name)
        return list(pods.values()) if pods else []

    def nominated_nodes(self) -> list[str]:
        """Nodes that have at least one nominated pod (filtering re-checks only these)."""
        return list(self._by_node)

    def _delete(self, uid: str) -> None:
        node = self._node_of.pop(uid, None)
        if node is None:
            return
        pods = self._by_node.get(node)
        if pods is not None:
            pods.pop(uid, None)
            if not pods:
                del self._by_node[node]
