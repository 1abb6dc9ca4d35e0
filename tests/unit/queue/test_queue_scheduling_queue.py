from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from _queue_fakes import (
    AFFINITY,
    FIT,
    GATES,
    NODE_ADD,
    NODE_ALLOCATABLE,
    NODE_TAINT,
    PERMIT,
    POD_DELETE,
    GatePlugin,
    Harness,
    HintLog,
    fail,
    make_pod,
    make_queue,
)

from pyscheduler.framework.types import (
    EVENT_ASSIGNED_POD_ADD,
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    QueuedPodInfo,
    QueueingHint,
    Resource,
)
from pyscheduler.model.pod import Pod, PodStatus

replace = msgspec.structs.replace


def pop(h: Harness) -> QueuedPodInfo:
    qpi = h.queue.try_pop()
    assert qpi is not None
    return qpi


def names(pods: list[Pod]) -> list[str]:
    return sorted(p.metadata.name for p in pods)


def parked(h: Harness, name: str, *plugins: str, uid: str | None = None) -> QueuedPodInfo:
    """A pod that failed once, rejected by ``plugins``, and sits in the unschedulable pool."""
    h.queue.add(make_pod(name, uid=uid or name))
    qpi = pop(h)
    assert fail(h, qpi, *plugins) == "unschedulable"
    return qpi


# ------------------------------------------------------------------------------- activeQ


def test_pop_follows_queue_sort() -> None:
    h = make_queue()
    for name, prio in [("low", 1), ("high", 100), ("mid", 50), ("mid2", 50)]:
        h.queue.add(make_pod(name, uid=name, priority=prio))
        h.clock.step(1)
    order = [pop(h).pod.metadata.name for _ in range(4)]
    assert order == ["high", "mid", "mid2", "low"]
    assert h.queue.try_pop() is None


def test_pop_bookkeeping() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a"))
    qpi = pop(h)
    assert qpi.attempts == 1
    assert qpi.initial_attempt_timestamp == h.clock.now
    assert h.queue.scheduling_cycle() == 1
    assert h.queue.in_flight_cycle("a") == 1
    assert h.queue.where("a") == "in_flight"
    assert names(h.queue.in_flight_pods()) == ["a"]
    h.queue.done("a")
    assert h.queue.where("a") is None
    h.queue.done("a")  # idempotent


async def test_pop_waits_for_a_pod() -> None:
    h = make_queue()
    waiter = asyncio.create_task(h.queue.pop())
    await asyncio.sleep(0)
    assert not waiter.done()
    h.queue.add(make_pod("a", uid="a"))
    qpi = await asyncio.wait_for(waiter, 5)
    assert qpi is not None and qpi.pod.metadata.name == "a"


async def test_close_wakes_pop_with_none() -> None:
    h = make_queue()
    waiter = asyncio.create_task(h.queue.pop())
    await asyncio.sleep(0)
    h.queue.close()
    assert await asyncio.wait_for(waiter, 5) is None
    h.queue.add(make_pod("a", uid="a"))
    assert await h.queue.pop() is None
    assert h.queue.closed


async def test_cancelled_pop_leaves_no_waiter_behind() -> None:
    h = make_queue()
    waiter = asyncio.create_task(h.queue.pop())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    h.queue.add(make_pod("a", uid="a"))
    assert (await h.queue.pop()) is not None


def test_add_of_a_known_pod_is_an_update_not_a_duplicate() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a"))
    h.queue.add(make_pod("a", uid="a", labels={"v": "2"}))
    qpi = pop(h)
    assert qpi.pod.metadata.labels == {"v": "2"}
    h.queue.add(make_pod("a", uid="a", labels={"v": "3"}))  # while in flight
    assert h.queue.try_pop() is None
    assert h.pending("active") == 0


# ------------------------------------------------------------------------------- backoff


