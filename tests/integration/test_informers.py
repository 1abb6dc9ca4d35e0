"""Informers against the real kube-apiserver: HTTP list/watch, restarts, compaction and relists.

What the unit tests cannot show: that ListWatch speaks kube-apiserver's real protocol (chunked
watch streams, bookmarks, 410 as an ERROR event), that the Pod and Node schemas decode what the
server sends, and that an informer converges through an apiserver restart and through a relist
forced by etcd compaction, reporting the deletions it missed as tombstones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient

from envtest import ControlPlane
from pyscheduler.api.errors import ApiConnectionError
from pyscheduler.api.listwatch import ListWatch
from pyscheduler.api.raw import request_bytes
from pyscheduler.api.resources import NODES, PODS
from pyscheduler.api.types import WatchEvent
from pyscheduler.informers.delta_fifo import DeletedFinalStateUnknown
from pyscheduler.informers.indexer import NAMESPACE_INDEX, index_by_namespace
from pyscheduler.informers.shared_informer import SharedInformer, unwrap, wait_for_cache_sync
from pyscheduler.model.meta import ListMeta, object_key
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod

NOBODY = "no-scheduler-serves-this"


async def eventually(check: Callable[[], bool], *, timeout: float = 60.0) -> None:
    """Wait until ``check()`` holds (a wait for convergence, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {check}")
        await asyncio.sleep(0.05)


def pod_body(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "schedulerName": NOBODY,
            "containers": [
                {
                    "name": "c",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                }
            ],
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
        },
    }


class Admin:
    """Writes as the admin identity, through our own raw API layer (so it is exercised too).

    The first request after an apiserver restart may hit a pooled connection the server closed;
    that one is retried (it never reached the server, so a POST is not repeated).
    """

    def __init__(self, client: ApiClient, namespace: str) -> None:
        self.client = client
        self.ns = namespace

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in (0, 1):
            try:
                return json.loads(await request_bytes(self.client, method, path, **kwargs))
            except ApiConnectionError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def create_pod(self, name: str, labels: dict[str, str] | None = None) -> Any:
        return await self._request(
            "POST", f"/api/v1/namespaces/{self.ns}/pods", body=pod_body(name, labels)
        )

    async def label_pod(self, name: str, labels: dict[str, str]) -> Any:
        return await self._request(
            "PATCH",
            f"/api/v1/namespaces/{self.ns}/pods/{name}",
            body={"metadata": {"labels": labels}},
            headers={"Content-Type": "application/merge-patch+json"},
        )

    async def delete_pod(self, name: str) -> Any:
        return await self._request(
            "DELETE",
            f"/api/v1/namespaces/{self.ns}/pods/{name}",
            query=[("gracePeriodSeconds", "0")],
        )


