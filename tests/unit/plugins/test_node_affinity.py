"""NodeAffinity: upstream's node_affinity_test.go rows (filter, PreFilter narrowing, scores,
added affinity, hints), each run through the per-node and the batch form."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from builders import (
    filter_both,
    make_node,
    make_pod,
    new_state,
    pod_info,
    preferred,
    required,
    scores_both,
    snapshot_of,
    term,
)

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.interfaces import PreFilterResult
from pyscheduler.framework.status import Code
from pyscheduler.framework.types import QueueingHint
from pyscheduler.plugins.node_affinity import (
    ERR_REASON_CONFLICT,
    ERR_REASON_ENFORCED,
    ERR_REASON_POD,
    NAME,
    NodeAffinity,
    NodeAffinityArgs,
    new,
)
from pyscheduler.plugins.validation import ArgsError

UNRES = int(Code.UNSCHEDULABLE_AND_UNRESOLVABLE)
POD_FAIL = (UNRES, [ERR_REASON_POD])
NAME_FIELD = "metadata.name"


def plugin(added: dict[str, Any] | None = None) -> NodeAffinity:
    args = msgspec.convert({"addedAffinity": added} if added is not None else {},
                           NodeAffinityArgs)
    return new(args, None)  # type: ignore[arg-type]


FILTER_CASES: list[tuple[str, dict[str, Any], dict[str, str], str, Any, Any, Any]] = [
    # (name, pod kwargs, node labels, node name, want filter, want PreFilter result/status,
    #  added affinity)
    ("missing labels", {"node_selector": {"foo": "bar"}}, {}, "n", POD_FAIL, None, None),
    ("same labels", {"node_selector": {"foo": "bar"}}, {"foo": "bar"}, "n", None, None, None),
    ("node labels are superset", {"node_selector": {"foo": "bar"}},
     {"foo": "bar", "baz": "blah"}, "n", None, None, None),
    ("node labels are subset", {"node_selector": {"foo": "bar", "baz": "blah"}},
     {"foo": "bar"}, "n", POD_FAIL, None, None),
    ("In operator matches", {"node_affinity": required(term(("foo", "In", ["bar", "value2"])))},
     {"foo": "bar"}, "n", None, None, None),
    ("Gt operator matches", {"node_affinity": required(term(("kernel-version", "Gt", ["0204"])))},
     {"kernel-version": "0206"}, "n", None, None, None),
    ("NotIn operator matches",
     {"node_affinity": required(term(("mem-type", "NotIn", ["DDR", "DDR2"])))},
     {"mem-type": "DDR3"}, "n", None, None, None),
    ("Exists operator matches", {"node_affinity": required(term(("GPU", "Exists", [])))},
     {"GPU": "NVIDIA-GRID-K1"}, "n", None, None, None),
    ("affinity that doesn't match node's labels",
     {"node_affinity": required(term(("foo", "In", ["value1", "value2"])))},
     {"foo": "bar"}, "n", POD_FAIL, None, None),
    ("empty MatchExpressions matches no objects", {"node_affinity": required({})},
     {"foo": "bar"}, "n", POD_FAIL, None, None),
    ("multiple matchExpressions ANDed that match",
     {"node_affinity": required(term(("GPU", "Exists", []), ("GPU", "NotIn", ["AMD", "INTER"])))},
     {"GPU": "NVIDIA-GRID-K1"}, "n", None, None, None),
    ("multiple matchExpressions ANDed that don't match",
     {"node_affinity": required(term(("GPU", "Exists", []), ("GPU", "In", ["AMD", "INTER"])))},
     {"GPU": "NVIDIA-GRID-K1"}, "n", POD_FAIL, None, None),
    ("multiple terms ORed, one matches",
     {"node_affinity": required(term(("foo", "In", ["bar", "value2"])),
                                term(("diffkey", "In", ["wrong", "value2"])))},
     {"foo": "bar"}, "n", None, None, None),
    ("affinity and nodeSelector both satisfied",
     {"node_selector": {"foo": "bar"}, "node_affinity": required(term(("foo", "Exists", [])))},
     {"foo": "bar"}, "n", None, None, None),
    ("affinity matches but nodeSelector does not",
     {"node_selector": {"foo": "bar"}, "node_affinity": required(term(("foo", "Exists", [])))},
     {"foo": "barrrrrr"}, "n", POD_FAIL, None, None),
    ("an invalid value in an affinity term never matches",
     {"node_affinity": required(term(("foo", "NotIn", ["invalid value: ___@#$%^"])))},
     {"foo": "bar"}, "n", POD_FAIL, None, None),
    ("matchFields In matches the node", {"node_affinity": required(
        term(fields=[(NAME_FIELD, "In", ["node1"])]))}, {}, "node1", None,
     PreFilterResult({"node1"}), None),
    ("matchFields In does not match the node", {"node_affinity": required(
        term(fields=[(NAME_FIELD, "In", ["node1"])]))}, {}, "node2", POD_FAIL,
     PreFilterResult({"node1"}), None),
    ("two terms: matchFields does not match, matchExpressions does",
     {"node_affinity": required(
         term(fields=[(NAME_FIELD, "In", ["node1"]), (NAME_FIELD, "In", ["node2"])]),
         term(("foo", "In", ["bar"])))}, {"foo": "bar"}, "node2", None, None, None),
    ("one term: matchFields does not match, matchExpressions does",
     {"node_affinity": required(term(("foo", "In", ["bar"]),
                                     fields=[(NAME_FIELD, "In", ["node1"])]))},
     {"foo": "bar"}, "node2", POD_FAIL, PreFilterResult({"node1"}), None),
    ("one term: both match", {"node_affinity": required(
        term(("foo", "In", ["bar"]), fields=[(NAME_FIELD, "In", ["node1"])]))},
     {"foo": "bar"}, "node1", None, PreFilterResult({"node1"}), None),
    ("two terms: neither matches", {"node_affinity": required(
        term(fields=[(NAME_FIELD, "In", ["node1"])]),
        term(("foo", "In", ["not-match-to-bar"])))}, {"foo": "bar"}, "node2", POD_FAIL, None,
     None),
    ("two terms of node name affinity", {"node_affinity": required(
        term(fields=[(NAME_FIELD, "In", ["node1"])]),
        term(fields=[(NAME_FIELD, "In", ["node2"])]))}, {}, "node2", None,
     PreFilterResult({"node1", "node2"}), None),
    ("two conflicting match field requirements", {"node_affinity": required(
        term(fields=[(NAME_FIELD, "In", ["node1"]), (NAME_FIELD, "In", ["node2"])]))},
     {"foo": "bar"}, "node2", POD_FAIL, (UNRES, [ERR_REASON_CONFLICT]), None),
    ("matches added affinity and pod's node affinity",
     {"node_affinity": required(term(("zone", "In", ["foo"])))}, {"zone": "foo"}, "node2",
     None, None, required(term(fields=[(NAME_FIELD, "In", ["node2"])]))),
    ("matches added affinity but not pod's node affinity",
     {"node_affinity": required(term(("zone", "In", ["bar"])))}, {"zone": "foo"}, "node2",
     POD_FAIL, None, required(term(fields=[(NAME_FIELD, "In", ["node2"])]))),
    ("doesn't match added affinity", {}, {"zone": "foo"}, "node2",
     (UNRES, [ERR_REASON_ENFORCED]), None, required(term(("zone", "In", ["bar"])))),
    ("Lt on a non-integer label never matches",
     {"node_affinity": required(term(("v", "Lt", ["10"])))}, {"v": "1_0"}, "n", POD_FAIL,
     None, None),
    ("Gt with a non-integer value is an invalid term",
     {"node_affinity": required(term(("v", "Gt", ["x"])))}, {"v": "5"}, "n", POD_FAIL,
     None, None),
    ("DoesNotExist matches a node without the label",
     {"node_affinity": required(term(("gpu", "DoesNotExist", [])))}, {"cpu": "x"}, "n", None,
     None, None),
    ("Exists with values is an invalid term",
     {"node_affinity": required(term(("gpu", "Exists", ["x"])))}, {"gpu": "x"}, "n", POD_FAIL,
     None, None),
    ("NotIn matches a node without the label",
     {"node_affinity": required(term(("gpu", "NotIn", ["a"])))}, {}, "n", None, None, None),
    ("matchFields NotIn excludes the node", {"node_affinity": required(
        term(fields=[(NAME_FIELD, "NotIn", ["n"])]))}, {}, "n", POD_FAIL, None, None),
    ("matchFields with two values is an invalid term", {"node_affinity": required(
        term(fields=[(NAME_FIELD, "In", ["n", "m"])]))}, {}, "n", POD_FAIL,
     PreFilterResult({"n", "m"}), None),
]


@pytest.mark.parametrize(("name", "pod", "labels", "node_name", "want", "want_pre", "added"),
                         FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_filter(name: str, pod: dict[str, Any], labels: dict[str, str], node_name: str,
                want: Any, want_pre: Any, added: dict[str, Any] | None) -> None:
    pl = plugin(added)
    # A second node that matches nothing exercises the batch form's mixed rows.
    snap = snapshot_of([make_node(node_name, labels=labels), make_node("other-node")])
    pi = pod_info(make_pod(**pod))
    state = new_state()
    res, st = pl.pre_filter(state, pi, snap)
    if isinstance(want_pre, PreFilterResult):
        assert (res, st) == (want_pre, None)
    elif want_pre is not None:
        assert res is None and st is not None and (int(st.code), st.reasons) == want_pre
    else:
        assert res is None
    assert filter_both(pl, state, pi, snap)[node_name] == want
    # The Filter gives the same answer when PreFilter did not run.
    assert filter_both(pl, new_state(), pi, snap)[node_name] == want


def test_prefilter_skips_pods_without_constraints() -> None:
    snap = snapshot_of([make_node("n")])
    for pod in (make_pod(), make_pod(node_affinity={})):
        res, st = plugin().pre_filter(new_state(), pod_info(pod), snap)
        assert res is None and st is not None and st.code == Code.SKIP
    # With an added affinity the Filter must run even for an unconstrained pod.
    res, st = plugin(required(term(("a", "Exists", [])))).pre_filter(
        new_state(), pod_info(make_pod()), snap)
    assert (res, st) == (None, None)


def test_compiled_affinity_is_memoized_on_the_pod_info() -> None:
    snap = snapshot_of([make_node("n", labels={"foo": "bar"})])
    pi = pod_info(make_pod(node_affinity=required(term(("foo", "In", ["bar"])))))
    plugin().pre_filter(new_state(), pi, snap)
    memo = pi.memo[NAME]
    plugin().filter(new_state(), pi, snap.node_infos[0])
    assert pi.memo[NAME] is memo


def test_label_codes_follow_label_changes() -> None:
    cache = SchedulerCache()
    cache.add_node(make_node("a", labels={"zone": "z1"}))
    cache.add_node(make_node("b", labels={"zone": "z2"}))
    snap = cache.snapshot
    pl = plugin()
    pi = pod_info(make_pod(node_selector={"zone": "z1"}))
    assert filter_both(pl, new_state(), pi, snap) == {"a": None, "b": POD_FAIL}
    cache.update_node(None, make_node("a", labels={"zone": "z2"}))
    cache.update_node(None, make_node("b", labels={"zone": "z1"}))
    assert filter_both(pl, new_state(), pi, snap) == {"a": POD_FAIL, "b": None}


# ---- score -----------------------------------------------------------------------------------

LABEL1 = {"foo": "bar"}
LABEL2 = {"key": "value"}
LABEL3 = {"az": "az1"}
LABEL4 = {"abc": "az11", "def": "az22"}
LABEL5 = {"foo": "bar", "key": "value", "az": "az1"}
AFFINITY1 = preferred((2, term(("foo", "In", ["bar"]))))
AFFINITY2 = preferred(
    (2, term(("foo", "In", ["bar"]))),
    (4, term(("key", "In", ["value"]))),
    (5, term(("foo", "In", ["bar"]), ("key", "In", ["value"]), ("az", "In", ["az1"]))),
)

SCORE_CASES = [
    ("no preferred terms match: all zero", AFFINITY1, [LABEL4, LABEL2, LABEL3], None, [0, 0, 0]),
    ("only node1 matches", AFFINITY1, [LABEL1, LABEL2, LABEL3], None, [100, 0, 0]),
    ("all match with different priorities", AFFINITY2, [LABEL1, LABEL5, LABEL2], None,
     [18, 100, 36]),
    ("added affinity", None, [LABEL1, LABEL2], AFFINITY1, [100, 0]),
    ("added affinity and pod's preferred terms", AFFINITY1, [LABEL1, LABEL2, LABEL5],
     preferred((3, term(("key", "In", ["value"])))), [40, 60, 100]),
    ("weight-0 terms are ignored", preferred((0, term(("foo", "In", ["bar"]))),
                                             (1, term(("key", "In", ["value"])))),
     [LABEL1, LABEL2], None, [0, 100]),
]


@pytest.mark.parametrize(("name", "affinity", "labels", "added", "want"), SCORE_CASES,
                         ids=[c[0] for c in SCORE_CASES])
def test_score(name: str, affinity: dict[str, Any] | None, labels: list[dict[str, str]],
               added: dict[str, Any] | None, want: list[int]) -> None:
    nodes = [make_node(f"node{i}", labels=lab) for i, lab in enumerate(labels)]
    snap = snapshot_of(nodes)
    pl = plugin(added)
    pi = pod_info(make_pod(node_affinity=affinity))
    state = new_state()
    assert pl.pre_score(state, pi, snap, snap.all_rows()) is None
    got = scores_both(pl, state, pi, snap)
    assert [got[n.metadata.name] for n in nodes] == want


def test_prescore_skip_and_error() -> None:
    snap = snapshot_of([make_node("n", labels=LABEL1)])
    st = plugin().pre_score(new_state(), pod_info(make_pod()), snap, snap.all_rows())
    assert st is not None and st.code == Code.SKIP
    broken = make_pod(node_affinity=preferred((2, term(("invalid key", "In", ["bar"])))))
    st = plugin().pre_score(new_state(), pod_info(broken), snap, snap.all_rows())
    assert st is not None and st.code == Code.ERROR
    assert st.message() == (
        '[0].matchExpressions[0].key: Invalid value: "invalid key": name part must consist of '
        "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
        "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    )


# ---- args and hints --------------------------------------------------------------------------


def test_args_validation_names_the_field() -> None:
    with pytest.raises(ArgsError) as err:
        plugin(required(term(("foo", "Bad", ["x"]))))
    assert str(err.value) == (
        "addedAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        '.matchExpressions[0].operator: Unsupported value: "Bad"'
    )
    with pytest.raises(ArgsError) as err:
        plugin(preferred((1, term(("foo", "In", [])))))
    assert str(err.value) == (
        "addedAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].matchExpressions[0]"
        ".values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be "
        "empty"
    )


POD_FOO_BAR = make_pod(node_affinity=required(term(("foo", "In", ["bar"]))))


@pytest.mark.parametrize(("name", "added", "old", "new_labels", "want"), [
    ("skip queue on add", None, None, {}, QueueingHint.SKIP),
    ("queue on add", None, None, {"foo": "bar"}, QueueingHint.QUEUE),
    ("skip unrelated changes", None, {}, {}, QueueingHint.SKIP),
    ("skip unrelated changes on labels", None, {}, {"k": "v"}, QueueingHint.SKIP),
    ("skip labels changes on node from suitable to unsuitable", None, {"foo": "bar"},
     {"k": "v"}, QueueingHint.SKIP),
    ("queue on labels change makes pod schedulable", None, {}, {"foo": "bar"},
     QueueingHint.QUEUE),
    ("skip queue on add scheduler-enforced node affinity",
     required(term(("foo", "In", ["bar"]))), None, {}, QueueingHint.SKIP),
    ("queue on add scheduler-enforced node affinity", required(term(("foo", "In", ["bar"]))),
     None, {"foo": "bar"}, QueueingHint.QUEUE),
])
def test_hint_node_change(name: str, added: dict[str, Any] | None,
                          old: dict[str, str] | None, new_labels: dict[str, str],
                          want: QueueingHint) -> None:
    old_node = make_node("n", labels=old) if old is not None else None
    got = plugin(added).is_schedulable_after_node_change(POD_FOO_BAR, old_node,
                                                         make_node("n", labels=new_labels))
    assert got == want


def test_events_registered() -> None:
    events = plugin().events_to_register()
    assert [(e.event.resource.value, e.event.action.name) for e in events] == [
        ("Node", "ADD|UPDATE_NODE_LABEL")]