def test_backoff_doubles_per_attempt_and_caps() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a"))
    expected = [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    for want in expected:
        qpi = pop(h)
        failed_at = h.clock.now
        assert fail(h, qpi) == "backoff"  # an Error: no rejector plugins
        assert h.queue.backoff_expiry("a") == failed_at + want
        h.clock.step(want - 0.001)
        h.queue.flush_backoff_q_completed()
        assert h.queue.where("a") == "backoff"
        h.clock.step(0.001)
        h.queue.flush_backoff_q_completed()
        assert h.queue.where("a") == "active"


def test_backoff_settings_are_configurable() -> None:
    h = make_queue(pod_initial_backoff_seconds=0.5, pod_max_backoff_seconds=1.5)
    h.queue.add(make_pod("a", uid="a"))
    got = []
    for _ in range(4):
        qpi = pop(h)
        fail(h, qpi)
        expiry = h.queue.backoff_expiry("a")
        assert expiry is not None
        got.append(expiry - h.clock.now)
        h.clock.step(2)
        h.queue.flush_backoff_q_completed()
    assert got == [0.5, 1.0, 1.5, 1.5]


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError):
        make_queue(pod_initial_backoff_seconds=5, pod_max_backoff_seconds=1)
    with pytest.raises(ValueError):
        make_queue(backoff_flush_interval=0)


def test_backoff_flush_moves_only_completed_pods_in_expiry_order() -> None:
    h = make_queue()
    for name in ("a", "b"):
        h.queue.add(make_pod(name, uid=name))
    a = pop(h)
    fail(h, a)  # expires at t0+1
    b = pop(h)
    b.attempts = 3
    fail(h, b)  # expires at t0+4
    h.clock.step(1)
    h.queue.flush_backoff_q_completed()
    assert names(h.queue.pods_in_active_q()) == ["a"]
    assert names(h.queue.pods_in_backoff_q()) == ["b"]


# ------------------------------------------------------------------- unschedulable pool


def test_unschedulable_pod_waits_for_a_registered_event() -> None:
    h = make_queue()
    parked(h, "a", FIT)
    assert h.queue.where("a") == "unschedulable"
    h.queue.move_all_to_active_or_backoff(NODE_TAINT)  # FIT did not register taints
    assert h.queue.where("a") == "unschedulable"
    h.queue.move_all_to_active_or_backoff(NODE_ADD)
    assert h.queue.where("a") == "backoff"  # still within its 1 s backoff
    h.clock.step(1)
    h.queue.flush_backoff_q_completed()
    assert h.queue.where("a") == "active"


def test_moved_pod_goes_straight_to_active_when_backoff_is_over() -> None:
    h = make_queue()
    parked(h, "a", FIT)
    h.clock.step(5)
    h.queue.move_all_to_active_or_backoff(NODE_ALLOCATABLE)
    assert h.queue.where("a") == "active"


def test_events_only_move_pods_whose_rejectors_registered_them() -> None:
    h = make_queue()
    parked(h, "fit", FIT)
    parked(h, "aff", AFFINITY)
    h.clock.step(5)
    h.queue.move_all_to_active_or_backoff(EVENT_ASSIGNED_POD_ADD, None, make_pod("x", node="n"))
    assert h.queue.where("aff") == "active"
    assert h.queue.where("fit") == "unschedulable"
    h.queue.move_all_to_active_or_backoff(POD_DELETE, make_pod("x", node="n"), None)
    assert h.queue.where("fit") == "active"


def test_hints_decide() -> None:
    skip, queue, boom = (HintLog(QueueingHint.SKIP), HintLog(QueueingHint.QUEUE),
                         HintLog(raises=True))
    events = {
        "Skip": [ClusterEventWithHint(NODE_ADD, skip)],
        "Queue": [ClusterEventWithHint(NODE_ADD, queue)],
        "Boom": [ClusterEventWithHint(NODE_ADD, boom)],
        "NoHint": [ClusterEventWithHint(NODE_ADD)],
    }
    h = make_queue(events=events)
    for plugin in events:
        parked(h, plugin.lower(), plugin)
    h.clock.step(5)
    node = object()
    h.queue.move_all_to_active_or_backoff(NODE_ADD, None, node)
    assert h.queue.where("skip") == "unschedulable"
    assert h.queue.where("queue") == "active"
    assert h.queue.where("boom") == "active"  # a failing hint must not strand the pod
    assert h.queue.where("nohint") == "active"
    assert skip.calls == [("skip", None, node)]


def test_any_rejector_saying_queue_is_enough() -> None:
    skip, queue = HintLog(QueueingHint.SKIP), HintLog(QueueingHint.QUEUE)
    h = make_queue(events={"A": [ClusterEventWithHint(NODE_ADD, skip)],
                           "B": [ClusterEventWithHint(NODE_ADD, queue)]})
    parked(h, "p", "A", "B")
    h.queue.move_all_to_active_or_backoff(NODE_ADD)
    assert h.queue.where("p") == "backoff"


