"""NodePorts: upstream's node_ports_test.go rows (0.0.0.0 semantics), the PreFilter Skip, and
the pod-deleted queueing hint."""

from __future__ import annotations

from typing import Any

import pytest
from builders import Port, filter_both, make_node, make_pod, new_state, pod_info, snapshot_of

from pyscheduler.framework.status import Code
from pyscheduler.framework.types import QueueingHint
from pyscheduler.plugins.node_ports import ERR_REASON, NodePorts, host_ports, new

FAIL = (int(Code.UNSCHEDULABLE), [ERR_REASON])


def plugin() -> NodePorts:
    return new(None, None)  # type: ignore[arg-type]


def ports(*specs: str) -> list[Port]:
    """Upstream's "PROTOCOL/hostIP/port" notation."""
    out: list[Port] = []
    for s in specs:
        proto, ip, port = s.split("/")
        out.append((int(port), proto, ip))
    return out


CASES = [
    ("other port", ["UDP/127.0.0.1/8080"], ["UDP/127.0.0.1/9090"], None),
    ("same udp port", ["UDP/127.0.0.1/8080"], ["UDP/127.0.0.1/8080"], FAIL),
    ("same tcp port", ["TCP/127.0.0.1/8080"], ["TCP/127.0.0.1/8080"], FAIL),
    ("different host ip", ["TCP/127.0.0.1/8080"], ["TCP/127.0.0.2/8080"], None),
    ("different protocol", ["UDP/127.0.0.1/8080"], ["TCP/127.0.0.1/8080"], None),
    ("second udp port conflict", ["UDP/127.0.0.1/8000", "UDP/127.0.0.1/8080"],
     ["UDP/127.0.0.1/8080"], FAIL),
    ("first tcp port conflict", ["TCP/127.0.0.1/8001", "UDP/127.0.0.1/8080"],
     ["TCP/127.0.0.1/8001", "UDP/127.0.0.1/8081"], FAIL),
    ("first tcp port conflict due to 0.0.0.0 hostIP", ["TCP/0.0.0.0/8001"],
     ["TCP/127.0.0.1/8001"], FAIL),
    ("TCP hostPort conflict due to 0.0.0.0 hostIP", ["TCP/10.0.10.10/8001", "TCP/0.0.0.0/8001"],
     ["TCP/127.0.0.1/8001"], FAIL),
    ("second tcp port conflict to 0.0.0.0 hostIP", ["TCP/127.0.0.1/8001"],
     ["TCP/0.0.0.0/8001"], FAIL),
    ("second different protocol", ["UDP/127.0.0.1/8001"], ["TCP/0.0.0.0/8001"], None),
    ("UDP hostPort conflict due to 0.0.0.0 hostIP", ["UDP/127.0.0.1/8001"],
     ["TCP/0.0.0.0/8001", "UDP/0.0.0.0/8001"], FAIL),
    ("an empty host IP means 0.0.0.0", ["TCP//8001"], ["TCP/10.1.1.1/8001"], FAIL),
]


@pytest.mark.parametrize(("name", "want_ports", "used", "want"), CASES,
                         ids=[c[0] for c in CASES])
def test_filter(name: str, want_ports: list[str], used: list[str], want: Any) -> None:
    snap = snapshot_of([make_node("n"), make_node("free")],
                       [make_pod("running", node="n", ports=ports(*used))])
    pl = plugin()
    pi = pod_info(make_pod(ports=ports(*want_ports)))
    state = new_state()
    assert pl.pre_filter(state, pi, snap) == (None, None)
    assert filter_both(pl, state, pi, snap) == {"n": want, "free": None}


def test_prefilter_skips_pods_without_host_ports() -> None:
    snap = snapshot_of([make_node("n")])
    res, st = plugin().pre_filter(new_state(), pod_info(make_pod(requests={"cpu": "1"})), snap)
    assert res is None and st is not None and st.code == Code.SKIP


def test_filter_without_prefilter_is_an_error() -> None:
    snap = snapshot_of([make_node("n")])
    st = plugin().filter(new_state(), pod_info(make_pod()), snap.node_infos[0])
    assert st is not None and st.code == Code.ERROR


def test_sidecar_ports_are_wanted_too() -> None:
    pod = make_pod(sidecar_ports=ports("TCP/0.0.0.0/9000"), ports=ports("TCP/0.0.0.0/80"))
    assert host_ports(pod) == [("0.0.0.0", "TCP", 9000), ("0.0.0.0", "TCP", 80)]


@pytest.mark.parametrize(("name", "deleted", "want"), [
    ("the deleted pod was never placed", make_pod("d", ports=ports("TCP/0.0.0.0/80")),
     QueueingHint.SKIP),
    ("the deleted pod used no host port", make_pod("d", node="n", requests={"cpu": "1"}),
     QueueingHint.SKIP),
    ("the deleted pod used another port", make_pod("d", node="n", ports=ports("TCP/0.0.0.0/81")),
     QueueingHint.SKIP),
    ("the deleted pod used the wanted port",
     make_pod("d", node="n", ports=ports("TCP/10.0.0.1/80")), QueueingHint.QUEUE),
    ("the deleted pod was nominated and used the wanted port",
     make_pod("d", nominated="n", ports=ports("TCP/0.0.0.0/80")), QueueingHint.QUEUE),
])
def test_hint_pod_deleted(name: str, deleted: Any, want: QueueingHint) -> None:
    pod = make_pod("p", ports=ports("TCP/0.0.0.0/80"))
    assert plugin().is_schedulable_after_pod_deleted(pod, deleted, None) == want


def test_events_registered() -> None:
    events = plugin().events_to_register()
    assert [(e.event.resource.value, e.event.action.name, e.hint is not None)
            for e in events] == [("Pod", "DELETE", True), ("Node", "ADD", False)]
