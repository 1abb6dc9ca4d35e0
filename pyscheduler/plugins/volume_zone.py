"""VolumeZone: a pod must run in the zone/region of the PersistentVolumes it is bound to.

Contract (upstream volumezone/volume_zone.go, queueing hints enabled):
* PreFilter reads, for every persistentVolumeClaim volume of the pod, the claim and its bound
  PV, and collects the PV's topology labels among failure-domain.beta.kubernetes.io/zone,
  failure-domain.beta.kubernetes.io/region, topology.kubernetes.io/zone and
  topology.kubernetes.io/region. A label value is a "__"-separated set of zones (entries
  trimmed; a value with an empty entry is ignored). Errors, all UnschedulableAndUnresolvable:
  a claim with no name ("PersistentVolumeClaim had no name"), a missing claim, PV or class (the
  lister's "... not found"), an unbound claim without a class ("PersistentVolumeClaim had no pv
  name and storageClass name"), a class with no binding mode ("VolumeBindingMode not set for
  StorageClass \\"x\\""), an unbound claim whose class binds immediately ("PersistentVolume had no
  name"). Unbound WaitForFirstConsumer claims are skipped. No topology at all: Skip.
* Filter: a node with none of the four labels passes (single-zone clusters). Otherwise every
  collected PV label must be on the node (a beta PV label may be matched by the node's GA
  label) with a value in the PV's set, else UnschedulableAndUnresolvable "node(s) had no
  available volume zone". When PreFilter did not run, Filter computes the topology itself.
* The batch filter evaluates each PV label once per distinct node label value (the snapshot's
  label columns) and gathers the verdict to rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    BatchFilterPlugin,
    BoolArr,
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
    PERSISTENT_VOLUMES,
    STORAGE_CLASSES,
    WAIT_FOR_FIRST_CONSUMER,
    PersistentVolume,
    PersistentVolumeClaim,
    StorageClass,
    StorageListers,
    claim_class,
    not_found,
    quote,
)

NAME = "VolumeZone"
PRE_FILTER_STATE_KEY = "PreFilter" + NAME

ERR_REASON_CONFLICT = "node(s) had no available volume zone"

LABEL_FAILURE_DOMAIN_BETA_ZONE = "failure-domain.beta.kubernetes.io/zone"
LABEL_FAILURE_DOMAIN_BETA_REGION = "failure-domain.beta.kubernetes.io/region"
LABEL_TOPOLOGY_ZONE = "topology.kubernetes.io/zone"
LABEL_TOPOLOGY_REGION = "topology.kubernetes.io/region"
TOPOLOGY_LABELS = (LABEL_FAILURE_DOMAIN_BETA_ZONE, LABEL_FAILURE_DOMAIN_BETA_REGION,
                   LABEL_TOPOLOGY_ZONE, LABEL_TOPOLOGY_REGION)
# cloud-provider's volume helpers: several zones in one label value.
LABEL_MULTI_ZONE_DELIMITER = "__"


def translate_to_ga_label(label: str) -> str:
    if label == LABEL_FAILURE_DOMAIN_BETA_REGION:
        return LABEL_TOPOLOGY_REGION
    if label == LABEL_FAILURE_DOMAIN_BETA_ZONE:
        return LABEL_TOPOLOGY_ZONE
    return label


def label_zones_to_set(value: str) -> frozenset[str] | None:
    """volumehelpers.LabelZonesToSet; None where it errors (an empty entry)."""
    zones: set[str] = set()
    for z in value.split(LABEL_MULTI_ZONE_DELIMITER):
        z = z.strip()
        if not z:
            return None
        zones.add(z)
    return frozenset(zones)


@dataclass(frozen=True, slots=True)
class PVTopology:
    pv_name: str
    key: str
    values: frozenset[str]


def pv_topologies(pv: PersistentVolume) -> list[PVTopology]:
    """The PV's parsable topology labels, in TOPOLOGY_LABELS order."""
    out: list[PVTopology] = []
    for key in TOPOLOGY_LABELS:
        value = pv.metadata.labels.get(key)
        if value is None:
            continue
        zones = label_zones_to_set(value)
        if zones is None:
            continue  # upstream logs and ignores an unparsable label
        out.append(PVTopology(pv.metadata.name, key, zones))
    return out


