"""Partial typed schema of core/v1 Node: only what scheduling reads. Contract: see meta.py."""

from __future__ import annotations

import msgspec

from pyscheduler.model.meta import K8sLeaf, K8sStruct, ObjectMeta


class Taint(K8sLeaf):
    key: str = ""
    value: str = ""
    effect: str = ""


class NodeSpec(K8sStruct):
    unschedulable: bool = False
    taints: list[Taint] = []


class ContainerImage(K8sLeaf):
    names: list[str] = []
    size_bytes: int = 0


class NodeCondition(K8sLeaf):
    type: str = ""
    status: str = ""


class NodeStatus(K8sStruct):
    capacity: dict[str, str] = {}
    allocatable: dict[str, str] = {}
    images: list[ContainerImage] = []
    conditions: list[NodeCondition] = []


class Node(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: NodeSpec = msgspec.field(default_factory=NodeSpec)
    status: NodeStatus = msgspec.field(default_factory=NodeStatus)
