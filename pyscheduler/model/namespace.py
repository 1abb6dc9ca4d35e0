"""Partial typed schema of core/v1 Namespace: only what scheduling reads (its name and labels,
which pod affinity terms' ``namespaceSelector`` is matched against). Contract: see meta.py."""

from __future__ import annotations

import msgspec

from pyscheduler.model.meta import K8sStruct, ObjectMeta


class Namespace(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
