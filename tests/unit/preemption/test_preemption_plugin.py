"""DefaultPreemption as a plugin, ported from upstream default_preemption_test.go (TestPostFilter,
TestPreempt, TestPreEnqueue), plus args validation, metrics and the FailedScheduling message."""

from __future__ import annotations

from typing import Any

import pytest
from preemption_fixtures import (
    HIGH,
    LARGE,
    LOW,
    MID,
    SMALL,
    VERY_HIGH,
    VERY_LARGE,
    ErroringExtensions,
    FakeClient,
    make_env,
    node,
    pdb,
    terminating_victim,
    vpod,
)
from prometheus_client import REGISTRY

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import PostFilterResult
from pyscheduler.framework.runtime import Diagnosis, Framework, FrameworkOptions, new_framework
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import ActionType, PodInfo, QueueingHint, Resource
from pyscheduler.plugins import default_preemption
from pyscheduler.plugins.default_preemption import (
    DefaultPreemptionArgs,
    new,
)
from pyscheduler.plugins.validation import ArgsError

ONE_POD = {"pods": "1"}
NODE_RES = {"cpu": "200m", "memory": "400"}
VIOLATING = {"test.kubernetes.io/is-violating-pdb": "violating"}
NON_VIOLATING = {"test.kubernetes.io/is-violating-pdb": "non-violating"}


def placed(node_name: str, victims: int = 1) -> Status:
    """Upstream's Success status of a preemption that nominated ``node_name``."""
    return Status(Code.SUCCESS, [f"preemption: found a potential placement for pod on node "
                                 f"{node_name}, preempting {victims} victims"],
                  "DefaultPreemption")


def run_post_filter(env: Any, pod: Any, unschedulable: list[str]) -> tuple[Any, Any]:
    state, pi = env.state_for(pod)
    return env.plugin.post_filter(state, pi, env.diagnosis(unschedulable))


# ---- TestPostFilter ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "pod", "pods", "nodes", "unschedulable", "pdbs", "want_node", "want_msg"),
    [
        ("pod with higher priority can be made schedulable",
         vpod("p", priority=HIGH), [vpod("p1", node="node1")], [node("node1", ONE_POD)],
         ["node1"], [], "node1", None),
        ("pod with tied priority is still unschedulable",
         vpod("p"), [vpod("p1", node="node1")], [node("node1", ONE_POD)], ["node1"], [], "",
         "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."),
        ("preemption should respect filteredNodesStatuses",
         vpod("p", priority=HIGH), [vpod("p1", node="node1")], [node("node1", ONE_POD)], [],
         [], "", "preemption: 0/1 nodes are available: 1 Preemption is not helpful for "
         "scheduling."),
        ("pod can be made schedulable on one node",
         vpod("p", priority=MID),
         [vpod("p1", node="node1", priority=HIGH), vpod("p2", node="node2", priority=LOW)],
         [node("node1", ONE_POD), node("node2", ONE_POD)], ["node1", "node2"], [], "node2",
         None),
        ("pod can be made schedulable on minHighestPriority node",
         vpod("p", priority=VERY_HIGH),
         [vpod("p1", node="node1", labels=NON_VIOLATING, priority=HIGH),
          vpod("p2", node="node1", labels=VIOLATING, priority=LOW),
          vpod("p3", node="node2", labels=VIOLATING, priority=MID)],
         [node("node1", ONE_POD), node("node2", ONE_POD)], ["node1", "node2"],
         [pdb("violating-pdb", match_labels=VIOLATING, allowed=0),
          pdb("non-violating-pdb", match_labels=NON_VIOLATING, allowed=2**31 - 1)],
         "node2", None),
        ("no candidate nodes found, no enough resource after removing low priority pods",
         vpod("p", priority=HIGH, requests=LARGE),
         [vpod("p1", node="node1"), vpod("p2", node="node2")],
         [node("node1", NODE_RES), node("node2", NODE_RES)], ["node1", "node2"], [], "",
         "preemption: 0/2 nodes are available: 2 Insufficient cpu."),
        ("no candidate nodes found with mixed reasons, no lower priority pod and no enough CPU "
         "resource",
         vpod("p", priority=HIGH, requests=LARGE),
         [vpod("p1", node="node1", priority=HIGH), vpod("p2", node="node2"),
          vpod("p3", node="node3", priority=HIGH)],
         [node("node1", ONE_POD), node("node2", NODE_RES), node("node3", ONE_POD)],
         ["node1", "node2", "node3"], [], "",
         "preemption: 0/3 nodes are available: 1 Insufficient cpu, 2 No preemption victims "
         "found for incoming pod."),
        ("no candidate nodes found with mixed reason, 2 UnschedulableAndUnresolvable nodes and 2 "
         "nodes don't have enough CPU resource",
         vpod("p", priority=HIGH, requests=LARGE),
         [vpod("p1", node="node1"), vpod("p2", node="node2")],
         [node(f"node{i}", NODE_RES) for i in range(1, 5)], ["node1", "node2"], [], "",
         "preemption: 0/4 nodes are available: 2 Insufficient cpu, 2 Preemption is not helpful "
         "for scheduling."),
    ],
)
async def test_post_filter(case: str, pod: Any, pods: list[Any], nodes: list[Any],
                           unschedulable: list[str], pdbs: list[Any], want_node: str,
                           want_msg: str | None) -> None:
    env = make_env(nodes, pods, preemptor=pod, pdbs=pdbs)
    result, status = run_post_filter(env, pod, unschedulable)
    assert result == PostFilterResult(want_node), case
    if want_msg is None:
        # Upstream's Success status names the node and the number of victims (one here).
        assert status is not None and status.code == Code.SUCCESS, (case, status)
        assert status.reasons == [
            f"preemption: found a potential placement for pod on node {want_node}, "
            "preempting 1 victims"], case
    else:
        assert status is not None and status.code == Code.UNSCHEDULABLE, case
        assert status.reasons == [want_msg], case
        assert status.plugin == "DefaultPreemption"
    await env.executor.drain()