def test_pending_plugin_saying_queue_skips_backoff() -> None:
    h = make_queue()
    h.queue.add(make_pod("p", uid="p"))
    qpi = pop(h)
    assert fail(h, qpi, pending=[PERMIT]) == "unschedulable"
    h.queue.move_all_to_active_or_backoff(EVENT_ASSIGNED_POD_ADD, None, make_pod("x"))
    assert h.queue.where("p") == "active"  # although its backoff has not completed


def test_precheck_filters_candidates() -> None:
    h = make_queue()
    parked(h, "a", FIT)
    parked(h, "b", FIT)
    h.clock.step(5)
    h.queue.move_all_to_active_or_backoff(NODE_ADD, precheck=lambda p: p.metadata.name == "b")
    assert h.queue.where("a") == "unschedulable"
    assert h.queue.where("b") == "active"


def test_plugin_without_registrations_is_interested_in_everything() -> None:
    h = make_queue()
    parked(h, "a", "NoEnqueueExtensions")
    h.clock.step(5)
    h.queue.move_all_to_active_or_backoff(ClusterEvent(Resource.PVC, ActionType.ADD))
    assert h.queue.where("a") == "active"


def test_plugin_registering_no_events_waits_for_the_timeout() -> None:
    h = make_queue(events={"Never": []})
    parked(h, "a", "Never")
    h.queue.move_all_to_active_or_backoff(NODE_ADD)
    h.queue.flush_unschedulable_pods_leftover()
    assert h.queue.where("a") == "unschedulable"
    h.clock.step(300.001)
    h.queue.flush_unschedulable_pods_leftover()
    assert h.queue.where("a") == "active"
    assert h.incoming("active", "UnschedulableTimeout") == 1


def test_unschedulable_timeout_counts_from_the_last_failure() -> None:
    h = make_queue(pod_max_in_unschedulable_pods_duration=60)
    parked(h, "a", FIT)
    h.clock.step(60)
    h.queue.flush_unschedulable_pods_leftover()
    assert h.queue.where("a") == "unschedulable"  # not *longer* than the limit yet
    h.clock.step(0.5)
    h.queue.flush_unschedulable_pods_leftover()
    assert h.queue.where("a") == "active"


def test_assigned_pod_helpers_route_events() -> None:
    hint = HintLog()
    h = make_queue(events={
        "Add": [ClusterEventWithHint(ClusterEvent(Resource.POD, ActionType.ADD), hint)],
        "Label": [ClusterEventWithHint(ClusterEvent(Resource.POD, ActionType.UPDATE_POD_LABEL))],
        "Del": [ClusterEventWithHint(ClusterEvent(Resource.POD, ActionType.DELETE))],
    })
    for plugin in ("Add", "Label", "Del"):
        parked(h, plugin.lower(), plugin)
    h.clock.step(5)
    bound = make_pod("bound", node="n1")
    h.queue.assigned_pod_added(bound)
    assert hint.calls == [("add", None, bound)]
    assert h.queue.where("add") == "active"
    assert h.queue.where("label") == "unschedulable"
    h.queue.assigned_pod_updated(bound, replace(bound, metadata=replace(
        bound.metadata, labels={"new": "label"})))
    assert h.queue.where("label") == "active"
    assert h.queue.where("del") == "unschedulable"
    h.queue.assigned_pod_deleted(bound)
    assert h.queue.where("del") == "active"
    assert h.incoming("active", "AssignedPodAdd") == 1
    assert h.incoming("active", "AssignedPodUpdatePodLabel") == 1
    assert h.incoming("active", "AssignedPodDelete") == 1


# ------------------------------------------------------------------------ in-flight events


def test_event_while_in_flight_is_not_lost() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a"))
    qpi = pop(h)
    h.queue.move_all_to_active_or_backoff(NODE_ADD)  # a node appears during the attempt
    assert fail(h, qpi, FIT) == "backoff"


def test_event_before_the_pop_does_not_count() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a"))
    h.queue.move_all_to_active_or_backoff(NODE_ADD)
    qpi = pop(h)
    assert fail(h, qpi, FIT) == "unschedulable"


