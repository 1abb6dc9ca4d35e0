"""NodeVolumeLimits: the number of CSI volumes attached to a node must stay within the limits its
CSI drivers report.

Contract (upstream nodevolumelimits/csi.go, queueing hints and VolumeLimitScaling on, as in
v1.37's defaults):
* A pod's attachable volumes are its persistentVolumeClaim and generic ephemeral volumes: each
  is resolved to (CSI driver, volume handle) through the bound PV's ``spec.csi``; an unbound
  claim (or one whose PV is missing) counts under its StorageClass's provisioner with a handle
  made of a per-plugin random prefix and the claim's namespace/name, so two pods sharing an
  unbound claim count it once. A claim without a class, a missing class, or a PV that is not
  CSI is not counted.
* For the pod being scheduled a missing claim is UnschedulableAndUnresolvable ("looking up PVC
  ns/x: persistentvolumeclaim \\"x\\" not found"); an ephemeral claim the pod does not control,
  or a claim with no name, is an Error. For pods already on the node, missing claims are
  skipped and the other errors are Errors, as upstream.
* VolumeLimitScaling: when a driver's CSIDriver object sets preventPodSchedulingIfMissing and
  the node's CSINode does not list the driver, the node is Unschedulable with "<driver> CSI
  driver is not installed on the node".
* Limits are ``CSINode.spec.drivers[].allocatable.count`` per driver; a node without a CSINode
  or without a count for the pod's drivers passes. Otherwise the distinct volumes of the pods on
  the node plus those of VolumeAttachments to the node (CSI PVs, by attacher) are counted per
  driver; the pod's volumes already among the pods' are free; if attached + new exceeds the
  count for a driver: Unschedulable "node(s) exceed max volume count".
* Departure: in-tree volume migration is not modelled. Inline in-tree volumes (awsElasticBlock-
  Store, gcePersistentDisk, ...) and PVs with in-tree sources are not counted, and a class
  whose provisioner is an in-tree plugin name counts under that name (which no CSINode lists,
  so it is never limited). Upstream translates them to their CSI drivers when the node's
  CSINode says the plugin is migrated.
* Because migration is not modelled, the pod's own attachable volumes do not depend on the
  node: PreFilter resolves them once per cycle and Filter only counts what is on each node.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
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
from pyscheduler.model.pod import Pod
from pyscheduler.model.storage import (
    PERSISTENT_VOLUME_CLAIMS,
    CSINode,
    PersistentVolumeClaim,
    StorageListers,
    VolumeAttachmentsByNode,
    claim_class,
    not_found,
    volume_claim_name,
    volume_is_for_pod,
)

NAME = "NodeVolumeLimits"
PRE_FILTER_STATE_KEY = "PreFilter" + NAME

ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED = "node(s) exceed max volume count"

# k8s.io/apimachinery/pkg/util/rand's alphabet (no vowels, no look-alike characters).
_RAND_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def driver_not_installed_reason(driver: str) -> str:
    return f"{driver} CSI driver is not installed on the node"


class _LookupError(Exception):
    """filterAttachableVolumes' error; ``not_found`` marks a missing claim."""

    def __init__(self, message: str, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


def volume_limits(csi_node: CSINode | None) -> dict[str, int]:
    """Driver -> attachable volume count, from the node's CSINode."""
    if csi_node is None:
        return {}
    return {d.name: d.allocatable.count for d in csi_node.spec.drivers
            if d.allocatable is not None and d.allocatable.count is not None}


def _driver_on_node(csi_node: CSINode | None, driver: str) -> bool:
    return csi_node is not None and any(d.name == driver for d in csi_node.spec.drivers)


@dataclass(slots=True)
class _State:
    # volume unique name ("driver/handle") -> driver, for the pod being scheduled
    new_volumes: dict[str, str]
    status: Status | None = None
    # The pod's drivers whose CSIDriver sets preventPodSchedulingIfMissing (computed once)
    prevented: list[str] | None = None
    # VolumeAttachments by node, read once per cycle
    vas: VolumeAttachmentsByNode | None = None

    def clone(self) -> _State:
        return self  # read-only after PreFilter


@dataclass(slots=True)
class CSILimits:
    """PreFilter, Filter (batch) and EnqueueExtensions."""

    listers: StorageListers
    random_volume_id_prefix: str = field(
        default_factory=lambda: "".join(random.choices(_RAND_ALPHABET, k=32)))
    name: str = NAME

    # ---- volume resolution ----------------------------------------------------------------
    def attachable_volumes(self, pod: Pod, new_pod: bool, result: dict[str, str]) -> None:
        """Add the pod's countable volumes to ``result``; raises _LookupError (upstream
        filterAttachableVolumes)."""
        ns = pod.metadata.namespace
        for v in pod.spec.volumes:
            if v.persistent_volume_claim is not None:
                claim = v.persistent_volume_claim.claim_name
                ephemeral = False
            elif v.ephemeral is not None:
                claim = volume_claim_name(pod, v)
                ephemeral = True
            else:
                continue  # inline volumes: only migrated in-tree ones would count
            if not claim:
                raise _LookupError("PersistentVolumeClaim had no name")
            pvc = self.listers.pvc(ns, claim)
            if pvc is None:
                if new_pod:
                    raise _LookupError(f"looking up PVC {ns}/{claim}: "
                                       f"{not_found(PERSISTENT_VOLUME_CLAIMS, claim)}",
                                       not_found=True)
                continue  # it may not belong to this pod any more: do not count it
            if ephemeral:
                err = volume_is_for_pod(pod, pvc)
                if err is not None:
                    raise _LookupError(err)
            driver, handle = self._csi_driver_info(pvc)
            if not driver or not handle:
                continue
            result[f"{driver}/{handle}"] = driver

    def _csi_driver_info(self, pvc: PersistentVolumeClaim) -> tuple[str, str]:
        pv_name = pvc.spec.volume_name
        if pv_name:
            pv = self.listers.pv(pv_name)
            if pv is not None:
                if pv.spec.csi is None:
                    return "", ""  # in-tree source: migration is not modelled
                return pv.spec.csi.driver, pv.spec.csi.volume_handle
            # The PV may have been deleted, or the claim pre-bound to a PV not created yet:
            # count by class, as upstream.
        return self._csi_driver_info_from_class(pvc)

    def _csi_driver_info_from_class(self, pvc: PersistentVolumeClaim) -> tuple[str, str]:
        sc_name = claim_class(pvc)
        if not sc_name:
            return "", ""  # immediate binding without a class: bound before scheduling
        sc = self.listers.storage_class(sc_name)
        if sc is None:
            return "", ""
        # The random prefix keeps these handles from colliding with real volume IDs.
        handle = f"{self.random_volume_id_prefix}-{pvc.metadata.namespace}/{pvc.metadata.name}"
        return sc.provisioner, handle

    def _attached_by_vas(self, s: _State, node_name: str) -> dict[str, str]:
        """Volumes VolumeAttachments say are attached to the node: "attacher/handle"."""
        if s.vas is None:
            s.vas = self.listers.volume_attachments_by_node()
        out: dict[str, str] = {}
        for va in s.vas.on(node_name):
            attacher = va.spec.attacher
            pv_name = va.spec.source.persistent_volume_name
            if not attacher or pv_name is None:
                continue
            pv = self.listers.pv(pv_name)
            if pv is None or pv.spec.csi is None:
                continue
            out[f"{attacher}/{pv.spec.csi.volume_handle}"] = attacher
        return out

    # ---- prefilter ------------------------------------------------------------------------
    def pre_filter(self, state: CycleState, pod: PodInfo,
                   snapshot: Snapshot) -> tuple[PreFilterResult | None, Status | None]:
        """Skip pods without claim-backed volumes; resolve the pod's volumes once."""
        if not any(v.persistent_volume_claim is not None or v.ephemeral is not None
                   for v in pod.pod.spec.volumes):
            return None, Status.skip()
        state.write(PRE_FILTER_STATE_KEY, self._new_volumes(pod.pod))
        return None, None

    def _new_volumes(self, pod: Pod) -> _State:
        new_volumes: dict[str, str] = {}
        try:
            self.attachable_volumes(pod, True, new_volumes)
        except _LookupError as err:
            if err.not_found:
                return _State({}, Status.unresolvable(str(err), plugin=NAME))
            return _State({}, Status.as_error(err, NAME))
        return _State(new_volumes)

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return None

    # ---- filter ---------------------------------------------------------------------------
    def _state(self, state: CycleState, pod: PodInfo) -> _State:
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, _State):
            s = self._new_volumes(pod.pod)
            state.write(PRE_FILTER_STATE_KEY, s)
        return s

    def _prevented_drivers(self, s: _State) -> list[str]:
        """The pod's drivers whose CSIDriver asks to keep pods off nodes without them."""
        if s.prevented is None:
            out = []
            for driver in sorted(set(s.new_volumes.values())):
                d = self.listers.csi_driver(driver)
                if d is not None and d.spec.prevent_pod_scheduling_if_missing:
                    out.append(driver)
            s.prevented = out
        return s.prevented

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """The node's CSI drivers must have room for the pod's new volumes."""
        if not pod.pod.spec.volumes:
            return None
        s = self._state(state, pod)
        if s.status is not None:
            return s.status
        if not s.new_volumes:
            return None
        return self._check_node(s, node_info)

    def _check_node(self, s: _State, node_info: NodeInfo) -> Status | None:
        csi_node = self.listers.csi_node(node_info.name)
        for driver in self._prevented_drivers(s):
            if not _driver_on_node(csi_node, driver):
                return Status.unschedulable(driver_not_installed_reason(driver), plugin=NAME)
        limits = volume_limits(csi_node)
        if not limits or not any(d in limits for d in s.new_volumes.values()):
            # Only limited drivers are ever compared: nothing to count on this node.
            return None
        attached: dict[str, str] = {}
        for existing in node_info.pods.values():
            if not existing.pod.spec.volumes:
                continue
            try:
                self.attachable_volumes(existing.pod, False, attached)
            except _LookupError as err:
                return Status.as_error(err, NAME)
        attached_count: dict[str, int] = {}
        for driver in attached.values():
            attached_count[driver] = attached_count.get(driver, 0) + 1
        for unique, driver in self._attached_by_vas(s, node_info.name).items():
            if unique not in attached:
                attached_count[driver] = attached_count.get(driver, 0) + 1
        new_count: dict[str, int] = {}
        for unique, driver in s.new_volumes.items():
            if unique not in attached:  # one volume used by several pods is attached once
                new_count[driver] = new_count.get(driver, 0) + 1
        for driver, count in new_count.items():
            limit = limits.get(driver)
            if limit is not None and attached_count.get(driver, 0) + count > limit:
                return Status.unschedulable(ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED, plugin=NAME)
        return None

    def filter_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                     rows: I64) -> FilterVerdict | None:
        """One verdict for all rows when the pod's volumes failed to resolve or there are
        none; otherwise only rows whose CSINode limits the pod's drivers count volumes."""
        if not pod.pod.spec.volumes or len(rows) == 0:
            return None
        s = self._state(state, pod)
        if s.status is not None:
            everyone = np.ones(len(rows), dtype=np.bool_)
            return FilterVerdict(~everyone, [Failure(r, everyone, s.status.code)
                                             for r in s.status.reasons])
        if not s.new_volumes:
            return None
        infos = snapshot.node_infos
        by_reason: dict[str, list[int]] = {}
        for i, r in enumerate(rows.tolist()):
            st = self._check_node(s, infos[r])
            if st is not None:
                if st.code == Code.ERROR:
                    everyone = np.ones(len(rows), dtype=np.bool_)
                    return FilterVerdict(~everyone, [Failure(st.message(), everyone, Code.ERROR)])
                by_reason.setdefault(st.message(), []).append(i)
        if not by_reason:
            return None
        failures = []
        failed = np.zeros(len(rows), dtype=np.bool_)
        for reason, idx in by_reason.items():
            mask = np.zeros(len(rows), dtype=np.bool_)
            mask[idx] = True
            failed |= mask
            failures.append(Failure(reason, mask))
        return FilterVerdict(~failed, failures)

    # ---- queueing hints -------------------------------------------------------------------
    def events_to_register(self) -> list[ClusterEventWithHint]:
        """New CSINodes, raised limits, deleted pods holding volumes, the pod's new PVCs."""
        return [
            # Any new CSINode may have room: no hint.
            ClusterEventWithHint(ClusterEvent(Resource.CSI_NODE, ActionType.ADD)),
            ClusterEventWithHint(ClusterEvent(Resource.CSI_NODE, ActionType.UPDATE),
                                 self.is_schedulable_after_csi_node_updated),
            ClusterEventWithHint(ClusterEvent(Resource.ASSIGNED_POD, ActionType.DELETE),
                                 self.is_schedulable_after_pod_deleted),
            ClusterEventWithHint(ClusterEvent(Resource.PVC, ActionType.ADD),
                                 self.is_schedulable_after_pvc_added),
            # A detached volume frees an attachment slot on its node. Upstream narrows this
            # with a hint on the pod's drivers; without one the pod is simply retried.
            ClusterEventWithHint(ClusterEvent(Resource.VOLUME_ATTACHMENT, ActionType.DELETE)),
        ]

    def is_schedulable_after_pod_deleted(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """Queue when the deleted pod was on a node and held claim-backed volumes."""
        if not isinstance(old, Pod):
            raise TypeError(f"unexpected object in pod-deleted hint: {type(old).__name__}")
        if not old.spec.volumes or not old.spec.node_name:
            return QueueingHint.SKIP
        for v in old.spec.volumes:
            # Inline in-tree volumes that upstream may migrate to CSI count too.
            if (v.persistent_volume_claim is not None or v.ephemeral is not None
                    or v.aws_elastic_block_store is not None
                    or v.gce_persistent_disk is not None):
                return QueueingHint.QUEUE
        return QueueingHint.SKIP

    def is_schedulable_after_pvc_added(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """Queue when a claim the pod needs (persistent or ephemeral) was created."""
        if not isinstance(new, PersistentVolumeClaim):
            raise TypeError(f"unexpected object in PVC hint: {type(new).__name__}")
        if new.metadata.namespace != pod.metadata.namespace:
            return QueueingHint.SKIP
        for v in pod.spec.volumes:
            if v.persistent_volume_claim is not None:
                claim = v.persistent_volume_claim.claim_name
            elif v.ephemeral is not None:
                claim = volume_claim_name(pod, v)
            else:
                continue
            if claim == new.metadata.name:
                return QueueingHint.QUEUE
        return QueueingHint.SKIP

    def is_schedulable_after_csi_node_updated(self, pod: Pod, old: Any,
                                              new: Any) -> QueueingHint:
        """Queue when a driver appeared, or a driver's count grew or was removed."""
        if not isinstance(new, CSINode) or not isinstance(old, CSINode):
            raise TypeError("unexpected objects in CSINode hint")
        before = {d.name: (d.allocatable.count if d.allocatable is not None else None)
                  for d in old.spec.drivers}
        for d in new.spec.drivers:
            count = d.allocatable.count if d.allocatable is not None else None
            if d.name not in before:
                return QueueingHint.QUEUE
            prev = before[d.name]
            if prev is not None and (count is None or count > prev):
                return QueueingHint.QUEUE
        return QueueingHint.SKIP


def new(args: None, handle: Handle) -> CSILimits:
    return CSILimits(StorageListers(handle))


SPEC = PluginSpec(NAME, new, None, listers=(
    "persistentvolumeclaims", "persistentvolumes", "storageclasses", "csinodes", "csidrivers",
    "volumeattachments"))


def _check(p: CSILimits) -> tuple[PreFilterPlugin, BatchFilterPlugin, EnqueueExtensions]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p
