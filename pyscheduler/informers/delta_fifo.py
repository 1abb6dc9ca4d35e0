"""DeltaFIFO: a per-key queue of the changes ("deltas") the Reflector saw, in arrival order.

The asyncio equivalent of client-go's tools/cache DeltaFIFO.

Contract:
- Each key is queued at most once. A key's deltas accumulate, oldest first, while it waits;
  :meth:`DeltaFIFO.pop` hands out the whole list for the key that has waited longest, so the
  consumer sees every change of one object in order and changes of different objects in the
  order their keys were first queued.
- Deletions: a delete of an object that is neither known (in ``known_objects``, usually the
  informer's Indexer) nor queued is dropped, because it was already reported (typically by a
  relist). Two consecutive Deleted deltas for a key collapse into one, keeping the one that is
  not a :class:`DeletedFinalStateUnknown` (client-go's isDeletionDup).
- :meth:`replace` (a relist) queues a Replaced delta per listed object and a Deleted delta
  carrying a :class:`DeletedFinalStateUnknown` tombstone for every key that is known or queued
  but absent from the list: the object was deleted while we were not watching, and its final
  state is unknown (the tombstone holds the last state we had).
- :meth:`has_synced` becomes True once the first :meth:`replace` (or the first add/update/delete
  if those came first) was followed by popping *and processing* every key it queued. It never
  goes back to False.
- :meth:`resync` queues a Sync delta for each known object that has no queued deltas (an object
  with queued deltas would be resynced with a stale copy, so it is skipped).
- Everything but ``pop`` is synchronous; ``pop`` only awaits while the queue is empty or inside an
  async ``process`` callback. Single event loop, no locks (see indexer.py for why that is safe).
"""

from __future__ import annotations

import asyncio
import enum
import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pyscheduler.api.types import HasMetadata, T
from pyscheduler.model.meta import object_key


class DeltaType(enum.StrEnum):
    ADDED = "Added"
    UPDATED = "Updated"
    DELETED = "Deleted"
    # A relist saw the object; it may or may not have changed.
    REPLACED = "Replaced"
    # A periodic resync re-delivers the cached object unchanged.
    SYNC = "Sync"


@dataclass(slots=True, frozen=True)
class DeletedFinalStateUnknown(Generic[T]):
    """An object deleted while we were not watching: ``obj`` is the last state we knew, or None."""

    key: str
    obj: T | None


@dataclass(slots=True, frozen=True)
class Delta(Generic[T]):
    type: DeltaType
    object: T | DeletedFinalStateUnknown[T]


Deltas = list[Delta[T]]


def deletion_handling_key(obj: HasMetadata | DeletedFinalStateUnknown[Any]) -> str:
    """client-go's DeletionHandlingMetaNamespaceKeyFunc: tombstones carry their own key."""
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    return object_key(obj.metadata)


_T_co = TypeVar("_T_co", covariant=True)


class KnownObjects(Protocol[_T_co]):
    """What DeltaFIFO needs from the store downstream of it (the Indexer)."""

    def list_keys(self) -> list[str]: ...

    def get_by_key(self, key: str) -> _T_co | None: ...


class FIFOClosedError(Exception):
    """pop() was called on, or was waiting on, a closed queue."""


class RequeueError(Exception):
    """Raised by a pop() callback to put the popped deltas back (client-go ErrRequeue).

    The deltas are re-queued only if no newer deltas for the key arrived meanwhile; ``cause``
    (if any) is re-raised by pop() after requeueing.
    """

    def __init__(self, cause: BaseException | None = None) -> None:
        super().__init__(repr(cause) if cause else "requeue")
        self.cause = cause


PopProcessFunc = Callable[[Deltas[T], bool], Awaitable[None] | None]
"""Called with (deltas, is_in_initial_list); may be sync or async."""


def _is_deletion_dup(a: Delta[T], b: Delta[T]) -> Delta[T] | None:
    """a is the newer delta, b the older; return the one to keep if they are the same deletion."""
    if a.type is not DeltaType.DELETED or b.type is not DeltaType.DELETED:
        return None
    # Prefer the one that knows the final state.
    if isinstance(b.object, DeletedFinalStateUnknown):
        return a
    return b


