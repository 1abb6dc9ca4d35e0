from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog

from pyscheduler.informers.delta_fifo import DeletedFinalStateUnknown
from pyscheduler.informers.indexer import NODE_NAME_INDEX, index_by
from pyscheduler.informers.shared_informer import SharedInformer, unwrap, wait_for_cache_sync

from ._informer_fakes import CountingBackoff, MemoryCluster, Obj, make, wait_until


class Recorder:
    """Handlers that log what they saw, plus what the indexer held at that moment."""

    def __init__(self, informer: SharedInformer[Obj] | None = None) -> None:
        self.events: list[tuple[str, Any]] = []
        self.informer = informer

    def on_add(self, obj: Obj) -> None:
        self.events.append(("add", obj.metadata.name, obj.value))

    def on_update(self, old: Obj, new: Obj) -> None:
        self.events.append(("update", new.metadata.name, old.value, new.value))

    def on_delete(self, obj: Obj | DeletedFinalStateUnknown[Obj]) -> None:
        tombstone = isinstance(obj, DeletedFinalStateUnknown)
        last = unwrap(obj)
        self.events.append(("delete", last.metadata.name if last else None, tombstone))


def informer_for(cluster: MemoryCluster, **kwargs: Any) -> SharedInformer[Obj]:
    return SharedInformer(cluster, name="test", backoff=CountingBackoff(), **kwargs)


@contextlib.asynccontextmanager
async def running(informer: SharedInformer[Obj]) -> AsyncIterator[SharedInformer[Obj]]:
    task = asyncio.create_task(informer.run())
    try:
        yield informer
    finally:
        informer.stop()
        await asyncio.wait_for(task, 5)


def settled(informer: SharedInformer[Obj], cluster: MemoryCluster) -> bool:
    return (
        informer.last_sync_resource_version == str(cluster.rv)
        and len(informer.fifo) == 0
        and cluster.open_watches > 0
    )


async def test_initial_list_then_events_reach_indexer_and_handlers() -> None:
    cluster = MemoryCluster()
    cluster.create("a", value=1)
    informer = informer_for(cluster)
    rec = Recorder()
    informer.add_event_handler(rec.on_add, rec.on_update, rec.on_delete)
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        assert informer.has_synced()
        assert rec.events == [("add", "a", 1)]
        cluster.update("ns/a", value=2)
        cluster.create("b")
        cluster.delete("ns/a")
        await wait_until(lambda: settled(informer, cluster))
        # DeltaFIFO order: all of a's queued changes, then b's (a was queued first).
        assert rec.events[1:] == [("update", "a", 1, 2), ("delete", "a", False), ("add", "b", 0)]
        assert informer.indexer.list_keys() == ["ns/b"]


async def test_indexer_is_updated_before_handlers_run() -> None:
    cluster = MemoryCluster()
    informer = informer_for(cluster)
    seen: list[tuple[str, Any]] = []

    def on_add(obj: Obj) -> None:
        seen.append(("add", informer.indexer.get(obj)))

    def on_update(old: Obj, new: Obj) -> None:
        seen.append(("update", informer.indexer.get(new)))

    def on_delete(obj: Any) -> None:
        seen.append(("delete", informer.indexer.get(obj)))

    informer.add_event_handler(on_add, on_update, on_delete)
    async with running(informer):
        await informer.wait_for_sync()
        created = cluster.create("a")
        await wait_until(lambda: settled(informer, cluster))
        updated = cluster.update("ns/a")
        await wait_until(lambda: settled(informer, cluster))
        cluster.delete("ns/a")
        await wait_until(lambda: settled(informer, cluster))
    assert seen == [("add", created), ("update", updated), ("delete", None)]


async def test_uid_change_across_a_relist_is_delete_then_add() -> None:
    cluster = MemoryCluster()
    old = cluster.create("a")
    informer = informer_for(cluster)
    rec = Recorder()
    informer.add_event_handler(rec.on_add, rec.on_update, rec.on_delete)
    async with running(informer):
        await informer.wait_for_sync()
        cluster.disconnect()
        cluster.delete("ns/a")
        new = cluster.create("a", value=5)
        cluster.compact()
        cluster.reconnect()
        await wait_until(lambda: settled(informer, cluster) and informer.reflector.list_count == 2)
    assert rec.events == [("add", "a", 0), ("delete", "a", True), ("add", "a", 5)]
    assert informer.indexer.get_by_key("ns/a") == new
    assert new.metadata.uid != old.metadata.uid