def pvc_names(pod: Pod) -> list[str]:
    """Claims named by persistentVolumeClaim volumes (generic ephemeral ones are not read)."""
    return [v.persistent_volume_claim.claim_name for v in pod.spec.volumes
            if v.persistent_volume_claim is not None]


def _node_passes(labels: dict[str, str], topologies: list[PVTopology]) -> bool:
    if not any(k in labels for k in TOPOLOGY_LABELS):
        return True  # a node without zone labels: single-zone cluster
    for t in topologies:
        value = labels.get(t.key)
        if value is None:
            value = labels.get(translate_to_ga_label(t.key))
        if value is None or value not in t.values:
            return False
    return True


@dataclass(slots=True)
class _State:
    topologies: list[PVTopology]


@dataclass(slots=True)
class VolumeZone:
    """PreFilter, Filter (batch) and EnqueueExtensions."""

    listers: StorageListers
    name: str = NAME

    def pv_topologies_of(self, pod: Pod) -> tuple[list[PVTopology], Status | None]:
        """upstream getPVbyPod."""
        out: list[PVTopology] = []
        ns = pod.metadata.namespace
        for claim in pvc_names(pod):
            if not claim:
                return [], Status.unresolvable("PersistentVolumeClaim had no name", plugin=NAME)
            pvc = self.listers.pvc(ns, claim)
            if pvc is None:
                return [], Status.unresolvable(not_found(PERSISTENT_VOLUME_CLAIMS, claim),
                                               plugin=NAME)
            pv_name = pvc.spec.volume_name
            if not pv_name:
                sc_name = claim_class(pvc)
                if not sc_name:
                    return [], Status.unresolvable(
                        "PersistentVolumeClaim had no pv name and storageClass name", plugin=NAME)
                sc = self.listers.storage_class(sc_name)
                if sc is None:
                    return [], Status.unresolvable(not_found(STORAGE_CLASSES, sc_name),
                                                   plugin=NAME)
                if sc.volume_binding_mode is None:
                    return [], Status.unresolvable(
                        f"VolumeBindingMode not set for StorageClass {quote(sc_name)}",
                        plugin=NAME)
                if sc.volume_binding_mode == WAIT_FOR_FIRST_CONSUMER:
                    continue  # bound later, to a node the scheduler picks
                return [], Status.unresolvable("PersistentVolume had no name", plugin=NAME)
            pv = self.listers.pv(pv_name)
            if pv is None:
                return [], Status.unresolvable(not_found(PERSISTENT_VOLUMES, pv_name),
                                               plugin=NAME)
            out.extend(pv_topologies(pv))
        return out, None

    # ---- prefilter ------------------------------------------------------------------------
    def pre_filter(self, state: CycleState, pod: PodInfo,
                   snapshot: Snapshot) -> tuple[PreFilterResult | None, Status | None]:
        """Collect the bound PVs' topology labels; Skip when there are none."""
        topologies, st = self.pv_topologies_of(pod.pod)
        if st is not None:
            return None, st
        if not topologies:
            return None, Status.skip()
        state.write(PRE_FILTER_STATE_KEY, _State(topologies))
        return None, None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return None

    def _topologies(self, state: CycleState, pod: PodInfo) -> tuple[list[PVTopology],
                                                                     Status | None]:
        s = state.get(PRE_FILTER_STATE_KEY)
        if isinstance(s, _State):
            return s.topologies, None
        return self.pv_topologies_of(pod.pod)

    # ---- filter ---------------------------------------------------------------------------
    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """The node's zone labels must match every bound PV's."""
        if not pod.pod.spec.volumes:
            return None
        topologies, st = self._topologies(state, pod)
        if st is not None:
            return st
        if _node_passes(node_info.labels, topologies):
            return None
        return Status.unresolvable(ERR_REASON_CONFLICT, plugin=NAME)

    def filter_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                     rows: I64) -> FilterVerdict | None:
        """Each PV label once per distinct node label value, gathered to rows."""
        if not pod.pod.spec.volumes or len(rows) == 0:
            return None
        topologies, st = self._topologies(state, pod)
        if st is not None:
            everyone = np.ones(len(rows), dtype=np.bool_)
            return FilterVerdict(~everyone, [Failure(r, everyone, st.code) for r in st.reasons])
        constrained = np.zeros(len(rows), dtype=np.bool_)
        for key in TOPOLOGY_LABELS:
            kc = snapshot.label_codes(key)
            constrained |= kc.codes[rows] != kc.index.get(None, -1)
        if not constrained.any():
            return None
        ok = np.ones(len(rows), dtype=np.bool_)
        for t in topologies:
            ok &= self._matches(snapshot, rows, t)
        fail = constrained & ~ok
        if not fail.any():
            return None
        return FilterVerdict(~fail, [Failure(ERR_REASON_CONFLICT, fail,
                                             Code.UNSCHEDULABLE_AND_UNRESOLVABLE)])

    def _matches(self, snapshot: Snapshot, rows: I64, t: PVTopology) -> BoolArr:
        """Rows whose value of t.key (or, absent, of its GA label) is in t.values."""
        kc = snapshot.label_codes(t.key)
        lut = np.fromiter((v is not None and v in t.values for v in kc.values),
                          dtype=np.bool_, count=len(kc.values))
        codes = kc.codes[rows]
        out: BoolArr = lut[codes]
        ga = translate_to_ga_label(t.key)
        if ga != t.key:
            absent = codes == kc.index.get(None, -1)
            if absent.any():
                gc = snapshot.label_codes(ga)
                glut = np.fromiter((v is not None and v in t.values for v in gc.values),
                                   dtype=np.bool_, count=len(gc.values))
                out = np.where(absent, glut[gc.codes[rows]], out)
        return out

    # ---- queueing hints -------------------------------------------------------------------
    def events_to_register(self) -> list[ClusterEventWithHint]:
        """New WaitForFirstConsumer classes, nodes and zone labels, the pod's PVCs, PVs."""
        return [
            # volumeBindingMode is immutable, so class updates cannot help.
            ClusterEventWithHint(ClusterEvent(Resource.STORAGE_CLASS, ActionType.ADD),
                                 self.is_schedulable_after_storage_class_added),
            ClusterEventWithHint(ClusterEvent(Resource.NODE,
                                              ActionType.ADD | ActionType.UPDATE_NODE_LABEL)),
            ClusterEventWithHint(ClusterEvent(Resource.PVC, ActionType.ADD | ActionType.UPDATE),
                                 self.is_schedulable_after_pvc_change),
            ClusterEventWithHint(ClusterEvent(Resource.PV, ActionType.ADD | ActionType.UPDATE),
                                 self.is_schedulable_after_pv_change),
        ]

    def is_schedulable_after_pvc_change(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """Queue when a claim the pod names was created or changed."""
        if not isinstance(new, PersistentVolumeClaim):
            raise TypeError(f"unexpected object in PVC hint: {type(new).__name__}")
        if new.metadata.namespace == pod.metadata.namespace and \
                new.metadata.name in pvc_names(pod):
            return QueueingHint.QUEUE
        return QueueingHint.SKIP

    def is_schedulable_after_storage_class_added(self, pod: Pod, old: Any,
                                                 new: Any) -> QueueingHint:
        """Only a new WaitForFirstConsumer class can help."""
        if not isinstance(new, StorageClass):
            raise TypeError(f"unexpected object in StorageClass hint: {type(new).__name__}")
        if new.volume_binding_mode != WAIT_FOR_FIRST_CONSUMER:
            return QueueingHint.SKIP
        return QueueingHint.QUEUE

    def is_schedulable_after_pv_change(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """A new PV may help; an updated one only when its topology labels changed."""
        if not isinstance(new, PersistentVolume) or (
                old is not None and not isinstance(old, PersistentVolume)):
            raise TypeError("unexpected objects in PV hint")
        if old is None:
            return QueueingHint.QUEUE
        if pv_topologies(old) != pv_topologies(new):
            return QueueingHint.QUEUE
        return QueueingHint.SKIP


def new(args: None, handle: Handle) -> VolumeZone:
    return VolumeZone(StorageListers(handle))


SPEC = PluginSpec(NAME, new, None, listers=(
    "persistentvolumeclaims", "persistentvolumes", "storageclasses"))


def _check(p: VolumeZone) -> tuple[PreFilterPlugin, BatchFilterPlugin, EnqueueExtensions]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p
