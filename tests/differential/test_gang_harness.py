"""The gated scenarios' harness logic, offline: loading, members, renaming of interchangeable
groups, and departures asserted on both sides (gang.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .gang import (
    GATES,
    Departure,
    best_renaming,
    check_expectations,
    compare,
    load_gang_scenarios,
    parse_gang_scenario,
)
from .scenario import ScenarioError, load_scenarios

DOC = {
    "name": "g", "nodes": [{"name": "n1"}], "podGroups": {"a": 2, "b": {"minCount": 2}},
    "interchangeable": [["a", "b"]],
    "steps": [{"members": [{"group": "a", "count": 2, "requests": {"cpu": "1"}},
                           {"group": "b", "count": 2}]}],
}


def test_gated_files_load_apart_from_the_others() -> None:
    gang = load_gang_scenarios()
    assert gang and all(sc.gates == ("GenericWorkload",) for sc in gang)
    assert not {sc.name for sc in gang} & {sc.name for sc in load_scenarios()}
    # The gate means what kube-scheduler v1.37.2 needs: no GangScheduling gate exists there.
    assert GATES["GenericWorkload"].kube_scheduler == "GenericWorkload=true"


def test_members_expand_with_their_group_reference() -> None:
    sc = parse_gang_scenario(DOC, "f", "f[0]", ("GenericWorkload",))
    names = [p.name for p in sc.steps[0]]
    assert names == ["a-0", "a-1", "b-0", "b-1"]
    assert sc.steps[0][0].raw["spec"]["schedulingGroup"] == {"podGroupName": "a"}
    assert sc.groups["a"] == {"minCount": 2}


def test_unknown_group_or_field_is_refused() -> None:
    with pytest.raises(ScenarioError):
        parse_gang_scenario({**DOC, "steps": [{"members": {"group": "zz"}}]}, "f", "w", ())
    with pytest.raises(ScenarioError):
        parse_gang_scenario({**DOC, "extra": 1}, "f", "w", ())


def _outcome(winner: str, loser: str) -> dict[str, str]:
    return {f"1:pod {winner}-0": "bound", f"1:pod {loser}-0": "pending Unschedulable",
            f"1:group {winner}": "True Scheduled", f"1:group {loser}": "False Unschedulable",
            f"1:message {loser}-0": f"why PodGroup ns/{loser}: {loser}-0 did not fit"}


def test_interchangeable_groups_are_renamed_to_fit_upstream() -> None:
    sc = parse_gang_scenario(DOC, "f", "w", ())
    kube, py = _outcome("a", "b"), _outcome("b", "a")
    renaming = best_renaming(sc, kube, py)
    assert renaming == {"a": "b", "b": "a"}
    from .gang import _rename

    assert compare(sc, kube, _rename(py, renaming)) == []
    assert compare(sc, kube, py)  # without the renaming they differ


def test_a_departure_is_asserted_on_both_sides() -> None:
    sc = parse_gang_scenario(DOC, "f", "w", ())
    sc.departures = [Departure(key="1:message b-*", kube="^why PodGroup ns/b:", py="^ours",
                               why="wording")]
    kube = _outcome("a", "b")
    py = {**kube, "1:message b-0": "ours b"}
    assert compare(sc, kube, py) == []
    # A departure whose value does not match either side's is a mismatch, never a skip.
    wrong = {**kube, "1:message b-0": "something else"}
    assert any("departure 1:message b-0: pyscheduler" in m for m in compare(sc, kube, wrong))
    gone = {k: v for k, v in kube.items() if "message" not in k}
    assert any("has no such key" in m for m in compare(sc, gone, py))


def test_expectations_default_to_the_last_step() -> None:
    sc = parse_gang_scenario({**DOC, "expect": {"pod a-0": "bound", "1:group b": "none"}},
                             "f", "w", ())
    problems = check_expectations(sc, _outcome("a", "b"))
    assert problems == ["1:group b: kube-scheduler 'False Unschedulable', expected 'none'"]


def test_gated_file_needs_known_gates(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("featureGates: [Nope]\nscenarios: []\n")
    with pytest.raises(ScenarioError):
        load_gang_scenarios(tmp_path)
    assert load_scenarios(tmp_path) == []
