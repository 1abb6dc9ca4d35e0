"""pyscheduler scheduling real pods on the real apiserver with KWOK nodes (issue 4's done-when).

Two ways of running the scheduler, both against the same control plane:
* in-process (``SchedulerApp`` on the test's event loop, with the scheduler's own RBAC identity),
  where a test needs to look inside the cache or the queue;
* as a child process (``python -m pyscheduler run``), where the test is about the process:
  SIGTERM, kill -9 and restart.

The cluster is shared by the session, so each test creates its own nodes (removed afterwards)
and pods in its own namespace. Other tests' nodes are gone by then, but node counts in
messages are matched loosely for that reason.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from envtest import ControlPlane
from envtest.workload import (
    SchedulerProcess,
    create_pods,
    list_events,
    list_pods,
    pod_condition,
    pod_manifest,
    runnable_config_yaml,
)
from integration.waiting import await_until, wait_until
from pyscheduler.config import parse_config
from pyscheduler.model.quantity import parse_quantity
from pyscheduler.plugins.registry import default_registry
from pyscheduler.scheduler.scheduler import SchedulerApp

OTHER = "some-other-scheduler"






def bound(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if p["spec"].get("nodeName")]


def assert_no_overcommit(cp: ControlPlane, pods: list[dict[str, Any]]) -> None:
    """Sum of requests per node never exceeds the node's allocatable (cpu, memory, pods)."""
    nodes = {n["metadata"]["name"]: n for n in cp.request("GET", "/api/v1/nodes")["items"]}
    used: dict[str, Counter[str]] = defaultdict(Counter)
    for p in pods:
        node = p["spec"].get("nodeName")
        if not node:
            continue
        used[node]["pods"] += 1
        for c in p["spec"]["containers"]:
            for res, q in c.get("resources", {}).get("requests", {}).items():
                used[node][res] += parse_quantity(q)
    for node, u in used.items():
        alloc = nodes[node]["status"]["allocatable"]
        for res, amount in u.items():
            assert Fraction(amount) <= parse_quantity(alloc[res]), (node, res, amount, alloc[res])


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "pyscheduler.yaml"
    path.write_text(runnable_config_yaml())
    return path


@pytest.fixture
async def app(live_control_plane: ControlPlane) -> AsyncIterator[SchedulerApp]:
    """pyscheduler in-process, with the scheduler identity, synced and scheduling."""
    async with live_control_plane.api_client("scheduler") as client:
        reg = default_registry()
        a = SchedulerApp(client, parse_config(runnable_config_yaml(), plugins=reg), qps=500,
                         burst=1000, registry=reg)
        stop = asyncio.Event()
        task = asyncio.create_task(a.run(stop))
        await await_until(lambda: a.synced or task.done(), timeout=60, what="informer sync")
        if task.done():
            task.result()
        yield a
        stop.set()
        await asyncio.wait_for(task, 60)


@pytest.fixture
def scheduler_process(
    live_control_plane: ControlPlane, config_file: Path, tmp_path: Path
) -> Iterator[Callable[..., SchedulerProcess]]:
    started: list[SchedulerProcess] = []

    def start(*extra: str) -> SchedulerProcess:
        p = SchedulerProcess(
            live_control_plane.scheduler_kubeconfig, tmp_path / f"pyscheduler-{len(started)}.log",
            config=config_file, extra_args=extra,
        )
        started.append(p)
        return p.start()

    yield start
    for p in started:
        p.stop(signal.SIGKILL)


