from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from pyscheduler.api.errors import (
    ApiConnectionError,
    ForbiddenError,
    GoneError,
    ServerError,
    TooManyRequestsError,
)
from pyscheduler.informers.reflector import Reflector

from ._informer_fakes import CountingBackoff, MemoryCluster, Obj, wait_until


class RecordingStore:
    """A ReflectorStore that keeps a dict like an indexer would and logs every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.state: dict[str, Obj] = {}

    def _key(self, obj: Obj) -> str:
        return f"{obj.metadata.namespace}/{obj.metadata.name}"

    def add(self, obj: Obj) -> None:
        self.calls.append(("add", obj.metadata.name))
        self.state[self._key(obj)] = obj

    def update(self, obj: Obj) -> None:
        self.calls.append(("update", obj.metadata.name))
        self.state[self._key(obj)] = obj

    def delete(self, obj: Obj) -> None:
        self.calls.append(("delete", obj.metadata.name))
        self.state.pop(self._key(obj), None)

    def replace(self, items: Iterable[Obj], resource_version: str = "") -> None:
        items = list(items)
        self.calls.append(("replace", (sorted(o.metadata.name for o in items), resource_version)))
        self.state = {self._key(o): o for o in items}

    def resync(self) -> None:
        self.calls.append(("resync", None))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


@contextlib.asynccontextmanager
async def running(
    cluster: MemoryCluster, store: RecordingStore, **kwargs: Any
) -> AsyncIterator[tuple[Reflector[Obj], CountingBackoff]]:
    backoff = CountingBackoff()
    reflector: Reflector[Obj] = Reflector(
        cluster, store, name="test", backoff=backoff, rng=random.Random(1), **kwargs
    )
    task = asyncio.create_task(reflector.run())
    try:
        yield reflector, backoff
    finally:
        reflector.stop()
        await asyncio.wait_for(task, 5)


def caught_up(reflector: Reflector[Obj], cluster: MemoryCluster) -> bool:
    return reflector.last_sync_resource_version == str(cluster.rv) and cluster.open_watches > 0


async def test_list_then_watch_from_list_rv_with_bookmarks_and_timeout() -> None:
    cluster = MemoryCluster()
    cluster.create("a")
    cluster.create("b")
    store = RecordingStore()
    async with running(cluster, store) as (reflector, _):
        await wait_until(lambda: caught_up(reflector, cluster))
        assert store.calls[0] == ("replace", (["a", "b"], "102"))
        # First list from the watch cache, as upstream (RV "0").
        assert cluster.list_calls[0]["resource_version"] == "0"
        watch = cluster.watch_calls[0]
        assert watch["resource_version"] == "102"
        assert watch["allow_bookmarks"] is True
        assert 300 <= watch["timeout_seconds"] < 600  # type: ignore[operator]

        cluster.create("c")
        cluster.update("ns/a")
        cluster.delete("ns/b")
        await wait_until(lambda: caught_up(reflector, cluster))
        assert store.calls[1:] == [("add", "c"), ("update", "a"), ("delete", "b")]
        assert set(store.state) == {"ns/a", "ns/c"}


async def test_bookmark_advances_resource_version_without_store_calls() -> None:
    cluster = MemoryCluster()
    store = RecordingStore()
    async with running(cluster, store) as (reflector, _):
        await wait_until(lambda: caught_up(reflector, cluster))
        cluster.bump()
        cluster.bump()
        cluster.bookmark()
        await wait_until(lambda: reflector.last_sync_resource_version == str(cluster.rv))
        assert store.kinds() == ["replace"]
        # A rewatch now starts from the bookmark's RV.
        cluster.drop_watches()
        await wait_until(lambda: len(cluster.watch_calls) == 2 and cluster.open_watches == 1)
        assert cluster.watch_calls[1]["resource_version"] == str(cluster.rv)


async def test_watch_end_rewatches_from_last_rv_without_relist() -> None:
    cluster = MemoryCluster()
    cluster.create("a")
    store = RecordingStore()
    async with running(cluster, store) as (reflector, _):
        await wait_until(lambda: caught_up(reflector, cluster))
        cluster.drop_watches()
        # Events written while no watch is open are replayed by the next watch.
        cluster.update("ns/a")
        await wait_until(lambda: caught_up(reflector, cluster))
        assert reflector.list_count == 1
        assert [c["resource_version"] for c in cluster.watch_calls] == ["101", "101"]
        assert store.calls[-1] == ("update", "a")


async def test_connection_errors_back_off_and_resume_watch_without_relist() -> None:
    cluster = MemoryCluster()
    cluster.create("a")
    store = RecordingStore()
    async with running(cluster, store) as (reflector, backoff):
        await wait_until(lambda: caught_up(reflector, cluster))
        cluster.disconnect()
        await wait_until(lambda: len(cluster.watch_calls) == 2)
        cluster.update("ns/a")
        cluster.reconnect()
        await wait_until(lambda: caught_up(reflector, cluster))
        assert reflector.list_count == 1
        assert backoff.calls >= 1
        assert store.calls[-1] == ("update", "a")
        assert cluster.watch_calls[-1]["resource_version"] == "101"


@pytest.mark.parametrize(
    "error",
    [
        TooManyRequestsError(429, "TooManyRequests", "slow down", retry_after=0),
        ServerError(500, "InternalError", "etcd hiccup"),
        ApiConnectionError("reset by peer"),
    ],
)
async def test_retriable_watch_start_errors_rewatch_after_backoff(error: Exception) -> None:
    cluster = MemoryCluster()
    cluster.watch_errors.append(error)  # type: ignore[arg-type]
    store = RecordingStore()
    async with running(cluster, store) as (reflector, backoff):
        await wait_until(lambda: caught_up(reflector, cluster))
        assert reflector.list_count == 1
        assert backoff.calls == 1
        assert len(cluster.watch_calls) == 2


async def test_watch_410_error_event_relists_and_replace_reports_missed_deletes() -> None:
    cluster = MemoryCluster()
    cluster.create("a")
    cluster.create("b")
    store = RecordingStore()
    async with running(cluster, store) as (reflector, _):
        await wait_until(lambda: caught_up(reflector, cluster))
        cluster.disconnect()
        cluster.delete("ns/a")
        cluster.create("c")
        cluster.compact()
        cluster.reconnect()
        await wait_until(lambda: caught_up(reflector, cluster) and reflector.list_count == 2)
        assert store.calls[-1] == ("replace", (["b", "c"], str(cluster.rv)))
        # Relist after a watch 410 asks for "at least as fresh as" the last RV, as upstream,
        # unpaginated so that the watch cache can answer it.
        assert cluster.list_calls[-1]["resource_version"] == "102"
        assert cluster.list_calls[-1]["limit"] is None


async def test_watch_410_http_answer_relists() -> None:
    cluster = MemoryCluster()
    cluster.watch_errors.append(GoneError(410, "Gone", "gone"))
    store = RecordingStore()
    async with running(cluster, store) as (reflector, _):
        await wait_until(lambda: caught_up(reflector, cluster) and reflector.list_count == 2)


async def test_other_watch_errors_relist_after_backoff() -> None:
    cluster = MemoryCluster()
    cluster.watch_errors.append(ForbiddenError(403, "Forbidden", "rbac"))
    store = RecordingStore()
    async with running(cluster, store) as (reflector, backoff):
        await wait_until(lambda: caught_up(reflector, cluster) and reflector.list_count == 2)
        assert backoff.calls >= 1


async def test_pagination_collects_all_pages_at_one_snapshot() -> None:
    cluster = MemoryCluster()
    for i in range(7):
        cluster.create(f"o{i}")
    store = RecordingStore()
    async with running(cluster, store, page_size=3) as (reflector, _):
        await wait_until(lambda: caught_up(reflector, cluster))
        assert store.calls[0] == ("replace", ([f"o{i}" for i in range(7)], "107"))
        assert [c["limit"] for c in cluster.list_calls] == [3, 3, 3]
        assert [c["continue"] is not None for c in cluster.list_calls] == [False, True, True]
        # resourceVersion is only sent with the first page (the token carries it after).
        assert [c["resource_version"] for c in cluster.list_calls] == ["0", None, None]


async def test_expired_continue_token_restarts_list_unpaginated() -> None:
    cluster = MemoryCluster()
    for i in range(5):
        cluster.create(f"o{i}")
    store = RecordingStore()
    original_list = cluster.list

    async def list_and_compact(**kwargs: Any) -> Any:
        result = await original_list(**kwargs)
        if kwargs.get("continue_") is None and kwargs.get("limit"):
            # Between the first and the second page, a write and a compaction happen.
            cluster.delete("ns/o0")
            cluster.compact()
        return result

    cluster.list = list_and_compact  # type: ignore[method-assign]
    async with running(cluster, store, page_size=2) as (reflector, _):
        await wait_until(lambda: caught_up(reflector, cluster))
        assert store.calls[0] == ("replace", (["o1", "o2", "o3", "o4"], "106"))
        assert cluster.list_calls[-1] == {"limit": None, "continue": None, "resource_version": "0"}


async def test_list_gone_retries_at_latest_resource_version() -> None:
    cluster = MemoryCluster()
    cluster.create("a")
    cluster.list_errors.append(GoneError(410, "Expired", "too old"))
    store = RecordingStore()
    async with running(cluster, store) as (reflector, _):
        await wait_until(lambda: caught_up(reflector, cluster))
        assert [c["resource_version"] for c in cluster.list_calls] == ["0", ""]


async def test_list_failure_backs_off_and_retries() -> None:
    cluster = MemoryCluster()
    cluster.list_errors.extend(
        [ServerError(503, "ServiceUnavailable", "x"), ApiConnectionError("y")]
    )
    store = RecordingStore()
    async with running(cluster, store) as (reflector, backoff):
        await wait_until(lambda: caught_up(reflector, cluster))
        assert backoff.calls == 2
        assert store.kinds() == ["replace"]


async def test_resync_period_calls_store_resync_while_watching() -> None:
    cluster = MemoryCluster()
    store = RecordingStore()
    async with running(cluster, store, resync_period=0.001) as (_reflector, _):
        await wait_until(lambda: "resync" in store.kinds(), rounds=100_000)


async def test_stop_closes_the_watch() -> None:
    cluster = MemoryCluster()
    store = RecordingStore()
    async with running(cluster, store) as (reflector, _):
        await wait_until(lambda: caught_up(reflector, cluster))
        assert cluster.open_watches == 1
    assert cluster.open_watches == 0


async def test_cancellation_closes_the_watch() -> None:
    cluster = MemoryCluster()
    reflector: Reflector[Obj] = Reflector(cluster, RecordingStore(), backoff=CountingBackoff())
    task = asyncio.create_task(reflector.run())
    await wait_until(lambda: cluster.open_watches == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cluster.open_watches == 0


async def test_decode_or_store_bug_is_logged_and_relisted_not_fatal() -> None:
    cluster = MemoryCluster()
    store = RecordingStore()
    boom = {"armed": True}
    original_add = store.add

    def flaky_add(obj: Obj) -> None:
        if boom.pop("armed", False):
            raise RuntimeError("bug")
        original_add(obj)

    store.add = flaky_add  # type: ignore[method-assign]
    async with running(cluster, store) as (reflector, _):
        await wait_until(lambda: caught_up(reflector, cluster))
        cluster.create("a")
        await wait_until(lambda: reflector.list_count == 2 and caught_up(reflector, cluster))
        assert "ns/a" in store.state
