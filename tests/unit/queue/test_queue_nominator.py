from __future__ import annotations

from _queue_fakes import make_pod

from pyscheduler.backend.queue.nominator import Nominator
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.pod import Pod


def _names(infos: list[PodInfo]) -> list[str]:
    return [i.pod.metadata.name for i in infos]


def test_add_from_status_or_override() -> None:
    n = Nominator()
    n.add_nominated_pod(PodInfo.of(make_pod("a", uid="a", nominated="n1")))
    n.add_nominated_pod(PodInfo.of(make_pod("b", uid="b")), "n1")
    n.add_nominated_pod(PodInfo.of(make_pod("c", uid="c")))  # nothing to nominate
    assert _names(n.nominated_pods_for_node("n1")) == ["a", "b"]
    assert n.nominated_node_name("c") is None
    assert len(n) == 2


def test_one_nomination_per_pod() -> None:
    n = Nominator()
    pi = PodInfo.of(make_pod("a", uid="a"))
    n.add_nominated_pod(pi, "n1")
    n.add_nominated_pod(pi, "n2")
    n.add_nominated_pod(pi, "n2")
    assert n.nominated_pods_for_node("n1") == []
    assert _names(n.nominated_pods_for_node("n2")) == ["a"]


def test_empty_override_clears() -> None:
    n = Nominator()
    pi = PodInfo.of(make_pod("a", uid="a", nominated="n1"))
    n.add_nominated_pod(pi)
    n.add_nominated_pod(pi, "")
    assert n.nominated_pods_for_node("n1") == []


def test_update_without_the_field_keeps_the_in_memory_nomination() -> None:
    n = Nominator()
    old = make_pod("a", uid="a")
    n.add_nominated_pod(PodInfo.of(old), "n1")  # PostFilter result, patch not yet seen
    new = make_pod("a", uid="a", labels={"x": "y"})
    n.update_nominated_pod(old, PodInfo.of(new))
    got = n.nominated_pods_for_node("n1")
    assert _names(got) == ["a"] and got[0].pod is new  # and the PodInfo is refreshed


def test_update_that_sets_changes_or_clears_the_field_wins() -> None:
    n = Nominator()
    a0 = make_pod("a", uid="a")
    a1 = make_pod("a", uid="a", nominated="n2")
    n.add_nominated_pod(PodInfo.of(a0), "n1")
    n.update_nominated_pod(a0, PodInfo.of(a1))  # set (to another node)
    assert n.nominated_node_name("a") == "n2"
    a2 = make_pod("a", uid="a", nominated="n3")
    n.update_nominated_pod(a1, PodInfo.of(a2))  # changed
    assert n.nominated_node_name("a") == "n3"
    a3 = make_pod("a", uid="a")
    n.update_nominated_pod(a2, PodInfo.of(a3))  # cleared intentionally
    assert n.nominated_node_name("a") is None
    assert n.nominated_pods_for_node("n3") == []


def test_delete() -> None:
    n = Nominator()
    pod = make_pod("a", uid="a")
    n.add_nominated_pod(PodInfo.of(pod), "n1")
    n.delete_nominated_pod_if_exists(pod)
    n.delete_nominated_pod_if_exists(pod)
    assert n.nominated_pods_for_node("n1") == [] and len(n) == 0


def test_pod_lookup_refuses_gone_or_bound_pods() -> None:
    live: dict[str, Pod] = {}
    n = Nominator(lambda key, uid: live.get(key))
    gone = make_pod("gone", uid="g")
    n.add_nominated_pod(PodInfo.of(gone), "n1")
    bound = make_pod("bound", uid="b")
    live["default/bound"] = make_pod("bound", uid="b", node="n1")
    n.add_nominated_pod(PodInfo.of(bound), "n1")
    recreated = make_pod("re", uid="old-uid")
    live["default/re"] = make_pod("re", uid="new-uid")
    n.add_nominated_pod(PodInfo.of(recreated), "n1")
    ok = make_pod("ok", uid="ok")
    live["default/ok"] = ok
    n.add_nominated_pod(PodInfo.of(ok), "n1")
    assert _names(n.nominated_pods_for_node("n1")) == ["ok"]
