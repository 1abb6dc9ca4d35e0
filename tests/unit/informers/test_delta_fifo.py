from __future__ import annotations

import asyncio

import pytest

from pyscheduler.informers.delta_fifo import (
    DeletedFinalStateUnknown,
    Delta,
    DeltaFIFO,
    DeltaType,
    FIFOClosedError,
    RequeueError,
)
from pyscheduler.informers.indexer import Indexer

from ._informer_fakes import Obj, make


def types(deltas: list[Delta[Obj]]) -> list[DeltaType]:
    return [d.type for d in deltas]


async def pop_all(fifo: DeltaFIFO[Obj]) -> list[list[Delta[Obj]]]:
    out: list[list[Delta[Obj]]] = []
    while len(fifo):
        out.append(await fifo.pop(lambda deltas, initial: None))
    return out


async def test_deltas_accumulate_per_key_in_order_and_keys_pop_fifo() -> None:
    fifo: DeltaFIFO[Obj] = DeltaFIFO()
    a1, b1, a2 = make("a", value=1), make("b", value=1), make("a", value=2)
    fifo.add(a1)
    fifo.add(b1)
    fifo.update(a2)
    assert fifo.list_keys() == ["ns/a", "ns/b"]
    popped = await pop_all(fifo)
    assert [[d.object for d in deltas] for deltas in popped] == [[a1, a2], [b1]]
    assert types(popped[0]) == [DeltaType.ADDED, DeltaType.UPDATED]


async def test_delete_of_unknown_and_unqueued_object_is_dropped() -> None:
    indexer: Indexer[Obj] = Indexer()
    fifo = DeltaFIFO(known_objects=indexer)
    fifo.delete(make("ghost"))
    assert len(fifo) == 0
    # Known to the indexer: the delete is queued.
    indexer.add(make("known"))
    fifo.delete(make("known"))
    assert fifo.get_by_key("ns/known") == [Delta(DeltaType.DELETED, make("known"))]


async def test_delete_without_known_objects_needs_queued_item() -> None:
    fifo: DeltaFIFO[Obj] = DeltaFIFO()
    fifo.delete(make("a"))
    assert len(fifo) == 0
    fifo.add(make("a"))
    fifo.delete(make("a"))
    assert types(fifo.get_by_key("ns/a") or []) == [DeltaType.ADDED, DeltaType.DELETED]


async def test_consecutive_deletions_dedup_prefers_known_final_state() -> None:
    indexer: Indexer[Obj] = Indexer()
    indexer.add(make("a"))
    fifo = DeltaFIFO(known_objects=indexer)
    final = make("a", value=9)
    tombstone = DeletedFinalStateUnknown("ns/a", make("a"))
    # Real deletion first, then a tombstone: keep the real one.
    fifo.delete(final)
    fifo.delete(tombstone)
    assert fifo.get_by_key("ns/a") == [Delta(DeltaType.DELETED, final)]

    fifo2 = DeltaFIFO(known_objects=indexer)
    # Tombstone first, then the real deletion: the later, real one replaces it.
    fifo2.delete(tombstone)
    fifo2.delete(final)
    assert fifo2.get_by_key("ns/a") == [Delta(DeltaType.DELETED, final)]

    fifo3 = DeltaFIFO(known_objects=indexer)
    # Two real deletions: upstream's isDeletionDup keeps the older one.
    first, second = make("a", value=1), make("a", value=2)
    fifo3.delete(first)
    fifo3.delete(second)
    assert fifo3.get_by_key("ns/a") == [Delta(DeltaType.DELETED, first)]


async def test_non_consecutive_deletions_are_not_deduped() -> None:
    fifo: DeltaFIFO[Obj] = DeltaFIFO()
    fifo.add(make("a"))
    fifo.delete(make("a"))
    fifo.add(make("a", uid="other"))
    fifo.delete(make("a", uid="other"))
    assert types(fifo.get_by_key("ns/a") or []) == [
        DeltaType.ADDED,
        DeltaType.DELETED,
        DeltaType.ADDED,
        DeltaType.DELETED,
    ]


async def test_replace_emits_replaced_and_tombstones_for_known_and_queued_keys() -> None:
    indexer: Indexer[Obj] = Indexer()
    known_gone, known_kept = make("known-gone", value=3), make("kept")
    indexer.add(known_gone)
    indexer.add(known_kept)
    fifo = DeltaFIFO(known_objects=indexer)
    queued_gone = make("queued-gone", value=4)
    fifo.add(queued_gone)
    new_item, kept2 = make("new"), make("kept", value=1)

    fifo.replace([new_item, kept2], "500")

    assert fifo.get_by_key("ns/new") == [Delta(DeltaType.REPLACED, new_item)]
    assert fifo.get_by_key("ns/kept") == [Delta(DeltaType.REPLACED, kept2)]
    assert fifo.get_by_key("ns/queued-gone") == [
        Delta(DeltaType.ADDED, queued_gone),
        Delta(DeltaType.DELETED, DeletedFinalStateUnknown("ns/queued-gone", queued_gone)),
    ]
    assert fifo.get_by_key("ns/known-gone") == [
        Delta(DeltaType.DELETED, DeletedFinalStateUnknown("ns/known-gone", known_gone)),
    ]


