"""Builders for the volume plugins' tests (storage objects, pods with volumes, a handle with
in-memory listers), and tests that the partial storage schemas decode API-shaped JSON.

Objects are built as API-shaped (camelCase) dicts and converted with msgspec, the same path the
informers use.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.model.pod import Pod
from pyscheduler.model.storage import (
    CSI_DRIVERS,
    CSI_NODES,
    PERSISTENT_VOLUME_CLAIMS,
    PERSISTENT_VOLUMES,
    PODS,
    STORAGE_CLASSES,
    VOLUME_ATTACHMENTS,
    CSIDriver,
    CSINode,
    PersistentVolume,
    PersistentVolumeClaim,
    StorageClass,
    StorageListers,
    VolumeAttachment,
    claim_class,
    not_found,
    volume_class,
    volume_is_for_pod,
)

_uids = itertools.count(1)

HOSTNAME = "kubernetes.io/hostname"


def pvc(name: str, namespace: str = "default", *, class_name: str | None = None,
        volume_name: str = "", access_modes: Sequence[str] = (), request: str | None = None,
        annotations: Mapping[str, str] | None = None, phase: str = "", uid: str | None = None,
        rv: str = "1", bound: bool = False, owner_uid: str | None = None,
        selector: Mapping[str, Any] | None = None, deleting: bool = False,
        volume_mode: str | None = None, vac: str | None = None) -> PersistentVolumeClaim:
    """A claim; ``bound`` adds the bind-completed annotation (a claim the PV controller
    finished binding to ``volume_name``)."""
    ann = dict(annotations or {})
    if bound:
        ann["pv.kubernetes.io/bind-completed"] = "yes"
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "resourceVersion": rv,
                            "uid": uid or f"pvc-uid-{name}", "annotations": ann}
    if owner_uid is not None:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Pod", "name": "owner",
                                    "uid": owner_uid, "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    spec: dict[str, Any] = {"accessModes": list(access_modes), "volumeName": volume_name}
    if class_name is not None:
        spec["storageClassName"] = class_name
    if request is not None:
        spec["resources"] = {"requests": {"storage": request}}
    if selector is not None:
        spec["selector"] = dict(selector)
    if volume_mode is not None:
        spec["volumeMode"] = volume_mode
    if vac is not None:
        spec["volumeAttributesClassName"] = vac
    return msgspec.convert({"metadata": meta, "spec": spec, "status": {"phase": phase}},
                           PersistentVolumeClaim)


def pv(name: str, *, class_name: str = "", capacity: str | None = None,
       access_modes: Sequence[str] = ("ReadWriteOnce",), phase: str = "Available",
       node_affinity: Mapping[str, Sequence[str]] | None = None,
       claim: tuple[str, str, str] | None = None, labels: Mapping[str, str] | None = None,
       csi: tuple[str, str] | None = None, rv: str = "1",
       annotations: Mapping[str, str] | None = None, volume_mode: str | None = None,
       vac: str | None = None, deleting: bool = False) -> PersistentVolume:
    """A PV; ``node_affinity`` maps label keys to In values (one required term);
    ``claim`` is (namespace, name, uid) of a claimRef."""
    meta: dict[str, Any] = {"name": name, "resourceVersion": rv, "labels": dict(labels or {}),
                            "annotations": dict(annotations or {})}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    spec: dict[str, Any] = {"storageClassName": class_name, "accessModes": list(access_modes)}
    if capacity is not None:
        spec["capacity"] = {"storage": capacity}
    if node_affinity is not None:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": k, "operator": "In", "values": list(vs)} for k, vs in node_affinity.items()
        ]}]}}
    if claim is not None:
        ns, n, uid = claim
        spec["claimRef"] = {"kind": "PersistentVolumeClaim", "namespace": ns, "name": n,
                            "uid": uid}
    if csi is not None:
        spec["csi"] = {"driver": csi[0], "volumeHandle": csi[1]}
    if volume_mode is not None:
        spec["volumeMode"] = volume_mode
    if vac is not None:
        spec["volumeAttributesClassName"] = vac
    return msgspec.convert({"metadata": meta, "spec": spec, "status": {"phase": phase}},
                           PersistentVolume)


def storage_class(name: str, *, mode: str | None = None, provisioner: str = "",
                  allowed_topologies: Sequence[Mapping[str, Sequence[str]]] = ()
                  ) -> StorageClass:
    """A class; each ``allowed_topologies`` entry is one term mapping keys to values."""
    obj: dict[str, Any] = {"metadata": {"name": name}, "provisioner": provisioner}
    if mode is not None:
        obj["volumeBindingMode"] = mode
    if allowed_topologies:
        obj["allowedTopologies"] = [
            {"matchLabelExpressions": [{"key": k, "values": list(vs)} for k, vs in t.items()]}
            for t in allowed_topologies]
    return msgspec.convert(obj, StorageClass)


def csi_node(name: str, drivers: Mapping[str, int | None],
             annotations: Mapping[str, str] | None = None) -> CSINode:
    """A CSINode listing ``drivers`` (driver -> allocatable count, None = no count)."""
    ds = []
    for d, count in drivers.items():
        entry: dict[str, Any] = {"name": d, "nodeID": name}
        if count is not None:
            entry["allocatable"] = {"count": count}
        ds.append(entry)
    return msgspec.convert({"metadata": {"name": name, "annotations": dict(annotations or {})},
                            "spec": {"drivers": ds}}, CSINode)


def csi_driver(name: str, *, prevent_if_missing: bool | None = None) -> CSIDriver:
    spec: dict[str, Any] = {"attachRequired": True}
    if prevent_if_missing is not None:
        spec["preventPodSchedulingIfMissing"] = prevent_if_missing
    return msgspec.convert({"metadata": {"name": name}, "spec": spec}, CSIDriver)


def volume_attachment(name: str, node: str, attacher: str, pv_name: str) -> VolumeAttachment:
    return msgspec.convert({"metadata": {"name": name}, "spec": {
        "attacher": attacher, "nodeName": node,
        "source": {"persistentVolumeName": pv_name}}}, VolumeAttachment)


def vpod(name: str = "p", *, namespace: str = "default", uid: str | None = None,
         node: str = "", pvcs: Sequence[str] = (), ephemeral: Sequence[str] = (),
         volumes: Sequence[Mapping[str, Any]] = (), images: Sequence[str] = (),
         init_images: Sequence[str] = ()) -> Pod:
    """A pod with claim volumes (``pvcs``), generic ephemeral volumes and raw ``volumes``."""
    vols: list[dict[str, Any]] = [
        {"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(pvcs)]
    vols += [{"name": e, "ephemeral": {"volumeClaimTemplate": {"spec": {}}}} for e in ephemeral]
    vols += [dict(v) for v in volumes]
    spec: dict[str, Any] = {
        "volumes": vols,
        "containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(images)],
        "initContainers": [{"name": f"i{i}", "image": im} for i, im in enumerate(init_images)],
    }
    if node:
        spec["nodeName"] = node
    return msgspec.convert({"metadata": {"name": name, "namespace": namespace,
                                         "uid": uid or f"uid-{name}-{next(_uids)}"},
                            "spec": spec}, Pod)


def _key(obj: Any) -> str:
    m = obj.metadata
    return f"{m.namespace}/{m.name}" if m.namespace else m.name


class DictLister:
    """An in-memory Lister (get_by_key / list / by_index), like an informer's indexer."""

    def __init__(self, objs: Iterable[Any] = (),
                 indexes: Mapping[str, Any] | None = None) -> None:
        self.items: dict[str, Any] = {}
        self.indexes = dict(indexes or {})
        for o in objs:
            self.put(o)

    def put(self, obj: Any) -> None:
        self.items[_key(obj)] = obj

    def delete(self, key: str) -> None:
        self.items.pop(key, None)

    def get_by_key(self, key: str) -> Any | None:
        return self.items.get(key)

    def list(self) -> list[Any]:
        return list(self.items.values())

    def by_index(self, index_name: str, value: str) -> list[Any]:
        fn = self.indexes[index_name]  # KeyError when the index does not exist, as Indexer
        return [o for o in self.items.values() if value in fn(o)]