def test_in_flight_event_needs_a_matching_rejector_and_hint() -> None:
    skip = HintLog(QueueingHint.SKIP)
    events = {FIT: [ClusterEventWithHint(NODE_ADD, skip)], AFFINITY: []}
    h = make_queue(events=events)
    for name in ("a", "b"):
        h.queue.add(make_pod(name, uid=name))
    a, b = pop(h), pop(h)
    node = object()
    h.queue.move_all_to_active_or_backoff(NODE_ADD, None, node)
    assert fail(h, a, FIT) == "unschedulable"  # hint said skip
    assert skip.calls == [("a", None, node)]
    assert fail(h, b, AFFINITY) == "unschedulable"  # AFFINITY did not register it


def test_in_flight_events_for_several_pods_and_pruning() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a"))
    h.queue.add(make_pod("b", uid="b"))
    a = pop(h)
    h.queue.move_all_to_active_or_backoff(NODE_ADD)
    b = pop(h)  # popped after the event
    assert fail(h, b, FIT) == "unschedulable"
    assert fail(h, a, FIT) == "backoff"
    assert h.queue._events == []  # nothing in flight: the log is empty


def test_event_log_is_pruned_to_the_oldest_in_flight_pod() -> None:
    h = make_queue()
    for name in ("a", "b"):
        h.queue.add(make_pod(name, uid=name))
    pop(h)
    h.queue.move_all_to_active_or_backoff(NODE_ADD)
    pop(h)
    h.queue.move_all_to_active_or_backoff(NODE_ALLOCATABLE)
    assert len(h.queue._events) == 2
    h.queue.done("a")
    assert [e.event for e in h.queue._events] == [NODE_ALLOCATABLE]


def test_uninteresting_events_are_not_recorded() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a"))
    pop(h)
    h.queue.move_all_to_active_or_backoff(ClusterEvent(Resource.PV, ActionType.ADD))
    assert h.queue._events == []


def test_error_always_backs_off() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a"))
    assert fail(h, pop(h)) == "backoff"


def test_update_while_in_flight_requeues_the_newest_version() -> None:
    h = make_queue()
    old = make_pod("a", uid="a")
    h.queue.add(old)
    qpi = pop(h)
    new = make_pod("a", uid="a", labels={"fixed": "yes"}, resource_version="2")
    h.queue.update(old, new)
    assert fail(h, qpi, FIT) == "backoff"  # the pod itself changed: worth retrying
    assert h.queue.get("a") is qpi and qpi.pod is new


def test_status_only_update_while_in_flight_does_not_requeue() -> None:
    h = make_queue()
    old = make_pod("a", uid="a")
    h.queue.add(old)
    qpi = pop(h)
    new = replace(old, status=PodStatus(phase="Pending", start_time="now"),
                  metadata=replace(old.metadata, resource_version="2"))
    h.queue.update(old, new)
    assert fail(h, qpi, FIT) == "unschedulable"
    assert qpi.pod is new


def test_delete_while_in_flight_drops_the_pod() -> None:
    h = make_queue()
    pod = make_pod("a", uid="a")
    h.queue.add(pod)
    qpi = pop(h)
    h.queue.delete(pod)
    assert h.queue.where("a") is None
    assert h.queue.in_flight_pods() == []
    assert fail(h, qpi, FIT) is None
    assert h.queue.where("a") is None
    assert h.queue.pending_pods()[0] == []


def test_readd_after_delete_while_in_flight_comes_back() -> None:
    h = make_queue()
    pod = make_pod("a", uid="a")
    h.queue.add(pod)
    qpi = pop(h)
    h.queue.delete(pod)
    h.queue.add(pod)
    assert h.queue.where("a") == "in_flight"
    assert fail(h, qpi, FIT) == "backoff"


def test_add_unschedulable_for_a_queued_pod_is_refused() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a"))
    qpi = h.queue.get("a")
    assert qpi is not None
    h.queue.add_unschedulable_if_not_present(qpi, 0)
    assert h.queue.where("a") == "active" and h.pending("active") == 1


def test_add_unschedulable_after_done_backs_off() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a"))
    qpi = pop(h)
    h.queue.done("a")
    assert fail(h, qpi, FIT) == "backoff"


# ------------------------------------------------------------------------------------ gated


