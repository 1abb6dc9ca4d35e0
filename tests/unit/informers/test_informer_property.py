"""Property test: whatever the sequence of writes, watch drops, gaps and relists, the informer
converges to the server's state and every handler sees a consistent story.

Checked for random scripts of operations against an in-memory ListerWatcher (see
_informer_fakes.py), through the real Reflector, DeltaFIFO, Indexer and SharedInformer:

1. the Indexer ends equal to the server's objects;
2. replaying each handler's notifications (add needs the key absent, update/delete need it
   present with the same UID and the exact object last delivered) ends at the server's objects
   (filtered, for a handler with a filter) -- so deletes were delivered and a UID change was
   never an update;
3. per key, the versions a handler saw are real server states in increasing resourceVersion
   order (a subsequence of the history, ending at the final state);
4. during every handler call the Indexer already holds the state of that event.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pyscheduler.informers.delta_fifo import DeletedFinalStateUnknown
from pyscheduler.informers.shared_informer import SharedInformer, unwrap
from pyscheduler.model.meta import object_key

from ._informer_fakes import CountingBackoff, MemoryCluster, Obj, wait_until

NAMES = ["a", "b", "c", "d"]

write = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(NAMES), st.integers(0, 3)),
    st.tuples(st.just("update"), st.sampled_from(NAMES), st.integers(0, 3)),
    st.tuples(st.just("delete"), st.sampled_from(NAMES)),
    st.tuples(st.just("recreate"), st.sampled_from(NAMES), st.integers(0, 3)),
)
op = st.one_of(
    write,
    write,
    # A watch gap that forces a relist: writes the informer misses, then compaction.
    st.tuples(st.just("gap"), st.lists(write, min_size=1, max_size=4)),
    st.tuples(st.just("drop_watch")),
    st.tuples(st.just("disconnect")),
    st.tuples(st.just("reconnect")),
    st.tuples(st.just("compact_and_reconnect")),
    st.tuples(st.just("bookmark")),
    st.tuples(st.just("settle")),
)


def ident(obj: Obj) -> tuple[str, str, int]:
    return (obj.metadata.uid, obj.metadata.resource_version, obj.value)


@dataclass
class HandlerView:
    """Replays one handler's notifications and checks them as they arrive."""

    informer: SharedInformer[Obj]
    filter: Any = None
    view: dict[str, Obj] = field(default_factory=dict)
    seen: dict[str, list[Obj]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    tombstones: int = 0

    def _check(self, ok: bool, message: str) -> None:
        if not ok:
            self.errors.append(message)

    def on_add(self, obj: Obj) -> None:
        key = object_key(obj.metadata)
        self._check(key not in self.view, f"add of present {key}")
        self._check(self.informer.indexer.get_by_key(key) is obj, f"indexer stale on add {key}")
        self.view[key] = obj
        self.seen.setdefault(key, []).append(obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        key = object_key(new.metadata)
        self._check(self.view.get(key) is old, f"update of {key}: old is not what we had")
        self._check(old.metadata.uid == new.metadata.uid, f"update of {key} changes UID")
        self._check(self.informer.indexer.get_by_key(key) is new, f"indexer stale on update {key}")
        self.view[key] = new
        self.seen.setdefault(key, []).append(new)

    def on_delete(self, obj: Obj | DeletedFinalStateUnknown[Obj]) -> None:
        last = unwrap(obj)
        self.tombstones += isinstance(obj, DeletedFinalStateUnknown)
        key = obj.key if isinstance(obj, DeletedFinalStateUnknown) else object_key(obj.metadata)
        had = self.view.pop(key, None)
        self._check(had is not None, f"delete of absent {key}")
        if had is not None and last is not None:
            self._check(last.metadata.uid == had.metadata.uid, f"delete of {key}: other UID")
        # A real deletion: the key is gone. A filtered handler also gets a delete when an update
        # makes the object fail its filter: then the Indexer holds that failing object.
        current = self.informer.indexer.get_by_key(key)
        self._check(
            current is None or (self.filter is not None and not self.filter(current)),
            f"indexer stale on delete {key}",
        )


def is_odd(obj: Obj | DeletedFinalStateUnknown[Obj]) -> bool:
    # A filter gets tombstones as they are (client-go FilterFunc); this one trusts their last
    # known state.
    last = unwrap(obj)
    return last is None or last.value % 2 == 1


async def run_script(ops: list[tuple[Any, ...]]) -> tuple[int, int]:
    """Run the script, check the properties; return (relists, tombstones delivered)."""
    cluster = MemoryCluster()
    history: set[tuple[str, str, str, int]] = set()

    def record(obj: Obj) -> None:
        history.add((object_key(obj.metadata), *ident(obj)))

    # Some objects exist before the informer starts: they come from the initial list.
    record(cluster.create("a", value=1))
    record(cluster.create("b", value=2))

    informer: SharedInformer[Obj] = SharedInformer(
        cluster, name="prop", backoff=CountingBackoff(), page_size=2
    )
    everything = HandlerView(informer)
    odd_only = HandlerView(informer, filter=is_odd)
    informer.add_event_handler(everything.on_add, everything.on_update, everything.on_delete)
    informer.add_event_handler(odd_only.on_add, odd_only.on_update, odd_only.on_delete,
                               filter=is_odd)
    connected = True

    def settled() -> bool:
        return (
            informer.last_sync_resource_version == str(cluster.rv)
            and len(informer.fifo) == 0
            and cluster.open_watches > 0
        )

    task = asyncio.create_task(informer.run())
    try:
        await informer.wait_for_sync()
        def apply_write(step: tuple[Any, ...]) -> None:
            kind, args = step[0], step[1:]
            key = f"ns/{args[0]}"
            if kind == "create" or (kind in ("update", "recreate") and key not in cluster.objects):
                if key not in cluster.objects:
                    record(cluster.create(args[0], value=args[1]))
            elif kind == "update":
                record(cluster.update(key, value=args[1]))
            elif kind == "delete":
                if key in cluster.objects:
                    cluster.delete(key)
            elif kind == "recreate":
                cluster.delete(key)
                record(cluster.create(args[0], value=args[1]))

        for step in ops:
            kind = step[0]
            if kind in ("create", "update", "delete", "recreate"):
                apply_write(step)
            elif kind == "gap":
                cluster.disconnect()
                for inner in step[1]:
                    apply_write(inner)
                cluster.compact()
                cluster.reconnect()
                connected = True
            elif kind == "drop_watch":
                cluster.drop_watches()
            elif kind == "disconnect":
                cluster.disconnect()
                connected = False
            elif kind == "reconnect":
                cluster.reconnect()
                connected = True
            elif kind == "compact_and_reconnect":
                # Whatever happened since the informer's last RV is no longer in the history:
                # the next watch gets 410 and the informer must relist.
                cluster.compact()
                cluster.reconnect()
                connected = True
            elif kind == "bookmark":
                cluster.bookmark()
            elif kind == "settle" and connected:
                await wait_until(settled)
            # Let the informer run a little between steps, so interleavings vary.
            await asyncio.sleep(0)
        cluster.reconnect()
        await wait_until(settled, rounds=100_000)
    finally:
        informer.stop()
        await asyncio.wait_for(task, 5)

    model = {key: ident(obj) for key, obj in cluster.objects.items()}
    # 1. The Indexer equals the server.
    assert {k: ident(o) for k, o in zip(informer.indexer.list_keys(), informer.indexer.list(),
                                         strict=True)} == model
    for handler, expected in (
        (everything, model),
        (odd_only, {k: v for k, v in model.items() if v[2] % 2 == 1}),
    ):
        # 2. The handler's replayed view equals the (filtered) server state; no bad transition.
        assert handler.errors == []
        assert {k: ident(o) for k, o in handler.view.items()} == expected
        # 3. Every version seen is a real state, in increasing resourceVersion order per UID.
        for key, objs in handler.seen.items():
            for obj in objs:
                assert (key, *ident(obj)) in history
            by_uid: dict[str, list[int]] = {}
            for obj in objs:
                by_uid.setdefault(obj.metadata.uid, []).append(int(obj.metadata.resource_version))
            for rvs in by_uid.values():
                assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs)
    return informer.reflector.list_count - 1, everything.tombstones


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(op, max_size=40))
def test_informer_converges_and_handlers_see_consistent_history(
    ops: list[tuple[Any, ...]],
) -> None:
    relists, tombstones = asyncio.run(run_script(ops))
    # Coverage hints for --hypothesis-show-statistics.
    event(f"relisted: {relists > 0}")
    event(f"tombstones delivered: {tombstones > 0}")


def test_gap_with_uid_change_and_deletion_example() -> None:
    # A fixed script that always exercises the relist path with both kinds of fold.
    relists, tombstones = asyncio.run(
        run_script(
            [
                ("settle",),
                ("disconnect",),
                ("recreate", "a", 3),
                ("delete", "b"),
                ("create", "c", 1),
                ("compact_and_reconnect",),
                ("settle",),
            ]
        )
    )
    # The relist happened, and it reported b's deletion and a's replacement as tombstones.
    assert relists == 1
    assert tombstones == 2