@dataclass(slots=True)
class VolumeHandle:
    """A framework handle with storage listers; resources without objects have no lister
    unless ``empty`` names them."""

    snapshot: Snapshot = field(default_factory=Snapshot)
    profile_name: str = "default-scheduler"
    listers: dict[str, DictLister] = field(default_factory=dict)
    volume_client: Any = None

    def lister(self, resource: str) -> DictLister | None:
        return self.listers.get(resource)


def handle_with(snapshot: Snapshot | None = None, *, pvcs: Iterable[PersistentVolumeClaim] = (),
                pvs: Iterable[PersistentVolume] = (), classes: Iterable[StorageClass] = (),
                csi_nodes: Iterable[CSINode] = (), csi_drivers: Iterable[CSIDriver] = (),
                vas: Iterable[VolumeAttachment] = (), pods: Iterable[Pod] | None = None,
                client: Any = None) -> VolumeHandle:
    """A handle whose listers hold these objects (every storage lister exists, maybe empty)."""
    listers = {
        PERSISTENT_VOLUME_CLAIMS: DictLister(pvcs),
        PERSISTENT_VOLUMES: DictLister(pvs),
        STORAGE_CLASSES: DictLister(classes),
        CSI_NODES: DictLister(csi_nodes),
        CSI_DRIVERS: DictLister(csi_drivers),
        VOLUME_ATTACHMENTS: DictLister(vas),
    }
    if pods is not None:
        listers[PODS] = DictLister(pods)
    return VolumeHandle(snapshot if snapshot is not None else Snapshot(), listers=listers,
                        volume_client=client)


# ---- tests of the schemas and helpers --------------------------------------------------------


