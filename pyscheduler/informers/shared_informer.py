"""SharedInformer: one Reflector + DeltaFIFO + Indexer per collection, shared by many handlers.

The asyncio equivalent of client-go's sharedIndexInformer.

Contract:
- Ordering: one task pops the DeltaFIFO and, for each delta, first updates the Indexer and then
  calls every handler, synchronously, in registration order. So:
  * a handler never sees an Indexer older than the event it is handling; unlike client-go, where
    handlers run later on their own goroutines, it is also never *newer*: during a handler call
    the Indexer holds exactly the state right after that event (after a delete, the key is gone;
    during the delete half of a UID change, too);
  * every handler sees the events of one object in the order they happened, and events of
    different objects in DeltaFIFO order;
  * a slow handler delays everything behind it: handlers must be quick and must not block (hand
    real work to a workqueue).
- Handlers get ``on_add(obj)``, ``on_update(old, new)``, ``on_delete(obj)``. ``on_delete`` may
  receive a :class:`DeletedFinalStateUnknown` tombstone (deleted while we were not watching, or
  replaced by an object with another UID): its ``obj`` is the last state we knew.
- UID awareness: an Updated/Replaced/Sync delta whose object has a different UID than the cached
  object with the same key (a delete and re-create folded by a watch gap or a relist) is
  delivered as ``on_delete(DeletedFinalStateUnknown(key, old))`` then ``on_add(new)``, never as
  an update.
- Relists are quiet: a Replaced delta whose resourceVersion equals the cached one is not
  delivered (as client-go, where it counts as a resync and no handler asked for resyncs). Sync
  deltas (periodic resync) are delivered as ``on_update(obj, obj)`` only if ``resync_period``
  is set.
- Filtering (client-go FilteringResourceEventHandler): with ``filter``, an add/delete is
  delivered only if the object passes; an update is delivered as update if old and new pass,
  add if only new passes, delete if only old passes, and not at all if neither does. On delete
  the filter gets the handler's argument as is, tombstone included (client-go passes the
  DeletedFinalStateUnknown to FilterFunc): its last known state may be stale, so only the
  filter can know whether to trust it (the scheduler's assigned-pod filter does not).
- A handler's exception is logged with the object key and swallowed: it never stops the informer
  nor other handlers. Handlers must be plain functions (coroutine functions are rejected).
- A handler added while the informer runs first receives ``on_add`` for every cached object.
- :meth:`SharedInformer.has_synced`: the initial list has been fully delivered to the Indexer
  and to every handler.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic

import structlog

from pyscheduler.api.resources import ListerWatcher
from pyscheduler.api.types import T
from pyscheduler.informers.backoff import ExponentialBackoff
from pyscheduler.informers.delta_fifo import (
    DeletedFinalStateUnknown,
    Delta,
    DeltaFIFO,
    Deltas,
    DeltaType,
    FIFOClosedError,
    deletion_handling_key,
)
from pyscheduler.informers.indexer import Indexer, IndexFunc
from pyscheduler.informers.reflector import DEFAULT_PAGE_SIZE, MIN_WATCH_TIMEOUT, Reflector

log = structlog.get_logger(__name__)

OnAdd = Callable[[T], object]
OnUpdate = Callable[[T, T], object]
OnDelete = Callable[[T | DeletedFinalStateUnknown[T]], object]
# Called with the object, or on delete possibly with a tombstone (see the contract above).
FilterFunc = Callable[[T | DeletedFinalStateUnknown[T]], bool]


@dataclass(slots=True, eq=False)
class HandlerRegistration(Generic[T]):
    """Returned by add_event_handler; pass it to remove_event_handler."""

    on_add: OnAdd[T] | None
    on_update: OnUpdate[T] | None
    on_delete: OnDelete[T] | None
    filter: FilterFunc[T] | None
    informer: SharedInformer[T]

    def has_synced(self) -> bool:
        # Delivery is synchronous, so a handler has seen the initial list once the informer has.
        return self.informer.has_synced()


def unwrap(obj: T | DeletedFinalStateUnknown[T]) -> T | None:
    """The object of an on_delete argument: itself, or a tombstone's last known state."""
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.obj
    return obj


