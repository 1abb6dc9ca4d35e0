"""Partial typed schemas of the storage objects the volume plugins read, and typed lookups.

Contract (see meta.py for what "partial schema" means):
* ``PersistentVolumeClaim``, ``PersistentVolume`` (core/v1), ``StorageClass``, ``CSINode``,
  ``CSIDriver`` and ``VolumeAttachment`` (storage.k8s.io/v1) hold only what scheduling reads.
  Optional pointer fields whose absence means something (``storageClassName``,
  ``volumeBindingMode``, ``allocatable.count``...) are ``None`` when absent, as in Go.
* The helpers mirror component-helpers/storage/volume: ``claim_class``/``volume_class`` read the
  beta storage-class annotation before the spec field; ``volume_claim_name`` and
  ``volume_is_for_pod`` are the generic-ephemeral-volume rules.
* ``StorageListers`` reads the informers' indexers through the framework handle by resource
  name (``handle.lister("persistentvolumeclaims")``...). A resource whose lister is missing
  behaves as if it had no objects: lookups return None and lists are empty. ``not_found``
  renders client-go's lister error ("persistentvolumeclaim \\"x\\" not found") so plugins can
  return upstream's user-visible reasons.
* ``PV_STORAGE_CLASS_INDEX``/``VA_NODE_INDEX`` name optional indexer functions the informers may
  register; lookups use them when present and fall back to a filtered list otherwise.
"""

from __future__ import annotations

import builtins
from typing import Any, Protocol

import msgspec

from pyscheduler.model.meta import K8sLeaf, K8sStruct, ObjectMeta
from pyscheduler.model.pod import LabelSelector, NodeSelector, Pod, Volume

# Resource names as the handle's lister() and the informers know them.
PERSISTENT_VOLUME_CLAIMS = "persistentvolumeclaims"
PERSISTENT_VOLUMES = "persistentvolumes"
STORAGE_CLASSES = "storageclasses"
CSI_NODES = "csinodes"
CSI_DRIVERS = "csidrivers"
VOLUME_ATTACHMENTS = "volumeattachments"
PODS = "pods"

# Access modes, phases and binding modes used by the plugins.
READ_WRITE_ONCE_POD = "ReadWriteOncePod"
CLAIM_LOST = "Lost"
VOLUME_AVAILABLE = "Available"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
VOLUME_MODE_FILESYSTEM = "Filesystem"
STORAGE = "storage"

# Annotations (component-helpers/storage/volume).
ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"
ANN_MIGRATED_PLUGINS = "storage.alpha.kubernetes.io/migrated-plugins"
NOT_SUPPORTED_PROVISIONER = "kubernetes.io/no-provisioner"

PV_STORAGE_CLASS_INDEX = "storageClassName"
VA_NODE_INDEX = "nodeName"


# ---- core/v1 PersistentVolumeClaim -------------------------------------------------------------


class ObjectReference(K8sLeaf):
    kind: str = ""
    namespace: str = ""
    name: str = ""
    uid: str = ""
    api_version: str = ""
    resource_version: str = ""
    field_path: str = ""


class VolumeResourceRequirements(K8sLeaf):
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}


class PersistentVolumeClaimSpec(K8sStruct):
    access_modes: list[str] = []
    selector: LabelSelector | None = None
    resources: VolumeResourceRequirements = msgspec.field(
        default_factory=VolumeResourceRequirements
    )
    volume_name: str = ""
    storage_class_name: str | None = None
    volume_mode: str | None = None
    volume_attributes_class_name: str | None = None


class PersistentVolumeClaimStatus(K8sLeaf):
    phase: str = ""


