"""Helpers (no tests here) for the InterPodAffinity tests: pods with affinity terms (shaped
like upstream's ``st.MakePod().PodAffinityIn(...)``), a namespace lister, and runners that
execute the plugin's points both per node and in batch (asserting they agree), with and
without the cluster index."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from builders import Outcome, filter_both, make_node, new_state, outcome, scores_both, snapshot_of

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import Lister
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Code
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.meta import ObjectMeta
from pyscheduler.model.namespace import Namespace
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.plugins.inter_pod_affinity import InterPodAffinity, InterPodAffinityArgs

_uids = itertools.count(1)

UNRES = int(Code.UNSCHEDULABLE_AND_UNRESOLVABLE)
UNSCHED = int(Code.UNSCHEDULABLE)
SKIP = (int(Code.SKIP), [])

# upstream scoring_test.go's namespaces
NS_T1 = {"team": "team1"}
NS_T2 = {"team": "team2"}
NAMESPACES: dict[str, dict[str, str]] = {
    "subteam1.team1": NS_T1,
    "subteam2.team1": NS_T1,
    "subteam1.team2": NS_T2,
    "subteam2.team2": NS_T2,
}


def expr(key: str, op: str, values: Sequence[str] = ()) -> dict[str, Any]:
    return {"key": key, "operator": op, "values": list(values)}


def term(topology: str, *exprs: dict[str, Any], match_labels: Mapping[str, str] | None = None,
         selector: dict[str, Any] | None = None, namespaces: Sequence[str] | None = None,
         ns_selector: dict[str, Any] | None = None) -> dict[str, Any]:
    """A PodAffinityTerm; ``selector`` overrides the one built from exprs/match_labels."""
    if selector is None:
        selector = {}
        if exprs:
            selector["matchExpressions"] = list(exprs)
        if match_labels:
            selector["matchLabels"] = dict(match_labels)
    out: dict[str, Any] = {"labelSelector": selector, "topologyKey": topology}
    if namespaces is not None:
        out["namespaces"] = list(namespaces)
    if ns_selector is not None:
        out["namespaceSelector"] = ns_selector
    return out


def in_term(key: str, topology: str, values: Sequence[str]) -> dict[str, Any]:
    return term(topology, expr(key, "In", values))


def not_in_term(key: str, topology: str, values: Sequence[str]) -> dict[str, Any]:
    return term(topology, expr(key, "NotIn", values))


def exists_term(key: str, topology: str) -> dict[str, Any]:
    return term(topology, expr(key, "Exists"))


def weighted(weight: int, t: dict[str, Any]) -> dict[str, Any]:
    return {"weight": weight, "podAffinityTerm": t}


def pod(name: str = "", *, ns: str = "", node: str = "", labels: Mapping[str, str] | None = None,
        affinity: Sequence[dict[str, Any]] = (), anti: Sequence[dict[str, Any]] = (),
        preferred: Sequence[dict[str, Any]] = (), preferred_anti: Sequence[dict[str, Any]] = (),
        deleting: bool = False, uid: str | None = None) -> Pod:
    n = next(_uids)
    spec: dict[str, Any] = {}
    if node:
        spec["nodeName"] = node
    aff: dict[str, Any] = {}
    if affinity or preferred:
        aff["podAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": list(affinity),
            "preferredDuringSchedulingIgnoredDuringExecution": list(preferred)}
    if anti or preferred_anti:
        aff["podAntiAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": list(anti),
            "preferredDuringSchedulingIgnoredDuringExecution": list(preferred_anti)}
    if aff:
        spec["affinity"] = aff
    meta: dict[str, Any] = {"name": name or f"pod-{n}", "namespace": ns,
                            "uid": uid or f"uid-{n}", "labels": dict(labels or {})}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return msgspec.convert({"metadata": meta, "spec": spec}, Pod)


def with_affinity(p: Pod, affinity: dict[str, Any]) -> Pod:
    """The pod with spec.affinity replaced (API-shaped dict)."""
    from pyscheduler.model.pod import Affinity

    spec = msgspec.structs.replace(p.spec, affinity=msgspec.convert(affinity, Affinity))
    return msgspec.structs.replace(p, spec=spec)


def node(name: str, labels: Mapping[str, str] | None = None) -> Node:
    return make_node(name, labels=labels)


class NamespaceLister:
    """An in-memory Namespace indexer (cluster-scoped: keyed by name)."""

    def __init__(self, namespaces: Mapping[str, Mapping[str, str]]) -> None:
        self.items = {n: Namespace(metadata=ObjectMeta(name=n, labels=dict(lbl)))
                      for n, lbl in namespaces.items()}

    def get_by_key(self, key: str) -> Any | None:
        return self.items.get(key)

    def list(self) -> list[Any]:
        return list(self.items.values())

    def by_index(self, index_name: str, value: str) -> list[Any]:
        return []


@dataclass(slots=True)
class Handle:
    namespaces: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: dict(NAMESPACES))
    snapshot: Snapshot = field(default_factory=Snapshot)
    profile_name: str = "default-scheduler"

    def lister(self, resource: str) -> Lister | None:
        if resource == "namespaces":
            return NamespaceLister(self.namespaces)
        return None


def plugin(*, use_index: bool = True, hard_weight: int = 1, ignore_preferred: bool = False,
           namespaces: Mapping[str, Mapping[str, str]] | None = None) -> InterPodAffinity:
    args = InterPodAffinityArgs(hard_pod_affinity_weight=hard_weight,
                                ignore_preferred_terms_of_existing_pods=ignore_preferred)
    h = Handle(dict(NAMESPACES) if namespaces is None else namespaces)
    return InterPodAffinity(args, h, use_index=use_index)


def run_filter(incoming: Pod, pods: Sequence[Pod], nodes: Sequence[Node], *,
               use_index: bool = True,
               namespaces: Mapping[str, Mapping[str, str]] | None = None,
               ) -> tuple[Outcome, dict[str, Outcome]]:
    """(PreFilter outcome, node -> Filter outcome); Filter runs only after a Success."""
    snap = snapshot_of(nodes, pods)
    p = plugin(use_index=use_index, namespaces=namespaces)
    state = new_state()
    pi = PodInfo.of(incoming)
    _, st = p.pre_filter(state, pi, snap)
    if st is not None:
        return outcome(st), {}
    return None, filter_both(p, state, pi, snap)


def run_filter_both_modes(incoming: Pod, pods: Sequence[Pod], nodes: Sequence[Node],
                          **kw: Any) -> tuple[Outcome, dict[str, Outcome]]:
    """run_filter with and without the cluster index, asserting the same answers."""
    a = run_filter(incoming, pods, nodes, use_index=True, **kw)
    b = run_filter(incoming, pods, nodes, use_index=False, **kw)
    assert a == b, (a, b)
    return a


def run_score(incoming: Pod, pods: Sequence[Pod], nodes: Sequence[Node], *,
              use_index: bool = True, **kw: Any) -> tuple[Outcome, dict[str, int]]:
    """(PreScore outcome, node -> normalized score) over all nodes."""
    snap = snapshot_of(nodes, pods)
    p = plugin(use_index=use_index, **kw)
    state: CycleState = new_state()
    pi = PodInfo.of(incoming)
    st = p.pre_score(state, pi, snap, snap.all_rows())
    if st is not None:
        return outcome(st), {}
    return None, scores_both(p, state, pi, snap)


def run_score_both_modes(incoming: Pod, pods: Sequence[Pod], nodes: Sequence[Node],
                         **kw: Any) -> tuple[Outcome, dict[str, int]]:
    a = run_score(incoming, pods, nodes, use_index=True, **kw)
    b = run_score(incoming, pods, nodes, use_index=False, **kw)
    assert a == b, (a, b)
    return a
