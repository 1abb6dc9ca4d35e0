"""CapacityScheduling, ported from scheduler-plugins capacity_scheduling_test.go (TestPreFilter,
TestPostFilter, TestReserve, TestUnreserve, TestDryRunPreemption, TestPodEligibleToPreemptOthers)
and extended with the rules of issue 17: cross-node reclaim, PDBs, quota-less namespaces never
victims of reclaim, and the messages that explain a rejection or a failed reclaim.

Upstream sets ``Used`` on each quota directly; here used figures come from the cache, so each
upstream ``Used`` is the sum of pods bound in that namespace (same figures)."""

from __future__ import annotations

from typing import Any

import pytest
from capacity_fixtures import (
    HIGH,
    LOW,
    MID,
    NODE_RES,
    eq,
    make_cap_env,
    mpod,
    node,
    victim_names,
)
from preemption_fixtures import pdb, terminating_victim, vpod

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.status import Code
from pyscheduler.framework.types import PodInfo
from pyscheduler.plugins.capacity_scheduling import explain
from pyscheduler.plugins.capacity_scheduling.state import PreFilterState
from pyscheduler.preemption.pdb import PDBChecker

BIG = {"memory": "100000"}


# ---- TestPreFilter ----------------------------------------------------------------------------


def test_pre_filter_pod_subjects_to_elastic_quota() -> None:
    env = make_cap_env([node("node-x", BIG)], [mpod("used", "ns1", 300, MID, "node-x")],
                       [eq("ns1", min={"memory": 1000}, max={"memory": 2000})])
    _, _, st1 = env.pre_filter(mpod("ns1-p1", "ns1", 500))
    _, _, st2 = env.pre_filter(mpod("ns1-p2", "ns1", 1800))
    assert st1 is None
    assert st2 is not None and st2.code == Code.UNSCHEDULABLE
    assert st2.message() == "quota ns1: memory used 300 + 1800 > max 2000"
    assert st2.plugin == "CapacityScheduling"


def test_pre_filter_sum_of_used_bigger_than_sum_of_min() -> None:
    env = make_cap_env([node("node-x", BIG)],
                       [mpod("a", "ns1", 1800, MID, "node-x"), mpod("b", "ns2", 200, MID,
                                                                     "node-x")],
                       [eq("ns1", min={"memory": 1000}, max={"memory": 2000}),
                        eq("ns2", min={"memory": 1000}, max={"memory": 2000})])
    _, _, st = env.pre_filter(mpod("ns2-p1", "ns2", 500))
    assert st is not None and st.code == Code.UNSCHEDULABLE
    # ns2 stays within its own min: what it is guaranteed is borrowed by ns1.
    assert st.message() == ("quota ns2: memory total used 2000 + 500 > total min 2000; "
                            "within its min 1000, the rest is borrowed by other quotas")


def test_pre_filter_borrowing_beyond_what_others_leave() -> None:
    env = make_cap_env([node("node-x", BIG)],
                       [mpod("a", "ns1", 800, MID, "node-x"), mpod("b", "ns2", 900, MID,
                                                                    "node-x")],
                       [eq("ns1", min={"memory": 1000}, max={"memory": 2000}),
                        eq("ns2", min={"memory": 1000}, max={"memory": 2000})])
    _, _, st = env.pre_filter(mpod("p", "ns2", 400))
    assert st is not None
    assert st.message() == ("quota ns2: memory used 900 + 400 > min 1000 would borrow 300, but "
                            "other quotas leave 200 of their min unused (total used 1700 + 400 "
                            "> total min 2000)")
    _, _, ok = env.pre_filter(mpod("q", "ns2", 300))
    assert ok is None


def test_pre_filter_without_elastic_quota_info() -> None:
    env = make_cap_env([node("node-x", BIG)], [], [])
    _, _, st = env.pre_filter(mpod("ns2-p1", "ns2", 500))
    assert st is None


