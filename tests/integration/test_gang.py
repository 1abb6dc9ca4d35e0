"""Issue 16: gang scheduling against the real apiserver, with scheduler-plugins' PodGroup API.

``pyscheduler run`` with the Coscheduling plugin enabled; PodGroups are
``scheduling.x-k8s.io/v1alpha1`` objects (manifests/crds), members carry the
``scheduling.x-k8s.io/pod-group`` label. Every node has 1 cpu and every member asks for 1 cpu,
so the number of nodes is the number of members that fit.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from envtest import ControlPlane
from envtest.gang_workload import run_competing_gangs
from envtest.workload import SchedulerProcess, create_pods, list_events, list_pods, pod_manifest
from integration.test_preemption import bound_pod, priority_classes
from integration.waiting import wait_until

__all__ = ["priority_classes"]  # the fixture, shared with test_preemption

CRD = Path(__file__).resolve().parents[2] / "manifests/crds/scheduling.x-k8s.io_podgroups.yaml"
CONFIG = """apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: pyscheduler
  plugins:
    multiPoint:
      enabled:
      - name: Coscheduling
"""


@pytest.fixture
def crd(live_control_plane: ControlPlane) -> ControlPlane:
    cp = live_control_plane
    cp.apply(CRD)

    def served() -> bool:
        try:
            cp.request("GET", "/apis/scheduling.x-k8s.io/v1alpha1/podgroups")
            return True
        except Exception:
            return False

    wait_until(served, timeout=30, what="PodGroup CRD served")
    return cp


@pytest.fixture
def start_scheduler(crd: ControlPlane,
                    tmp_path: Path) -> Iterator[Callable[[], SchedulerProcess]]:
    config = tmp_path / "gang.yaml"
    config.write_text(CONFIG)
    started: list[SchedulerProcess] = []

    def start() -> SchedulerProcess:
        proc = SchedulerProcess(crd.scheduler_kubeconfig,
                                tmp_path / f"pyscheduler-{len(started)}.log", config=config)
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def scheduler(start_scheduler: Callable[[], SchedulerProcess]) -> SchedulerProcess:
    return start_scheduler()


def bind(cp: ControlPlane, namespace: str, name: str, node: str) -> None:
    """Bind as a dead leader would have: the Binding subresource, as admin."""
    cp.request("POST", f"/api/v1/namespaces/{namespace}/pods/{name}/binding", {
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node}})


def pod_group(cp: ControlPlane, namespace: str, name: str, min_member: int,
              timeout: int | None = None) -> None:
    spec: dict[str, Any] = {"minMember": min_member}
    if timeout is not None:
        spec["scheduleTimeoutSeconds"] = timeout
    cp.request("POST", f"/apis/scheduling.x-k8s.io/v1alpha1/namespaces/{namespace}/podgroups", {
        "apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
        "metadata": {"name": name}, "spec": spec})


def members(group: str, n: int) -> list[dict[str, Any]]:
    return [pod_manifest(f"{group}-{i}", cpu="1", memory="64Mi",
                         labels={"scheduling.x-k8s.io/pod-group": group}) for i in range(n)]


def bound_in(cp: ControlPlane, namespace: str, group: str) -> list[dict[str, Any]]:
    return [p for p in list_pods(cp, namespace)
            if p["metadata"].get("labels", {}).get("scheduling.x-k8s.io/pod-group") == group
            and p["spec"].get("nodeName")]


def cached_pods(proc: SchedulerProcess) -> set[str]:
    """Every pod the scheduler's cache counts on a node, assumed ones included."""
    status, body = proc.get("/debug/cache")
    assert status == 200, body
    dump = json.loads(body)
    return {key for node in dump["nodes"].values() for key in node["pods"]}