class Log:
    """Records handler calls as (event, key, uid, tombstone)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, bool]] = []

    def on_add(self, obj: Any) -> None:
        self.events.append(("add", object_key(obj.metadata), obj.metadata.uid, False))

    def on_update(self, old: Any, new: Any) -> None:
        self.events.append(("update", object_key(new.metadata), new.metadata.uid, False))

    def on_delete(self, obj: Any) -> None:
        last = unwrap(obj)
        key = obj.key if isinstance(obj, DeletedFinalStateUnknown) else object_key(obj.metadata)
        uid = last.metadata.uid if last is not None else ""
        self.events.append(("delete", key, uid, isinstance(obj, DeletedFinalStateUnknown)))

    def for_key(self, key: str) -> list[tuple[str, str, bool]]:
        return [(e, uid, tomb) for e, k, uid, tomb in self.events if k == key]


@contextlib.asynccontextmanager
async def running(*informers: SharedInformer[Any]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(i.run()) for i in informers]
    try:
        assert await wait_for_cache_sync(*informers, timeout=60)
        yield
    finally:
        for informer in informers:
            informer.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


async def test_pods_and_nodes_flow_into_indexer_through_scheduler_identity(
    live_control_plane: ControlPlane,
    admin_client: Any,
    scheduler_client: Any,
    namespace: str,
    kwok_nodes: Callable[..., list[str]],
) -> None:
    admin = Admin(admin_client, namespace)
    await admin.create_pod("pre-existing")
    pods: SharedInformer[Pod] = SharedInformer(
        ListWatch(scheduler_client, PODS, Pod, namespace=namespace),
        name="pods",
        indexers={NAMESPACE_INDEX: index_by_namespace},
    )
    marker = f"informer-test-{os.urandom(3).hex()}"
    nodes: SharedInformer[Node] = SharedInformer(
        ListWatch(scheduler_client, NODES, Node, label_selector=f"pyscheduler-test={marker}"),
        name="nodes",
    )
    pod_log, node_log = Log(), Log()
    pods.add_event_handler(pod_log.on_add, pod_log.on_update, pod_log.on_delete)
    nodes.add_event_handler(node_log.on_add, node_log.on_update, node_log.on_delete)

    async with running(pods, nodes):
        assert pods.indexer.list_keys() == [f"{namespace}/pre-existing"]
        assert nodes.indexer.list_keys() == []

        for name in ("a", "b", "c"):
            await admin.create_pod(name, {"app": "web"})
        await admin.label_pod("b", {"app": "db"})
        await admin.delete_pod("c")
        await eventually(
            lambda: sorted(pods.indexer.list_keys())
            == sorted(f"{namespace}/{n}" for n in ("pre-existing", "a", "b"))
            and pods.indexer.get_by_key(f"{namespace}/b") is not None
            and pods.indexer.get_by_key(f"{namespace}/b").metadata.labels == {"app": "db"}  # type: ignore[union-attr]
        )
        b = pods.indexer.get_by_key(f"{namespace}/b")
        assert b is not None and b.spec.scheduler_name == NOBODY
        assert b.spec.containers[0].resources is not None
        assert b.spec.containers[0].resources.requests == {"cpu": "100m", "memory": "64Mi"}
        assert len(pods.indexer.by_index(NAMESPACE_INDEX, namespace)) == 3
        # (A graceful delete may first be seen as an update setting deletionTimestamp.)
        c_events = [e for e, _, _ in pod_log.for_key(f"{namespace}/c")]
        assert c_events[0] == "add" and c_events[-1] == "delete"
        assert [e for e, _, _ in pod_log.for_key(f"{namespace}/b")][:2] == ["add", "update"]

        names = await asyncio.to_thread(kwok_nodes, 2, labels={"pyscheduler-test": marker})
        await eventually(lambda: sorted(nodes.indexer.list_keys()) == sorted(names))
        node = nodes.indexer.get_by_key(names[0])
        assert node is not None and node.status.allocatable.get("cpu") == "32"
        assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
        await asyncio.to_thread(live_control_plane.delete_nodes, names[:1])
        await eventually(lambda: nodes.indexer.list_keys() == names[1:])
        assert ("delete", names[0]) in [(e, k) for e, k, _, _ in node_log.events]


async def test_informer_converges_across_apiserver_restart(
    live_control_plane: ControlPlane, admin_client: Any, namespace: str
) -> None:
    admin = Admin(admin_client, namespace)
    pods: SharedInformer[Pod] = SharedInformer(
        ListWatch(admin_client, PODS, Pod, namespace=namespace), name="pods"
    )
    log = Log()
    pods.add_event_handler(log.on_add, log.on_update, log.on_delete)
    async with running(pods):
        await admin.create_pod("a")
        await eventually(lambda: f"{namespace}/a" in pods.indexer)
        # The informer keeps running (and failing to reconnect) while kube-apiserver is down.
        await live_control_plane.arestart_apiserver(downtime=1.0)
        await admin.create_pod("b")
        await admin.delete_pod("a")
        await eventually(lambda: pods.indexer.list_keys() == [f"{namespace}/b"])
        # Whether the watch resumed or a relist happened, a's deletion was delivered.
        a_events = [e for e, _, _ in log.for_key(f"{namespace}/a")]
        assert a_events[0] == "add" and a_events[-1] == "delete"
        assert [e for e, _, _ in log.for_key(f"{namespace}/b")] == ["add"]


class GatedListWatch:
    """The real ListWatch, with a gate the test closes to make the informer miss events.

    While the gate is closed, events on the open watch are dropped (the informer never sees
    them) and new list/watch calls wait until it opens: the informer is partitioned from a real
    kube-apiserver that keeps serving everyone else. The open watch itself ends when
    kube-apiserver restarts.
    """

    def __init__(self, inner: ListWatch[Pod]) -> None:
        self.inner = inner
        self._open = asyncio.Event()
        self._open.set()
        self.held = 0
        self.dropped = 0

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    async def _pass(self) -> None:
        if not self._open.is_set():
            self.held += 1
            await self._open.wait()

    async def list(self, **kwargs: Any) -> tuple[list[Pod], ListMeta]:
        await self._pass()
        return await self.inner.list(**kwargs)

    async def watch(self, **kwargs: Any) -> AsyncGenerator[WatchEvent[Pod], None]:
        await self._pass()
        async with aclosing(self.inner.watch(**kwargs)) as events:
            async for event in events:
                if self._open.is_set():
                    yield event
                else:
                    self.dropped += 1


async def test_compaction_forces_relist_with_tombstones_and_uid_changes(
    live_control_plane: ControlPlane, admin_client: Any, namespace: str
) -> None:
    admin = Admin(admin_client, namespace)
    gated = GatedListWatch(ListWatch(admin_client, PODS, Pod, namespace=namespace))
    pods: SharedInformer[Pod] = SharedInformer(gated, name="pods")
    log = Log()
    pods.add_event_handler(log.on_add, log.on_update, log.on_delete)
    async with running(pods):
        await admin.create_pod("gone")
        old_b = await admin.create_pod("recreated")
        await eventually(lambda: len(pods.indexer) == 2)
        lists_before = pods.reflector.list_count

        gated.close()
        # While the informer is cut off: a deletion, a delete+re-create, a creation.
        await admin.delete_pod("gone")
        await admin.delete_pod("recreated")
        new_b = await admin.create_pod("recreated", {"generation": "2"})
        await admin.create_pod("new")
        # Make the informer's resourceVersion unrecoverable: compact etcd and restart
        # kube-apiserver so its watch cache cannot serve the missed events either.
        await live_control_plane.aetcd_compact()
        await live_control_plane.arestart_apiserver()
        # The restart ended the watch; the informer's next call waits at the gate.
        await eventually(lambda: gated.held > 0)
        assert gated.dropped >= 4
        gated.open()

        await eventually(
            lambda: sorted(pods.indexer.list_keys())
            == [f"{namespace}/new", f"{namespace}/recreated"]
        )
        assert pods.reflector.list_count > lists_before  # converged by relisting
        recreated = pods.indexer.get_by_key(f"{namespace}/recreated")
        assert recreated is not None
        assert recreated.metadata.uid == new_b["metadata"]["uid"] != old_b["metadata"]["uid"]
        old_uid, new_uid = old_b["metadata"]["uid"], new_b["metadata"]["uid"]
        assert log.for_key(f"{namespace}/gone")[-1][0::2] == ("delete", True)
        # The delete + re-create folded into the relist arrives as delete(tombstone) + add.
        assert log.for_key(f"{namespace}/recreated") == [
            ("add", old_uid, False),
            ("delete", old_uid, True),
            ("add", new_uid, False),
        ]
        assert [e for e, _, _ in log.for_key(f"{namespace}/new")] == ["add"]
