"""TaintToleration: upstream's taint_toleration_test.go rows, per-node and batch, plus the
taint-set index and the queueing hints."""

from __future__ import annotations

from typing import Any

import pytest
from builders import (
    filter_both,
    make_node,
    make_pod,
    new_state,
    pod_info,
    rows_of,
    scores_both,
    snapshot_of,
    taint,
    toleration,
)

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.status import Code
from pyscheduler.framework.types import QueueingHint
from pyscheduler.plugins.taint_toleration import (
    ERR_REASON_UNTOLERATED,
    TaintToleration,
    new,
)

UNRES = int(Code.UNSCHEDULABLE_AND_UNRESOLVABLE)
PNS = "PreferNoSchedule"


def plugin() -> TaintToleration:
    return new(None, None)  # type: ignore[arg-type]


def nodes_with(*taint_lists: list[dict[str, str]]) -> list[Any]:
    return [make_node(f"node{chr(ord('A') + i)}", taints=t) for i, t in enumerate(taint_lists)]


SCORE_CASES = [
    ("node with taints tolerated by the pod gets a higher score",
     [toleration("foo", "bar", PNS)],
     [[taint("foo", "bar", PNS)], [taint("foo", "blah", PNS)]], [100, 0]),
    ("all tolerated: same score however many taints",
     [toleration("cpu-type", "arm64", PNS), toleration("disk-type", "ssd", PNS)],
     [[], [taint("cpu-type", "arm64", PNS)],
      [taint("cpu-type", "arm64", PNS), taint("disk-type", "ssd", PNS)]], [100, 100, 100]),
    ("the more intolerable taints a node has, the lower score it gets",
     [toleration("foo", "bar", PNS)],
     [[], [taint("cpu-type", "arm64", PNS)],
      [taint("cpu-type", "arm64", PNS), taint("disk-type", "ssd", PNS)]], [100, 50, 0]),
    ("only PreferNoSchedule taints and tolerations count",
     [toleration("cpu-type", "arm64", "NoSchedule"), toleration("disk-type", "ssd", "NoSchedule")],
     [[], [taint("cpu-type", "arm64", "NoSchedule")],
      [taint("cpu-type", "arm64", PNS), taint("disk-type", "ssd", PNS)]], [100, 100, 0]),
    ("no taints and tolerations: lands on the node with no taints", [],
     [[], [taint("cpu-type", "arm64", PNS)]], [100, 0]),
    ("a toleration with empty effect tolerates PreferNoSchedule", [toleration("foo", "bar")],
     [[taint("foo", "bar", PNS)], [taint("foo", "baz", PNS)]], [100, 0]),
    ("nothing untolerated anywhere: every node gets the maximum", [],
     [[], []], [100, 100]),
]


@pytest.mark.parametrize(("name", "tolerations", "taints", "want"), SCORE_CASES,
                         ids=[c[0] for c in SCORE_CASES])
def test_score(name: str, tolerations: list[dict[str, str]],
               taints: list[list[dict[str, str]]], want: list[int]) -> None:
    nodes = nodes_with(*taints)
    snap = snapshot_of(nodes)
    pl = plugin()
    state = new_state()
    pi = pod_info(make_pod(tolerations=tolerations))
    assert pl.pre_score(state, pi, snap, snap.all_rows()) is None
    got = scores_both(pl, state, pi, snap)
    assert [got[n.metadata.name] for n in nodes] == want


FILTER_CASES = [
    ("a pod having no tolerations can't be scheduled onto a node with nonempty taints", [],
     [taint("dedicated", "user1")], (UNRES, [ERR_REASON_UNTOLERATED])),
    ("tolerated dedicated node", [toleration("dedicated", "user1", "NoSchedule")],
     [taint("dedicated", "user1")], None),
    ("toleration for another user", [toleration("dedicated", "user2", "NoSchedule")],
     [taint("dedicated", "user1")], (UNRES, [ERR_REASON_UNTOLERATED])),
    ("operator Exists tolerates any value", [toleration("foo", effect="NoSchedule",
                                                        operator="Exists")],
     [taint("foo", "bar")], None),
    ("several tolerations for several taints",
     [toleration("dedicated", "user2", "NoSchedule"),
      toleration("foo", effect="NoSchedule", operator="Exists")],
     [taint("dedicated", "user2"), taint("foo", "bar")], None),
    ("matching key and value but another (non-empty) effect",
     [toleration("foo", "bar", PNS)], [taint("foo", "bar")], (UNRES, [ERR_REASON_UNTOLERATED])),
    ("empty toleration effect matches NoSchedule", [toleration("foo", "bar")],
     [taint("foo", "bar")], None),
    ("PreferNoSchedule taints never filter", [toleration("dedicated", "user2", "NoSchedule")],
     [taint("dedicated", "user1", PNS)], None),
    ("PreferNoSchedule taints never filter, no tolerations", [],
     [taint("dedicated", "user1", PNS)], None),
    ("NoExecute taints filter like NoSchedule", [toleration("a", "b", "NoSchedule")],
     [taint("a", "b", "NoExecute")], (UNRES, [ERR_REASON_UNTOLERATED])),
    ("empty key with Exists tolerates everything", [toleration(operator="Exists")],
     [taint("a", "b", "NoExecute"), taint("c")], None),
]