def test_group_of_8_on_room_for_6_binds_none_then_all(
    crd: ControlPlane, kwok_nodes: Callable[..., list[str]], namespace: str,
    scheduler: SchedulerProcess,
) -> None:
    cp = crd
    kwok_nodes(6, cpu="1", memory="4Gi", pods=10)
    pod_group(cp, namespace, "big", 8)
    create_pods(cp, namespace, members("big", 8))
    failed = wait_until(lambda: [e for e in list_events(cp, namespace)
                                 if e["reason"] == "FailedScheduling"], timeout=30,
                        what="FailedScheduling for the group")
    note = failed[0]["note"]
    assert "6/8 members placeable" in note and "Insufficient cpu" in note, note
    time.sleep(1.0)  # a scheduler that placed part of the group would have bound it by now
    assert bound_in(cp, namespace, "big") == []
    assert not {k for k in cached_pods(scheduler) if k.startswith(f"{namespace}/big-")}

    t0 = time.monotonic()
    kwok_nodes(2, cpu="1", memory="4Gi", pods=10)
    wait_until(lambda: len(bound_in(cp, namespace, "big")) == 8, timeout=60,
               what="all 8 members bound")
    print(f"\nall 8 bound {time.monotonic() - t0:.1f}s after room appeared")
    # The status controller: KWOK runs bound pods, so the group ends up Running. Two waits,
    # so that a failure says whose part was missing: KWOK's (members not Running) or the
    # controller's (members Running, the group's phase not).
    phases: dict[str, str] = {}

    def members_running() -> bool:
        phases.clear()
        phases.update({p["metadata"]["name"]: p["status"].get("phase")
                       for p in bound_in(cp, namespace, "big")})
        return set(phases.values()) == {"Running"}

    wait_until(members_running, timeout=30, what="KWOK running all 8 members",
               detail=lambda: phases)
    path = f"/apis/scheduling.x-k8s.io/v1alpha1/namespaces/{namespace}/podgroups/big"
    last: dict[str, Any] = {}

    def group_running() -> dict[str, Any] | None:
        last.clear()
        last.update(cp.request("GET", path).get("status", {}))
        return dict(last) if last.get("phase") == "Running" else None

    status = wait_until(group_running, timeout=30, what="PodGroup Running after its members ran",
                        detail=lambda: last)
    assert status["running"] == 8 and status.get("scheduleStartTime"), status


@pytest.mark.parametrize(("groups", "fit"), [(2, 1), (5, 2)], ids=["2-for-1", "5-for-2"])
def test_competing_groups_one_binds_whole_others_hold_nothing(
    crd: ControlPlane, kwok_nodes: Callable[..., list[str]], namespace: str,
    scheduler: SchedulerProcess, groups: int, fit: int,
) -> None:
    """``groups`` groups of 4; room for ``fit`` of them plus 3 spare cpus (a group less one
    member: the cluster that most tempts a scheduler to hold a partial group). The API is
    sampled throughout (envtest/gang_workload.py, the workload of the scheduler-plugins
    comparison in docs/GANG.md): no sample shows a group bound part-way without the scheduler
    holding the rest, exactly ``fit`` groups bind whole, the others bind nothing and hold
    nothing."""
    cp = crd
    size = 4
    kwok_nodes(fit * size + size - 1, cpu="1", memory="4Gi", pods=10)

    def reserved() -> dict[str, int]:
        counts: dict[str, int] = {}
        for key in cached_pods(scheduler):
            ns, _, name = key.partition("/")
            if ns == namespace:
                group = name.rsplit("-", 1)[0]
                counts[group] = counts.get(group, 0) + 1
        return counts

    run = run_competing_gangs(cp, namespace, groups=groups, fit=fit, size=size,
                              reserved=reserved)
    print(f"\n{run.summary()}")
    assert run.occurrences == [], f"groups bound part-way: {run.occurrences}"
    assert len(run.completed) == fit, run.summary()
    assert sorted(run.final.values()) == [0] * (groups - fit) + [size] * fit, run.final
    waiting = [name for name, n in run.final.items() if n == 0]
    held = {k for k in cached_pods(scheduler)
            if any(k.startswith(f"{namespace}/{name}-") for name in waiting)}
    assert not held, f"waiting groups hold resources in the scheduler's cache: {held}"


@pytest.mark.parametrize("room", [True, False], ids=["room-left", "no-room"])
def test_group_half_bound_by_a_dead_leader_is_completed_or_reported(
    crd: ControlPlane, kwok_nodes: Callable[..., list[str]], namespace: str,
    start_scheduler: Callable[[], SchedulerProcess], room: bool,
) -> None:
    """The previous leader bound 3 of a group of 6 and died: the next one counts the bound
    members towards minMember, binds the rest when they fit, and otherwise reports the group
    with every member's FailedScheduling; it never binds a partial remainder."""
    cp = crd
    nodes = kwok_nodes(6 if room else 4, cpu="1", memory="4Gi", pods=10)
    pod_group(cp, namespace, "half", 6)
    create_pods(cp, namespace, members("half", 6))
    for i in range(3):
        bind(cp, namespace, f"half-{i}", nodes[i])
    start_scheduler()
    if room:
        wait_until(lambda: len(bound_in(cp, namespace, "half")) == 6, timeout=60,
                   what="the group completed")
        return
    failed = wait_until(lambda: [e for e in list_events(cp, namespace)
                                 if e["reason"] == "FailedScheduling"], timeout=30,
                        what="the group reported")
    assert "4/6 members placeable" in failed[0]["note"], failed[0]["note"]
    time.sleep(1.0)
    assert len(bound_in(cp, namespace, "half")) == 3  # nothing bound beyond what was