def test_gated_pod_waits_for_its_gating_plugins_events() -> None:
    gate = GatePlugin()
    h = make_queue(pre_enqueue={GATES: gate})
    gated = make_pod("g", uid="g", gates=["example.com/wait"])
    h.queue.add(gated)
    qpi = h.queue.get("g")
    assert qpi is not None and qpi.gated and qpi.gating_plugin == GATES
    assert h.queue.where("g") == "gated"
    assert (h.pending("gated"), h.pending("unschedulable")) == (1, 0)
    assert gate.calls == 1
    # Events the gating plugin did not register do not re-run PreEnqueue, not even the timeout.
    h.queue.move_all_to_active_or_backoff(NODE_ADD)
    h.queue.move_all_to_active_or_backoff(EVENT_ASSIGNED_POD_ADD, None, make_pod("x"))
    h.clock.step(1000)
    h.queue.flush_unschedulable_pods_leftover()
    assert h.queue.where("g") == "gated" and gate.calls == 1
    # A status-only update does not either.
    status_only = replace(gated, metadata=replace(gated.metadata, resource_version="2"),
                          status=PodStatus(phase="Pending", start_time="t"))
    h.queue.update(gated, status_only)
    assert h.queue.where("g") == "gated" and gate.calls == 1
    # Removing the gates does.
    ungated = make_pod("g", uid="g", resource_version="3")
    h.queue.update(status_only, ungated)
    assert h.queue.where("g") == "active"
    assert gate.calls == 2
    assert (h.pending("gated"), h.pending("active")) == (0, 1)
    assert pop(h).attempts == 1


def test_gated_pod_rerun_on_a_registered_event_still_gated() -> None:
    gate = GatePlugin()
    h = make_queue(pre_enqueue={GATES: gate})
    h.queue.add(make_pod("g", uid="g", gates=["a", "b"]))
    still = make_pod("g", uid="g", gates=["b"])
    # A spec change (one gate of two removed) re-runs PreEnqueue, which still gates it.
    h.queue.update(make_pod("g", uid="g", gates=["a", "b"]), still)
    assert h.queue.where("g") == "gated" and gate.calls == 2
    assert h.pending("gated") == 1 and h.incoming("unschedulable", "PodAdd") == 1


def test_still_gated_pod_stays_put_on_a_registered_event() -> None:
    """Upstream moveToActiveQ leaves a pod that PreEnqueue still gates in the pool: no
    remove/add, and no incoming-pods count for the event (a preemptor waiting for its victims
    sees one such event per victim deleted)."""

    class Waiter:
        name = "Waiter"

        def __init__(self) -> None:
            self.open = False
            self.calls = 0

        def pre_enqueue(self, pod: Pod) -> Any:
            from pyscheduler.framework.status import Status

            self.calls += 1
            return None if self.open else Status.unschedulable("waiting")

    waiter = Waiter()
    delete = ClusterEvent(Resource.ASSIGNED_POD, ActionType.DELETE, "AssignedPodDelete")
    h = make_queue(pre_enqueue={"Waiter": waiter},
                   events={"Waiter": [ClusterEventWithHint(delete)]})
    h.queue.add(make_pod("p", uid="p"))
    assert h.queue.where("p") == "gated" and waiter.calls == 1
    for _ in range(3):
        h.queue.move_all_to_active_or_backoff(delete, make_pod("v"), None)
    assert h.queue.where("p") == "gated" and waiter.calls == 4
    assert h.incoming("unschedulable", "AssignedPodDelete") == 0
    assert h.pending("gated") == 1
    waiter.open = True
    h.queue.move_all_to_active_or_backoff(delete, make_pod("v"), None)
    assert h.queue.where("p") == "active" and waiter.calls == 5
    assert h.incoming("active", "AssignedPodDelete") == 1


def test_pre_enqueue_failure_gates_the_pod() -> None:
    class Broken:
        name = "Broken"

        def pre_enqueue(self, pod: Pod) -> None:
            raise RuntimeError("boom")

    h = make_queue(pre_enqueue={"Broken": Broken()}, events={"Broken": []})
    h.queue.add(make_pod("a", uid="a"))
    assert h.queue.where("a") == "gated"


def test_activate_runs_pre_enqueue_too() -> None:
    h = make_queue()
    pod = make_pod("g", uid="g", gates=["x"])
    h.queue.add(pod)
    h.queue.activate([pod])
    assert h.queue.where("g") == "gated"


# ---------------------------------------------------------------------- update and delete


def test_update_in_active_queue_is_in_place() -> None:
    h = make_queue()
    old = make_pod("a", uid="a", priority=1)
    h.queue.add(old)
    h.queue.add(make_pod("b", uid="b", priority=5))
    new = make_pod("a", uid="a", priority=10, labels={"v": "2"})
    h.queue.update(old, new)
    first = pop(h)
    assert first.pod is new  # the new object, re-sorted
    assert h.pending("active") == 1


