"""Snapshot table bookkeeping the plugins rely on across cycles."""

from __future__ import annotations


def test_row_generations_and_node_generation_follow_the_cache() -> None:
    """row_generations mirrors each row's NodeInfo.generation (also after a swap-remove);
    node_generation moves on node changes only, not on pod churn."""
    from pyscheduler.cache.cache import SchedulerCache
    from pyscheduler.framework.types import PodInfo
    from pyscheduler.model.meta import ObjectMeta
    from pyscheduler.model.node import Node, NodeSpec, NodeStatus
    from pyscheduler.model.pod import Pod, PodSpec

    def node(name: str) -> Node:
        return Node(metadata=ObjectMeta(name=name),
                    spec=NodeSpec(), status=NodeStatus(allocatable={"cpu": "4", "pods": "10"}))

    cache = SchedulerCache()
    for n in ("a", "b", "c"):
        cache.add_node(node(n))
    t = cache.table

    def check() -> None:
        assert t.row_generations.tolist() == [i.generation for i in t.infos]

    check()
    ng = t.node_generation
    pod = Pod(metadata=ObjectMeta(name="p", namespace="d", uid="u1"), spec=PodSpec(node_name="a"))
    cache.assume_pod(PodInfo.of(pod), "a")
    check()
    assert t.node_generation == ng
    cache.update_node(node("b"), node("b"))
    check()
    assert t.node_generation != ng
    cache.remove_node(node("a"))  # "c" moves into a's row
    check()
