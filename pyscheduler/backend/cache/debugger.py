"""The cache debugger (upstream backend/cache/debugger): compare the cache with the
informers, and dump the cache and the scheduling queue.

Contract: ``compare()`` lists assigned pods the cache misses, cache pods the informer lacks
(assumed pods aside: they are not in the informer as assigned yet), pods counted on a node
other than the informer's, and nodes missing on either side. ``dump()`` is the cache's dump
(each node with its requested and allocatable resources, its pods and the pods nominated to
it; the assumed pods), the queue's pending pods per sub-queue (activeQ, backoffQ,
unschedulablePods, gated pods included in the last as upstream counts them) with upstream's
summary line, and the comparison; it is what /debug/cache serves. ``log_comparison()`` is
upstream's SIGUSR2 handler: the comparison, then "Dump of cached NodeInfo" and "Dump of
scheduling queue" in the log. Read-only: it never changes the cache or the queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import structlog

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.interfaces import Lister
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.meta import object_key
from pyscheduler.model.pod import Pod

log = structlog.get_logger(__name__)


class QueueView(Protocol):
    """What the debugger reads from the scheduling queue (backend/queue's PriorityQueue)."""

    def pods_in_active_q(self) -> list[Pod]: ...

    def pods_in_backoff_q(self) -> list[Pod]: ...

    def unschedulable_pods(self) -> list[Pod]: ...

    def pending_pods(self) -> tuple[list[Pod], str]: ...

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]: ...


def pod_line(pod: Pod) -> dict[str, str]:
    """The fields upstream's dumper prints for a pod."""
    return {
        "name": pod.metadata.name,
        "namespace": pod.metadata.namespace,
        "uid": pod.metadata.uid,
        "phase": pod.status.phase,
        "nominatedNode": pod.status.nominated_node_name,
    }


def _pod_lines(pods: Sequence[Pod]) -> list[dict[str, str]]:
    return sorted((pod_line(p) for p in pods), key=lambda d: (d["namespace"], d["name"]))


class CacheDebugger:
    """Upstream CacheComparer and CacheDumper over one cache, the pod and node listers and
    the scheduling queue."""

    def __init__(self, cache: SchedulerCache, pods: Lister, nodes: Lister,
                 queue: QueueView) -> None:
        self.cache = cache
        self.pods = pods
        self.nodes = nodes
        self.queue = queue

    def compare(self) -> dict[str, list[str]]:
        """Differences between the informers and the cache (see the module contract)."""
        informer_pods = {p.metadata.uid: p for p in self.pods.list() if p.spec.node_name}
        cached = self.cache.pod_uids()
        missed = sorted(object_key(p.metadata) for uid, p in informer_pods.items()
                        if uid not in cached)
        redundant = sorted(uid for uid, (_, assumed) in cached.items()
                           if uid not in informer_pods and not assumed)
        moved = sorted(f"{object_key(p.metadata)}: informer {p.spec.node_name}, "
                       f"cache {cached[uid][0]}"
                       for uid, p in informer_pods.items()
                       if uid in cached and cached[uid][0] != p.spec.node_name)
        node_names = {n.metadata.name for n in self.nodes.list()}
        cache_nodes = {name for name, info in self.cache.nodes.items() if info.node is not None}
        return {
            "missed_pods": missed,
            "redundant_pods": redundant,
            "pods_on_other_node": moved,
            "missed_nodes": sorted(node_names - cache_nodes),
            "redundant_nodes": sorted(cache_nodes - node_names),
        }

    def dump_nodes(self) -> dict[str, Any]:
        """The cache's dump, each node with the pods nominated to it."""
        out = self.cache.dump()
        for name, node in out["nodes"].items():
            nominated = [pi.pod for pi in self.queue.nominated_pods_for_node(name)]
            node["nominated"] = _pod_lines(nominated)
        return out

    def dump_queue(self) -> dict[str, Any]:
        """The pending pods per sub-queue and upstream's summary line."""
        _, summary = self.queue.pending_pods()
        return {
            "summary": summary,
            "activeQ": _pod_lines(self.queue.pods_in_active_q()),
            "backoffQ": _pod_lines(self.queue.pods_in_backoff_q()),
            "unschedulablePods": _pod_lines(self.queue.unschedulable_pods()),
        }

    def dump(self) -> dict[str, Any]:
        """The cache's dump, the queue's and the comparison with the informers."""
        out = self.dump_nodes()
        out["queue"] = self.dump_queue()
        out["comparison"] = self.compare()
        return out

    def log_comparison(self) -> None:
        """Log the comparison (a warning when they differ), the cache and the queue."""
        diff = self.compare()
        if any(diff.values()):
            log.warning("cache mismatch", **diff)
        else:
            log.info("cache comparer: cache and informers agree",
                     pods=self.cache.pod_count, assumed=self.cache.assumed_count)
        log.info("Dump of cached NodeInfo", **self.dump_nodes())
        queue = self.dump_queue()
        log.info("Dump of scheduling queue", summary=queue.pop("summary"), **queue)
