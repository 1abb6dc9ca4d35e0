"""Topology-domain counts and the per-node memo that keeps them across scheduling cycles.

Contract:
* ``Counts`` is upstream's topologyToMatchedTermCount (and scoreMap) as a nested dict:
  topology key -> topology value -> count. Entries that reach zero are dropped, and a key with
  no values left is dropped too, so ``not counts`` is upstream's ``len(map) == 0``. (Upstream's
  full computation can leave zero-valued entries in a scoreMap; a zero adds nothing to a node's
  score, so dropping them changes no outcome. Its own memo drops them as well.)
* ``NodeMemo`` keeps one *contribution* per snapshot row (what the pods on that node add to the
  counts for one input, e.g. one incoming pod shape) plus their sum. ``refresh`` brings it up to
  date: when the table or its topology generation changed (rows moved, nodes came or went,
  labels changed) it recomputes every candidate row; otherwise it recomputes only the rows whose
  NodeInfo generation moved since the last refresh (typically the node the previous pod was
  assumed on) and swaps their old contribution for the new one in the sum. A NodeInfo's
  generation moves on every pod add/remove and node update, so a row whose generation did not
  move contributes what it contributed before. The per-row computation is the same function
  the full pass runs, so the two paths cannot differ in what they count.
* ``RowGenerations`` hands out each row's NodeInfo generation as an int64 array, rebuilt only
  when the table's generation moved, shared by every memo of a plugin instance.
* ``MemoCache`` is a small LRU of memos keyed by their input; each plugin instance owns its
  caches (one profile, one scheduling loop: no locking).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import numpy as np

from pyscheduler.cache.node_info import NodeInfo
from pyscheduler.cache.snapshot import NodeTable, Snapshot
from pyscheduler.framework.interfaces import I64

Counts = dict[str, dict[str, int]]
# One node's contribution: (topology key, topology value, delta) entries.
Entries = tuple[tuple[str, str, int], ...]


def add_count(counts: Counts, key: str, value: str, delta: int) -> None:
    values = counts.get(key)
    if values is None:
        if delta == 0:
            return
        counts[key] = {value: delta}
        return
    n = values.get(value, 0) + delta
    if n:
        values[value] = n
    else:
        values.pop(value, None)
        if not values:
            del counts[key]


def add_entries(counts: Counts, entries: Entries, sign: int) -> None:
    for key, value, delta in entries:
        add_count(counts, key, value, sign * delta)


def copy_counts(counts: Counts) -> Counts:
    return {k: dict(vs) for k, vs in counts.items()}


def count_of(counts: Counts, key: str, value: str) -> int:
    values = counts.get(key)
    return 0 if values is None else values.get(value, 0)


class RowGenerations:
    """Each row's NodeInfo generation, as an array rebuilt only when the table changed.

    A table that keeps the generations itself (an int64 ``row_generations`` column updated by
    ``sync``) is read directly; otherwise they are gathered from the NodeInfos (O(rows)).
    """

    __slots__ = ("_gens", "_table", "_table_gen")

    def __init__(self) -> None:
        self._table: NodeTable | None = None
        self._table_gen = -1
        self._gens: I64 = np.zeros(0, dtype=np.int64)

    def get(self, snapshot: Snapshot) -> I64:
        t = snapshot.table
        column = getattr(t, "row_generations", None)
        if column is not None:
            return np.array(column, dtype=np.int64, copy=True)
        if t is not self._table or t.generation != self._table_gen:
            self._gens = np.array([ni.generation for ni in t.infos], dtype=np.int64)
            self._table, self._table_gen = t, t.generation
        return self._gens


C = TypeVar("C")


class NodeMemo(Generic[C]):
    """Per-row contributions of one input and their sum (see the module contract).

    Subclasses define ``fold(contribution, sign)`` (add or subtract one contribution from the
    sum) and ``reset()`` (clear the sum). ``compute(node_info)`` returns a row's contribution,
    or None when the row contributes nothing.
    """

    def __init__(self) -> None:
        self._table: NodeTable | None = None
        self._topology_gen = -1
        self._gens: I64 = np.zeros(0, dtype=np.int64)
        self._contrib: list[C | None] = []
        # how many rows contribute something
        self.contributing = 0

    def fold(self, contribution: C, sign: int) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def refresh(self, snapshot: Snapshot, gens: I64,
                compute: Callable[[NodeInfo], C | None],
                candidates: Callable[[], Iterable[NodeInfo]] | None = None) -> None:
        """Bring the contributions up to date with the snapshot.

        ``candidates`` lists the only nodes that can contribute (e.g. the nodes hosting pods
        with required anti-affinity) for a full pass; None means every row.
        """
        t = snapshot.table
        if t is not self._table or t.topology_generation != self._topology_gen:
            self._rebuild(t, gens, compute, candidates)
            return
        changed = np.flatnonzero(gens != self._gens)
        if len(changed) == 0:
            return
        infos = t.infos
        contrib = self._contrib
        for r in changed.tolist():
            old = contrib[r]
            if old is not None:
                self.fold(old, -1)
                self.contributing -= 1
            new = compute(infos[r])
            contrib[r] = new
            if new is not None:
                self.fold(new, 1)
                self.contributing += 1
        self._gens = gens

    def _rebuild(self, t: NodeTable, gens: I64, compute: Callable[[NodeInfo], C | None],
                 candidates: Callable[[], Iterable[NodeInfo]] | None) -> None:
        self.reset()
        self.contributing = 0
        contrib: list[C | None] = [None] * t.n
        for ni in (t.infos if candidates is None else candidates()):
            c = compute(ni)
            if c is not None:
                contrib[ni.row] = c
                self.fold(c, 1)
                self.contributing += 1
        self._contrib = contrib
        self._table, self._topology_gen, self._gens = t, t.topology_generation, gens


class CountsMemo(NodeMemo[Entries]):
    """Contributions that are count entries; the sum is one Counts."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counts = {}

    def fold(self, contribution: Entries, sign: int) -> None:
        add_entries(self.counts, contribution, sign)

    def reset(self) -> None:
        self.counts = {}


class PairCountsMemo(NodeMemo[tuple[Entries, Entries]]):
    """Contributions to two Counts at once (the incoming pod's affinity and anti-affinity)."""

    def __init__(self) -> None:
        super().__init__()
        self.first: Counts = {}
        self.second: Counts = {}

    def fold(self, contribution: tuple[Entries, Entries], sign: int) -> None:
        add_entries(self.first, contribution[0], sign)
        add_entries(self.second, contribution[1], sign)

    def reset(self) -> None:
        self.first, self.second = {}, {}


K = TypeVar("K")
M = TypeVar("M")


class MemoCache(Generic[K, M]):
    """A small LRU of memos keyed by their input."""

    __slots__ = ("_items", "_size")

    def __init__(self, size: int = 32) -> None:
        self._items: OrderedDict[K, M] = OrderedDict()
        self._size = size

    def get_or_create(self, key: K, make: Callable[[], M]) -> M:
        m = self._items.get(key)
        if m is None:
            m = make()
            self._items[key] = m
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(key)
        return m

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
