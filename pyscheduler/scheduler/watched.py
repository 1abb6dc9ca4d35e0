"""The objects besides pods and nodes that plugins read, by lister name.

Contract:
* ``WATCHED[name]`` says how to watch a resource that a plugin may ask for with
  ``handle.lister(name)``: the API resource, the partial schema it decodes into, the indexes
  its indexer keeps, and the cluster-event resource its changes are reported as (None when no
  plugin reacts to changes of it, as for Services or PodDisruptionBudgets upstream).
* A plugin declares the listers it reads in ``PluginSpec.listers``; the app starts an informer
  only for the union over enabled plugins (upstream starts informers on first use the same
  way), so a profile without volume plugins never lists PersistentVolumes.
* Namespaced resources always carry the namespace index (``by_index("namespace", ns)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyscheduler.api import resources as lw
from pyscheduler.api.resources import Resource as ApiResource
from pyscheduler.framework.types import Resource as EventResource
from pyscheduler.informers.indexer import NAMESPACE_INDEX, index_by_namespace
from pyscheduler.model import elasticquota, podgroup, storage, workloads
from pyscheduler.model.namespace import Namespace
from pyscheduler.model.pdb import PodDisruptionBudget

IndexFunc = Callable[[Any], list[str]]


@dataclass(frozen=True, slots=True)
class Watched:
    api: ApiResource
    type: type[Any]
    events: EventResource | None = None
    indexers: dict[str, IndexFunc] = field(default_factory=dict)

    def all_indexers(self) -> dict[str, IndexFunc]:
        """The declared indexers, plus the namespace index for a namespaced resource."""
        if not self.api.namespaced:
            return dict(self.indexers)
        return {NAMESPACE_INDEX: index_by_namespace, **self.indexers}


WATCHED: dict[str, Watched] = {
    "namespaces": Watched(ApiResource("v1", "namespaces", namespaced=False), Namespace),
    workloads.SERVICES: Watched(ApiResource("v1", "services"), workloads.Service),
    workloads.REPLICATION_CONTROLLERS: Watched(
        ApiResource("v1", "replicationcontrollers"), workloads.ReplicationController),
    workloads.REPLICA_SETS: Watched(ApiResource("apps/v1", "replicasets"), workloads.ReplicaSet),
    workloads.STATEFUL_SETS: Watched(
        ApiResource("apps/v1", "statefulsets"), workloads.StatefulSet),
    "poddisruptionbudgets": Watched(
        ApiResource("policy/v1", "poddisruptionbudgets"), PodDisruptionBudget),
    # Gang scheduling: upstream's PodGroup (GenericWorkload) and scheduler-plugins' CRD.
    podgroup.POD_GROUPS: Watched(
        ApiResource("scheduling.k8s.io/v1beta1", "podgroups"), podgroup.PodGroup,
        EventResource.POD_GROUP),
    podgroup.COSCHEDULING_POD_GROUPS: Watched(
        ApiResource("scheduling.x-k8s.io/v1alpha1", "podgroups"), podgroup.CoschedulingPodGroup,
        EventResource.COSCHEDULING_POD_GROUP),
    storage.PERSISTENT_VOLUME_CLAIMS: Watched(
        lw.PERSISTENT_VOLUME_CLAIMS, storage.PersistentVolumeClaim,
        EventResource.PVC),
    storage.PERSISTENT_VOLUMES: Watched(
        lw.PERSISTENT_VOLUMES, storage.PersistentVolume,
        EventResource.PV, {storage.PV_STORAGE_CLASS_INDEX: storage.pv_storage_class_index}),
    storage.STORAGE_CLASSES: Watched(
        lw.STORAGE_CLASSES,
        storage.StorageClass, EventResource.STORAGE_CLASS),
    storage.CSI_NODES: Watched(
        lw.CSI_NODES, storage.CSINode,
        EventResource.CSI_NODE),
    storage.CSI_DRIVERS: Watched(
        lw.CSI_DRIVERS, storage.CSIDriver,
        EventResource.CSI_DRIVER),
    storage.VOLUME_ATTACHMENTS: Watched(
        lw.VOLUME_ATTACHMENTS,
        storage.VolumeAttachment, EventResource.VOLUME_ATTACHMENT,
        {storage.VA_NODE_INDEX: storage.va_node_index}),
    # scheduler-plugins' CRD (CapacityScheduling): its changes are upstream's custom event
    # "elasticquotas.v1alpha1.scheduling.x-k8s.io".
    elasticquota.ELASTIC_QUOTAS: Watched(
        lw.ELASTIC_QUOTAS, elasticquota.ElasticQuota,
        EventResource.ELASTIC_QUOTA),
}
