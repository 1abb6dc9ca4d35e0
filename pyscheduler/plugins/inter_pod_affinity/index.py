"""ClusterIndex: what the pods on every node offer to pod (anti-)affinity, kept across cycles.

Contract:
* Per snapshot row the index keeps a *record* of the pods on that node, in the only terms
  InterPodAffinity looks at them:
  - their shapes (namespace, labels) with multiplicities: what the incoming pod's terms match;
  - their required anti-affinity terms, required affinity terms, and preferred affinity /
    anti-affinity terms with signed weights, each keyed by ``AffinityTerm.key`` with
    multiplicities: what is matched against the incoming pod.
  and, per shape and per term, the rows holding it with counts (sparse, with cached numpy
  arrays). Identical pods (replicas, daemon pods) collapse into one shape and identical terms
  into one key.
* ``refresh(snapshot, gens)`` brings the index up to date: a full pass for a new table; after
  nodes came or went (the table's topology generation moved), the rows that now hold another
  NodeInfo; otherwise only the rows whose NodeInfo generation moved since the last refresh (a
  NodeInfo's generation moves on every pod add/remove and node update). A changed row folds
  only the difference between its old and new record, so one pod placed on a node costs one
  shape and its terms, not the node's whole pod list. Records hold no node labels (those are
  read at query time through the label codes), so relabeled nodes need nothing more.
  Shapes and terms no pod holds any more are dropped, so the index stays as large as the
  cluster's distinct shapes and terms.
* Watches: the incoming pod's own terms are matched against shapes. Rather than walking every
  shape per cycle (a cost that grows with the pods when labels are unique per pod, as in
  StatefulSets), the index keeps, per "matches all of these terms" predicate it was asked
  about, a per-row count vector that every fold updates. Replicas of one workload ask the same
  predicates, so after the first cycle a query is a lookup. The ``MAX_WATCHES`` most recently
  used predicates are kept; the others are dropped and rebuilt from the shapes on next use.
  Vectors handed out by queries are the index's own: callers must not modify them.
* Queries return per-row int64 vectors by topology key; the plugin folds them into topology
  domains with the snapshot's label codes. They count exactly what the per-node functions in
  filtering.py / scoring.py count (tests compare both on changing clusters).
* ``RowGenerations`` hands out each row's NodeInfo generation as an int64 array: a copy of the
  table's ``row_generations`` column, taken once per table generation (the same array object
  until the table changes, which ``refresh`` uses to skip the comparison).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from pyscheduler.framework.interfaces import I64, BoolArr
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.snapshot import NodeTable, Snapshot
from pyscheduler.plugins.inter_pod_affinity.terms import (
    AffinityTerm,
    Labels,
    Shape,
    WeightedTerm,
    shape_of,
    terms_of,
)

TermKey = tuple[bytes, frozenset[str]]
WeightedKey = tuple[TermKey, int]
WatchKey = tuple[TermKey, ...]
K = TypeVar("K", bound=Hashable)

# How many incoming-term predicates keep a live count vector. Each costs a vector of one int64
# per node and a dictionary lookup per folded shape; a profile rarely has more distinct
# (anti-)affinity workloads pending at once.
MAX_WATCHES = 32


class _Rows:
    """row -> count for one shape or term, with the (rows, counts) arrays cached."""

    __slots__ = ("_arrays", "counts")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self._arrays: tuple[I64, I64] | None = None

    def add(self, row: int, n: int) -> bool:
        """Add n at row; True when no row holds it any more."""
        c = self.counts.get(row, 0) + n
        if c:
            self.counts[row] = c
        else:
            del self.counts[row]
        self._arrays = None
        return not self.counts

    def arrays(self) -> tuple[I64, I64]:
        a = self._arrays
        if a is None:
            k = len(self.counts)
            a = (np.fromiter(self.counts.keys(), dtype=np.int64, count=k),
                 np.fromiter(self.counts.values(), dtype=np.int64, count=k))
            self._arrays = a
        return a


@dataclass(frozen=True, slots=True)
class _Record:
    """One row's pods as multisets (never mutated once built)."""

    shapes: Mapping[Shape, int]
    anti: Mapping[TermKey, int]
    affinity: Mapping[TermKey, int]
    preferred: Mapping[WeightedKey, int]