async def test_post_filter_only_node_fails_with_pre_filter_extension_error() -> None:
    pod = vpod("p", priority=HIGH, requests=LARGE)
    env = make_env([node("node1", LARGE, labels={"error": "true"})], [vpod("p1", node="node1")],
                   preemptor=pod, extra_pre_filters=[ErroringExtensions()])
    result, status = run_post_filter(env, pod, ["node1"])
    assert result is None
    assert status is not None and status.code == Code.ERROR
    assert status.reasons == [
        'preemption: running RemovePod on PreFilter plugin "test-plugin": failed to remove '
        "pod: p"]


async def test_post_filter_one_node_errors_the_other_passes() -> None:
    pod = vpod("p", priority=HIGH, requests=LARGE)
    env = make_env([node("node1", LARGE, labels={"error": "true"}), node("node2", LARGE)],
                   [vpod("p1", node="node1"), vpod("p2", node="node2", requests=SMALL)],
                   preemptor=pod, extra_pre_filters=[ErroringExtensions()])
    result, status = run_post_filter(env, pod, ["node1", "node2"])
    assert (result, status) == (PostFilterResult("node2"), placed("node2"))
    await env.executor.drain()
    assert env.client.deleted_names == ["p2"]


async def test_failed_scheduling_message_carries_the_preemption_part() -> None:
    pod = vpod("p")
    env = make_env([node("node1", ONE_POD)], [vpod("p1", node="node1")], preemptor=pod)
    state, pi = env.state_for(pod)
    diagnosis = Diagnosis(num_all_nodes=1)
    feasible = env.fwk.find_nodes_that_pass_filters(state, pi, env.snapshot,
                                                    env.snapshot.all_rows(), diagnosis)
    assert len(feasible) == 0
    result, status = env.fwk.run_post_filter(state, pi, diagnosis)
    # Upstream returns the rejecting plugin's result when its mode is not Noop: preemption's
    # empty nomination (ModeOverride) clears any nomination the pod had.
    assert result == PostFilterResult("") and status is not None
    # One final period, as the real kube-scheduler v1.37.2 writes it (tests/differential).
    assert diagnosis.message() == (
        "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: "
        "1 No preemption victims found for incoming pod.")


async def test_preemptor_missing_from_the_informer_is_an_error() -> None:
    pod = vpod("p", priority=HIGH)
    env = make_env([node("node1", ONE_POD)], [vpod("p1", node="node1")])  # p not in the lister
    result, status = run_post_filter(env, pod, ["node1"])
    assert result is None
    assert status is not None and status.code == Code.ERROR
    assert status.reasons == ['preemption: pod "p" not found']


