"""Issue 16: a pod group left partly bound past its timeout gives its bound members back
(scheduler/podgroup_timeout.py). The timer itself is asyncio's; these tests check that the
group cycle arms and disarms it, and what firing it does (``expire``), with the API calls
recorded."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import msgspec

from pyscheduler.model.pod import Pod
from pyscheduler.model.podgroup import POD_GROUP_LABEL, CoschedulingPodGroup
from pyscheduler.scheduler.podgroup_timeout import PartialGroups
from tests.unit.scheduler.test_gang_cycle import Harness, node

_uids = itertools.count()


def member(i: int, *, node_name: str = "", owned: bool = True) -> Pod:
    meta: dict[str, Any] = {"name": f"g-{i}", "namespace": "ns", "uid": f"t{next(_uids)}",
                            "labels": {POD_GROUP_LABEL: "g"}}
    if owned:
        meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": "train",
                                    "uid": "job-uid", "controller": True}]
    return msgspec.convert({
        "metadata": meta,
        "spec": {"schedulerName": "pyscheduler", "nodeName": node_name,
                 "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]},
        "status": {"phase": "Running" if node_name else "Pending"},
    }, Pod)


class Recorder:
    def __init__(self) -> None:
        self.deleted: list[str] = []
        self.events: list[tuple[str, str, str, str]] = []

    async def delete_pod(self, pod: Pod) -> None:
        self.deleted.append(pod.metadata.name)

    def record_event(self, regarding: Pod, related: Pod | None, type_: str, reason: str,
                     action: str, note: str) -> None:
        self.events.append((regarding.metadata.name, type_, reason, note))


def _half_bound(h: Harness, nodes: int, *, owned: bool = True) -> None:
    for i in range(nodes):
        h.add_node(node(f"n{i}", 1))
    h.add_group(msgspec.convert({"metadata": {"name": "g", "namespace": "ns"},
                                 "spec": {"minMember": 6, "scheduleTimeoutSeconds": 30}},
                                CoschedulingPodGroup))
    for i in range(3):  # bound by a leader that then died
        p = member(i, node_name=f"n{i}", owned=owned)
        h.app.pods.indexer.add(p)
        h.app.handlers._assigned_add(p)
    for i in range(3, 6):
        h.add_pod(member(i, owned=owned))


def _partial(h: Harness) -> PartialGroups:
    groups = h.app.scheduler.partial_groups
    assert groups is not None
    return groups


def test_partly_bound_group_arms_one_clock_and_expiry_deletes_its_bound_members() -> None:
    async def go() -> None:
        h = Harness()
        try:
            _half_bound(h, 4)  # room for one more member only: 4/6
            rec = Recorder()
            groups = _partial(h)
            groups.client = rec
            h.run_cycles(lambda: None)
            assert len(groups) == 1
            fwk = h.app.scheduler.frameworks["pyscheduler"]
            pending = next(p for p in h.app.pods.indexer.list() if p.metadata.name == "g-3")
            deleting = groups.expire(fwk, pending)
            await asyncio.sleep(0)  # the deletions are tasks
            assert sorted(p.metadata.name for p in deleting) == ["g-0", "g-1", "g-2"]
            assert sorted(rec.deleted) == ["g-0", "g-1", "g-2"]
            assert sorted(e[0] for e in rec.events) == ["g-0", "g-1", "g-2"]
            _, type_, reason, note = rec.events[0]
            assert (type_, reason) == ("Warning", "PodGroupTimeout")
            assert note == ("PodGroup.scheduling.x-k8s.io ns/g: 3/6 members bound after the "
                            "group's timeout (30s); deleting the bound members so the group "
                            "holds nothing"), note
        finally:
            groups.cancel()
            await h.close()

    asyncio.run(go())


def test_members_without_an_owner_are_reported_not_deleted() -> None:
    async def go() -> None:
        h = Harness()
        try:
            _half_bound(h, 4, owned=False)
            rec = Recorder()
            groups = _partial(h)
            groups.client = rec
            h.run_cycles(lambda: None)
            fwk = h.app.scheduler.frameworks["pyscheduler"]
            pending = next(p for p in h.app.pods.indexer.list() if p.metadata.name == "g-3")
            assert groups.expire(fwk, pending) == []
            await asyncio.sleep(0)
            assert rec.deleted == []
            assert len(rec.events) == 3
            assert rec.events[0][3].endswith(
                "; this member has no owner to recreate it, so it is not deleted")
        finally:
            groups.cancel()
            await h.close()

    asyncio.run(go())


def test_a_group_completed_before_its_timeout_keeps_its_members() -> None:
    async def go() -> None:
        h = Harness()
        try:
            _half_bound(h, 6)  # room for the rest: the group cycle completes it
            rec = Recorder()
            groups = _partial(h)
            groups.client = rec
            h.run_cycles(lambda: None)
            assert len(groups) == 0  # never armed: the cycle scheduled the group
            assert h.assumed_by_group() == {"g": 3}
            fwk = h.app.scheduler.frameworks["pyscheduler"]
            pending = next(p for p in h.app.pods.indexer.list() if p.metadata.name == "g-3")
            # Firing anyway (a clock armed earlier) does nothing while binds are in flight.
            assert groups.expire(fwk, pending) == []
            assert rec.deleted == [] and rec.events == []
        finally:
            await h.close()

    asyncio.run(go())


def test_a_scheduled_group_stops_its_clock() -> None:
    async def go() -> None:
        h = Harness()
        try:
            _half_bound(h, 4)
            groups = _partial(h)
            groups.client = Recorder()
            h.run_cycles(lambda: None)
            assert len(groups) == 1
            for i in range(4, 6):  # room appears; the group completes
                h.add_node(node(f"n{i}", 1))
            h.app.queue.activate(p for p in h.app.pods.indexer.list() if not p.spec.node_name)
            h.run_cycles(lambda: None)
            assert h.assumed_by_group() == {"g": 3}
            assert len(groups) == 0
        finally:
            await h.close()

    asyncio.run(go())