def test_group_left_half_bound_past_its_timeout_gives_its_bound_members_back(
    crd: ControlPlane, kwok_nodes: Callable[..., list[str]], namespace: str,
    start_scheduler: Callable[[], SchedulerProcess],
) -> None:
    """The previous leader bound 3 of a group of 6 owned by a controller and died; the cluster has
    room for one more. Past the group's scheduleTimeoutSeconds the new leader deletes the 3
    bound members (their controller would recreate them pending), with a PodGroupTimeout
    event each, and binds none of the others: the group holds nothing."""
    cp = crd
    nodes = kwok_nodes(4, cpu="1", memory="4Gi", pods=10)
    pod_group(cp, namespace, "stuck", 6, timeout=3)
    pods = members("stuck", 6)
    for p in pods:
        p["metadata"]["ownerReferences"] = [{
            # Not a Job: KWOK's pod-complete stage would finish a Job's pods at once.
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "train", "controller": True,
            "uid": "0b0c3f9e-0000-4000-8000-000000000016"}]
    create_pods(cp, namespace, pods)
    for i in range(3):
        bind(cp, namespace, f"stuck-{i}", nodes[i])
    start_scheduler()

    def holding() -> list[str]:
        return [p["metadata"]["name"] for p in bound_in(cp, namespace, "stuck")
                if not p["metadata"].get("deletionTimestamp")]

    wait_until(lambda: holding() == [], timeout=60, what="the bound members deleted")
    events = wait_until(lambda: (lambda es: es if len(es) == 3 else None)(
        [e for e in list_events(cp, namespace) if e["reason"] == "PodGroupTimeout"]),
        timeout=30, what="a PodGroupTimeout event per bound member")
    assert {e["regarding"]["name"] for e in events} == {f"stuck-{i}" for i in range(3)}
    assert all(e["type"] == "Warning" and "3/6 members bound after the group's timeout (3s)"
               in e["note"] for e in events), events
    time.sleep(1.0)
    assert holding() == []  # nothing of the rest was bound either


RESTART_TIMEOUT = 20  # the group's scheduleTimeoutSeconds in the kill -9 test
# One bind every 2 s (the client's token bucket), so that a kill lands between the binds.
SLOW_CONFIG = CONFIG.replace("leaderElection:", "clientConnection:\n  qps: 0.5\n  burst: 1\n"
                             "leaderElection:")


def _owned_by_a_replica_set(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for p in pods:
        p["metadata"]["ownerReferences"] = [{
            # Not a Job: KWOK's pod-complete stage would finish a Job's pods at once.
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "train", "controller": True,
            "uid": "0b0c3f9e-0000-4000-8000-000000000016"}]
    return pods


def test_restart_mid_gang_kill_9_between_the_quorums_binds_leaves_no_partial_group(
    crd: ControlPlane, kwok_nodes: Callable[..., list[str]], namespace: str, tmp_path: Path,
    start_scheduler: Callable[[], SchedulerProcess],
) -> None:
    """A scheduler is killed with SIGKILL while it binds a group of 6 it placed whole (its
    client sends one bind every 2 s), so only part of the group is bound. The room of the
    members not bound is then taken, so the group cannot complete. The next scheduler finds
    the group partly bound and counts its timeout from the API (the PodGroup's
    scheduleStartTime and the members' binds), not from its own start: past it, the bound
    members are deleted, one PodGroupTimeout event each, and the group holds nothing."""
    cp = crd
    nodes = kwok_nodes(6, cpu="1", memory="4Gi", pods=10)
    pod_group(cp, namespace, "restart", 6, timeout=RESTART_TIMEOUT)
    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW_CONFIG)
    first = SchedulerProcess(crd.scheduler_kubeconfig, tmp_path / "pyscheduler-killed.log",
                             config=slow).start()
    try:
        create_pods(cp, namespace, _owned_by_a_replica_set(members("restart", 6)))
        wait_until(lambda: bound_in(cp, namespace, "restart"), timeout=60,
                   what="the first bind of the group", interval=0.05)
        first.send_signal(signal.SIGKILL)
        assert first.proc is not None
        first.proc.wait(timeout=10)
    finally:
        first.stop()
    bound = {p["metadata"]["name"]: p["spec"]["nodeName"]
             for p in bound_in(cp, namespace, "restart")}
    assert 0 < len(bound) < 6, bound  # the kill came between the quorum's binds
    free = [n for n in nodes if n not in bound.values()]
    create_pods(cp, namespace, [bound_pod(f"filler-{i}", n, scheduler_name="nobody")
                                for i, n in enumerate(free)])
    time.sleep(3.0)  # the new leader starts at least 3 s after the group became partial
    second = start_scheduler()

    def holding() -> list[str]:
        return [p["metadata"]["name"] for p in bound_in(cp, namespace, "restart")
                if not p["metadata"].get("deletionTimestamp")]

    wait_until(lambda: holding() == [], timeout=RESTART_TIMEOUT + 60,
               what="the bound members deleted")
    events = wait_until(lambda: (lambda es: es if len(es) == len(bound) else None)(
        [e for e in list_events(cp, namespace) if e["reason"] == "PodGroupTimeout"]),
        timeout=30, what="a PodGroupTimeout event per bound member")
    assert {e["regarding"]["name"] for e in events} == set(bound)
    assert all(f"{len(bound)}/6 members bound after the group's timeout ({RESTART_TIMEOUT}s)"
               in e["note"] for e in events), events
    # The new process's clock was the API's: it had at most the timeout less the time since
    # the group became partial (>= 3 s) left, never a full timeout of its own.
    armed = [rec for rec in map(json.loads, filter(None, second.log_path.read_text()
                                                   .splitlines()))
             if str(rec.get("event", "")).startswith("pod group partly bound; evicting")]
    assert armed, second.tail()
    assert float(armed[0]["left"]) <= RESTART_TIMEOUT - 3.0, armed[0]
    time.sleep(1.0)
    assert holding() == []  # none of the rest was bound either


