"""Quota arithmetic (scheduler-plugins capacityscheduling/elasticquota.go): one
``QuotaInfo`` per namespace with an ElasticQuota, and the checks PreFilter and reclaim make.

Contract:
* A quota governs the resources its ``min`` or ``max`` names, and only those: a resource named
  in neither is not the quota's business, so a ``min: {cpu: 8}`` quota neither rejects nor
  reclaims for memory (upstream treats it as a guaranteed 0, so every pod that requests memory
  borrows it, and every namespace that uses memory is a borrower; docs/CONFIGURATION.md).
* ``min`` lists what a namespace is guaranteed; a governed resource it does not list is
  guaranteed 0 (upstream's LowerBoundOfMin). ``max`` lists limits; a resource it does not list
  is not limited (upstream: an absent ``max`` is unlimited, but a resource missing from a
  present ``max`` is limited to 0 for cpu/memory/ephemeral-storage; docs/CONFIGURATION.md).
* ``used`` starts as the namespace's bound + assumed requests (framework/namespace_usage.py)
  less those of pods already being deleted, and is changed only through
  ``add_pod``/``remove_pod``, which are idempotent per pod UID, as upstream's pod-key set
  makes them: the dry runs of preemption add and remove the same pod more than once. A pod
  being deleted (a reclaimed victim, typically) no longer counts: the quota it frees is
  already claimed by the nominated pod it was preempted for, and counting both would make the
  next preemptor reclaim the same share twice (upstream does; docs/CONFIGURATION.md). Nodes
  keep counting it until it is gone, so no node is overcommitted.
* Every check looks at the resources the request names with a non-zero amount (a pod asking
  for memory only is not judged by cpu), and returns the first offending resource in sorted
  order, or None. ``over_min()`` (is this quota borrowing?) looks at every governed resource
  used; ``totals()`` sums, per resource, the quotas that govern it.
* ``QuotaInfos.clone()`` is what CycleState cloning uses: each dry run mutates its own copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import structlog

from pyscheduler.framework.namespace_usage import NamespaceUsage, Resources, add_into
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.elasticquota import ElasticQuota, parse_resource_list

log = structlog.get_logger(__name__)


def _requested(req: Resources) -> list[str]:
    return sorted(k for k, v in req.items() if v > 0)


@dataclass(slots=True)
class QuotaInfo:
    """One namespace's quota with its current usage (upstream ElasticQuotaInfo)."""

    namespace: str
    name: str
    min: Resources
    max: Resources | None
    used: Resources
    # The pods counted in ``used`` when the cycle started, those being deleted excepted: the
    # usage tracker's own map (UID -> (node, PodInfo)), shared by clones, never mutated during
    # a cycle (the cycle never awaits)
    base: Mapping[str, tuple[str, PodInfo]] = field(default_factory=dict)
    added: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)

    def clone(self) -> QuotaInfo:
        """A copy whose usage may change independently."""
        return QuotaInfo(self.namespace, self.name, self.min, self.max, dict(self.used),
                         self.base, set(self.added), set(self.removed))

    def counts(self, uid: str) -> bool:
        """Whether the pod with this UID is in ``used``."""
        return (self._in_base(uid) and uid not in self.removed) or uid in self.added

    def _in_base(self, uid: str) -> bool:
        e = self.base.get(uid)
        return e is not None and e[1].pod.metadata.deletion_timestamp is None

    def add_pod(self, pi: PodInfo) -> None:
        """Count the pod (no-op if counted)."""
        if self.counts(pi.uid):
            return
        if pi.uid in self.removed:
            self.removed.discard(pi.uid)
        else:
            self.added.add(pi.uid)
        add_into(self.used, pi.requests)

    def remove_pod(self, pi: PodInfo) -> None:
        """Stop counting the pod (no-op if not counted)."""
        if not self.counts(pi.uid):
            return
        if pi.uid in self.added:
            self.added.discard(pi.uid)
        else:
            self.removed.add(pi.uid)
        add_into(self.used, pi.requests, -1)

    def governs(self, resource: str) -> bool:
        """Whether ``resource`` is named in this quota's min or max."""
        return resource in self.min or (self.max is not None and resource in self.max)

    def governed(self, req: Resources) -> Resources:
        """The part of ``req`` this quota governs."""
        return {r: v for r, v in req.items() if self.governs(r)}

    def over_max_with(self, req: Resources) -> str | None:
        """The first requested resource with used + req > max (upstream usedOverMaxWith)."""
        if self.max is None:
            return None
        for r in _requested(req):
            limit = self.max.get(r)
            if limit is not None and self.used.get(r, 0) + req[r] > limit:
                return r
        return None

    def over_min_with(self, req: Resources) -> str | None:
        """The first requested resource with used + req > min (upstream usedOverMinWith)."""
        for r in _requested(req):
            if self.governs(r) and self.used.get(r, 0) + req[r] > self.min.get(r, 0):
                return r
        return None

    def over_min(self) -> bool:
        """Whether the quota borrows: some governed resource used above its min
        (usedOverMin)."""
        return any(v > self.min.get(r, 0) for r, v in self.used.items() if self.governs(r))