async def test_replace_does_not_double_a_queued_deletion() -> None:
    indexer: Indexer[Obj] = Indexer()
    indexer.add(make("a"))
    fifo = DeltaFIFO(known_objects=indexer)
    final = make("a", value=7)
    fifo.delete(final)
    fifo.replace([], "1")
    # The tombstone collapses into the real deletion already queued.
    assert fifo.get_by_key("ns/a") == [Delta(DeltaType.DELETED, final)]


async def test_replace_tombstone_of_queued_tombstone_unwraps_last_state() -> None:
    indexer: Indexer[Obj] = Indexer()
    fifo = DeltaFIFO(known_objects=indexer)
    a = make("a")
    fifo.add(a)
    fifo.replace([], "1")
    fifo.replace([], "2")
    deltas = fifo.get_by_key("ns/a") or []
    assert types(deltas) == [DeltaType.ADDED, DeltaType.DELETED]
    assert deltas[-1].object == DeletedFinalStateUnknown("ns/a", a)


async def test_has_synced_after_initial_replace_items_are_processed() -> None:
    fifo: DeltaFIFO[Obj] = DeltaFIFO()
    assert not fifo.has_synced()
    fifo.replace([make("a"), make("b")], "1")
    assert not fifo.has_synced()
    seen_initial: list[bool] = []

    def process(deltas: list[Delta[Obj]], initial: bool) -> None:
        seen_initial.append(initial)
        if initial:
            # Still processing an initial item (even the last one): not synced yet.
            assert not fifo.has_synced()

    await fifo.pop(process)
    assert not fifo.has_synced()
    await fifo.pop(process)
    assert fifo.has_synced()
    await asyncio.wait_for(fifo.wait_synced(), 1)
    fifo.add(make("c"))
    await fifo.pop(process)
    assert seen_initial == [True, True, False]
    assert fifo.has_synced()


async def test_has_synced_immediately_for_empty_initial_list() -> None:
    fifo: DeltaFIFO[Obj] = DeltaFIFO()
    fifo.replace([], "1")
    assert fifo.has_synced()
    await asyncio.wait_for(fifo.wait_synced(), 1)


async def test_resync_queues_sync_only_for_known_objects_without_queued_deltas() -> None:
    indexer: Indexer[Obj] = Indexer()
    a, b = make("a"), make("b")
    indexer.add(a)
    indexer.add(b)
    fifo = DeltaFIFO(known_objects=indexer)
    b2 = make("b", value=2)
    fifo.update(b2)
    fifo.resync()
    assert fifo.get_by_key("ns/a") == [Delta(DeltaType.SYNC, a)]
    assert fifo.get_by_key("ns/b") == [Delta(DeltaType.UPDATED, b2)]


async def test_pop_waits_for_items_and_async_process() -> None:
    fifo: DeltaFIFO[Obj] = DeltaFIFO()
    processed: list[str] = []

    async def process(deltas: list[Delta[Obj]], initial: bool) -> None:
        await asyncio.sleep(0)
        processed.append(deltas[0].object.metadata.name)

    waiter = asyncio.create_task(fifo.pop(process))
    await asyncio.sleep(0)
    assert not waiter.done()
    fifo.add(make("x"))
    deltas = await waiter
    assert processed == ["x"]
    assert types(deltas) == [DeltaType.ADDED]


async def test_requeue_error_puts_deltas_back_unless_newer_arrived() -> None:
    fifo: DeltaFIFO[Obj] = DeltaFIFO()
    fifo.add(make("a"))

    def fail(deltas: list[Delta[Obj]], initial: bool) -> None:
        raise RequeueError(ValueError("boom"))

    with pytest.raises(ValueError, match="boom"):
        await fifo.pop(fail)
    assert fifo.get_by_key("ns/a") == [Delta(DeltaType.ADDED, make("a"))]

    # Newer deltas queued during processing take precedence over the failed ones.
    def fail_after_update(deltas: list[Delta[Obj]], initial: bool) -> None:
        fifo.update(make("a", value=5))
        raise RequeueError()

    with pytest.raises(RequeueError):
        await fifo.pop(fail_after_update)
    assert fifo.get_by_key("ns/a") == [Delta(DeltaType.UPDATED, make("a", value=5))]


async def test_other_errors_requeue_only_with_requeue_on_error() -> None:
    fifo: DeltaFIFO[Obj] = DeltaFIFO()
    fifo.add(make("a"))

    def fail(deltas: list[Delta[Obj]], initial: bool) -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        await fifo.pop(fail)
    assert len(fifo) == 0
    fifo.add(make("a"))
    with pytest.raises(KeyError):
        await fifo.pop(fail, requeue_on_error=True)
    assert fifo.list_keys() == ["ns/a"]


async def test_close_wakes_waiters_but_drains_queued_first() -> None:
    fifo: DeltaFIFO[Obj] = DeltaFIFO()
    waiter = asyncio.create_task(fifo.pop(lambda d, i: None))
    await asyncio.sleep(0)
    fifo.close()
    with pytest.raises(FIFOClosedError):
        await waiter
    fifo2: DeltaFIFO[Obj] = DeltaFIFO()
    fifo2.add(make("a"))
    fifo2.close()
    assert types(await fifo2.pop(lambda d, i: None)) == [DeltaType.ADDED]
    with pytest.raises(FIFOClosedError):
        await fifo2.pop(lambda d, i: None)