async def test_uid_change_inside_one_delta_list_is_delete_then_add() -> None:
    # Drive processing directly: a queued Updated delta whose UID differs from the cache.
    cluster = MemoryCluster()
    informer = informer_for(cluster)
    rec = Recorder()
    informer.add_event_handler(rec.on_add, rec.on_update, rec.on_delete)
    informer.indexer.add(make("a", uid="one", value=1))
    informer.fifo.update(make("a", uid="two", value=2))
    await informer.fifo.pop(informer._process_deltas)
    assert rec.events == [("delete", "a", True), ("add", "a", 2)]
    assert informer.indexer.get_by_key("ns/a") == make("a", uid="two", value=2)


async def test_relist_tombstones_objects_deleted_during_gap() -> None:
    cluster = MemoryCluster()
    cluster.create("a")
    cluster.create("b")
    informer = informer_for(cluster)
    rec = Recorder()
    informer.add_event_handler(rec.on_add, rec.on_update, rec.on_delete)
    async with running(informer):
        await informer.wait_for_sync()
        cluster.disconnect()
        cluster.delete("ns/a")
        cluster.update("ns/b", value=7)
        cluster.compact()
        cluster.reconnect()
        await wait_until(lambda: settled(informer, cluster) and informer.reflector.list_count == 2)
    assert sorted(rec.events[2:]) == [("delete", "a", True), ("update", "b", 0, 7)]
    assert informer.indexer.list_keys() == ["ns/b"]


async def test_filter_sees_the_tombstone_itself_on_a_gap_delete() -> None:
    # Bound (node_name set) and deleted while we were not watching: the tombstone carries the
    # last state we saw, "unassigned". client-go hands the tombstone to FilterFunc, so a filter
    # that knows the state may be stale can accept it anyway.
    cluster = MemoryCluster()
    cluster.create("a")
    informer = informer_for(cluster)
    seen: list[object] = []
    assigned = Recorder()

    def assigned_filter(obj: Obj | DeletedFinalStateUnknown[Obj]) -> bool:
        seen.append(obj)
        if isinstance(obj, DeletedFinalStateUnknown):
            return True
        return bool(obj.node_name)

    informer.add_event_handler(
        assigned.on_add, assigned.on_update, assigned.on_delete, filter=assigned_filter
    )
    async with running(informer):
        await informer.wait_for_sync()
        cluster.disconnect()
        cluster.update("ns/a", node_name="n1")
        cluster.delete("ns/a")
        cluster.compact()
        cluster.reconnect()
        await wait_until(lambda: settled(informer, cluster) and informer.reflector.list_count == 2)
    assert assigned.events == [("delete", "a", True)]
    tombstones = [o for o in seen if isinstance(o, DeletedFinalStateUnknown)]
    assert len(tombstones) == 1
    last = unwrap(tombstones[0])
    assert last is not None and last.node_name == ""


async def test_relist_of_unchanged_objects_is_quiet() -> None:
    cluster = MemoryCluster()
    cluster.create("a")
    informer = informer_for(cluster)
    rec = Recorder()
    informer.add_event_handler(rec.on_add, rec.on_update, rec.on_delete)
    async with running(informer):
        await informer.wait_for_sync()
        cluster.bump()
        cluster.compact()
        cluster.drop_watches()
        await wait_until(lambda: settled(informer, cluster) and informer.reflector.list_count == 2)
    assert rec.events == [("add", "a", 0)]


async def test_resync_delivers_sync_updates_when_enabled() -> None:
    cluster = MemoryCluster()
    cluster.create("a")
    informer = informer_for(cluster, resync_period=0.001)
    rec = Recorder()
    informer.add_event_handler(rec.on_add, rec.on_update, rec.on_delete)
    async with running(informer):
        await informer.wait_for_sync()
        await wait_until(lambda: ("update", "a", 0, 0) in rec.events, rounds=100_000)


