"""Quota arithmetic and usage tracking, ported from scheduler-plugins elasticquota_test.go
(TestReserveResource, TestUnReserveResource, TestUsedOverMinWith, TestUsedOverMaxWith,
TestUsedOverMin, TestNewElasticQuotaInfo) and capacity_scheduling_test.go's pod event tests
(TestAddPod, TestDeletePod: here the cache is the source of the used figures)."""

from __future__ import annotations

import random

import pytest
from capacity_fixtures import MID, eq, mpod, node, vpod

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.namespace_usage import NamespaceUsage
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.elasticquota import ElasticQuota
from pyscheduler.plugins.capacity_scheduling.quota import QuotaBook, QuotaInfo, QuotaInfos

GPU = "nvidia.com/gpu"


def info(used: dict[str, int], min: dict[str, int] | None = None,
         max: dict[str, int] | None = None) -> QuotaInfo:
    return QuotaInfo("ns1", "ns1", dict(min or {}), None if max is None else dict(max),
                     dict(used))


def gpu_pod(name: str, ns: str, mem: int, milli_cpu: int, gpu: int) -> PodInfo:
    """makePod(name, ns, memReq, cpuReq, gpuReq, midPriority, name, "node-a")."""
    req: dict[str, str] = {}
    if mem:
        req["memory"] = str(mem)
    if milli_cpu:
        req["cpu"] = f"{milli_cpu}m"
    if gpu:
        req[GPU] = str(gpu)
    return PodInfo.of(vpod(name, namespace=ns, node="node-a", priority=MID,
                           requests=req or None, uid=name))


PODS = [("t1-p1", "ns1", 50, 1000, 1), ("t1-p2", "ns2", 100, 2000, 0), ("t1-p3", "ns2", 0, 0, 2)]


def test_reserve_resource() -> None:
    q = info({"cpu": 1000, "memory": 200, GPU: 2})
    for args in PODS:
        q.add_pod(gpu_pod(*args))
    assert q.used == {"cpu": 4000, "memory": 350, GPU: 5}


def test_unreserve_resource() -> None:
    pods = [gpu_pod(*a) for a in PODS]
    q = QuotaInfo("ns1", "ns1", {}, None, {"cpu": 4000, "memory": 200, GPU: 5},
                  {p.uid: ("node-a", p) for p in pods})
    for p in pods:
        q.remove_pod(p)
    assert q.used == {"cpu": 1000, "memory": 50, GPU: 2}


def test_add_and_remove_are_idempotent_per_pod() -> None:
    """Upstream's pod-key set: the dry runs add and remove the same pod more than once."""
    p = gpu_pod("a", "ns1", 10, 0, 0)
    q = info({})
    q.add_pod(p)
    q.add_pod(p)
    assert q.used == {"memory": 10}
    q.remove_pod(p)
    q.remove_pod(p)
    assert q.used == {}
    base = QuotaInfo("ns1", "ns1", {}, None, {"memory": 10}, {p.uid: ("node-a", p)})
    base.add_pod(p)
    assert base.used == {"memory": 10}
    c = base.clone()
    c.remove_pod(p)
    assert c.used == {} and base.used == {"memory": 10}


# Upstream's usedOverMinWith table. ``max`` names what the quota governs besides its min
# (quota.py's contract): upstream's rows assume every resource is governed, so the rows about
# a resource missing from min name it in max; the two rows after them are the departure.
ALL_MAX = {"cpu": 10**6, "memory": 10**6, GPU: 10**6}


@pytest.mark.parametrize(("used", "min", "max", "req", "want"), [
    # Sum Of PodRequest And Used Is Bigger Than Min
    ({"cpu": 4000, "memory": 200, GPU: 5}, {"cpu": 3000, "memory": 100, GPU: 5}, None,
     {"cpu": 1500, "memory": 100}, True),
    # Sum Of PodRequest And Used Is Not Bigger Than Min
    ({"cpu": 300, "memory": 100, GPU: 5}, {"cpu": 4000, "memory": 200, GPU: 5}, None,
     {"cpu": 100, "memory": 50}, False),
    # ElasticQuotaInfo Doesn't Have Min (nothing is guaranteed)
    ({"cpu": 3900, "memory": 100, GPU: 5}, None, ALL_MAX, {"cpu": 100, "memory": 100}, True),
    # Used And Min Don't Have GPU Value
    ({"cpu": 10, "memory": 10}, {"cpu": 3000, "memory": 100}, ALL_MAX,
     {"cpu": 10, "memory": 10, GPU: 5}, True),
    # EphemeralStorage
    ({"cpu": 10, "memory": 10, "ephemeral-storage": 10},
     {"cpu": 3000, "memory": 100, "ephemeral-storage": 100}, None,
     {"cpu": 10, "memory": 10, "ephemeral-storage": 10}, False),
    # Departure: a quota naming neither min nor max governs nothing; one naming only cpu and
    # memory does not judge a GPU request (upstream: True for both).
    ({"cpu": 3900, "memory": 100, GPU: 5}, None, None, {"cpu": 100, "memory": 100}, False),
    ({"cpu": 10, "memory": 10}, {"cpu": 3000, "memory": 100}, None,
     {"cpu": 10, "memory": 10, GPU: 5}, False),
])
def test_used_over_min_with(used: dict[str, int], min: dict[str, int] | None,
                            max: dict[str, int] | None, req: dict[str, int],
                            want: bool) -> None:
    assert (info(used, min, max).over_min_with(req) is not None) is want


