"""The in-memory side of a dry run: informers fed from a snapshot, and writers that change an
in-memory copy of the cluster instead of the API.

Contract:
* ``MemoryInformerSource`` hands out real ``SharedInformer``s (Reflector, DeltaFIFO, Indexer,
  handlers) whose list comes from the snapshot's objects and whose watch never delivers; the
  app syncs them exactly as it syncs API informers. Pods get upstream's non-terminal field
  selector applied here, as the apiserver would.
* ``MemoryCluster`` is the in-memory copy. Every write is delivered back through the
  informers (``SharedInformer.apply``) on the next loop turn, as a watch event would arrive
  after the API call returned: a bind sets ``spec.nodeName``; a victim's delete removes it; a
  FailedScheduling status patch sets or clears ``status.nominatedNodeName``; VolumeBinding's
  PV/PVC patches are merged into the stored objects. ``pending`` counts deliveries not yet
  made, so the engine knows when the copy is quiet.
* Nothing here writes to an API server; ``outcomes`` records what ``run`` would have written
  (bindings, FailedScheduling messages, Preempted events).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pyscheduler.api.merge_patch import json_merge_patch
from pyscheduler.api.resources import PODS
from pyscheduler.api.resources import Resource as ApiResource
from pyscheduler.api.types import T, WatchEvent
from pyscheduler.framework.interfaces import PodActivator
from pyscheduler.framework.waiting_pods import WaitingPodsMap
from pyscheduler.informers.indexer import IndexFunc
from pyscheduler.informers.shared_informer import SharedInformer
from pyscheduler.model.meta import ListMeta, object_key
from pyscheduler.model.pod import Pod, is_terminal, with_node_name
from pyscheduler.preemption.client import PreemptionClient
from pyscheduler.scheduler.preemption_client import SchedulerHooks
from pyscheduler.scheduler.writers import Writers

EVENT_PREEMPTED = "Preempted"


class MemoryListerWatcher:
    """A ListerWatcher over a fixed list: one page, then a watch that never delivers."""

    def __init__(self, objects: list[Any], name: str) -> None:
        self.objects = objects
        self.name = name

    def __repr__(self) -> str:
        return f"memory:{self.name}"

    async def list(self, *, limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None) -> tuple[list[Any], ListMeta]:
        """Every object at once (pagination is not needed in memory)."""
        return list(self.objects), ListMeta(resource_version="1")

    async def watch(self, *, resource_version: str, timeout_seconds: int | None = None,
                    allow_bookmarks: bool = True) -> AsyncGenerator[WatchEvent[Any], None]:
        """Nothing ever changes behind the dry run's back: wait until cancelled."""
        await asyncio.Event().wait()
        if False:  # pragma: no cover - makes this an async generator
            yield


