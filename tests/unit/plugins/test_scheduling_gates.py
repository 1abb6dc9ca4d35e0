"""SchedulingGates: upstream's scheduling_gates_test.go rows and the gate-removal hint."""

from __future__ import annotations

from builders import make_pod

from pyscheduler.framework.status import Code
from pyscheduler.framework.types import ActionType, QueueingHint, Resource
from pyscheduler.plugins.scheduling_gates import SchedulingGates, new


def plugin() -> SchedulingGates:
    return new(None, None)  # type: ignore[arg-type]


def test_pre_enqueue() -> None:
    pl = plugin()
    assert pl.pre_enqueue(make_pod()) is None
    st = pl.pre_enqueue(make_pod(gates=["foo", "bar"]))
    assert st is not None
    assert st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert st.reasons == ["waiting for scheduling gates: [foo bar]"]
    assert st.plugin == "SchedulingGates"


def test_hint_only_for_the_gated_pod_itself() -> None:
    pl = plugin()
    pod = make_pod("p", uid="u1", gates=["g"])
    released = make_pod("p", uid="u1")
    other = make_pod("q", uid="u2")
    assert pl.is_schedulable_after_gates_eliminated(pod, pod, released) == QueueingHint.QUEUE
    assert pl.is_schedulable_after_gates_eliminated(pod, other, other) == QueueingHint.SKIP
    (event,) = pl.events_to_register()
    assert event.event.resource == Resource.POD
    assert event.event.action == ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED
