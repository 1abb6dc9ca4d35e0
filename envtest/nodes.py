"""Fake nodes in KWOK's usual shape.

Contract: :func:`fake_node` returns the JSON body of a v1 Node that the envtest's kwok
manages (it carries :data:`KWOK_NODE_ANNOTATION`) and that looks like a registered kubelet's
node: the well-known labels, ``type: kwok``, capacity == allocatable as given, node info,
and no taints unless asked. KWOK's node-initialize stage then adds the conditions
(Ready=True), the addresses and keeps the given capacity; its heartbeat stage keeps the
node Ready through a node Lease.

Unlike kwok's own examples, nodes are taint-free by default: in kwok's docs the
``kwok.x-k8s.io/node=fake:NoSchedule`` taint keeps real pods off fake nodes in a real
cluster, but here every node is fake and the scheduler under test should see plain nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_NODE_ANNOTATION_VALUE = "fake"
# The annotation selector kwok is started with: it manages these nodes and only these.
KWOK_NODE_SELECTOR = f"{KWOK_NODE_ANNOTATION}={KWOK_NODE_ANNOTATION_VALUE}"
# Every fake node carries it, as in kwok's examples; also the handle to list or delete them.
KWOK_NODE_LABEL = "type"
KWOK_NODE_LABEL_VALUE = "kwok"

Taint = Mapping[str, str]
"""A taint as its JSON: {"key": ..., "value": ... (optional), "effect": ...}."""

LabelsArg = Mapping[str, str] | Callable[[int], Mapping[str, str]] | None
"""Labels for every node, or a function of the node's index (e.g. to spread zones)."""


def fake_node(
    name: str,
    *,
    cpu: str = "32",
    memory: str = "256Gi",
    pods: int | str = 110,
    ephemeral_storage: str | None = "1Ti",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    taints: Sequence[Taint] | None = None,
    extended_resources: Mapping[str, str | int] | None = None,
    unschedulable: bool = False,
) -> dict[str, Any]:
    """The JSON body of one fake node (see module doc)."""
    resources: dict[str, str] = {"cpu": str(cpu), "memory": str(memory), "pods": str(pods)}
    if ephemeral_storage is not None:
        resources["ephemeral-storage"] = ephemeral_storage
    for k, v in (extended_resources or {}).items():
        resources[k] = str(v)
    all_labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/role": "agent",
        "node-role.kubernetes.io/agent": "",
        KWOK_NODE_LABEL: KWOK_NODE_LABEL_VALUE,
    }
    all_labels.update(labels or {})
    all_annotations = {
        "node.alpha.kubernetes.io/ttl": "0",
        KWOK_NODE_ANNOTATION: KWOK_NODE_ANNOTATION_VALUE,
    }
    all_annotations.update(annotations or {})
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = [dict(t) for t in taints]
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": all_labels, "annotations": all_annotations},
        "spec": spec,
        "status": {
            "allocatable": dict(resources),
            "capacity": dict(resources),
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": "",
                "containerRuntimeVersion": "",
                "kernelVersion": "",
                "kubeProxyVersion": "fake",
                "kubeletVersion": "fake",
                "machineID": "",
                "operatingSystem": "linux",
                "osImage": "",
                "systemUUID": "",
            },
            "phase": "Running",
        },
    }


def node_is_ready(node: Mapping[str, Any]) -> bool:
    """True if the node's Ready condition is True."""
    for cond in node.get("status", {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False
