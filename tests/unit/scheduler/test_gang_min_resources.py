"""Issue 16: Coscheduling's PreFilter, minMember siblings and minResources (scheduler-plugins
PodGroupManager.PreFilter / CheckClusterResource)."""

from __future__ import annotations

import asyncio

import msgspec

from pyscheduler.model.podgroup import CoschedulingPodGroup
from tests.unit.scheduler.test_gang_cycle import Harness, member, node


def group(name: str, min_member: int, min_resources: dict[str, str]) -> CoschedulingPodGroup:
    return msgspec.convert({"metadata": {"name": name, "namespace": "ns"},
                            "spec": {"minMember": min_member,
                                     "minResources": min_resources}}, CoschedulingPodGroup)


def _run(nodes: list[int], min_member: int, min_resources: dict[str, str], size: int,
         cpu: str = "1") -> tuple[dict[str, int], str, int]:
    async def go() -> tuple[dict[str, int], str, int]:
        h = Harness()
        try:
            for i, c in enumerate(nodes):
                h.add_node(node(f"n{i}", c))
            h.add_group(group("g", min_member, min_resources))
            for i in range(size):
                h.add_pod(member("g", i, cpu))
            h.run_cycles(lambda: None)
            pending, _ = h.app.queue.pending_pods()
            return h.assumed_by_group(), getattr(h.app.reporter, "last", ""), len(pending)
        finally:
            await h.close()

    return asyncio.run(go())


def test_min_resources_beyond_free_capacity_rejects_the_group_and_names_the_gap() -> None:
    # 2 nodes of 2 cpu: 4 cpu free; the group asks for 6 although its members need only 2.
    assumed, msg, pending = _run([2, 2], 2, {"cpu": "6", "memory": "1Gi"}, 2)
    assert assumed == {}
    assert pending == 2
    assert "PodGroup ns/g: resource gap: map[cpu:2]" in msg, msg
    assert "0/2 members placeable" in msg, msg


def test_min_resources_within_free_capacity_schedules_the_group() -> None:
    assumed, _, _ = _run([2, 2], 2, {"cpu": "4"}, 2)
    assert assumed == {"g": 2}


def test_min_resources_counts_pods_as_min_member() -> None:
    # Enough cpu, but the pods resource (minMember) is not: 1 node with room for 110 pods
    # wants 200 pods.
    assumed, msg, _ = _run([8], 200, {"cpu": "1"}, 200, cpu="10m")
    assert assumed == {}
    assert "resource gap: map[pods:90]" in msg, msg


def test_min_resources_gap_lists_every_missing_resource_in_order() -> None:
    assumed, msg, _ = _run([1], 1, {"cpu": "1500m", "nvidia.com/gpu": "2"}, 1, cpu="100m")
    assert assumed == {}
    assert "resource gap: map[cpu:500m nvidia.com/gpu:2]" in msg, msg


def test_group_members_already_scheduled_count_as_free() -> None:
    async def go() -> None:
        h = Harness()
        try:
            h.add_node(node("n0", 4))
            # minResources equals the whole node: it only fits if the group's own assumed
            # members are counted as free, as CheckClusterResource removes them.
            h.add_group(group("g", 2, {"cpu": "4"}))
            for i in range(4):
                h.add_pod(member("g", i, "1"))
            h.run_cycles(lambda: None)
            assert h.assumed_by_group() == {"g": 4}
        finally:
            await h.close()

    asyncio.run(go())


def test_invalid_min_resources_quantity_is_reported_not_raised() -> None:
    assumed, msg, pending = _run([4], 1, {"cpu": "lots"}, 1)
    assert assumed == {}
    assert pending == 1
    assert "PodGroup ns/g: invalid minResources" in msg, msg


def test_pre_filter_rejects_when_siblings_vanish_below_min_member() -> None:
    async def go() -> None:
        h = Harness()
        try:
            h.add_node(node("n0", 8))
            h.add_group(group("g", 3, {}))
            pods = [member("g", i) for i in range(3)]
            for p in pods:
                h.add_pod(p)
            # One member is deleted after the others were queued, before the cycle.
            h.app.pods.indexer.delete(pods[2])
            queued = h.app.queue.try_pop()
            assert queued is not None
            fwk = h.app.scheduler.frameworks["pyscheduler"]
            from pyscheduler.framework.cycle_state import CycleState

            coscheduling = fwk.plugins["Coscheduling"]
            _, st = coscheduling.pre_filter(  # type: ignore[attr-defined]
                CycleState(), queued.pod_info, h.app.cache.update_snapshot())
            assert st is not None and st.code.name == "UNSCHEDULABLE_AND_UNRESOLVABLE"
            assert st.message() == (
                f"pre-filter pod {queued.pod_info.pod.metadata.name} cannot find enough "
                "sibling pods, current pods number: 2, minMember of group: 3")
        finally:
            await h.close()

    asyncio.run(go())