def test_storage_objects_decode_from_api_json() -> None:
    raw_pvc = (b'{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"c",'
               b'"namespace":"ns","resourceVersion":"42","annotations":{"volume.beta.kubernetes'
               b'.io/storage-class":"beta"}},"spec":{"accessModes":["ReadWriteOncePod"],'
               b'"resources":{"requests":{"storage":"5Gi"}},"storageClassName":"fast",'
               b'"volumeMode":"Filesystem","volumeName":"pv-1","unknown":1},'
               b'"status":{"phase":"Bound"}}')
    c = msgspec.json.decode(raw_pvc, type=PersistentVolumeClaim)
    assert c.spec.access_modes == ["ReadWriteOncePod"]
    assert c.spec.resources.requests == {"storage": "5Gi"}
    assert c.spec.volume_name == "pv-1" and c.status.phase == "Bound"
    assert claim_class(c) == "beta"  # the beta annotation wins over the spec field
    raw_pv = (b'{"metadata":{"name":"pv-1"},"spec":{"capacity":{"storage":"10Gi"},'
              b'"csi":{"driver":"ebs.csi.aws.com","volumeHandle":"vol-1","fsType":"ext4"},'
              b'"claimRef":{"kind":"PersistentVolumeClaim","namespace":"ns","name":"c",'
              b'"uid":"u","apiVersion":"v1","resourceVersion":"42"},"storageClassName":"fast",'
              b'"nodeAffinity":{"required":{"nodeSelectorTerms":[{"matchExpressions":[{"key":'
              b'"zone","operator":"In","values":["a"]}]}]}}},"status":{"phase":"Bound"}}')
    v = msgspec.json.decode(raw_pv, type=PersistentVolume)
    assert v.spec.csi is not None and v.spec.csi.volume_handle == "vol-1"
    assert v.spec.claim_ref is not None and v.spec.claim_ref.api_version == "v1"
    assert v.spec.node_affinity is not None and v.spec.node_affinity.required is not None
    assert volume_class(v) == "fast"
    sc = msgspec.json.decode(b'{"metadata":{"name":"s"},"provisioner":"p","volumeBindingMode":'
                             b'"WaitForFirstConsumer","allowedTopologies":[{"matchLabel'
                             b'Expressions":[{"key":"zone","values":["a"]}]}]}',
                             type=StorageClass)
    assert sc.volume_binding_mode == "WaitForFirstConsumer"
    assert sc.allowed_topologies[0].match_label_expressions[0].values == ["a"]
    cn = msgspec.json.decode(b'{"metadata":{"name":"n"},"spec":{"drivers":[{"name":"d",'
                             b'"nodeID":"i","allocatable":{"count":39},"topologyKeys":["z"]},'
                             b'{"name":"e","nodeID":"j"}]}}', type=CSINode)
    assert [(d.name, d.allocatable.count if d.allocatable else None)
            for d in cn.spec.drivers] == [("d", 39), ("e", None)]
    cd = msgspec.json.decode(b'{"metadata":{"name":"d"},"spec":{"attachRequired":true,'
                             b'"preventPodSchedulingIfMissing":true}}', type=CSIDriver)
    assert cd.spec.prevent_pod_scheduling_if_missing is True
    va = msgspec.json.decode(b'{"metadata":{"name":"va"},"spec":{"attacher":"d","nodeName":'
                             b'"n","source":{"persistentVolumeName":"pv-1"}}}',
                             type=VolumeAttachment)
    assert va.spec.source.persistent_volume_name == "pv-1"


def test_not_found_messages_are_client_go_listers() -> None:
    assert not_found(PERSISTENT_VOLUME_CLAIMS, "x") == 'persistentvolumeclaim "x" not found'
    assert not_found(PERSISTENT_VOLUMES, "x") == 'persistentvolume "x" not found'
    assert not_found(STORAGE_CLASSES, "x") == 'storageclass.storage.k8s.io "x" not found'


def test_volume_is_for_pod_needs_the_controller_reference() -> None:
    p = vpod("abc", namespace="test", uid="12345", ephemeral=["xyz"])
    owned = pvc("abc-xyz", "test", owner_uid="12345")
    assert volume_is_for_pod(p, owned) is None
    assert volume_is_for_pod(p, pvc("abc-xyz", "test")) == (
        "PVC test/abc-xyz was not created for pod test/abc (pod is not owner)")


def test_listers_missing_read_as_empty() -> None:
    listers = StorageListers(VolumeHandle())
    assert listers.pvc("default", "x") is None
    assert listers.pvs_of_class("") == []
    assert listers.volume_attachments_on("n") == []
    assert StorageListers(None).pv("x") is None


def test_listers_use_an_index_when_there_is_one() -> None:
    h = handle_with(pvs=[pv("a", class_name="gold"), pv("b", class_name="silver")])
    h.listers[PERSISTENT_VOLUMES].indexes["storageClassName"] = lambda o: [volume_class(o)]
    assert [x.metadata.name for x in StorageListers(h).pvs_of_class("gold")] == ["a"]
    del h.listers[PERSISTENT_VOLUMES].indexes["storageClassName"]
    assert [x.metadata.name for x in StorageListers(h).pvs_of_class("silver")] == ["b"]