class PersistentVolumeClaim(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PersistentVolumeClaimSpec = msgspec.field(default_factory=PersistentVolumeClaimSpec)
    status: PersistentVolumeClaimStatus = msgspec.field(
        default_factory=PersistentVolumeClaimStatus
    )


# ---- core/v1 PersistentVolume ------------------------------------------------------------------


class CSIPersistentVolumeSource(K8sLeaf):
    driver: str = ""
    volume_handle: str = ""


class VolumeNodeAffinity(K8sStruct):
    required: NodeSelector | None = None


class PersistentVolumeSpec(K8sStruct):
    capacity: dict[str, str] = {}
    access_modes: list[str] = []
    claim_ref: ObjectReference | None = None
    storage_class_name: str = ""
    volume_mode: str | None = None
    node_affinity: VolumeNodeAffinity | None = None
    csi: CSIPersistentVolumeSource | None = None
    volume_attributes_class_name: str | None = None


class PersistentVolumeStatus(K8sLeaf):
    phase: str = ""


class PersistentVolume(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PersistentVolumeSpec = msgspec.field(default_factory=PersistentVolumeSpec)
    status: PersistentVolumeStatus = msgspec.field(default_factory=PersistentVolumeStatus)


# ---- storage.k8s.io/v1 -------------------------------------------------------------------------


class TopologySelectorLabelRequirement(K8sLeaf):
    key: str = ""
    values: list[str] = []


class TopologySelectorTerm(K8sStruct):
    match_label_expressions: list[TopologySelectorLabelRequirement] = []


class StorageClass(K8sStruct):
    """StorageClass has no spec: its fields sit at the top level of the object."""

    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    provisioner: str = ""
    # The API server defaults it to "Immediate"; None only in hand-built objects (upstream
    # reports "VolumeBindingMode not set" for those).
    volume_binding_mode: str | None = None
    allowed_topologies: list[TopologySelectorTerm] = []


class VolumeNodeResources(K8sLeaf):
    count: int | None = None


class CSINodeDriver(K8sStruct):
    name: str = ""
    allocatable: VolumeNodeResources | None = None


class CSINodeSpec(K8sStruct):
    drivers: list[CSINodeDriver] = []


class CSINode(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: CSINodeSpec = msgspec.field(default_factory=CSINodeSpec)


class CSIDriverSpec(K8sLeaf):
    attach_required: bool | None = None
    storage_capacity: bool | None = None
    prevent_pod_scheduling_if_missing: bool | None = None


class CSIDriver(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: CSIDriverSpec = msgspec.field(default_factory=CSIDriverSpec)


class VolumeAttachmentSource(K8sLeaf):
    persistent_volume_name: str | None = None


class VolumeAttachmentSpec(K8sStruct):
    attacher: str = ""
    source: VolumeAttachmentSource = msgspec.field(default_factory=VolumeAttachmentSource)
    node_name: str = ""


class VolumeAttachment(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: VolumeAttachmentSpec = msgspec.field(default_factory=VolumeAttachmentSpec)


# ---- helpers (component-helpers/storage) -------------------------------------------------------


def claim_class(pvc: PersistentVolumeClaim) -> str:
    """GetPersistentVolumeClaimClass: the beta annotation wins over spec.storageClassName."""
    ann = pvc.metadata.annotations.get(ANN_BETA_STORAGE_CLASS)
    if ann is not None:
        return ann
    return pvc.spec.storage_class_name or ""


def volume_class(pv: PersistentVolume) -> str:
    """GetPersistentVolumeClass: the beta annotation wins over spec.storageClassName."""
    ann = pv.metadata.annotations.get(ANN_BETA_STORAGE_CLASS)
    if ann is not None:
        return ann
    return pv.spec.storage_class_name


def volume_claim_name(pod: Pod, volume: Volume) -> str:
    """ephemeral.VolumeClaimName: the PVC a generic ephemeral volume is backed by."""
    return f"{pod.metadata.name}-{volume.name}"


def volume_is_for_pod(pod: Pod, pvc: PersistentVolumeClaim) -> str | None:
    """ephemeral.VolumeIsForPod: None when the pod controls the PVC, else the error text."""
    controlled = any(ref.controller and ref.uid == pod.metadata.uid
                     for ref in pvc.metadata.owner_references)
    if pvc.metadata.namespace != pod.metadata.namespace or not controlled:
        m, pm = pvc.metadata, pod.metadata
        return (f"PVC {m.namespace}/{m.name} was not created for pod "
                f"{pm.namespace}/{pm.name} (pod is not owner)")
    return None


def resource_version(meta: ObjectMeta) -> int:
    """metadata.resourceVersion as the assume caches compare it ("" counts as 0)."""
    try:
        return int(meta.resource_version or 0)
    except ValueError:
        return 0


def quote(name: str) -> str:
    """Go's %q for the names that appear in messages (printable ASCII is the common case)."""
    out = ['"']
    for ch in name:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    out.append('"')
    return "".join(out)


# The "group resource" client-go's listers put in their NotFound errors.
_NOT_FOUND_RESOURCE = {
    PERSISTENT_VOLUME_CLAIMS: "persistentvolumeclaim",
    PERSISTENT_VOLUMES: "persistentvolume",
    STORAGE_CLASSES: "storageclass.storage.k8s.io",
    CSI_NODES: "csinode.storage.k8s.io",
    CSI_DRIVERS: "csidriver.storage.k8s.io",
    VOLUME_ATTACHMENTS: "volumeattachment.storage.k8s.io",
    PODS: "pod",
}


def not_found(resource: str, name: str) -> str:
    """apierrors.NewNotFound(...).Error() as a client-go lister returns it."""
    return f"{_NOT_FOUND_RESOURCE[resource]} {quote(name)} not found"


class _ListerSource(Protocol):
    """The part of framework.interfaces.Handle this module needs."""

    def lister(self, resource: str) -> Any: ...


class StorageListers:
    """Typed reads of the storage informers through a handle; missing listers read as empty.

    Listers are looked up on every call (a dict lookup), so informers wired after the plugins
    were built are still seen.
    """

    __slots__ = ("_handle",)

    def __init__(self, handle: _ListerSource | None) -> None:
        self._handle = handle

    def _get(self, resource: str, key: str) -> Any:
        if self._handle is None:
            return None
        lister = self._handle.lister(resource)
        return None if lister is None else lister.get_by_key(key)

    def _list(self, resource: str) -> builtins.list[Any]:
        if self._handle is None:
            return []
        lister = self._handle.lister(resource)
        return [] if lister is None else list(lister.list())

    def _by_index(self, resource: str, index: str, value: str) -> builtins.list[Any] | None:
        """Objects under an index value, or None when the lister has no such index."""
        if self._handle is None:
            return []
        lister = self._handle.lister(resource)
        if lister is None:
            return []
        try:
            return list(lister.by_index(index, value))
        except (KeyError, AttributeError):
            return None

    def pvc(self, namespace: str, name: str) -> PersistentVolumeClaim | None:
        obj: PersistentVolumeClaim | None = self._get(PERSISTENT_VOLUME_CLAIMS,
                                                      f"{namespace}/{name}")
        return obj

    def pv(self, name: str) -> PersistentVolume | None:
        obj: PersistentVolume | None = self._get(PERSISTENT_VOLUMES, name)
        return obj

    def storage_class(self, name: str) -> StorageClass | None:
        obj: StorageClass | None = self._get(STORAGE_CLASSES, name)
        return obj

    def csi_node(self, name: str) -> CSINode | None:
        obj: CSINode | None = self._get(CSI_NODES, name)
        return obj

    def csi_driver(self, name: str) -> CSIDriver | None:
        obj: CSIDriver | None = self._get(CSI_DRIVERS, name)
        return obj

    def pod(self, namespace: str, name: str) -> Pod | None:
        obj: Pod | None = self._get(PODS, f"{namespace}/{name}")
        return obj

    def has(self, resource: str) -> bool:
        return self._handle is not None and self._handle.lister(resource) is not None

    def pvs_of_class(self, class_name: str) -> builtins.list[PersistentVolume]:
        """PVs whose class (volume_class) is ``class_name``."""
        pvs = self._by_index(PERSISTENT_VOLUMES, PV_STORAGE_CLASS_INDEX, class_name)
        if pvs is None:
            pvs = self._list(PERSISTENT_VOLUMES)
        return [pv for pv in pvs if volume_class(pv) == class_name]

    def volume_attachments_on(self, node_name: str) -> builtins.list[VolumeAttachment]:
        vas = self._by_index(VOLUME_ATTACHMENTS, VA_NODE_INDEX, node_name)
        if vas is None:
            vas = self._list(VOLUME_ATTACHMENTS)
        return [va for va in vas if va.spec.node_name == node_name]

    def volume_attachments_by_node(self) -> VolumeAttachmentsByNode:
        """A per-cycle view of VolumeAttachments by node: the informer's index when it has
        one, else one pass over all of them (instead of one per node)."""
        if self._by_index(VOLUME_ATTACHMENTS, VA_NODE_INDEX, "") is not None:
            return VolumeAttachmentsByNode(self, None)
        grouped: dict[str, builtins.list[VolumeAttachment]] = {}
        for va in self._list(VOLUME_ATTACHMENTS):
            grouped.setdefault(va.spec.node_name, []).append(va)
        return VolumeAttachmentsByNode(self, grouped)


class VolumeAttachmentsByNode:
    __slots__ = ("_grouped", "_listers")

    def __init__(self, listers: StorageListers,
                 grouped: dict[str, builtins.list[VolumeAttachment]] | None) -> None:
        self._listers = listers
        self._grouped = grouped

    def on(self, node_name: str) -> builtins.list[VolumeAttachment]:
        if self._grouped is None:
            return self._listers.volume_attachments_on(node_name)
        return self._grouped.get(node_name, [])


def pv_storage_class_index(pv: PersistentVolume) -> builtins.list[str]:
    """Indexer for the PV informer (PV_STORAGE_CLASS_INDEX), as upstream's PV assume cache."""
    return [volume_class(pv)]


def va_node_index(va: VolumeAttachment) -> builtins.list[str]:
    """Indexer for the VolumeAttachment informer (VA_NODE_INDEX)."""
    return [va.spec.node_name] if va.spec.node_name else []
