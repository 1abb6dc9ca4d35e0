"""The test control plane itself: kwok nodes, a hand-made binding, restarts and compaction.

These pin down what every other integration test relies on: kwok makes nodes Ready, runs
bound pods and finishes deletions; kube-apiserver restarts end open watches; compaction
makes old resourceVersions answer 410 Gone.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from envtest import KWOK_NODE_ANNOTATION, ControlPlane

NOBODY = "no-scheduler-serves-this"


async def eventually(
    probe: Callable[[], Awaitable[Any]], *, timeout: float = 30.0, interval: float = 0.1
) -> Any:
    """Await `probe` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s (last: {last!r})")


def pod_body(name: str, *, scheduler_name: str = NOBODY) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "schedulerName": scheduler_name,
            "containers": [
                {
                    "name": "c",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                }
            ],
        },
    }


async def test_kwok_nodes_become_ready(
    admin_client: Any, kwok_nodes: Callable[..., list[str]]
) -> None:
    names = kwok_nodes(
        3,
        cpu="8",
        memory="16Gi",
        pods=50,
        labels=lambda i: {"topology.kubernetes.io/zone": f"zone-{i % 2}"},
        taints=[{"key": "dedicated", "value": "test", "effect": "NoSchedule"}],
        extended_resources={"example.com/gpu": 2},
    )
    core = client.CoreV1Api(admin_client)
    for i, name in enumerate(names):
        node = await core.read_node(name)
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert ready and ready[0].status == "True"
        assert node.metadata.labels["type"] == "kwok"
        assert node.metadata.labels["kubernetes.io/hostname"] == name
        assert node.metadata.labels["topology.kubernetes.io/zone"] == f"zone-{i % 2}"
        assert node.metadata.annotations[KWOK_NODE_ANNOTATION] == "fake"
        assert node.status.allocatable["cpu"] == "8"
        assert node.status.allocatable["pods"] == "50"
        assert node.status.allocatable["example.com/gpu"] == "2"
        # Only the taint we asked for: TaintNodesByCondition admission is off (no controller
        # would ever lift its not-ready taint).
        assert [(t.key, t.effect) for t in node.spec.taints] == [("dedicated", "NoSchedule")]


async def test_default_nodes_are_taint_free(
    admin_client: Any, kwok_nodes: Callable[..., list[str]]
) -> None:
    (name,) = kwok_nodes(1)
    node = await client.CoreV1Api(admin_client).read_node(name)
    assert not node.spec.taints
    assert node.status.allocatable["cpu"] == "32"


async def test_bound_pod_runs_and_deletes(
    admin_client: Any, namespace: str, kwok_nodes: Callable[..., list[str]]
) -> None:
    (node,) = kwok_nodes(1)
    core = client.CoreV1Api(admin_client)
    await core.create_namespaced_pod(namespace, pod_body("p"))
    pod = await core.read_namespaced_pod("p", namespace)
    assert pod.spec.node_name is None and pod.status.phase == "Pending"

    # The server answers a Binding with a Status, which the generated client fails to
    # deserialize as a V1Binding: read the raw response instead.
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "p"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }
    resp = await core.create_namespaced_binding(namespace, binding, _preload_content=False)
    assert resp.status == 201
    assert json.loads(await resp.read())["status"] == "Success"

    async def running() -> bool:
        p = await core.read_namespaced_pod("p", namespace)
        return bool(p.spec.node_name == node and p.status.phase == "Running")

    await eventually(running)
    pod = await core.read_namespaced_pod("p", namespace)
    assert pod.status.pod_ip

    # Graceful delete: only kwok's pod-delete stage (the "kubelet") finishes it.
    await core.delete_namespaced_pod("p", namespace)

    async def gone() -> bool:
        try:
            await core.read_namespaced_pod("p", namespace)
        except ApiException as e:
            return e.status == 404
        return False

    await eventually(gone)


async def test_restart_apiserver_ends_watches(
    live_control_plane: ControlPlane, admin_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(admin_client)
    listed = await core.list_namespaced_config_map(namespace)
    resp = await core.list_namespaced_config_map(
        namespace,
        watch=True,
        resource_version=listed.metadata.resource_version,
        allow_watch_bookmarks=True,
        _preload_content=False,
    )

    async def drain() -> None:
        while await resp.content.readline():
            pass

    reader = asyncio.ensure_future(drain())
    t0 = time.monotonic()
    # In a thread: this loop keeps running (and the watch keeps reading) during the restart.
    await live_control_plane.arestart_apiserver()
    # The watch ended when kube-apiserver went away (cleanly or with a broken stream).
    try:
        await asyncio.wait_for(reader, timeout=5)
    except Exception as e:
        assert not isinstance(e, TimeoutError), "watch survived an apiserver restart"
    finally:
        resp.release()
    assert time.monotonic() - t0 < 30
    # And the new kube-apiserver serves the same data.
    await core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "after-restart"}, "data": {"k": "v"}}
    )


async def test_compaction_makes_old_resource_versions_gone(
    live_control_plane: ControlPlane, admin_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(admin_client)
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    old_rv = (await core.list_namespaced_config_map(namespace)).metadata.resource_version
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "b"}})
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})

    compacted = await live_control_plane.aetcd_compact()
    assert compacted > int(old_rv)
    assert live_control_plane.etcd_revision() >= compacted

    # kube-apiserver would still answer from its watch cache (which, since 1.34, keeps
    # snapshots for exact-revision lists too). Restarted, its cache starts at the current
    # revision, so anything older must come from etcd, which no longer has it: 410 Gone.
    await live_control_plane.arestart_apiserver()
    async with live_control_plane.api_client("admin") as fresh:
        core = client.CoreV1Api(fresh)
        with pytest.raises(ApiException) as exc:
            await core.list_namespaced_config_map(
                namespace, resource_version=old_rv, resource_version_match="Exact"
            )
        assert exc.value.status == 410

        # A watch from the old revision gets 410 as an ERROR event, as client-go's reflector
        # sees it: the informers' relist trigger.
        resp = await core.list_namespaced_config_map(
            namespace, watch=True, resource_version=old_rv, _preload_content=False
        )
        try:
            assert resp.status == 200
            first = json.loads(await asyncio.wait_for(resp.content.readline(), timeout=10))
        finally:
            resp.release()
    assert first["type"] == "ERROR"
    assert first["object"]["code"] == 410