def test_pre_filter_counts_nominated_pods_it_must_not_double_claim() -> None:
    """Upstream nominatedPodsReqInEQWithPodReq: a same-namespace nominated pod of equal or
    higher priority already claims part of the quota."""
    env = make_cap_env([node("node-x", BIG)], [mpod("used", "ns1", 300, MID, "node-x")],
                       [eq("ns1", min={"memory": 1000}, max={"memory": 1000})])
    nominated = mpod("nom", "ns1", 500, HIGH, nominated="node-x")
    env.nominator.add_nominated_pod(PodInfo.of(nominated), "node-x")
    _, _, st = env.pre_filter(mpod("p", "ns1", 300, MID))
    assert st is not None and st.message() == "quota ns1: memory used 300 + 800 > max 1000"
    # a less important nominated pod of the same namespace is not counted (upstream)
    _, _, more_important = env.pre_filter(mpod("p2", "ns1", 300, HIGH + 1))
    assert more_important is None


# ---- TestPostFilter ---------------------------------------------------------------------------


EXISTING = [
    mpod("t1-p2", "ns1", 50, MID, "node-a"),
    mpod("t1-p3", "ns2", 50, MID, "node-a"),
    mpod("t1-p4", "ns2", 50, MID, "node-a"),
]


@pytest.mark.parametrize(("case", "quotas", "want_victims"), [
    ("in-namespace preemption",
     [eq("ns1", min={"memory": 50}, max={"memory": 200}),
      eq("ns2", min={"memory": 200}, max={"memory": 200})], ["t1-p2"]),
    ("cross-namespace preemption",
     [eq("ns1", min={"memory": 150}, max={"memory": 200}),
      eq("ns2", min={"memory": 50}, max={"memory": 200})], ["t1-p3"]),
    # as DefaultPreemption: reprieved most important first (ties in node order)
    ("without elasticQuotas", [], ["t1-p4"]),
])
def test_post_filter(case: str, quotas: list[Any], want_victims: list[str]) -> None:
    preemptor = mpod("t1-p1", "ns1", 50, HIGH)
    env = make_cap_env([node("node-a", NODE_RES)], EXISTING, quotas, preemptor=preemptor)
    state, pi, st = env.pre_filter(preemptor)
    assert st is None, case
    result, status = env.plugin.post_filter(state, pi, env.diagnosis())
    assert status is None, status
    assert result is not None and result.nominated_node_name == "node-a"
    assert victim_names(_last_candidate(env)) == want_victims


@pytest.mark.parametrize(("case", "pods", "quotas", "want"), [
    ("in-namespace preemption",
     [mpod("t1-p1", "ns1", 50, MID, "node-a"), mpod("t1-p2", "ns2", 50, MID, "node-a"),
      mpod("t1-p3", "ns2", 50, MID, "node-a")],
     [eq("ns1", min={"memory": 50}, max={"memory": 200}),
      eq("ns2", min={"memory": 200}, max={"memory": 200})], ["t1-p1"]),
    ("cross-namespace preemption",
     [mpod("t1-p1", "ns1", 50, MID, "node-a"), mpod("t1-p2", "ns2", 50, HIGH, "node-a"),
      mpod("t1-p3", "ns2", 50, MID, "node-a")],
     [eq("ns1", min={"memory": 150}, max={"memory": 200}),
      eq("ns2", min={"memory": 50}, max={"memory": 200})], ["t1-p3"]),
    # Without quotas the three pods are candidates as DefaultPreemption's (reprieve most
    # important first: one victim suffices).
    ("without elasticQuotas",
     [mpod("t1-p1", "ns1", 50, MID, "node-a", start="1970-01-01T00:00:01Z"),
      mpod("t1-p2", "ns2", 50, MID, "node-a", start="1970-01-01T00:00:02Z"),
      mpod("t1-p3", "ns2", 50, MID, "node-a", start="1970-01-01T00:00:03Z")],
     [], ["t1-p3"]),
])
def test_dry_run_preemption(case: str, pods: list[Any], quotas: list[Any],
                            want: list[str]) -> None:
    preemptor = mpod("t1-p", "ns1", 50, HIGH)
    env = make_cap_env([node("node-a", NODE_RES)], pods, quotas, preemptor=preemptor)
    state, pi, st = env.pre_filter(preemptor)
    assert st is None, case
    ev = env.plugin.evaluator
    assert ev is not None
    ev.cycle_state = state
    run = ev.dry_run_preemption(env.fwk, state, pi, env.cache.snapshot.node_infos,
                                PDBChecker([]), 0, 1)
    assert [c.node_name for c in run.candidates] == ["node-a"], run.statuses
    assert victim_names(run.candidates[0]) == want