def test_update_in_backoff_queue_is_in_place() -> None:
    h = make_queue()
    old = make_pod("a", uid="a")
    h.queue.add(old)
    fail(h, pop(h))
    expiry = h.queue.backoff_expiry("a")
    new = make_pod("a", uid="a", labels={"v": "2"})
    h.queue.update(old, new)
    assert h.queue.where("a") == "backoff"
    assert h.queue.backoff_expiry("a") == expiry
    assert h.queue.pods_in_backoff_q() == [new]


def test_update_in_pool_moves_the_pod_if_it_may_help() -> None:
    h = make_queue()
    old = make_pod("a", uid="a")
    parked(h, "a", FIT, uid="a")
    status_only = replace(old, status=PodStatus(phase="Pending", start_time="t"))
    h.queue.update(old, status_only)
    assert h.queue.where("a") == "unschedulable"
    assert h.queue.unschedulable_pods() == [status_only]
    relabelled = make_pod("a", uid="a", labels={"x": "y"})
    h.queue.update(status_only, relabelled)
    assert h.queue.where("a") == "backoff"
    assert h.incoming("backoff", "UnschedulablePodUpdate") == 1


def test_update_in_pool_after_backoff_goes_to_active() -> None:
    h = make_queue()
    old = make_pod("a", uid="a")
    parked(h, "a", FIT, uid="a")
    h.clock.step(2)
    h.queue.update(old, make_pod("a", uid="a", labels={"x": "y"}))
    assert h.queue.where("a") == "active"


def test_update_of_unknown_pod_adds_it() -> None:
    h = make_queue()
    pod = make_pod("a", uid="a")
    h.queue.update(pod, pod)
    assert h.queue.where("a") == "active"
    assert h.incoming("active", "UnschedulablePodUpdate") == 1


@pytest.mark.parametrize("where", ["active", "backoff", "unschedulable", "gated"])
def test_delete_from_each_sub_queue(where: str) -> None:
    h = make_queue()
    pod = make_pod("a", uid="a", nominated="n1", gates=["x"] if where == "gated" else [])
    h.queue.add(pod)
    if where in ("backoff", "unschedulable"):
        qpi = pop(h)
        fail(h, qpi, *([FIT] if where == "unschedulable" else []))
    assert h.queue.where("a") == where
    if where == "active":
        assert [pi.pod for pi in h.queue.nominated_pods_for_node("n1")] == [pod]
    h.queue.delete(pod)
    assert h.queue.where("a") is None
    assert h.queue.nominated_pods_for_node("n1") == []
    assert sum(h.sizes().values()) == 0
    h.queue.delete(pod)  # twice is harmless


# ---------------------------------------------------------------------------- nominations


def test_nominations_follow_the_pod() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a", nominated="n1"))
    assert [pi.pod.metadata.name for pi in h.queue.nominated_pods_for_node("n1")] == ["a"]
    qpi = pop(h)
    # PostFilter nominated it elsewhere; the informer has not seen the patch yet.
    h.queue.nominator.add_nominated_pod(qpi.pod_info, "n2")
    assert fail(h, qpi, FIT) == "unschedulable"
    h.queue.update(make_pod("a", uid="a", nominated="n1"),
                   make_pod("a", uid="a", nominated="n1", labels={"x": "y"}))
    assert h.queue.nominator.nominated_node_name("a") == "n1"  # the object says n1
    h.queue.update(make_pod("a", uid="a"), make_pod("a", uid="a", labels={"z": "1"}))
    assert h.queue.nominator.nominated_node_name("a") == "n1"  # neither version says


# -------------------------------------------------------------------------------- activate


def test_activate_from_pool_and_backoff() -> None:
    h = make_queue()
    parked(h, "u", FIT)
    h.queue.add(make_pod("b", uid="b"))
    fail(h, pop(h))
    assert h.queue.where("b") == "backoff"
    h.queue.activate([make_pod("u", uid="u"), make_pod("b", uid="b"),
                      make_pod("unknown", uid="unknown")])
    assert h.queue.where("u") == "active" and h.queue.where("b") == "active"
    assert h.queue.where("unknown") is None
    assert h.incoming("active", "ForceActivate") == 2
    assert h.sizes() == {"active": 2, "backoff": 0, "unschedulable": 0, "gated": 0}


