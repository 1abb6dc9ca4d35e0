"""Property: no pod is ever lost or duplicated by any sequence of queue operations.

Every added, not deleted pod is in exactly one of activeQ, backoffQ, the unschedulable pool
(gated or not) or in flight; nothing else is anywhere; the pending-pods gauges match.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
from _queue_fakes import (
    AFFINITY,
    FIT,
    NODE_ADD,
    NODE_TAINT,
    PERMIT,
    POD_DELETE,
    default_events,
    fail,
    make_pod,
    make_queue,
)
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pyscheduler.framework.types import (
    EVENT_ASSIGNED_POD_ADD,
    ClusterEventWithHint,
    QueuedPodInfo,
    QueueingHint,
)
from pyscheduler.model.pod import Pod, PodSchedulingGate, PodStatus

replace = msgspec.structs.replace

SKIPPER = "Skipper"
UNKNOWN = "NotRegistered"
EVENTS = [NODE_ADD, NODE_TAINT, EVENT_ASSIGNED_POD_ADD, POD_DELETE]


def _skip(pod: Pod, old: Any, new: Any) -> QueueingHint:
    return QueueingHint.SKIP


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        events = default_events()
        events[SKIPPER] = [ClusterEventWithHint(NODE_ADD, _skip)]
        self.h = make_queue(events=events)
        self.live: dict[str, Pod] = {}
        # What the scheduler holds: popped and not yet reported back.
        self.held: dict[str, QueuedPodInfo] = {}
        self.n = 0

    def _pick(self, data: st.DataObject, pool: dict[str, Any]) -> str:
        return data.draw(st.sampled_from(sorted(pool)))

    @rule(gated=st.booleans(), priority=st.integers(0, 3))
    def add(self, gated: bool, priority: int) -> None:
        self.n += 1
        uid = f"p{self.n}"
        pod = make_pod(uid, uid=uid, priority=priority, gates=["g"] if gated else [])
        self.h.queue.add(pod)
        self.live[uid] = pod

    @precondition(lambda self: self.live)
    @rule(data=st.data(), change=st.sampled_from(["status", "label", "ungate", "gate", "same"]))
    def update(self, data: st.DataObject, change: str) -> None:
        uid = self._pick(data, self.live)
        old = self.live[uid]
        if change == "status":
            new = replace(old, status=PodStatus(phase="Pending", start_time=str(self.n)))
        elif change == "label":
            new = replace(old, metadata=replace(old.metadata, labels={"v": str(self.n)}))
        elif change == "ungate":
            new = replace(old, spec=replace(old.spec, scheduling_gates=[]))
        elif change == "gate":
            new = replace(old, spec=replace(old.spec,
                                            scheduling_gates=[PodSchedulingGate(name="g")]))
        else:
            new = old
        self.h.queue.update(old, new)
        self.live[uid] = new

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        uid = self._pick(data, self.live)
        self.h.queue.delete(self.live.pop(uid))

    @precondition(lambda self: any(uid not in self.live for uid in self.held))
    @rule(data=st.data())
    def readd_deleted_in_flight(self, data: st.DataObject) -> None:
        uid = self._pick(data, {u: 1 for u in self.held if u not in self.live})
        pod = self.held[uid].pod
        self.h.queue.add(pod)
        self.live[uid] = pod

    @rule()
    def pop(self) -> None:
        qpi = self.h.queue.try_pop()
        if qpi is not None:
            assert qpi.uid not in self.held
            assert qpi.uid in self.live
            self.held[qpi.uid] = qpi

    @precondition(lambda self: self.held)
    @rule(data=st.data(),
          plugins=st.sets(st.sampled_from([FIT, AFFINITY, SKIPPER, UNKNOWN])),
          pending=st.sets(st.sampled_from([PERMIT])))
    def fail(self, data: st.DataObject, plugins: set[str], pending: set[str]) -> None:
        uid = self._pick(data, self.held)
        where = fail(self.h, self.held.pop(uid), *plugins, pending=sorted(pending))
        assert (where is None) == (uid not in self.live)

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def succeed(self, data: st.DataObject) -> None:
        uid = self._pick(data, self.held)
        qpi = self.held.pop(uid)
        self.h.queue.done(uid)
        if uid in self.live:
            # Bound: the informer's unscheduled-pod filter flips, which reads as a delete.
            self.h.queue.delete(self.live.pop(uid))
        self.h.queue.assigned_pod_added(qpi.pod)

    @rule(event=st.sampled_from(EVENTS))
    def cluster_event(self, event: Any) -> None:
        self.h.queue.move_all_to_active_or_backoff(event, None, make_pod("other", node="n"))

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def activate(self, data: st.DataObject) -> None:
        uids = data.draw(st.sets(st.sampled_from(sorted(self.live)), max_size=3))
        self.h.queue.activate([self.live[u] for u in uids])

    @rule(seconds=st.sampled_from([0.0, 0.5, 1.0, 3.0, 11.0, 301.0]))
    def tick(self, seconds: float) -> None:
        self.h.clock.step(seconds)
        self.h.queue.flush_backoff_q_completed()
        self.h.queue.flush_unschedulable_pods_leftover()

    @invariant()
    def every_live_pod_is_in_exactly_one_place(self) -> None:
        q = self.h.queue
        active = [p.metadata.uid for p in q.pods_in_active_q()]
        backoff = [p.metadata.uid for p in q.pods_in_backoff_q()]
        pool = [p.metadata.uid for p in q.unschedulable_pods()]
        flying = [p.metadata.uid for p in q.in_flight_pods()]
        everywhere = Counter(active + backoff + pool + flying)
        assert all(n == 1 for n in everywhere.values()), everywhere
        assert set(everywhere) == set(self.live)
        assert set(flying) == {u for u in self.held if u in self.live}
        gated = sum(1 for u in pool if q.where(u) == "gated")
        assert self.h.sizes() == {"active": len(active), "backoff": len(backoff),
                                  "unschedulable": len(pool) - gated, "gated": gated}

    @invariant()
    def gated_pods_are_exactly_those_with_gates(self) -> None:
        for uid, pod in self.live.items():
            if self.h.queue.where(uid) == "gated":
                assert pod.spec.scheduling_gates


QueueMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40,
                                          deadline=None)
TestQueueNeverLosesPods = QueueMachine.TestCase
