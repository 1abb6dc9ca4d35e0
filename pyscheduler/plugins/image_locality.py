"""ImageLocality: prefer nodes that already have the pod's container images.

Contract (upstream imagelocality/image_locality.go and the cache's image states):
* A node's images are the names in ``status.images[].names``, each with its image's
  ``sizeBytes``. A container image name is normalized by appending ":latest" when it has no tag
  (the last ":" is not after the last "/"); nothing else is rewritten, exactly as upstream's
  ``normalizedImageName`` (upstream leaves "docker.io/library/" prefixes as a TODO, so
  "nginx" and "docker.io/library/nginx:latest" do not match there or here).
* Raw score of a node: for every init and regular container whose normalized image the node
  has, ``int64(float64(size) * (nodes having that name / all nodes))`` summed (a container image
  listed twice counts twice), then clamped to [23 MiB, 1000 MiB x number of containers] and
  scaled to 0..100 with integer math. No NormalizeScore.
* Departure: a name's size is the size *this node* reports. Upstream's cache keeps one size per
  name, taken from whichever node reported it first; the two differ only when nodes report
  different sizes for the same name.
* Cluster-wide counts come from an image index this plugin keeps over the snapshot's rows,
  refreshed once per cycle (by the first Score call; there is no PreScore, as upstream) by
  comparing each row's node object with the one it was built from (node objects are replaced,
  never mutated, on every update), so only changed rows are re-read. Per-name size columns
  are built lazily for the names pods ask about and the batch score is one numpy pass per
  distinct image of the pod.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    MAX_NODE_SCORE,
    BatchScorePlugin,
    Handle,
)
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.snapshot import NodeTable, Snapshot
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod

NAME = "ImageLocality"
STATE_KEY = "Score" + NAME

MB = 1024 * 1024
# Bounds of the image score range: a reasonable size range for compressed images in
# registries (upstream's 90th percentile of Docker Hub images falls within it).
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB

DEFAULT_TAG = "latest"
# Cached per-name columns; beyond this many distinct names the cache starts over.
MAX_COLUMNS = 64


def normalized_image_name(name: str) -> str:
    """The name as the node status reports it: ":latest" added when there is no tag."""
    if name.rfind(":") <= name.rfind("/"):
        return f"{name}:{DEFAULT_TAG}"
    return name


def node_images(node: Node | None) -> dict[str, int]:
    """Image name -> size on one node (the first image listing a name wins)."""
    out: dict[str, int] = {}
    if node is None:
        return out
    for image in node.status.images:
        for name in image.names:
            out.setdefault(name, image.size_bytes)
    return out


def pod_image_names(pod: Pod) -> list[str]:
    """Normalized images of the init containers, then the regular containers."""
    return [normalized_image_name(c.image)
            for c in (*pod.spec.init_containers, *pod.spec.containers)]


def scaled_image_score(size: int, num_nodes: int, total_nodes: int) -> int:
    """The image size scaled by how widely it has spread (against "node heating")."""
    spread = float(num_nodes) / float(total_nodes)
    return int(float(size) * spread)


def calculate_priority(sum_scores: int, num_containers: int) -> int:
    """Clamp to [min, max x containers] and scale to 0..MAX_NODE_SCORE."""
    max_threshold = MAX_CONTAINER_THRESHOLD * num_containers
    if sum_scores < MIN_THRESHOLD:
        sum_scores = MIN_THRESHOLD
    elif sum_scores > max_threshold:
        sum_scores = max_threshold
    # Non-negative numerator and positive denominator whenever there is a container.
    return MAX_NODE_SCORE * (sum_scores - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


class ImageIndex:
    """Per snapshot row: the node's image map; per name: how many rows have it.

    ``refresh`` brings it up to date with the table: nothing when the table's (node)
    generation did not move, else one identity pass over the rows plus the image lists of the
    rows whose node object (or NodeInfo) changed.
    """

    __slots__ = ("_columns", "_generation", "_info_ids", "_infos", "_maps", "_node_ids",
                 "_nodes", "counts", "table")

    def __init__(self, table: NodeTable) -> None:
        self.table = table
        self._generation = -1
        self._infos: list[NodeInfo] = []
        self._nodes: list[Node | None] = []
        self._node_ids: npt.NDArray[np.uint64] = np.zeros(0, dtype=np.uint64)
        self._info_ids: npt.NDArray[np.uint64] = np.zeros(0, dtype=np.uint64)
        self._maps: list[dict[str, int]] = []
        self.counts: dict[str, int] = {}
        self._columns: dict[str, I64] = {}

    def refresh(self) -> None:
        table = self.table
        # A table that counts node-object changes separately (``node_generation``: bumped
        # when a node is added, updated or removed, not on pod churn) lets cycles skip the
        # row pass unless a node changed; otherwise any table change (every assumed pod)
        # costs one identity pass.
        gen = table.node_generation
        if gen == self._generation:
            return
        self._generation = gen
        infos = table.infos
        nodes = [i.node for i in infos]
        n = len(infos)
        old_n = len(self._infos)
        common = min(n, old_n)
        # Changed rows by identity, compared as id arrays (one C-speed pass each). Safe: the
        # previous objects stay referenced (self._nodes, self._infos) until replaced here, so
        # their ids cannot be reused by new objects. A node replaced by an equal copy (a
        # relist) is re-read once.
        node_ids = np.fromiter(map(id, nodes), dtype=np.uint64, count=n)
        info_ids = np.fromiter(map(id, infos), dtype=np.uint64, count=n)
        changed = np.flatnonzero((node_ids[:common] != self._node_ids[:common])
                                 | (info_ids[:common] != self._info_ids[:common])).tolist()
        if not changed and n == old_n:
            return
        for r in range(n, old_n):  # rows that disappeared
            self._drop(self._maps[r])
        del self._maps[n:]
        if n != old_n:
            for name, col in list(self._columns.items()):
                grown = np.zeros(n, dtype=np.int64)
                grown[:common] = col[:common]
                self._columns[name] = grown
        for r in changed:
            self._drop(self._maps[r])
            m = node_images(nodes[r])
            self._maps[r] = m
            self._add(m)
            for name, col in self._columns.items():
                col[r] = m.get(name, 0)
        for r in range(old_n, n):  # new rows
            m = node_images(nodes[r])
            self._maps.append(m)
            self._add(m)
            for name, col in self._columns.items():
                col[r] = m.get(name, 0)
        self._infos = list(infos)
        self._nodes = nodes
        self._node_ids = node_ids
        self._info_ids = info_ids

    def _add(self, m: dict[str, int]) -> None:
        counts = self.counts
        for name in m:
            counts[name] = counts.get(name, 0) + 1

    def _drop(self, m: dict[str, int]) -> None:
        counts = self.counts
        for name in m:
            c = counts[name] - 1
            if c:
                counts[name] = c
            else:
                del counts[name]

    def column(self, name: str) -> I64:
        """Each row's size of image ``name`` (0 when the node does not have it)."""
        col = self._columns.get(name)
        if col is None:
            if len(self._columns) >= MAX_COLUMNS:
                self._columns.clear()
            col = np.fromiter((m.get(name, 0) for m in self._maps), dtype=np.int64,
                              count=len(self._maps))
            self._columns[name] = col
        return col