def test_activate_in_flight_pod_requeues_it_after_failure() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a"))
    h.queue.add(make_pod("b", uid="b"))
    a, b = pop(h), pop(h)
    h.queue.activate([a.pod])
    assert fail(h, a, FIT) == "backoff"
    assert fail(h, b, FIT) == "unschedulable"  # the ForceActivate was for a only


# ---------------------------------------------------------------------------------- metrics


def test_metrics_follow_the_sub_queues() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a"))
    h.queue.add(make_pod("b", uid="b"))
    h.queue.add(make_pod("g", uid="g", gates=["x"]))
    assert h.sizes() == {"active": 2, "backoff": 0, "unschedulable": 0, "gated": 1}
    assert h.incoming("active", "PodAdd") == 2
    assert h.incoming("unschedulable", "PodAdd") == 1
    a, b = pop(h), pop(h)
    fail(h, a, FIT)
    fail(h, b)
    assert h.sizes() == {"active": 0, "backoff": 1, "unschedulable": 1, "gated": 1}
    assert h.incoming("unschedulable", "ScheduleAttemptFailure") == 1
    assert h.incoming("backoff", "ScheduleAttemptFailure") == 1
    h.queue.move_all_to_active_or_backoff(NODE_ADD)
    assert h.incoming("backoff", "NodeAdd") == 1
    h.clock.step(1)
    h.queue.flush_backoff_q_completed()
    assert h.incoming("active", "BackoffComplete") == 2
    assert h.sizes() == {"active": 2, "backoff": 0, "unschedulable": 0, "gated": 1}
    pods, summary = h.queue.pending_pods()
    assert names(pods) == ["a", "b", "g"]
    assert summary == "activeQ:2; backoffQ:0; unschedulablePods:1"


def test_queues_can_share_one_metrics_object() -> None:
    from pyscheduler.backend.queue import PriorityQueue

    h = make_queue()
    other = PriorityQueue(lambda a, b: False, metrics=h.metrics, clock=h.clock)
    h.queue.add(make_pod("a", uid="a"))
    other.add(make_pod("b", uid="b"))
    assert h.pending("active") == 2
    other.delete(make_pod("b", uid="b"))
    assert h.pending("active") == 1


# ------------------------------------------------------------------------------ flush loops


class StepSleep:
    """Injected sleep: advances the fake clock by the requested delay, then yields."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.h.clock.step(delay)
        await asyncio.sleep(0)


async def test_run_flushes_backoff_and_unschedulable_pods() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a"))
    h.queue.add(make_pod("u", uid="u"))
    fail(h, pop(h))
    fail(h, pop(h), FIT)
    sleeper = StepSleep(h)
    h.queue._sleep = sleeper
    h.queue.run()
    got: list[Any] = []
    for _ in range(2):
        qpi = await asyncio.wait_for(h.queue.pop(), 5)
        assert qpi is not None
        got.append(qpi.pod.metadata.name)
        h.queue.done(qpi.uid)
    assert sorted(got) == ["a", "u"]
    # The backoff loop wakes when the next backoff completes, never later than 1 s.
    assert all(0 < d <= 1.0 for d in sleeper.delays if d != 30.0)
    await h.queue.aclose()
    assert h.queue._tasks == []


def test_queues_without_metrics_share_the_global_default() -> None:
    from prometheus_client import REGISTRY

    from pyscheduler.backend.queue import PriorityQueue
    from pyscheduler.backend.queue.metrics import default_queue_metrics

    before = REGISTRY.get_sample_value("scheduler_pending_pods", {"queue": "active"}) or 0.0
    q1 = PriorityQueue(lambda a, b: False)
    q2 = PriorityQueue(lambda a, b: False)  # no duplicate-registration error
    q1.add(make_pod("a", uid="a"))
    q2.add(make_pod("b", uid="b"))
    assert default_queue_metrics() is default_queue_metrics()
    assert REGISTRY.get_sample_value("scheduler_pending_pods", {"queue": "active"}) \
        == before + 2
    q1.delete(make_pod("a", uid="a"))
    q2.delete(make_pod("b", uid="b"))


async def test_failures_after_close_are_requeued_quietly() -> None:
    h = make_queue()
    h.queue.add(make_pod("a", uid="a"))
    qpi = pop(h)
    h.queue.close()
    assert h.queue.in_flight_pods() == []
    assert fail(h, qpi, FIT) == "backoff"
    assert await h.queue.pop() is None
