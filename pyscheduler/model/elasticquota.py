"""Partial schema of scheduler-plugins' ElasticQuota (scheduling.x-k8s.io/v1alpha1).

Contract: the fields scheduler-plugins' CRD defines and CapacityScheduling reads: ``spec.min``
and ``spec.max`` (ResourceLists: resource name -> quantity) and ``status.used``. The CRD marks
every value ``x-kubernetes-int-or-string``, so a value may arrive as a JSON integer or a
string; both decode. ``ELASTIC_QUOTAS`` is the lister name plugins ask the Handle for (the
collection is ``api.listwatch.ELASTIC_QUOTAS``). One quota per namespace is honoured, as
upstream (the first one listed); ``None`` for ``min``/``max`` means "not set", which upstream
and we read as "guarantees nothing" and "no limit".
"""

from __future__ import annotations

import msgspec

from pyscheduler.model.meta import K8sStruct, ObjectMeta
from pyscheduler.model.quantity import to_int

GROUP = "scheduling.x-k8s.io"
VERSION = "v1alpha1"
KIND = "ElasticQuota"
ELASTIC_QUOTAS = "elasticquotas"

ResourceList = dict[str, str | int]


class ElasticQuotaSpec(K8sStruct):
    min: ResourceList | None = None
    max: ResourceList | None = None


class ElasticQuotaStatus(K8sStruct):
    used: ResourceList | None = None


class ElasticQuota(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ElasticQuotaSpec = msgspec.field(default_factory=ElasticQuotaSpec)
    status: ElasticQuotaStatus = msgspec.field(default_factory=ElasticQuotaStatus)


def parse_resource_list(values: ResourceList | None) -> dict[str, int] | None:
    """A ResourceList as the integers the scheduler compares (cpu in millicores), None kept;
    ValueError names an invalid quantity."""
    if values is None:
        return None
    return {name: to_int(name, str(q)) for name, q in values.items()}