# ---- TestReserve / TestUnreserve ----------------------------------------------------------------


def test_reserve_and_unreserve_keep_used_exact() -> None:
    env = make_cap_env([node("node-a", BIG)], [mpod("used", "ns1", 300, MID, "node-a")],
                       [eq("ns1", min={"memory": 1000}, max={"memory": 2000})])
    p1 = PodInfo.of(mpod("t1-p1", "ns1", 50, MID))
    p2 = PodInfo.of(mpod("t1-p2", "ns2", 50, MID))
    for p in (p1, p2):
        # the scheduling cycle's order: assume, then Reserve
        env.cache.assume_pod(p, "node-a")
        assert env.fwk.run_reserve(CycleState(), p, "node-a") is None
    infos = env.plugin.quota_infos(env.cache.snapshot)
    assert infos["ns1"].used == {"memory": 350}
    assert "ns2" not in infos
    # a failed bind: Unreserve, then the cache forgets the assumed pod
    env.fwk.run_unreserve(CycleState(), p1, "node-a")
    env.cache.forget_pod(p1.uid)
    assert env.plugin.quota_infos(env.cache.snapshot)["ns1"].used == {"memory": 300}
    env.fwk.run_unreserve(CycleState(), p1, "node-a")  # idempotent
    assert env.plugin.quota_infos(env.cache.snapshot)["ns1"].used == {"memory": 300}


def test_used_is_never_read_from_status() -> None:
    stale = eq("ns1", min={"memory": 1000}, max={"memory": 2000})
    import msgspec
    obj = msgspec.to_builtins(stale)
    obj["status"] = {"used": {"memory": "1999"}}
    env = make_cap_env([node("node-a", BIG)], [mpod("used", "ns1", 100, MID, "node-a")],
                       [msgspec.convert(obj, type(stale))])
    assert env.plugin.quota_infos(env.cache.snapshot)["ns1"].used == {"memory": 100}


# ---- TestPodEligibleToPreemptOthers ----------------------------------------------------------


def _eligible(env: Any, pod: Any, status: Code | None = None) -> bool:
    ev = env.plugin.evaluator
    ev.cycle_state = CycleState()
    state, _, _ = env.pre_filter(pod)
    ev.cycle_state = state
    ok, _ = ev.pod_eligible_to_preempt_others(pod, env.cache.snapshot, status)
    return bool(ok)


def test_eligible_pod_with_preempt_never() -> None:
    pod = vpod("t1-p1", namespace="ns1", priority=HIGH, preemption_policy="Never")
    env = make_cap_env([node("node-a", NODE_RES)], [mpod("t1-p0", "ns1", 50, MID, "node-a")],
                       [eq("ns1", min={"memory": 50}, max={"memory": 150})])
    assert not _eligible(env, pod, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)


def test_eligible_pod_with_unresolvable_nominated_node() -> None:
    pod = vpod("t1-p1", namespace="ns1", priority=HIGH, nominated="node-a")
    env = make_cap_env([node("node-a", NODE_RES)], [mpod("t1-p0", "ns1", 50, MID, "node-a")],
                       [eq("ns1", min={"memory": 50}, max={"memory": 150})])
    assert _eligible(env, pod, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)


@pytest.mark.parametrize(("case", "terminating_ns", "quotas", "want"), [
    ("terminating pod in the same namespace", "ns1",
     [eq("ns1", min={"memory": 50}, max={"memory": 150})], False),
    ("terminating pod in another namespace", "ns2",
     [eq("ns1", min={"memory": 50}, max={"memory": 150}),
      eq("ns2", min={"memory": 50}, max={"memory": 150})], False),
    ("without elasticQuotas, terminating pod exists", "ns2", [], False),
    ("without ElasticQuotas, terminating pod in another namespace with a quota", "ns2",
     [eq("ns2", min={"memory": 50}, max={"memory": 150})], True),
])
def test_eligible_with_terminating_pods(case: str, terminating_ns: str, quotas: list[Any],
                                        want: bool) -> None:
    pod = vpod("t1-p1", namespace="ns1", priority=HIGH, nominated="node-a")
    victim = vpod("t1-p0", namespace=terminating_ns, priority=MID, node="node-a",
                  deleting=True)
    # upstream's Used 100 of that namespace (a pod being deleted no longer counts)
    holder = mpod("holder", terminating_ns, 100, MID, "node-a")
    env = make_cap_env([node("node-a", NODE_RES)], [victim, holder], quotas)
    assert _eligible(env, pod) is want, case


