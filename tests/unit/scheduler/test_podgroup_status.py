"""Issue 16: scheduler-plugins PodGroup status is derived from the member pods every time."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from pyscheduler.model.pod import Pod
from pyscheduler.model.podgroup import POD_GROUP_INDEX, CoschedulingPodGroup, group_index
from pyscheduler.operator.podgroup_status import PodGroupStatusController, compute_status

NOW = "2026-12-03T10:00:00Z"


def group(min_member: int, **status: Any) -> CoschedulingPodGroup:
    return msgspec.convert({"metadata": {"name": "g", "namespace": "ns"},
                            "spec": {"minMember": min_member}, "status": status},
                           CoschedulingPodGroup)


def pod(i: int, phase: str = "Pending", node: str = "", namespace: str = "ns") -> Pod:
    return msgspec.convert({
        "metadata": {"name": f"p{i}", "namespace": namespace, "uid": f"u{i}-{namespace}",
                     "labels": {"scheduling.x-k8s.io/pod-group": "g"}},
        "spec": {"nodeName": node}, "status": {"phase": phase}}, Pod)


@pytest.mark.parametrize(("pods", "phase"), [
    ([pod(0)], "Pending"),
    ([pod(0), pod(1)], "Scheduling"),
    ([pod(0, node="n"), pod(1, node="n")], "Scheduled"),
    ([pod(0, "Running", "n"), pod(1, "Running", "n")], "Running"),
    ([pod(0, "Succeeded", "n"), pod(1, "Running", "n")], "Running"),
    ([pod(0, "Succeeded", "n"), pod(1, "Succeeded", "n")], "Finished"),
    ([pod(0, "Failed", "n"), pod(1, "Running", "n")], "Failed"),
    ([pod(0, "Failed", "n"), pod(1)], "Scheduling"),
])
def test_phase_follows_the_pods(pods: list[Pod], phase: str) -> None:
    assert compute_status(group(2), pods, NOW)["phase"] == phase


def test_all_running_says_running_even_if_an_earlier_phase_was_missed() -> None:
    # scheduler-plugins #578: a group stuck at Scheduling while every pod runs.
    g = group(2, phase="Scheduling")
    st = compute_status(g, [pod(0, "Running", "n"), pod(1, "Running", "n")], NOW)
    assert st["phase"] == "Running" and st["running"] == 2


def test_schedule_start_time_is_set_once() -> None:
    assert "scheduleStartTime" not in compute_status(group(2), [pod(0)], NOW)
    assert compute_status(group(2), [pod(0), pod(1)], NOW)["scheduleStartTime"] == NOW
    earlier = group(2, scheduleStartTime="2026-01-01T00:00:00Z")
    assert compute_status(earlier, [pod(0), pod(1)], NOW)["scheduleStartTime"] == (
        "2026-01-01T00:00:00Z")


def test_schedule_start_time_restarts_when_a_scheduled_group_falls_short() -> None:
    # The clock of a partly bound group runs from it: a group that lost a member after it
    # ran starts a new scheduling round now, not at its first one.
    was_running = group(2, phase="Running", scheduleStartTime="2026-01-01T00:00:00Z")
    st = compute_status(was_running, [pod(0, "Running", "n")], NOW)
    assert (st["phase"], st["scheduleStartTime"]) == ("Pending", NOW)
    still = group(2, phase="Scheduling", scheduleStartTime="2026-01-01T00:00:00Z")
    st = compute_status(still, [pod(0, "Running", "n"), pod(1)], NOW)
    assert st["scheduleStartTime"] == "2026-01-01T00:00:00Z"


def with_owners(i: int, *owners: str) -> Pod:
    return msgspec.convert({
        "metadata": {"name": f"p{i}", "namespace": "ns", "uid": f"u{i}",
                     "labels": {"scheduling.x-k8s.io/pod-group": "g"},
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": o,
                                          "uid": o} for o in owners]},
        "spec": {}, "status": {"phase": "Pending"}}, Pod)


def test_occupied_by_names_the_first_members_owners_as_scheduler_plugins_writes_it() -> None:
    # scheduler-plugins fillOccupiedObj: "namespace/ownerName" per owner, sorted, ","-joined,
    # written on leaving Pending.
    assert "occupiedBy" not in compute_status(group(2), [with_owners(0, "b", "a")], NOW)
    st = compute_status(group(2), [with_owners(1, "z"), with_owners(0, "train-b", "train-a")],
                        NOW)
    assert st["occupiedBy"] == "ns/train-a,ns/train-b"
    assert "occupiedBy" not in compute_status(group(2), [pod(0), pod(1)], NOW)
    kept = group(2, phase="Scheduling", occupiedBy="ns/old")
    assert compute_status(kept, [with_owners(0, "new"), pod(1)], NOW)["occupiedBy"] == "ns/old"


class Store:
    def __init__(self, objs: list[Any]) -> None:
        self.objs = objs

    def list(self) -> list[Any]:
        return self.objs

    def get_by_key(self, key: str) -> Any | None:
        return None

    def by_index(self, index: str, value: str) -> list[Any]:
        assert index == POD_GROUP_INDEX
        return [o for o in self.objs if value in group_index(o)]


class Writer:
    def __init__(self) -> None:
        self.patches: list[tuple[str, dict[str, Any]]] = []

    def patch_status(self, path: str, patch: dict[str, Any]) -> None:
        self.patches.append((path, patch))


def test_controller_counts_only_its_namespace_and_writes_once() -> None:
    w = Writer()
    pods = [pod(0, "Running", "n"), pod(1, "Running", "n"),
            pod(2, "Running", "n", namespace="other")]
    c = PodGroupStatusController(Store([group(3)]), Store(pods), w)
    assert c.reconcile_all() == 1
    path, patch = w.patches[0]
    assert path == "/apis/scheduling.x-k8s.io/v1alpha1/namespaces/ns/podgroups/g/status"
    # The pod of namespace "other" carries the same label but is not a member: counting it
    # (as scheduler-plugins' controller does) would make 3 members, enough to say Running.
    assert patch["status"]["running"] == 2 and patch["status"]["phase"] == "Pending"
    assert c.reconcile_all() == 0  # not re-sent while the informer catches up
