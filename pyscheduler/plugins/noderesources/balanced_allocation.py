"""NodeResourcesBalancedAllocation: prefer nodes whose resource usage stays even across resources.

Contract (upstream v1.37 noderesources/balanced_allocation.go):
* The score is the *change* in balance the pod brings, not the balance with the pod alone:
  ``50 + (50 + with_pod - without_pod) // 2``, where ``with_pod`` is the balance of
  ``node requested + pod request`` and ``without_pod`` that of ``node requested``. Both are in
  [50, 100], so the score is in [50, 100]: about 75 when the pod changes little, towards 100
  when it evens the node out, towards 50 when it skews it.
* A balance: for each configured resource (cpu and memory by default) the fraction
  ``min(requested / allocatable, 1)``, leaving out resources with allocatable 0 on the node and
  scalar resources the pod does not request (the same ones for both balances). With two
  fractions ``std = |f1 - f2| / 2``; with more, the population standard deviation; with fewer,
  0. Balance = ``int((1 - std) * 100)`` (float64 math, truncated), exactly as upstream.
* Requests are the *plain* requests of the node's pods and of the pod (upstream sets
  ``useRequested``), not the non-zero defaults NodeResourcesFit scores with.
* PreScore returns Skip for a pod requesting none of the resources (best-effort), so such pods
  are not packed onto one node (kubernetes#129138).
* The batch form computes the same float64 operations column-wise, so it is bit-identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import msgspec
import numpy as np
import numpy.typing as npt

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    MAX_NODE_SCORE,
    BatchScorePlugin,
    BoolArr,
    Handle,
    PreScorePlugin,
)
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Status
from pyscheduler.framework.types import PodInfo
from pyscheduler.plugins import validation as v
from pyscheduler.plugins.noderesources.resource_allocation import (
    ResourceSpec,
    default_resources,
    node_alloc_request,
    pod_request_list,
    table_alloc_request,
)

NAME = "NodeResourcesBalancedAllocation"
PRE_SCORE_STATE_KEY = "PreScore" + NAME

F64 = npt.NDArray[np.float64]


class NodeResourcesBalancedAllocationArgs(msgspec.Struct, rename="camel", omit_defaults=True):
    resources: list[ResourceSpec] = msgspec.field(default_factory=default_resources)

    def __post_init__(self) -> None:
        if not self.resources:
            self.resources = default_resources()

    def validate(self, path: str = "") -> None:
        """Upstream ValidateNodeResourcesBalancedAllocationArgs; raises ArgsError."""
        errs: list[v.FieldError] = []
        seen: set[str] = set()
        rpath = v.child(path, "resources")
        for i, r in enumerate(self.resources):
            p = v.index(rpath, i)
            if r.name in seen:
                errs.append(v.duplicate(v.child(p, "name"), r.name))
            else:
                seen.add(r.name)
            if r.weight != 1:
                errs.append(v.invalid(v.child(p, "weight"), r.weight, "must be 1"))
        v.raise_if(errs)

    validate_args = validate


def balanced_score(requested: list[int], allocated: list[int], alloc: list[int]) -> int:
    """Upstream balancedResourceScorer: the change in balance from ``allocated`` (the node's
    requests) to ``requested`` (the node's plus the pod's), over ``alloc``."""
    with_pod = balance(requested, alloc)
    without_pod = balance(allocated, alloc)
    # Go's int64 division truncates towards zero; 50 + (with - without) is never negative.
    half = MAX_NODE_SCORE // 2
    return half + (half + with_pod - without_pod) // 2


def balance(requested: list[int], alloc: list[int]) -> int:
    """Upstream balancedResourceScore: 100 for evenly used resources, down to 50."""
    fractions: list[float] = []
    total = 0.0
    for r, a in zip(requested, alloc, strict=True):
        if a == 0:
            continue
        f = float(r) / float(a)
        if f > 1:
            f = 1.0
        total += f
        fractions.append(f)
    std = 0.0
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = total / float(len(fractions))
        acc = 0.0
        for f in fractions:
            acc = acc + (f - mean) * (f - mean)
        std = math.sqrt(acc / float(len(fractions)))
    return int((1 - std) * float(MAX_NODE_SCORE))


@dataclass(slots=True)
class _PreScoreState:
    pod_requests: list[int]


@dataclass(slots=True)
class BalancedAllocation:
    """PreScore and Score (batch)."""

    args: NodeResourcesBalancedAllocationArgs
    name: str = NAME
    resources: list[ResourceSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.args.validate()
        self.resources = list(self.args.resources)

    def pre_score(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                  rows: I64) -> Status | None:
        """Record the pod's requests; Skip for a pod that requests none of the resources."""
        reqs = pod_request_list(pod, self.resources, use_requested=True)
        if not any(reqs):
            return Status.skip()
        state.write(PRE_SCORE_STATE_KEY, _PreScoreState(reqs))
        return None

    def _pod_requests(self, state: CycleState, pod: PodInfo) -> list[int] | None:
        s = state.get(PRE_SCORE_STATE_KEY)
        if isinstance(s, _PreScoreState):
            return s.pod_requests
        reqs = pod_request_list(pod, self.resources, use_requested=True)
        return reqs if any(reqs) else None

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """How evenly the node's resources would be used with the pod on it."""
        pod_reqs = self._pod_requests(state, pod)
        if pod_reqs is None:
            return 0
        requested: list[int] = []
        allocated: list[int] = []
        alloc: list[int] = []
        for spec, pr in zip(self.resources, pod_reqs, strict=True):
            a, r = node_alloc_request(node_info, spec.name, pr, use_requested=True)
            alloc.append(a)
            requested.append(r if a else 0)
            allocated.append(r - pr if a else 0)
        return balanced_score(requested, allocated, alloc)

    def score_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                    rows: I64) -> I64:
        """The same score for many rows, with the float math done column by column in the
        resources' order (so each element sees upstream's exact operation sequence)."""
        n = len(rows)
        pod_reqs = self._pod_requests(state, pod)
        if pod_reqs is None or n == 0:
            return np.zeros(n, dtype=np.int64)
        with_pod: list[F64] = []
        without_pod: list[F64] = []
        present: list[BoolArr] = []
        everywhere = True
        for spec, pr in zip(self.resources, pod_reqs, strict=True):
            ar = table_alloc_request(snapshot, rows, spec.name, pr, use_requested=True)
            if ar is None:
                continue
            alloc, req = ar
            has = alloc != 0
            if not has.any():
                continue
            if not has.all():
                everywhere = False
            for fracs, r in ((with_pod, req), (without_pod, req - pr)):
                if has.all():
                    # int64 / int64 true division converts both to float64 first, like Go's
                    # float64(requested) / float64(allocatable).
                    fracs.append(np.minimum(r / alloc, 1.0))
                else:
                    f = r / np.where(has, alloc, 1)
                    fracs.append(np.where(has, np.minimum(f, 1.0), 0.0))
            present.append(has)
        half = MAX_NODE_SCORE // 2
        scores = [_balance(fracs, present, n, everywhere) for fracs in (with_pod, without_pod)]
        result: I64 = half + (half + scores[0] - scores[1]) // 2
        return result


