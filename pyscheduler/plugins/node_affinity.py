"""NodeAffinity: spec.nodeSelector, required and preferred node affinity, and the profile's
``addedAffinity``.

Contract (upstream nodeaffinity/node_affinity.go with component-helpers' nodeaffinity, queueing
hints enabled):
* Filter: a node must match the args' added required affinity (else UnschedulableAndUnresolvable
  "node(s) didn't match scheduler-enforced node affinity"), then every spec.nodeSelector pair and
  one of the required terms (else UnschedulableAndUnresolvable "node(s) didn't match Pod's node
  affinity/selector"). Terms are ORed, requirements ANDed; a term without requirements, or one
  that fails to parse (bad key, bad value, wrong value count, unknown operator), never matches;
  Gt/Lt compare as Go int64s. matchFields reads ``metadata.name`` (other keys read as "").
* PreFilter: Skip when the pod has no nodeSelector, no required affinity and there is no added
  affinity. When every required term pins ``metadata.name`` with ``In``, the candidates are
  narrowed to the union (per term: the intersection of its name sets); an empty union is
  UnschedulableAndUnresolvable "pod affinity terms conflict".
* Score: sum of the weights of matching preferred terms (pod's and added), normalized to
  0..100 by the maximum. PreScore returns Skip when there are no preferred terms and an Error
  when the pod's preferred terms do not parse.
* Compiled matchers are memoized in ``PodInfo.memo[NAME]``. The batch forms evaluate each
  requirement once per *distinct label value* (``snapshot.label_codes``, cached by the
  snapshot until node labels change) and gather to rows with numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    BatchFilterPlugin,
    BatchScorePlugin,
    BoolArr,
    EnqueueExtensions,
    Failure,
    FilterExplainer,
    FilterVerdict,
    Handle,
    NormalizeScorePlugin,
    PreFilterExtensions,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
)
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.snapshot import LabelCodes, Snapshot
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import (
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    PodInfo,
    QueueingHint,
    Resource,
)
from pyscheduler.model.node import Node
from pyscheduler.model.pod import (
    NodeAffinity as NodeAffinitySpec,
)
from pyscheduler.model.pod import (
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Pod,
    PreferredSchedulingTerm,
)
from pyscheduler.plugins import validation as v
from pyscheduler.plugins.helper import default_normalize_score

NAME = "NodeAffinity"
PRE_FILTER_STATE_KEY = "PreFilter" + NAME
PRE_SCORE_STATE_KEY = "PreScore" + NAME

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity"
ERR_REASON_CONFLICT = "pod affinity terms conflict"

OBJECT_NAME_FIELD = "metadata.name"

Labels = Mapping[str, str]

_IN, _NOT_IN, _GT, _LT = "In", "NotIn", "Gt", "Lt"
_EXISTS, _DOES_NOT_EXIST = "Exists", "DoesNotExist"
_LABEL_OPERATORS = (_IN, _NOT_IN, _EXISTS, _DOES_NOT_EXIST, _GT, _LT)


# ---- compiled requirements ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelRequirement:
    """One parsed matchExpressions entry (labels.Requirement semantics)."""

    key: str
    op: str
    values: frozenset[str]
    bound: int = 0  # Gt/Lt only

    def match_value(self, value: str | None) -> bool:
        op = self.op
        if op == _IN:
            return value is not None and value in self.values
        if op == _NOT_IN:
            return value is None or value not in self.values
        if op == _EXISTS:
            return value is not None
        if op == _DOES_NOT_EXIST:
            return value is None
        if value is None:
            return False
        n = v.parse_int64(value)
        if n is None:
            return False
        return n > self.bound if op == _GT else n < self.bound

    def lut(self, kc: LabelCodes) -> BoolArr:
        """Whether each distinct value of the key matches."""
        k = len(kc.values)
        if self.op in (_IN, _NOT_IN):
            hit = np.zeros(k, dtype=np.bool_)
            for val in self.values:
                code = kc.index.get(val)
                if code is not None:
                    hit[code] = True
            return hit if self.op == _IN else ~hit
        if self.op in (_EXISTS, _DOES_NOT_EXIST):
            absent = np.zeros(k, dtype=np.bool_)
            code = kc.index.get(None)
            if code is not None:
                absent[code] = True
            return absent if self.op == _DOES_NOT_EXIST else ~absent
        return np.fromiter((self.match_value(x) for x in kc.values), dtype=np.bool_, count=k)


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """One parsed matchFields entry: In/NotIn against a single value."""

    key: str
    op_in: bool
    value: str

    def match_name(self, name: str) -> bool:
        field_value = name if self.key == OBJECT_NAME_FIELD else ""
        return (field_value == self.value) == self.op_in


@dataclass(frozen=True, slots=True)
class Term:
    """A parsed, non-empty node selector term."""

    labels: tuple[LabelRequirement, ...]
    fields: tuple[FieldRequirement, ...]

    def matches(self, labels: Labels, name: str) -> bool:
        for r in self.labels:
            if not r.match_value(labels.get(r.key)):
                return False
        return all(f.match_name(name) for f in self.fields)

    def mask(self, ev: _RowEval) -> BoolArr:
        out = np.ones(len(ev.rows), dtype=np.bool_)
        for r in self.labels:
            kc = ev.snapshot.label_codes(r.key)
            out &= r.lut(kc)[kc.codes[ev.rows]]
            if not out.any():
                return out
        for f in self.fields:
            if f.key == OBJECT_NAME_FIELD:
                eq = ev.rows == ev.snapshot.table.index.get(f.value, -1)
            else:
                eq = np.full(len(ev.rows), f.value == "", dtype=np.bool_)
            out &= eq if f.op_in else ~eq
        return out


@dataclass(frozen=True, slots=True)
class _RowEval:
    snapshot: Snapshot
    rows: I64


def _label_requirement(r: NodeSelectorRequirement,
                       path: str) -> tuple[LabelRequirement | None, list[v.FieldError]]:
    """labels.NewRequirement as nodeSelectorRequirementsAsSelector calls it."""
    if r.operator not in _LABEL_OPERATORS:
        return None, [v.not_supported(v.child(path, "operator"), r.operator)]
    errs: list[v.FieldError] = []
    key_errs = v.is_qualified_name(r.key)
    if key_errs:
        errs.append(v.invalid(v.child(path, "key"), r.key, "; ".join(key_errs)))
    vpath = v.child(path, "values")
    vals = r.values
    bound = 0
    if r.operator in (_IN, _NOT_IN):
        if not vals:
            errs.append(v.invalid(vpath, vals,
                                  "for 'in', 'notin' operators, values set can't be empty"))
    elif r.operator in (_EXISTS, _DOES_NOT_EXIST):
        if vals:
            errs.append(v.invalid(vpath, vals,
                                  "values set must be empty for exists and does not exist"))
    else:
        if len(vals) != 1:
            errs.append(v.invalid(vpath, vals,
                                  "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, val in enumerate(vals):
            n = v.parse_int64(val)
            if n is None:
                errs.append(v.invalid(v.index(vpath, i), val,
                                      "for 'Gt', 'Lt' operators, the value must be an integer"))
            elif i == 0:
                bound = n
    for i, val in enumerate(vals):
        val_errs = v.is_valid_label_value(val)
        if val_errs:
            errs.append(v.invalid(v.index(vpath, i), val, "; ".join(val_errs)))
    if errs:
        return None, errs
    return LabelRequirement(r.key, r.operator, frozenset(vals), bound), []


def _field_requirement(r: NodeSelectorRequirement,
                       path: str) -> tuple[FieldRequirement | None, list[v.FieldError]]:
    """nodeSelectorRequirementsAsFieldSelector: In/NotIn with exactly one value."""
    if r.operator not in (_IN, _NOT_IN):
        return None, [v.not_supported(v.child(path, "operator"), r.operator, [_IN, _NOT_IN])]
    if len(r.values) != 1:
        return None, [v.invalid(v.child(path, "values"), r.values, "must have one element")]
    return FieldRequirement(r.key, r.operator == _IN, r.values[0]), []


def compile_term(term: NodeSelectorTerm, path: str) -> tuple[Term | None, list[v.FieldError]]:
    """A term, or None when it is empty (never matches) or invalid (errors say why)."""
    if not term.match_expressions and not term.match_fields:
        return None, []
    errs: list[v.FieldError] = []
    labels: list[LabelRequirement] = []
    fields: list[FieldRequirement] = []
    epath = v.child(path, "matchExpressions")
    for i, r in enumerate(term.match_expressions):
        lr, e = _label_requirement(r, v.index(epath, i))
        errs.extend(e)
        if lr is not None:
            labels.append(lr)
    fpath = v.child(path, "matchFields")
    for i, r in enumerate(term.match_fields):
        fr, e = _field_requirement(r, v.index(fpath, i))
        errs.extend(e)
        if fr is not None:
            fields.append(fr)
    if errs:
        return None, errs
    return Term(tuple(labels), tuple(fields)), []


@dataclass(frozen=True, slots=True)
class NodeSelectorMatcher:
    """ORed terms; terms that did not parse are dropped (they never match), as upstream's
    LazyErrorNodeSelector, and their errors kept."""

    terms: tuple[Term, ...]
    errors: tuple[v.FieldError, ...] = ()

    @classmethod
    def of(cls, sel: NodeSelector, path: str = "") -> NodeSelectorMatcher:
        terms: list[Term] = []
        errs: list[v.FieldError] = []
        tpath = v.child(path, "nodeSelectorTerms")
        for i, t in enumerate(sel.node_selector_terms):
            term, e = compile_term(t, v.index(tpath, i))
            errs.extend(e)
            if term is not None:
                terms.append(term)
        return cls(tuple(terms), tuple(errs))

    def matches(self, labels: Labels, name: str) -> bool:
        return any(t.matches(labels, name) for t in self.terms)

    def mask(self, ev: _RowEval) -> BoolArr:
        out = np.zeros(len(ev.rows), dtype=np.bool_)
        for t in self.terms:
            out |= t.mask(ev)
            if out.all():
                break
        return out


@dataclass(frozen=True, slots=True)
class RequiredNodeAffinity:
    """spec.nodeSelector AND the required node affinity (upstream RequiredNodeAffinity)."""

    selector: tuple[tuple[str, str], ...]
    affinity: NodeSelectorMatcher | None

    @classmethod
    def of(cls, pod: Pod) -> RequiredNodeAffinity:
        a = pod.spec.affinity
        ns = None
        if a is not None and a.node_affinity is not None:
            ns = a.node_affinity.required_during_scheduling_ignored_during_execution
        return cls(tuple(pod.spec.node_selector.items()),
                   NodeSelectorMatcher.of(ns) if ns is not None else None)

    def matches(self, labels: Labels, name: str) -> bool:
        for k, val in self.selector:
            if labels.get(k) != val:
                return False
        return self.affinity is None or self.affinity.matches(labels, name)

    def mask(self, ev: _RowEval) -> BoolArr:
        out = np.ones(len(ev.rows), dtype=np.bool_)
        for k, val in self.selector:
            kc = ev.snapshot.label_codes(k)
            code = kc.index.get(val)
            if code is None:
                return np.zeros(len(ev.rows), dtype=np.bool_)
            out &= kc.codes[ev.rows] == code
        if self.affinity is not None and out.any():
            out &= self.affinity.mask(ev)
        return out


@dataclass(frozen=True, slots=True)
class PreferredTerms:
    """Weighted preferred terms; weight-0 and empty terms are dropped, as upstream."""

    terms: tuple[tuple[int, Term], ...]

    @classmethod
    def of(cls, terms: list[PreferredSchedulingTerm],
           path: str = "") -> tuple[PreferredTerms, list[v.FieldError]]:
        out: list[tuple[int, Term]] = []
        errs: list[v.FieldError] = []
        for i, t in enumerate(terms):
            if t.weight == 0:
                continue
            term, e = compile_term(t.preference, v.index(path, i))
            errs.extend(e)
            if term is not None:
                out.append((t.weight, term))
        return cls(tuple(out)), errs

    def score(self, labels: Labels, name: str) -> int:
        return sum(w for w, t in self.terms if t.matches(labels, name))

    def scores(self, ev: _RowEval) -> I64:
        out = np.zeros(len(ev.rows), dtype=np.int64)
        for w, t in self.terms:
            out += t.mask(ev) * np.int64(w)
        return out


@dataclass(frozen=True, slots=True)
class _PodAffinity:
    """What a pod version compiles to (memoized in PodInfo.memo[NAME])."""

    required: RequiredNodeAffinity
    preferred: PreferredTerms | None
    preferred_error: str | None

    @classmethod
    def of(cls, pod: Pod) -> _PodAffinity:
        preferred: PreferredTerms | None = None
        error: str | None = None
        a = pod.spec.affinity
        if a is not None and a.node_affinity is not None:
            terms = a.node_affinity.preferred_during_scheduling_ignored_during_execution
            if terms:
                preferred, errs = PreferredTerms.of(terms)
                if errs:
                    preferred, error = None, v.aggregate(errs)
        return cls(RequiredNodeAffinity.of(pod), preferred, error)


def _pod_affinity(pod: PodInfo) -> _PodAffinity:
    memo = pod.memo.get(NAME)
    if not isinstance(memo, _PodAffinity):
        memo = _PodAffinity.of(pod.pod)
        pod.memo[NAME] = memo
    return memo


def _node_labels(node_info: NodeInfo) -> tuple[Labels, str]:
    return node_info.labels, node_info.name


# ---- args ---------------------------------------------------------------------------------------


class NodeAffinityArgs(msgspec.Struct, rename="camel", omit_defaults=True):
    added_affinity: NodeAffinitySpec | None = None

    def validate(self, path: str = "") -> None:
        """Upstream ValidateNodeAffinityArgs; raises ArgsError."""
        a = self.added_affinity
        if a is None:
            return
        errs: list[v.FieldError] = []
        apath = v.child(path, "addedAffinity")
        ns = a.required_during_scheduling_ignored_during_execution
        if ns is not None:
            errs.extend(NodeSelectorMatcher.of(
                ns, v.child(apath, "requiredDuringSchedulingIgnoredDuringExecution")).errors)
        terms = a.preferred_during_scheduling_ignored_during_execution
        if terms:
            errs.extend(PreferredTerms.of(
                terms, v.child(apath, "preferredDuringSchedulingIgnoredDuringExecution"))[1])
        v.raise_if(errs)

    validate_args = validate


# ---- plugin -------------------------------------------------------------------------------------


@dataclass(slots=True)
class NodeAffinity:
    """PreFilter, Filter (batch), PreScore, Score (batch), NormalizeScore, EnqueueExtensions."""

    args: NodeAffinityArgs
    name: str = NAME
    added_selector: NodeSelectorMatcher | None = None
    added_preferred: PreferredTerms | None = None

    def __post_init__(self) -> None:
        self.args.validate()
        a = self.args.added_affinity
        if a is not None:
            ns = a.required_during_scheduling_ignored_during_execution
            if ns is not None:
                self.added_selector = NodeSelectorMatcher.of(ns)
            if a.preferred_during_scheduling_ignored_during_execution:
                self.added_preferred = PreferredTerms.of(
                    a.preferred_during_scheduling_ignored_during_execution)[0]

    # ---- filter ---------------------------------------------------------------------------
    def pre_filter(self, state: CycleState, pod: PodInfo,
                   snapshot: Snapshot) -> tuple[PreFilterResult | None, Status | None]:
        """Compile the pod's required affinity; narrow to nodes pinned by metadata.name."""
        spec = pod.pod.spec
        a = spec.affinity
        required = None
        if a is not None and a.node_affinity is not None:
            required = a.node_affinity.required_during_scheduling_ignored_during_execution
        if required is None and self.added_selector is None and not spec.node_selector:
            return None, Status.skip()
        state.write(PRE_FILTER_STATE_KEY, _pod_affinity(pod).required)
        if required is None or not required.node_selector_terms:
            return None, None
        names: set[str] = set()
        for t in required.node_selector_terms:
            term_names: set[str] | None = None
            for r in t.match_fields:
                if r.key == OBJECT_NAME_FIELD and r.operator == _IN:
                    s = set(r.values)
                    term_names = s if term_names is None else term_names & s
            if term_names is None:
                # A term not pinned by name may match any node: the terms are ORed.
                return None, None
            names |= term_names
        if not names:
            return None, Status.unresolvable(ERR_REASON_CONFLICT, plugin=NAME)
        return PreFilterResult(names), None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return None

    @staticmethod
    def _required(state: CycleState, pod: PodInfo) -> RequiredNodeAffinity:
        r = state.get(PRE_FILTER_STATE_KEY)
        if isinstance(r, RequiredNodeAffinity):
            return r
        # PreFilter disabled or skipped: compute it here, as upstream falls back to.
        return _pod_affinity(pod).required

    def node_only_filter(self) -> bool:
        """Its verdict reads only the pod and the Node, and rejects as unresolvable."""
        return True

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """The node must match the added affinity, the nodeSelector and a required term."""
        labels, name = _node_labels(node_info)
        if self.added_selector is not None and not self.added_selector.matches(labels, name):
            return Status.unresolvable(ERR_REASON_ENFORCED, plugin=NAME)
        if not self._required(state, pod).matches(labels, name):
            return Status.unresolvable(ERR_REASON_POD, plugin=NAME)
        return None

    def explain_filter(self, state: CycleState, pod: PodInfo,
                       node_info: NodeInfo) -> str | None:
        """The labels the node lacks for the pod's nodeSelector, else the affinity (--explain)."""
        labels, _ = _node_labels(node_info)
        missing = [f"{k}={v}" for k, v in sorted(pod.pod.spec.node_selector.items())
                   if labels.get(k) != v]
        if missing:
            return f"the node had label(s) {', '.join(missing)} (the pod's nodeSelector)"
        return "the node matched the pod's required node affinity"

    def filter_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                     rows: I64) -> FilterVerdict | None:
        """The same check, each requirement evaluated per distinct label value."""
        if len(rows) == 0:
            return None
        ev = _RowEval(snapshot, rows)
        failures: list[Failure] = []
        ok = np.ones(len(rows), dtype=np.bool_)
        if self.added_selector is not None:
            enforced = ~self.added_selector.mask(ev)
            if enforced.any():
                failures.append(Failure(ERR_REASON_ENFORCED, enforced,
                                        Code.UNSCHEDULABLE_AND_UNRESOLVABLE))
                ok &= ~enforced
        req = self._required(state, pod)
        if req.selector or req.affinity is not None:
            mismatch = ok & ~req.mask(ev)
            if mismatch.any():
                failures.append(Failure(ERR_REASON_POD, mismatch,
                                        Code.UNSCHEDULABLE_AND_UNRESOLVABLE))
                ok &= ~mismatch
        if not failures:
            return None
        return FilterVerdict(ok, failures)

    # ---- score ----------------------------------------------------------------------------
    def pre_score(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                  rows: I64) -> Status | None:
        """Skip without preferred terms; Error when the pod's preferred terms do not parse."""
        pa = _pod_affinity(pod)
        if pa.preferred_error is not None:
            return Status.as_error(ValueError(pa.preferred_error), NAME)
        if pa.preferred is None and self.added_preferred is None:
            return Status.skip()
        state.write(PRE_SCORE_STATE_KEY, pa.preferred)
        return None

    def _preferred(self, pod: PodInfo) -> PreferredTerms | None:
        return _pod_affinity(pod).preferred

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """Sum of the weights of the preferred terms the node matches."""
        labels, name = _node_labels(node_info)
        total = 0
        if self.added_preferred is not None:
            total += self.added_preferred.score(labels, name)
        preferred = self._preferred(pod)
        if preferred is not None:
            total += preferred.score(labels, name)
        return total

    def score_nodes(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                    rows: I64) -> I64:
        """The same sums over many rows."""
        ev = _RowEval(snapshot, rows)
        out = np.zeros(len(rows), dtype=np.int64)
        if len(rows) == 0:
            return out
        if self.added_preferred is not None:
            out += self.added_preferred.scores(ev)
        preferred = self._preferred(pod)
        if preferred is not None:
            out += preferred.scores(ev)
        return out

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: I64) -> None:
        """Scale to 0..100 by the best node's sum."""
        default_normalize_score(scores, reverse=False)

    # ---- queueing hints -------------------------------------------------------------------
    def events_to_register(self) -> list[ClusterEventWithHint]:
        """Node added or its labels changed."""
        return [ClusterEventWithHint(
            ClusterEvent(Resource.NODE, ActionType.ADD | ActionType.UPDATE_NODE_LABEL),
            self.is_schedulable_after_node_change,
        )]

    def is_schedulable_after_node_change(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        """Queue when the new/updated node matches and (on update) did not match before."""
        modified: Node = new
        labels, name = modified.metadata.labels, modified.metadata.name
        if self.added_selector is not None and not self.added_selector.matches(labels, name):
            return QueueingHint.SKIP
        required = RequiredNodeAffinity.of(pod)
        if not required.matches(labels, name):
            aff = required.affinity
            selector_ok = all(labels.get(k) == val for k, val in required.selector)
            # Upstream's Match reports the terms' parse errors (only) when no term matched;
            # the hint then answers Queue along with the error.
            if selector_ok and aff is not None and aff.errors:
                return QueueingHint.QUEUE
            return QueueingHint.SKIP
        if old is None:
            return QueueingHint.QUEUE
        if required.matches(old.metadata.labels, old.metadata.name):
            return QueueingHint.SKIP
        return QueueingHint.QUEUE


def new(args: NodeAffinityArgs | None, handle: Handle) -> NodeAffinity:
    return NodeAffinity(args if args is not None else NodeAffinityArgs())


SPEC = PluginSpec(NAME, new, NodeAffinityArgs)


def _check(p: NodeAffinity) -> tuple[PreFilterPlugin, BatchFilterPlugin, PreScorePlugin,
                                      BatchScorePlugin, NormalizeScorePlugin, EnqueueExtensions,
                                      FilterExplainer]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p, p, p, p, p, p
