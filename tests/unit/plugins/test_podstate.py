"""PodState (scheduler-plugins pkg/podstate): terminating pods up, nominated pods down."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
import numpy as np
from builders import FakeHandle, make_node, make_pod, new_state, pod_info, scores_both, snapshot_of

from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.pod import Pod
from pyscheduler.plugins.podstate import PodState, normalize


class _Nominator:
    def __init__(self, by_node: dict[str, int]) -> None:
        self.by_node = by_node

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return [pod_info(make_pod(f"nom-{node_name}-{i}"))
                for i in range(self.by_node.get(node_name, 0))]

    def nominated_nodes(self) -> Iterable[str]:
        return [n for n, k in self.by_node.items() if k]


class _Handle(FakeHandle):
    def __init__(self, snapshot: Snapshot, nominated: dict[str, int]) -> None:
        super().__init__(snapshot)
        self.nominator = _Nominator(nominated)


def _terminating(name: str, node: str) -> Pod:
    pod = make_pod(name, node=node)
    meta = msgspec.structs.replace(pod.metadata, deletion_timestamp="2026-12-04T00:00:00Z")
    return msgspec.structs.replace(pod, metadata=meta)


def test_upstream_scoring_terminating_minus_nominated_then_min_max() -> None:
    # scheduler-plugins pod_state_test.go's shape: node-a two terminating pods, node-b one
    # nominated pod, node-c one of each, node-d nothing.
    nodes = [make_node(n) for n in ("node-a", "node-b", "node-c", "node-d")]
    pods = [_terminating("t1", "node-a"), _terminating("t2", "node-a"),
            _terminating("t3", "node-c"), make_pod("running", node="node-d")]
    snap = snapshot_of(nodes, pods)
    pl = PodState(_Handle(snap, {"node-b": 1, "node-c": 1}))
    pod = pod_info(make_pod("p"))
    raw = scores_both(pl, new_state(), pod, snap, normalize=False)
    assert raw == {"node-a": 2, "node-b": -1, "node-c": 0, "node-d": 0}
    got = scores_both(pl, new_state(), pod, snap)
    # (s - lowest) * 100 // (highest - lowest): range 3
    assert got == {"node-a": 100, "node-b": 0, "node-c": 33, "node-d": 33}


def test_normalize_all_equal_is_min_score() -> None:
    scores = np.array([5, 5, 5], dtype=np.int64)
    normalize(scores)
    assert scores.tolist() == [0, 0, 0]
    empty = np.array([], dtype=np.int64)
    normalize(empty)
    assert empty.tolist() == []