_EMPTY = _Record({}, {}, {}, {})


def _delta(old: Mapping[K, int], new: Mapping[K, int]) -> Iterable[tuple[K, int]]:
    """(key, new - old) for the keys whose multiplicity changed."""
    if not old:
        return new.items()
    if not new:
        return [(k, -n) for k, n in old.items()]
    out = [(k, n - old.get(k, 0)) for k, n in new.items() if n != old.get(k, 0)]
    out.extend((k, -n) for k, n in old.items() if k not in new)
    return out


class _Watch:
    """Per-row count of the pods whose shape matches all of ``terms`` (see the contract)."""

    __slots__ = ("memo", "terms", "vec")

    def __init__(self, terms: tuple[AffinityTerm, ...], n: int) -> None:
        self.terms = terms
        self.vec: I64 = np.zeros(n, dtype=np.int64)
        # shape -> matches, for shapes seen in folds (dropped with the shape)
        self.memo: dict[Shape, bool] = {}

    def test(self, shape: Shape, labels: Labels) -> bool:
        """Upstream podMatchesAllAffinityTerms for the incoming pod's merged terms."""
        ns = shape[0]
        return all(t.matches_labels(ns, labels, None) for t in self.terms)

    def resize(self, n: int) -> None:
        old = self.vec
        if len(old) == n:
            return
        vec = np.zeros(n, dtype=np.int64)
        k = min(n, len(old))
        vec[:k] = old[:k]
        self.vec = vec


class RowGenerations:
    """Each row's NodeInfo generation (see the module contract)."""

    __slots__ = ("_gens", "_table", "_table_gen")

    def __init__(self) -> None:
        self._table: NodeTable | None = None
        self._table_gen = -1
        self._gens: I64 = np.zeros(0, dtype=np.int64)

    def get(self, snapshot: Snapshot) -> I64:
        t = snapshot.table
        if t is not self._table or t.generation != self._table_gen:
            # a copy: the table's column is a live view, and the index compares the next
            # cycle's generations against these
            self._gens = t.row_generations.copy()
            self._table, self._table_gen = t, t.generation
        return self._gens