def test_binds_1000_pods_on_100_nodes(
    live_control_plane: ControlPlane,
    kwok_nodes: Callable[..., list[str]],
    namespace: str,
    scheduler_process: Callable[..., SchedulerProcess],
) -> None:
    cp = live_control_plane
    # 100 nodes x 3 cpu; 1,000 pods of 250m use 250 of the 300 cpus, so a scheduler that
    # ignored earlier placements (double counting or missing assumed pods) would overcommit.
    kwok_nodes(100, cpu="3", memory="12Gi", pods=30)
    proc = scheduler_process("--kube-api-qps", "500", "--kube-api-burst", "1000")
    others = [pod_manifest(f"other-{i}", scheduler_name=OTHER) for i in range(20)]
    mine = [pod_manifest(f"pod-{i}", cpu="250m", memory="256Mi") for i in range(1000)]
    t0 = time.monotonic()
    create_pods(cp, namespace, others + mine, concurrency=32)
    wait_until(lambda: len(bound(list_pods(cp, namespace))) >= 1000, timeout=240,
               what="1,000 pods bound")
    elapsed = time.monotonic() - t0
    pods = list_pods(cp, namespace)
    by_name = {p["metadata"]["name"]: p for p in pods}
    assert all(by_name[f"pod-{i}"]["spec"].get("nodeName") for i in range(1000))
    assert_no_overcommit(cp, pods)
    # Other schedulers' pods: not bound, no condition written, no event about them from us.
    for i in range(20):
        p = by_name[f"other-{i}"]
        assert not p["spec"].get("nodeName")
        assert pod_condition(p, "PodScheduled") is None
    ev = list_events(cp, namespace)
    regarding = Counter((e["regarding"]["name"], e["reason"]) for e in ev)
    assert not any(name.startswith("other-") for name, _ in regarding)
    assert regarding[("pod-0", "Scheduled")] == 1
    assert not [e for e in ev if e["reason"] == "FailedScheduling"]
    metrics = proc.metrics()
    assert re.search(r'scheduler_schedule_attempts_total\{profile="pyscheduler",'
                     r'result="scheduled"\} 1000', metrics), metrics[:2000]
    print(f"\n1,000 pods on 100 nodes bound in {elapsed:.1f}s "
          f"({1000 / elapsed:.0f} pods/s incl. creation)")


async def test_unschedulable_pod_reported_then_bound_when_node_added(
    app: SchedulerApp,
    live_control_plane: ControlPlane,
    kwok_nodes: Callable[..., list[str]],
    namespace: str,
) -> None:
    cp = live_control_plane
    await asyncio.to_thread(kwok_nodes, 3, cpu="2", memory="4Gi")
    await asyncio.to_thread(create_pods, cp, namespace, [pod_manifest("big", cpu="16")])

    def reported() -> Any:
        pod = cp.request("GET", f"/api/v1/namespaces/{namespace}/pods/big")
        cond = pod_condition(pod, "PodScheduled")
        evs = [e for e in list_events(cp, namespace) if e["reason"] == "FailedScheduling"]
        return (cond, evs) if cond and evs else None

    cond, evs = await await_until(reported, timeout=30, what="FailedScheduling reported")
    assert cond["status"] == "False"
    assert cond["reason"] == "Unschedulable"
    # Upstream's FitError text, with DefaultPreemption's part appended (a request above every
    # node's allocatable is unresolvable, so preemption cannot help).
    assert re.fullmatch(r"0/(\d+) nodes are available: \1 Insufficient cpu\. preemption: "
                        r"0/\1 nodes are available: \1 Preemption is not helpful for "
                        r"scheduling\.", cond["message"]), cond["message"]
    assert evs[0]["type"] == "Warning"
    assert evs[0]["note"] == cond["message"]
    assert evs[0]["reportingController"] == "pyscheduler"
    await await_until(lambda: app.queue.where(_uid(cp, namespace, "big")) == "unschedulable",
                      timeout=10, what="pod parked in unschedulable")

    # A node that fits: the NodeAdd event moves the pod; the 5-minute flush is not involved.
    t0 = time.monotonic()
    (big_node,) = await asyncio.to_thread(kwok_nodes, 1, cpu="32", memory="64Gi")
    pod = await await_until(
        lambda: (p := cp.request("GET", f"/api/v1/namespaces/{namespace}/pods/big"))["spec"].get(
            "nodeName") and p,
        timeout=30, what="bound after node add",
    )
    assert pod["spec"]["nodeName"] == big_node
    assert time.monotonic() - t0 < 30
    # The Scheduled event goes through the event writer after the bind: it can trail the
    # nodeName by a moment, so wait for it rather than read once.
    await await_until(lambda: [e for e in list_events(cp, namespace)
                               if e["reason"] == "Scheduled"],
                      timeout=30, what="Scheduled event")


def _uid(cp: ControlPlane, namespace: str, name: str) -> str:
    uid: str = cp.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")["metadata"]["uid"]
    return uid


def _requested_milli_cpu(app: SchedulerApp, node: str) -> int:
    info = app.cache.snapshot.get(node)
    assert info is not None
    return int(info.requested.get("cpu", 0))


