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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import ClusterEventWithHint, PodInfo, QueuedPodInfo
from pyscheduler.loadmetrics.types import LoadSourceSpec, LoadView
from pyscheduler.model.pod import Pod

if TYPE_CHECKING:
    from pyscheduler.framework.node_info import NodeInfo
    from pyscheduler.framework.snapshot import Snapshot
    from pyscheduler.framework.waiting_pods import WaitingPod

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
        """Upstream PreFilterResult.Merge: the intersection; None (all nodes) is neutral."""
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
class NodeOnlyFilter(Plugin, Protocol):
    """Optional, for filter plugins whose verdict depends only on the pod and the Node object
    (never on the pods bound or nominated there), and which reject only as
    UnschedulableAndUnresolvable. Preemption's dry runs do not run such filters when they
    lead the filter order: on every node preemption considers they passed already, and
    evicting pods cannot change that."""

    def node_only_filter(self) -> bool:
        """True when the contract above holds for this plugin."""
        ...


@runtime_checkable
class FilterExplainer(Plugin, Protocol):
    """Optional, for filter plugins: say in words the smallest change that would let this node
    pass this filter (the dry run's --explain). Plugins without it are explained by their
    rejection reasons, so a new plugin needs nothing to appear there."""

    def explain_filter(self, state: CycleState, pod: PodInfo,
                       node_info: NodeInfo) -> str | None:
        """E.g. "250m cpu were free there"; None when there is nothing simple to say."""
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


@dataclass(frozen=True, slots=True)
class ScoreDetail:
    """What a score plugin computed one node's raw score from (the dry run's --explain):
    ``figures`` in the plugin's terms and display order, the age of the measured data they
    came from (None: none was used), and why the node was scored without it, if it was."""

    figures: dict[str, float | int | str]
    sample_age_seconds: float | None = None
    fallback: str = ""


@runtime_checkable
class ScoreExplainer(Plugin, Protocol):
    """Optional, for score plugins: the figures behind one node's score, computed as
    ``score`` computes them, in the same cycle. Plugins without it show their scores only."""

    def explain_score(self, state: CycleState, pod: PodInfo,
                      node_info: NodeInfo) -> ScoreDetail:
        """The figures ``score`` used for this node."""
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


@dataclass(frozen=True, slots=True)
class GangPolicy:
    """An all-or-nothing constraint on a pod's group (upstream GangSchedulingPolicy; the
    scheduler-plugins PodGroup's minMember): at least ``min_count`` of ``members`` are placed
    together, or none is.

    ``members`` are the group's non-terminal pods the scheduler knows of (bound ones too);
    ``name`` names the group in messages ("PodGroup ns/name"). ``timeout`` is the group's
    Permit timeout, also how long it may stay partly bound (scheduler/podgroup_timeout.py)."""

    key: str
    name: str
    min_count: int
    members: tuple[Pod, ...]
    plugin: str
    # How long the group may stay partly bound (seconds; 0: no limit): the Permit timeout.
    timeout: float = 0.0
    # After a failed group cycle, how long the group is held back (seconds; Coscheduling's
    # podGroupBackoffSeconds; 0: only the members' own pod backoff).
    backoff: float = 0.0
    # Why the group may not be scheduled at all (upstream validatePodGroup, e.g. a member's
    # priority is not the group's): the cycle then fails every member with this error.
    invalid: str = ""


@dataclass(frozen=True, slots=True)
class PartialClock:
    """What the API says about a partly bound group's timeout clock
    (scheduler/podgroup_timeout.py).

    ``settled``: the group is not to be treated as partly bound now (it is past its scheduling,
    or the API has not caught up with it yet). ``start``: epoch seconds the clock runs from;
    None when the API does not say (it then runs from when this process first saw the group
    partly bound)."""

    settled: bool
    start: float | None = None


