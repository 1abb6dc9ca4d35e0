"""NodeUnschedulable: upstream's node_unschedulable_test.go rows and hints."""

from __future__ import annotations

from typing import Any

import pytest
from builders import filter_both, make_node, make_pod, new_state, pod_info, snapshot_of, toleration

from pyscheduler.framework.status import Code
from pyscheduler.framework.types import QueueingHint
from pyscheduler.plugins.node_unschedulable import (
    ERR_REASON_UNSCHEDULABLE,
    TAINT_NODE_UNSCHEDULABLE,
    NodeUnschedulable,
    new,
)

FAIL = (int(Code.UNSCHEDULABLE_AND_UNRESOLVABLE), [ERR_REASON_UNSCHEDULABLE])


def plugin() -> NodeUnschedulable:
    return new(None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "unschedulable", "tolerations", "want"), [
    ("schedulable node", False, [], None),
    ("unschedulable node", True, [], FAIL),
    ("unschedulable node, pod tolerates the unschedulable taint", True,
     [toleration(TAINT_NODE_UNSCHEDULABLE, effect="NoSchedule", operator="Exists")], None),
    ("a toleration for another effect does not help", True,
     [toleration(TAINT_NODE_UNSCHEDULABLE, effect="NoExecute", operator="Exists")], FAIL),
    ("tolerate everything", True, [toleration(operator="Exists")], None),
])
def test_filter(name: str, unschedulable: bool, tolerations: list[dict[str, str]],
                want: Any) -> None:
    snap = snapshot_of([make_node("n", unschedulable=unschedulable), make_node("ok")])
    got = filter_both(plugin(), new_state(), pod_info(make_pod(tolerations=tolerations)), snap)
    assert got == {"n": want, "ok": None}


@pytest.mark.parametrize(("name", "old", "new_unschedulable", "want"), [
    ("queue on schedulable node added", None, False, QueueingHint.QUEUE),
    ("skip on unschedulable node added", None, True, QueueingHint.SKIP),
    ("queue on node uncordoned", True, False, QueueingHint.QUEUE),
    ("skip on unrelated update", False, False, QueueingHint.SKIP),
    ("skip on node cordoned", False, True, QueueingHint.SKIP),
])
def test_hint_node_change(name: str, old: bool | None, new_unschedulable: bool,
                          want: QueueingHint) -> None:
    old_node = make_node("n", unschedulable=old) if old is not None else None
    got = plugin().is_schedulable_after_node_change(
        make_pod(), old_node, make_node("n", unschedulable=new_unschedulable))
    assert got == want


def test_hint_pod_toleration_change() -> None:
    pod = make_pod("p", uid="u1")
    tolerates = [toleration(TAINT_NODE_UNSCHEDULABLE, effect="NoSchedule", operator="Exists")]
    tolerating = make_pod("p", uid="u1", tolerations=tolerates)
    unrelated = make_pod("p", uid="u1", tolerations=[toleration("other", operator="Exists")])
    other_pod = make_pod("q", uid="u2", tolerations=tolerates)
    pl = plugin()
    assert pl.is_schedulable_after_pod_toleration_change(pod, pod, tolerating) == QueueingHint.QUEUE
    assert pl.is_schedulable_after_pod_toleration_change(pod, pod, unrelated) == QueueingHint.SKIP
    assert pl.is_schedulable_after_pod_toleration_change(pod, other_pod, other_pod) == (
        QueueingHint.SKIP)


def test_events_registered() -> None:
    events = plugin().events_to_register()
    assert [(e.event.resource.value, e.event.action.name) for e in events] == [
        ("Node", "ADD|UPDATE_NODE_TAINT"), ("Pod", "UPDATE_POD_TOLERATION")]
