"""VolumeRestrictions: volumes a pod cannot share with pods already placed.

Contract (upstream volumerestrictions/volume_restrictions.go, queueing hints enabled):
* Legacy disk conflicts, per node: a pod volume conflicts with a volume of a pod on the node
  when both are the same GCE PD (same pdName) unless both are read-only, the same AWS EBS
  volume (same volumeID, always), the same iSCSI target (same IQN) unless both are read-only,
  or the same Ceph RBD image (a shared monitor, same pool and image) unless both are
  read-only. Reason "node(s) had no available disk" (Unschedulable).
* ReadWriteOncePod: PreFilter looks up every PVC the pod names through persistentVolumeClaim
  volumes (a missing one is UnschedulableAndUnresolvable with the lister's
  ``persistentvolumeclaim "x" not found``) and counts how many of its ReadWriteOncePod claims
  some pod in the cluster already uses. Any such claim makes every node Unschedulable with
  "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access
  mode" (preemption may help). AddPod/RemovePod adjust the count for nominated pods and
  preemption; as upstream, they match the added pod's claims by name only.
* PreFilter returns Skip when the pod has no legacy disk volume and no conflicting claim.
* "Used by some pod" reads each node's PVC reference counts (NodeInfo.pvc_ref_counts), which
  also count generic ephemeral claims; upstream counts persistentVolumeClaim volumes only, so
  a ReadWriteOncePod claim held through an ephemeral volume is seen here and not upstream.
* The batch filter decides ReadWriteOncePod for all rows at once; only pods with legacy disk
  volumes walk the pods of each row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    BatchFilterPlugin,
    EnqueueExtensions,
    Failure,
    FilterVerdict,
    Handle,
    PreFilterExtensions,
    PreFilterPlugin,
    PreFilterResult,
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
from pyscheduler.model.pod import Pod, Volume
from pyscheduler.model.storage import (
    PERSISTENT_VOLUME_CLAIMS,
    READ_WRITE_ONCE_POD,
    PersistentVolumeClaim,
    StorageListers,
    not_found,
)

NAME = "VolumeRestrictions"
PRE_FILTER_STATE_KEY = "PreFilter" + NAME

ERR_REASON_DISK_CONFLICT = "node(s) had no available disk"
# As kube-scheduler v1.37.2 reports it (checked by tests/differential vol-rwop-conflict).
ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT = (
    "node(s) unavailable due to PersistentVolumeClaim with ReadWriteOncePod access mode already "
    "in-use by another pod"
)


# ---- legacy disk conflicts ---------------------------------------------------------------------


def needs_restrictions_check(v: Volume) -> bool:
    """Whether the volume is one of the in-tree disks that cannot be shared freely."""
    return (v.gce_persistent_disk is not None or v.aws_elastic_block_store is not None
            or v.rbd is not None or v.iscsi is not None)


def _ro(src: dict[str, Any]) -> bool:
    return bool(src.get("readOnly", False))


def is_volume_conflict(volume: Volume, pod: Pod) -> bool:
    """Whether ``volume`` conflicts with any volume of ``pod`` (upstream isVolumeConflict)."""
    for existing in pod.spec.volumes:
        gce, egce = volume.gce_persistent_disk, existing.gce_persistent_disk
        if gce is not None and egce is not None and gce.get("pdName", "") == egce.get(
                "pdName", "") and not (_ro(gce) and _ro(egce)):
            return True
        aws, eaws = volume.aws_elastic_block_store, existing.aws_elastic_block_store
        if aws is not None and eaws is not None and aws.get("volumeID", "") == eaws.get(
                "volumeID", ""):
            return True
        isc, eisc = volume.iscsi, existing.iscsi
        # iSCSI volumes are RWO or ROX: one read-write mount at most.
        if isc is not None and eisc is not None and isc.get("iqn", "") == eisc.get(
                "iqn", "") and not (_ro(isc) and _ro(eisc)):
            return True
        rbd, erbd = volume.rbd, existing.rbd
        if rbd is not None and erbd is not None:
            mons = set(rbd.get("monitors") or ())
            shared_monitor = any(m in mons for m in (erbd.get("monitors") or ()))
            if (shared_monitor and rbd.get("pool", "") == erbd.get("pool", "")
                    and rbd.get("image", "") == erbd.get("image", "")
                    and not (_ro(rbd) and _ro(erbd))):
                return True
    return False


def satisfy_volume_conflicts(pod: Pod, node_info: NodeInfo) -> bool:
    """No legacy disk of the pod conflicts with a pod already on the node."""
    for v in pod.spec.volumes:
        if not needs_restrictions_check(v):
            continue
        for existing in node_info.pods.values():
            if existing.pod.spec.volumes and is_volume_conflict(v, existing.pod):
                return False
    return True


# ---- ReadWriteOncePod --------------------------------------------------------------------------


@dataclass(slots=True)
class _PreFilterState:
    # Names of the pod's claims with the ReadWriteOncePod access mode.
    rwop_claims: frozenset[str]
    # How many of them scheduled pods already use.
    conflicting_ref_count: int
    needs_disk_check: bool

    def clone(self) -> _PreFilterState:
        return _PreFilterState(self.rwop_claims, self.conflicting_ref_count,
                               self.needs_disk_check)

    def update_with_pod(self, pi: PodInfo, multiplier: int) -> None:
        conflicts = sum(
            1 for v in pi.pod.spec.volumes
            if v.persistent_volume_claim is not None
            and v.persistent_volume_claim.claim_name in self.rwop_claims
        )
        self.conflicting_ref_count += multiplier * conflicts


def _is_pvc_used_by_pods(snapshot: Snapshot, key: str) -> bool:
    return any(key in info.pvc_ref_counts for info in snapshot.node_infos)


@dataclass(slots=True)
class VolumeRestrictions:
    """PreFilter (with AddPod/RemovePod), Filter (batch) and EnqueueExtensions."""

    listers: StorageListers
    name: str = NAME

    # ---- prefilter ------------------------------------------------------------------------
    def _rwop_claims(self, pod: Pod) -> tuple[frozenset[str], Status | None]:
        ns = pod.metadata.namespace
        names: set[str] = set()
        for v in pod.spec.volumes:
            if v.persistent_volume_claim is None:
                continue
            claim = v.persistent_volume_claim.claim_name
            pvc = self.listers.pvc(ns, claim)
            if pvc is None:
                return frozenset(), Status.unresolvable(not_found(PERSISTENT_VOLUME_CLAIMS, claim),
                                                        plugin=NAME)
            if READ_WRITE_ONCE_POD in pvc.spec.access_modes:
                names.add(pvc.metadata.name)
        return frozenset(names), None

    def pre_filter(self, state: CycleState, pod: PodInfo,
                   snapshot: Snapshot) -> tuple[PreFilterResult | None, Status | None]:
        """Find the pod's ReadWriteOncePod claims already in use; Skip if nothing to check."""
        p = pod.pod
        needs_check = any(needs_restrictions_check(v) for v in p.spec.volumes)
        claims, st = self._rwop_claims(p)
        if st is not None:
            return None, st
        ns = p.metadata.namespace
        count = sum(1 for c in claims if _is_pvc_used_by_pods(snapshot, f"{ns}/{c}"))
        if not needs_check and count == 0:
            return None, Status.skip()
        state.write(PRE_FILTER_STATE_KEY, _PreFilterState(claims, count, needs_check))
        return None, None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return self

    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo,
                node_info: NodeInfo) -> Status | None:
        """Count the added pod's uses of the pod's ReadWriteOncePod claims."""
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, _PreFilterState):
            return Status.as_error(RuntimeError(f"cannot read {PRE_FILTER_STATE_KEY!r} from "
                                                "cycleState"), NAME)
        s.update_with_pod(pod_to_add, 1)
        return None

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo,
                   node_info: NodeInfo) -> Status | None:
        """Forget the removed pod's uses of the pod's ReadWriteOncePod claims."""
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, _PreFilterState):
            return Status.as_error(RuntimeError(f"cannot read {PRE_FILTER_STATE_KEY!r} from "
                                                "cycleState"), NAME)
        s.update_with_pod(pod_to_remove, -1)
        return None

    # ---- filter ---------------------------------------------------------------------------
    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """Disk conflicts on this node, then claims held by other pods."""
        if not satisfy_volume_conflicts(pod.pod, node_info):
            return Status.unschedulable(ERR_REASON_DISK_CONFLICT, plugin=NAME)
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, _PreFilterState):
            return Status.as_error(RuntimeError(f"cannot read {PRE_FILTER_STATE_KEY!r} from "
                                                "cycleState"), NAME)
        if s.conflicting_ref_count > 0:
            return Status.unschedulable(ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT, plugin=NAME)
        return None

    def filter_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                     rows: I64) -> FilterVerdict | None:
        """The claim verdict is the same for every row; disks are checked row by row."""
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, _PreFilterState):
            return FilterVerdict(np.zeros(len(rows), dtype=np.bool_), [Failure(
                f"cannot read {PRE_FILTER_STATE_KEY!r} from cycleState",
                np.ones(len(rows), dtype=np.bool_), Code.ERROR)])
        disk = np.zeros(len(rows), dtype=np.bool_)
        if s.needs_disk_check:
            infos = snapshot.node_infos
            for i, r in enumerate(rows.tolist()):
                info = infos[r]
                if info.pods and not satisfy_volume_conflicts(pod.pod, info):
                    disk[i] = True
        claim = ~disk if s.conflicting_ref_count > 0 else np.zeros(len(rows), dtype=np.bool_)
        failed = disk | claim
        if not failed.any():
            return None
        failures = []
        if disk.any():
            failures.append(Failure(ERR_REASON_DISK_CONFLICT, disk))
        if claim.any():
            failures.append(Failure(ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT, claim))
        return FilterVerdict(~failed, failures)

    # ---- queueing hints -------------------------------------------------------------------
    def events_to_register(self) -> list[ClusterEventWithHint]:
        """A pod using the same disk or claim deleted; a node added; a named PVC created."""
        return [
            ClusterEventWithHint(ClusterEvent(Resource.POD, ActionType.DELETE),
                                 self.is_schedulable_after_pod_deleted),
            # Every new node may help: no hint.
            ClusterEventWithHint(ClusterEvent(Resource.NODE, ActionType.ADD)),
            ClusterEventWithHint(ClusterEvent(Resource.PVC, ActionType.ADD),
                                 self.is_schedulable_after_pvc_added),
        ]

    def is_schedulable_after_pvc_added(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """Queue when a PVC the pod names (through persistentVolumeClaim) was created."""
        if not isinstance(new, PersistentVolumeClaim):
            raise TypeError(f"unexpected object in PVC hint: {type(new).__name__}")
        if new.metadata.namespace != pod.metadata.namespace:
            return QueueingHint.SKIP
        for v in pod.spec.volumes:
            if (v.persistent_volume_claim is not None
                    and v.persistent_volume_claim.claim_name == new.metadata.name):
                return QueueingHint.QUEUE
        return QueueingHint.SKIP

    def is_schedulable_after_pod_deleted(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """Queue when the deleted pod held a conflicting disk or one of the pod's claims."""
        if not isinstance(old, Pod):
            raise TypeError(f"unexpected object in pod-deleted hint: {type(old).__name__}")
        if old.metadata.namespace != pod.metadata.namespace:
            return QueueingHint.SKIP
        for v in pod.spec.volumes:
            if needs_restrictions_check(v) and is_volume_conflict(v, old):
                return QueueingHint.QUEUE
        # A deleted pod using the same claim may have held it ReadWriteOncePod; the access
        # mode is not looked up here (it would cost a lister read per event).
        claims = {v.persistent_volume_claim.claim_name for v in pod.spec.volumes
                  if v.persistent_volume_claim is not None}
        for v in old.spec.volumes:
            if v.persistent_volume_claim is not None and \
                    v.persistent_volume_claim.claim_name in claims:
                return QueueingHint.QUEUE
        return QueueingHint.SKIP


def new(args: None, handle: Handle) -> VolumeRestrictions:
    return VolumeRestrictions(StorageListers(handle))


SPEC = PluginSpec(NAME, new, None, listers=("persistentvolumeclaims", "pods"))


def _check(p: VolumeRestrictions) -> tuple[PreFilterPlugin, PreFilterExtensions,
                                           BatchFilterPlugin, EnqueueExtensions]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p, p
