"""kubectl's ``-l`` label selector syntax, for ``--selector``.

Contract: ``parse_selector("a=b,c!=d,e,!f,g in (x,y),h notin (z)")`` returns a LabelSelector
(matched with model.selectors, the scheduler's own matcher); ValueError names the bad term.
"""

from __future__ import annotations

import re

from pyscheduler.model.pod import LabelSelector, LabelSelectorRequirement

_SET = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


def _terms(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def parse_selector(text: str) -> LabelSelector:
    """The LabelSelector ``text`` denotes (module contract)."""
    labels: dict[str, str] = {}
    exprs: list[LabelSelectorRequirement] = []
    for term in _terms(text):
        if m := _SET.match(term):
            values = [v.strip() for v in m.group(3).split(",") if v.strip()]
            op = "In" if m.group(2) == "in" else "NotIn"
            exprs.append(LabelSelectorRequirement(key=m.group(1), operator=op, values=values))
        elif m := _EQ.match(term):
            if m.group(2) == "!=":
                exprs.append(LabelSelectorRequirement(key=m.group(1), operator="NotIn",
                                                      values=[m.group(3)]))
            else:
                labels[m.group(1)] = m.group(3)
        elif m := _EXISTS.match(term):
            exprs.append(LabelSelectorRequirement(
                key=m.group(2), operator="DoesNotExist" if m.group(1) else "Exists"))
        else:
            raise ValueError(f"invalid selector term {term.strip()!r}")
    return LabelSelector(match_labels=labels, match_expressions=exprs)