# ---- issue 17: reclaim rules ------------------------------------------------------------------


TEAMS = [eq("team-a", min={"cpu": 2}, max={"cpu": 4}),
         eq("team-b", min={"cpu": 2}, max={"cpu": 4})]


def _cluster(n_nodes: int = 4, **kw: Any) -> list[Any]:
    return [node(f"n{i}", {"cpu": "1", "memory": "10Gi"}, **kw) for i in range(n_nodes)]


def test_within_min_reclaims_from_borrower_on_any_node_never_quota_less_pods() -> None:
    # team-a borrows the whole cluster (4 cpu on 4 nodes); a quota-less pod sits beside.
    nodes = [node(f"n{i}", {"cpu": "1500m"}) for i in range(4)]
    pods = [mpod(f"a{i}", "team-a", 0, LOW, f"n{i}", cpu="1") for i in range(4)]
    pods += [mpod(f"free{i}", "other", 0, LOW, f"n{i}", cpu="500m") for i in range(4)]
    preemptor = mpod("b0", "team-b", 0, LOW, cpu="1")
    env = make_cap_env(nodes, pods, TEAMS, preemptor=preemptor)
    state, pi, st = env.pre_filter(preemptor)
    assert st is not None and "within its min 2" in st.message()
    result, status = env.plugin.post_filter(state, pi, env.diagnosis())
    assert status is None, status
    assert result is not None and result.nominated_node_name
    run = env.plugin.evaluator
    assert run is not None
    # exactly one borrower pod goes; quota-less pods never (they are lower priority, too)
    cand = _last_candidate(env)
    assert len(cand.victims) == 1
    assert cand.victims[0].pod.metadata.namespace == "team-a"


def _last_candidate(env: Any) -> Any:
    assert env.executor.candidates, "no preemption started"
    return env.executor.candidates[-1]


def test_borrowing_pod_preempts_only_in_its_namespace_by_priority() -> None:
    nodes = _cluster(2)
    pods = [mpod("a0", "team-a", 0, LOW, "n0", cpu="1"),
            mpod("b-low", "team-b", 0, LOW, "n1", cpu="1")]
    quotas = [eq("team-a", min={"cpu": 1}, max={"cpu": 2}),
              eq("team-b", min={"cpu": 1}, max={"cpu": 2})]
    # team-b already uses its min (1): one more borrows; team-a is not borrowing.
    preemptor = mpod("b-high", "team-b", 0, HIGH, cpu="1")
    env = make_cap_env(nodes, pods, quotas, preemptor=preemptor)
    state, pi, _ = env.pre_filter(preemptor)
    result, status = env.plugin.post_filter(state, pi, env.diagnosis())
    assert status is None, status
    assert result is not None and result.nominated_node_name == "n1"
    assert victim_names(_last_candidate(env)) == ["b-low"]


def test_borrowing_pod_cannot_reclaim_and_says_why() -> None:
    nodes = _cluster(2)
    pods = [mpod("a0", "team-a", 0, LOW, "n0", cpu="1"),
            mpod("b0", "team-b", 0, HIGH, "n1", cpu="1")]
    quotas = [eq("team-a", min={"cpu": 1}, max={"cpu": 2}),
              eq("team-b", min={"cpu": 1}, max={"cpu": 2})]
    preemptor = mpod("b1", "team-b", 0, MID, cpu="1")
    env = make_cap_env(nodes, pods, quotas, preemptor=preemptor)
    state, pi, st = env.pre_filter(preemptor)
    assert st is not None and "would borrow 1" in st.message()
    result, status = env.plugin.post_filter(state, pi, env.diagnosis())
    assert result is not None and result.nominated_node_name == ""
    assert status is not None and status.code == Code.UNSCHEDULABLE
    msg = status.message()
    assert msg.startswith("preemption: 0/2 nodes are available: 2 No preemption victims")
    assert ("reclaim not possible: quota team-b would be above its min for cpu, so only "
            "lower-priority pods of namespace team-b may be preempted") in msg


