"""Label selectors with apimachinery's ``labels.Selector`` semantics, as PodTopologySpread uses
them.

Contract:
* ``Selector.from_label_selector(sel)`` is ``metav1.LabelSelectorAsSelector``: ``None`` gives
  the *nothing* selector (matches no pod), an empty selector gives the *everything* selector
  (no requirements; ``empty`` is true), otherwise one requirement per ``matchLabels`` pair
  (equality) and per ``matchExpressions`` entry (In, NotIn, Exists, DoesNotExist). An invalid
  operator, key, value or value count raises ``SelectorError`` with apimachinery's wording, as
  ``labels.NewRequirement`` rejects them.
* ``Selector.from_set(labels)`` is ``labels.SelectorFromSet`` (equality requirements, not
  validated); ``add(reqs)`` is ``Selector.Add``; a nothing selector has no requirements to add
  or merge (``Requirements()`` reports not-ok), so merging keeps it nothing.
* Matching: In/equality need the key with a listed value; NotIn matches a missing key; the
  everything selector matches every label set, the nothing selector none.
* Selectors are immutable and hashable by meaning (requirements are kept sorted), so they can
  key caches: two pods with the same selector share per-node counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping

from pyscheduler.model.pod import LabelSelector
from pyscheduler.plugins import validation as v

Labels = Mapping[str, str]

EQUALS = "="
IN = "in"
NOT_IN = "notin"
EXISTS = "exists"
DOES_NOT_EXIST = "!"

_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


class SelectorError(ValueError):
    """A label selector that ``metav1.LabelSelectorAsSelector`` would reject."""


Requirement = tuple[str, str, tuple[str, ...]]  # (key, operator, sorted values)


def _requirement(key: str, op: str, values: list[str]) -> Requirement:
    """labels.NewRequirement: every problem reported, worded and aggregated as apimachinery's."""
    errs: list[v.FieldError] = []
    key_errs = v.is_qualified_name(key)
    if key_errs:
        errs.append(v.invalid("key", key, "; ".join(key_errs)))
    if op in (IN, NOT_IN) and not values:
        errs.append(v.invalid("values", values,
                              "for 'in', 'notin' operators, values set can't be empty"))
    elif op == EQUALS and len(values) != 1:
        errs.append(v.invalid("values", values,
                              "exact-match compatibility requires one single value"))
    elif op in (EXISTS, DOES_NOT_EXIST) and values:
        errs.append(v.invalid("values", values,
                              "values set must be empty for exists and does not exist"))
    for i, val in enumerate(values):
        val_errs = v.is_valid_label_value(val)
        if val_errs:
            errs.append(v.invalid(v.index("values", i), val, "; ".join(val_errs)))
    if errs:
        raise SelectorError(v.aggregate(errs))
    return key, op, tuple(sorted(set(values)))


def _compile(reqs: tuple[Requirement, ...]) -> Callable[[Labels], bool]:
    """A matcher for the requirements; the common shapes get a closure without a loop."""
    if len(reqs) == 1:
        key, op, vals = reqs[0]
        if op == EXISTS:
            return lambda labels: key in labels
        if op in (EQUALS, IN) and len(vals) == 1:
            val = vals[0]
            return lambda labels: labels.get(key) == val
    checks: list[tuple[str, str, frozenset[str]]] = [(k, op, frozenset(vs)) for k, op, vs in reqs]

    def match(labels: Labels) -> bool:
        for key, op, vals in checks:
            if op in (EQUALS, IN):
                got = labels.get(key)
                if got is None or got not in vals:
                    return False
            elif op == NOT_IN:
                got = labels.get(key)
                if got is not None and got in vals:
                    return False
            elif op == EXISTS:
                if key not in labels:
                    return False
            elif key in labels:  # DoesNotExist
                return False
        return True

    return match


def _nothing(_: Labels) -> bool:
    return False


def _everything(_: Labels) -> bool:
    return True


class Selector:
    """An immutable label selector (apimachinery internalSelector / nothingSelector)."""

    __slots__ = ("_hash", "matches", "nothing", "requirements")

    requirements: tuple[Requirement, ...]
    nothing: bool
    matches: Callable[[Labels], bool]

    def __init__(self, requirements: Iterable[Requirement] = (), *, nothing: bool = False) -> None:
        self.nothing = nothing
        self.requirements = () if nothing else tuple(sorted(set(requirements)))
        self._hash = hash((self.nothing, self.requirements))
        if nothing:
            self.matches = _nothing
        elif not self.requirements:
            self.matches = _everything
        else:
            self.matches = _compile(self.requirements)

    @classmethod
    def from_label_selector(cls, sel: LabelSelector | None) -> Selector:
        """metav1.LabelSelectorAsSelector; raises SelectorError."""
        if sel is None:
            return NOTHING
        if not sel.match_labels and not sel.match_expressions:
            return EVERYTHING
        reqs = [_requirement(k, EQUALS, [val]) for k, val in sel.match_labels.items()]
        for expr in sel.match_expressions:
            op = _OPERATORS.get(expr.operator)
            if op is None:
                raise SelectorError(f"{json.dumps(expr.operator)} is not a valid label selector "
                                    "operator")
            reqs.append(_requirement(expr.key, op, list(expr.values)))
        return cls(reqs)

    @classmethod
    def from_set(cls, labels: Labels) -> Selector:
        """labels.SelectorFromSet (no validation, as upstream)."""
        return cls((k, EQUALS, (val,)) for k, val in labels.items())

    @property
    def empty(self) -> bool:
        """labels.Selector.Empty(): no requirements (the nothing selector is not empty)."""
        return not self.nothing and not self.requirements

    def add(self, requirements: Iterable[Requirement]) -> Selector:
        """Selector.Add: AND more requirements (a nothing selector stays nothing)."""
        if self.nothing:
            return self
        return Selector((*self.requirements, *requirements))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Selector):
            return NotImplemented
        return self.nothing == other.nothing and self.requirements == other.requirements

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        if self.nothing:
            return "Selector(<nothing>)"
        return f"Selector({list(self.requirements)!r})"


NOTHING = Selector(nothing=True)
EVERYTHING = Selector()
