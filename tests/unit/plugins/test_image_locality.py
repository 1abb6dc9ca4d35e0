"""ImageLocality: upstream's image_locality_test.go table (scores per node, init containers,
spread scaling, thresholds), name normalization, and the incremental image index."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import msgspec
import pytest
from builders import FakeHandle, new_state, pod_info, scores_both
from test_volume_builders import vpod

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.model.node import Node
from pyscheduler.plugins.image_locality import (
    MB,
    ImageLocality,
    new,
    normalized_image_name,
)


def image_node(name: str, images: list[tuple[list[str], int]]) -> Node:
    return msgspec.convert({"metadata": {"name": name}, "status": {"images": [
        {"names": names, "sizeBytes": size} for names, size in images]}}, Node)


NODE_40_300_2000 = [(["gcr.io/40:latest", "gcr.io/40:v1", "gcr.io/40:v1"], 40 * MB),
                    (["gcr.io/300:latest", "gcr.io/300:v1"], 300 * MB),
                    (["gcr.io/2000:latest"], 2000 * MB)]
NODE_250_10 = [(["gcr.io/250:latest"], 250 * MB), (["gcr.io/10:latest", "gcr.io/10:v1"], 10 * MB)]
NODE_600_40_900 = [(["gcr.io/600:latest"], 600 * MB), (["gcr.io/40:latest"], 40 * MB),
                   (["gcr.io/900:latest"], 900 * MB)]
NODE_300_600_900 = [(["gcr.io/300:latest"], 300 * MB), (["gcr.io/600:latest"], 600 * MB),
                    (["gcr.io/900:latest"], 900 * MB)]
NODE_4000_30 = [(["gcr.io/4000:latest"], 4000 * MB), (["gcr.io/30:latest"], 30 * MB)]
NODE_20_30_40 = [(["gcr.io/20:latest"], 20 * MB), (["gcr.io/30:latest"], 30 * MB),
                 (["gcr.io/40:latest"], 40 * MB)]
NO_IMAGES: list[tuple[list[str], int]] = []

CASES: list[tuple[str, list[str], list[str], list[Any], list[int]]] = [
    # (name, containers, init containers, node image lists, want scores)
    ("two images spread on two nodes, prefer the larger image one",
     ["gcr.io/40", "gcr.io/250"], [], [NODE_40_300_2000, NODE_250_10], [0, 5]),
    ("two images on one node, prefer this node",
     ["gcr.io/40", "gcr.io/300"], [], [NODE_40_300_2000, NODE_250_10], [7, 0]),
    ("if exceed limit, use limit",
     ["gcr.io/10", "gcr.io/4000"], [], [NODE_4000_30, NODE_250_10], [100, 0]),
    ("if exceed limit, use limit (with node which has no images present)",
     ["gcr.io/10", "gcr.io/4000"], [], [NODE_4000_30, NODE_250_10, NO_IMAGES], [66, 0, 0]),
    ("pod with multiple large images, node2 is preferred",
     ["gcr.io/300", "gcr.io/600", "gcr.io/900"], [],
     [NODE_600_40_900, NODE_300_600_900, NO_IMAGES], [32, 36, 0]),
    ("pod with multiple small images",
     ["gcr.io/30", "gcr.io/40"], [], [NODE_20_30_40, NODE_4000_30], [1, 0]),
    ("include InitContainers: two images spread on two nodes, prefer the larger image one",
     ["gcr.io/30"], ["gcr.io/300"], [NODE_40_300_2000, NODE_20_30_40], [6, 0]),
]


def plugin(cache: SchedulerCache | None = None) -> ImageLocality:
    return new(None, FakeHandle(cache.snapshot) if cache is not None else FakeHandle())


@pytest.mark.parametrize(("name", "images", "init", "nodes", "want"), CASES,
                         ids=[c[0] for c in CASES])
def test_score(name: str, images: list[str], init: list[str], nodes: list[Any],
               want: list[int]) -> None:
    cache = SchedulerCache()
    for i, imgs in enumerate(nodes):
        cache.add_node(image_node(f"node{i + 1}", imgs))
    snap = cache.snapshot
    pl = plugin(cache)
    pi = pod_info(vpod(images=images, init_images=init))
    # per node first (it computes the cycle's counts), then batch on the same state
    got = scores_both(pl, new_state(), pi, snap)
    assert [got[f"node{i + 1}"] for i in range(len(nodes))] == want


def _digest(content: str) -> str:
    return "sha256:" + hashlib.sha256(content.encode()).hexdigest()


@pytest.mark.parametrize(("given", "want"), [
    ("root", "root:latest"),
    ("gcr.io:5000/root", "gcr.io:5000/root:latest"),
    ("root:tag", "root:tag"),
    ("root@" + _digest("root"), "root@" + _digest("root")),
    # Upstream does not rewrite registries: these stay as they are (its TODO).
    ("docker.io/library/nginx", "docker.io/library/nginx:latest"),
    ("nginx:1.25", "nginx:1.25"),
])
def test_normalized_image_name(given: str, want: str) -> None:
    assert normalized_image_name(given) == want


def test_per_node_and_batch_each_compute_the_cycle_counts() -> None:
    cache = SchedulerCache()
    cache.add_node(image_node("a", NODE_40_300_2000))
    cache.add_node(image_node("b", NODE_250_10))
    pi = pod_info(vpod(images=["gcr.io/40", "gcr.io/300"]))
    info = cache.snapshot.get("a")
    assert info is not None
    assert plugin(cache).score(new_state(), pi, info) == 7
    got = plugin(cache).score_nodes(new_state(), pi, cache.snapshot, cache.snapshot.all_rows())
    assert got.tolist() == [7, 0]
    # Without a handle there is no snapshot to count with: the per-node form scores 0.
    assert ImageLocality().score(new_state(), pi, info) == 0


def test_index_follows_node_updates_adds_and_removals() -> None:
    """The incremental index gives the same scores as a freshly built one after churn."""
    rng = random.Random(7)
    names = [f"img{i}" for i in range(8)]

    def random_node(n: str) -> Node:
        imgs = [([f"{x}:latest"], rng.choice([5, 30, 200, 900]) * MB)
                for x in rng.sample(names, rng.randint(0, 4))]
        return image_node(n, imgs)

    cache = SchedulerCache()
    for i in range(12):
        cache.add_node(random_node(f"n{i}"))
    pl = plugin(cache)
    for step in range(40):
        op = rng.random()
        live = list(cache.nodes)
        if op < 0.4 and live:
            n = rng.choice(live)
            cache.update_node(cache.nodes[n].node, random_node(n))
        elif op < 0.6 and len(live) > 1:
            n = rng.choice(live)
            node = cache.nodes[n].node
            assert node is not None
            cache.remove_node(node)
        else:
            cache.add_node(random_node(f"x{step}"))
        pi = pod_info(vpod(images=rng.sample(names, 2)))
        snap = cache.snapshot
        state = new_state()
        got = pl.score_nodes(state, pi, snap, snap.all_rows()).tolist()
        fresh = plugin(cache)
        assert got == fresh.score_nodes(new_state(), pi, snap, snap.all_rows()).tolist()
        assert got == [pl.score(state, pi, info) for info in snap.node_infos]


def test_equal_replacement_then_real_change() -> None:
    """A relist replaces node objects with equal copies; a later real change is still seen."""
    cache = SchedulerCache()
    a = image_node("a", [(["gcr.io/300:latest"], 300 * MB)])
    cache.add_node(a)
    cache.add_node(image_node("b", NO_IMAGES))
    pl = plugin(cache)
    pi = pod_info(vpod(images=["gcr.io/300"]))
    snap = cache.snapshot

    def scores() -> list[int]:
        return pl.score_nodes(new_state(), pi, snap, snap.all_rows()).tolist()

    assert scores() == [12, 0]
    copy = msgspec.convert(msgspec.to_builtins(a), Node)
    assert copy == a and copy is not a
    cache.update_node(a, copy)
    assert scores() == [12, 0]
    cache.update_node(copy, image_node("a", NO_IMAGES))
    cache.update_node(cache.nodes["b"].node, image_node("b", [(["gcr.io/300:latest"], 300 * MB)]))
    assert scores() == [0, 12]


def test_node_generation_lets_cycles_skip_the_row_pass() -> None:
    """The table's node_generation moves on node changes only: pod churn does not trigger a
    refresh of the image index; a node update does."""
    cache = SchedulerCache()
    a = image_node("a", [(["gcr.io/300:latest"], 300 * MB)])
    cache.add_node(a)
    cache.add_node(image_node("b", NO_IMAGES))
    pl = plugin(cache)
    pi = pod_info(vpod(images=["gcr.io/300"]))
    snap = cache.snapshot
    assert pl.score_nodes(new_state(), pi, snap, snap.all_rows()).tolist() == [12, 0]
    idx = pl._index
    assert idx is not None
    gen = idx._generation
    cache.assume_pod(pod_info(vpod("x", node="a")), "a")  # table.generation moves
    assert pl.score_nodes(new_state(), pi, snap, snap.all_rows()).tolist() == [12, 0]
    assert idx._generation == gen  # no refresh for pod churn
    cache.update_node(a, image_node("a", NO_IMAGES))  # node_generation moves
    assert pl.score_nodes(new_state(), pi, snap, snap.all_rows()).tolist() == [0, 0]
    assert idx._generation != gen