async def test_attempts_metric_counts_every_call() -> None:
    pod = vpod("p", priority=HIGH)
    env = make_env([node("node1", ONE_POD)], [vpod("p1", node="node1")], preemptor=pod)
    before = REGISTRY.get_sample_value("scheduler_preemption_attempts_total") or 0.0
    victims_before = REGISTRY.get_sample_value("scheduler_preemption_victims_count") or 0.0
    run_post_filter(env, pod, ["node1"])
    never = vpod("p", priority=HIGH, preemption_policy="Never")
    env.pods.update(never)  # the plugin reads the preemptor's latest version from the informer
    assert run_post_filter(env, never, ["node1"])[0] is None
    assert REGISTRY.get_sample_value("scheduler_preemption_attempts_total") == before + 2
    assert REGISTRY.get_sample_value("scheduler_preemption_victims_count") == victims_before + 1
    await env.executor.drain()


# ---- TestPreempt ---------------------------------------------------------------------------------


BASIC_PODS = [
    vpod("p1.1", node="node1", priority=LOW, requests=SMALL),
    vpod("p1.2", node="node1", priority=LOW, requests=SMALL),
    vpod("p2.1", node="node2", priority=HIGH, requests=LARGE),
    vpod("p3.1", node="node3", priority=MID, requests={"cpu": "200m", "memory": "200"}),
]


@pytest.mark.parametrize(
    ("case", "pod", "want", "victims"),
    [
        ("basic preemption logic",
         vpod("p", priority=HIGH, requests=VERY_LARGE, preemption_policy="PreemptLowerPriority"),
         PostFilterResult("node1"), ["p1.1", "p1.2"]),
        ("no preempting in pod",
         vpod("p", priority=HIGH, requests=VERY_LARGE, preemption_policy="Never"), None, []),
        ("PreemptionPolicy is nil", vpod("p", priority=HIGH, requests=VERY_LARGE),
         PostFilterResult("node1"), ["p1.1", "p1.2"]),
    ],
)
async def test_preempt(case: str, pod: Any, want: PostFilterResult | None,
                       victims: list[str]) -> None:
    nodes = [node(n, VERY_LARGE) for n in ("node1", "node2", "node3")]
    env = make_env(nodes, BASIC_PODS, preemptor=pod)
    result, status = run_post_filter(env, pod, ["node1", "node2", "node3"])
    assert result == want, case
    if want is None:
        assert status is not None
        assert status.reasons == ["preemption: not eligible due to preemptionPolicy=Never."]
    await env.executor.drain()
    client = env.client
    assert client.deleted_names == victims, case
    # Each deleted victim was first patched with the DisruptionTarget condition, by UID.
    assert sorted(n for n, _ in client.patches) == victims
    for _, patch in client.patches:
        [cond] = patch["status"]["conditions"]
        assert {k: cond[k] for k in ("type", "status", "reason", "message")} == {
            "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
            "message": "default-scheduler: preempting to accommodate a higher priority pod"}
    assert sorted(uid for _, uid in client.deletes) == victims  # uid == name in these pods
    assert sorted(e[0] for e in client.events) == victims
    for _, related, type_, reason, action, note in client.events:
        assert (related, type_, reason, action) == ("p", "Normal", "Preempted", "Preempting")
        assert note == "Preempted by pod p on node node1"
    if want is None:
        return
    # The informer then shows the victims terminating and the preemptor nominated: calling
    # preempt again must not preempt anything more.
    for p in BASIC_PODS:
        if p.metadata.name in victims:
            env.update_pod(p, terminating_victim(p))
    nominated = vpod("p", priority=HIGH, requests=VERY_LARGE, nominated="node1")
    env.pods.update(nominated)
    result, status = run_post_filter(env, nominated, ["node1", "node2", "node3"])
    assert result is None
    assert status is not None and status.reasons == [
        "preemption: not eligible due to a terminating pod on the nominated node."]
    await env.executor.drain()
    assert env.client.deleted_names == victims


async def test_preempt_when_nominated_node_no_longer_helps() -> None:
    # Nominated to node1, which is now unresolvable: preempt elsewhere despite the terminating
    # victim there (upstream: eligible when the nominated node is UnschedulableAndUnresolvable).
    pod = vpod("p", priority=HIGH, requests=VERY_LARGE, nominated="node1")
    pods = [terminating_victim(vpod("v", node="node1", priority=LOW, requests=SMALL)),
            vpod("w", node="node2", priority=LOW, requests=SMALL)]
    env = make_env([node("node1", VERY_LARGE), node("node2", VERY_LARGE)], pods, preemptor=pod)
    result, status = run_post_filter(env, pod, ["node2"])
    assert (result, status) == (PostFilterResult("node2"), placed("node2"))
    await env.executor.drain()
    assert env.client.deleted_names == ["w"]