@pytest.mark.parametrize(("used", "max", "req", "want"), [
    # Sum Of PodRequest And Used Is Bigger Than Max
    ({"cpu": 4000, "memory": 200, GPU: 5}, {"cpu": 4000, "memory": 200, GPU: 5},
     {"cpu": 100, "memory": 100}, True),
    # Sum Of PodRequest And Used Is Not Bigger Than Max
    ({"cpu": 3900, "memory": 100, GPU: 5}, {"cpu": 4000, "memory": 200, GPU: 5},
     {"cpu": 100, "memory": 100}, False),
    # ElasticQuotaInfo Doesn't Have Max
    ({"cpu": 3900, "memory": 100, GPU: 5}, None, {"cpu": 100, "memory": 100}, False),
    # Used And Max Don't Have GPU Value
    ({"cpu": 10, "memory": 10}, {"cpu": 3000, "memory": 100},
     {"cpu": 10, "memory": 10, GPU: 5}, False),
    # EphemeralStorage
    ({"cpu": 10, "memory": 10, "ephemeral-storage": 10},
     {"cpu": 3000, "memory": 100, "ephemeral-storage": 100},
     {"cpu": 10, "memory": 10, "ephemeral-storage": 100}, True),
])
def test_used_over_max_with(used: dict[str, int], max: dict[str, int] | None,
                            req: dict[str, int], want: bool) -> None:
    assert (info(used, max=max).over_max_with(req) is not None) is want


@pytest.mark.parametrize(("used", "min", "max", "want"), [
    ({"cpu": 4000, "memory": 200, GPU: 5}, {"cpu": 3000, "memory": 300, GPU: 5}, None, True),
    ({"cpu": 300, "memory": 100, GPU: 5}, {"cpu": 4000, "memory": 200, GPU: 5}, None, False),
    ({"cpu": 3900, "memory": 100, GPU: 5}, None, ALL_MAX, True),  # Doesn't Have Min
    ({"cpu": 300, "memory": 100, GPU: 5}, {"cpu": 4000, "memory": 200}, ALL_MAX,
     True),  # GPU not in min
    ({"ephemeral-storage": 100}, {"ephemeral-storage": 10}, None, True),
    # Departure (upstream: True for both): ungoverned resources never make a borrower.
    ({"cpu": 3900, "memory": 100, GPU: 5}, None, None, False),
    ({"cpu": 300, "memory": 100, GPU: 5}, {"cpu": 4000, "memory": 200}, None, False),
])
def test_used_over_min(used: dict[str, int], min: dict[str, int] | None,
                       max: dict[str, int] | None, want: bool) -> None:
    assert info(used, min, max).over_min() is want


def test_aggregated_used_over_min_with() -> None:
    infos = QuotaInfos({
        "ns1": QuotaInfo("ns1", "ns1", {"memory": 1000}, {"memory": 2000}, {"memory": 1800}),
        "ns2": QuotaInfo("ns2", "ns2", {"memory": 1000}, {"memory": 2000}, {"memory": 200}),
    })
    assert infos.aggregated_over_min_with({"memory": 500}) == "memory"
    assert infos.aggregated_over_min_with({"memory": 0, "cpu": 0}) is None


def test_totals_sum_each_resource_over_the_quotas_that_govern_it() -> None:
    """A cpu-only quota's memory use is not borrowed from the memory quotas' min."""
    infos = QuotaInfos({
        "mem": QuotaInfo("mem", "mem", {"memory": 1000}, None, {"memory": 400}),
        "cpu": QuotaInfo("cpu", "cpu", {"cpu": 4000}, None, {"cpu": 1000, "memory": 900}),
    })
    assert infos.totals() == ({"memory": 400, "cpu": 1000}, {"memory": 1000, "cpu": 4000})
    assert infos.aggregated_over_min_with({"memory": 500}) is None
    assert not infos["cpu"].over_min()


