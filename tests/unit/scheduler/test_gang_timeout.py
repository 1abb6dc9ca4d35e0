"""Issue 16: a pod group left partly bound past its timeout gives its bound members back
(scheduler/podgroup_timeout.py). The timer itself is asyncio's; these tests check that the
group cycle arms and disarms it, and what firing it does (``expire``), with the API calls
recorded."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, cast

import msgspec

from pyscheduler.framework.interfaces import GangPolicy, Handle, PartialClock
from pyscheduler.model.meta import rfc3339_seconds
from pyscheduler.model.pod import Pod
from pyscheduler.model.podgroup import (
    POD_GROUP_LABEL,
    POD_GROUPS,
    UPSTREAM,
    CoschedulingPodGroup,
    PodGroup,
)
from pyscheduler.plugins.gangscheduling.plugin import Gang
from pyscheduler.scheduler.podgroup_timeout import PartialGroups
from tests.unit.scheduler.test_gang_cycle import Harness, node

_uids = itertools.count()


def member(i: int, *, node_name: str = "", owned: bool = True, bound_at: str = "",
           upstream: bool = False) -> Pod:
    meta: dict[str, Any] = {"name": f"g-{i}", "namespace": "ns", "uid": f"t{next(_uids)}",
                            "labels": {} if upstream else {POD_GROUP_LABEL: "g"}}
    if owned:
        meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": "train",
                                    "uid": "job-uid", "controller": True}]
    status: dict[str, Any] = {"phase": "Running" if node_name else "Pending"}
    if bound_at:  # the API server's PodScheduled condition, set by the binding
        status["conditions"] = [{"type": "PodScheduled", "status": "True",
                                 "lastTransitionTime": bound_at}]
    spec: dict[str, Any] = {
        "schedulerName": "pyscheduler", "nodeName": node_name,
        "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}
    if upstream:
        spec["schedulingGroup"] = {"podGroupName": "g"}
    return msgspec.convert({"metadata": meta, "spec": spec, "status": status}, Pod)


class Recorder:
    def __init__(self) -> None:
        self.deleted: list[str] = []
        self.events: list[tuple[str, str, str, str]] = []

    async def delete_pod(self, pod: Pod) -> None:
        self.deleted.append(pod.metadata.name)

    def record_event(self, regarding: Pod, related: Pod | None, type_: str, reason: str,
                     action: str, note: str) -> None:
        self.events.append((regarding.metadata.name, type_, reason, note))


def _half_bound(h: Harness, nodes: int, *, owned: bool = True, pending: int = 3,
                status: dict[str, Any] | None = None, bound_at: str = "") -> None:
    for i in range(nodes):
        h.add_node(node(f"n{i}", 1))
    h.add_group(msgspec.convert({"metadata": {"name": "g", "namespace": "ns"},
                                 "spec": {"minMember": 6, "scheduleTimeoutSeconds": 30},
                                 "status": status or {}},
                                CoschedulingPodGroup))
    for i in range(3):  # bound by a leader that then died
        p = member(i, node_name=f"n{i}", owned=owned, bound_at=bound_at)
        h.app.pods.indexer.add(p)
        h.app.handlers._assigned_add(p)
    for i in range(3, 3 + pending):
        h.add_pod(member(i, owned=owned))


KEY = "scheduling.x-k8s.io/ns/g"
START = "2026-12-04T00:00:00Z"


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


def test_a_partly_bound_group_with_no_pending_member_is_found_by_the_sweep() -> None:
    # The rest of the group was deleted: no group cycle ever fails for it, yet its clock runs.
    async def go() -> None:
        h = Harness()
        try:
            _half_bound(h, 4, pending=0)
            rec = Recorder()
            groups = _partial(h)
            groups.client = rec
            groups.clock = lambda: rfc3339_seconds(START)
            h.run_cycles(lambda: None)
            assert len(groups) == 0  # nothing to pop: no cycle armed it
            assert groups.sweep(h.app.scheduler.frameworks, h.app.pods.indexer) == 1
            assert groups.deadline(KEY) == rfc3339_seconds(START) + 30  # first seen + 30 s
            fwk = h.app.scheduler.frameworks["pyscheduler"]
            bound = next(p for p in h.app.pods.indexer.list() if p.metadata.name == "g-0")
            deleting = groups.expire(fwk, bound)
            await asyncio.sleep(0)
            assert sorted(p.metadata.name for p in deleting) == ["g-0", "g-1", "g-2"]
            assert sorted(rec.deleted) == ["g-0", "g-1", "g-2"]
        finally:
            groups.cancel()
            await h.close()

    asyncio.run(go())


def test_the_clock_runs_from_schedule_start_time_so_a_restart_does_not_restart_it() -> None:
    async def go() -> None:
        h = Harness()
        try:
            # Bound an hour before the status says the round started: the later one counts.
            _half_bound(h, 4, pending=0, bound_at="2026-12-03T23:00:00Z",
                        status={"phase": "Scheduling", "scheduleStartTime": START})
            groups = _partial(h)
            groups.client = Recorder()
            groups.clock = lambda: rfc3339_seconds(START) + 1000  # long past
            groups.sweep(h.app.scheduler.frameworks, h.app.pods.indexer)
            assert groups.deadline(KEY) == rfc3339_seconds(START) + 30
            # A new process (a restart, another leader) gets the same deadline.
            again = PartialGroups(Recorder(), h.app.cache.is_assumed,
                                  clock=lambda: rfc3339_seconds(START) + 2000)
            again.sweep(h.app.scheduler.frameworks, h.app.pods.indexer)
            assert again.deadline(KEY) == rfc3339_seconds(START) + 30
            again.cancel()
        finally:
            groups.cancel()
            await h.close()

    asyncio.run(go())


def test_without_schedule_start_time_the_earliest_bind_starts_the_clock() -> None:
    async def go() -> None:
        h = Harness()
        try:
            _half_bound(h, 4, bound_at=START)
            groups = _partial(h)
            groups.client = Recorder()
            groups.clock = lambda: rfc3339_seconds(START) + 5
            h.run_cycles(lambda: None)  # the failed cycle checks the group at once
            assert groups.deadline(KEY) == rfc3339_seconds(START) + 30
        finally:
            groups.cancel()
            await h.close()

    asyncio.run(go())


def test_groups_past_scheduling_or_not_yet_seen_short_by_the_status_are_left_alone() -> None:
    async def go() -> None:
        for status in ({"phase": "Running", "running": 3},  # the controller has not caught up
                       {"phase": "Scheduling", "succeeded": 2}):  # members finished
            h = Harness()
            try:
                _half_bound(h, 4, pending=0, status=status)
                groups = _partial(h)
                groups.client = Recorder()
                assert groups.sweep(h.app.scheduler.frameworks, h.app.pods.indexer) == 0
                fwk = h.app.scheduler.frameworks["pyscheduler"]
                bound = next(p for p in h.app.pods.indexer.list() if p.metadata.name == "g-0")
                assert groups.expire(fwk, bound) == []
            finally:
                groups.cancel()
                await h.close()

    asyncio.run(go())


def test_the_sweep_stops_the_clock_of_a_group_that_is_whole_again_or_gone() -> None:
    async def go() -> None:
        h = Harness()
        try:
            _half_bound(h, 4, pending=0)
            groups = _partial(h)
            groups.client = Recorder()
            assert groups.sweep(h.app.scheduler.frameworks, h.app.pods.indexer) == 1
            for p in list(h.app.pods.indexer.list()):
                h.app.pods.indexer.delete(p)
            assert groups.sweep(h.app.scheduler.frameworks, h.app.pods.indexer) == 0
        finally:
            groups.cancel()
            await h.close()

    asyncio.run(go())


class _Listers:
    def __init__(self, group: PodGroup) -> None:
        self.group = group

    def lister(self, name: str) -> Any:
        assert name == POD_GROUPS
        return self

    def get_by_key(self, key: str) -> Any:
        return self.group if key == "ns/g" else None


def test_upstream_clock_runs_from_the_earliest_bind_until_initially_scheduled() -> None:
    def clock(conditions: list[dict[str, Any]]) -> PartialClock:
        g = msgspec.convert({"metadata": {"name": "g", "namespace": "ns"},
                             "spec": {"schedulingPolicy": {"gang": {"minCount": 4}}},
                             "status": {"conditions": conditions}}, PodGroup)
        gang = Gang("GangScheduling", UPSTREAM, cast(Handle, _Listers(g)), 300.0)
        members = (member(0, node_name="n0", bound_at="2026-12-04T00:00:09Z", upstream=True),
                   member(1, node_name="n1", bound_at="2026-12-04T00:00:05Z", upstream=True),
                   member(2, upstream=True))
        return gang.partial_clock(GangPolicy(key=f"{UPSTREAM}/ns/g", name="PodGroup ns/g",
                                             min_count=4, members=members,
                                             plugin="GangScheduling", timeout=300.0))

    assert clock([]) == PartialClock(False, rfc3339_seconds("2026-12-04T00:00:05Z"))
    unschedulable = {"type": "PodGroupInitiallyScheduled", "status": "False",
                     "reason": "Unschedulable"}
    assert not clock([unschedulable]).settled
    # Upstream's gang constraint is on initial scheduling: a group that was scheduled whole
    # once is never evicted for members it lost later.
    assert clock([{**unschedulable, "status": "True", "reason": "Scheduled"}]).settled


def test_no_clock_while_the_rest_of_the_group_is_being_bound() -> None:
    async def go() -> None:
        h = Harness()
        try:
            _half_bound(h, 6)  # room for the rest: the cycle places it; binds in flight
            groups = _partial(h)
            groups.client = Recorder()
            h.run_cycles(lambda: None)
            assert h.assumed_by_group() == {"g": 3}
            assert groups.sweep(h.app.scheduler.frameworks, h.app.pods.indexer) == 0
        finally:
            groups.cancel()
            await h.close()

    asyncio.run(go())
