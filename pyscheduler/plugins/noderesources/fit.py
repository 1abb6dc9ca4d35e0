"""NodeResourcesFit: does the node have room for the pod's requests, and how full would it be.

Contract (upstream noderesources/fit.go and its scorers, queueing hints enabled; the scoring
strategies live in least_allocated.py, most_allocated.py and requested_to_capacity_ratio.py):
* PreFilter records the pod's effective requests (``PodInfo.requests``: containers summed, init
  containers maxed, overhead added). Filter rejects a node with one reason per shortfall:
  "Too many pods" when ``pods + 1 > allocatable pods``, then ``Insufficient <resource>`` for cpu,
  memory, ephemeral-storage and each scalar resource (extended, hugepages, ...) the pod requests
  more of than ``allocatable - requested``; zero requests are never checked. A shortfall where
  the request exceeds the node's whole allocatable is UnschedulableAndUnresolvable (preemption
  cannot help); the others are Unschedulable. ``ignoredResources``/``ignoredResourceGroups``
  skip extended resources by name or by the domain before "/".
* Score uses the scoring strategy over ``scoringStrategy.resources`` with upstream's integer
  math: LeastAllocated ``sum(w * (alloc - req) * 100 // alloc) // sum(w)``, MostAllocated
  ``sum(w * min(req, alloc) * 100 // alloc) // sum(w)``, RequestedToCapacityRatio the broken
  linear shape (scores x10) of ``req * 100 // alloc``, weighted over positive resource scores and
  rounded half up. cpu/memory use *non-zero* requests (node and pod); resources with allocatable
  0 on a node, and scalar resources the pod does not request, are left out for that node.
* The batch forms compute the same answers over snapshot columns in one numpy pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    MAX_NODE_SCORE,
    BatchFilterPlugin,
    BatchScorePlugin,
    BoolArr,
    EnqueueExtensions,
    Failure,
    FilterExplainer,
    FilterVerdict,
    Handle,
    PreFilterExtensions,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
)
from pyscheduler.framework.node_info import NodeInfo, parse_allocatable
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import (
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    PodInfo,
    QueueingHint,
    Resource,
)
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.model.quantity import CPU, EPHEMERAL_STORAGE, MEMORY, PODS, format_quantity
from pyscheduler.model.resources import Resources, pod_requests
from pyscheduler.plugins import validation as v
from pyscheduler.plugins.helper import BrokenLinear, ShapePoint
from pyscheduler.plugins.noderesources.least_allocated import (
    least_allocated_score,
    least_allocated_scores,
)
from pyscheduler.plugins.noderesources.most_allocated import (
    most_allocated_score,
    most_allocated_scores,
)
from pyscheduler.plugins.noderesources.requested_to_capacity_ratio import (
    MAX_UTILIZATION,
    requested_to_capacity_ratio_score,
    requested_to_capacity_ratio_scores,
)
from pyscheduler.plugins.noderesources.resource_allocation import (
    ResourceSpec,
    default_resources,
    is_extended_resource_name,
    is_scalar_resource_name,
    node_alloc_request,
    pod_request_list,
    table_alloc_request,
)

NAME = "NodeResourcesFit"
PRE_FILTER_STATE_KEY = "PreFilter" + NAME
PRE_SCORE_STATE_KEY = "PreScore" + NAME

ERR_REASON_TOO_MANY_PODS = "Too many pods"
ERR_REASON_INSUFFICIENT_CPU = "Insufficient cpu"
ERR_REASON_INSUFFICIENT_MEMORY = "Insufficient memory"
ERR_REASON_INSUFFICIENT_EPHEMERAL_STORAGE = "Insufficient ephemeral-storage"

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
REQUESTED_TO_CAPACITY_RATIO = "RequestedToCapacityRatio"
SUPPORTED_STRATEGIES = (LEAST_ALLOCATED, MOST_ALLOCATED, REQUESTED_TO_CAPACITY_RATIO)

# Shape scores are given on 0..10 (config.MaxCustomPriorityScore) and scaled to node scores.
MAX_CUSTOM_PRIORITY_SCORE = 10


def insufficient_reason(resource: str) -> str:
    """The Filter reason for a resource the node does not have enough of."""
    if resource == CPU:
        return ERR_REASON_INSUFFICIENT_CPU
    if resource == MEMORY:
        return ERR_REASON_INSUFFICIENT_MEMORY
    if resource == EPHEMERAL_STORAGE:
        return ERR_REASON_INSUFFICIENT_EPHEMERAL_STORAGE
    return f"Insufficient {resource}"


# ---- args --------------------------------------------------------------------------------------


class UtilizationShapePoint(msgspec.Struct, rename="camel", omit_defaults=True):
    utilization: int = 0
    score: int = 0


class RequestedToCapacityRatioParam(msgspec.Struct, rename="camel", omit_defaults=True):
    shape: list[UtilizationShapePoint] = []


class ScoringStrategy(msgspec.Struct, rename="camel", omit_defaults=True):
    # No default type: a strategy given without one is rejected by validation, as upstream.
    type: str = ""
    resources: list[ResourceSpec] = []
    requested_to_capacity_ratio: RequestedToCapacityRatioParam | None = None

    def __post_init__(self) -> None:
        if not self.resources:
            self.resources = default_resources()


def _default_strategy() -> ScoringStrategy:
    return ScoringStrategy(type=LEAST_ALLOCATED)


def validate_shape(shape: list[UtilizationShapePoint], path: str) -> list[v.FieldError]:
    """upstream validateFunctionShape (shared with VolumeBinding's shape)."""
    if not shape:
        return [v.required(path, "at least one point must be specified")]
    errs: list[v.FieldError] = []
    for i in range(1, len(shape)):
        if shape[i - 1].utilization >= shape[i].utilization:
            errs.append(v.invalid(v.child(v.index(path, i), "utilization"), shape[i].utilization,
                                  "values must be sorted in increasing order"))
            break
    for i, pt in enumerate(shape):
        if not 0 <= pt.utilization <= MAX_UTILIZATION:
            errs.append(v.invalid(v.child(v.index(path, i), "utilization"), pt.utilization,
                                  f"not in valid range [0, {MAX_UTILIZATION}]"))
        if not 0 <= pt.score <= MAX_CUSTOM_PRIORITY_SCORE:
            errs.append(v.invalid(v.child(v.index(path, i), "score"), pt.score,
                                  f"not in valid range [0, {MAX_CUSTOM_PRIORITY_SCORE}]"))
    return errs


class NodeResourcesFitArgs(msgspec.Struct, rename="camel", omit_defaults=True):
    ignored_resources: list[str] = []
    ignored_resource_groups: list[str] = []
    scoring_strategy: ScoringStrategy = msgspec.field(default_factory=_default_strategy)

    def validate(self, path: str = "") -> None:
        """Upstream ValidateNodeResourcesFitArgs; raises ArgsError (a ValueError)."""
        errs: list[v.FieldError] = []
        res_path = v.child(path, "ignoredResources")
        for i, res in enumerate(self.ignored_resources):
            errs.extend(v.validate_label_name(res, v.index(res_path, i)))
        group_path = v.child(path, "ignoredResourceGroups")
        for i, group in enumerate(self.ignored_resource_groups):
            p = v.index(group_path, i)
            if "/" in group:
                errs.append(v.invalid(p, group, "resource group name can't contain '/'"))
            errs.extend(v.validate_label_name(group, p))
        s = self.scoring_strategy
        spath = v.child(path, "scoringStrategy")
        if s.type not in SUPPORTED_STRATEGIES:
            errs.append(v.not_supported(v.child(spath, "type"), s.type,
                                        sorted(SUPPORTED_STRATEGIES)))
        rpath = v.child(spath, "resources")
        for i, r in enumerate(s.resources):
            if r.weight <= 0 or r.weight > 100:
                errs.append(v.invalid(v.child(v.index(rpath, i), "weight"), r.weight,
                                      f"resource weight of {r.name} not in valid range (0, 100]"))
        if s.requested_to_capacity_ratio is not None:
            # Upstream reports shape errors under scoringStrategy.shape (sic).
            errs.extend(validate_shape(s.requested_to_capacity_ratio.shape,
                                        v.child(spath, "shape")))
        elif s.type == REQUESTED_TO_CAPACITY_RATIO:
            # Upstream would dereference nil here; say what is missing instead.
            errs.append(v.required(v.child(spath, "requestedToCapacityRatio")))
        v.raise_if(errs)

    validate_args = validate


# ---- fit check ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FitRequest:
    """What PreFilter computed: the pod's effective requests that Filter compares."""

    cpu: int
    memory: int
    ephemeral_storage: int
    # Scalar resources, sorted by name so reasons come in a stable order.
    scalars: tuple[tuple[str, int], ...]
    # checks() per (ignored, ignored_groups): Filter asks once per node, and preemption's dry
    # runs once per victim tried, always with the profile's same two sets.
    _checks: dict[tuple[frozenset[str], frozenset[str]], list[tuple[str, int]]] = field(
        default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, requests: Resources) -> FitRequest:
        scalars = tuple(sorted(
            (name, q) for name, q in requests.items() if is_scalar_resource_name(name)
        ))
        return cls(requests.get(CPU, 0), requests.get(MEMORY, 0),
                   requests.get(EPHEMERAL_STORAGE, 0), scalars)

    @property
    def is_empty(self) -> bool:
        return not (self.cpu or self.memory or self.ephemeral_storage or self.scalars)

    def checks(self, ignored: frozenset[str] = frozenset(),
               ignored_groups: frozenset[str] = frozenset()) -> list[tuple[str, int]]:
        """(resource, requested) pairs to compare, in upstream's order; zero requests and
        ignored extended resources left out. The list is shared: do not mutate it."""
        key = (ignored, ignored_groups)
        cached = self._checks.get(key)
        if cached is None:
            cached = self._checks[key] = self._compute_checks(ignored, ignored_groups)
        return cached

    def _compute_checks(self, ignored: frozenset[str],
                        ignored_groups: frozenset[str]) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        if self.cpu > 0:
            out.append((CPU, self.cpu))
        if self.memory > 0:
            out.append((MEMORY, self.memory))
        if self.ephemeral_storage > 0:
            out.append((EPHEMERAL_STORAGE, self.ephemeral_storage))
        for name, q in self.scalars:
            if q == 0:
                continue
            if is_extended_resource_name(name) and (
                name in ignored or (ignored_groups and name.split("/", 1)[0] in ignored_groups)
            ):
                continue
            out.append((name, q))
        return out


@dataclass(frozen=True, slots=True)
class InsufficientResource:
    """One resource a node lacks for the pod (upstream InsufficientResource)."""

    resource_name: str
    reason: str
    requested: int
    used: int
    capacity: int
    # The request exceeds the node's whole allocatable: preemption cannot make room.
    unresolvable: bool = False


def fits_request(req: FitRequest, allocatable: dict[str, int], requested: dict[str, int],
                 num_pods: int, ignored: frozenset[str] = frozenset(),
                 ignored_groups: frozenset[str] = frozenset()) -> list[InsufficientResource]:
    """Upstream fitsRequest against one node's numbers."""
    out: list[InsufficientResource] = []
    allowed = allocatable.get(PODS, 0)
    if num_pods + 1 > allowed:
        out.append(InsufficientResource(PODS, ERR_REASON_TOO_MANY_PODS, 1, num_pods, allowed))
    if req.is_empty:
        return out
    for name, q in req.checks(ignored, ignored_groups):
        alloc = allocatable.get(name, 0)
        used = requested.get(name, 0)
        if q > alloc - used:
            out.append(InsufficientResource(name, insufficient_reason(name), q, used, alloc,
                                            unresolvable=q > alloc))
    return out


def fits(pod: PodInfo, node: NodeInfo) -> list[InsufficientResource]:
    """Upstream Fits: the pod's shortfalls on the node, no resources ignored (for preemption
    and other callers outside the cycle)."""
    return fits_request(FitRequest.of(pod.requests), node.allocatable, node.requested,
                        len(node.pods))


@dataclass(slots=True)
class _PreScoreState:
    pod_requests: list[int]


@dataclass(slots=True)
class NodeResourcesFit:
    """PreFilter, Filter (batch), PreScore, Score (batch) and EnqueueExtensions."""

    args: NodeResourcesFitArgs
    name: str = NAME
    ignored: frozenset[str] = frozenset()
    ignored_groups: frozenset[str] = frozenset()
    strategy: str = LEAST_ALLOCATED
    resources: list[ResourceSpec] = field(default_factory=list)
    weights: list[int] = field(default_factory=list)
    shape: BrokenLinear | None = None

    def __post_init__(self) -> None:
        self.args.validate()
        s = self.args.scoring_strategy
        self.ignored = frozenset(self.args.ignored_resources)
        self.ignored_groups = frozenset(self.args.ignored_resource_groups)
        self.strategy = s.type
        self.resources = list(s.resources)
        self.weights = [r.weight for r in s.resources]
        if s.type == REQUESTED_TO_CAPACITY_RATIO and s.requested_to_capacity_ratio is not None:
            scale = MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE
            self.shape = BrokenLinear([
                ShapePoint(p.utilization, p.score * scale)
                for p in s.requested_to_capacity_ratio.shape
            ])

    # ---- filter ---------------------------------------------------------------------------
    def pre_filter(self, state: CycleState, pod: PodInfo,
                   snapshot: Snapshot) -> tuple[PreFilterResult | None, Status | None]:
        """Record the pod's effective requests."""
        req = pod.memo.get(NAME)
        if not isinstance(req, FitRequest):
            req = FitRequest.of(pod.requests)
            pod.memo[NAME] = req
        state.write(PRE_FILTER_STATE_KEY, req)
        return None, None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return None

    @staticmethod
    def _read(state: CycleState) -> FitRequest | Status:
        req = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(req, FitRequest):
            return Status.as_error(RuntimeError(
                f'error reading "{PRE_FILTER_STATE_KEY}" from cycleState: not found'), NAME)
        return req

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """Reject the node when it lacks room for any requested resource (or pod slot)."""
        req = self._read(state)
        if isinstance(req, Status):
            return req
        short = fits_request(req, node_info.allocatable, node_info.requested,
                             len(node_info.pods), self.ignored, self.ignored_groups)
        if not short:
            return None
        code = (Code.UNSCHEDULABLE_AND_UNRESOLVABLE if any(s.unresolvable for s in short)
                else Code.UNSCHEDULABLE)
        return Status(code, [s.reason for s in short], NAME)

    def explain_filter(self, state: CycleState, pod: PodInfo,
                       node_info: NodeInfo) -> str | None:
        """How much more of each short resource the node would need free (--explain)."""
        req = self._read(state)
        if isinstance(req, Status):
            return None
        short = fits_request(req, node_info.allocatable, node_info.requested,
                             len(node_info.pods), self.ignored, self.ignored_groups)
        if not short:
            return None
        parts = []
        for s in short:
            if s.unresolvable:
                return (f"the node had {format_quantity(s.resource_name, s.requested)} "
                        f"{s.resource_name} allocatable (it has "
                        f"{format_quantity(s.resource_name, s.capacity)})")
            need = s.requested - (s.capacity - s.used)
            parts.append(f"{format_quantity(s.resource_name, need)} {s.resource_name}")
        return " and ".join(parts) + " more were free there"

    def filter_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                     rows: I64) -> FilterVerdict | None:
        """The same check for many rows: one comparison per requested resource column."""
        req = self._read(state)
        if isinstance(req, Status):
            raise RuntimeError(req.message())
        n = len(rows)
        if n == 0:
            return None
        t = snapshot.table
        idx = snapshot.row_index(rows)
        failures: list[Failure] = []
        too_many = t.pod_count[idx] + 1 > t.max_pods[idx]
        bad = too_many.copy()
        if too_many.any():
            failures.append(Failure(ERR_REASON_TOO_MANY_PODS, too_many, Code.UNSCHEDULABLE))
        if not req.is_empty:
            for res, q in req.checks(self.ignored, self.ignored_groups):
                col = t.columns.get(res)
                if col is None:
                    # No node has ever listed this resource: every node has 0 of it.
                    short = np.ones(n, dtype=np.bool_)
                    unres = short
                else:
                    alloc = t.alloc[idx, col]
                    short = q > alloc - t.req[idx, col]
                    if not short.any():
                        continue
                    unres = short & (q > alloc)
                reason = insufficient_reason(res)
                resolvable = short & ~unres
                if resolvable.any():
                    failures.append(Failure(reason, resolvable, Code.UNSCHEDULABLE))
                if unres.any():
                    failures.append(Failure(reason, unres, Code.UNSCHEDULABLE_AND_UNRESOLVABLE))
                bad |= short
        if not bad.any():
            return None
        return FilterVerdict(~bad, failures)

    # ---- score ----------------------------------------------------------------------------
    def pre_score(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                  rows: I64) -> Status | None:
        """Record the pod's (non-zero) requests for the configured resources."""
        state.write(PRE_SCORE_STATE_KEY,
                    _PreScoreState(pod_request_list(pod, self.resources, use_requested=False)))
        return None

    def _pod_requests(self, state: CycleState, pod: PodInfo) -> list[int]:
        s = state.get(PRE_SCORE_STATE_KEY)
        if isinstance(s, _PreScoreState):
            return s.pod_requests
        return pod_request_list(pod, self.resources, use_requested=False)

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """The strategy's score of one node."""
        pod_reqs = self._pod_requests(state, pod)
        requested: list[int] = []
        alloc: list[int] = []
        for spec, pr in zip(self.resources, pod_reqs, strict=True):
            a, r = node_alloc_request(node_info, spec.name, pr, use_requested=False)
            # Only fill the entry when the node has some of the resource.
            alloc.append(a)
            requested.append(r if a else 0)
        if self.strategy == LEAST_ALLOCATED:
            return least_allocated_score(requested, alloc, self.weights)
        if self.strategy == MOST_ALLOCATED:
            return most_allocated_score(requested, alloc, self.weights)
        assert self.shape is not None
        return requested_to_capacity_ratio_score(self.shape, requested, alloc, self.weights)

    def score_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                    rows: I64) -> I64:
        """The strategy's scores over many rows, column by column."""
        pod_reqs = self._pod_requests(state, pod)
        n = len(rows)
        node_score = np.zeros(n, dtype=np.int64)
        # Stays a scalar while every row counts every resource (the common case).
        weight_sum: I64 | int = 0
        for spec, pr, w in zip(self.resources, pod_reqs, self.weights, strict=True):
            ar = table_alloc_request(snapshot, rows, spec.name, pr, use_requested=False)
            if ar is None:
                continue
            alloc, req = ar
            present = alloc != 0
            if present.all():
                rs, counted = self._resource_scores(alloc, req, alloc)
            elif present.any():
                rs, counted = self._resource_scores(alloc, req, np.where(present, alloc, 1))
                counted = present if counted is None else present & counted
            else:
                continue
            if counted is None:
                node_score += rs * w
                weight_sum = weight_sum + w
            else:
                node_score += np.where(counted, rs * w, 0)
                weight_sum = weight_sum + np.where(counted, w, 0)
        if isinstance(weight_sum, int):
            if weight_sum == 0:
                return np.zeros(n, dtype=np.int64)
            if self.strategy == REQUESTED_TO_CAPACITY_RATIO:
                return (2 * node_score + weight_sum) // (2 * weight_sum)
            return node_score // weight_sum
        safe_ws = np.maximum(weight_sum, 1)
        if self.strategy == REQUESTED_TO_CAPACITY_RATIO:
            out = (2 * node_score + safe_ws) // (2 * safe_ws)
        else:
            out = node_score // safe_ws
        result: I64 = np.where(weight_sum > 0, out, 0).astype(np.int64, copy=False)
        return result

    def _resource_scores(self, alloc: I64, req: I64, safe: I64) -> tuple[I64, BoolArr | None]:
        """One resource's score per row, and which rows count it (None: all of them).

        ``safe`` is ``alloc`` with zeros replaced (those rows are dropped by the caller). All
        operands are non-negative, so floor division equals Go's truncation; clamping
        ``req`` to ``alloc`` reproduces upstream's "requested > capacity" branches.
        """
        if self.strategy == LEAST_ALLOCATED:
            return least_allocated_scores(alloc, req, safe), None
        if self.strategy == MOST_ALLOCATED:
            return most_allocated_scores(alloc, req, safe), None
        assert self.shape is not None
        return requested_to_capacity_ratio_scores(self.shape, alloc, req, safe)

    # ---- queueing hints -------------------------------------------------------------------
    def events_to_register(self) -> list[ClusterEventWithHint]:
        """Assigned pod deleted or scaled down; node added or its allocatable changed."""
        return [
            ClusterEventWithHint(
                ClusterEvent(Resource.POD, ActionType.DELETE | ActionType.UPDATE_POD_SCALE_DOWN),
                self.is_schedulable_after_pod_event,
            ),
            ClusterEventWithHint(
                ClusterEvent(Resource.NODE, ActionType.ADD | ActionType.UPDATE_NODE_ALLOCATABLE),
                self.is_schedulable_after_node_change,
            ),
        ]

    def is_schedulable_after_pod_event(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """A deleted assigned (or nominated) pod may free room; so may a pod scale-down."""
        if new is None:
            gone: Pod = old
            if not gone.spec.node_name and not gone.status.nominated_node_name:
                return QueueingHint.SKIP
            return QueueingHint.QUEUE
        modified: Pod = new
        if modified.metadata.uid == pod.metadata.uid:
            return QueueingHint.QUEUE
        if not modified.spec.node_name:
            return QueueingHint.SKIP
        before = pod_requests(old)
        after = pod_requests(modified)
        for name, q in pod_requests(pod).items():
            if q == 0:
                continue
            tracked = name in (CPU, MEMORY, EPHEMERAL_STORAGE) or is_scalar_resource_name(name)
            if tracked and before.get(name, 0) > after.get(name, 0):
                return QueueingHint.QUEUE
        return QueueingHint.SKIP

    def is_schedulable_after_node_change(self, pod: Pod, old: Any,
                                         new: Any) -> QueueingHint:
        """Queue when the (empty) node could hold the pod and, on update, something the pod
        asks for grew."""
        modified: Node = new
        req = FitRequest.of(pod_requests(pod))
        new_alloc = parse_allocatable(modified)
        if fits_request(req, new_alloc, {}, 0):
            return QueueingHint.SKIP
        if old is None:
            return QueueingHint.QUEUE
        if not _requested_resources_increased(req, parse_allocatable(old), new_alloc):
            return QueueingHint.SKIP
        return QueueingHint.QUEUE


def _requested_resources_increased(req: FitRequest, old: dict[str, int],
                                   new: dict[str, int]) -> bool:
    """Upstream haveAnyRequestedResourcesIncreased."""
    if new.get(PODS, 0) > old.get(PODS, 0):
        return True
    if req.is_empty:
        return False
    for name, q in ((CPU, req.cpu), (MEMORY, req.memory),
                    (EPHEMERAL_STORAGE, req.ephemeral_storage), *req.scalars):
        if q > 0 and new.get(name, 0) > old.get(name, 0):
            return True
    return False


def new(args: NodeResourcesFitArgs | None, handle: Handle) -> NodeResourcesFit:
    return NodeResourcesFit(args if args is not None else NodeResourcesFitArgs())


SPEC = PluginSpec(NAME, new, NodeResourcesFitArgs)


def _check(p: NodeResourcesFit) -> tuple[PreFilterPlugin, BatchFilterPlugin, PreScorePlugin,
                                          BatchScorePlugin, EnqueueExtensions, FilterExplainer]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p, p, p, p