async def test_pod_bound_out_of_band_while_queued(
    app: SchedulerApp,
    live_control_plane: ControlPlane,
    kwok_nodes: Callable[..., list[str]],
    namespace: str,
) -> None:
    cp = live_control_plane
    (node,) = await asyncio.to_thread(kwok_nodes, 1, cpu="4", memory="8Gi")
    # Unschedulable for us (selector matches no node), so it sits in our queue...
    pod = pod_manifest("oob", cpu="1", node_selector={"nowhere": "true"})
    await asyncio.to_thread(create_pods, cp, namespace, [pod])
    uid = await asyncio.to_thread(_uid, cp, namespace, "oob")
    await await_until(lambda: app.queue.where(uid) == "unschedulable", timeout=20,
                      what="queued as unschedulable")
    # ...until someone else binds it.
    await asyncio.to_thread(
        cp.request, "POST", f"/api/v1/namespaces/{namespace}/pods/oob/binding",
        {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "oob"},
         "target": {"kind": "Node", "name": node}},
    )
    await await_until(lambda: app.queue.where(uid) is None, timeout=20, what="left the queue")
    await await_until(lambda: _requested_milli_cpu(app, node) == 1000, timeout=20,
                      what="counted once in the cache")
    assert _pods_on(app, node) == 1
    # Our own pods now see the node with 3 cpu free: 3 x 1 cpu fit, a fourth does not.
    await asyncio.to_thread(create_pods, cp, namespace,
                            [pod_manifest(f"fill-{i}", cpu="1") for i in range(4)])
    pods = await await_until(
        lambda: (ps := list_pods(cp, namespace)) and len(bound(ps)) == 4 and ps,
        timeout=30, what="three more bound",
    )
    pending = [p["metadata"]["name"] for p in pods if not p["spec"].get("nodeName")]
    assert len(pending) == 1 and pending[0].startswith("fill-")
    assert _requested_milli_cpu(app, node) == 4000
    assert_no_overcommit(cp, pods)


async def test_pod_deleted_while_queued(
    app: SchedulerApp,
    live_control_plane: ControlPlane,
    kwok_nodes: Callable[..., list[str]],
    namespace: str,
) -> None:
    cp = live_control_plane
    await asyncio.to_thread(kwok_nodes, 1, cpu="1", memory="2Gi")
    await asyncio.to_thread(create_pods, cp, namespace, [pod_manifest("gone", cpu="8")])
    uid = await asyncio.to_thread(_uid, cp, namespace, "gone")
    await await_until(lambda: app.queue.where(uid) == "unschedulable", timeout=20,
                      what="queued")
    await asyncio.to_thread(cp.request, "DELETE", f"/api/v1/namespaces/{namespace}/pods/gone")
    await await_until(lambda: app.queue.where(uid) is None, timeout=20, what="dropped")
    assert all(p.metadata.uid != uid for p in app.queue.pending_pods()[0])


async def test_pod_deleted_and_recreated_under_same_name(
    app: SchedulerApp,
    live_control_plane: ControlPlane,
    kwok_nodes: Callable[..., list[str]],
    namespace: str,
) -> None:
    cp = live_control_plane
    (node,) = await asyncio.to_thread(kwok_nodes, 1, cpu="4", memory="8Gi")
    path = f"/api/v1/namespaces/{namespace}/pods"
    # 1) a queued (unschedulable) pod replaced by a schedulable one of the same name
    await asyncio.to_thread(create_pods, cp, namespace, [pod_manifest("same", cpu="64")])
    old_uid = await asyncio.to_thread(_uid, cp, namespace, "same")
    await await_until(lambda: app.queue.where(old_uid) == "unschedulable", timeout=20,
                      what="queued")
    await asyncio.to_thread(cp.request, "DELETE", f"{path}/same")
    await await_until(lambda: _gone(cp, f"{path}/same"), timeout=20, what="deleted")
    await asyncio.to_thread(create_pods, cp, namespace, [pod_manifest("same", cpu="1")])
    new_uid = await asyncio.to_thread(_uid, cp, namespace, "same")
    assert new_uid != old_uid
    await await_until(lambda: cp.request("GET", f"{path}/same")["spec"].get("nodeName"),
                      timeout=30, what="new pod bound")
    assert app.queue.where(old_uid) is None
    await await_until(lambda: _requested_milli_cpu(app, node) == 1000, timeout=20,
                      what="cache counts the new pod once")
    # 2) a bound pod deleted and re-created: the old one's resources are released exactly once
    await asyncio.to_thread(cp.request, "DELETE", f"{path}/same")
    await await_until(lambda: _gone(cp, f"{path}/same"), timeout=20, what="deleted")
    await asyncio.to_thread(create_pods, cp, namespace, [pod_manifest("same", cpu="3")])
    await await_until(lambda: cp.request("GET", f"{path}/same")["spec"].get("nodeName"),
                      timeout=30, what="re-created pod bound")
    await await_until(lambda: _requested_milli_cpu(app, node) == 3000, timeout=20,
                      what="cache counts only the newest pod")
    assert _pods_on(app, node) == 1