async def test_victims_already_terminating_get_no_calls() -> None:
    pod = vpod("p", priority=HIGH, requests=VERY_LARGE)
    pods = [vpod("a", node="node1", priority=LOW, requests=SMALL, deleting=True),
            vpod("b", node="node1", priority=LOW, requests=SMALL)]
    env = make_env([node("node1", VERY_LARGE)], pods, preemptor=pod)
    result, _ = run_post_filter(env, pod, ["node1"])
    assert result == PostFilterResult("node1")
    await env.executor.drain()
    assert env.client.deleted_names == ["b"]


async def test_lower_priority_nominations_on_the_node_are_cleared() -> None:
    pod = vpod("p", priority=HIGH, requests=LARGE)
    env = make_env([node("node1", VERY_LARGE)],
                   [vpod("v", node="node1", priority=LOW, requests=LARGE)], preemptor=pod)
    env.nominator.add_nominated_pod(PodInfo.of(vpod("low-nominee", priority=LOW)), "node1")
    env.nominator.add_nominated_pod(PodInfo.of(vpod("high-nominee", priority=VERY_HIGH)),
                                    "node1")
    result, status = run_post_filter(env, pod, ["node1"])
    assert (result, status) == (PostFilterResult("node1"), placed("node1"))
    await env.executor.drain()
    assert env.client.cleared == ["low-nominee"]
    assert env.client.deleted_names == ["v"]


async def test_victim_waiting_at_permit_is_rejected_not_deleted() -> None:
    pod = vpod("p", priority=HIGH, requests=LARGE)
    client = FakeClient(waiting={"v"})
    env = make_env([node("node1", VERY_LARGE)],
                   [vpod("v", node="node1", priority=LOW, requests=LARGE)], preemptor=pod,
                   client=client)
    run_post_filter(env, pod, ["node1"])
    await env.executor.drain()
    assert client.rejected == [("v", "DefaultPreemption", "preempted")]
    assert client.deletes == [] and client.patches == []
    assert [e[3] for e in client.events] == ["Preempted"]


