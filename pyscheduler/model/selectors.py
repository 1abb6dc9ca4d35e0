"""Label selectors and node selector terms with upstream matching semantics.

Contract:
* ``LabelSelector``: ``None`` matches nothing, an empty selector matches everything
  (metav1.LabelSelectorAsSelector). NotIn and DoesNotExist match objects without the key.
* Node selector terms (required node affinity): terms are ORed, requirements in a term ANDed;
  a term with no requirements matches nothing, as does a selector with no terms. Gt/Lt compare
  the label value and the single requirement value as integers; unparsable values never match.
  matchFields supports only ``metadata.name`` (In/NotIn), the only field the API allows.
* Compiled matchers are plain closures so plugins can evaluate them across many nodes cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from pyscheduler.model.pod import (
    LabelSelector,
    LabelSelectorRequirement,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
)

Labels = Mapping[str, str]
LabelMatcher = Callable[[Labels], bool]


def _nothing(_: Labels) -> bool:
    return False


def _everything(_: Labels) -> bool:
    return True


def _requirement(key: str, op: str, values: Sequence[str]) -> LabelMatcher | None:
    vals = frozenset(values)
    if op == "In":
        return lambda labels: labels.get(key) in vals
    if op == "NotIn":
        return lambda labels: labels.get(key) not in vals
    if op == "Exists":
        return lambda labels: key in labels
    if op == "DoesNotExist":
        return lambda labels: key not in labels
    if op in ("Gt", "Lt"):
        if len(values) != 1:
            return None
        try:
            bound = int(values[0])
        except ValueError:
            return None
        gt = op == "Gt"

        def cmp(labels: Labels) -> bool:
            v = labels.get(key)
            if v is None:
                return False
            try:
                n = int(v)
            except ValueError:
                return False
            return n > bound if gt else n < bound

        return cmp
    return None


def _all(matchers: list[LabelMatcher]) -> LabelMatcher:
    if not matchers:
        return _everything
    if len(matchers) == 1:
        return matchers[0]
    return lambda labels: all(m(labels) for m in matchers)


def compile_label_selector(sel: LabelSelector | None) -> LabelMatcher:
    """metav1.LabelSelectorAsSelector. An invalid operator makes the selector match nothing."""
    if sel is None:
        return _nothing
    ms: list[LabelMatcher] = []
    for k, v in sel.match_labels.items():
        ms.append(lambda labels, k=k, v=v: labels.get(k) == v)  # type: ignore[misc]
    for r in sel.match_expressions:
        if r.operator in ("Gt", "Lt"):  # not valid in a LabelSelector
            return _nothing
        m = _requirement(r.key, r.operator, r.values)
        if m is None:
            return _nothing
        ms.append(m)
    return _all(ms)


def labels_match_selector(sel: LabelSelector | None, labels: Labels) -> bool:
    return compile_label_selector(sel)(labels)


def map_selector(match_labels: Mapping[str, str]) -> LabelMatcher:
    """A plain equality map such as spec.nodeSelector: every pair must be present."""
    items = tuple(match_labels.items())
    if not items:
        return _everything
    return lambda labels: all(labels.get(k) == v for k, v in items)


NodeMatcher = Callable[[Labels, str], bool]  # (node labels, node name) -> bool


def _field_requirement(r: NodeSelectorRequirement) -> Callable[[str], bool] | None:
    if r.key != "metadata.name" or len(r.values) != 1 or r.operator not in ("In", "NotIn"):
        return None
    value = r.values[0]
    if r.operator == "In":
        return lambda name: name == value
    return lambda name: name != value


def compile_node_selector_term(term: NodeSelectorTerm) -> NodeMatcher:
    if not term.match_expressions and not term.match_fields:
        return lambda labels, name: False
    label_ms: list[LabelMatcher] = []
    for r in term.match_expressions:
        m = _requirement(r.key, r.operator, r.values)
        if m is None:
            return lambda labels, name: False
        label_ms.append(m)
    field_ms: list[Callable[[str], bool]] = []
    for r in term.match_fields:
        f = _field_requirement(r)
        if f is None:
            return lambda labels, name: False
        field_ms.append(f)
    lm = _all(label_ms)
    if not field_ms:
        return lambda labels, name: lm(labels)
    return lambda labels, name: lm(labels) and all(f(name) for f in field_ms)


def compile_node_selector(sel: NodeSelector | None) -> NodeMatcher:
    """Required node affinity: ORed terms. ``None`` means "no constraint" (matches all)."""
    if sel is None:
        return lambda labels, name: True
    terms = [compile_node_selector_term(t) for t in sel.node_selector_terms]
    if not terms:
        return lambda labels, name: False
    if len(terms) == 1:
        return terms[0]
    return lambda labels, name: any(t(labels, name) for t in terms)


def label_requirement_matches(r: LabelSelectorRequirement, labels: Labels) -> bool:
    m = _requirement(r.key, r.operator, r.values)
    return m is not None and m(labels)
