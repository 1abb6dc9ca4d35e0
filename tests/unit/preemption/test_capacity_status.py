"""The ElasticQuota status writer (scheduler/quota_status.py): figures from the cache's pods,
zero-filled for min/max resources, one patch only when the observed status differs."""

from __future__ import annotations

from typing import Any

import msgspec
from capacity_fixtures import MID, eq, mpod, node

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.types import PodInfo
from pyscheduler.informers.indexer import Indexer
from pyscheduler.model.elasticquota import ElasticQuota
from pyscheduler.scheduler.quota_status import QuotaStatusWriter, desired_used


class RecordingDispatcher:
    def __init__(self) -> None:
        self.patches: list[tuple[str, str, str, dict[str, Any]]] = []

    def patch_status(self, path: str, patch: dict[str, Any]) -> None:
        """framework.StatusClient; records (namespace, name, the patch's UID, patch)."""
        parts = path.split("/")
        assert parts[1:4] == ["apis", "scheduling.x-k8s.io", "v1alpha1"], path
        assert parts[6] == "elasticquotas" and parts[8] == "status", path
        self.patches.append((parts[5], parts[7], patch["metadata"]["uid"], patch))


def with_status(q: ElasticQuota, used: dict[str, str]) -> ElasticQuota:
    obj = msgspec.to_builtins(q)
    obj["status"] = {"used": used}
    return msgspec.convert(obj, ElasticQuota)


def test_desired_used_zero_fills_min_and_max_resources() -> None:
    q = eq("ns1", min={"cpu": 1}, max={"memory": "1Gi"})
    assert desired_used(q, {"cpu": 500, "nvidia.com/gpu": 1}) == {
        "cpu": 500, "memory": 0, "nvidia.com/gpu": 1}


def test_writer_patches_only_what_differs_and_counts_assumed_pods() -> None:
    cache = SchedulerCache()
    cache.add_node(node("n0", {"cpu": "8", "memory": "8Gi"}))
    cache.add_pod(mpod("a", "ns1", 2**30, MID, "n0", cpu="1500m"))
    cache.assume_pod(PodInfo.of(mpod("b", "ns1", 0, MID, cpu="500m")), "n0")
    quotas: Indexer[ElasticQuota] = Indexer()
    q1 = eq("ns1", min={"cpu": 1}, max={"cpu": 4, "memory": "4Gi"})
    q2 = with_status(eq("ns2", min={"cpu": 1}), {"cpu": "0"})
    quotas.add(q1)
    quotas.add(q2)
    d = RecordingDispatcher()
    w = QuotaStatusWriter(lambda: cache.snapshot, quotas, d, period=1)  # type: ignore[arg-type]
    assert w.sync_once() == 1
    ns, name, uid, patch = d.patches[0]
    assert (ns, name, uid) == ("ns1", "ns1", q1.metadata.uid)
    assert patch == {"metadata": {"uid": q1.metadata.uid},
                     "status": {"used": {"cpu": "2", "memory": "1Gi"}}}
    # once the informer shows that status, nothing more is written
    quotas.update(with_status(q1, {"cpu": "2000m", "memory": "1073741824"}))
    assert w.sync_once() == 0
    # a failed bind gives the assumed pod's share back
    cache.forget_pod("b")
    w.sync_once()
    assert d.patches[-1][3]["status"]["used"] == {"cpu": "1500m", "memory": "1Gi"}


def test_stale_status_is_overwritten_from_the_pods() -> None:
    cache = SchedulerCache()
    cache.add_node(node("n0", {"cpu": "8"}))
    quotas: Indexer[ElasticQuota] = Indexer()
    quotas.add(with_status(eq("ns1", min={"cpu": 1}), {"cpu": "7", "memory": "bogus"}))
    d = RecordingDispatcher()
    w = QuotaStatusWriter(lambda: cache.snapshot, quotas, d)  # type: ignore[arg-type]
    assert w.sync_once() == 1
    assert d.patches[0][3]["status"]["used"] == {"cpu": "0"}