class MemoryInformerSource:
    """The app's InformerSource over decoded snapshot objects, keyed by resource plural."""

    def __init__(self, objects: Mapping[str, list[Any]]) -> None:
        self.objects = objects
        self.informers: dict[str, SharedInformer[Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def informer_for(self, resource: ApiResource, object_type: type[T], *,
                     namespace: str | None = None, label_selector: str = "",
                     field_selector: str = "",
                     indexers: Mapping[str, IndexFunc[T]] | None = None) -> SharedInformer[T]:
        """A real SharedInformer listing this resource's snapshot objects."""
        existing = self.informers.get(resource.plural)
        if existing is not None:
            if indexers:
                have = existing.indexer.get_indexers()
                existing.add_indexers({n: f for n, f in indexers.items() if n not in have})
            found: SharedInformer[T] = existing
            return found
        objs = list(self.objects.get(resource.plural, []))
        if resource == PODS and field_selector:
            # The apiserver applies the app's non-terminal selector; so do we.
            objs = [p for p in objs if not is_terminal(p)]
        inf: SharedInformer[T] = SharedInformer(MemoryListerWatcher(objs, resource.plural),
                                                name=resource.plural, indexers=indexers)
        self.informers[resource.plural] = inf
        return inf

    def start(self) -> None:
        """Run every informer's initial list."""
        for inf in self.informers.values():
            self._tasks.append(asyncio.create_task(inf.run(), name=f"memory-{inf.name}"))

    async def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """True once every informer delivered its list."""
        for inf in self.informers.values():
            await inf.wait_for_sync()
        return True

    async def shutdown(self) -> None:
        """Stop the informers' tasks (their indexers stay, and ``apply`` keeps working)."""
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


@dataclass(slots=True)
class Outcomes:
    """What ``run`` would have written, by pod UID."""

    bound: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    # preemptor UID -> victims (namespace, name), in the order they were preempted
    victims: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    writes: int = 0


class MemoryCluster:
    """The in-memory copy of the cluster that the dry run's writers change (module contract)."""

    def __init__(self) -> None:
        self.informers: dict[str, SharedInformer[Any]] = {}
        self.outcomes = Outcomes()
        self.pending = 0
        self._rv = itertools.count(10_000_000)

    def attach(self, informers: Mapping[str, SharedInformer[Any]]) -> None:
        """The app's informers, by resource plural (pods, nodes and the watched kinds)."""
        self.informers = dict(informers)

    def _later(self, fn: Callable[[], None]) -> None:
        self.pending += 1

        def run() -> None:
            self.pending -= 1
            fn()

        asyncio.get_running_loop().call_soon(run)

    def _bump(self, meta: Any) -> Any:
        return msgspec.structs.replace(meta, resource_version=str(next(self._rv)))

    def current_pod(self, pod: Pod) -> Pod | None:
        """The copy's version of ``pod`` (same UID), or None."""
        found: Pod | None = self.informers["pods"].indexer.get_by_key(object_key(pod.metadata))
        return found if found is not None and found.metadata.uid == pod.metadata.uid else None

    def update_pod(self, pod: Pod, change: Callable[[Pod], Pod]) -> None:
        """Apply ``change`` to the copy's current version of ``pod``, delivered next turn."""
        def run() -> None:
            cur = self.current_pod(pod)
            if cur is not None:
                new = change(cur)
                self.informers["pods"].apply(
                    msgspec.structs.replace(new, metadata=self._bump(new.metadata)))
        self._later(run)

    def delete_pod(self, pod: Pod) -> None:
        """Remove ``pod`` from the copy, delivered next turn."""
        def run() -> None:
            cur = self.current_pod(pod)
            if cur is not None:
                self.informers["pods"].apply_delete(cur)
        self._later(run)

    def merge_patch(self, plural: str, key: str, patch: dict[str, Any]) -> bytes:
        """JSON merge patch of a stored object (PV/PVC); returns the result as the API would."""
        inf = self.informers[plural]
        cur = inf.indexer.get_by_key(key)
        if cur is None:
            from pyscheduler.api.errors import NotFoundError
            raise NotFoundError(404, "NotFound", f"{plural} {key!r} not found")
        doc = json_merge_patch(msgspec.to_builtins(cur), patch)
        doc.setdefault("metadata", {})["resourceVersion"] = str(next(self._rv))
        new = msgspec.convert(doc, type(cur))
        self._later(lambda: inf.apply(new))
        self.outcomes.writes += 1
        return msgspec.json.encode(doc)


class MemoryBinder:
    """DefaultBinder's client: the pod gets spec.nodeName in the copy."""

    def __init__(self, cluster: MemoryCluster) -> None:
        self.cluster = cluster

    async def bind(self, pod: Pod, node_name: str) -> None:
        """Record the binding; the informer sees the bound pod on the next loop turn."""
        self.cluster.outcomes.bound[pod.metadata.uid] = node_name
        self.cluster.update_pod(pod, lambda p: with_node_name(p, node_name))


class MemoryVolumes:
    """VolumeBinding's PV/PVC client over the copy."""

    def __init__(self, cluster: MemoryCluster) -> None:
        self.cluster = cluster

    async def patch_persistent_volume(self, name: str, patch: dict[str, Any]) -> bytes:
        """Merge-patch the stored PV."""
        return self.cluster.merge_patch("persistentvolumes", name, patch)

    async def patch_persistent_volume_claim(self, namespace: str, name: str,
                                            patch: dict[str, Any]) -> bytes:
        """Merge-patch the stored PVC."""
        return self.cluster.merge_patch("persistentvolumeclaims", f"{namespace}/{name}", patch)


class MemoryReporter:
    """The reporter: keeps each pod's last FailedScheduling message and applies the
    nominatedNodeName part of the status patch ``run`` would send to the copy."""

    def __init__(self, cluster: MemoryCluster) -> None:
        self.cluster = cluster

    def scheduled(self, pod: Pod, node: str) -> None:
        """The Scheduled event: nothing to keep beyond the binding."""
        return None

    def failed(self, pod: Pod, reason: str, message: str, nominated_node: str | None) -> None:
        """Keep the message; set or clear the nomination on the copy's pod."""
        self.cluster.outcomes.failures[pod.metadata.uid] = message
        if nominated_node is not None and nominated_node != pod.status.nominated_node_name:
            self.cluster.update_pod(pod, lambda p: _with_nomination(p, nominated_node))

    def forget(self, uid: str) -> None:
        """Nothing is remembered per pod here."""
        return None

    def event(self, pod: Pod, type_: str, reason: str, action: str, note: str,
              related: Pod | None = None) -> None:
        """Keep Preempted events: they name each victim and its preemptor."""
        if reason == EVENT_PREEMPTED and related is not None:
            self.cluster.outcomes.victims.setdefault(related.metadata.uid, []).append(
                (pod.metadata.namespace, pod.metadata.name))

    def recorder(self, profile: str) -> MemoryReporter:
        """Every profile's plugins record through this one reporter (only Preempted is kept)."""
        return self

    def object_event(self, regarding: dict[str, Any], type_: str, reason: str, action: str,
                     note: str) -> None:
        """Events about other objects (a reload's ConfigMap) say nothing about placements."""
        return None

    def flush_all(self) -> None:
        """No series to write."""
        return None


class MemoryStatus:
    """Status writes of PodGroups and ElasticQuotas: counted, not applied (no plugin decides
    on a status the scheduler itself writes)."""

    def __init__(self, cluster: MemoryCluster) -> None:
        self.cluster = cluster

    def patch_status(self, path: str, patch: dict[str, Any]) -> None:
        """Count the write ``run`` would send."""
        self.cluster.outcomes.writes += 1


def _with_nomination(pod: Pod, node: str) -> Pod:
    return msgspec.structs.replace(
        pod, status=msgspec.structs.replace(pod.status, nominated_node_name=node))


class MemoryPreemptionClient(SchedulerHooks):
    """Preemption's client: victims leave the copy (reported, never deleted anywhere)."""

    def __init__(self, cluster: MemoryCluster, reporter: MemoryReporter,
                 nominator: Any, waiting_pods: WaitingPodsMap, activator: PodActivator) -> None:
        super().__init__(reporter, nominator, waiting_pods, activator)
        self.cluster = cluster

    async def patch_pod_status(self, pod: Pod, patch: dict[str, Any]) -> None:
        """DisruptionTarget: the victim leaves the copy right after, nothing to keep."""
        return None

    async def delete_pod(self, pod: Pod) -> None:
        """Remove the victim from the copy."""
        self.cluster.delete_pod(pod)

    async def clear_nominated_node_name(self, pod: Pod) -> None:
        """Forget the nomination in memory and on the copy's pod."""
        self.nominator.delete_nominated_pod_if_exists(pod)
        if pod.status.nominated_node_name:
            self.cluster.update_pod(pod, lambda p: _with_nomination(p, ""))


def memory_writers(cluster: MemoryCluster) -> Writers:
    """The Writers seam filled with the in-memory copy's writers."""
    reporter = MemoryReporter(cluster)

    def preemption(nominator: Any, waiting: WaitingPodsMap,
                   activator: PodActivator) -> PreemptionClient:
        return MemoryPreemptionClient(cluster, reporter, nominator, waiting, activator)

    return Writers(MemoryBinder(cluster), MemoryVolumes(cluster), MemoryStatus(cluster),
                   reporter, preemption)