class ClusterIndex:
    def __init__(self) -> None:
        self._table: NodeTable | None = None
        self._topology_gen = -1
        self._gens: I64 = np.zeros(0, dtype=np.int64)
        self._records: list[_Record | None] = []
        # which NodeInfo each row held at the last refresh (rows move when nodes come or go)
        self._infos: list[NodeInfo] = []
        self.shapes: dict[Shape, _Rows] = {}
        self.shape_labels: dict[Shape, Labels] = {}
        self.anti: dict[TermKey, _Rows] = {}
        self.affinity: dict[TermKey, _Rows] = {}
        self.preferred: dict[WeightedKey, _Rows] = {}
        # one representative term per key, with how many aggregate entries refer to it
        self.terms: dict[TermKey, AffinityTerm] = {}
        self._term_refs: dict[TermKey, int] = {}
        # insertion order is recency of use (see watch())
        self.watches: dict[WatchKey, _Watch] = {}
        self.n = 0

    # ---- maintenance ----------------------------------------------------------------------
    def refresh(self, snapshot: Snapshot, gens: I64) -> None:
        t = snapshot.table
        if t is not self._table:
            self._rebuild(t, gens)
            return
        if t.topology_generation != self._topology_gen:
            self._reseat(t, gens)
            return
        if gens is self._gens:
            return  # RowGenerations handed out the same array: nothing moved since
        changed = np.flatnonzero(gens != self._gens)
        for r in changed.tolist():
            self._redo(r, t.infos[r])
        self._gens = gens

    def _redo(self, r: int, ni: NodeInfo | None) -> None:
        """Swap row r's record for ``ni``'s (None: the row is gone), folding the difference."""
        old = self._records[r]
        new = self._record(ni) if ni is not None else None
        self._records[r] = new
        if old is None and new is None:
            return
        self._fold(r, old, new)

    def _resize(self, n: int) -> None:
        for w in self.watches.values():
            w.resize(n)

    def _reseat(self, t: NodeTable, gens: I64) -> None:
        """Nodes came, went or changed labels/taints: rows that now hold a different NodeInfo
        are redone, the others only if their generation moved. Records hold no node labels,
        so a relabeled node needs nothing beyond its generation check."""
        old_infos, old_n = self._infos, len(self._infos)
        n = t.n
        if n > old_n:
            self._records.extend([None] * (n - old_n))
            self._resize(n)
        for r in range(n, old_n):
            self._redo(r, None)
        del self._records[n:]
        if n < old_n:
            self._resize(n)  # the rows cut off were folded out above: they hold zeros
        infos = t.infos
        for r in range(n):
            ni = infos[r]
            if r >= old_n or ni is not old_infos[r] or gens[r] != self._gens[r]:
                self._redo(r, ni)
        self._infos = list(infos)
        self.n = n
        self._topology_gen, self._gens = t.topology_generation, gens

    def _rebuild(self, t: NodeTable, gens: I64) -> None:
        self.shapes, self.shape_labels = {}, {}
        self.anti, self.affinity, self.preferred = {}, {}, {}
        self.terms, self._term_refs = {}, {}
        self.watches = {}
        records: list[_Record | None] = [None] * t.n
        for r, ni in enumerate(t.infos):
            rec = self._record(ni)
            if rec is not None:
                records[r] = rec
                self._fold(r, None, rec)
        self._records = records
        self._infos = list(t.infos)
        self.n = t.n
        self._table, self._topology_gen, self._gens = t, t.topology_generation, gens

    def _record(self, ni: NodeInfo) -> _Record | None:
        if not ni.pods:
            return None
        shapes: dict[Shape, int] = {}
        anti: dict[TermKey, int] = {}
        affinity: dict[TermKey, int] = {}
        preferred: dict[WeightedKey, int] = {}
        for pi in ni.pods.values():
            shape = shape_of(pi)
            shapes[shape] = shapes.get(shape, 0) + 1
            if shape not in self.shape_labels:
                self.shape_labels[shape] = pi.pod.metadata.labels
            pt = terms_of(pi)
            if not pt.with_affinity:
                continue
            for t in pt.required_anti:
                k = self._term(t)
                anti[k] = anti.get(k, 0) + 1
            for t in pt.required_affinity:
                k = self._term(t)
                affinity[k] = affinity.get(k, 0) + 1
            for wt in pt.preferred_affinity:
                wk = (self._term(wt.term), wt.weight)
                preferred[wk] = preferred.get(wk, 0) + 1
            for wt in pt.preferred_anti:
                wk = (self._term(wt.term), -wt.weight)
                preferred[wk] = preferred.get(wk, 0) + 1
        return _Record(shapes, anti or _EMPTY.anti, affinity or _EMPTY.affinity,
                       preferred or _EMPTY.preferred)

    def _term(self, t: AffinityTerm) -> TermKey:
        key = t.key
        if key not in self.terms:
            self.terms[key] = t
            self._term_refs[key] = 0
        return key

    def _ref(self, key: TermKey, delta: int, released: list[TermKey]) -> None:
        n = self._term_refs.get(key, 0) + delta
        self._term_refs[key] = n
        if n <= 0:
            released.append(key)

    def _release(self, released: list[TermKey]) -> None:
        """Drop the terms no aggregate entry refers to any more. Done after a whole fold, not
        at the moment a count reaches 0: one fold may remove a key from one aggregate and add
        it to another (a pod with a required anti-affinity term preempted by one preferring
        to avoid the same pods), and the added entry needs the term."""
        for key in released:
            if self._term_refs.get(key, 0) <= 0:
                self._term_refs.pop(key, None)
                self.terms.pop(key, None)

    def _fold(self, row: int, old: _Record | None, new: _Record | None) -> None:
        """Apply the difference between row's old and new record to the aggregates."""
        o = old if old is not None else _EMPTY
        n = new if new is not None else _EMPTY
        released: list[TermKey] = []
        watches = self.watches.values()
        for shape, d in _delta(o.shapes, n.shapes):
            labels = self.shape_labels[shape]
            for w in watches:
                hit = w.memo.get(shape)
                if hit is None:
                    hit = w.memo[shape] = w.test(shape, labels)
                if hit:
                    w.vec[row] += d
            rows = self.shapes.get(shape)
            if rows is None:
                rows = self.shapes[shape] = _Rows()
            if rows.add(row, d):
                del self.shapes[shape]
                del self.shape_labels[shape]
                for w in watches:
                    w.memo.pop(shape, None)
        for agg, before, after in ((self.anti, o.anti, n.anti),
                                   (self.affinity, o.affinity, n.affinity)):
            for key, d in _delta(before, after):
                rows = agg.get(key)
                if rows is None:
                    rows = agg[key] = _Rows()
                    self._ref(key, 1, released)
                if rows.add(row, d):
                    del agg[key]
                    self._ref(key, -1, released)
        for wkey, d in _delta(o.preferred, n.preferred):
            rows = self.preferred.get(wkey)
            if rows is None:
                rows = self.preferred[wkey] = _Rows()
                self._ref(wkey[0], 1, released)
            if rows.add(row, d):
                del self.preferred[wkey]
                self._ref(wkey[0], -1, released)
        self._release(released)

    # ---- queries --------------------------------------------------------------------------
    def _vec(self, out: dict[str, I64], key: str) -> I64:
        v = out.get(key)
        if v is None:
            v = out[key] = np.zeros(self.n, dtype=np.int64)
        return v

    def watch(self, terms: tuple[AffinityTerm, ...]) -> I64:
        """Per row, the pods matching all of ``terms`` (the incoming pod's merged terms)."""
        key = tuple(t.key for t in terms)
        w = self.watches.pop(key, None)
        if w is None:
            w = _Watch(terms, self.n)
            vec = w.vec
            labels_of = self.shape_labels
            for shape, rows in self.shapes.items():
                if w.test(shape, labels_of[shape]):
                    r, c = rows.arrays()
                    vec[r] += c
            if len(self.watches) >= MAX_WATCHES:
                del self.watches[next(iter(self.watches))]  # the least recently used
        self.watches[key] = w  # (re)inserted last: the most recently used
        return w.vec

    def existing_anti(self, namespace: str, labels: Labels,
                      ns_labels: Labels) -> dict[str, I64]:
        """Per topology key, per row: existing required anti-affinity terms selecting the pod."""
        out: dict[str, I64] = {}
        for key, rows in self.anti.items():
            t = self.terms[key]
            if t.matches_labels(namespace, labels, ns_labels):
                r, c = rows.arrays()
                self._vec(out, t.topology_key)[r] += c
        return out

    def incoming(self, affinity: tuple[AffinityTerm, ...],
                 anti: tuple[AffinityTerm, ...]) -> tuple[I64 | None, list[I64]]:
        """Per row: pods matching all affinity terms (None without affinity terms), and per
        anti-affinity term the pods matching it."""
        v_all = self.watch(affinity) if affinity else None
        return v_all, [self.watch((t,)) for t in anti]

    def scores(self, namespace: str, labels: Labels, ns_labels: Labels,
               preferred: tuple[WeightedTerm, ...], preferred_anti: tuple[WeightedTerm, ...],
               hard_weight: int, has_constraints: bool,
               ) -> tuple[dict[str, I64], dict[str, BoolArr]]:
        """Per topology key, per row: summed weights, and which rows any term touched."""
        sums: dict[str, I64] = {}
        touched: dict[str, BoolArr] = {}

        def hit(key: str) -> BoolArr:
            tv = touched.get(key)
            if tv is None:
                tv = touched[key] = np.zeros(self.n, dtype=np.bool_)
            return tv

        if has_constraints:
            weighted = [(wt.term, wt.weight) for wt in preferred]
            weighted += [(wt.term, -wt.weight) for wt in preferred_anti]
            for t, w in weighted:
                c = self.watch((t,))
                v = self._vec(sums, t.topology_key)
                v += c * w
                tv = hit(t.topology_key)
                tv |= c > 0

        def add(t: AffinityTerm, rows: _Rows, w: int) -> None:
            r, c = rows.arrays()
            self._vec(sums, t.topology_key)[r] += c * w
            hit(t.topology_key)[r] = True

        if hard_weight > 0:
            for key, rows in self.affinity.items():
                t = self.terms[key]
                if t.matches_labels(namespace, labels, ns_labels):
                    add(t, rows, hard_weight)
        for (key, w), rows in self.preferred.items():
            t = self.terms[key]
            if t.matches_labels(namespace, labels, ns_labels):
                add(t, rows, w)
        return sums, touched
