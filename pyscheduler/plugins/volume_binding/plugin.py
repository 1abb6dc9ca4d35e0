"""VolumeBinding: place pods where their PersistentVolumeClaims can be (or are) bound, and bind
the delayed ones to the chosen node before the pod.

Contract (upstream volumebinding/volume_binding.go, v1.37 defaults: queueing hints on,
StorageCapacityScoring on):
* PreFilter: every claim the pod names (persistentVolumeClaim and generic ephemeral volumes)
  must exist (``persistentvolumeclaim "x" not found``; for an ephemeral one "waiting for
  ephemeral volume controller to create the persistentvolumeclaim \\"x\\""), not be Lost
  ("persistentvolumeclaim \\"x\\" bound to non-existent persistentvolume \\"y\\""), not be being
  deleted ("persistentvolumeclaim \\"x\\" is being deleted") and, if ephemeral, be controlled by
  the pod; all UnschedulableAndUnresolvable. No claims: Skip. An unbound claim that does not
  wait for its first consumer: UnschedulableAndUnresolvable "pod has unbound immediate
  PersistentVolumeClaims" (the PV controller must bind it first). PreFilter never narrows the
  node set (upstream removed that).
* Filter: ``binder.find_pod_volumes`` per node; its reasons make the node
  UnschedulableAndUnresolvable. The batch form skips per-node work when every claim is bound
  to a PV without node affinity.
* Score (on by default in v1.37): per node, the static bindings chosen there are grouped by the
  PV's class, each class scored by the shape over ``requested * 100 / capacity`` (shape scores
  x10; 100 utilization when capacity is 0 or exceeded), classes averaged and rounded. Default
  shape {0: 10, 100: 0} prefers PVs with the most room. Dynamic provisions would be scored
  from CSIStorageCapacity, which is not tracked, so PreScore returns Skip when no node got a
  static binding (every score would be 0).
* Reserve assumes the chosen node's bindings in the binder's assume caches; Unreserve reverts
  them. PreBind (unless everything was already bound) writes them through
  ``handle.volume_client`` and waits up to ``bindTimeoutSeconds`` (default 600) for the PV
  controller; failures are Errors, so the pod is retried.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from pyscheduler import metrics
from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    MAX_NODE_SCORE,
    BatchFilterPlugin,
    EnqueueExtensions,
    Failure,
    FilterVerdict,
    Handle,
    PreBindPlugin,
    PreFilterExtensions,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
    ReservePlugin,
    ScorePlugin,
)
from pyscheduler.framework.node_info import NodeInfo
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
from pyscheduler.model.pod import Pod
from pyscheduler.model.storage import (
    ANN_MIGRATED_PLUGINS,
    CLAIM_LOST,
    PERSISTENT_VOLUME_CLAIMS,
    CSINode,
    PersistentVolumeClaim,
    StorageClass,
    StorageListers,
    not_found,
    quote,
    volume_claim_name,
    volume_is_for_pod,
)
from pyscheduler.plugins import validation as v
from pyscheduler.plugins.helper import BrokenLinear, ShapePoint
from pyscheduler.plugins.noderesources.fit import (
    MAX_CUSTOM_PRIORITY_SCORE,
    UtilizationShapePoint,
    validate_shape,
)
from pyscheduler.plugins.noderesources.requested_to_capacity_ratio import MAX_UTILIZATION
from pyscheduler.plugins.volume_binding.binder import (
    BinderError,
    PodVolumeClaims,
    PodVolumes,
    VolumeBinder,
)

NAME = "VolumeBinding"
STATE_KEY = NAME

ERR_REASON_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"

DEFAULT_BIND_TIMEOUT_SECONDS = 600
# v1.37: StorageCapacityScoring is beta and on by default, which gives VolumeBinding a Score.
ENABLE_STORAGE_CAPACITY_SCORING = True


# ---- args --------------------------------------------------------------------------------------


def default_shape() -> list[UtilizationShapePoint]:
    """Prefer nodes whose PVs would be least utilized."""
    return [UtilizationShapePoint(0, MAX_CUSTOM_PRIORITY_SCORE),
            UtilizationShapePoint(MAX_UTILIZATION, 0)]


class VolumeBindingArgs(msgspec.Struct, rename="camel", omit_defaults=True):
    bind_timeout_seconds: int = DEFAULT_BIND_TIMEOUT_SECONDS
    shape: list[UtilizationShapePoint] = []

    def __post_init__(self) -> None:
        # Defaulting: an empty shape becomes the default when capacity scoring is on.
        if not self.shape and ENABLE_STORAGE_CAPACITY_SCORING:
            self.shape = default_shape()

    def validate(self, path: str = "") -> None:
        """Upstream ValidateVolumeBindingArgs; raises ArgsError (a ValueError)."""
        errs: list[v.FieldError] = []
        if self.bind_timeout_seconds < 0:
            errs.append(v.invalid(v.child(path, "bindTimeoutSeconds"), self.bind_timeout_seconds,
                                  "invalid BindTimeoutSeconds, should not be a negative value"))
        if ENABLE_STORAGE_CAPACITY_SCORING:
            errs.extend(validate_shape(self.shape, v.child(path, "shape")))
        v.raise_if(errs)

    validate_args = validate


# ---- scorer ------------------------------------------------------------------------------------

ClassResources = dict[str, tuple[int, int]]  # class -> (requested, capacity)


Scorer = Callable[[ClassResources], int]


def build_scorer(shape: list[UtilizationShapePoint]) -> Scorer:
    """upstream buildScorerFunction over the args' shape (scores scaled x10)."""
    raw = BrokenLinear([ShapePoint(p.utilization,
                                   p.score * (MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE))
                        for p in shape])

    def per_class(requested: int, capacity: int) -> int:
        if capacity == 0 or requested > capacity:
            return raw(MAX_UTILIZATION)
        return raw(requested * MAX_UTILIZATION // capacity)

    def scorer(classes: ClassResources) -> int:
        if not classes:
            return 0
        total = sum(per_class(r, c) for r, c in classes.values())
        return int(_round_half_away(total / len(classes)))

    return scorer


def _round_half_away(x: float) -> float:
    """Go's math.Round (halves away from zero), unlike Python's round."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


# ---- plugin ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    claims: PodVolumeClaims | None = None
    pod_volumes_by_node: dict[str, PodVolumes] = field(default_factory=dict)
    has_static_bindings: bool = False
    all_bound: bool = False

    def clone(self) -> _State:
        return self  # shared on purpose, as upstream: Filter results are per node name


@dataclass(slots=True)
class VolumeBinding:
    """PreFilter, Filter (batch), PreScore, Score, Reserve, PreBind and EnqueueExtensions."""

    listers: StorageListers
    binder: VolumeBinder
    handle: Any
    scorer: Scorer | None = None
    name: str = NAME

    # ---- prefilter ------------------------------------------------------------------------
    def _pod_has_pvcs(self, pod: Pod) -> tuple[bool, str | None]:
        """(references any claim, why the claims make the pod unschedulable)."""
        has = False
        ns = pod.metadata.namespace
        for vol in pod.spec.volumes:
            if vol.persistent_volume_claim is not None:
                claim, ephemeral = vol.persistent_volume_claim.claim_name, False
            elif vol.ephemeral is not None:
                claim, ephemeral = volume_claim_name(pod, vol), True
            else:
                continue
            has = True
            pvc = self.listers.pvc(ns, claim)
            if pvc is None:
                if ephemeral:
                    # Normal right after the pod was created.
                    return has, ("waiting for ephemeral volume controller to create the "
                                 f"persistentvolumeclaim {quote(claim)}")
                return has, not_found(PERSISTENT_VOLUME_CLAIMS, claim)
            if pvc.status.phase == CLAIM_LOST:
                return has, (f"persistentvolumeclaim {quote(pvc.metadata.name)} bound to "
                             f"non-existent persistentvolume {quote(pvc.spec.volume_name)}")
            if pvc.metadata.deletion_timestamp is not None:
                return has, f"persistentvolumeclaim {quote(pvc.metadata.name)} is being deleted"
            if ephemeral:
                err = volume_is_for_pod(pod, pvc)
                if err is not None:
                    return has, err
        return has, None

    def pre_filter(self, state: CycleState, pod: PodInfo,
                   snapshot: Snapshot) -> tuple[PreFilterResult | None, Status | None]:
        """Classify the pod's claims; reject missing ones and unbound immediate ones."""
        has, why = self._pod_has_pvcs(pod.pod)
        if why is not None:
            return None, Status.unresolvable(why, plugin=NAME)
        if not has:
            state.write(STATE_KEY, _State())
            return None, Status.skip()
        try:
            claims = self.binder.get_pod_volume_claims(pod.pod)
        except BinderError as err:
            return None, Status.as_error(err, NAME)
        if claims.unbound_immediate:
            return None, Status.unresolvable(ERR_REASON_UNBOUND_IMMEDIATE, plugin=NAME)
        state.write(STATE_KEY, _State(claims))
        return None, None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return None

    @staticmethod
    def _state(state: CycleState) -> _State | None:
        s = state.get(STATE_KEY)
        return s if isinstance(s, _State) else None

    # ---- filter ---------------------------------------------------------------------------
    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """Bound claims' PVs must fit the node; delayed claims must find a PV or a
        provisioner there."""
        s = self._state(state)
        if s is None or s.claims is None:
            return Status.as_error(RuntimeError(f"{STATE_KEY!r} not found in cycle state"),
                                   NAME)
        node = node_info.node
        if node is None:
            return Status.as_error(RuntimeError("node not found"), NAME)
        try:
            found = self.binder.find_pod_volumes(s.claims, node)
        except BinderError as err:
            metrics.VOLUME_SCHEDULING_STAGE_ERROR.labels("predicate").inc()
            return Status.as_error(err, NAME)
        if found.reasons:
            return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, list(found.reasons), NAME)
        s.pod_volumes_by_node[node_info.name] = found.pod_volumes
        s.has_static_bindings = s.has_static_bindings or bool(
            found.pod_volumes.static_bindings)
        return None

    def filter_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                     rows: I64) -> FilterVerdict | None:
        """Per node, unless every claim is bound to a PV that fits any node."""
        s = self._state(state)
        if s is not None and s.claims is not None and self._trivially_fits(s.claims):
            return None
        infos = snapshot.node_infos
        by_reason: dict[str, list[int]] = {}
        failed = np.zeros(len(rows), dtype=np.bool_)
        for i, r in enumerate(rows.tolist()):
            st = self.filter(state, pod, infos[r])
            if st is None:
                continue
            if st.code == Code.ERROR:
                return FilterVerdict(np.zeros(len(rows), dtype=np.bool_), [Failure(
                    st.message(), np.ones(len(rows), dtype=np.bool_), Code.ERROR)])
            failed[i] = True
            for reason in st.reasons:
                by_reason.setdefault(reason, []).append(i)
        if not failed.any():
            return None
        failures = []
        for reason, idx in by_reason.items():
            mask = np.zeros(len(rows), dtype=np.bool_)
            mask[idx] = True
            failures.append(Failure(reason, mask, Code.UNSCHEDULABLE_AND_UNRESOLVABLE))
        return FilterVerdict(~failed, failures)

    def _trivially_fits(self, claims: PodVolumeClaims) -> bool:
        """Every claim is bound to an existing PV without required node affinity: every node
        passes and needs nothing done (Reserve then finds all claims bound)."""
        if claims.unbound_delay_binding:
            return False
        for pvc in claims.bound:
            pv = self.binder.pv_cache.get(pvc.spec.volume_name)
            if pv is None:
                return False
            na = pv.spec.node_affinity
            if na is not None and na.required is not None:
                return False
        return True

    # ---- score ----------------------------------------------------------------------------
    def pre_score(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                  rows: I64) -> Status | None:
        """Score only when some node got a static binding (capacity is not tracked)."""
        if self.scorer is None:
            return Status.skip()
        s = self._state(state)
        if s is None:
            return Status.as_error(RuntimeError(f"{STATE_KEY!r} not found in cycle state"),
                                   NAME)
        if s.has_static_bindings:
            return None
        return Status.skip()

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """How utilized the node's chosen PVs would be, per class, through the shape."""
        if self.scorer is None:
            return 0
        s = self._state(state)
        if s is None:
            return 0
        pv = s.pod_volumes_by_node.get(node_info.name)
        if pv is None or not pv.static_bindings:
            return 0  # dynamic provisions would need CSIStorageCapacity
        classes: ClassResources = {}
        for b in pv.static_bindings:
            requested, capacity = b.storage_resource()
            r, c = classes.get(b.storage_class_name(), (0, 0))
            classes[b.storage_class_name()] = (r + requested, c + capacity)
        return self.scorer(classes)

    # ---- reserve --------------------------------------------------------------------------
    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """Assume the chosen node's bindings so the next pods do not take the same PVs."""
        s = self._state(state)
        if s is None:
            return Status.as_error(RuntimeError(f"{STATE_KEY!r} not found in cycle state"),
                                   NAME)
        pv = s.pod_volumes_by_node.get(node_name)
        if pv is None:
            s.all_bound = True  # no claims, or all bound to PVs any node can use
            return None
        try:
            s.all_bound = self.binder.assume_pod_volumes(pod.pod, node_name, pv)
        except Exception as err:
            metrics.VOLUME_SCHEDULING_STAGE_ERROR.labels("assume").inc()
            return Status.as_error(err, NAME)
        return None

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """Forget the assumptions (idempotent)."""
        s = self._state(state)
        if s is None:
            return
        pv = s.pod_volumes_by_node.get(node_name)
        if pv is not None:
            self.binder.revert_assumed_pod_volumes(pv)

    # ---- prebind --------------------------------------------------------------------------
    async def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """Write the bindings and wait for the PV controller to complete them."""
        s = self._state(state)
        if s is None:
            return Status.as_error(RuntimeError(f"{STATE_KEY!r} not found in cycle state"),
                                   NAME)
        if s.all_bound:
            return None
        pv = s.pod_volumes_by_node.get(node_name)
        if pv is None:
            return Status.as_error(RuntimeError(f"no pod volumes found for node "
                                                f"{quote(node_name)}"), NAME)
        try:
            await self.binder.bind_pod_volumes(self.handle.volume_client, pod.pod, node_name,
                                               pv, self.handle.snapshot)
        except Exception as err:
            metrics.VOLUME_SCHEDULING_STAGE_ERROR.labels("bind").inc()
            return Status.as_error(err, NAME)
        return None

    # ---- queueing hints -------------------------------------------------------------------
    def events_to_register(self) -> list[ClusterEventWithHint]:
        """Classes, the pod's claims, PVs, nodes, and CSINodes' migration annotation."""
        return [
            ClusterEventWithHint(
                ClusterEvent(Resource.STORAGE_CLASS, ActionType.ADD | ActionType.UPDATE),
                self.is_schedulable_after_storage_class_change),
            ClusterEventWithHint(ClusterEvent(Resource.PVC, ActionType.ADD | ActionType.UPDATE),
                                 self.is_schedulable_after_pvc_change),
            # Any PV change may make a PV fit: no hint.
            ClusterEventWithHint(ClusterEvent(Resource.PV, ActionType.ADD | ActionType.UPDATE)),
            ClusterEventWithHint(ClusterEvent(Resource.NODE,
                                              ActionType.ADD | ActionType.UPDATE_NODE_LABEL)),
            ClusterEventWithHint(
                ClusterEvent(Resource.CSI_NODE, ActionType.ADD | ActionType.UPDATE),
                self.is_schedulable_after_csi_node_change),
            # Upstream also registers CSIDriver and CSIStorageCapacity changes for storage
            # capacity checks; capacity is not tracked here, so they cannot help a pod.
        ]

    def is_schedulable_after_pvc_change(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """Queue when a claim the pod uses (persistent or ephemeral) was created or changed."""
        if not isinstance(new, PersistentVolumeClaim):
            raise TypeError(f"unexpected object in PVC hint: {type(new).__name__}")
        if pod.metadata.namespace != new.metadata.namespace:
            return QueueingHint.SKIP
        for vol in pod.spec.volumes:
            if vol.persistent_volume_claim is not None:
                claim = vol.persistent_volume_claim.claim_name
            elif vol.ephemeral is not None:
                claim = volume_claim_name(pod, vol)
            else:
                continue
            if claim == new.metadata.name:
                return QueueingHint.QUEUE
        return QueueingHint.SKIP

    def is_schedulable_after_storage_class_change(self, pod: Pod, old: Any,
                                                  new: Any) -> QueueingHint:
        """A new class may help; an updated one only if its allowedTopologies changed
        (volumeBindingMode is immutable)."""
        if not isinstance(new, StorageClass) or (
                old is not None and not isinstance(old, StorageClass)):
            raise TypeError("unexpected objects in StorageClass hint")
        if old is None:
            return QueueingHint.QUEUE
        if new.allowed_topologies != old.allowed_topologies:
            return QueueingHint.QUEUE
        return QueueingHint.SKIP

    def is_schedulable_after_csi_node_change(self, pod: Pod, old: Any,
                                             new: Any) -> QueueingHint:
        """A new CSINode, or a change of its migrated-plugins annotation."""
        if old is None:
            return QueueingHint.QUEUE
        if not isinstance(new, CSINode) or not isinstance(old, CSINode):
            raise TypeError("unexpected objects in CSINode hint")
        if (old.metadata.annotations.get(ANN_MIGRATED_PLUGINS)
                != new.metadata.annotations.get(ANN_MIGRATED_PLUGINS)):
            return QueueingHint.QUEUE
        return QueueingHint.SKIP


def new(args: VolumeBindingArgs | None, handle: Handle) -> VolumeBinding:
    a = args if args is not None else VolumeBindingArgs()
    a.validate()
    listers = StorageListers(handle)
    binder = VolumeBinder(listers, float(a.bind_timeout_seconds))
    scorer = build_scorer(a.shape) if ENABLE_STORAGE_CAPACITY_SCORING else None
    return VolumeBinding(listers, binder, handle, scorer)


SPEC = PluginSpec(NAME, new, VolumeBindingArgs, listers=(
    "persistentvolumeclaims", "persistentvolumes", "storageclasses", "csinodes", "pods"))


def _check(p: VolumeBinding) -> tuple[PreFilterPlugin, BatchFilterPlugin, PreScorePlugin,
                                      ScorePlugin, ReservePlugin, PreBindPlugin,
                                      EnqueueExtensions]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p, p, p, p, p