def _balance(fracs: list[F64], present: list[BoolArr], n: int, everywhere: bool) -> I64:
    """Column-wise upstream balancedResourceScore over the rows."""
    std = _std_all_present(fracs, n) if everywhere else _std_some_present(fracs, present, n)
    out: I64 = ((1 - std) * float(MAX_NODE_SCORE)).astype(np.int64)
    return out


def _std_all_present(fracs: list[F64], n: int) -> F64:
    """Every row has every fraction: upstream's formula applied column-wise."""
    k = len(fracs)
    if k == 2:
        return np.abs((fracs[0] - fracs[1]) / 2)
    if k < 2:
        return np.zeros(n, dtype=np.float64)
    total = fracs[0]
    for f in fracs[1:]:
        total = total + f
    mean = total / float(k)
    acc = (fracs[0] - mean) * (fracs[0] - mean)
    for f in fracs[1:]:
        acc = acc + (f - mean) * (f - mean)
    out: F64 = np.sqrt(acc / float(k))
    return out


def _std_some_present(fracs: list[F64], present: list[BoolArr], n: int) -> F64:
    """Rows differ in which fractions they have: absent ones are exact zeros in the sums and
    the two-fraction case picks each row's first and second present fraction."""
    count = np.sum(present, axis=0)
    total = np.zeros(n, dtype=np.float64)
    for f in fracs:
        total = total + f  # absent resources add an exact 0.0
    first = np.zeros(n, dtype=np.float64)
    second = np.zeros(n, dtype=np.float64)
    seen = np.zeros(n, dtype=np.int64)
    for f, has in zip(fracs, present, strict=True):
        first = np.where(has & (seen == 0), f, first)
        second = np.where(has & (seen == 1), f, second)
        seen = seen + has
    std2 = np.abs((first - second) / 2)
    safe_count = np.maximum(count, 1).astype(np.float64)
    mean = total / safe_count
    acc = np.zeros(n, dtype=np.float64)
    for f, has in zip(fracs, present, strict=True):
        d = f - mean
        acc = acc + np.where(has, d * d, 0.0)
    stdn = np.sqrt(acc / safe_count)
    out: F64 = np.where(count == 2, std2, np.where(count > 2, stdn, 0.0))
    return out


def new(args: NodeResourcesBalancedAllocationArgs | None, handle: Handle) -> BalancedAllocation:
    return BalancedAllocation(args if args is not None else NodeResourcesBalancedAllocationArgs())


SPEC = PluginSpec(NAME, new, NodeResourcesBalancedAllocationArgs)


def _check(p: BalancedAllocation) -> tuple[PreScorePlugin, BatchScorePlugin]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p
