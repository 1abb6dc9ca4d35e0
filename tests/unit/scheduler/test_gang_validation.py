"""Issue 16: upstream's pod group validation (schedule_one_podgroup.go validatePodGroup),
found by the gated differential scenarios: kube-scheduler v1.37.2 refuses a scheduling.k8s.io
PodGroup whose members' priority is not the group's (PodGroup spec.priority, 0 when unset), or
whose members' preemption policies differ. Nothing is placed, every member fails with the
validation error as a SchedulerError, and the group's condition says SchedulerError too.
scheduler-plugins' Coscheduling checks neither."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from pyscheduler.config import parse_config
from pyscheduler.model.pod import Pod
from pyscheduler.model.podgroup import POD_GROUPS, PodGroup
from pyscheduler.plugins.gangscheduling.plugin import (
    MSG_PREEMPTION_POLICY,
    MSG_PRIORITY,
    MSG_SCHEDULER_NAME,
)
from pyscheduler.plugins.registry import default_registry
from pyscheduler.scheduler.scheduler import SchedulerApp

from .test_gang_cycle import Harness, node

CONFIG = """apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: pyscheduler
  plugins:
    multiPoint:
      enabled:
      - name: GangScheduling
"""


class UpstreamHarness(Harness):
    def __init__(self) -> None:
        super().__init__()
        reg = default_registry()
        self.app = SchedulerApp(self.client, parse_config(CONFIG, plugins=reg), registry=reg)
        self.failed: list[tuple[str, str, str]] = []
        self.patches: list[dict[str, Any]] = []
        outer = self

        class Reporter:
            def scheduled(self, pod: Pod, node: str) -> None: ...
            def failed(self, pod: Pod, reason: str, message: str, nominated: str | None) -> None:
                outer.failed.append((pod.metadata.name, reason, message))
            def forget(self, uid: str) -> None: ...
            def event(self, *args: Any, **kwargs: Any) -> None: ...

        self.app.reporter = Reporter()  # type: ignore[assignment]
        self.app.scheduler.reporter = self.app.reporter  # type: ignore[assignment]
        fwk = next(iter(self.app.scheduler.frameworks.values()))
        plugin = next(p for p in fwk.gang_plugins if p.name == "GangScheduling")
        # The PodGroup status write is what is checked: record it instead of sending it.
        plugin.handle.status_client.patch_status = (  # type: ignore[attr-defined,method-assign]
            lambda path, body: self.patches.append(body))

    def add_upstream_group(self, name: str, min_count: int, priority: int | None) -> None:
        spec: dict[str, Any] = {"schedulingPolicy": {"gang": {"minCount": min_count}}}
        if priority is not None:
            spec["priority"] = priority
        self.app.listers[POD_GROUPS].add(  # type: ignore[attr-defined]
            msgspec.convert({"metadata": {"name": name, "namespace": "ns"}, "spec": spec},
                            PodGroup))


def assumed(h: UpstreamHarness) -> int:
    return sum(1 for _node, is_assumed in h.app.cache.pod_uids().values() if is_assumed)


def upstream_member(group: str, i: int, priority: int = 0,
                    preemption_policy: str | None = None) -> Pod:
    spec: dict[str, Any] = {
        "schedulerName": "pyscheduler", "priority": priority,
        "schedulingGroup": {"podGroupName": group},
        "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}
    if preemption_policy:
        spec["preemptionPolicy"] = preemption_policy
    return msgspec.convert({
        "metadata": {"name": f"{group}-{i}", "namespace": "ns", "uid": f"{group}-u{i}"},
        "spec": spec, "status": {}}, Pod)


def _play(group_priority: int | None, members: list[Pod]) -> UpstreamHarness:
    async def go() -> UpstreamHarness:
        h = UpstreamHarness()
        try:
            h.add_node(node("n0", 8))
            h.add_upstream_group("g", len(members), group_priority)
            for p in members:
                h.add_pod(p)
            h.run_cycles(lambda: None)
            return h
        finally:
            await h.close()

    return asyncio.run(go())


def _condition(h: UpstreamHarness) -> dict[str, Any]:
    cond: dict[str, Any] = h.patches[-1]["status"]["conditions"][-1]
    return cond


def test_member_priority_other_than_the_groups_is_a_scheduler_error() -> None:
    h = _play(None, [upstream_member("g", i, priority=1000) for i in range(2)])
    msg = MSG_PRIORITY.format(pod=1000, group=0)
    assert msg == ("all pods in a single pod group should have the same priority as the pod "
                   "group's priority, got 1000 and 0")  # kube-scheduler v1.37.2's words
    assert sorted(h.failed) == [("g-0", "SchedulerError", msg), ("g-1", "SchedulerError", msg)]
    assert assumed(h) == 0
    cond = _condition(h)
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "SchedulerError", msg)


def test_members_with_the_groups_priority_are_scheduled() -> None:
    h = _play(1000, [upstream_member("g", i, priority=1000) for i in range(2)])
    assert h.failed == []
    assert assumed(h) == 2
    assert (_condition(h)["status"], _condition(h)["reason"]) == ("True", "Scheduled")


def test_members_with_different_preemption_policies_are_a_scheduler_error() -> None:
    h = _play(None, [upstream_member("g", 0),
                     upstream_member("g", 1, preemption_policy="Never")])
    (_name, reason, msg), *_ = h.failed
    assert reason == "SchedulerError" and len(h.failed) == 2
    assert msg in (MSG_PREEMPTION_POLICY.format(pod="Never", first="PreemptLowerPriority"),
                   MSG_PREEMPTION_POLICY.format(pod="PreemptLowerPriority", first="Never"))
    assert assumed(h) == 0


def test_a_bound_member_of_another_scheduler_is_a_scheduler_error() -> None:
    async def go() -> UpstreamHarness:
        h = UpstreamHarness()
        try:
            h.add_node(node("n0", 8))
            h.add_upstream_group("g", 2, None)
            bound = upstream_member("g", 0)
            bound.spec.scheduler_name = "default-scheduler"
            bound.spec.node_name = "n0"
            h.app.pods.indexer.add(bound)
            h.app.handlers._assigned_add(bound)
            h.add_pod(upstream_member("g", 1))
            h.run_cycles(lambda: None)
            return h
        finally:
            await h.close()

    h = asyncio.run(go())
    msg = MSG_SCHEDULER_NAME.format(pod="default-scheduler", first="pyscheduler")
    assert msg == ("all pods in a single pod group should have the same .spec.schedulerName "
                   'set, got: "default-scheduler" and "pyscheduler"')
    assert h.failed == [("g-1", "SchedulerError", msg)]
    assert (_condition(h)["reason"], _condition(h)["message"]) == ("SchedulerError", msg)