async def test_courtesy_from_the_handle() -> None:
    pod = vpod("p", priority=HIGH, requests=LARGE, scheduler_name="pyscheduler")
    pods = [vpod("theirs", node="node1", priority=LOW, requests=LARGE),
            vpod("ours", node="node2", priority=MID, requests=LARGE,
                 scheduler_name="pyscheduler")]
    nodes = [node("node1", VERY_LARGE), node("node2", VERY_LARGE)]
    # Upstream behaviour (no courtesy): the cheaper victim, another scheduler's pod.
    env = make_env(nodes, pods, preemptor=pod)
    assert run_post_filter(env, pod, ["node1", "node2"])[0] == PostFilterResult("node1")
    await env.executor.drain()
    # With the courtesy set the app passes by default (our own profiles): only our pod.
    env = make_env(nodes, pods, preemptor=pod, allowed=frozenset({"pyscheduler"}))
    assert run_post_filter(env, pod, ["node1", "node2"])[0] == PostFilterResult("node2")
    await env.executor.drain()
    assert env.client.deleted_names == ["ours"]
    # Nothing of ours to take: preemption does not help.
    env = make_env(nodes, pods[:1], preemptor=pod, allowed=frozenset({"pyscheduler"}))
    result, status = run_post_filter(env, pod, ["node1", "node2"])
    assert result == PostFilterResult("")
    assert status is not None and status.reasons == [
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."]


# ---- TestPreEnqueue -----------------------------------------------------------------------------


async def test_pre_enqueue_waits_while_preemption_calls_run() -> None:
    import asyncio

    pod = vpod("p", priority=HIGH)
    client = FakeClient(gate=asyncio.Event())
    env = make_env([node("node1", ONE_POD)], [vpod("p1", node="node1")], preemptor=pod,
                   client=client)
    run_post_filter(env, pod, ["node1"])
    st = env.plugin.pre_enqueue(pod)
    assert st is not None and st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert st.reasons == ["waiting for the preemption for this pod to be finished"]
    assert env.plugin.pre_enqueue(vpod("p_other", priority=HIGH)) is None
    client.gate.set()
    await env.executor.drain()
    assert env.plugin.pre_enqueue(pod) is None


def bare_framework() -> Framework:
    """A Framework built with no dependencies at all (no executor, no snapshot)."""
    fwk, _ = new_framework("default-scheduler", {}, {}, FrameworkOptions())
    return fwk


def test_pre_enqueue_without_executor_passes() -> None:
    plugin = new(None, bare_framework())
    assert plugin.pre_enqueue(vpod("p")) is None


def test_events_to_register_skip_hint() -> None:
    plugin = new(None, bare_framework())
    [ev] = plugin.events_to_register()
    assert ev.event.resource == Resource.ASSIGNED_POD and ev.event.action == ActionType.DELETE
    assert ev.hint is not None and ev.hint(vpod("p"), vpod("x"), None) == QueueingHint.SKIP


def test_missing_framework_on_handle_is_an_error() -> None:
    plugin = new(None, bare_framework())
    result, status = plugin.post_filter(CycleState(), PodInfo.of(vpod("p")), Diagnosis())
    assert result is None and status is not None and status.code == Code.ERROR


# ---- args ------------------------------------------------------------------------------------


def test_args_defaults_and_spec() -> None:
    a = DefaultPreemptionArgs()
    assert (a.min_candidate_nodes_percentage, a.min_candidate_nodes_absolute) == (10, 100)
    assert default_preemption.SPEC.args_type is DefaultPreemptionArgs
    assert default_preemption.SPEC.name == "DefaultPreemption"


@pytest.mark.parametrize(
    ("pct", "absolute", "errors"),
    [
        (10, 100, []),
        (0, 100, []),
        (100, 0, []),
        (-1, 100, ["minCandidateNodesPercentage: Invalid value: -1: not in valid range [0, 100]"]),
        (101, 100, ["minCandidateNodesPercentage: Invalid value: 101: not in valid range "
                    "[0, 100]"]),
        (10, -1, ["minCandidateNodesAbsolute: Invalid value: -1: not in valid range [0, inf)"]),
        (0, 0, ["minCandidateNodesPercentage: Invalid value: 0: cannot be zero at the same time "
                "as minCandidateNodesAbsolute",
                "minCandidateNodesAbsolute: Invalid value: 0: cannot be zero at the same time as "
                "minCandidateNodesPercentage"]),
        (-1, -2, ["minCandidateNodesPercentage: Invalid value: -1: not in valid range [0, 100]",
                  "minCandidateNodesAbsolute: Invalid value: -2: not in valid range [0, inf)"]),
    ],
)
def test_args_validation(pct: int, absolute: int, errors: list[str]) -> None:
    args = DefaultPreemptionArgs(pct, absolute)
    if not errors:
        args.validate()
        return
    with pytest.raises(ArgsError) as ei:
        args.validate()
    assert [str(e) for e in ei.value.errors] == errors
    with pytest.raises(ArgsError):
        new(args, object())  # type: ignore[arg-type]


def test_args_decode_from_config() -> None:
    import msgspec

    a = msgspec.convert({"minCandidateNodesPercentage": 5}, DefaultPreemptionArgs)
    assert (a.min_candidate_nodes_percentage, a.min_candidate_nodes_absolute) == (5, 100)


@pytest.mark.parametrize(
    ("n", "pct", "absolute", "want"),
    [(5000, 10, 100, 500), (500, 10, 100, 100), (50, 10, 100, 50), (5, 40, 1, 2),
     (5, 40, 2, 2), (1000, 0, 7, 7), (3, 100, 0, 3)],
)
def test_num_candidates(n: int, pct: int, absolute: int, want: int) -> None:
    env = make_env([node("n0")], args=DefaultPreemptionArgs(pct, absolute))
    _, k = env.plugin.evaluator.get_offset_and_num_candidates(n)
    assert k == want


@pytest.mark.parametrize("priority", [LOW, MID])
async def test_no_nodes_is_an_error(priority: int) -> None:
    pod = vpod("p", priority=priority)
    env = make_env([], preemptor=pod)
    result, status = run_post_filter(env, pod, [])
    assert result is None and status is not None and status.code == Code.ERROR
    assert status.reasons == ["preemption: no nodes available"]


def test_fit_error_message_ends_with_the_placement_as_upstream() -> None:
    """issue 20: upstream's FitError.Error() appends the PostFilter message as it is; the
    placement message has no final period (kube-scheduler v1.37.2's own wording)."""
    from collections import Counter

    d = Diagnosis(num_all_nodes=2, reasons=Counter({"Insufficient cpu": 2}), evaluated=2)
    d.post_filter_msg = placed("n2").message()
    assert d.message() == ("0/2 nodes are available: 2 Insufficient cpu. preemption: found a "
                           "potential placement for pod on node n2, preempting 1 victims")
    d.post_filter_msg = "preemption: 0/2 nodes are available: 2 Insufficient cpu."
    assert d.message().endswith("preemption: 0/2 nodes are available: 2 Insufficient cpu.")
