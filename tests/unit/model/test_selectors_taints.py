"""Selector and toleration semantics (metav1 / v1 helpers)."""

from __future__ import annotations

from pyscheduler.model.node import Taint
from pyscheduler.model.pod import (
    LabelSelector,
    LabelSelectorRequirement,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Toleration,
)
from pyscheduler.model.selectors import compile_label_selector, compile_node_selector
from pyscheduler.model.taints import find_untolerated, tolerates


def test_nil_selector_matches_nothing_empty_matches_everything() -> None:
    assert compile_label_selector(None)({"a": "b"}) is False
    assert compile_label_selector(LabelSelector())({}) is True


def test_label_selector_operators() -> None:
    sel = LabelSelector(
        match_labels={"app": "web"},
        match_expressions=[
            LabelSelectorRequirement("tier", "In", ["fe", "be"]),
            LabelSelectorRequirement("env", "NotIn", ["prod"]),
            LabelSelectorRequirement("team", "Exists"),
            LabelSelectorRequirement("legacy", "DoesNotExist"),
        ],
    )
    m = compile_label_selector(sel)
    assert m({"app": "web", "tier": "fe", "team": "x"})
    assert not m({"app": "web", "tier": "fe", "team": "x", "env": "prod"})
    assert not m({"app": "web", "tier": "fe", "team": "x", "legacy": ""})
    assert not m({"app": "web", "tier": "db", "team": "x"})


def term(*reqs: NodeSelectorRequirement, fields: list[NodeSelectorRequirement] | None = None
         ) -> NodeSelectorTerm:
    return NodeSelectorTerm(list(reqs), fields or [])


def test_node_selector_terms_or_requirements_and() -> None:
    sel = NodeSelector([
        term(NodeSelectorRequirement("zone", "In", ["a"]),
             NodeSelectorRequirement("gpu", "Exists")),
        term(NodeSelectorRequirement("cores", "Gt", ["8"])),
    ])
    m = compile_node_selector(sel)
    assert m({"zone": "a", "gpu": "1"}, "n")
    assert not m({"zone": "a"}, "n")
    assert m({"cores": "16"}, "n")
    assert not m({"cores": "8"}, "n")
    assert not m({"cores": "many"}, "n")


def test_empty_term_and_empty_selector_match_nothing() -> None:
    assert not compile_node_selector(NodeSelector([term()]))({"a": "b"}, "n")
    assert not compile_node_selector(NodeSelector([]))({"a": "b"}, "n")
    assert compile_node_selector(None)({}, "n")


def test_match_fields_metadata_name() -> None:
    m = compile_node_selector(NodeSelector([
        term(fields=[NodeSelectorRequirement("metadata.name", "In", ["n1"])])
    ]))
    assert m({}, "n1") and not m({}, "n2")


def test_tolerations() -> None:
    t = Taint("dedicated", "gpu", "NoSchedule")
    assert tolerates(Toleration("dedicated", "Equal", "gpu", "NoSchedule"), t)
    assert tolerates(Toleration("dedicated", "", "gpu", ""), t)  # empty effect: all effects
    assert tolerates(Toleration("", "Exists"), t)  # empty key + Exists: everything
    assert not tolerates(Toleration("dedicated", "Equal", "cpu"), t)
    assert not tolerates(Toleration("dedicated", "Exists", effect="NoExecute"), t)
    taints = [Taint("a", "", "PreferNoSchedule"), t]
    assert find_untolerated(taints, [], ("NoSchedule", "NoExecute")) == t
