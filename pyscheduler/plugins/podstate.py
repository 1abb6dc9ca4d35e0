"""PodState: favour nodes with terminating pods, avoid nodes with nominated pods
(scheduler-plugins pkg/podstate).

Contract:
* Raw score = (pods on the node with metadata.deletionTimestamp set) - (pods nominated to the
  node, from the Handle's nominator).
* NormalizeScore maps [lowest, highest] onto [0, 100] with integer division (upstream); when
  every node has the same raw score, every node gets 0.
* The batch form counts terminating pods per row once per NodeInfo generation.
"""

from __future__ import annotations

import numpy as np

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    MAX_NODE_SCORE,
    MIN_NODE_SCORE,
    BatchScorePlugin,
    Handle,
    NormalizeScorePlugin,
)
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.types import PodInfo

NAME = "PodState"


def terminating_pods(info: NodeInfo) -> int:
    """Pods on the node whose deletion has started."""
    return sum(1 for pi in info.pods.values() if pi.pod.metadata.deletion_timestamp is not None)


def normalize(scores: I64) -> None:
    """Upstream NormalizeScore, in place."""
    if len(scores) == 0:
        return
    highest = int(scores.max())
    lowest = int(scores.min())
    old_range = highest - lowest
    if old_range == 0:
        scores[:] = MIN_NODE_SCORE
        return
    new_range = MAX_NODE_SCORE - MIN_NODE_SCORE
    scores[:] = (scores - lowest) * new_range // old_range + MIN_NODE_SCORE


class PodState:
    """Score (batch) and NormalizeScore."""

    def __init__(self, handle: Handle) -> None:
        """A PodState reading nominations through ``handle``."""
        self.name = NAME
        self.handle = handle
        # node name -> (NodeInfo generation, terminating pods)
        self._terminating: dict[str, tuple[int, int]] = {}

    def _terminating_of(self, info: NodeInfo) -> int:
        cached = self._terminating.get(info.name)
        if cached is not None and cached[0] == info.generation:
            return cached[1]
        n = terminating_pods(info)
        if len(self._terminating) > 4 * 65536:  # bound the memo as nodes come and go
            self._terminating.clear()
        self._terminating[info.name] = (info.generation, n)
        return n

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """Terminating pods minus nominated pods on the node."""
        nominated = len(self.handle.nominator.nominated_pods_for_node(node_info.name))
        return self._terminating_of(node_info) - nominated

    def score_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                    rows: I64) -> I64:
        """The same raw scores for many rows; nominations looked up only where there are."""
        infos = snapshot.node_infos
        out = np.fromiter((self._terminating_of(infos[r]) for r in rows), dtype=np.int64,
                          count=len(rows))
        nominator = self.handle.nominator
        nominated_nodes = set(nominator.nominated_nodes())
        if nominated_nodes:
            for i, r in enumerate(rows):
                name = infos[r].name
                if name in nominated_nodes:
                    out[i] -= len(nominator.nominated_pods_for_node(name))
        return out

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: I64) -> None:
        """Min-max onto 0..100 (all equal: 0)."""
        normalize(scores)


def new(args: None, handle: Handle) -> PodState:
    """Upstream New (PodState takes no args)."""
    return PodState(handle)


SPEC = PluginSpec(NAME, new)


def _check(p: PodState) -> tuple[BatchScorePlugin, NormalizeScorePlugin]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p
