"""Pod affinity terms as InterPodAffinity evaluates them (upstream framework.AffinityTerm).

Contract:
* ``parse_selector`` is metav1.LabelSelectorAsSelector: ``None`` matches nothing, a selector
  with no requirements matches everything, and a requirement the API would reject (bad key or
  value, In/NotIn without values, Exists/DoesNotExist with values, unknown operator) is a parse
  error worded as apimachinery's. matchLabels are checked in key order (Go walks a map; any
  order gives the same selector).
* ``AffinityTerm.matches(pod, ns_labels)`` is upstream's AffinityTerm.Matches: the pod's
  namespace must be in ``namespaces`` or its namespace's labels match ``namespace_selector``;
  then the pod's labels must match the label selector. ``namespaces`` defaults to the owning
  pod's namespace when the term names none and has no namespaceSelector.
* ``matchLabelKeys``/``mismatchLabelKeys`` are *not* read here: since MatchLabelKeysInPodAffinity
  (GA in 1.33) the API server merges them into ``labelSelector`` when the pod is created, and the
  scheduler only ever reads ``labelSelector`` (upstream newAffinityTerm does the same).
* ``pod_terms(pod)`` compiles a pod's four term lists (shared by pods of one namespace with equal
  pod (anti-)affinity, through a bounded cache); ``terms_of(pod_info)`` memoizes them in
  ``PodInfo.memo``. As upstream's PodInfo.Update, a list with a term that does not parse is
  dropped as a whole and the error is kept (the incoming pod is then rejected by PreFilter).
* ``merge_namespaces`` is upstream's mergeAffinityTermNamespacesIfNotEmpty for the *incoming*
  pod's terms: a namespaceSelector other than "everything" is resolved against the Namespace
  lister into ``namespaces`` and replaced by "nothing", so matching existing pods needs no
  namespace lookups.
* ``AffinityTerm.key`` identifies a term by what was written (its JSON) and the namespaces it
  resolved to; equal keys select the same pods (among existing pods' terms as written, and
  among incoming pods' merged terms: the two are never mixed in one table, since merging keeps
  the JSON but drops the namespaceSelector). ``shape_of(pod_info)`` is all a term can see of
  a pod (its namespace and labels). The cluster index groups terms and pods by these.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from pyscheduler.framework.interfaces import Lister
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.pod import LabelSelector, Pod, PodAffinityTerm, WeightedPodAffinityTerm
from pyscheduler.plugins import validation as v

MEMO_KEY = "InterPodAffinity"

Labels = Mapping[str, str]
LabelMatcher = Callable[[Labels], bool]

_IN, _NOT_IN, _EXISTS, _DOES_NOT_EXIST = "In", "NotIn", "Exists", "DoesNotExist"

# Selector kinds: upstream distinguishes labels.Nothing(), labels.Everything() and the rest.
NOTHING, EVERYTHING, SOME = 0, 1, 2


def _nothing(_: Labels) -> bool:
    return False


def _everything(_: Labels) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed label selector: ``match`` is a plain closure so it is cheap to call per pod."""

    match: LabelMatcher
    kind: int


SELECT_NOTHING = Selector(_nothing, NOTHING)
SELECT_EVERYTHING = Selector(_everything, EVERYTHING)


def _equals(key: str, value: str) -> LabelMatcher:
    return lambda labels: labels.get(key) == value


def _requirement(key: str, op: str, values: list[str]) -> LabelMatcher:
    if op == _IN:
        if len(values) == 1:
            return _equals(key, values[0])
        vals = frozenset(values)
        return lambda labels: labels.get(key) in vals
    if op == _NOT_IN:
        vals = frozenset(values)
        return lambda labels: labels.get(key) not in vals
    if op == _EXISTS:
        return lambda labels: key in labels
    return lambda labels: key not in labels


def _all(ms: list[LabelMatcher]) -> LabelMatcher:
    if len(ms) == 1:
        return ms[0]
    if len(ms) == 2:
        a, b = ms
        return lambda labels: a(labels) and b(labels)
    matchers = tuple(ms)

    def every(labels: Labels) -> bool:
        return all(m(labels) for m in matchers)

    return every


def _check_requirement(key: str, op: str, values: list[str]) -> list[v.FieldError]:
    """labels.NewRequirement's validation, for the operators a LabelSelector can carry."""
    errs: list[v.FieldError] = []
    key_errs = v.is_qualified_name(key)
    if key_errs:
        errs.append(v.invalid("key", key, "; ".join(key_errs)))
    if op in (_IN, _NOT_IN):
        if not values:
            errs.append(v.invalid("values", values,
                                  "for 'in', 'notin' operators, values set can't be empty"))
    elif op in (_EXISTS, _DOES_NOT_EXIST) and values:
        errs.append(v.invalid("values", values,
                              "values set must be empty for exists and does not exist"))
    for i, val in enumerate(values):
        val_errs = v.is_valid_label_value(val)
        if val_errs:
            errs.append(v.invalid(f"values[{i}][{key}]", val, "; ".join(val_errs)))
    return errs