@runtime_checkable
class GangPlugin(Plugin, Protocol):
    """A plugin that knows pod groups (GangScheduling, Coscheduling): the scheduler runs a pod
    group cycle for a pod whose group has a gang policy (upstream's PlacementFeasible plugins
    play this role in its workload scheduling cycle)."""

    def gang_policy(self, pod: Pod) -> GangPolicy | None:
        """The gang constraint on ``pod``'s group, or None if it has none."""
        ...

    def group_attempted(self, policy: GangPolicy, scheduled: bool, message: str, *,
                        error: bool = False) -> None:
        """A pod group cycle for ``policy``'s group ended, ``error`` when it failed with an
        error rather than a misfit (upstream then writes the group's
        PodGroupInitiallyScheduled condition)."""
        ...

    def partial_clock(self, policy: GangPolicy) -> PartialClock:
        """Whether ``policy``'s group counts as partly bound now, and since when (the API's
        word: a restart must not restart the clock)."""
        ...


class GroupPlacer(Protocol):
    """What the pod group cycle lends a group preemption plugin: a what-if placement of the
    group's quorum with some pods taken out of the cluster."""

    def place(self, removed: Sequence[PodInfo]) -> dict[str, str] | None:
        """With ``removed`` (assigned pods) not counted, where the quorum would go (member UID
        -> node), or None when it still does not fit. The members' placements are undone
        before it returns; the pods taken out are put back when the plugin's call ends."""
        ...

    def fits(self, placement: dict[str, str], removed: Sequence[PodInfo],
             only: set[str] | None = None) -> bool:
        """With ``removed`` not counted, whether every member of ``placement`` (or only those
        whose UIDs are in ``only``; the others are counted on their nodes unchecked) still
        passes PreFilter, Filter and Reserve on its node there, each counting the ones before
        it. Cheaper than ``place`` (one node per member, no scoring); undone as ``place``."""
        ...


@dataclass(slots=True)
class GroupPreemption:
    """A group preemption's outcome and its status message. ``nominations``: the quorum's
    nodes (member UID -> node) when victims are being evicted; empty when preemption cannot
    help (nominations are cleared); None when the group may not preempt now (nominations are
    kept, as upstream's "not eligible")."""

    nominations: dict[str, str] | None
    message: str


@runtime_checkable
class GroupPreemptionPlugin(Plugin, Protocol):
    """A PostFilter plugin that can preempt for a whole pod group at once (DefaultPreemption):
    the pod group cycle calls it when the quorum does not fit."""

    def preempt_group(self, policy: GangPolicy, members: Sequence[PodInfo],
                      needed: int, placer: GroupPlacer) -> GroupPreemption | None:
        """Choose victims, across nodes, whose eviction lets ``needed`` of ``members`` fit,
        and start evicting them; None when preemption does not apply to this group (no
        message)."""
        ...


class Lister(Protocol):
    """Read access to an informer's indexer."""

    def get_by_key(self, key: str) -> Any | None:
        """The object stored under 'namespace/name' (or 'name'), or None."""
        ...

    def list(self) -> list[Any]:
        """Every object the indexer holds."""
        ...

    def by_index(self, index_name: str, value: str) -> builtins.list[Any]:
        """Upstream ByIndex: the objects ``index_name``'s function maps to ``value``."""
        ...


class BindingClient(Protocol):
    """The API calls binding makes (upstream: the Handle's ClientSet)."""

    async def bind(self, pod: Pod, node_name: str) -> None:
        """Create the pod's Binding to ``node_name``; raise the API error on failure."""
        ...


class VolumeClient(Protocol):
    """The API calls VolumeBinding's PreBind makes (upstream: PV and PVC Update).

    Both send a JSON merge patch carrying ``metadata.resourceVersion``, so a stale decision
    fails with 409 Conflict, and return the server's answer (the updated object) as raw JSON."""

    async def patch_persistent_volume(self, name: str, patch: dict[str, Any]) -> bytes:
        """PATCH /api/v1/persistentvolumes/{name} (merge patch); the updated PV."""
        ...

    async def patch_persistent_volume_claim(self, namespace: str, name: str,
                                            patch: dict[str, Any]) -> bytes:
        """PATCH /api/v1/namespaces/{ns}/persistentvolumeclaims/{name}; the updated PVC."""
        ...