class DeltaFIFO(Generic[T]):
    """A queue of per-key delta lists; see the module docstring for the contract."""

    def __init__(
        self,
        known_objects: KnownObjects[T] | None = None,
        *,
        key_func: Callable[[T | DeletedFinalStateUnknown[T]], str] = deletion_handling_key,
    ) -> None:
        self._known = known_objects
        self._key_func = key_func
        self._items: dict[str, Deltas[T]] = {}
        # Invariant: a key is in _queue exactly when it is in _items.
        self._queue: deque[str] = deque()
        self._not_empty = asyncio.Event()
        self._closed = False
        self._populated = False
        self._initial_population_count = 0
        self._synced = asyncio.Event()

    # -- producer side (the Reflector) ---------------------------------------------------------

    def add(self, obj: T) -> None:
        self._set_populated()
        self._queue_action(DeltaType.ADDED, obj)

    def update(self, obj: T) -> None:
        self._set_populated()
        self._queue_action(DeltaType.UPDATED, obj)

    def delete(self, obj: T | DeletedFinalStateUnknown[T]) -> None:
        key = self._key_func(obj)
        self._set_populated()
        known = self._known.get_by_key(key) is not None if self._known is not None else False
        if not known and key not in self._items:
            # Already gone from our view (a relist reported it): don't report it twice.
            return
        self._queue_action(DeltaType.DELETED, obj)

    def replace(self, items: Iterable[T], resource_version: str = "") -> None:
        """Queue a relist's result; see the module docstring. ``resource_version`` is unused."""
        del resource_version  # kept for the Store interface, as upstream
        keys: set[str] = set()
        for item in items:
            key = self._key_func(item)
            keys.add(key)
            self._queue_action(DeltaType.REPLACED, item, key)

        queued_deletions = 0
        # Keys queued but absent from the list: deleted while their deltas were waiting.
        for key in [k for k in self._items if k not in keys]:
            newest = self._items[key][-1].object
            last = newest.obj if isinstance(newest, DeletedFinalStateUnknown) else newest
            queued_deletions += 1
            self._queue_action(DeltaType.DELETED, DeletedFinalStateUnknown(key, last), key)

        if self._known is not None:
            for key in self._known.list_keys():
                if key in keys or self._items.get(key):
                    continue
                queued_deletions += 1
                tombstone = DeletedFinalStateUnknown(key, self._known.get_by_key(key))
                self._queue_action(DeltaType.DELETED, tombstone, key)

        if not self._populated:
            self._initial_population_count = len(keys) + queued_deletions
            self._set_populated()

    def resync(self) -> None:
        """Queue a Sync delta for every known object that has nothing queued."""
        if self._known is None:
            return
        for key in self._known.list_keys():
            obj = self._known.get_by_key(key)
            if obj is None or self._items.get(key):
                continue
            self._queue_action(DeltaType.SYNC, obj, key)

    def add_if_not_present(self, deltas: Deltas[T]) -> None:
        """Put back popped deltas, unless newer deltas for the same key were queued meanwhile."""
        if not deltas:
            return
        key = self._key_func(deltas[-1].object)
        self._set_populated()
        if key in self._items:
            return
        self._items[key] = list(deltas)
        self._queue.append(key)
        self._not_empty.set()

    def close(self) -> None:
        """Make pop() raise FIFOClosedError once the queue is empty (queued keys still drain)."""
        self._closed = True
        self._not_empty.set()

    # -- consumer side (the informer) -----------------------------------------------------------

    async def pop(
        self, process: PopProcessFunc[T], *, requeue_on_error: bool = False
    ) -> Deltas[T]:
        """Wait for a key, remove it with its deltas, run ``process`` on them and return them.

        ``process`` raising :class:`RequeueError` puts the deltas back (add_if_not_present); with
        ``requeue_on_error`` any Exception does (client-go's RetryOnError). The exception then
        propagates. The initial-population count is decremented only after ``process`` returns,
        so has_synced() is never True while the last initial item is still being processed.
        """
        while not self._queue:
            if self._closed:
                raise FIFOClosedError("DeltaFIFO is closed")
            self._not_empty.clear()
            await self._not_empty.wait()
        key = self._queue.popleft()
        deltas = self._items.pop(key)
        is_in_initial_list = not self.has_synced()
        try:
            result = process(deltas, is_in_initial_list)
            if inspect.isawaitable(result):
                await result
        except RequeueError as exc:
            self.add_if_not_present(deltas)
            if exc.cause is not None:
                raise exc.cause from exc
            raise
        except Exception:
            if requeue_on_error:
                self.add_if_not_present(deltas)
            raise
        finally:
            if self._initial_population_count > 0:
                self._initial_population_count -= 1
                if self._initial_population_count == 0:
                    self._synced.set()
        return deltas

    # -- introspection --------------------------------------------------------------------------

    def has_synced(self) -> bool:
        return self._populated and self._initial_population_count == 0

    async def wait_synced(self) -> None:
        """Return once has_synced() is True."""
        await self._synced.wait()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._queue)

    def list_keys(self) -> list[str]:
        """Queued keys, in pop order."""
        return list(self._queue)

    def get_by_key(self, key: str) -> Deltas[T] | None:
        """A copy of the deltas queued for ``key``, or None."""
        deltas = self._items.get(key)
        return list(deltas) if deltas is not None else None

    # -- internals ------------------------------------------------------------------------------

    def _set_populated(self) -> None:
        self._populated = True
        if self._initial_population_count == 0:
            self._synced.set()

    def _queue_action(
        self,
        action: DeltaType,
        obj: T | DeletedFinalStateUnknown[T],
        key: str | None = None,
    ) -> None:
        if key is None:
            key = self._key_func(obj)
        delta = Delta(action, obj)
        deltas = self._items.get(key)
        if deltas is None:
            self._items[key] = [delta]
            self._queue.append(key)
            self._not_empty.set()
            return
        if deltas:
            kept = _is_deletion_dup(delta, deltas[-1])
            if kept is not None:
                deltas[-1] = kept
                return
        deltas.append(delta)