@dataclass(slots=True)
class _CycleState:
    names: list[str]  # one per container, init containers first
    num_containers: int
    total_nodes: int
    # distinct name -> number of nodes that have it
    num_nodes: dict[str, int]


def _state_of(idx: ImageIndex, pod: PodInfo) -> _CycleState:
    names = pod_image_names(pod.pod)
    return _CycleState(names, len(names), idx.table.n,
                          {n: idx.counts.get(n, 0) for n in set(names)})


@dataclass(slots=True)
class ImageLocality:
    """Score (batch). Like upstream, no PreScore: the per-cycle counts are computed by the first
    Score call of the cycle and kept in the CycleState."""

    handle: Handle | None = None
    name: str = NAME
    _index: ImageIndex | None = field(default=None, init=False, repr=False)

    def _image_index(self, snapshot: Snapshot) -> ImageIndex:
        idx = self._index
        if idx is None or idx.table is not snapshot.table:
            idx = ImageIndex(snapshot.table)
            self._index = idx
        idx.refresh()
        return idx

    def _read_state(self, state: CycleState, pod: PodInfo, snapshot: Snapshot) -> _CycleState:
        s = state.get(STATE_KEY)
        if isinstance(s, _CycleState):
            return s
        s = _state_of(self._image_index(snapshot), pod)
        state.write(STATE_KEY, s)
        return s

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """The image score of one node."""
        s = state.get(STATE_KEY)
        if not isinstance(s, _CycleState):
            if self.handle is None:
                return 0  # no snapshot to count images across the cluster with
            s = self._read_state(state, pod, self.handle.snapshot)
        images = node_images(node_info.node)
        total = 0
        for name in s.names:
            size = images.get(name)
            if size is not None:
                total += scaled_image_score(size, s.num_nodes[name], s.total_nodes)
        return calculate_priority(total, s.num_containers)

    def score_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                    rows: I64) -> I64:
        """The same scores over many rows: one gathered size column per distinct image."""
        s = self._read_state(state, pod, snapshot)
        idx = self._index
        if idx is None or idx.table is not snapshot.table:
            idx = self._image_index(snapshot)
        # else: refreshed when this cycle's state was computed; nothing changes within a cycle
        if not any(s.num_nodes.get(name) for name in s.names):
            # No node has any of the pod's images: every sum is 0, which clamps to the minimum
            # threshold and scores 0 (the common case; skips the gathers and the clip).
            return np.zeros(len(rows), dtype=np.int64)
        total: I64 = np.zeros(len(rows), dtype=np.int64)
        for name in s.names:
            if not s.num_nodes.get(name):
                continue
            spread = float(s.num_nodes[name]) / float(s.total_nodes)
            sizes = idx.column(name)[rows]
            total += (sizes.astype(np.float64) * spread).astype(np.int64)
        max_threshold = MAX_CONTAINER_THRESHOLD * s.num_containers
        if max_threshold <= MIN_THRESHOLD:  # no containers: every node scores 0
            return np.zeros(len(rows), dtype=np.int64)
        clamped = np.clip(total, MIN_THRESHOLD, max_threshold)
        out: I64 = MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)
        return out


def new(args: None, handle: Handle) -> ImageLocality:
    return ImageLocality(handle)


SPEC = PluginSpec(NAME, new, None)


def _check(p: ImageLocality) -> BatchScorePlugin:
    """Compile-time conformance: mypy checks the plugin against the Protocol."""
    return p