def test_gang_preempts_across_nodes_and_takes_a_victim_gang_whole(
    crd: ControlPlane, kwok_nodes: Callable[..., list[str]], namespace: str,
    scheduler: SchedulerProcess, priority_classes: Callable[..., str],
) -> None:
    """A gang of 4 (2 cpu each) on 5 full nodes of 2 cpu fits only by emptying 4 of them: 3
    hold two single low-priority pods each, 2 hold a low-priority gang of 4 (two per node).
    The quorum binds after its victims go, on 4 different nodes; the low gang goes whole
    (taking one of its nodes means taking it all), and nothing is bound partially."""
    cp = crd
    low, high = priority_classes("low", 1), priority_classes("high", 1000)
    nodes = kwok_nodes(5, cpu="2", memory="8Gi", pods=10)
    fill = [bound_pod(f"single-{i}-{j}", nodes[i], priority_class=low)
            for i in range(3) for j in range(2)]
    pod_group(cp, namespace, "batch", 4)
    fill += [bound_pod(f"batch-{k}", nodes[3 + k // 2], priority_class=low,
                       labels={"scheduling.x-k8s.io/pod-group": "batch"}) for k in range(4)]
    create_pods(cp, namespace, fill)
    wait_until(lambda: sum(1 for p in list_pods(cp, namespace)
                           if p.get("status", {}).get("phase") == "Running") == len(fill),
               timeout=30, what="the low-priority pods running")
    pod_group(cp, namespace, "train", 4)
    create_pods(cp, namespace, [
        pod_manifest(f"train-{i}", cpu="2", memory="64Mi",
                     labels={"scheduling.x-k8s.io/pod-group": "train"},
                     extra_spec={"priorityClassName": high}) for i in range(4)])

    def batch_alive() -> int:
        return sum(1 for p in list_pods(cp, namespace)
                   if p["metadata"]["name"].startswith("batch-")
                   and not p["metadata"].get("deletionTimestamp"))

    # (The victims' deletes are concurrent API calls, so a look in between may see some of the
    # low gang gone and some not; what is decided, and what is left, is whole or nothing.)
    train = wait_until(lambda: (lambda b: b if len(b) == 4 else None)(
        bound_in(cp, namespace, "train")), timeout=90, what="the high-priority gang bound")
    assert len({p["spec"]["nodeName"] for p in train}) == 4
    assert batch_alive() == 0
    preempted = [e for e in list_events(cp, namespace) if e["reason"] == "Preempted"]
    victims = {e["regarding"]["name"] for e in preempted}
    assert {f"batch-{k}" for k in range(4)} <= victims, victims
    assert all(v.startswith(("batch-", "single-")) for v in victims), victims
    failed = [e["note"] for e in list_events(cp, namespace)
              if e["reason"] == "FailedScheduling"
              and e["regarding"]["name"].startswith("train-")]
    assert any("preemption: found a potential placement for the group's 4 members" in n
               for n in failed), failed