@pytest.mark.parametrize(("quota", "want_min", "want_max"), [
    (eq("ns1", min={"cpu": "100m", "memory": "10Mi"}, max={"cpu": "200m", "memory": "20Mi"}),
     {"cpu": 100, "memory": 10 * 2**20}, {"cpu": 200, "memory": 20 * 2**20}),
    (eq("ns1", min={"cpu": "100m", "memory": 1024}), {"cpu": 100, "memory": 1024}, None),
    (eq("ns1", max={"cpu": 1, "memory": "1Gi"}), {}, {"cpu": 1000, "memory": 2**30}),
    (eq("ns1"), {}, None),
])
def test_new_elastic_quota_info(quota: ElasticQuota, want_min: dict[str, int],
                                want_max: dict[str, int] | None) -> None:
    """Without max: no limit; without min: nothing guaranteed; int-or-string quantities."""
    infos = QuotaBook().build([quota], NamespaceUsage())
    assert infos["ns1"].min == want_min
    assert infos["ns1"].max == want_max
    assert infos["ns1"].used == {}


def test_invalid_quota_is_skipped_not_fatal() -> None:
    bad = eq("ns1", min={"cpu": "lots"})
    assert QuotaBook().build([bad, eq("ns2")], NamespaceUsage()).keys() == {"ns2"}


def test_one_quota_per_namespace_first_by_name() -> None:
    infos = QuotaBook().build([eq("ns1", name="b", max={"cpu": 1}),
                               eq("ns1", name="a", max={"cpu": 2})], NamespaceUsage())
    assert infos["ns1"].name == "a"


# ---- the used figures: rebuilt from the cache's pods ----------------------------------------


def test_usage_counts_bound_and_assumed_pods_and_gives_back_on_forget() -> None:
    """TestAddPod / TestDeletePod / TestReserve / TestUnreserve: every way a pod enters or
    leaves the cache moves the figures; an assumed pod counts, a forgotten one does not."""
    cache = SchedulerCache()
    for n in ("node-a", "node-b"):
        cache.add_node(node(n, {"memory": "1000"}))
    usage = NamespaceUsage()
    p1 = mpod("t1-p1", "ns1", 50, MID, "node-a")
    p2 = mpod("t1-p2", "ns1", 100, MID, "node-b")
    cache.add_pod(p1)
    usage.refresh(cache.snapshot)
    assert usage.used == {"ns1": {"memory": 50}}
    assumed = PodInfo.of(mpod("t1-p3", "ns2", 30, MID))
    cache.assume_pod(assumed, "node-a")
    cache.add_pod(p2)
    usage.refresh(cache.snapshot)
    assert usage.used == {"ns1": {"memory": 150}, "ns2": {"memory": 30}}
    cache.forget_pod(assumed.uid)
    cache.remove_pod(p1)
    usage.refresh(cache.snapshot)
    assert usage.used == {"ns1": {"memory": 100}}
    assert set(usage.pods["ns1"]) == {"t1-p2"}


def test_usage_follows_node_removal_and_matches_a_fresh_pass() -> None:
    rng = random.Random(7)
    cache = SchedulerCache()
    nodes = [node(f"n{i}", {"memory": "100000"}) for i in range(6)]
    for n in nodes:
        cache.add_node(n)
    usage = NamespaceUsage()
    live: dict[str, object] = {}
    for step in range(300):
        op = rng.random()
        if op < 0.6 or not live:
            name = f"p{step}"
            p = mpod(name, rng.choice(["a", "b", "c"]), rng.randint(1, 50), MID,
                     rng.choice(nodes).metadata.name)
            if cache.nodes[p.spec.node_name].node is not None:
                cache.add_pod(p)
                live[name] = p
        else:
            name = rng.choice(sorted(live))
            cache.remove_pod(live.pop(name))  # type: ignore[arg-type]
        if step == 150:
            cache.remove_node(nodes[0])
        if step % 7 == 0:
            usage.refresh(cache.snapshot)
    usage.refresh(cache.snapshot)
    fresh = NamespaceUsage()
    fresh.refresh(cache.snapshot)
    assert usage.used == fresh.used
    want: dict[str, dict[str, int]] = {}
    for ni in cache.snapshot.node_infos:
        for pi in ni.pods.values():
            ns = pi.pod.metadata.namespace
            want.setdefault(ns, {})
            want[ns]["memory"] = want[ns].get("memory", 0) + pi.requests["memory"]
    assert usage.used == want