class StatusClient(Protocol):
    """Status writes of objects other than pods (a PodGroup's conditions, upstream
    PatchPodGroupStatus): fire-and-forget through the rate-limited, leader-fenced writer."""

    def patch_status(self, path: str, patch: dict[str, Any]) -> None:
        """JSON merge patch of the status subresource at ``path``; coalesces per path."""
        ...


class EventRecorder(Protocol):
    """events.k8s.io/v1 Events about pods (upstream: the Handle's EventRecorder)."""

    def event(self, pod: Pod, type_: str, reason: str, action: str, note: str,
              related: Pod | None = None) -> None:
        """Record an event regarding ``pod``; fire and forget (never raises)."""
        ...


class PodNominator(Protocol):
    """Nominated pods (upstream framework.PodNominator); the queue's nominator implements it."""

    def add_nominated_pod(self, pod_info: PodInfo, node_name: str | None = None) -> None:
        """Nominate the pod to ``node_name`` (or to its status.nominatedNodeName)."""
        ...

    def delete_nominated_pod_if_exists(self, pod: Pod) -> None:
        """Forget the pod's nomination, if it has one."""
        ...

    def nominated_pods_for_node(self, node_name: str) -> builtins.list[PodInfo]:
        """The pods nominated to ``node_name``."""
        ...

    def nominated_nodes(self) -> Iterable[str]:
        """Names of nodes with at least one nominated pod."""
        ...


class PodActivator(Protocol):
    """Moves pods to activeQ now (upstream framework.PodActivator)."""

    def activate(self, pods: Iterable[Pod]) -> None:
        """Pods waiting in the unschedulable pool or backoffQ go to activeQ at once."""
        ...


class LoadMetrics(Protocol):
    """Node load as a load source last reported it (pyscheduler/loadmetrics): one poller per
    distinct source, shared by every plugin and profile asking for it."""

    @property
    def spec(self) -> LoadSourceSpec:
        """The source this monitor polls."""
        ...

    def view(self) -> LoadView:
        """The current immutable view; read it once per cycle."""
        ...


class PreemptionCandidate(Protocol):
    """A node and the pods to evict there (preemption/candidates.Candidate)."""

    @property
    def node_name(self) -> str:
        """The node where the victims would be evicted."""
        ...

    @property
    def victims(self) -> builtins.list[PodInfo]:
        """The pods to evict on that node."""
        ...


class PreemptionExecutor(Protocol):
    """Carries out chosen preemptions asynchronously (upstream preemption.Executor); one per
    process, shared by every profile."""

    def prepare_candidate_async(self, candidate: PreemptionCandidate, preemptor: Pod,
                                plugin: str, lower_nominated: Sequence[Pod] = ()) -> bool:
        """Start evicting ``candidate``'s victims; False when there was nothing to do."""
        ...

    def is_pod_running_preemption(self, uid: str) -> bool:
        """Whether the preemption started for this preemptor UID is still making calls."""
        ...


