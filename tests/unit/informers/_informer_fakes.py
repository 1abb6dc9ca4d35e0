"""In-memory list/watch source for unit tests of the informer machinery.

This is a scripted *lister/watcher* (the ListerWatcher protocol), not an HTTP server: it stands
in for ListWatch so the Reflector, DeltaFIFO and SharedInformer can be driven through exact
sequences of events, watch drops, compactions and errors. Real HTTP is covered by the
integration tests against kube-apiserver.

Semantics follow kube-apiserver where the Reflector depends on them:
- every write bumps a global resourceVersion and appends an event to the history;
- a watch from RV r replays history after r, then streams live events; if r is older than the
  compacted revision the watch yields an ERROR 410 "Expired" event and ends;
- lists are consistent snapshots; continue tokens carry the snapshot's RV and expire (410) once
  that RV is compacted;
- while "disconnected", list and watch calls wait for reconnection and then fail with a
  connection error, and open watches end.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import msgspec

from pyscheduler.api.errors import ApiConnectionError, ApiError, GoneError, Status
from pyscheduler.api.types import EventType, WatchEvent
from pyscheduler.informers.backoff import ExponentialBackoff
from pyscheduler.model.meta import ListMeta, ObjectMeta, object_key


class Obj(msgspec.Struct, frozen=True):
    metadata: ObjectMeta
    value: int = 0
    node_name: str = ""


def make(name: str, namespace: str = "ns", *, uid: str = "", rv: str = "", value: int = 0,
         node_name: str = "") -> Obj:
    return Obj(
        ObjectMeta(name=name, namespace=namespace, uid=uid or f"uid-{name}", resource_version=rv),
        value=value,
        node_name=node_name,
    )


_END = object()


@dataclass
class _Snapshot:
    rv: int
    items: list[Obj]


@dataclass
class MemoryCluster:
    rv: int = 100
    objects: dict[str, Obj] = field(default_factory=dict)
    history: list[tuple[int, EventType, Obj]] = field(default_factory=list)
    compacted_rv: int = 0
    # Injected failures, consumed one per call.
    list_errors: list[ApiError] = field(default_factory=list)
    watch_errors: list[ApiError] = field(default_factory=list)
    # Record of calls, for assertions.
    list_calls: list[dict[str, object]] = field(default_factory=list)
    watch_calls: list[dict[str, object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._uids = itertools.count(1)
        self._watchers: list[asyncio.Queue[object]] = []
        self._connected = asyncio.Event()
        self._connected.set()
        self._snapshots: dict[str, _Snapshot] = {}
        self._tokens = itertools.count(1)
        self.watch_started = asyncio.Event()

    # -- writes ---------------------------------------------------------------------------------

    def _emit(self, kind: EventType, obj: Obj) -> None:
        self.history.append((self.rv, kind, obj))
        for queue in self._watchers:
            queue.put_nowait((self.rv, kind, obj))

    def create(self, name: str, namespace: str = "ns", *, value: int = 0,
               node_name: str = "") -> Obj:
        key = f"{namespace}/{name}" if namespace else name
        assert key not in self.objects, key
        self.rv += 1
        obj = make(name, namespace, uid=f"uid-{name}-{next(self._uids)}", rv=str(self.rv),
                   value=value, node_name=node_name)
        self.objects[key] = obj
        self._emit(EventType.ADDED, obj)
        return obj

    def update(self, key: str, *, value: int | None = None, node_name: str | None = None) -> Obj:
        old = self.objects[key]
        self.rv += 1
        obj = msgspec.structs.replace(
            old,
            metadata=msgspec.structs.replace(old.metadata, resource_version=str(self.rv)),
            value=old.value + 1 if value is None else value,
            node_name=old.node_name if node_name is None else node_name,
        )
        self.objects[key] = obj
        self._emit(EventType.MODIFIED, obj)
        return obj

    def delete(self, key: str) -> Obj:
        old = self.objects.pop(key)
        self.rv += 1
        # The DELETED event carries the final state, at the deletion's resourceVersion.
        final = msgspec.structs.replace(
            old, metadata=msgspec.structs.replace(old.metadata, resource_version=str(self.rv))
        )
        self._emit(EventType.DELETED, final)
        return final

    def bookmark(self) -> None:
        """Send a BOOKMARK at the current RV to every open watch."""
        for queue in self._watchers:
            queue.put_nowait((self.rv, EventType.BOOKMARK, None))

    def bump(self) -> None:
        """Advance the RV without an event for us (a write to some other resource)."""
        self.rv += 1

    # -- faults ---------------------------------------------------------------------------------

    def compact(self) -> None:
        """Drop the history up to now: watches and continue tokens from older RVs get 410."""
        self.compacted_rv = self.rv
        self.history = [event for event in self.history if event[0] > self.compacted_rv]

    def drop_watches(self) -> None:
        """End every open watch cleanly (as a server-side timeout would)."""
        for queue in self._watchers:
            queue.put_nowait(_END)

    def disconnect(self) -> None:
        self._connected.clear()
        self.drop_watches()

    def reconnect(self) -> None:
        self._connected.set()

    @property
    def open_watches(self) -> int:
        return len(self._watchers)

    async def _gate(self) -> None:
        if not self._connected.is_set():
            await self._connected.wait()
            raise ApiConnectionError("connection refused")

    # -- ListerWatcher --------------------------------------------------------------------------

    async def list(
        self,
        *,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
    ) -> tuple[list[Obj], ListMeta]:
        self.list_calls.append(
            {"limit": limit, "continue": continue_, "resource_version": resource_version}
        )
        await self._gate()
        await asyncio.sleep(0)  # a real list yields to the loop
        if self.list_errors:
            raise self.list_errors.pop(0)
        if continue_:
            snapshot = self._snapshots.pop(continue_)
            if snapshot.rv < self.compacted_rv:
                raise GoneError(410, "Expired", "continue token expired")
        else:
            ordered = sorted(self.objects.values(), key=lambda o: object_key(o.metadata))
            snapshot = _Snapshot(self.rv, ordered)
        if limit and len(snapshot.items) > limit:
            page, rest = snapshot.items[:limit], snapshot.items[limit:]
            token = f"token-{next(self._tokens)}"
            self._snapshots[token] = _Snapshot(snapshot.rv, rest)
            return page, ListMeta(resource_version=str(snapshot.rv), continue_=token)
        return list(snapshot.items), ListMeta(resource_version=str(snapshot.rv))

    async def watch(
        self,
        *,
        resource_version: str,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
    ) -> AsyncGenerator[WatchEvent[Obj], None]:
        self.watch_calls.append(
            {"resource_version": resource_version, "timeout_seconds": timeout_seconds,
             "allow_bookmarks": allow_bookmarks}
        )
        await self._gate()
        if self.watch_errors:
            raise self.watch_errors.pop(0)
        since = int(resource_version or "0")
        if since < self.compacted_rv:
            yield WatchEvent(
                EventType.ERROR,
                status=Status(status="Failure", reason="Expired", code=410,
                              message=f"too old resource version: {since} ({self.compacted_rv})"),
            )
            return
        queue: asyncio.Queue[object] = asyncio.Queue()
        # Replay and subscribe in one step (no await in between): no event is lost or doubled.
        backlog = [event for event in self.history if event[0] > since]
        self._watchers.append(queue)
        self.watch_started.set()
        try:
            for rv, kind, obj in backlog:
                yield WatchEvent(kind, obj, str(rv))
            while True:
                item = await queue.get()
                if item is _END:
                    return
                rv, kind, obj = item  # type: ignore[misc]
                if rv <= since:
                    continue
                if kind is EventType.BOOKMARK:
                    if allow_bookmarks:
                        yield WatchEvent(EventType.BOOKMARK, resource_version=str(rv))
                    continue
                yield WatchEvent(kind, obj, str(rv))
        finally:
            self._watchers.remove(queue)


async def wait_until(predicate: object, *, rounds: int = 10_000) -> None:
    """Yield to the loop until ``predicate()`` is true; fail after ``rounds`` yields.

    Not a timing assertion: the bound is in event-loop turns and only turns a hang into a
    readable failure.
    """
    assert callable(predicate)
    for _ in range(rounds):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"condition never became true: {predicate}")


@dataclass(slots=True)
class CountingBackoff(ExponentialBackoff):
    """A backoff that never waits (unit tests do not sleep) but counts how often it was asked."""

    calls: int = 0

    def next_delay(self) -> float:
        self.calls += 1
        return 0.0