@pytest.mark.parametrize(("name", "tolerations", "taints", "want"), FILTER_CASES,
                         ids=[c[0] for c in FILTER_CASES])
def test_filter(name: str, tolerations: list[dict[str, str]], taints: list[dict[str, str]],
                want: Any) -> None:
    # An untainted neighbour makes the batch form mix passing and failing rows.
    snap = snapshot_of([make_node("nodeA", taints=taints), make_node("clean")])
    got = filter_both(plugin(), new_state(), pod_info(make_pod(tolerations=tolerations)), snap)
    assert got == {"nodeA": want, "clean": None}


def test_batch_filter_on_untainted_rows_does_no_work() -> None:
    snap = snapshot_of([make_node("a"), make_node("b")])
    pl = plugin()
    assert pl.filter_nodes(new_state(), pod_info(make_pod()), snap, snap.all_rows()) is None
    assert pl._index is None  # the taint-set index was never needed


def test_taint_index_follows_node_updates() -> None:
    cache = SchedulerCache()
    cache.add_node(make_node("a", taints=[taint("k", "v")]))
    cache.add_node(make_node("b"))
    snap = cache.snapshot
    pl = plugin()
    pi = pod_info(make_pod())
    assert filter_both(pl, new_state(), pi, snap)["a"] == (UNRES, [ERR_REASON_UNTOLERATED])
    # The taint moves from a to b: the index must be rebuilt.
    cache.update_node(None, make_node("a"))
    cache.update_node(None, make_node("b", taints=[taint("k", "v")]))
    got = filter_both(pl, new_state(), pi, snap, rows_of(snap, ["b", "a"]))
    assert got == {"a": None, "b": (UNRES, [ERR_REASON_UNTOLERATED])}


@pytest.mark.parametrize(("name", "old", "new_taints", "want"), [
    ("skip on untolerated-taint node added", None, [taint("dedicated", "user1")],
     QueueingHint.SKIP),
    ("queue on tolerated-taint node added", None, [taint("dedicated", "user2")],
     QueueingHint.QUEUE),
    ("skip unrelated change", [taint("dedicated", "user1")],
     [taint("dedicated", "user1"), taint("dedicated", "user3")], QueueingHint.SKIP),
    ("queue on taint change", [taint("dedicated", "user1")], [taint("dedicated", "user2")],
     QueueingHint.QUEUE),
    ("skip when it was already tolerated", [taint("dedicated", "user2")], [],
     QueueingHint.SKIP),
])
def test_hint_node_change(name: str, old: list[dict[str, str]] | None,
                          new_taints: list[dict[str, str]], want: QueueingHint) -> None:
    pod = make_pod(tolerations=[toleration("dedicated", "user2", "NoSchedule")])
    old_node = make_node("n", taints=old) if old is not None else None
    got = plugin().is_schedulable_after_node_change(pod, old_node,
                                                    make_node("n", taints=new_taints))
    assert got == want


def test_hint_pod_toleration_change() -> None:
    pl = plugin()
    pod = make_pod("p", uid="uid0")
    other = make_pod("q", uid="uid1")
    same = make_pod("p", uid="uid0", tolerations=[toleration("a", "b")])
    assert pl.is_schedulable_after_pod_toleration_change(pod, other, other) == QueueingHint.SKIP
    assert pl.is_schedulable_after_pod_toleration_change(pod, pod, same) == QueueingHint.QUEUE


def test_events_registered() -> None:
    events = plugin().events_to_register()
    assert [(e.event.resource.value, e.event.action.name) for e in events] == [
        ("Node", "ADD|UPDATE_NODE_TAINT"), ("Pod", "UPDATE_POD_TOLERATION")]