def test_over_max_pod_is_not_helped_by_reclaim() -> None:
    env = make_cap_env(_cluster(4), [mpod("a0", "team-a", 0, LOW, "n0", cpu="1")],
                       [eq("team-a", min={"cpu": 1}, max={"cpu": 1})])
    _, _, st = env.pre_filter(mpod("a1", "team-a", 0, HIGH, cpu="1"))
    assert st is not None and st.message() == "quota team-a: cpu used 1 + 1 > max 1"


def test_cross_node_reclaim_victims_on_several_nodes() -> None:
    """The pod needs 2 cpu of quota; the borrower holds 500m per node on 4 nodes, and the only
    node where the pod fits (n4, by label) holds no borrower pod at all."""
    nodes = [node(f"n{i}", {"cpu": "1"}) for i in range(4)]
    nodes.append(node("n4", {"cpu": "2"}, labels={"pool": "b"}))
    pods = [mpod(f"a{i}", "team-a", 0, LOW, f"n{i}", cpu="500m",
                 start=f"1970-01-01T00:00:0{i}Z") for i in range(4)]
    quotas = [eq("team-a", min={"cpu": 1}, max={"cpu": 6}),
              eq("team-b", min={"cpu": 2}, max={"cpu": 6})]
    preemptor = mpod("b0", "team-b", 0, LOW, cpu="2")

    class PoolB:
        name = "PoolB"

        def filter(self, state: Any, pod: Any, node_info: Any) -> Any:
            from pyscheduler.framework.status import Status
            if node_info.node.metadata.labels.get("pool") == "b":
                return None
            return Status.unresolvable("node(s) didn't match pool b")

    env = make_cap_env(nodes, pods, quotas, preemptor=preemptor, extra_filters=[PoolB()])
    # total used 2 + 2 > total min 3
    state, pi, st = env.pre_filter(preemptor)
    assert st is not None
    result, status = env.plugin.post_filter(state, pi, env.diagnosis())
    assert status is None, status
    assert result is not None and result.nominated_node_name == "n4"
    cand = _last_candidate(env)
    # team-a is 1 cpu over its min: the two least important (latest started) pods go.
    assert victim_names(cand) == ["a2", "a3"]
    assert {v.pod.spec.node_name for v in cand.victims} == {"n2", "n3"}


def test_reclaim_respects_pdbs() -> None:
    nodes = [node(f"n{i}", {"cpu": "1"}) for i in range(3)]
    nodes.append(node("n3", {"cpu": "2"}))
    pods = [mpod(f"a{i}", "team-a", 0, LOW, f"n{i}", cpu="1",
                 labels={"app": "protected" if i == 2 else "x"},
                 start=f"1970-01-01T00:00:0{i}Z") for i in range(3)]
    quotas = [eq("team-a", min={"cpu": 2}, max={"cpu": 6}),
              eq("team-b", min={"cpu": 1}, max={"cpu": 6})]
    preemptor = mpod("b0", "team-b", 0, LOW, cpu="1")
    busy = mpod("filler", "other", 0, HIGH, "n3", cpu="2")
    env = make_cap_env(nodes, [*pods, busy], quotas, preemptor=preemptor,
                       pdbs=[pdb("keep", namespace="team-a", match_labels={"app": "protected"},
                                 allowed=0)])
    state, pi, _ = env.pre_filter(preemptor)
    result, status = env.plugin.post_filter(state, pi, env.diagnosis())
    assert status is None, status
    # a2 is the least important but protected by a PDB: a1 goes instead, making room on n1.
    assert victim_names(_last_candidate(env)) == ["a1"]
    assert result is not None and result.nominated_node_name == "n1"


