"""Workqueues: the asyncio equivalent of client-go's util/workqueue Type, delaying and
rate-limiting queues.

Contract (:class:`WorkQueue`):
- Fair: items are handed out in the order they were added.
- Stingy: an item added several times before it is processed is processed once ("dirty" set).
- No item is processed by two workers at once: an item added while it is being processed (after
  ``get`` and before ``done``) is held back and queued again when ``done`` is called, so it runs
  exactly once more, after the current run.
- ``get`` waits for an item; after ``shut_down`` it still hands out the items already queued and
  then raises :class:`QueueShutDownError`. Adds after shut down are ignored.
- One item wakes one waiting ``get`` (client-go's ``cond.Signal``), never all of them: with
  the dispatcher's 64 idle workers, waking every one per item cost ~60 wasted task steps per
  API call. Shut down wakes them all.
- ``shut_down_with_drain`` also waits until every item being processed is ``done``.
- Every worker must call ``done(item)`` for every item it got, whatever happened.

:class:`DelayingQueue` adds ``add_after(item, delay)``: the item is added once ``delay`` passes;
if it is already waiting, the earlier deadline wins. One timer task per queue serves a heap.

:class:`RateLimitingQueue` adds ``add_rate_limited(item)`` (``add_after`` with the rate
limiter's delay), ``forget`` and ``num_requeues``; default limiter is client-go's
DefaultControllerRateLimiter.

Metrics: client-go's ``workqueue_*`` families, labelled with the queue's ``name`` (see
workqueue_metrics.py). Single event loop, no locks: every method but ``get``,
``shut_down_with_drain`` and the timer runs to completion without awaiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from pyscheduler.informers.ratelimit import RateLimiter, default_controller_rate_limiter
from pyscheduler.informers.workqueue_metrics import QueueMetrics

K = TypeVar("K", bound=Hashable)


class QueueShutDownError(Exception):
    """get() on a queue that is shut down and empty."""


class WorkQueue(Generic[K]):
    def __init__(self, name: str = "", *, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._queue: deque[K] = deque()
        # Items that need processing: queued, or re-added while being processed.
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._shutting_down = False
        self._drain = False
        # Waiting get() calls, oldest first; each add() resolves one (see _wake_one).
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._idle = asyncio.Event()
        self._idle.set()
        self._metrics = QueueMetrics(name, clock=clock)

    def add(self, item: K) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._metrics.add(item)
        self._dirty.add(item)
        if item in self._processing:
            # Runs again after done(); never concurrently with itself.
            return
        self._queue.append(item)
        self._wake_one()

    def _wake_one(self) -> None:
        # A waiter cancelled meanwhile is skipped: the wake-up goes to one that still waits.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _wake_all(self) -> None:
        while self._waiters:
            self._wake_one()

    def __len__(self) -> int:
        return len(self._queue)

    async def get(self) -> K:
        """The next item; raises QueueShutDownError once shut down and empty."""
        while not self._queue:
            if self._shutting_down:
                raise QueueShutDownError(self.name)
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # Woken and cancelled before running: hand the wake-up on, or an item could
                # wait while another get() sleeps.
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()
                raise
            # Woken, but the queue may be empty again: a get() that did not have to wait took
            # the item first. Then wait again.
        item = self._queue.popleft()
        self._metrics.get(item)
        self._processing.add(item)
        self._idle.clear()
        self._dirty.discard(item)
        return item

    def done(self, item: K) -> None:
        """Mark ``item`` processed; if it was re-added meanwhile, queue it again now."""
        self._metrics.done(item)
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_one()
        elif not self._processing:
            self._idle.set()

    def shut_down(self) -> None:
        """Stop accepting items; get() drains what is queued, then raises."""
        self._drain = False
        self._shutting_down = True
        self._wake_all()
        # Release a shut_down_with_drain() waiter: a plain shut down cancels the drain.
        self._idle.set()

    async def shut_down_with_drain(self) -> None:
        """shut_down(), then wait until every item being processed is done()."""
        self._drain = True
        self._shutting_down = True
        self._wake_all()
        while self._processing and self._drain:
            self._idle.clear()
            await self._idle.wait()

    def shutting_down(self) -> bool:
        return self._shutting_down

    def processing(self) -> int:
        """How many items are between get() and done()."""
        return len(self._processing)


class DelayingQueue(WorkQueue[K]):
    def __init__(self, name: str = "", *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name, clock=clock)
        # (ready_at, sequence, item); stale entries (superseded by an earlier deadline for the
        # same item) stay in the heap and are skipped when popped: cheaper than re-heapifying.
        self._waiting: list[tuple[float, int, K]] = []
        self._ready_at: dict[K, float] = {}
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None

    def add_after(self, item: K, delay: float) -> None:
        if self._shutting_down:
            return
        self._metrics.retry()
        if delay <= 0:
            self.add(item)
            return
        loop = asyncio.get_running_loop()
        ready_at = loop.time() + delay
        current = self._ready_at.get(item)
        if current is not None and current <= ready_at:
            return
        self._ready_at[item] = ready_at
        heapq.heappush(self._waiting, (ready_at, next(self._seq), item))
        if self._timer is None or self._timer.done():
            self._timer = loop.create_task(self._wait_loop(), name=f"workqueue-delay-{self.name}")
        else:
            self._wakeup.set()

    def waiting(self) -> int:
        """Items waiting for their delay to pass."""
        return len(self._ready_at)

    async def _wait_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._ready_at and not self._shutting_down:
            now = loop.time()
            while self._waiting and self._waiting[0][0] <= now:
                ready_at, _, item = heapq.heappop(self._waiting)
                if self._ready_at.get(item) == ready_at:
                    del self._ready_at[item]
                    self.add(item)
            if not self._waiting:
                break
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._waiting[0][0] - now)

    def shut_down(self) -> None:
        super().shut_down()
        self._stop_timer()

    async def shut_down_with_drain(self) -> None:
        self._stop_timer()
        await super().shut_down_with_drain()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting.clear()
        self._ready_at.clear()


class RateLimitingQueue(DelayingQueue[K]):
    def __init__(
        self,
        name: str = "",
        rate_limiter: RateLimiter | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, clock=clock)
        self.rate_limiter = rate_limiter or default_controller_rate_limiter()

    def add_rate_limited(self, item: K) -> None:
        """Add ``item`` after the delay the rate limiter asks for (and count the attempt)."""
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: K) -> None:
        """The item succeeded: clear its failure history (not its place in the queue)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: K) -> int:
        return self.rate_limiter.num_requeues(item)
