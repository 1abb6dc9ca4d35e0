"""NamespaceUsage: the requests of the pods the snapshot holds, summed per namespace.

Contract:
* ``refresh(snapshot)`` brings the sums up to date with the snapshot's nodes: every pod on a
  node of the table counts, bound or assumed (the cache holds both), so a pod counts from the
  moment the scheduling cycle assumes it and stops counting when a failed bind forgets it or
  its deletion reaches the informer. Nothing is read from any object's status: the figures are
  rebuilt from the pods themselves, which is what makes them safe across restarts.
* It is incremental: a full pass the first time (or when the snapshot's table is another
  object), then only the rows whose NodeInfo generation moved since the last refresh (every
  pod add/remove bumps it; generations are process-wide unique, so a row now holding another
  NodeInfo is seen as changed too). A changed node folds only the difference between the pods
  it held and the pods it holds, keyed by UID (a pod updated in place is a new PodInfo and is
  refolded).
* ``used[ns]`` maps resource name -> integer (cpu in millicores) as ``PodInfo.requests``;
  ``terminating[ns]`` is the part of it held by pods being deleted (``deletionTimestamp``
  set); ``pods[ns]`` maps UID -> (node name, PodInfo). Both are the tracker's own: callers copy
  before modifying. Namespaces with no pod left are dropped.
* Pods on nodes the table does not hold (a node object not yet seen, or deleted while its pods
  remain) are not counted: the snapshot does not show them to any plugin either.
"""

from __future__ import annotations

import numpy as np

from pyscheduler.framework.interfaces import I64
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.snapshot import NodeTable, Snapshot
from pyscheduler.framework.types import PodInfo

Resources = dict[str, int]


def add_into(into: Resources, other: Resources, sign: int = 1) -> None:
    """``into += sign * other``, per resource; entries that reach 0 are dropped."""
    for k, v in other.items():
        n = into.get(k, 0) + sign * v
        if n:
            into[k] = n
        else:
            into.pop(k, None)


class NamespaceUsage:
    """Per-namespace sums of pod requests over the snapshot (see the module contract)."""

    __slots__ = ("_gens", "_node_pods", "_rows", "_table", "pods", "terminating", "used")

    def __init__(self) -> None:
        self._table: NodeTable | None = None
        self._gens: I64 = np.zeros(0, dtype=np.int64)
        self._rows: list[str] = []  # node name per row at the last refresh
        self._node_pods: dict[str, dict[str, PodInfo]] = {}
        self.used: dict[str, Resources] = {}
        self.terminating: dict[str, Resources] = {}
        self.pods: dict[str, dict[str, tuple[str, PodInfo]]] = {}

    def refresh(self, snapshot: Snapshot) -> None:
        """Fold every change of the snapshot's pods since the last call."""
        t = snapshot.table
        gens = t.row_generations
        if t is not self._table:
            self._table = t
            dirty = set(self._node_pods) | {ni.name for ni in t.infos}
        else:
            old, n = self._gens, len(gens)
            k = min(n, len(old))
            rows = np.flatnonzero(gens[:k] != old[:k]).tolist()
            rows += list(range(k, max(n, len(old))))
            dirty = set()
            for r in rows:
                if r < len(self._rows):
                    dirty.add(self._rows[r])
                if r < n:
                    dirty.add(t.infos[r].name)
            if not dirty:
                return
        for name in dirty:
            self._redo(name, snapshot.get(name))
        self._gens = gens.copy()
        self._rows = [ni.name for ni in t.infos]

    def _redo(self, node: str, ni: NodeInfo | None) -> None:
        old = self._node_pods.get(node, {})
        new = dict(ni.pods) if ni is not None else {}
        for uid, pi in old.items():
            if new.get(uid) is not pi:
                self._fold(node, pi, -1)
        for uid, pi in new.items():
            if old.get(uid) is not pi:
                self._fold(node, pi, 1)
        if new:
            self._node_pods[node] = new
        else:
            self._node_pods.pop(node, None)

    def _fold(self, node: str, pi: PodInfo, sign: int) -> None:
        ns = pi.pod.metadata.namespace
        used = self.used.setdefault(ns, {})
        add_into(used, pi.requests, sign)
        if pi.pod.metadata.deletion_timestamp is not None:
            term = self.terminating.setdefault(ns, {})
            add_into(term, pi.requests, sign)
            if not term:
                del self.terminating[ns]
        pods = self.pods.setdefault(ns, {})
        if sign > 0:
            pods[pi.uid] = (node, pi)
        elif pi.uid in pods and pods[pi.uid][0] == node:
            # a pod seen moving nodes may be added on its new node before it is removed here
            del pods[pi.uid]
        if not pods:
            del self.pods[ns]
            self.used.pop(ns, None)
            self.terminating.pop(ns, None)
