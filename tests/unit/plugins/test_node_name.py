"""NodeName: upstream's node_name_test.go rows, plus pyscheduler's narrowing PreFilter."""

from __future__ import annotations

from typing import Any

import pytest
from builders import filter_both, make_node, make_pod, new_state, pod_info, rows_of, snapshot_of

from pyscheduler.framework.interfaces import PreFilterResult
from pyscheduler.framework.status import Code
from pyscheduler.plugins.node_name import ERR_REASON, NodeName, new

FAIL = (int(Code.UNSCHEDULABLE_AND_UNRESOLVABLE), [ERR_REASON])


def plugin() -> NodeName:
    return new(None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "pod_node", "want"), [
    ("no host specified", "", {"foo": None, "bar": None}),
    ("host matches", "foo", {"foo": None, "bar": FAIL}),
    ("host doesn't match", "baz", {"foo": FAIL, "bar": FAIL}),
])
def test_filter(name: str, pod_node: str, want: dict[str, Any]) -> None:
    snap = snapshot_of([make_node("foo"), make_node("bar")])
    # The pod is not assigned (it is never added to the cache): node_name is the request.
    pi = pod_info(make_pod(node=pod_node))
    assert filter_both(plugin(), new_state(), pi, snap, rows_of(snap, ["bar", "foo"])) == want


def test_prefilter_narrows_or_skips() -> None:
    snap = snapshot_of([make_node("foo")])
    assert plugin().pre_filter(new_state(), pod_info(make_pod(node="foo")), snap) == (
        PreFilterResult({"foo"}), None)
    res, st = plugin().pre_filter(new_state(), pod_info(make_pod()), snap)
    assert res is None and st is not None and st.code == Code.SKIP


def test_events_registered() -> None:
    events = plugin().events_to_register()
    assert [(e.event.resource.value, e.event.action.name, e.hint) for e in events] == [
        ("Node", "ADD", None)]
