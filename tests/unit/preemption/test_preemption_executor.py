"""The executor: the API calls of a preemption, their order, failures, and the in-flight gate."""

from __future__ import annotations

import asyncio

from preemption_fixtures import FakeClient, pod_indexer, terminating_victim, vpod

from pyscheduler.framework.types import PodInfo
from pyscheduler.model.pod import Pod
from pyscheduler.preemption.candidates import Candidate
from pyscheduler.preemption.executor import Executor, disruption_condition_patch


def candidate(*victims: str, node: str = "node1") -> Candidate:
    return Candidate(node, [PodInfo.of(vpod(v, node=node)) for v in victims])


PREEMPTOR = vpod("p", priority=100, scheduler_name="pyscheduler")


def executor(client: FakeClient, *pods: str) -> Executor:
    store = pod_indexer([PREEMPTOR, *(vpod(n, node="node1") for n in pods)])
    return Executor(client, store.get_by_key)


async def test_every_victim_patched_deleted_and_reported() -> None:
    client = FakeClient()
    ex = executor(client, "a", "b", "c")
    assert ex.prepare_candidate_async(candidate("a", "b", "c"), PREEMPTOR, "DefaultPreemption")
    await ex.drain()
    assert client.deleted_names == ["a", "b", "c"]
    assert [n for n, _ in client.deletes][-1] == "c"  # the last victim goes last
    assert sorted(n for n, _ in client.patches) == ["a", "b", "c"]
    assert {e[5] for e in client.events} == {"Preempted by pod p on node node1"}
    assert client.activated == []
    assert ex.in_flight == 0


def test_condition_patch() -> None:
    victim = vpod("v", generation=3)
    patch = disruption_condition_patch(victim, "pyscheduler", now=0.0)
    assert patch == {"status": {"conditions": [{
        "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
        "message": "pyscheduler: preempting to accommodate a higher priority pod",
        "lastTransitionTime": "1970-01-01T00:00:00Z", "observedGeneration": 3}]}}
    # Already carrying it (e.g. a retry): no patch, as upstream's UpdatePodCondition says.
    assert disruption_condition_patch(terminating_victim(vpod("v")), "default-scheduler") is None
    # Carrying it with another message: patched, the transition time kept.
    kept = vpod("v", conditions=[{"type": "DisruptionTarget", "status": "True",
                                  "reason": "PreemptionByScheduler", "message": "x",
                                  "lastTransitionTime": "2024-05-05T00:00:00Z"}])
    patch = disruption_condition_patch(kept, "pyscheduler", now=0.0)
    assert patch is not None
    assert patch["status"]["conditions"][0]["lastTransitionTime"] == "2024-05-05T00:00:00Z"
    assert "observedGeneration" not in patch["status"]["conditions"][0]


async def test_victim_already_gone_is_done_quietly() -> None:
    client = FakeClient(gone={"a"})
    ex = executor(client, "a", "b")
    ex.prepare_candidate_async(candidate("a", "b"), PREEMPTOR, "DefaultPreemption")
    await ex.drain()
    assert client.deleted_names == ["b"]
    assert [e[0] for e in client.events] == ["b"]  # no event for a pod we did not preempt
    assert client.activated == []


async def test_failure_skips_the_last_victim_and_activates_the_preemptor() -> None:
    client = FakeClient(fail={"a"})
    ex = executor(client, "a", "b", "c")
    ex.prepare_candidate_async(candidate("a", "b", "c"), PREEMPTOR, "DefaultPreemption")
    await ex.drain()
    assert "c" not in client.deleted_names
    assert client.activated == ["p"]
    assert not ex.is_pod_running_preemption("p")


async def test_failure_on_the_last_victim_activates_the_preemptor() -> None:
    client = FakeClient(fail={"b"})
    ex = executor(client, "a", "b")
    ex.prepare_candidate_async(candidate("a", "b"), PREEMPTOR, "DefaultPreemption")
    await ex.drain()
    assert client.deleted_names == ["a"]
    assert client.activated == ["p"]


async def test_nothing_to_do_when_every_victim_is_terminating() -> None:
    client = FakeClient()
    ex = executor(client)
    c = Candidate("node1", [PodInfo.of(vpod("a", node="node1", deleting=True))])
    assert not ex.prepare_candidate_async(c, PREEMPTOR, "DefaultPreemption",
                                          [vpod("low-nominee")])
    assert not ex.is_pod_running_preemption("p")
    await ex.drain()
    # Upstream returns before the goroutine: not even the nominations are cleared.
    assert client.cleared == [] and client.deletes == []


class HoldingClient(FakeClient):
    """Holds the delete of one pod until released, and says when it started."""

    def __init__(self, hold: str) -> None:
        super().__init__()
        self.hold = hold
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def delete_pod(self, pod: Pod) -> None:
        if pod.metadata.name == self.hold:
            self.started.set()
            await self.release.wait()
        await super().delete_pod(pod)


async def test_in_flight_until_the_last_victim_is_seen_terminating() -> None:
    client = HoldingClient("b")
    store = pod_indexer([PREEMPTOR, vpod("a", node="node1"), vpod("b", node="node1")])
    ex = Executor(client, store.get_by_key)
    ex.prepare_candidate_async(candidate("a", "b"), PREEMPTOR, "DefaultPreemption")
    assert ex.is_pod_running_preemption("p")  # nothing has run yet
    await asyncio.wait_for(client.started.wait(), 5)
    # The last victim's delete is in flight and the informer still shows it running.
    assert client.deleted_names == ["a"]
    assert ex.is_pod_running_preemption("p")
    # Its deletion reaches the informer before our call returns: no longer waiting.
    store.update(terminating_victim(vpod("b", node="node1")))
    assert not ex.is_pod_running_preemption("p")
    store.delete_key("default/b")
    assert not ex.is_pod_running_preemption("p")
    client.release.set()
    await ex.drain()
    assert not ex.is_pod_running_preemption("p")
    assert client.deleted_names == ["a", "b"]


async def test_last_victim_recreated_under_the_same_name_counts_as_gone() -> None:
    client = HoldingClient("a")
    store = pod_indexer([PREEMPTOR, vpod("a", node="node1")])
    ex = Executor(client, store.get_by_key)
    ex.prepare_candidate_async(candidate("a"), PREEMPTOR, "DefaultPreemption")
    await asyncio.wait_for(client.started.wait(), 5)
    assert ex.is_pod_running_preemption("p")
    store.update(vpod("a", uid="a-2", node="node2"))
    assert not ex.is_pod_running_preemption("p")
    client.release.set()
    await ex.drain()


async def test_drain_cancels_what_does_not_finish() -> None:
    client = FakeClient(gate=asyncio.Event())
    ex = executor(client, "a")
    ex.prepare_candidate_async(candidate("a"), PREEMPTOR, "DefaultPreemption")
    await ex.drain(timeout=0.01)
    assert ex.in_flight == 0
    assert client.deletes == []
