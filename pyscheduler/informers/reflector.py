"""Reflector: keep a store in step with the API server by LIST, then WATCH, forever.

The asyncio equivalent of client-go's tools/cache Reflector.

Contract:
- LIST: the first list asks for resourceVersion "0" (served from the API server's watch
  cache); later lists ask for the last resourceVersion seen ("at least as fresh as", unpaginated
  so the watch cache can serve it), or for "" (a quorum read, paginated with ``page_size`` and
  continue tokens) once the server has said that version is gone. If a continue token expires
  mid-pagination (410), the list restarts as one unpaginated request at the same
  resourceVersion, like client-go's pager; if that version itself is gone, the list is
  retried at "". The result goes to ``store.replace(items, resource_version)``.
- WATCH from the list's resourceVersion with allowWatchBookmarks and a server-side timeout drawn
  from [min_watch_timeout, 2*min_watch_timeout). ADDED/MODIFIED/DELETED go to
  ``store.add/update/delete`` in stream order; every event and bookmark advances
  :attr:`Reflector.last_sync_resource_version`.
- When a watch ends normally (server timeout) it is restarted at once from the last
  resourceVersion. A broken stream, connection refused, 429 or 5xx restarts the watch from the
  last resourceVersion after a jittered exponential backoff (800ms doubling to 30s, jitter 1.0,
  reset after 2 min without trouble). 410 Gone/Expired (as an HTTP answer or an ERROR event)
  means the history we need is compacted: relist, and the store's replace() turns whatever we
  missed into Replaced deltas and tombstones. Any other error also relists after a backoff.
  Nothing is ever lost silently: either the watch resumes exactly where it stopped, or a relist
  replaces the whole state.
- A watch that ends within one second having delivered nothing is treated as a failure (backoff)
  so a misbehaving server cannot make us spin.
- ``resync_period``: if set, ``store.resync()`` is called that often while watching.
- Stop: cancel the task running :meth:`Reflector.run`, or call :meth:`Reflector.stop`; the
  watch's HTTP stream is closed before ``run`` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

import structlog

from pyscheduler.api.errors import (
    ApiConnectionError,
    ApiError,
    GoneError,
    ServerError,
    TooManyRequestsError,
    error_from_status,
)
from pyscheduler.api.resources import ListerWatcher
from pyscheduler.api.types import EventType, T
from pyscheduler.informers.backoff import ExponentialBackoff

log = structlog.get_logger(__name__)

DEFAULT_PAGE_SIZE = 500
MIN_WATCH_TIMEOUT = 300.0
_SHORT_WATCH = 1.0


_T_contra = TypeVar("_T_contra", contravariant=True)


class ReflectorStore(Protocol[_T_contra]):
    """The store a Reflector feeds (a DeltaFIFO)."""

    def add(self, obj: _T_contra) -> None: ...

    def update(self, obj: _T_contra) -> None: ...

    def delete(self, obj: _T_contra) -> None: ...

    def replace(self, items: Iterable[_T_contra], resource_version: str = "") -> None: ...

    def resync(self) -> None: ...


class _Relist(Exception):
    """Internal: the watch cannot continue; go back to LIST."""


class Reflector(Generic[T]):
    """Mirror one collection into ``store``; see the module docstring for the contract."""

    def __init__(
        self,
        list_watch: ListerWatcher[T],
        store: ReflectorStore[T],
        *,
        name: str = "",
        page_size: int = DEFAULT_PAGE_SIZE,
        resync_period: float | None = None,
        backoff: ExponentialBackoff | None = None,
        min_watch_timeout: float = MIN_WATCH_TIMEOUT,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.list_watch = list_watch
        self.store = store
        self.name = name or repr(list_watch)
        self.page_size = page_size
        self.resync_period = resync_period
        self.min_watch_timeout = min_watch_timeout
        self._rng = rng or random.Random()
        self._clock = clock
        self._backoff = backoff or ExponentialBackoff(clock=clock, rng=self._rng)
        self._last_sync_rv = ""
        # Set when the server said our resourceVersion is gone: next list must be a quorum read.
        self._rv_unavailable = False
        self._stop = asyncio.Event()
        self._log = log.bind(reflector=self.name)
        # Counters that tests and debugging read; not part of the contract.
        self.list_count = 0
        self.watch_count = 0

    # -- public ---------------------------------------------------------------------------------

    @property
    def last_sync_resource_version(self) -> str:
        """The resourceVersion of the last list, event or bookmark processed."""
        return self._last_sync_rv

    def stop(self) -> None:
        """Ask :meth:`run` to return (it closes the current watch first)."""
        self._stop.set()

    async def run(self) -> None:
        """LIST and WATCH until stopped or cancelled, relisting after a backoff on failures."""
        stop_waiter = asyncio.ensure_future(self._stop.wait())
        worker = asyncio.ensure_future(self._run_forever())
        try:
            await asyncio.wait({stop_waiter, worker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (worker, stop_waiter):
                task.cancel()
            # Wait for all of them even if one fails while being cancelled: none may outlive us.
            results = await asyncio.gather(*(worker, stop_waiter), return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    self._log.error("task failed while stopping", error=repr(result))

    # -- the loop -------------------------------------------------------------------------------

    async def _run_forever(self) -> None:
        while True:
            retry_after: float | None = None
            try:
                await self.list_and_watch()
            except _Relist:
                pass
            except ApiError as exc:
                self._log.warning("list/watch failed, will relist", error=str(exc))
                retry_after = exc.retry_after
            except Exception:
                # A decode error (schema bug) or a store bug: keep the informer alive and loud
                # rather than dead and silent; the relist starts from a clean slate.
                self._log.exception("list/watch crashed, will relist")
            # As upstream (wait.BackoffUntil, sliding): every relist waits a backoff first.
            await self._sleep(retry_after)

    async def _sleep(self, retry_after: float | None) -> None:
        delay = self._backoff.next_delay()
        if retry_after is not None:
            delay = max(delay, retry_after)
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)

    async def list_and_watch(self) -> None:
        """One LIST followed by WATCHes until the watch needs a relist (raises) or stop."""
        await self._list()
        resync_task = (
            asyncio.ensure_future(self._resync_loop()) if self.resync_period else None
        )
        try:
            await self._watch_loop()
        finally:
            if resync_task is not None:
                resync_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await resync_task

    async def _resync_loop(self) -> None:
        assert self.resync_period is not None
        while True:
            await asyncio.sleep(self.resync_period)
            self.store.resync()

    # -- LIST -----------------------------------------------------------------------------------

    def _relist_resource_version(self) -> str:
        if self._rv_unavailable:
            return ""
        if not self._last_sync_rv:
            return "0"
        return self._last_sync_rv

    async def _list(self) -> None:
        rv = self._relist_resource_version()
        try:
            items, list_rv = await self._paged_list(rv)
        except GoneError:
            # The version we asked for is compacted: get the current state (quorum read).
            self._log.info("list resourceVersion expired, listing at latest", resource_version=rv)
            self._rv_unavailable = True
            items, list_rv = await self._paged_list("")
        self._rv_unavailable = False
        self.list_count += 1
        self.store.replace(items, list_rv)
        self._last_sync_rv = list_rv
        self._log.debug("listed", items=len(items), resource_version=list_rv)

    async def _paged_list(self, resource_version: str) -> tuple[list[T], str]:
        items: list[T] = []
        continue_token = ""
        # As client-go: a list at a specific resourceVersion is sent unpaginated so the API
        # server can answer it from its watch cache ("at least as fresh as") instead of from
        # etcd at that exact (possibly compacted) revision; this avoids a thundering herd on etcd
        # when every client relists at once. "0" and "" are paged ("0" is served from the cache,
        # which ignores limit; "" is a quorum read from etcd, where pages bound memory).
        limit = self.page_size if resource_version in ("", "0") else 0
        while True:
            try:
                page, meta = await self.list_watch.list(
                    limit=limit or None,
                    continue_=continue_token or None,
                    resource_version=None if continue_token else resource_version,
                )
            except GoneError:
                if not continue_token:
                    raise
                # The continue token expired between pages (etcd compacted its revision): fall
                # back to one full list at the requested version, as client-go's pager does.
                self._log.info("continue token expired, restarting the list unpaginated")
                page, meta = await self.list_watch.list(resource_version=resource_version)
                return page, meta.resource_version
            items.extend(page)
            if not meta.continue_:
                return items, meta.resource_version
            continue_token = meta.continue_

    # -- WATCH ----------------------------------------------------------------------------------

    async def _watch_loop(self) -> None:
        while not self._stop.is_set():
            started = self._clock()
            try:
                count = await self._watch_once()
            except GoneError as exc:
                self._log.info("watch expired, relisting", error=str(exc))
                raise _Relist from exc
            except (ApiConnectionError, TooManyRequestsError, ServerError) as exc:
                # The server is (probably) fine with our resourceVersion; it was unreachable or
                # overloaded. Resume the watch where we are, after a backoff, without a relist.
                self._log.info("watch failed, backing off", error=str(exc))
                await self._sleep(exc.retry_after)
                continue
            if count == 0 and self._clock() - started < _SHORT_WATCH:
                self._log.info("very short watch with no events, backing off")
                await self._sleep(None)

    async def _watch_once(self) -> int:
        timeout = int(self.min_watch_timeout * (self._rng.random() + 1.0))
        self.watch_count += 1
        count = 0
        store = self.store
        async with contextlib.aclosing(
            self.list_watch.watch(
                resource_version=self._last_sync_rv,
                timeout_seconds=timeout,
                allow_bookmarks=True,
            )
        ) as events:
            async for event in events:
                kind = event.type
                if kind is EventType.ERROR:
                    assert event.status is not None
                    error = error_from_status(event.status)
                    if isinstance(error, GoneError):
                        # Our resourceVersion is older than the server's history. Relisting at
                        # the last RV is allowed (it means "at least as fresh"); if even that is
                        # gone, _list() falls back to "".
                        self._log.info("watch expired, relisting", error=str(error))
                        raise _Relist from error
                    raise error
                if kind is not EventType.BOOKMARK:
                    assert event.object is not None
                    if kind is EventType.ADDED:
                        store.add(event.object)
                    elif kind is EventType.MODIFIED:
                        store.update(event.object)
                    else:
                        store.delete(event.object)
                if event.resource_version:
                    self._last_sync_rv = event.resource_version
                count += 1
        return count
