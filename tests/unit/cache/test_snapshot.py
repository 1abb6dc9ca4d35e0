"""Snapshot table bookkeeping the plugins rely on across cycles."""

from __future__ import annotations


def test_row_generations_and_node_generation_follow_the_cache() -> None:
    """row_generations mirrors each row's NodeInfo.generation (also after a swap-remove);
    node_generation moves on node changes only, not on pod churn."""
    from pyscheduler.backend.cache.cache import SchedulerCache
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


def test_label_codes_per_key_cached_until_labels_change() -> None:
    """Snapshot.label_codes: one code per distinct value (None = absent), go_codes give absent
    rows the code of "", the same object until a node's labels change."""
    from pyscheduler.backend.cache.cache import SchedulerCache
    from pyscheduler.model.meta import ObjectMeta
    from pyscheduler.model.node import Node, NodeSpec, NodeStatus

    def node(name: str, **labels: str) -> Node:
        return Node(metadata=ObjectMeta(name=name, labels=labels), spec=NodeSpec(),
                    status=NodeStatus(allocatable={"cpu": "4", "pods": "10"}))

    cache = SchedulerCache()
    for n in (node("a", zone="z1"), node("b"), node("c", zone=""), node("d", zone="z1")):
        cache.add_node(n)
    snap = cache.snapshot
    kc = snap.label_codes("zone")
    assert kc.values == ["z1", None, ""]
    assert kc.codes.tolist() == [0, 1, 2, 0]
    assert kc.absent == 1
    assert kc.go_codes.tolist() == [0, 2, 2, 0]
    assert kc.go_code("") == 2 and kc.go_code("z1") == 0 and kc.go_code("z9") is None
    assert kc.column is snap.label_column("zone")
    assert snap.label_codes("zone") is kc
    assert snap.label_codes("missing").absent == 0
    cache.update_node(node("b"), node("b", zone="z2"))
    again = snap.label_codes("zone")
    assert again is not kc
    assert again.values == ["z1", "z2", ""] and again.absent == -1
    assert again.go_codes is again.codes