def parse_selector(sel: LabelSelector | None) -> tuple[Selector, str | None]:
    """metav1.LabelSelectorAsSelector: the selector, or NOTHING and the error text."""
    if sel is None:
        return SELECT_NOTHING, None
    if not sel.match_labels and not sel.match_expressions:
        return SELECT_EVERYTHING, None
    ms: list[LabelMatcher] = []
    for key in sorted(sel.match_labels):
        value = sel.match_labels[key]
        errs = _check_requirement(key, "=", [value])
        if errs:
            return SELECT_NOTHING, v.aggregate(errs)
        ms.append(_equals(key, value))
    for r in sel.match_expressions:
        if r.operator not in (_IN, _NOT_IN, _EXISTS, _DOES_NOT_EXIST):
            op = json.dumps(r.operator)
            return SELECT_NOTHING, f"{op} is not a valid label selector operator"
        errs = _check_requirement(r.key, r.operator, r.values)
        if errs:
            return SELECT_NOTHING, v.aggregate(errs)
        ms.append(_requirement(r.key, r.operator, r.values))
    return Selector(_all(ms), SOME), None


# ---- terms --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """A processed v1.PodAffinityTerm."""

    namespaces: frozenset[str]
    selector: Selector
    topology_key: str
    namespace_selector: Selector
    # The term as written (JSON); with ``namespaces`` it identifies the term (see ``key``).
    raw: bytes = b""

    @property
    def key(self) -> tuple[bytes, frozenset[str]]:
        """Equal keys mean equal terms: what was written plus the namespaces it resolved to
        (the owner's namespace by default, or a namespaceSelector merged in)."""
        return self.raw, self.namespaces

    def matches(self, pod: Pod, ns_labels: Labels | None) -> bool:
        """Whether ``pod`` (whose namespace has ``ns_labels``) is selected by this term."""
        meta = pod.metadata
        return self.matches_labels(meta.namespace, meta.labels, ns_labels)

    def matches_labels(self, namespace: str, labels: Labels, ns_labels: Labels | None) -> bool:
        """``matches`` for a pod given by its namespace and labels."""
        if namespace in self.namespaces or (
            self.namespace_selector.kind != NOTHING
            and self.namespace_selector.match(ns_labels if ns_labels is not None else {})
        ):
            return self.selector.match(labels)
        return False


@dataclass(frozen=True, slots=True)
class WeightedTerm:
    term: AffinityTerm
    weight: int


def _term(pod: Pod, t: PodAffinityTerm) -> tuple[AffinityTerm | None, str | None]:
    selector, err = parse_selector(t.label_selector)
    if err is not None:
        return None, err
    if not t.namespaces and t.namespace_selector is None:
        namespaces = frozenset((pod.metadata.namespace,))
    else:
        namespaces = frozenset(t.namespaces)
    ns_selector, err = parse_selector(t.namespace_selector)
    if err is not None:
        return None, err
    return AffinityTerm(namespaces, selector, t.topology_key, ns_selector,
                        msgspec.json.encode(t)), None


def _terms(pod: Pod, raw: list[PodAffinityTerm]) -> tuple[tuple[AffinityTerm, ...], str | None]:
    out: list[AffinityTerm] = []
    for t in raw:
        term, err = _term(pod, t)
        if term is None:
            # Upstream GetAffinityTerms stops at the first bad term and returns no terms.
            return (), err
        out.append(term)
    return tuple(out), None


def _weighted(pod: Pod,
              raw: list[WeightedPodAffinityTerm]) -> tuple[tuple[WeightedTerm, ...], str | None]:
    out: list[WeightedTerm] = []
    for wt in raw:
        term, err = _term(pod, wt.pod_affinity_term)
        if term is None:
            return (), err
        out.append(WeightedTerm(term, wt.weight))
    return tuple(out), None


@dataclass(frozen=True, slots=True)
class PodTerms:
    """A pod version's affinity terms (upstream PodInfo's four term lists)."""

    required_affinity: tuple[AffinityTerm, ...]
    required_anti: tuple[AffinityTerm, ...]
    preferred_affinity: tuple[WeightedTerm, ...]
    preferred_anti: tuple[WeightedTerm, ...]
    # spec.affinity has podAffinity or podAntiAffinity (upstream PodsWithAffinity membership)
    with_affinity: bool
    # Upstream's aggregated parse error ("requiredAffinityTerms: ..."), None when all parse.
    error: str | None

    @classmethod
    def of(cls, pod: Pod) -> PodTerms:
        a = pod.spec.affinity
        pa = a.pod_affinity if a is not None else None
        paa = a.pod_anti_affinity if a is not None else None
        errs: list[str] = []
        req_aff, err = _terms(pod, pa.required_during_scheduling_ignored_during_execution
                              if pa is not None else [])
        if err is not None:
            errs.append(f"requiredAffinityTerms: {err}")
        req_anti, err = _terms(pod, paa.required_during_scheduling_ignored_during_execution
                               if paa is not None else [])
        if err is not None:
            errs.append(f"requiredAntiAffinityTerms: {err}")
        pref_aff, err = _weighted(pod, pa.preferred_during_scheduling_ignored_during_execution
                                  if pa is not None else [])
        if err is not None:
            errs.append(f"preferredAffinityTerms: {err}")
        pref_anti, err = _weighted(pod, paa.preferred_during_scheduling_ignored_during_execution
                                   if paa is not None else [])
        if err is not None:
            errs.append(f"preferredAntiAffinityTerms: {err}")
        error: str | None = None
        if errs:
            error = errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"
        return cls(req_aff, req_anti, pref_aff, pref_anti,
                   pa is not None or paa is not None, error)