def test_reclaim_not_possible_message_with_figures() -> None:
    """What borrowers hold that may be preempted (a pod of another scheduler may not, by the
    courtesy rule) is less than the quota shortfall: nothing is reclaimed, and the message
    gives the figures."""
    nodes = [node(f"n{i}", {"cpu": "4"}) for i in range(3)]
    pods = [mpod("a0", "team-a", 0, LOW, "n0", cpu="500m", scheduler_name="other"),
            mpod("a1", "team-a", 0, LOW, "n1", cpu="500m"),
            mpod("a2", "team-a", 0, LOW, "n2", cpu="500m"),
            mpod("b-used", "team-b", 0, LOW, "n0", cpu="1")]
    quotas = [eq("team-a", min={"cpu": 0}, max={"cpu": 6}),
              eq("team-b", min={"cpu": 4}, max={"cpu": 6})]
    # team-b stays within its min (1 + 3 <= 4); total 2500m + 3 > 4: 1500m must be reclaimed
    preemptor = mpod("b0", "team-b", 0, LOW, cpu="3")
    env = make_cap_env(nodes, pods, quotas, preemptor=preemptor,
                       allowed=frozenset({"default-scheduler"}))
    state, pi, st = env.pre_filter(preemptor)
    assert st is not None and "within its min 4" in st.message()
    result, status = env.plugin.post_filter(state, pi, env.diagnosis())
    assert result is not None and result.nominated_node_name == ""
    assert status is not None
    assert status.message().endswith(
        "reclaim not possible: borrowers on 2 node(s) hold 1 cpu, 1500m needed.")
    assert explain.reclaim_shortfall("cpu", 1000, 2, 1500) in status.message()
    assert not env.executor.candidates


def test_pods_being_deleted_no_longer_count_towards_quota() -> None:
    """A reclaimed victim's share is claimed by its nominated preemptor: the next preemptor
    must not reclaim it a second time."""
    nodes = _cluster(2)
    gone = terminating_victim(mpod("a0", "team-a", 0, LOW, "n0", cpu="1"))
    env = make_cap_env(nodes, [gone, mpod("a1", "team-a", 0, LOW, "n1", cpu="1")], TEAMS)
    infos = env.plugin.quota_infos(env.cache.snapshot)
    assert infos["team-a"].used == {"cpu": 1000}
    assert env.cache.snapshot.get("n0") is not None
    assert env.cache.snapshot.get("n0").requested.get("cpu") == 1000  # type: ignore[union-attr]


def test_reclaim_waits_while_reclaimed_pods_terminate_elsewhere() -> None:
    nodes = _cluster(3)
    a0 = mpod("a0", "team-a", 0, LOW, "n0", cpu="1")
    pods = [terminating_victim(a0), mpod("a1", "team-a", 0, LOW, "n1", cpu="1"),
            mpod("a2", "team-a", 0, LOW, "n2", cpu="1")]
    quotas = [eq("team-a", min={"cpu": 1}, max={"cpu": 3}),
              eq("team-b", min={"cpu": 2}, max={"cpu": 3})]
    pod = mpod("b0", "team-b", 0, LOW, cpu="1", nominated="n2")
    env = make_cap_env(nodes, pods, quotas, preemptor=pod)
    assert not _eligible(env, pod)
    fresh = mpod("b1", "team-b", 0, LOW, cpu="1")
    assert _eligible(env, fresh)  # not nominated: it did not start that reclaim


def test_pre_filter_extensions_update_the_cycle_snapshot_only() -> None:
    env = make_cap_env([node("node-a", BIG)], [mpod("used", "ns1", 300, MID, "node-a")],
                       [eq("ns1", min={"memory": 1000}, max={"memory": 2000})])
    state, pi, _ = env.pre_filter(mpod("p", "ns1", 10))
    other = PodInfo.of(mpod("x", "ns1", 100, MID, "node-a"))
    clone = state.clone()
    ni = env.cache.snapshot.node_infos[0]
    assert env.plugin.add_pod(clone, pi, other, ni) is None
    snap_clone = clone.read("ElasticQuotaSnapshot")
    snap = state.read("ElasticQuotaSnapshot")
    assert snap_clone.infos["ns1"].used == {"memory": 400}
    assert snap.infos["ns1"].used == {"memory": 300}
    assert isinstance(state.read("PreFilterCapacityScheduling"), PreFilterState)


def test_events_to_register() -> None:
    env = make_cap_env([node("node-a", BIG)])
    events = {(e.event.resource.value, int(e.event.action))
              for e in env.plugin.events_to_register()}
    assert ("AssignedPod", 2) in events
    assert any(r == "scheduling.x-k8s.io/ElasticQuota" for r, _ in events)