def _gone(cp: ControlPlane, path: str) -> bool:
    from envtest import ApiError

    try:
        cp.request("GET", path)
    except ApiError as e:
        return e.status == 404
    return False


def test_restart_mid_run_loses_nothing_and_double_binds_nothing(
    live_control_plane: ControlPlane,
    kwok_nodes: Callable[..., list[str]],
    namespace: str,
    scheduler_process: Callable[..., SchedulerProcess],
) -> None:
    cp = live_control_plane
    kwok_nodes(20, cpu="4", memory="16Gi", pods=40)
    # A low QPS keeps binds in flight, so the kill lands mid-run.
    first = scheduler_process("--kube-api-qps", "30", "--kube-api-burst", "30")
    create_pods(cp, namespace, [pod_manifest(f"r-{i}", cpu="200m") for i in range(300)],
                concurrency=32)
    wait_until(lambda: len(bound(list_pods(cp, namespace))) >= 60, timeout=60,
               what="some pods bound")
    first.stop(signal.SIGKILL)
    done_before = len(bound(list_pods(cp, namespace)))
    assert done_before < 300, "the kill should land mid-run; raise the pod count"
    second = scheduler_process("--kube-api-qps", "500", "--kube-api-burst", "1000")
    wait_until(lambda: len(bound(list_pods(cp, namespace))) == 300, timeout=120,
               what="all 300 bound after restart")
    pods = list_pods(cp, namespace)
    assert_no_overcommit(cp, pods)
    # A double bind would show up as a failed binding (the apiserver refuses to rebind a pod)
    # or as two Scheduled events for one pod.
    ev = list_events(cp, namespace)
    scheduled = Counter(e["regarding"]["uid"] for e in ev if e["reason"] == "Scheduled")
    assert max(scheduled.values()) == 1
    assert not [e for e in ev if e["reason"] == "FailedScheduling"], ev[:3]
    assert "already assigned" not in second.tail(400)


def test_sigterm_finishes_in_flight_binds(
    live_control_plane: ControlPlane,
    kwok_nodes: Callable[..., list[str]],
    namespace: str,
    scheduler_process: Callable[..., SchedulerProcess],
) -> None:
    cp = live_control_plane
    kwok_nodes(10, cpu="8", memory="16Gi")
    proc = scheduler_process("--kube-api-qps", "20", "--kube-api-burst", "20")
    create_pods(cp, namespace, [pod_manifest(f"t-{i}", cpu="100m") for i in range(200)],
                concurrency=32)
    wait_until(lambda: len(bound(list_pods(cp, namespace))) >= 20, timeout=60,
               what="some pods bound")
    rc = proc.stop(signal.SIGTERM, timeout=120)
    assert rc == 0, proc.tail()
    log = proc.tail(200)
    assert "stopping: finishing in-flight binds" in log
    assert "Traceback" not in log, log
    # Every bind the process started was finished: no pod is left assumed-but-unbound, i.e. the
    # scheduler's final report says zero binds were abandoned.
    m = re.search(r'"abandoned": (\d+)', log)
    assert m and m.group(1) == "0", log
    # What it did not get to stays pending and unharmed; a new process binds it.
    scheduler_process()
    wait_until(lambda: len(bound(list_pods(cp, namespace))) == 200, timeout=60,
               what="the rest bound by the next process")
    ev = list_events(cp, namespace)
    scheduled = Counter(e["regarding"]["uid"] for e in ev if e["reason"] == "Scheduled")
    assert max(scheduled.values()) == 1


def _pods_on(app: SchedulerApp, node: str) -> int:
    info = app.cache.snapshot.get(node)
    assert info is not None
    return len(info.pods)