NO_TERMS = PodTerms((), (), (), (), False, None)


# Compiled terms by (namespace, the pod's podAffinity and podAntiAffinity as JSON): replicas of
# a workload, and every queueing-hint call about the same pending pod, compile them once.
# Bounded; the oldest entry goes first.
_COMPILED: dict[tuple[str, bytes], PodTerms] = {}
COMPILED_MAX = 4096


def pod_terms(pod: Pod) -> PodTerms:
    """The pod's compiled terms. They depend on nothing but its namespace (the default for a
    term's namespaces) and its pod (anti-)affinity, so equal pods share one immutable copy."""
    a = pod.spec.affinity
    if a is None or (a.pod_affinity is None and a.pod_anti_affinity is None):
        return NO_TERMS
    key = (pod.metadata.namespace, msgspec.json.encode((a.pod_affinity, a.pod_anti_affinity)))
    t = _COMPILED.get(key)
    if t is None:
        t = PodTerms.of(pod)
        if len(_COMPILED) >= COMPILED_MAX:
            del _COMPILED[next(iter(_COMPILED))]
        _COMPILED[key] = t
    return t


def terms_of(pi: PodInfo) -> PodTerms:
    """``pod_terms`` memoized on the PodInfo (rebuilt for every pod version)."""
    t = pi.memo.get(MEMO_KEY)
    if t is None:
        t = pi.memo[MEMO_KEY] = pod_terms(pi.pod)
    assert isinstance(t, PodTerms)
    return t


def pod_matches_all(terms: Iterable[AffinityTerm], pod: Pod,
                    ns_labels: Labels | None = None) -> bool:
    """podMatchesAllAffinityTerms: a non-empty list whose every term selects ``pod``."""
    any_term = False
    for t in terms:
        any_term = True
        if not t.matches(pod, ns_labels):
            return False
    return any_term


# ---- namespaces ---------------------------------------------------------------------------------


def namespace_labels(lister: Lister | None, namespace: str) -> dict[str, str]:
    """GetNamespaceLabelsSnapshot: the namespace's labels, empty when it is unknown."""
    if lister is None:
        return {}
    ns: Any = lister.get_by_key(namespace)
    if ns is None:
        return {}
    return dict(ns.metadata.labels)


def merge_namespaces(term: AffinityTerm, lister: Lister | None) -> AffinityTerm:
    """Resolve a real namespaceSelector of an incoming pod's term into its namespace set."""
    if term.namespace_selector.kind != SOME:
        # "everything" stays as is (it matches any namespace without a lookup); "nothing"
        # lists no namespace, so replacing it would change nothing.
        return term
    listed = set(term.namespaces)
    if lister is not None:
        match = term.namespace_selector.match
        for ns in lister.list():
            meta = ns.metadata
            if match(meta.labels):
                listed.add(meta.name)
    return replace(term, namespaces=frozenset(listed), namespace_selector=SELECT_NOTHING)


def merge_all(terms: tuple[AffinityTerm, ...], lister: Lister | None) -> tuple[AffinityTerm, ...]:
    if all(t.namespace_selector.kind != SOME for t in terms):
        return terms
    return tuple(merge_namespaces(t, lister) for t in terms)


def merge_weighted(terms: tuple[WeightedTerm, ...],
                   lister: Lister | None) -> tuple[WeightedTerm, ...]:
    if all(w.term.namespace_selector.kind != SOME for w in terms):
        return terms
    return tuple(WeightedTerm(merge_namespaces(w.term, lister), w.weight) for w in terms)


Shape = tuple[str, frozenset[tuple[str, str]]]
_SHAPE_KEY = MEMO_KEY + "/shape"


def shape_of(pi: PodInfo) -> Shape:
    """What terms can see of a pod: its namespace and labels (memoized per pod version)."""
    s = pi.memo.get(_SHAPE_KEY)
    if s is None:
        meta = pi.pod.metadata
        s = (meta.namespace, frozenset(meta.labels.items()))
        pi.memo[_SHAPE_KEY] = s
    result: Shape = s
    return result
