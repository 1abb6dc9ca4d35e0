from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from pyscheduler.informers.ratelimit import ItemExponentialFailureRateLimiter
from pyscheduler.informers.workqueue import (
    DelayingQueue,
    QueueShutDownError,
    RateLimitingQueue,
    WorkQueue,
)

from ._informer_fakes import wait_until


def sample(name: str, queue: str) -> float:
    value = REGISTRY.get_sample_value(name, {"name": queue})
    return 0.0 if value is None else value


async def test_fifo_and_dedup_of_waiting_items() -> None:
    q: WorkQueue[str] = WorkQueue()
    for item in ["a", "b", "a", "c", "b"]:
        q.add(item)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]


async def test_item_added_while_processing_runs_once_more_after_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    item = await q.get()
    q.add("a")
    q.add("a")
    # Not handed out concurrently with itself.
    assert len(q) == 0
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.done(item)
    assert await getter == "a"
    q.done("a")
    assert len(q) == 0 and q.processing() == 0


async def test_get_waits_until_add() -> None:
    q: WorkQueue[int] = WorkQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.add(7)
    assert await getter == 7


async def test_shut_down_drains_queued_items_then_raises_and_ignores_adds() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.shut_down()
    q.add("b")
    assert q.shutting_down()
    assert await q.get() == "a"
    with pytest.raises(QueueShutDownError):
        await q.get()


async def test_shut_down_wakes_blocked_getters() -> None:
    q: WorkQueue[str] = WorkQueue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0)
    q.shut_down()
    for getter in getters:
        with pytest.raises(QueueShutDownError):
            await getter


async def test_shut_down_with_drain_waits_for_processing_items() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("b")
    a = await q.get()
    b = await q.get()
    drained = asyncio.create_task(q.shut_down_with_drain())
    await asyncio.sleep(0)
    assert not drained.done()
    q.done(a)
    await asyncio.sleep(0)
    assert not drained.done()
    q.done(b)
    await asyncio.wait_for(drained, 5)


async def test_shut_down_cancels_a_pending_drain() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    await q.get()
    drained = asyncio.create_task(q.shut_down_with_drain())
    await asyncio.sleep(0)
    q.shut_down()
    await asyncio.wait_for(drained, 5)


async def test_add_after_delivers_later_and_earliest_deadline_wins() -> None:
    q: DelayingQueue[str] = DelayingQueue()
    q.add_after("late", 0.05)
    q.add_after("soon", 0.01)
    q.add_after("late", 0.02)  # an earlier deadline for a waiting item replaces the later one
    q.add_after("soon", 10)  # a later deadline is ignored
    assert len(q) == 0 and q.waiting() == 2
    assert await asyncio.wait_for(q.get(), 5) == "soon"
    assert await asyncio.wait_for(q.get(), 5) == "late"
    assert q.waiting() == 0


async def test_add_after_non_positive_adds_now() -> None:
    q: DelayingQueue[str] = DelayingQueue()
    q.add_after("x", 0)
    assert len(q) == 1


async def test_add_after_is_ignored_after_shut_down_and_timer_stops() -> None:
    q: DelayingQueue[str] = DelayingQueue()
    q.add_after("x", 100)
    q.shut_down()
    q.add_after("y", 0.001)
    assert q.waiting() == 0
    with pytest.raises(QueueShutDownError):
        await q.get()


async def test_rate_limited_requeues_with_growing_delay_and_forget() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue(
        rate_limiter=ItemExponentialFailureRateLimiter(0.001, 1)
    )
    for expected in (1, 2, 3):
        q.add_rate_limited("x")
        assert q.num_requeues("x") == expected
        item = await asyncio.wait_for(q.get(), 5)
        q.done(item)
    q.forget("x")
    assert q.num_requeues("x") == 0


async def test_metrics_use_client_go_names_and_many_queues_do_not_collide() -> None:
    name = "test-metrics-queue"
    queues = [RateLimitingQueue[str](name) for _ in range(3)]  # no duplicate registration
    q = queues[-1]
    adds_before = sample("workqueue_adds_total", name)
    retries_before = sample("workqueue_retries_total", name)
    work_count_before = sample("workqueue_work_duration_seconds_count", name)
    q.add("a")
    q.add("b")
    assert sample("workqueue_depth", name) == 2
    assert sample("workqueue_adds_total", name) == adds_before + 2
    item = await q.get()
    assert sample("workqueue_depth", name) == 1
    assert sample("workqueue_queue_duration_seconds_count", name) >= 1
    assert sample("workqueue_longest_running_processor_seconds", name) >= 0
    assert sample("workqueue_unfinished_work_seconds", name) >= 0
    q.done(item)
    assert sample("workqueue_work_duration_seconds_count", name) == work_count_before + 1
    q.add_rate_limited("c")
    assert sample("workqueue_retries_total", name) == retries_before + 1
    q.shut_down()


async def test_unfinished_work_reflects_items_in_flight() -> None:
    clock_now = [0.0]
    name = "test-unfinished-queue"
    q: WorkQueue[str] = WorkQueue(name, clock=lambda: clock_now[0])
    q.add("a")
    q.add("b")
    a = await q.get()
    clock_now[0] = 5.0
    b = await q.get()
    clock_now[0] = 7.0
    assert sample("workqueue_unfinished_work_seconds", name) == 9.0  # 7 + 2
    assert sample("workqueue_longest_running_processor_seconds", name) == 7.0
    q.done(a)
    q.done(b)
    assert sample("workqueue_unfinished_work_seconds", name) == 0.0


async def test_unnamed_queue_records_no_metrics() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert REGISTRY.get_sample_value("workqueue_depth", {"name": ""}) is None


async def test_concurrent_workers_never_share_an_item() -> None:
    q: WorkQueue[int] = WorkQueue()
    active: set[int] = set()
    processed: list[int] = []

    async def worker() -> None:
        while True:
            try:
                item = await q.get()
            except QueueShutDownError:
                return
            assert item not in active
            active.add(item)
            await asyncio.sleep(0)
            if item < 3 and processed.count(item) == 0:
                q.add(item)  # re-added while processing: must run again, later, once
            processed.append(item)
            active.discard(item)
            q.done(item)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for i in range(10):
        q.add(i)
    await wait_until(lambda: len(processed) == 13)
    await q.shut_down_with_drain()
    q.shut_down()
    await asyncio.gather(*workers)
    assert sorted(processed) == sorted([*range(10), 0, 1, 2])


async def test_one_add_wakes_one_waiting_getter() -> None:
    q: WorkQueue[str] = WorkQueue()
    getters = [asyncio.create_task(q.get()) for _ in range(16)]
    await asyncio.sleep(0)
    q.add("a")
    for _ in range(3):
        await asyncio.sleep(0)
    done = [t for t in getters if t.done()]
    assert [t.result() for t in done] == ["a"]  # the oldest waiter, and only it
    assert getters[0] in done
    q.add("b")
    q.add("c")
    for _ in range(3):
        await asyncio.sleep(0)
    assert sorted(t.result() for t in getters if t.done()) == ["a", "b", "c"]
    q.shut_down()
    rest = await asyncio.gather(*getters, return_exceptions=True)
    assert sum(isinstance(r, QueueShutDownError) for r in rest) == 13


async def test_a_woken_getter_cancelled_before_it_runs_passes_the_item_on() -> None:
    q: WorkQueue[str] = WorkQueue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("a")        # wakes `first`...
    first.cancel()    # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, 1.0) == "a"
    with pytest.raises(asyncio.CancelledError):
        await first