class SharedInformer(Generic[T]):
    """List+watch one collection, cache it in an Indexer and fan events out to handlers."""

    def __init__(
        self,
        list_watch: ListerWatcher[T],
        *,
        name: str = "",
        indexers: Mapping[str, IndexFunc[T]] | None = None,
        resync_period: float | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        backoff: ExponentialBackoff | None = None,
        min_watch_timeout: float = MIN_WATCH_TIMEOUT,
    ) -> None:
        self.name = name or repr(list_watch)
        self.indexer: Indexer[T] = Indexer(indexers)
        self.fifo: DeltaFIFO[T] = DeltaFIFO(known_objects=self.indexer)
        self.reflector: Reflector[T] = Reflector(
            list_watch,
            self.fifo,
            name=self.name,
            page_size=page_size,
            resync_period=resync_period,
            backoff=backoff,
            min_watch_timeout=min_watch_timeout,
        )
        self._deliver_syncs = resync_period is not None
        self._handlers: tuple[HandlerRegistration[T], ...] = ()
        self._started = False
        self._stopped = asyncio.Event()
        self._log = log.bind(informer=self.name)

    # -- handlers -------------------------------------------------------------------------------

    def add_event_handler(
        self,
        on_add: OnAdd[T] | None = None,
        on_update: OnUpdate[T] | None = None,
        on_delete: OnDelete[T] | None = None,
        *,
        filter: FilterFunc[T] | None = None,
    ) -> HandlerRegistration[T]:
        """Register handlers; if the informer already has objects, replay them as adds."""
        for fn in (on_add, on_update, on_delete, filter):
            if fn is not None and inspect.iscoroutinefunction(fn):
                raise TypeError(f"event handlers must be plain functions, got coroutine {fn!r}")
        registration = HandlerRegistration(on_add, on_update, on_delete, filter, self)
        self._handlers = (*self._handlers, registration)
        # Synchronous replay: no delta can be processed in between, so the handler sees exactly
        # the cached state and then every later change.
        for obj in self.indexer.list():
            self._notify_add(registration, obj)
        return registration

    def remove_event_handler(self, registration: HandlerRegistration[T]) -> None:
        self._handlers = tuple(h for h in self._handlers if h is not registration)

    def add_indexers(self, indexers: Mapping[str, IndexFunc[T]]) -> None:
        self.indexer.add_indexers(indexers)

    # -- in-memory delivery ---------------------------------------------------------------------

    def apply(self, obj: T) -> None:
        """Deliver one added or changed object now, as if the watch had: Indexer first, then
        every handler, with the same filter and UID rules (an in-memory cluster, the dry run)."""
        self._process_deltas([Delta(DeltaType.UPDATED, obj)], False)

    def apply_delete(self, obj: T) -> None:
        """Deliver the deletion of ``obj`` now, as if the watch had (see ``apply``)."""
        self._process_deltas([Delta(DeltaType.DELETED, obj)], False)

    # -- lifecycle ------------------------------------------------------------------------------

    def has_synced(self) -> bool:
        return self.fifo.has_synced()

    async def wait_for_sync(self) -> None:
        """Return once has_synced() is True."""
        await self.fifo.wait_synced()

    @property
    def last_sync_resource_version(self) -> str:
        return self.reflector.last_sync_resource_version

    async def run(self) -> None:
        """Run until cancelled or :meth:`stop`: the Reflector plus the processing loop."""
        if self._started:
            raise RuntimeError(f"informer {self.name} already started")
        self._started = True
        reflector = asyncio.ensure_future(self.reflector.run())
        processor = asyncio.ensure_future(self._process_loop())
        stopper = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait(
                {reflector, processor, stopper}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (reflector, processor, stopper):
                task.cancel()
            # Wait for all of them even if one fails while being cancelled: none may outlive us.
            results = await asyncio.gather(*(reflector, processor, stopper), return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    self._log.error("task failed while stopping", error=repr(result))
            self.fifo.close()

    def stop(self) -> None:
        self._stopped.set()

    # -- processing -----------------------------------------------------------------------------

    async def _process_loop(self) -> None:
        while True:
            try:
                await self.fifo.pop(self._process_deltas)
            except FIFOClosedError:
                return
            except Exception:
                # Only the Indexer can raise here (handler errors are caught): an index function
                # failed. The object stays as it was in the Indexer; keep serving the others.
                self._log.exception("failed to apply deltas to the indexer")

    def _process_deltas(self, deltas: Deltas[T], is_in_initial_list: bool) -> None:
        del is_in_initial_list  # handlers don't take it; kept for the PopProcessFunc shape
        indexer = self.indexer
        for delta in deltas:
            obj = delta.object
            if delta.type is DeltaType.DELETED:
                indexer.delete(obj)
                self._distribute_delete(obj)
                continue
            assert not isinstance(obj, DeletedFinalStateUnknown)
            old = indexer.get(obj)
            if old is None:
                indexer.add(obj)
                self._distribute_add(obj)
            elif old.metadata.uid != obj.metadata.uid:
                # Same name, different object: the old one was deleted and this one created while
                # we were not looking. Never present that as an update. Two steps, so that each
                # handler call sees the Indexer exactly as of its own event.
                key = deletion_handling_key(old)
                indexer.delete_key(key)
                self._distribute_delete(DeletedFinalStateUnknown(key, old))
                indexer.add(obj)
                self._distribute_add(obj)
            else:
                indexer.update(obj)
                if delta.type is DeltaType.SYNC or (
                    delta.type is DeltaType.REPLACED
                    and old.metadata.resource_version == obj.metadata.resource_version
                ):
                    if self._deliver_syncs:
                        self._distribute_update(old, obj)
                    continue
                self._distribute_update(old, obj)

    def _distribute_add(self, obj: T) -> None:
        for registration in self._handlers:
            self._notify_add(registration, obj)

    def _distribute_update(self, old: T, new: T) -> None:
        for registration in self._handlers:
            flt = registration.filter
            if flt is None:
                self._call(registration.on_update, "update", new, old, new)
                continue
            try:
                newer, older = flt(new), flt(old)
            except Exception:
                self._log.exception("event filter failed", key=deletion_handling_key(new))
                continue
            if newer and older:
                self._call(registration.on_update, "update", new, old, new)
            elif newer:
                self._call(registration.on_add, "add", new, new)
            elif older:
                self._call(registration.on_delete, "delete", new, old)

    def _distribute_delete(self, obj: T | DeletedFinalStateUnknown[T]) -> None:
        for registration in self._handlers:
            flt = registration.filter
            if flt is not None:
                try:
                    if not flt(obj):
                        continue
                except Exception:
                    self._log.exception("event filter failed", key=deletion_handling_key(obj))
                    continue
            self._call(registration.on_delete, "delete", obj, obj)

    def _notify_add(self, registration: HandlerRegistration[T], obj: T) -> None:
        flt = registration.filter
        if flt is not None:
            try:
                if not flt(obj):
                    return
            except Exception:
                self._log.exception("event filter failed", key=deletion_handling_key(obj))
                return
        self._call(registration.on_add, "add", obj, obj)

    def _call(
        self,
        fn: Callable[..., object] | None,
        event: str,
        subject: T | DeletedFinalStateUnknown[T],
        *args: object,
    ) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            self._log.exception(
                "event handler failed", notification=event, key=deletion_handling_key(subject)
            )


async def wait_for_cache_sync(
    *informers: SharedInformer[Any],
    timeout: float | None = None,
) -> bool:
    """Wait until every informer has synced; False if ``timeout`` (seconds) passes first."""
    try:
        async with asyncio.timeout(timeout):
            for informer in informers:
                await informer.wait_for_sync()
    except TimeoutError:
        return False
    return True