async def test_filtering_handler_semantics() -> None:
    cluster = MemoryCluster()
    informer = informer_for(cluster)
    rec = Recorder()
    informer.add_event_handler(
        rec.on_add, rec.on_update, rec.on_delete, filter=lambda o: o.value % 2 == 1
    )
    async with running(informer):
        await informer.wait_for_sync()
        cluster.create("a", value=0)  # fails the filter: nothing
        cluster.update("ns/a", value=1)  # starts passing: add
        cluster.update("ns/a", value=3)  # passes both: update
        cluster.update("ns/a", value=4)  # stops passing: delete (of the old object)
        cluster.update("ns/a", value=6)  # fails both: nothing
        cluster.create("b", value=1)
        cluster.delete("ns/b")  # passes: delete
        cluster.create("c", value=2)
        cluster.delete("ns/c")  # fails: nothing
        await wait_until(lambda: settled(informer, cluster))
    assert rec.events == [
        ("add", "a", 1),
        ("update", "a", 1, 3),
        ("delete", "a", False),
        ("add", "b", 1),
        ("delete", "b", False),
    ]


async def test_handler_exception_is_logged_and_does_not_stop_anything() -> None:
    cluster = MemoryCluster()
    informer = informer_for(cluster)
    rec = Recorder()

    def broken(obj: Obj) -> None:
        raise RuntimeError("handler bug")

    informer.add_event_handler(on_add=broken)
    informer.add_event_handler(rec.on_add, rec.on_update, rec.on_delete)
    with structlog.testing.capture_logs() as logs:
        async with running(informer):
            await informer.wait_for_sync()
            cluster.create("a")
            cluster.create("b")
            await wait_until(lambda: settled(informer, cluster))
    assert rec.events == [("add", "a", 0), ("add", "b", 0)]
    failures = [e for e in logs if e["event"] == "event handler failed"]
    assert [(e["key"], e["notification"], e["log_level"]) for e in failures] == [
        ("ns/a", "add", "error"),
        ("ns/b", "add", "error"),
    ]


async def test_handler_added_late_gets_cached_objects_as_adds() -> None:
    cluster = MemoryCluster()
    cluster.create("a")
    informer = informer_for(cluster)
    async with running(informer):
        await informer.wait_for_sync()
        rec = Recorder()
        registration = informer.add_event_handler(rec.on_add, rec.on_update, rec.on_delete)
        assert rec.events == [("add", "a", 0)]
        assert registration.has_synced()
        informer.remove_event_handler(registration)
        cluster.create("b")
        await wait_until(lambda: settled(informer, cluster))
        assert rec.events == [("add", "a", 0)]


async def test_coroutine_handlers_are_rejected() -> None:
    informer = informer_for(MemoryCluster())

    async def on_add(obj: Obj) -> None:
        pass

    with pytest.raises(TypeError, match="plain functions"):
        informer.add_event_handler(on_add)


async def test_indexes_available_through_informer() -> None:
    cluster = MemoryCluster()
    cluster.create("p1", node_name="n1")
    informer = informer_for(cluster, indexers={NODE_NAME_INDEX: index_by(lambda o: o.node_name)})
    async with running(informer):
        await informer.wait_for_sync()
        assert [o.metadata.name for o in informer.indexer.by_index(NODE_NAME_INDEX, "n1")] == [
            "p1"
        ]
        cluster.update("ns/p1", node_name="n2")
        await wait_until(lambda: settled(informer, cluster))
        assert informer.indexer.by_index(NODE_NAME_INDEX, "n1") == []


async def test_wait_for_cache_sync_times_out_when_never_synced() -> None:
    cluster = MemoryCluster()
    cluster.disconnect()
    informer = informer_for(cluster)
    async with running(informer):
        assert not await wait_for_cache_sync(informer, timeout=0.01)
        cluster.reconnect()
        assert await wait_for_cache_sync(informer, timeout=5)


async def test_run_twice_is_an_error_and_stop_ends_run() -> None:
    cluster = MemoryCluster()
    informer = informer_for(cluster)
    async with running(informer):
        await informer.wait_for_sync()
        with pytest.raises(RuntimeError, match="already started"):
            await informer.run()
    assert cluster.open_watches == 0