class QuotaInfos(dict[str, QuotaInfo]):
    """Namespace -> QuotaInfo for every namespace with an ElasticQuota."""

    def clone(self) -> QuotaInfos:
        """Upstream ElasticQuotaInfos.clone: every QuotaInfo copied."""
        return QuotaInfos({ns: q.clone() for ns, q in self.items()})

    def totals(self) -> tuple[Resources, Resources]:
        """(sum of used, sum of min) per resource, over the quotas that govern it."""
        used: Resources = {}
        mins: Resources = {}
        for q in self.values():
            add_into(used, q.governed(q.used))
            add_into(mins, q.min)
        return used, mins

    def aggregated_over_min_with(self, req: Resources) -> str | None:
        """The first requested resource with sum(used) + req > sum(min)
        (upstream aggregatedUsedOverMinWith): borrowing more than the others leave unused."""
        used, mins = self.totals()
        for r in _requested(req):
            if used.get(r, 0) + req[r] > mins.get(r, 0):
                return r
        return None

    def add_pod(self, pi: PodInfo) -> None:
        """Count ``pi`` in its namespace's quota, if it has one."""
        q = self.get(pi.pod.metadata.namespace)
        if q is not None:
            q.add_pod(pi)

    def remove_pod(self, pi: PodInfo) -> None:
        """Stop counting ``pi`` in its namespace's quota, if it has one."""
        q = self.get(pi.pod.metadata.namespace)
        if q is not None:
            q.remove_pod(pi)


@dataclass(slots=True)
class _Parsed:
    resource_version: str
    min: Resources
    max: Resources | None


class QuotaBook:
    """Builds each cycle's QuotaInfos from the ElasticQuota objects and the usage tracker,
    parsing each object's quantities once per resourceVersion."""

    __slots__ = ("_parsed",)

    def __init__(self) -> None:
        self._parsed: dict[str, _Parsed] = {}

    def _parse(self, eq: ElasticQuota) -> _Parsed | None:
        uid = eq.metadata.uid or f"{eq.metadata.namespace}/{eq.metadata.name}"
        p = self._parsed.get(uid)
        if p is not None and p.resource_version == eq.metadata.resource_version:
            return p
        try:
            mins = parse_resource_list(eq.spec.min) or {}
            maxs = parse_resource_list(eq.spec.max)
        except ValueError as err:
            # The CRD's pattern makes this unlikely; a bad object must not stop scheduling.
            log.warning("ignoring ElasticQuota with an invalid quantity",
                        quota=f"{eq.metadata.namespace}/{eq.metadata.name}", error=str(err))
            return None
        p = _Parsed(eq.metadata.resource_version, mins, maxs)
        self._parsed[uid] = p
        return p

    def build(self, quotas: Iterable[ElasticQuota], usage: NamespaceUsage) -> QuotaInfos:
        """One QuotaInfo per namespace (the first quota listed there wins, as upstream)."""
        out = QuotaInfos()
        seen: set[str] = set()
        for eq in sorted(quotas, key=lambda q: (q.metadata.namespace, q.metadata.name)):
            ns = eq.metadata.namespace
            seen.add(eq.metadata.uid or f"{ns}/{eq.metadata.name}")
            if ns in out:
                continue
            p = self._parse(eq)
            if p is None:
                continue
            used = dict(usage.used.get(ns, {}))
            add_into(used, usage.terminating.get(ns, {}), -1)
            out[ns] = QuotaInfo(ns, eq.metadata.name, p.min, p.max, used,
                                usage.pods.get(ns, {}))
        for gone in set(self._parsed) - seen:
            del self._parsed[gone]
        return out
