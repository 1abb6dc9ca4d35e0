"""Extension points of the scheduling framework, one Protocol each (upstream interface.go).

Contract:
* A plugin is an object with a ``name`` attribute implementing any subset of the Protocols below;
  which points it is *enabled* at is the profile's decision (multiPoint expands to every point it
  implements). ``runtime_checkable`` lets the runtime discover implemented points; mypy enforces
  signatures where a plugin is assigned to a Protocol-typed variable (each plugin module ends
  with such a compile-time check).
* Returning ``None`` for a status means Success (cheap on the hot path).
* Filter and Score have a per-node form (``filter``/``score``, against one NodeInfo: used for
  nominated pods, preemption dry runs and plugins that cannot vectorize) and an optional batch
  form (``filter_nodes``/``score_nodes``, over many snapshot rows at once). A plugin that offers
  the batch form must give the same answers as its per-node form; tests check both.
* ``rows`` are row numbers in the snapshot's NodeTable, valid for the current cycle only.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import ClusterEventWithHint, PodInfo, QueuedPodInfo
from pyscheduler.model.pod import Pod

if TYPE_CHECKING:
    from pyscheduler.cache.node_info import NodeInfo
    from pyscheduler.cache.snapshot import Snapshot

I64 = npt.NDArray[np.int64]
BoolArr = npt.NDArray[np.bool_]

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0


@dataclass(slots=True)
class Failure:
    """One reason a batch filter rejected some rows; ``mask`` is aligned with the input rows."""

    reason: str
    mask: BoolArr
    code: Code = Code.UNSCHEDULABLE


@dataclass(slots=True)
class FilterVerdict:
    """Result of a batch filter: which input rows pass, and why the others do not.

    Every rejected row must be covered by at least one Failure mask (a row may carry several
    reasons, e.g. "Insufficient cpu" and "Insufficient memory").
    """

    passed: BoolArr
    failures: list[Failure] = field(default_factory=list)


@dataclass(slots=True)
class PreFilterResult:
    """Restricts filtering to these node names (None = all nodes), e.g. from NodeName."""

    node_names: set[str] | None = None

    def merge(self, other: PreFilterResult | None) -> PreFilterResult:
        if other is None or other.node_names is None:
            return self
        if self.node_names is None:
            return PreFilterResult(set(other.node_names))
        return PreFilterResult(self.node_names & other.node_names)


@dataclass(slots=True)
class PostFilterResult:
    nominated_node_name: str = ""


@runtime_checkable
class Plugin(Protocol):
    name: str


@runtime_checkable
class PreEnqueuePlugin(Plugin, Protocol):
    def pre_enqueue(self, pod: Pod) -> Status | None:
        """Whether the pod may enter activeQ at all (e.g. scheduling gates removed)."""
        ...


@runtime_checkable
class QueueSortPlugin(Plugin, Protocol):
    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
        """Whether a should be popped before b."""
        ...


@runtime_checkable
class EnqueueExtensions(Plugin, Protocol):
    def events_to_register(self) -> list[ClusterEventWithHint]:
        """Cluster events that may make a pod this plugin rejected schedulable."""
        ...


@runtime_checkable
class PreFilterExtensions(Protocol):
    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo,
                node_info: NodeInfo) -> Status | None:
        """Update the PreFilter state as if pod_to_add were on node_info."""
        ...

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo,
                   node_info: NodeInfo) -> Status | None:
        """Update the PreFilter state as if pod_to_remove were gone from node_info."""
        ...


@runtime_checkable
class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(self, state: CycleState, pod: PodInfo,
                   snapshot: Snapshot) -> tuple[PreFilterResult | None, Status | None]:
        """Precompute per-cycle state; may reject the pod or narrow the node set."""
        ...

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        """AddPod/RemovePod hooks, or None when the state does not depend on other pods."""
        ...


@runtime_checkable
class FilterPlugin(Plugin, Protocol):
    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """Whether the pod can run on this node."""
        ...


@runtime_checkable
class BatchFilterPlugin(FilterPlugin, Protocol):
    def filter_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                     rows: I64) -> FilterVerdict | None:
        """Filter many rows at once; None means every row passes."""
        ...


@runtime_checkable
class PostFilterPlugin(Plugin, Protocol):
    def post_filter(self, state: CycleState, pod: PodInfo,
                    diagnosis: Any) -> tuple[PostFilterResult | None, Status | None]:
        """Runs when no node fits (preemption). diagnosis is framework.runtime.Diagnosis."""
        ...


@runtime_checkable
class PreScorePlugin(Plugin, Protocol):
    def pre_score(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                  rows: I64) -> Status | None:
        """Precompute scoring state over the feasible rows; Skip disables this Score."""
        ...


@runtime_checkable
class ScorePlugin(Plugin, Protocol):
    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """A raw score for one feasible node."""
        ...


@runtime_checkable
class BatchScorePlugin(ScorePlugin, Protocol):
    def score_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                    rows: I64) -> I64:
        """Raw scores for many feasible rows at once (same values as ``score``)."""
        ...


@runtime_checkable
class NormalizeScorePlugin(Plugin, Protocol):
    def normalize_score(self, state: CycleState, pod: PodInfo, scores: I64) -> None:
        """Rescale this plugin's raw scores (aligned with the feasible rows) in place to 0..100."""
        ...


@runtime_checkable
class ReservePlugin(Plugin, Protocol):
    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """Claim resources this plugin tracks for the chosen node."""
        ...

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """Undo reserve (must be idempotent)."""
        ...


@runtime_checkable
class PermitPlugin(Plugin, Protocol):
    def permit(self, state: CycleState, pod: PodInfo,
               node_name: str) -> tuple[Status | None, float]:
        """Allow (None), reject, or Wait with a timeout in seconds."""
        ...


@runtime_checkable
class PreBindPlugin(Plugin, Protocol):
    async def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """Work that must finish before the bind (e.g. binding volumes)."""
        ...


@runtime_checkable
class BindPlugin(Plugin, Protocol):
    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """Bind the pod; Status Skip passes to the next bind plugin."""
        ...


@runtime_checkable
class PostBindPlugin(Plugin, Protocol):
    def post_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """Informational, after a successful bind."""
        ...


class Lister(Protocol):
    """Read access to an informer's indexer."""

    def get_by_key(self, key: str) -> Any | None: ...

    def list(self) -> list[Any]: ...

    def by_index(self, index_name: str, value: str) -> builtins.list[Any]: ...


class Handle(Protocol):
    """What plugins may use from the framework (upstream framework.Handle)."""

    @property
    def snapshot(self) -> Snapshot: ...

    @property
    def profile_name(self) -> str: ...

    def lister(self, resource: str) -> Lister | None:
        """The indexer for a resource ("namespaces", "persistentvolumeclaims", ...), if watched."""
        ...
