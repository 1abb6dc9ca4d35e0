"""The differential harness's own logic, offline (no control plane): log parsing, scenario
loading and rendering, and what counts as the same decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyscheduler.plugins.registry import default_registry as registry

from .fuzz import generate
from .kube_log import KubeSchedulerLog, parse_line
from .runner import PLACEMENT, PodOutcome, check_expectations, compare, preemption_ties
from .scenario import (
    Names,
    ScenarioError,
    load_scenarios,
    parse_scenario,
    pod_priority,
    render_node,
    render_object,
    render_pod,
)
from .schedulers import kube_scheduler_config, logged_errors, missing_defaults, pyscheduler_config

# Lines as kube-scheduler v1.37.2 writes them (-v=1 --vmodule=schedule_one=10,eventhandlers=3).
LOG = """\
I1123 23:31:25.370001   10746 eventhandlers.go:64] "Add event for node" node="d001k-n1"
I1123 23:31:25.370002   10746 eventhandlers.go:64] "Add event for node" node="d001k-n2"
I1123 23:31:25.370003   10746 eventhandlers.go:64] "Add event for node" node="old-n9"
I1123 23:31:25.370004   10746 eventhandlers.go:123] "Delete event for node" node="old-n9"
I1123 23:31:25.371000   10746 eventhandlers.go:406] "Add event for scheduled pod" pod="ns-a/e1"
I1123 23:31:25.377000   10746 schedule_one.go:117] "Attempting to schedule pod" pod="ns-a/p1"
I1123 23:31:25.378241   10746 schedule_one.go:984] "Plugin scored node for pod" pod="ns-a/p1" \
plugin="NodeResourcesFit" node="d001k-n1" score=97
I1123 23:31:25.378437   10746 schedule_one.go:1052] "Calculated node's final score for pod" \
pod="ns-a/p1" node="d001k-n1" score=471
I1123 23:31:25.378443   10746 schedule_one.go:1052] "Calculated node's final score for pod" \
pod="ns-a/p1" node="d001k-n2" score=471
I1123 23:31:25.386796   10746 schedule_one.go:483] "Successfully bound pod to node" pod="ns-a/p1" \
node="d001k-n2" evaluatedNodes=2 feasibleNodes=2
I1123 23:31:25.392142   10746 schedule_one.go:1194] "Unable to schedule pod; no fit; waiting" \
pod="ns-a/p2" err="0/2 nodes are available: persistentvolumeclaim \\"x\\" not found."
""".replace("\\\n", "")


def test_log_parsing_tracks_view_and_scores(tmp_path: Path) -> None:
    path = tmp_path / "kube-scheduler.log"
    path.write_text(LOG[:200])  # a partial line first: it must wait for the rest
    log = KubeSchedulerLog(path)
    log.poll()
    path.write_text(LOG)
    log.poll()
    assert log.nodes == {"d001k-n1", "d001k-n2"}
    assert log.scheduled_pods == {"ns-a/e1"}
    attempt = log.bound_attempt("ns-a/p1")
    assert attempt is not None
    assert attempt.top_nodes() == {"d001k-n1", "d001k-n2"}
    assert (attempt.bound_node, attempt.feasible_nodes) == ("d001k-n2", 2)
    assert attempt.plugin_scores == {"d001k-n1": {"NodeResourcesFit": 97}}
    assert log.attempts["ns-a/p2"][-1].error == (
        '0/2 nodes are available: persistentvolumeclaim "x" not found.')


def test_parse_line_ignores_other_lines() -> None:
    assert parse_line("\tapiVersion: kubescheduler.config.k8s.io/v1") is None
    assert parse_line('I1123 23:31:17.282021   10746 flags.go:64] FLAG: --v="1"') is None


def test_every_scenario_file_loads() -> None:
    scenarios = load_scenarios()
    assert len(scenarios) >= 60
    for sc in scenarios:
        assert sc.needs <= set(registry()) | {
            "InterPodAffinity", "PodTopologySpread", "VolumeBinding", "VolumeRestrictions",
            "VolumeZone", "NodeVolumeLimits", "DefaultPreemption", "ImageLocality"}


def test_needs_are_inferred_from_content() -> None:
    sc = parse_scenario({
        "name": "x",
        "nodes": [{"name": "n1"}],
        "incoming": [{"name": "p1", "spec": {"affinity": {"podAntiAffinity": {"x": 1}}}}],
    }, "f", "f[0]")
    assert "InterPodAffinity" in sc.needs
    assert sc.missing({"InterPodAffinity"}) == []


@pytest.mark.parametrize("doc, error", [
    ({"name": "Bad Name", "nodes": [{"name": "n1"}], "incoming": [{"name": "p"}]}, "slug"),
    ({"name": "x", "nodes": [], "incoming": [{"name": "p"}]}, "needs nodes"),
    ({"name": "x", "nodes": [{"name": "n1"}], "incoming": [{"name": "p", "node": "n1"}]},
     "spec.nodeName"),
    ({"name": "x", "nodes": [{"name": "n1"}], "incoming": [{"name": "p"}],
      "expect": {"p": "n7"}}, "not a node"),
    ({"name": "x", "nodes": [{"name": "n1", "cpus": 3}], "incoming": [{"name": "p"}]},
     "unknown fields"),
])
def test_bad_scenarios_are_rejected(doc: dict[str, object], error: str) -> None:
    with pytest.raises(ScenarioError, match=error):
        parse_scenario(doc, "f", "f[0]")


def _names() -> Names:
    return Names(nodes={"n1": "d7k-n1", "n2": "d7k-n2"}, namespaces={"main": "ns-k", "o": "ns-o"},
                 cluster={("PersistentVolume", "pv"): "d7k-pv",
                          ("StorageClass", "local"): "d7k-local"})


def test_rendering_rewrites_every_reference() -> None:
    names = _names()
    sc = parse_scenario({
        "name": "x",
        "namespaces": {"o": {}},
        "nodes": [{"name": "n1", "labels": {"a": "b"}, "cpu": "2"}, {"name": "n2"}],
        "incoming": [{
            "name": "p1", "requests": {"cpu": "1"},
            "spec": {"affinity": {
                "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchFields": [
                        {"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}},
                "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": "k", "namespaces": ["o"]}]}}},
        }],
    }, "f", "f[0]")
    node = render_node(sc.nodes[0], names)
    assert node["metadata"]["name"] == "d7k-n1"
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "d7k-n1"
    assert node["status"]["allocatable"]["cpu"] == "2"
    pod = render_pod(sc.incoming[0], names, scheduler_name="kube-default")
    assert pod["metadata"]["namespace"] == "ns-k"
    assert pod["spec"]["schedulerName"] == "kube-default"
    assert pod["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "1"}}
    aff = pod["spec"]["affinity"]
    field = aff["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0]["matchFields"][0]
    assert field["values"] == ["d7k-n2"]
    assert aff["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0][
        "namespaces"] == ["ns-o"]
    bound = render_pod(sc.incoming[0], names, scheduler_name="py-default", bind_to="d7k-n1")
    assert bound["spec"]["nodeName"] == "d7k-n1"
    assert names.unmap("0/2 nodes: d7k-n1 and d7k-local") == "0/2 nodes: n1 and local"


def test_rendering_objects() -> None:
    names = _names()
    pv = render_object({"kind": "PersistentVolume", "metadata": {"name": "pv"},
                        "spec": {"storageClassName": "local", "claimRef": {"name": "c"}}}, names)
    assert pv["metadata"]["name"] == "d7k-pv"
    assert pv["spec"]["storageClassName"] == "d7k-local"
    assert pv["spec"]["claimRef"]["namespace"] == "ns-k"
    pvc = render_object({"kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
                         "spec": {"volumeName": "pv", "storageClassName": "local"}}, names)
    assert pvc["metadata"]["namespace"] == "ns-k"
    assert pvc["spec"]["volumeName"] == "d7k-pv"
    csinode = render_object({"kind": "CSINode", "metadata": {"name": "n2"}}, names)
    assert csinode["metadata"]["name"] == "d7k-n2"


def _bound(node: str, *, feasible: int = 2, top: tuple[str, ...] = ()) -> PodOutcome:
    return PodOutcome(pod="p1", kind="bound", node=node, feasible=feasible, top=top)


def test_compare_same_decisions() -> None:
    assert compare(_bound("n1", top=("n1", "n2")), _bound("n2"), compare_postfilter=False) == []
    assert compare(_bound("n1", feasible=1), _bound("n1"), compare_postfilter=False) == []


def test_compare_reports_mismatches() -> None:
    assert compare(_bound("n1", top=("n1",)), _bound("n2"), compare_postfilter=False)
    assert compare(_bound("n1", feasible=1), _bound("n2"), compare_postfilter=False)
    unsched = PodOutcome(pod="p1", kind="unschedulable", message="m", event_message="m")
    assert compare(_bound("n1", feasible=1), unsched, compare_postfilter=False)


def test_compare_messages_with_and_without_postfilter() -> None:
    kube = PodOutcome(pod="p1", kind="unschedulable",
                      message="0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 "
                              "nodes are available: 2 Preemption is not helpful for scheduling.")
    kube.event_message = kube.message
    py = PodOutcome(pod="p1", kind="unschedulable",
                    message="0/2 nodes are available: 2 Insufficient cpu.")
    py.event_message = py.message
    assert compare(kube, py, compare_postfilter=False) == []
    assert compare(kube, py, compare_postfilter=True)
    py.event_message = None
    assert compare(kube, py, compare_postfilter=False)


@pytest.mark.parametrize("kube_msg, py_msg, same", [
    # A PostFilter error message, verbatim from kube-scheduler v1.37.2.
    ('0/2 nodes are available: persistentvolumeclaim "x" not found. not found',
     '0/2 nodes are available: persistentvolumeclaim "x" not found.', True),
    ("0/2 nodes are available: 1 Insufficient cpu, 1 Too many pods. preemption: 0/2 nodes "
     "are available: 2 No preemption victims found for incoming pod.",
     "0/2 nodes are available: 1 Insufficient cpu.", False),
    ("0/2 nodes are available: 2 Insufficient cpu.", "0/2 nodes are available: 2 Insufficient",
     False),
])
def test_postfilter_part_is_skipped_only_as_a_suffix(kube_msg: str, py_msg: str,
                                                      same: bool) -> None:
    kube = PodOutcome(pod="p1", kind="unschedulable", message=kube_msg, event_message=kube_msg)
    py = PodOutcome(pod="p1", kind="unschedulable", message=py_msg, event_message=py_msg)
    assert (compare(kube, py, compare_postfilter=False) == []) is same


def test_expectations() -> None:
    sc = parse_scenario({"name": "x", "nodes": [{"name": "n1"}, {"name": "n2"}],
                         "incoming": [{"name": "p1"}, {"name": "p2"}],
                         "expect": {"p1": "n1|n2", "p2": "unschedulable: Insufficient"}},
                        "f", "f[0]")
    ok = [_bound("n2"), PodOutcome(pod="p2", kind="unschedulable", message="1 Insufficient cpu")]
    assert check_expectations(sc, ok) == []
    bad = [_bound("n2"), PodOutcome(pod="p2", kind="unschedulable", message="taint")]
    assert check_expectations(sc, bad)


def test_configs_share_profiles() -> None:
    kube = kube_scheduler_config(Path("/k"))
    py = pyscheduler_config(set(registry()))
    assert "schedulerName: kube-default" in kube and "schedulerName: py-default" in py
    for name in missing_defaults(set(registry())):
        assert f"name: {name}" in py


def test_compare_observed_generation() -> None:
    kube = PodOutcome(pod="p1", kind="unschedulable", message="m", event_message="m",
                      observed_generation=1, generation=1)
    py = PodOutcome(pod="p1", kind="unschedulable", message="m", event_message="m",
                    generation=1)
    assert compare(kube, py, compare_postfilter=True)
    py.observed_generation = 1
    assert compare(kube, py, compare_postfilter=True) == []


def test_preemption_ties_follow_upstream_criteria() -> None:
    # importance: pod -> (priority, start offset in seconds)
    imp = {"a": (100, 3), "b": (100, 3), "c": (100, 1), "d": (500, 3), "x": (100, 3),
           "y": (100, 4)}
    cands = {"n1": ("a",), "n2": ("b",), "n3": ("c",), "n4": ("d",), "n5": ("x", "y")}
    # n1 and n2: same priority, same (one-second) start time: Go map order decides.
    assert preemption_ties(cands, "n1", imp) == {"n1", "n2"}
    # n3's victim started earlier: upstream prefers the latest start, so no tie with n1.
    assert preemption_ties(cands, "n3", imp) == {"n3"}
    assert preemption_ties(cands, "n4", imp) == {"n4"}
    assert preemption_ties(cands, "n5", imp) == {"n5"}


def _preempted(node: str, victims: tuple[str, ...], cands: dict[str, tuple[str, ...]] | None
               = None, msg: str | None = None) -> PodOutcome:
    return PodOutcome(pod="p", kind="bound", node=node, victims=victims, victim_node=node,
                      candidates=cands or {}, preempt_message=msg, feasible=1)


def test_compare_accepts_only_explicit_preemption_ties() -> None:
    imp = {"a": (100, 3), "b": (100, 3), "c": (100, 1)}
    cands: dict[str, tuple[str, ...]] = {"n1": ("a",), "n2": ("b",), "n3": ("c",)}
    msg = "0/3 nodes are available: 3 Insufficient cpu. " + PLACEMENT + "{}, preempting 1 victims"
    kube = _preempted("n1", ("a",), cands, msg.format("n1"))
    tie = _preempted("n2", ("b",), msg=msg.format("n2"))
    # Each binds on its own nominated node (kube-scheduler logs feasibleNodes=1 there): the
    # fuzz-1-100 / fuzz-4-56 class, which agreed on replay when Go map order picked alike.
    assert compare(kube, tie, compare_postfilter=True, importance=imp, ties_allowed=True) == []
    # ... but a tie does not excuse binding somewhere else
    stray = _preempted("n2", ("b",), msg=msg.format("n2"))
    stray.node = "n3"
    assert compare(kube, stray, compare_postfilter=True, importance=imp, ties_allowed=True)
    # a pod still waiting is nominated to its own tied node
    kube_wait = _preempted("n1", ("a",), cands, msg.format("n1"))
    kube_wait.kind, kube_wait.node, kube_wait.nominated = "nominated", None, "n1"
    py_wait = _preempted("n2", ("b",), msg=msg.format("n2"))
    py_wait.kind, py_wait.node, py_wait.nominated = "nominated", None, "n2"
    assert compare(kube_wait, py_wait, compare_postfilter=True, importance=imp,
                   ties_allowed=True) == []
    # the same with budgets in the scenario: no relaxation
    assert compare(kube, tie, compare_postfilter=True, importance=imp, ties_allowed=False)
    # n3 is not a tie (its victim started earlier)
    other = _preempted("n1", ("c",), msg=msg.format("n3"))
    other.victim_node = "n3"
    assert compare(kube, other, compare_postfilter=True, importance=imp, ties_allowed=True)
    # a tie node, but not the victims kube-scheduler found there
    wrong = _preempted("n1", ("a", "b"), msg=msg.format("n2"))
    wrong.victim_node = "n2"
    assert compare(kube, wrong, compare_postfilter=True, importance=imp, ties_allowed=True)
    # the message's preemption part is compared
    quiet = _preempted("n1", ("a",), msg="0/3 nodes are available: 3 Insufficient cpu.")
    problems = compare(kube, quiet, compare_postfilter=True, importance=imp, ties_allowed=True)
    assert problems and "preemption message differs" in problems[0]


def test_fuzz_is_deterministic_and_valid() -> None:
    for index in range(30):
        doc = generate(7, index)
        assert doc == generate(7, index)
        sc = parse_scenario(doc, "fuzz", doc["name"])
        assert 2 <= len(sc.nodes) <= 12 and 1 <= len(sc.incoming) <= 6
        assert len(sc.existing) <= 20
        # equal-priority pods on one node never share a start time (see fuzz.py)
        seen: set[tuple[str, int, int]] = set()
        for p in sc.existing:
            key = (str(p.raw["node"]), pod_priority(p), int(p.raw["startTime"]))
            assert key not in seen
            seen.add(key)
    assert generate(7, 0) != generate(8, 0)


def test_log_parsing_reads_preemption_candidates(tmp_path: Path) -> None:
    # klog writes a []klog.ObjectRef value as JSON.
    lines = (
        'I1123 23:31:25.377000   10746 schedule_one.go:117] "Attempting to schedule pod" '
        'pod="ns-a/p1"\n'
        'I1123 23:31:25.378000   10746 default_preemption.go:420] "Pods are potential '
        'preemption victims on node" logger="PostFilter.DefaultPreemption" '
        'pods=[{"name":"e1","namespace":"ns-a"}] node="d001k-n1"\n'
        'I1123 23:31:25.378001   10746 default_preemption.go:420] "Pods are potential '
        'preemption victims on node" pods=[{"name":"e2","namespace":"ns-a"}] node="d001k-n2"\n'
        'I1123 23:31:25.378002   10746 default_preemption.go:420] "Pods are potential '
        'preemption victims on node" pods=[{"name":"e3","namespace":"ns-a"}] node="d001k-n2"\n'
        'I1123 23:31:25.379000   10746 preemption.go:170] "the target node for the preemption '
        'is determined" node="d001k-n2" pod="ns-a/p1"\n')
    path = tmp_path / "kube-scheduler.log"
    path.write_text(lines)
    log = KubeSchedulerLog(path)
    log.poll()
    a = log.preemption_attempt("ns-a/p1")
    assert a is not None and a.preemption_node == "d001k-n2"
    assert a.candidates == {"d001k-n1": ["ns-a/e1"], "d001k-n2": ["ns-a/e2", "ns-a/e3"]}


def test_pending_pod_reports_pyscheduler_errors(tmp_path: Path) -> None:
    log = tmp_path / "pyscheduler.log"
    log.write_text(
        '{"pod": "ns/p4", "event": "unexpected error scheduling pod", "level": "error", '
        '"exception": "Traceback (most recent call last):\\n  ...\\nKeyError: (1, 2)"}\n'
        '{"pod": "ns/p4", "event": "pod bound", "level": "info"}\n'
        '{"pod": "ns/p40", "event": "unexpected error scheduling pod", "level": "error"}\n'
        'not json ns/p4\n')
    errors = logged_errors(log, "ns/p4")
    assert errors == ["unexpected error scheduling pod: KeyError: (1, 2)"]
    out = PodOutcome("p4", "pending", errors=tuple(errors))
    assert out.brief() == "pending (it logged unexpected error scheduling pod: KeyError: (1, 2))"
