"""Resource math shared by NodeResourcesFit and NodeResourcesBalancedAllocation
(upstream noderesources/resource_allocation.go and the resource-name helpers).

Contract:
* ``ResourceSpec`` is the config's ``{name, weight}``; a weight of 0 (or unset) becomes 1, as
  upstream's v1 defaulting does before validation.
* ``is_scalar_resource_name`` is upstream's IsScalarResourceName: extended resources
  (``example.com/foo``), ``hugepages-*``, ``attachable-volumes-*`` and ``*kubernetes.io/*``
  names. Only those, plus cpu/memory/ephemeral-storage, take part in fit checks and scores.
* ``pod_request_list`` is calculatePodResourceRequestList: cpu/memory use the pod's *non-zero*
  requests unless ``use_requested`` (BalancedAllocation), other resources the plain requests.
  The non-zero form (NodeResourcesFit's scorer) ignores pod-level requests: upstream's Fit
  never sets its scorer's enablePodLevelResources, so SkipPodLevelResources is true there, while
  BalancedAllocation (``use_requested``) counts them. The node side is unaffected: its non-zero
  sums come from each pod's PodInfo, which counts pod-level requests.
* ``node_alloc_request`` (one NodeInfo) and ``table_alloc_request`` (snapshot rows) are
  calculateResourceAllocatableRequest: the node's allocatable and its requested amount plus the
  pod's request; cpu/memory use the node's non-zero sums unless ``use_requested``; a scalar
  resource the pod does not request, or the node lacks, yields allocatable 0 (the scorers skip
  it). The table form returns None where every row would be (0, 0).
"""

from __future__ import annotations

from contextlib import suppress
from functools import lru_cache

import msgspec
import numpy as np

from pyscheduler.framework.interfaces import I64
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.quantity import CPU, EPHEMERAL_STORAGE, MEMORY
from pyscheduler.model.resources import pod_non_zero_container_requests
from pyscheduler.plugins import validation as v

_REQUESTS_PREFIX = "requests."


class ResourceSpec(msgspec.Struct, rename="camel", omit_defaults=True):
    name: str = ""
    weight: int = 1

    def __post_init__(self) -> None:
        # v1 defaulting: "If the weight is not set or it is explicitly set to 0, then apply the
        # default weight(1) instead."
        if self.weight == 0:
            self.weight = 1


def default_resources() -> list[ResourceSpec]:
    """cpu and memory, weight 1 each (upstream defaultResourceSpec)."""
    return [ResourceSpec(CPU, 1), ResourceSpec(MEMORY, 1)]


def is_prefixed_native_resource(name: str) -> bool:
    return "kubernetes.io/" in name


def is_native_resource(name: str) -> bool:
    return "/" not in name or is_prefixed_native_resource(name)


@lru_cache(maxsize=1024)
def is_extended_resource_name(name: str) -> bool:
    """v1helper.IsExtendedResourceName: a domain-qualified name outside kubernetes.io."""
    if is_native_resource(name) or name.startswith(_REQUESTS_PREFIX):
        return False
    return not v.is_qualified_name(_REQUESTS_PREFIX + name)


def is_hugepage_resource_name(name: str) -> bool:
    return name.startswith("hugepages-")


def is_attachable_volume_resource_name(name: str) -> bool:
    return name.startswith("attachable-volumes-")


@lru_cache(maxsize=1024)
def is_scalar_resource_name(name: str) -> bool:
    return (
        is_extended_resource_name(name)
        or is_hugepage_resource_name(name)
        or is_prefixed_native_resource(name)
        or is_attachable_volume_resource_name(name)
    )


def pod_request_list(pod: PodInfo, resources: list[ResourceSpec],
                     use_requested: bool) -> list[int]:
    """The pod's request of each resource, as the scorers count it (module doc)."""
    level = pod.pod.spec.resources
    if not use_requested and level is not None and level.requests:
        # Fit's scorer skips pod-level requests (cpu, memory and hugepages alike).
        reqs: dict[str, int] = {}
        # A bad quantity: PodInfo.of already logged it and counts the pod as 0.
        with suppress(ValueError):
            reqs = pod_non_zero_container_requests(pod.pod)
        return [reqs.get(spec.name, 0) for spec in resources]
    out: list[int] = []
    for spec in resources:
        if spec.name == CPU and not use_requested:
            out.append(pod.non_zero_cpu)
        elif spec.name == MEMORY and not use_requested:
            out.append(pod.non_zero_mem)
        else:
            out.append(pod.requests.get(spec.name, 0))
    return out


def node_alloc_request(node: NodeInfo, resource: str, pod_request: int,
                       use_requested: bool) -> tuple[int, int]:
    """(allocatable, requested + pod request) of one resource on one node."""
    if pod_request == 0 and is_scalar_resource_name(resource):
        return 0, 0
    if resource == CPU:
        used = node.requested.get(CPU, 0) if use_requested else node.non_zero_cpu
        return node.allocatable.get(CPU, 0), used + pod_request
    if resource == MEMORY:
        used = node.requested.get(MEMORY, 0) if use_requested else node.non_zero_mem
        return node.allocatable.get(MEMORY, 0), used + pod_request
    if resource == EPHEMERAL_STORAGE:
        # Upstream uses the plain requested sum here even when scoring with non-zero requests.
        return (node.allocatable.get(EPHEMERAL_STORAGE, 0),
                node.requested.get(EPHEMERAL_STORAGE, 0) + pod_request)
    if is_scalar_resource_name(resource) and resource in node.allocatable:
        return node.allocatable[resource], node.requested.get(resource, 0) + pod_request
    return 0, 0


def table_alloc_request(snapshot: Snapshot, rows: I64, resource: str, pod_request: int,
                        use_requested: bool) -> tuple[I64, I64] | None:
    """Columns (allocatable, requested + pod request) of one resource over ``rows``."""
    if pod_request == 0 and is_scalar_resource_name(resource):
        return None
    t = snapshot.table
    idx = snapshot.row_index(rows)
    if resource in (CPU, MEMORY):
        col = t.columns[resource]
        if use_requested:
            used = t.req[idx, col]
        else:
            used = t.nz[idx, 0 if resource == CPU else 1]
        # The allocatable column may be a view of the table (see row_index): read-only use.
        return t.alloc[idx, col], used + pod_request
    if resource == EPHEMERAL_STORAGE or is_scalar_resource_name(resource):
        col_or_none = t.columns.get(resource)
        if col_or_none is None:
            return None
        return t.alloc[idx, col_or_none], t.req[idx, col_or_none] + pod_request
    return None


def empty_scores(n: int) -> I64:
    return np.zeros(n, dtype=np.int64)
