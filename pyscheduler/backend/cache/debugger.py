"""The cache debugger (upstream backend/cache/debugger): compare the cache with the
informers, and dump it.

Contract: ``compare()`` lists assigned pods the cache misses, cache pods the informer lacks
(assumed pods aside: they are not in the informer as assigned yet), pods counted on a node
other than the informer's, and nodes missing on either side. ``dump()`` is the cache's dump
plus that comparison; it is what /debug/cache serves. Read-only: it never changes the cache.
"""

from __future__ import annotations

from typing import Any

import structlog

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.interfaces import Lister
from pyscheduler.model.meta import object_key

log = structlog.get_logger(__name__)


class CacheDebugger:
    """Upstream CacheComparer and CacheDumper over one cache and the pod and node listers."""

    def __init__(self, cache: SchedulerCache, pods: Lister, nodes: Lister) -> None:
        self.cache = cache
        self.pods = pods
        self.nodes = nodes

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

    def dump(self) -> dict[str, Any]:
        """The cache's dump plus its comparison with the informers."""
        out = self.cache.dump()
        out["comparison"] = self.compare()
        return out

    def log_comparison(self) -> None:
        """Log the comparison (a warning when they differ) and the dump."""
        diff = self.compare()
        if any(diff.values()):
            log.warning("cache mismatch", **diff)
        else:
            log.info("cache comparer: cache and informers agree",
                     pods=self.cache.pod_count, assumed=self.cache.assumed_count)
        log.info("cache dump", **self.cache.dump())
