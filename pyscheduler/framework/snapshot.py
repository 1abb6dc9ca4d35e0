"""Columnar node state and the Snapshot plugins read.

Contract:
* ``NodeTable`` keeps one dense row per schedulable node (a NodeInfo whose node object exists):
  allocatable and requested per resource column, non-zero requests, pod counts and flags, as
  numpy arrays. ``sync(info)`` refreshes one row from its NodeInfo (O(resources)); removal swaps
  the last row into the hole, so rows are dense and stable only *within* one scheduling cycle.
  Plugins must not keep row numbers across cycles.
* Resource columns: cpu (milli), memory, ephemeral-storage first; extended resources get a
  column the first time any node or pod names them. Columns are never removed.
* ``Snapshot`` is what a cycle sees. The scheduling cycle runs on the event loop without
  awaiting between PreFilter and Permit, so the cache cannot change under it: the snapshot
  therefore *views* the cache's table instead of copying it (the design's "refresh by
  generation": derived lists such as "nodes with affinity pods" and per-label columns are
  recomputed only when the generation they were built at is stale). Code that needs to mutate
  node state hypothetically (preemption, nominated pods) clones NodeInfos instead.
* ``label_column(key)`` is each row's value of a node label; ``label_codes(key)`` the same as
  small integer codes over the distinct values (``LabelCodes``), so plugins evaluate a
  requirement once per distinct value and spread it to rows with one gather. Both are cached
  until node membership, labels or taints change (the table's topology generation).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pyscheduler.framework.node_info import NodeInfo, next_generation
from pyscheduler.model.quantity import CPU, EPHEMERAL_STORAGE, MEMORY, PODS
from pyscheduler.model.taints import NO_EXECUTE, NO_SCHEDULE

I64 = npt.NDArray[np.int64]
BoolArr = npt.NDArray[np.bool_]

BASE_RESOURCES = (CPU, MEMORY, EPHEMERAL_STORAGE)


class NodeTable:
    def __init__(self, capacity: int = 64) -> None:
        self.columns: dict[str, int] = {r: i for i, r in enumerate(BASE_RESOURCES)}
        self.n = 0
        self.infos: list[NodeInfo] = []
        self.index: dict[str, int] = {}
        cap = max(capacity, 1)
        r = len(self.columns)
        self._alloc = np.zeros((cap, r), dtype=np.int64)
        self._req = np.zeros((cap, r), dtype=np.int64)
        self._nz = np.zeros((cap, 2), dtype=np.int64)
        self._pods = np.zeros(cap, dtype=np.int64)
        self._max_pods = np.zeros(cap, dtype=np.int64)
        self._unschedulable = np.zeros(cap, dtype=np.bool_)
        self._tainted = np.zeros(cap, dtype=np.bool_)
        self._with_affinity = np.zeros(cap, dtype=np.bool_)
        self._with_required_anti = np.zeros(cap, dtype=np.bool_)
        # Each row's NodeInfo.generation, so plugins that keep per-node counts across cycles
        # find the changed rows with one vectorized comparison instead of a pass over NodeInfos.
        self._gen = np.zeros(cap, dtype=np.int64)
        # Bumped whenever membership, labels or taints change (not on pod churn): caches of
        # label columns key on it.
        self.topology_generation = next_generation()
        self.generation = next_generation()
        # Bumped when a node object is added, replaced or removed (not on pod churn).
        self.node_generation = next_generation()

    # ---- views over live rows -------------------------------------------------------------
    @property
    def alloc(self) -> I64:
        """Allocatable per live row and resource column (a view: copy it to keep it)."""
        return self._alloc[: self.n]

    @property
    def req(self) -> I64:
        """Requested per live row and resource column (a view: copy it to keep it)."""
        return self._req[: self.n]

    @property
    def nz(self) -> I64:
        """Non-zero (cpu, memory) requests per live row (a view: copy it to keep it)."""
        return self._nz[: self.n]

    @property
    def pod_count(self) -> I64:
        """Pods counted on each live row (a view: copy it to keep it)."""
        return self._pods[: self.n]

    @property
    def max_pods(self) -> I64:
        """Each live row's allocatable pod count (a view: copy it to keep it)."""
        return self._max_pods[: self.n]

    @property
    def unschedulable(self) -> BoolArr:
        """Rows whose node has spec.unschedulable set (a view: copy it to keep it)."""
        return self._unschedulable[: self.n]

    @property
    def row_generations(self) -> I64:
        """Each live row's NodeInfo.generation (a view: copy it to keep it)."""
        return self._gen[: self.n]

    @property
    def tainted(self) -> BoolArr:
        """Rows whose node has at least one NoSchedule/NoExecute taint."""
        return self._tainted[: self.n]

    # ---- maintenance ----------------------------------------------------------------------
    def column(self, resource: str) -> int:
        """The column of a resource, adding one (zero-filled) when first seen."""
        col = self.columns.get(resource)
        if col is None:
            col = len(self.columns)
            self.columns[resource] = col
            pad = np.zeros((self._alloc.shape[0], 1), dtype=np.int64)
            self._alloc = np.hstack([self._alloc, pad])
            self._req = np.hstack([self._req, pad.copy()])
        return col

    def _grow(self) -> None:
        cap = self._alloc.shape[0] * 2

        def grow(a: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
            out = np.zeros((cap, *a.shape[1:]), dtype=a.dtype)
            out[: a.shape[0]] = a
            return out

        self._alloc = grow(self._alloc)  # type: ignore[assignment]
        self._req = grow(self._req)  # type: ignore[assignment]
        self._nz = grow(self._nz)  # type: ignore[assignment]
        self._pods = grow(self._pods)  # type: ignore[assignment]
        self._max_pods = grow(self._max_pods)  # type: ignore[assignment]
        self._unschedulable = grow(self._unschedulable)  # type: ignore[assignment]
        self._tainted = grow(self._tainted)  # type: ignore[assignment]
        self._with_affinity = grow(self._with_affinity)  # type: ignore[assignment]
        self._with_required_anti = grow(self._with_required_anti)  # type: ignore[assignment]
        self._gen = grow(self._gen)  # type: ignore[assignment]

    def add(self, info: NodeInfo) -> None:
        """Append a row for ``info`` (only re-sync if it has one); bumps topology generation."""
        if info.row >= 0:
            self.sync(info)
            return
        if self.n == self._alloc.shape[0]:
            self._grow()
        info.row = self.n
        self.infos.append(info)
        self.index[info.name] = self.n
        self.n += 1
        self.topology_generation = next_generation()
        self.sync(info, node_changed=True)

    def remove(self, info: NodeInfo) -> None:
        """Drop ``info``'s row, moving the last row into it; a no-op if it has none."""
        row = info.row
        if row < 0:
            return
        last = self.n - 1
        if row != last:
            moved = self.infos[last]
            self.infos[row] = moved
            moved.row = row
            self.index[moved.name] = row
            for a in (self._alloc, self._req, self._nz, self._pods, self._max_pods,
                      self._unschedulable, self._tainted, self._with_affinity,
                      self._with_required_anti, self._gen):
                a[row] = a[last]
        self.infos.pop()
        del self.index[info.name]
        info.row = -1
        self.n = last
        self.topology_generation = next_generation()
        self.generation = next_generation()
        self.node_generation = next_generation()

    def sync(self, info: NodeInfo, *, topology_changed: bool = False,
             node_changed: bool = False) -> None:
        """Copy one NodeInfo's numbers into its row."""
        row = info.row
        if row < 0:
            return
        for name in info.allocatable:
            if name not in self.columns and name != PODS:
                self.column(name)
        for name in info.requested:
            if name not in self.columns and name != PODS:
                self.column(name)
        alloc_row = self._alloc[row]
        req_row = self._req[row]
        alloc_row[:] = 0
        req_row[:] = 0
        cols = self.columns
        for name, v in info.allocatable.items():
            c = cols.get(name)
            if c is not None:
                alloc_row[c] = v
        for name, v in info.requested.items():
            c = cols.get(name)
            if c is not None:
                req_row[c] = v
        self._nz[row, 0] = info.non_zero_cpu
        self._nz[row, 1] = info.non_zero_mem
        self._pods[row] = len(info.pods)
        self._max_pods[row] = info.allowed_pod_number
        node = info.node
        self._unschedulable[row] = bool(node is not None and node.spec.unschedulable)
        self._tainted[row] = bool(
            node is not None
            and any(t.effect in (NO_SCHEDULE, NO_EXECUTE) for t in node.spec.taints)
        )
        self._with_affinity[row] = info.pods_with_affinity > 0
        self._with_required_anti[row] = info.pods_with_required_anti_affinity > 0
        self._gen[row] = info.generation
        if topology_changed:
            self.topology_generation = next_generation()
        if node_changed:
            self.node_generation = next_generation()
        self.generation = next_generation()


@dataclass(slots=True)
class LabelCodes:
    """One node label key over the snapshot's rows, as integer codes of the distinct values.

    ``column`` identifies the build: data derived from the codes stays valid while a later
    ``label_codes(key)`` returns codes with the same column object."""

    column: npt.NDArray[np.object_]  # the label column these codes were built from
    codes: I64  # per row: index into ``values``
    values: list[str | None]  # distinct values, in first-row order (None = label absent)
    index: dict[str | None, int]  # value -> code
    absent: int  # code of rows without the label, -1 if there are none
    go_codes: I64  # ``codes`` with absent rows given the code of "" (upstream scoring's view)

    @classmethod
    def of(cls, column: npt.NDArray[np.object_]) -> LabelCodes:
        """The codes of one label column (``Snapshot.label_column``)."""
        index: dict[str | None, int] = {}
        codes = np.fromiter((index.setdefault(x, len(index)) for x in column),
                            dtype=np.int64, count=len(column))
        absent = index.get(None, -1)
        go_codes = codes
        empty = index.get("")
        if absent >= 0 and empty is not None:
            go_codes = np.where(codes == absent, empty, codes)
        return cls(column, codes, list(index), index, absent, go_codes)

    def go_code(self, value: str) -> int | None:
        """The scoring code of a present label value."""
        code = self.index.get(value)
        if code is None and value == "" and self.absent >= 0:
            return self.absent
        return code


class Snapshot:
    """What one scheduling cycle reads: node rows, NodeInfos and derived lists."""

    def __init__(self, table: NodeTable | None = None) -> None:
        self.table = table if table is not None else NodeTable()
        self._all_rows: I64 | None = None
        self._label_cols: dict[str, npt.NDArray[np.object_]] = {}
        self._label_codes: dict[str, LabelCodes] = {}
        self._label_gen = -1
        self._affinity_gen = -1
        self._with_affinity: list[NodeInfo] = []
        self._with_required_anti: list[NodeInfo] = []

    @property
    def num_nodes(self) -> int:
        """Number of rows (schedulable nodes)."""
        return self.table.n

    @property
    def node_infos(self) -> list[NodeInfo]:
        """The NodeInfo of each row, in row order (the table's list: do not modify)."""
        return self.table.infos

    def __iter__(self) -> Iterator[NodeInfo]:
        return iter(self.table.infos)

    def get(self, name: str) -> NodeInfo | None:
        """The NodeInfo of node ``name``, or None when it has no row."""
        row = self.table.index.get(name)
        return None if row is None else self.table.infos[row]

    def all_rows(self) -> I64:
        """Every row, in order. The same read-only array is returned until the row count
        changes, so ``row_index`` can recognise it."""
        n = self.table.n
        rows = self._all_rows
        if rows is None or len(rows) != n:
            rows = np.arange(n, dtype=np.int64)
            rows.flags.writeable = False
            self._all_rows = rows
        return rows

    def row_index(self, rows: I64) -> slice | I64:
        """An index for gathering ``rows`` from the table's columns: a slice (so the gather is
        a view, not a copy) when ``rows`` is ``all_rows()``, which it is whenever every node
        passed filtering. Callers must not write into what they gather with it."""
        if rows is self._all_rows and len(rows) == self.table.n:
            return slice(0, len(rows))
        return rows

    def label_column(self, key: str) -> npt.NDArray[np.object_]:
        """Each row's value of node label ``key`` (None when absent), cached per topology."""
        if self._label_gen != self.table.topology_generation:
            self._label_cols.clear()
            self._label_codes.clear()
            self._label_gen = self.table.topology_generation
        col = self._label_cols.get(key)
        if col is None:
            col = np.empty(self.table.n, dtype=object)
            for i, info in enumerate(self.table.infos):
                col[i] = info.labels.get(key)
            self._label_cols[key] = col
        return col

    def label_codes(self, key: str) -> LabelCodes:
        """``label_column(key)`` as integer codes, cached with the column."""
        col = self.label_column(key)
        kc = self._label_codes.get(key)
        if kc is None:
            kc = LabelCodes.of(col)
            self._label_codes[key] = kc
        return kc

    def _refresh_affinity_lists(self) -> None:
        if self._affinity_gen == self.table.generation:
            return
        t = self.table
        # The lists are built once per generation, and only when asked for: every assumed pod
        # moves the generation, and listing 5,000 nodes each cycle costs ~1 ms, while the
        # index-based plugins only ask whether any node has such pods (any_pods_with_*).
        aff = t._with_affinity[: t.n]
        anti = t._with_required_anti[: t.n]
        self._with_affinity = [t.infos[i] for i in np.flatnonzero(aff)] if aff.any() else []
        self._with_required_anti = (
            [t.infos[i] for i in np.flatnonzero(anti)] if anti.any() else [])
        self._affinity_gen = self.table.generation

    @property
    def any_pods_with_affinity(self) -> bool:
        """Whether some node has a pod with (anti-)affinity (no list built)."""
        t = self.table
        return bool(t._with_affinity[: t.n].any())

    @property
    def any_pods_with_required_anti_affinity(self) -> bool:
        """Whether some node has a pod with required anti-affinity (no list built)."""
        t = self.table
        return bool(t._with_required_anti[: t.n].any())

    @property
    def have_pods_with_affinity(self) -> list[NodeInfo]:
        """Nodes with at least one pod that has (anti-)affinity (refreshed by generation)."""
        self._refresh_affinity_lists()
        return self._with_affinity

    @property
    def have_pods_with_required_anti_affinity(self) -> list[NodeInfo]:
        """Nodes with at least one pod that has required anti-affinity."""
        self._refresh_affinity_lists()
        return self._with_required_anti
