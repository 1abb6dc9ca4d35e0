"""Issue 16: the pod group cycle never leaves a partial group reserved (property test).

A SchedulerApp is built on an ApiClient that is never used: nothing is started, objects are
fed to its informer stores and handlers by hand, and cycles are run one at a time with
``try_pop``. Binding tasks are created but never complete (no API), so every placed member
stays assumed in the cache, the state the invariant is about.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes_asyncio.client import ApiClient, Configuration

from pyscheduler.config import parse_config
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.model.podgroup import (
    COSCHEDULING_POD_GROUPS,
    POD_GROUP_LABEL,
    CoschedulingPodGroup,
)
from pyscheduler.plugins.registry import default_registry
from pyscheduler.scheduler.scheduler import SchedulerApp

CONFIG = """apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: pyscheduler
  plugins:
    multiPoint:
      enabled:
      - name: Coscheduling
"""
_uids = itertools.count()


def node(name: str, cpu: int) -> Node:
    return msgspec.convert({
        "metadata": {"name": name, "uid": f"n-{name}"},
        "status": {"allocatable": {"cpu": str(cpu), "memory": "64Gi", "pods": "110"}},
    }, Node)


def member(group: str, i: int, cpu: str = "1") -> Pod:
    return msgspec.convert({
        "metadata": {"name": f"{group}-{i}", "namespace": "ns", "uid": f"u{next(_uids)}",
                     "labels": {POD_GROUP_LABEL: group}},
        "spec": {"schedulerName": "pyscheduler",
                 "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
        "status": {},
    }, Pod)


def group(name: str, min_member: int) -> CoschedulingPodGroup:
    return msgspec.convert({"metadata": {"name": name, "namespace": "ns"},
                            "spec": {"minMember": min_member}}, CoschedulingPodGroup)


class Harness:
    def __init__(self, config: str = CONFIG) -> None:
        reg = default_registry()
        self.client = ApiClient(Configuration(host="http://127.0.0.1:9"))
        self.app = SchedulerApp(self.client, parse_config(config, plugins=reg), registry=reg)
        self.app.reporter = _NullReporter()  # type: ignore[assignment]
        self.app.scheduler.reporter = self.app.reporter  # type: ignore[assignment]

    def add_node(self, n: Node) -> None:
        self.app.nodes.indexer.add(n)
        self.app.handlers._node_add(n)

    def add_group(self, g: CoschedulingPodGroup) -> None:
        self.app.listers[COSCHEDULING_POD_GROUPS].add(g)  # type: ignore[attr-defined]

    def add_pod(self, p: Pod) -> None:
        self.app.pods.indexer.add(p)
        self.app.handlers._pending_add(p)

    def run_cycles(self, check: Any) -> None:
        while (queued := self.app.queue.try_pop()) is not None:
            self.app.scheduler.schedule_one(queued)
            check()

    def assumed_by_group(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _uid, (_node, assumed) in self.app.cache.pod_uids().items():
            if assumed:
                pod = next(p for p in self.app.pods.indexer.list() if p.metadata.uid == _uid)
                name = pod.metadata.labels[POD_GROUP_LABEL]
                counts[name] = counts.get(name, 0) + 1
        return counts

    async def close(self) -> None:
        for t in list(self.app.scheduler.binding_tasks):
            t.cancel()
        await asyncio.gather(*self.app.scheduler.binding_tasks, return_exceptions=True)
        await self.client.close()


class _NullReporter:
    def scheduled(self, pod: Pod, node: str) -> None: ...
    def failed(self, pod: Pod, reason: str, message: str, nominated: str | None) -> None:
        self.last = message
    def forget(self, uid: str) -> None: ...
    def event(self, *args: Any, **kwargs: Any) -> None: ...


async def _play(nodes: list[int], groups: list[tuple[int, int]]) -> None:
    h = Harness()
    try:
        for i, cpu in enumerate(nodes):
            h.add_node(node(f"n{i}", cpu))
        minimum = {f"g{j}": m for j, (_, m) in enumerate(groups)}
        for name, m in minimum.items():
            h.add_group(group(name, m))
        # Interleaved creation, as in a real burst.
        for i in range(max(size for size, _ in groups)):
            for j, (size, _) in enumerate(groups):
                if i < size:
                    h.add_pod(member(f"g{j}", i))

        def check() -> None:
            for name, n in h.assumed_by_group().items():
                assert n >= minimum[name], (
                    f"group {name} holds {n} reservations, below its minimum {minimum[name]}")

        h.run_cycles(check)
        # Capacity is never exceeded, and a group that fits in what is left is not left out.
        free = sum(nodes) - sum(h.assumed_by_group().values())
        placed = h.assumed_by_group()
        for j, (_size, m) in enumerate(groups):
            name = f"g{j}"
            if name not in placed:
                assert m > free, (name, m, free, placed)
    finally:
        await h.close()


@settings(max_examples=60, deadline=None)
@given(nodes=st.lists(st.integers(1, 3), min_size=1, max_size=6),
       groups=st.lists(st.integers(1, 6).flatmap(
           lambda size: st.tuples(st.just(size), st.integers(1, size))), min_size=1, max_size=4))
def test_no_group_ever_holds_a_partial_reservation(nodes: list[int],
                                                   groups: list[tuple[int, int]]) -> None:
    asyncio.run(_play(nodes, groups))


def test_group_that_cannot_fit_reserves_nothing_and_says_why() -> None:
    async def go() -> None:
        h = Harness()
        try:
            for i in range(6):
                h.add_node(node(f"n{i}", 1))
            h.add_group(group("big", 8))
            for i in range(8):
                h.add_pod(member("big", i))
            h.run_cycles(lambda: None)
            assert h.assumed_by_group() == {}
            msg = h.app.reporter.last  # type: ignore[attr-defined]
            assert "6/8 members placeable" in msg and "Insufficient cpu" in msg, msg
            # Members are all back in the queue, none lost.
            pending, _ = h.app.queue.pending_pods()
            assert len(pending) == 8
        finally:
            await h.close()

    asyncio.run(go())


def test_members_wait_at_pre_enqueue_until_min_member_exist() -> None:
    async def go() -> None:
        h = Harness()
        try:
            h.add_node(node("n0", 8))
            h.add_group(group("g", 3))
            for i in range(2):
                h.add_pod(member("g", i))
            assert h.app.queue.try_pop() is None  # gated: only 2 of 3 exist
            h.add_pod(member("g", 2))
            h.run_cycles(lambda: None)
            assert h.assumed_by_group() == {"g": 3}
        finally:
            await h.close()

    asyncio.run(go())


def test_the_last_member_arriving_moves_its_siblings_held_at_pre_enqueue_to_active_q() -> None:
    # Upstream's UnscheduledPodAdd move (GenericWorkload on): the siblings do not wait in the
    # unschedulable pool for the group cycle to take them, where every cluster event would
    # run the gang's hints over them.
    async def go() -> None:
        h = Harness()
        try:
            assert h.app.queue.workload_events
            h.add_node(node("n0", 8))
            h.add_group(group("g", 3))
            pods = [member("g", i) for i in range(3)]
            for p in pods[:2]:
                h.add_pod(p)
            assert [h.app.queue.where(p.metadata.uid) for p in pods[:2]] == [
                "gated", "gated"]
            h.add_pod(pods[2])
            assert [h.app.queue.where(p.metadata.uid) for p in pods] == ["active"] * 3
        finally:
            await h.close()

    asyncio.run(go())
