"""The selector of a pod's workload, for default spreading (upstream helper.DefaultSelector).

Contract:
* The objects' partial schemas are in pyscheduler/model/workloads.py.
* ``default_selector(pod, handle)``: the union of the selectors of the Services in the pod's
  namespace that select the pod, then ANDed with the selector of the pod's controller when it is
  a ReplicationController (core/v1), ReplicaSet or StatefulSet (apps/v1) found by name in the
  pod's namespace. Listers are read through ``handle.lister`` by resource name ("services",
  "replicationcontrollers", "replicasets", "statefulsets"); a missing lister or object simply
  contributes nothing, as a failed lookup does upstream. An empty result means "no default
  constraints" for the pod.
"""

from __future__ import annotations

from typing import Any

from pyscheduler.framework.interfaces import Handle, Lister
from pyscheduler.informers.indexer import NAMESPACE_INDEX
from pyscheduler.model.pod import Pod
from pyscheduler.model.workloads import (
    REPLICA_SETS,
    REPLICATION_CONTROLLERS,
    SERVICES,
    STATEFUL_SETS,
)
from pyscheduler.plugins.pod_topology_spread.selector import Selector, SelectorError

_RC_GVK = ("", "v1", "ReplicationController")
_RS_GVK = ("apps", "v1", "ReplicaSet")
_SS_GVK = ("apps", "v1", "StatefulSet")


def _in_namespace(lister: Lister, namespace: str) -> list[Any]:
    try:
        return lister.by_index(NAMESPACE_INDEX, namespace)
    except KeyError:  # an indexer without the namespace index
        return [o for o in lister.list() if o.metadata.namespace == namespace]


def _parse_group_version(api_version: str) -> tuple[str, str] | None:
    """schema.ParseGroupVersion; None where it returns an error."""
    if not api_version or api_version == "/":
        return "", ""
    parts = api_version.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


def default_selector(pod: Pod, handle: Handle | None) -> Selector:
    """helper.DefaultSelector over the handle's listers."""
    ns = pod.metadata.namespace
    labels = pod.metadata.labels
    label_set: dict[str, str] = {}
    services = handle.lister(SERVICES) if handle is not None else None
    if services is not None:
        for svc in _in_namespace(services, ns):
            sel = svc.spec.selector
            if sel is None:
                continue  # a Service without a selector matches nothing, not everything
            if all(labels.get(k) == val for k, val in sel.items()):
                label_set.update(sel)
    selector = Selector.from_set(label_set)

    owner = next((r for r in pod.metadata.owner_references if r.controller), None)
    if owner is None or handle is None:
        return selector
    gv = _parse_group_version(owner.api_version)
    if gv is None:
        return selector
    gvk = (gv[0], gv[1], owner.kind)
    key = f"{ns}/{owner.name}"
    if gvk == _RC_GVK:
        lister = handle.lister(REPLICATION_CONTROLLERS)
        rc = lister.get_by_key(key) if lister is not None else None
        if rc is not None:
            label_set.update(rc.spec.selector or {})
            selector = Selector.from_set(label_set)
    elif gvk in (_RS_GVK, _SS_GVK):
        lister = handle.lister(REPLICA_SETS if gvk == _RS_GVK else STATEFUL_SETS)
        obj = lister.get_by_key(key) if lister is not None else None
        if obj is not None:
            try:
                other = Selector.from_label_selector(obj.spec.selector)
            except SelectorError:
                return selector
            selector = selector.add(other.requirements)  # nothing adds no requirements
    return selector