class PluginsRunner(Protocol):
    """Running this profile's plugins for hypothetical states (upstream PluginsRunner); what
    preemption's dry runs use."""

    def run_filter_with_nominated_pods(self, state: CycleState, pod: PodInfo,
                                       node_info: NodeInfo) -> Status | None:
        """All filters against one node, with nominated pods of equal or higher priority."""
        ...

    def nominated_pods_counted(self, pod: PodInfo, node_info: NodeInfo) -> list[PodInfo]:
        """The nominated pods run_filter_with_nominated_pods adds to ``node_info`` for
        ``pod``: equal or higher priority, neither ``pod`` itself nor pods the node already
        holds."""
        ...

    def runs_filter(self, plugin: str, state: CycleState) -> bool:
        """Whether the Filter plugin named ``plugin`` runs in this cycle (enabled in the
        profile and not skipped by its PreFilter)."""
        ...

    def filters_run(self, state: CycleState) -> tuple[str, ...]:
        """The Filter plugins that run with ``state`` (enabled, not skipped, not settled), in
        the profile's order."""
        ...

    def runs_pre_filter_extensions(self, state: CycleState) -> bool:
        """Whether any PreFilter plugin's AddPod/RemovePod runs with ``state`` (one not
        skipped has extensions)."""
        ...

    def settled_filters(self, state: CycleState) -> frozenset[str]:
        """The leading filters (in order, after skips) that are NodeOnlyFilters: a node that
        failed a later filter passed these, whatever happens to its pods."""
        ...

    def run_pre_filter_extension_add_pod(self, state: CycleState, pod: PodInfo,
                                         pod_to_add: PodInfo,
                                         node_info: NodeInfo) -> Status | None:
        """Every PreFilter plugin's AddPod for ``pod_to_add`` on ``node_info``."""
        ...

    def run_pre_filter_extension_remove_pod(self, state: CycleState, pod: PodInfo,
                                            pod_to_remove: PodInfo,
                                            node_info: NodeInfo) -> Status | None:
        """Every PreFilter plugin's RemovePod for ``pod_to_remove`` on ``node_info``."""
        ...


class Handle(PluginsRunner, Protocol):
    """What plugins may use from the scheduler (upstream framework.Handle). The profile's
    Framework implements it; plugins get it in ``new(args, handle)`` and reach nothing else."""

    @property
    def snapshot(self) -> Snapshot:
        """The live snapshot the current cycle reads (see framework/snapshot.py)."""
        ...

    @property
    def profile_name(self) -> str:
        """The profile's schedulerName."""
        ...

    def lister(self, resource: str) -> Lister | None:
        """The indexer for a resource ("namespaces", "persistentvolumeclaims", ...), if watched."""
        ...

    @property
    def binding_client(self) -> BindingClient:
        """Where binds go (the rate-limited API writer)."""
        ...

    @property
    def volume_client(self) -> VolumeClient:
        """Where VolumeBinding's PV/PVC writes go (the rate-limited API writer)."""
        ...

    @property
    def status_client(self) -> StatusClient:
        """Where status writes of non-pod objects go (the rate-limited API writer)."""
        ...

    @property
    def event_recorder(self) -> EventRecorder:
        """Where this profile's events go."""
        ...

    @property
    def nominator(self) -> PodNominator:
        """The scheduler's nominated pods."""
        ...

    @property
    def preemption_executor(self) -> PreemptionExecutor:
        """The process-wide preemption executor."""
        ...

    @property
    def preemption_allowed_scheduler_names(self) -> frozenset[str] | None:
        """schedulerNames whose pods this scheduler may preempt (None: all)."""
        ...

    def get_waiting_pod(self, uid: str) -> WaitingPod | None:
        """The pod with this UID held at Permit, in any profile."""
        ...

    def reject_waiting_pod(self, uid: str, plugin: str, msg: str) -> bool:
        """Reject the pod with this UID held at Permit; False if none is waiting."""
        ...

    def iterate_waiting_pods(self) -> Iterator[WaitingPod]:
        """Every pod held at Permit, in any profile."""
        ...

    def activate(self, pods: Iterable[Pod]) -> None:
        """Move these pods to activeQ now (upstream Handle.Activate)."""
        ...

    def load_metrics(self, spec: LoadSourceSpec) -> LoadMetrics:
        """The node load monitor of ``spec`` (a monitor that never has data when the
        scheduler runs without a load pipeline, e.g. offline: plugins then fall back)."""
        ...
