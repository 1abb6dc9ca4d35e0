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
  into one key, so a query costs O(distinct shapes or terms) Python work plus numpy over rows,
  never a walk over every pod.
* ``refresh(snapshot, gens)`` brings the index up to date: a full pass for a new table; after
  nodes came or went (the table's topology generation moved), the rows that now hold another
  NodeInfo; otherwise only the rows whose NodeInfo generation moved since the last refresh (a
  NodeInfo's generation moves on every pod add/remove and node update). Each such row's old
  record is swapped for the new one. Records hold no node labels (those are read at query
  time through the label codes), so relabeled nodes need nothing more.
  Shapes and terms no pod holds any more are dropped, so the index stays as large as the
  cluster's distinct shapes and terms.
* Queries return per-row int64 vectors by topology key; the plugin folds them into topology
  domains with the snapshot's label codes. They count exactly what the per-node functions in
  filtering.py / scoring.py count (tests compare both on changing clusters).
* ``RowGenerations`` hands out each row's NodeInfo generation as an int64 array: read from the
  table when it keeps them as a column (``row_generations``), else gathered from the NodeInfos
  once per table generation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pyscheduler.cache.node_info import NodeInfo
from pyscheduler.cache.snapshot import NodeTable, Snapshot
from pyscheduler.framework.interfaces import I64, BoolArr
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
    shapes: tuple[tuple[Shape, int], ...]
    anti: tuple[tuple[TermKey, int], ...]
    affinity: tuple[tuple[TermKey, int], ...]
    preferred: tuple[tuple[WeightedKey, int], ...]


class RowGenerations:
    """Each row's NodeInfo generation (see the module contract)."""

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
        changed = np.flatnonzero(gens != self._gens)
        for r in changed.tolist():
            self._redo(r, t.infos[r])
        self._gens = gens

    def _redo(self, r: int, ni: NodeInfo | None) -> None:
        """Swap row r's record for ``ni``'s (None: the row is gone)."""
        old = self._records[r]
        if old is not None:
            self._fold(r, old, -1)
        new = self._record(ni) if ni is not None else None
        self._records[r] = new
        if new is not None:
            self._fold(r, new, 1)

    def _reseat(self, t: NodeTable, gens: I64) -> None:
        """Nodes came, went or changed labels/taints: rows that now hold a different NodeInfo
        are redone, the others only if their generation moved. Records hold no node labels,
        so a relabeled node needs nothing beyond its generation check."""
        old_infos, old_n = self._infos, len(self._infos)
        n = t.n
        if n > old_n:
            self._records.extend([None] * (n - old_n))
        for r in range(n, old_n):
            self._redo(r, None)
        del self._records[n:]
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
        records: list[_Record | None] = [None] * t.n
        for r, ni in enumerate(t.infos):
            rec = self._record(ni)
            if rec is not None:
                records[r] = rec
                self._fold(r, rec, 1)
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
        return _Record(tuple(shapes.items()), tuple(anti.items()), tuple(affinity.items()),
                       tuple(preferred.items()))

    def _term(self, t: AffinityTerm) -> TermKey:
        key = t.key
        if key not in self.terms:
            self.terms[key] = t
            self._term_refs[key] = 0
        return key

    def _ref(self, key: TermKey, delta: int) -> None:
        n = self._term_refs.get(key, 0) + delta
        if n > 0:
            self._term_refs[key] = n
        else:
            self._term_refs.pop(key, None)
            self.terms.pop(key, None)

    def _fold(self, row: int, rec: _Record, sign: int) -> None:
        for shape, n in rec.shapes:
            rows = self.shapes.get(shape)
            if rows is None:
                rows = self.shapes[shape] = _Rows()
            if rows.add(row, sign * n):
                del self.shapes[shape]
                self.shape_labels.pop(shape, None)
        for agg, entries in ((self.anti, rec.anti), (self.affinity, rec.affinity)):
            for key, n in entries:
                rows = agg.get(key)
                if rows is None:
                    rows = agg[key] = _Rows()
                    self._ref(key, 1)
                if rows.add(row, sign * n):
                    del agg[key]
                    self._ref(key, -1)
        for wkey, n in rec.preferred:
            rows = self.preferred.get(wkey)
            if rows is None:
                rows = self.preferred[wkey] = _Rows()
                self._ref(wkey[0], 1)
            if rows.add(row, sign * n):
                del self.preferred[wkey]
                self._ref(wkey[0], -1)

    # ---- queries --------------------------------------------------------------------------
    def _vec(self, out: dict[str, I64], key: str) -> I64:
        v = out.get(key)
        if v is None:
            v = out[key] = np.zeros(self.n, dtype=np.int64)
        return v

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
                 anti: tuple[AffinityTerm, ...]) -> tuple[I64 | None, list[I64 | None]]:
        """Per row: pods matching all affinity terms, and per anti term pods matching it."""
        v_all = np.zeros(self.n, dtype=np.int64) if affinity else None
        v_anti: list[I64 | None] = [None] * len(anti)
        labels_of = self.shape_labels
        for shape, rows in self.shapes.items():
            ns = shape[0]
            labels = labels_of[shape]
            if v_all is not None and all(t.matches_labels(ns, labels, None) for t in affinity):
                r, c = rows.arrays()
                v_all[r] += c
            for j, t in enumerate(anti):
                if t.matches_labels(ns, labels, None):
                    r, c = rows.arrays()
                    v = v_anti[j]
                    if v is None:
                        v = v_anti[j] = np.zeros(self.n, dtype=np.int64)
                    v[r] += c
        return v_all, v_anti

    def scores(self, namespace: str, labels: Labels, ns_labels: Labels,
               preferred: tuple[WeightedTerm, ...], preferred_anti: tuple[WeightedTerm, ...],
               hard_weight: int, has_constraints: bool,
               ) -> tuple[dict[str, I64], dict[str, BoolArr]]:
        """Per topology key, per row: summed weights, and which rows any term touched."""
        sums: dict[str, I64] = {}
        touched: dict[str, BoolArr] = {}

        def add(key: str, r: I64, c: I64, w: int) -> None:
            self._vec(sums, key)[r] += c * w
            tv = touched.get(key)
            if tv is None:
                tv = touched[key] = np.zeros(self.n, dtype=np.bool_)
            tv[r] = True

        if has_constraints:
            weighted = [(wt.term, wt.weight) for wt in preferred]
            weighted += [(wt.term, -wt.weight) for wt in preferred_anti]
            for shape, rows in self.shapes.items():
                ns = shape[0]
                pod_labels = self.shape_labels[shape]
                for t, w in weighted:
                    if t.matches_labels(ns, pod_labels, None):
                        r, c = rows.arrays()
                        add(t.topology_key, r, c, w)
        if hard_weight > 0:
            for key, rows in self.affinity.items():
                t = self.terms[key]
                if t.matches_labels(namespace, labels, ns_labels):
                    r, c = rows.arrays()
                    add(t.topology_key, r, c, hard_weight)
        for (key, w), rows in self.preferred.items():
            t = self.terms[key]
            if t.matches_labels(namespace, labels, ns_labels):
                r, c = rows.arrays()
                add(t.topology_key, r, c, w)
        return sums, touched
