"""Partial schemas of the workload objects default spreading reads.

Contract: ``Service`` (spec.selector), ``ReplicationController`` (spec.selector, a plain map)
and ``ReplicaSet`` / ``StatefulSet`` (spec.selector, a LabelSelector). ``None`` selectors are
kept distinct from empty ones because upstream treats them differently (a Service without a
selector matches nothing). The resource-name constants are the lister names plugins ask the
Handle for (pyscheduler/scheduler/watched.py starts those informers).
"""

from __future__ import annotations

import msgspec

from pyscheduler.model.meta import K8sStruct, ObjectMeta
from pyscheduler.model.pod import LabelSelector

SERVICES = "services"
REPLICATION_CONTROLLERS = "replicationcontrollers"
REPLICA_SETS = "replicasets"
STATEFUL_SETS = "statefulsets"


class ServiceSpec(K8sStruct):
    selector: dict[str, str] | None = None


class Service(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ServiceSpec = msgspec.field(default_factory=ServiceSpec)


class ReplicationControllerSpec(K8sStruct):
    selector: dict[str, str] | None = None


class ReplicationController(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ReplicationControllerSpec = msgspec.field(default_factory=ReplicationControllerSpec)


class SelectorSpec(K8sStruct):
    """spec of a ReplicaSet or StatefulSet: only the selector is read."""

    selector: LabelSelector | None = None


class ReplicaSet(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: SelectorSpec = msgspec.field(default_factory=SelectorSpec)


class StatefulSet(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: SelectorSpec = msgspec.field(default_factory=SelectorSpec)
