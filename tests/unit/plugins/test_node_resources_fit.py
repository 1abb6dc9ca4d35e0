"""NodeResourcesFit: upstream's fit_test.go, least/most_allocated_test.go and
requested_to_capacity_ratio_test.go rows, run through both the per-node and batch forms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import pytest
from builders import (
    filter_both,
    make_node,
    make_pod,
    new_state,
    pod_info,
    scores_both,
    snapshot_of,
)

from pyscheduler.framework.status import Code
from pyscheduler.framework.types import QueueingHint
from pyscheduler.plugins.noderesources.fit import (
    ERR_REASON_TOO_MANY_PODS,
    NodeResourcesFit,
    NodeResourcesFitArgs,
    fits,
    new,
)
from pyscheduler.plugins.validation import ArgsError

UNSCHED = int(Code.UNSCHEDULABLE)
UNRES = int(Code.UNSCHEDULABLE_AND_UNRESOLVABLE)
EXT_A = "example.com/aaa"
EXT_B = "example.com/bbb"
K8S_A = "kubernetes.io/something"
K8S_B = "subdomain.kubernetes.io/something"
HUGE_A = "hugepages-2Mi"


def plugin(**args: Any) -> NodeResourcesFit:
    return new(msgspec.convert(args, NodeResourcesFitArgs), None)  # type: ignore[arg-type]


def r(cpu: int = 0, mem: int = 0) -> dict[str, str]:
    """Requests in upstream's test units: milli-cpu and bytes."""
    return {"cpu": f"{cpu}m", "memory": str(mem)}


def fit_outcome(pod_kwargs: dict[str, Any], existing: dict[str, str],
                args: dict[str, Any] | None = None, **node_kwargs: Any) -> Any:
    """Upstream TestEnoughRequests' node: 10m cpu, 20 memory, 32 pods, 5 example.com/aaa,
    20 ephemeral-storage, 5 hugepages-2Mi, with one existing pod using ``existing``."""
    node = make_node("n", cpu=node_kwargs.get("cpu", "10m"), memory="20",
                     pods=node_kwargs.get("pods", 32), ephemeral_storage="20",
                     extra={EXT_A: "5", HUGE_A: "5"})
    snap = snapshot_of([node], [make_pod("existing", node="n", requests=existing)])
    pl = plugin(**(args or {}))
    state = new_state()
    pi = pod_info(make_pod("p", **pod_kwargs))
    _, st = pl.pre_filter(state, pi, snap)
    assert st is None
    return filter_both(pl, state, pi, snap)["n"]


ENOUGH_REQUESTS = [
    ("no resources requested always fits", {}, r(10, 20), None, None),
    ("too many resources fails", {"requests": r(1, 1)}, r(10, 20), None,
     (UNSCHED, ["Insufficient cpu", "Insufficient memory"])),
    ("too many resources fails due to init container cpu",
     {"requests": r(1, 1), "init_requests": [r(3, 1)]}, r(8, 19), None,
     (UNSCHED, ["Insufficient cpu"])),
    ("too many resources fails due to highest init container cpu",
     {"requests": r(1, 1), "init_requests": [r(3, 1), r(2, 1)]}, r(8, 19), None,
     (UNSCHED, ["Insufficient cpu"])),
    ("too many resources fails due to init container memory",
     {"requests": r(1, 1), "init_requests": [r(1, 3)]}, r(9, 19), None,
     (UNSCHED, ["Insufficient memory"])),
    ("init container fits because it's the max, not sum",
     {"requests": r(1, 1), "init_requests": [r(1, 1), r(1, 1)]}, r(9, 19), None, None),
    ("both resources fit", {"requests": r(1, 1)}, r(5, 5), None, None),
    ("one resource memory fits", {"requests": r(2, 1)}, r(9, 5), None,
     (UNSCHED, ["Insufficient cpu"])),
    ("one resource cpu fits", {"requests": r(1, 2)}, r(5, 19), None,
     (UNSCHED, ["Insufficient memory"])),
    ("equal edge case", {"requests": r(5, 1)}, r(5, 19), None, None),
    ("equal edge case for init container",
     {"requests": r(4, 1), "init_requests": [r(5, 1)]}, r(5, 19), None, None),
    ("extended resource fits", {"requests": {EXT_A: "1"}}, {}, None, None),
    ("extended resource fits for init container", {"init_requests": [{EXT_A: "1"}]}, {},
     None, None),
    # The request exceeds the node's whole allocatable: preemption cannot help.
    ("extended resource capacity enforced", {"requests": {**r(1, 1), EXT_A: "10"}},
     {**r(0, 0), EXT_A: "0"}, None, (UNRES, [f"Insufficient {EXT_A}"])),
    ("extended resource capacity enforced for init container",
     {"init_requests": [{**r(1, 1), EXT_A: "10"}]}, {**r(0, 0), EXT_A: "0"}, None,
     (UNRES, [f"Insufficient {EXT_A}"])),
    ("extended resource allocatable enforced", {"requests": {**r(1, 1), EXT_A: "1"}},
     {**r(0, 0), EXT_A: "5"}, None, (UNSCHED, [f"Insufficient {EXT_A}"])),
    ("extended resource allocatable enforced for multiple containers",
     {"requests": [{**r(1, 1), EXT_A: "3"}, {**r(1, 1), EXT_A: "3"}]},
     {**r(0, 0), EXT_A: "2"}, None, (UNRES, [f"Insufficient {EXT_A}"])),
    ("extended resource allocatable admits multiple init containers",
     {"init_requests": [{**r(1, 1), EXT_A: "3"}, {**r(1, 1), EXT_A: "3"}]},
     {**r(0, 0), EXT_A: "2"}, None, None),
    ("extended resource allocatable enforced for multiple init containers",
     {"init_requests": [{**r(1, 1), EXT_A: "6"}, {**r(1, 1), EXT_A: "3"}]},
     {**r(0, 0), EXT_A: "2"}, None, (UNRES, [f"Insufficient {EXT_A}"])),
    ("extended resource allocatable enforced for unknown resource",
     {"requests": {**r(1, 1), EXT_B: "1"}}, r(0, 0), None,
     (UNRES, [f"Insufficient {EXT_B}"])),
    ("kubernetes.io resource capacity enforced", {"requests": {**r(1, 1), K8S_A: "10"}},
     r(0, 0), None, (UNRES, [f"Insufficient {K8S_A}"])),
    ("kubernetes.io resource capacity enforced for init container",
     {"init_requests": [{**r(1, 1), K8S_B: "10"}]}, r(0, 0), None,
     (UNRES, [f"Insufficient {K8S_B}"])),
    ("hugepages resource capacity enforced", {"requests": {**r(1, 1), HUGE_A: "10"}},
     {**r(0, 0), HUGE_A: "0"}, None, (UNRES, [f"Insufficient {HUGE_A}"])),
    ("hugepages resource allocatable enforced for multiple containers",
     {"requests": [{**r(1, 1), HUGE_A: "3"}, {**r(1, 1), HUGE_A: "3"}]},
     {**r(0, 0), HUGE_A: "2"}, None, (UNRES, [f"Insufficient {HUGE_A}"])),
    ("skip checking ignored extended resource", {"requests": {**r(1, 1), EXT_B: "1"}},
     r(0, 0), {"ignoredResources": [EXT_B]}, None),
    ("resources + pod overhead fits", {"requests": r(1, 1), "overhead": r(3, 13)}, r(5, 5),
     None, None),
    ("requests + overhead does not fit for memory",
     {"requests": r(1, 1), "overhead": r(1, 15)}, r(5, 5), None,
     (UNSCHED, ["Insufficient memory"])),
    ("skip checking ignored extended resource via resource groups",
     {"requests": {**r(1, 1), EXT_B: "1", K8S_A: "1"}}, r(0, 0),
     {"ignoredResourceGroups": ["example.com"]}, (UNRES, [f"Insufficient {K8S_A}"])),
    ("skip checking extended resource request with quantity zero",
     {"requests": {**r(1, 1), EXT_A: "0"}}, {**r(0, 0), EXT_A: "6"}, None, None),
    ("skip checking resource request with quantity zero", {"requests": {EXT_A: "1"}},
     {**r(20, 30), EXT_A: "1"}, None, None),
    # Node groups and names do not ignore kubernetes.io resources (not extended).
    ("ignoredResources does not apply to kubernetes.io resources",
     {"requests": {**r(1, 1), K8S_A: "1"}}, r(0, 0), {"ignoredResources": [K8S_A]},
     (UNRES, [f"Insufficient {K8S_A}"])),
]


@pytest.mark.parametrize(("name", "pod", "existing", "args", "want"), ENOUGH_REQUESTS,
                         ids=[c[0] for c in ENOUGH_REQUESTS])
def test_enough_requests(name: str, pod: dict[str, Any], existing: dict[str, str],
                         args: dict[str, Any] | None, want: Any) -> None:
    assert fit_outcome(pod, existing, args) == want


@pytest.mark.parametrize("pod", [{}, {"requests": r(1, 1)}, {"requests": r(5, 1)},
                                 {"requests": r(5, 1), "init_requests": [r(5, 1)]}])
def test_not_enough_pods(pod: dict[str, Any]) -> None:
    # Upstream TestNotEnoughRequests: allocatable pods 1, one pod already there.
    assert fit_outcome(pod, r(5, 5), pods=1) == (UNSCHED, [ERR_REASON_TOO_MANY_PODS])


def test_too_many_pods_and_resources_are_all_reported() -> None:
    assert fit_outcome({"requests": r(11, 1)}, r(5, 5), pods=1) == (
        UNRES, [ERR_REASON_TOO_MANY_PODS, "Insufficient cpu"])


@pytest.mark.parametrize(("name", "pod", "existing", "want"), [
    ("empty storage requested, and pod fits", {"requests": r(1, 1)}, r(2, 10), None),
    ("storage ephemeral local storage request exceeds allocatable",
     {"requests": {"ephemeral-storage": "25"}}, r(2, 2),
     (UNRES, ["Insufficient ephemeral-storage"])),
    ("ephemeral local storage is sufficient", {"requests": {"ephemeral-storage": "5"}},
     {**r(2, 2), "ephemeral-storage": "10"}, None),
    ("pod fits", {"requests": {"ephemeral-storage": "10"}}, r(2, 2), None),
    ("storage request fits only before the other pod's",
     {"requests": {"ephemeral-storage": "11"}}, {**r(2, 2), "ephemeral-storage": "10"},
     (UNSCHED, ["Insufficient ephemeral-storage"])),
])
def test_storage_requests(name: str, pod: dict[str, Any], existing: dict[str, str],
                          want: Any) -> None:
    assert fit_outcome(pod, existing) == want


def test_sidecar_requests_count_for_the_whole_pod() -> None:
    # A restartable init container runs alongside the regular ones: 3m + 5m > 10m - 3m.
    assert fit_outcome({"requests": r(3, 1), "sidecar_requests": [r(5, 1)]}, r(3, 0)) == (
        UNSCHED, ["Insufficient cpu"])


def test_filter_without_prefilter_is_an_error() -> None:
    snap = snapshot_of([make_node("n")])
    pl = plugin()
    st = pl.filter(new_state(), pod_info(make_pod()), snap.node_infos[0])
    assert st is not None and st.code == Code.ERROR
    assert 'error reading "PreFilterNodeResourcesFit" from cycleState' in st.message()


def test_fits_reports_requested_used_capacity() -> None:
    snap = snapshot_of([make_node("n", cpu="10m", memory="20", pods=32)],
                       [make_pod("e", node="n", requests=r(10, 20))])
    short = fits(pod_info(make_pod(requests=r(1, 1))), snap.node_infos[0])
    assert [(s.resource_name, s.requested, s.used, s.capacity, s.unresolvable)
            for s in short] == [("cpu", 1, 10, 10, False), ("memory", 1, 20, 20, False)]


# ---- scoring ------------------------------------------------------------------------------------

EXT = "abc.com/xyz"
DEFAULT = [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]
WITH_EXT = [*DEFAULT, {"name": EXT, "weight": 1}]
BIG_POD = {"requests": [{"cpu": "1000", "memory": "2000"}, {"cpu": "2000", "memory": "3000"}]}


def cap(name: str, cpu: str | None, memory: str | None, ext: str | None = None) -> Any:
    """st.MakeNode().Capacity(...): only the given resources (no pods entry)."""
    return make_node(name, cpu=cpu, memory=memory, pods=None,
                     extra={EXT: ext} if ext is not None else None)


def existing(node: str, cpu: str, memory: str) -> Any:
    return make_pod(f"on-{node}", node=node, requests={"cpu": cpu, "memory": memory})


def strategy_scores(strategy: str, resources: list[dict[str, Any]], pod: dict[str, Any],
                    nodes: list[Any], pods: Sequence[Any] = (),
                    shape: list[dict[str, int]] | None = None) -> list[int]:
    s: dict[str, Any] = {"type": strategy, "resources": resources}
    if shape is not None:
        s["requestedToCapacityRatio"] = {"shape": shape}
    pl = plugin(scoringStrategy=s)
    snap = snapshot_of(nodes, pods)
    state = new_state()
    pi = pod_info(make_pod("incoming", **pod))
    assert pl.pre_score(state, pi, snap, snap.all_rows()) is None
    got = scores_both(pl, state, pi, snap)
    return [got[n.metadata.name] for n in nodes]


LEAST = [
    ("nothing scheduled, nothing requested", DEFAULT, {},
     [cap("n1", "4000", "10000"), cap("n2", "4000", "10000")], [], [100, 100]),
    ("nothing scheduled, resources requested, differently sized nodes", DEFAULT, BIG_POD,
     [cap("n1", "4000", "10000"), cap("n2", "6000", "10000")], [], [37, 50]),
    ("no resources requested, pods scheduled", DEFAULT, {},
     [cap("n1", "4000", "10000"), cap("n2", "4000", "10000")],
     [make_pod("a", node="n1"), make_pod("b", node="n2")], [100, 100]),
    ("no resources requested, pods scheduled with resources", DEFAULT, {},
     [cap("n1", "10000", "20000"), cap("n2", "10000", "20000")],
     [existing("n1", "3000", "0"), existing("n1", "3000", "0"), existing("n2", "3000", "0"),
      existing("n2", "3000", "5000")], [70, 57]),
    ("resources requested, pods scheduled with resources", DEFAULT, BIG_POD,
     [cap("n1", "10000", "20000"), cap("n2", "10000", "20000")],
     [existing("n1", "3000", "0"), existing("n2", "3000", "5000")], [57, 45]),
    ("resources requested, pods scheduled with resources, differently sized nodes", DEFAULT,
     BIG_POD, [cap("n1", "10000", "20000"), cap("n2", "10000", "50000")],
     [existing("n1", "3000", "0"), existing("n2", "3000", "5000")], [57, 60]),
    ("requested resources exceed node capacity", DEFAULT,
     {"requests": {"cpu": "3000", "memory": "0"}},
     [cap("n1", "4000", "10000"), cap("n2", "4000", "10000")],
     [existing("n1", "3000", "0"), existing("n2", "3000", "5000")], [50, 25]),
    ("zero node resources, pods scheduled with resources", DEFAULT, {},
     [cap("n1", None, None), cap("n2", None, None)],
     [existing("n1", "3000", "0"), existing("n2", "3000", "5000")], [0, 0]),
    ("different weights on cpu and memory",
     [{"name": "memory", "weight": 2}, {"name": "cpu", "weight": 1}], BIG_POD,
     [cap("n1", "4000", "10000"), cap("n2", "6000", "10000")], [], [41, 50]),
    ("bypass extended resource if the pod does not request", WITH_EXT, BIG_POD,
     [cap("n1", "6000", "10000"), cap("n2", "6000", "10000", ext="4")], [], [50, 50]),
    ("honor extended resource if the pod requests", WITH_EXT,
     {"requests": {"cpu": "3000", "memory": "5000", EXT: "2"}},
     [cap("n1", "6000", "10000", ext="4"),
      cap("n2", "6000", "10000", ext="10")], [], [50, 60]),
    ("if the node doesn't have a resource",
     [{"name": EXT, "weight": 2}, *DEFAULT], {"requests": {"cpu": "3000", "memory": "4000"}},
     [cap("n1", "6000", "10000"), cap("n2", "6000", "10000", ext="4")], [], [55, 55]),
]


@pytest.mark.parametrize(("name", "resources", "pod", "nodes", "pods", "want"), LEAST,
                         ids=[c[0] for c in LEAST])
def test_least_allocated(name: str, resources: list[dict[str, Any]], pod: dict[str, Any],
                         nodes: list[Any], pods: list[Any], want: list[int]) -> None:
    assert strategy_scores("LeastAllocated", resources, pod, nodes, pods) == want


MOST = [
    ("nothing scheduled, nothing requested", DEFAULT, {},
     [cap("n1", "4000", "10000"), cap("n2", "4000", "10000")], [], [0, 0]),
    ("nothing scheduled, resources requested, differently sized nodes", DEFAULT, BIG_POD,
     [cap("n1", "4000", "10000"), cap("n2", "6000", "10000")], [], [62, 50]),
    ("no resources requested, pods scheduled with resources", DEFAULT, {},
     [cap("n1", "10000", "20000"), cap("n2", "10000", "20000")],
     [existing("n1", "3000", "0"), existing("n1", "3000", "0"), existing("n2", "3000", "0"),
      existing("n2", "3000", "5000")], [30, 42]),
    ("resources requested, pods scheduled with resources", DEFAULT, BIG_POD,
     [cap("n1", "10000", "20000"), cap("n2", "10000", "20000")],
     [existing("n1", "3000", "0"), existing("n2", "3000", "5000")], [42, 55]),
    ("resources requested equal node capacity", DEFAULT,
     {"requests": [{"cpu": "2000", "memory": "4000"}, {"cpu": "3000", "memory": "5000"}]},
     [cap("n1", "5000", "10000"), cap("n2", "10000", "9000")], [], [95, 75]),
    ("different weights", [{"name": "memory", "weight": 2}, {"name": "cpu", "weight": 1}],
     BIG_POD, [cap("n1", "4000", "10000"), cap("n2", "6000", "10000")], [], [58, 50]),
    # Empty-request containers count 100m cpu and 200Mi memory when scoring.
    ("no resources requested, pods scheduled, nonzero request for resource", DEFAULT,
     {"requests": [{}]}, [cap("n1", "250m", "1000Mi"), cap("n2", "250m", "1000Mi")],
     [make_pod("a", node="n1", requests=[{}]), make_pod("b", node="n1", requests=[{}])],
     [80, 30]),
    ("bypass extended resource if the pod does not request", WITH_EXT, BIG_POD,
     [cap("n1", "6000", "10000"), cap("n2", "6000", "10000", ext="4")], [], [50, 50]),
    ("honor extended resource if the pod request", WITH_EXT,
     {"requests": {"cpu": "3000", "memory": "5000", EXT: "2"}},
     [cap("n1", "6000", "10000", ext="4"),
      cap("n2", "6000", "10000", ext="10")], [], [50, 40]),
    ("if the node doesn't have a resource",
     [{"name": EXT, "weight": 2}, *DEFAULT], {"requests": {"cpu": "3000", "memory": "4000"}},
     [cap("n1", "6000", "10000"), cap("n2", "6000", "10000", ext="4")], [], [45, 45]),
]


@pytest.mark.parametrize(("name", "resources", "pod", "nodes", "pods", "want"), MOST,
                         ids=[c[0] for c in MOST])
def test_most_allocated(name: str, resources: list[dict[str, Any]], pod: dict[str, Any],
                        nodes: list[Any], pods: list[Any], want: list[int]) -> None:
    assert strategy_scores("MostAllocated", resources, pod, nodes, pods) == want


LEAST_SHAPE = [{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]


@pytest.mark.parametrize(("name", "pod", "nodes", "pods", "want"), [
    ("nothing scheduled, nothing requested", {},
     [cap("n1", "4000", "10000"), cap("n2", "4000", "10000")],
     [make_pod("a", node="n1"), make_pod("b", node="n1")], [100, 100]),
    # (25 + 50) / 2 = 37.5 rounds half up to 38, as Go's math.Round.
    ("nothing scheduled, resources requested, differently sized nodes", BIG_POD,
     [cap("n1", "4000", "10000"), cap("n2", "6000", "10000")],
     [make_pod("a", node="n1"), make_pod("b", node="n1")], [38, 50]),
    ("no resources requested, pods scheduled with resources", {},
     [cap("n1", "4000", "10000"), cap("n2", "6000", "10000")],
     [existing("n1", "3000", "5000"), existing("n2", "3000", "5000")], [38, 50]),
])
def test_requested_to_capacity_ratio(name: str, pod: dict[str, Any], nodes: list[Any],
                                     pods: list[Any], want: list[int]) -> None:
    assert strategy_scores("RequestedToCapacityRatio", DEFAULT, pod, nodes, pods,
                           shape=LEAST_SHAPE) == want


BIN_PACK = [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 1}]


@pytest.mark.parametrize(("name", "pod", "pods", "want"), [
    ("nothing scheduled, nothing requested", {}, [], [0, 0]),
    ("resources requested, pods scheduled with less resources",
     {"requests": {"intel.com/foo": "2"}}, [make_pod("a")], [2, 5]),
    ("resources requested, pods scheduled with resources, on node with existing pod running",
     {"requests": {"intel.com/foo": "2"}},
     [make_pod("a", node="n2", requests={"intel.com/foo": "2"})], [2, 10]),
    ("resources requested, pods scheduled with more resources",
     {"requests": {"intel.com/foo": "4"}}, [make_pod("a")], [5, 10]),
])
def test_bin_packing_single_extended(name: str, pod: dict[str, Any], pods: list[Any],
                                     want: list[int]) -> None:
    nodes = [make_node("n1", cpu="4", memory="10000Mi", extra={"intel.com/foo": "8"}),
             make_node("n2", cpu="4", memory="10000Mi", extra={"intel.com/foo": "4"})]
    assert strategy_scores("RequestedToCapacityRatio", [{"name": "intel.com/foo", "weight": 1}],
                           pod, nodes, pods, shape=BIN_PACK) == want


def test_bin_packing_multiple_extended() -> None:
    # Upstream TestResourceBinPackingMultipleExtended: foo weight 3, bar weight 5.
    # node1 (foo 8, bar 4): foo 2/8 -> 2, bar 2/4 -> 5: (2*3 + 5*5) / 8 = 3.875 -> 4
    # node2 (foo 4, bar 8): foo 2/4 -> 5, bar 2/8 -> 2: (5*3 + 2*5) / 8 = 3.125 -> 3
    nodes = [make_node("n1", extra={"intel.com/foo": "8", "intel.com/bar": "4"}),
             make_node("n2", extra={"intel.com/foo": "4", "intel.com/bar": "8"})]
    resources = [{"name": "intel.com/foo", "weight": 3}, {"name": "intel.com/bar", "weight": 5}]
    pod = {"requests": {"intel.com/foo": "2", "intel.com/bar": "2"}}
    assert strategy_scores("RequestedToCapacityRatio", resources, pod, nodes,
                           shape=BIN_PACK) == [4, 3]


# ---- args ---------------------------------------------------------------------------------------


def test_args_defaults_are_upstreams() -> None:
    args = msgspec.convert({}, NodeResourcesFitArgs)
    assert args.scoring_strategy.type == "LeastAllocated"
    assert [(s.name, s.weight) for s in args.scoring_strategy.resources] == [
        ("cpu", 1), ("memory", 1)]
    # Resources left out of a given strategy, and weight 0, are defaulted too.
    args = msgspec.convert({"scoringStrategy": {"type": "MostAllocated",
                                                "resources": [{"name": "gpu.com/x"}]}},
                           NodeResourcesFitArgs)
    assert [(s.name, s.weight) for s in args.scoring_strategy.resources] == [("gpu.com/x", 1)]
    args = msgspec.convert({"scoringStrategy": {"type": "MostAllocated"}}, NodeResourcesFitArgs)
    assert [s.name for s in args.scoring_strategy.resources] == ["cpu", "memory"]


@pytest.mark.parametrize(("args", "message"), [
    ({"scoringStrategy": {"type": "LeastAllocated",
                          "resources": [{"name": "memory", "weight": -1},
                                        {"name": "cpu", "weight": 1}]}},
     "scoringStrategy.resources[0].weight: Invalid value: -1: resource weight of memory not "
     "in valid range (0, 100]"),
    ({"scoringStrategy": {"type": "MostAllocated",
                          "resources": [{"name": "memory", "weight": 1},
                                        {"name": "cpu", "weight": 101}]}},
     "scoringStrategy.resources[1].weight: Invalid value: 101: resource weight of cpu not in "
     "valid range (0, 100]"),
    ({"scoringStrategy": {"type": "Unknown"}},
     'scoringStrategy.type: Unsupported value: "Unknown": supported values: '
     '"LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"'),
    ({"scoringStrategy": {"resources": [{"name": "cpu"}]}},
     'scoringStrategy.type: Unsupported value: "": supported values: '
     '"LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"'),
    ({"ignoredResourceGroups": ["example.com/aa"]},
     "ignoredResourceGroups[0]: Invalid value: \"example.com/aa\": resource group name can't "
     "contain '/'"),
    ({"ignoredResources": ["bad name"]},
     'ignoredResources[0]: Invalid value: "bad name": name part must consist of alphanumeric '
     "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
     "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
     "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"),
    ({"scoringStrategy": {"type": "RequestedToCapacityRatio",
                          "requestedToCapacityRatio": {"shape": []}}},
     "scoringStrategy.shape: Required value: at least one point must be specified"),
    ({"scoringStrategy": {"type": "RequestedToCapacityRatio",
                          "requestedToCapacityRatio": {"shape": [
                              {"utilization": 50, "score": 11},
                              {"utilization": 10, "score": 2}]}}},
     "[scoringStrategy.shape[1].utilization: Invalid value: 10: values must be sorted in "
     "increasing order, scoringStrategy.shape[0].score: Invalid value: 11: not in valid range "
     "[0, 10]]"),
    ({"scoringStrategy": {"type": "RequestedToCapacityRatio"}},
     "scoringStrategy.requestedToCapacityRatio: Required value"),
])
def test_args_validation(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ArgsError) as err:
        plugin(**args)
    assert str(err.value) == message


def test_ignored_resource_group_with_slash_also_fails_label_name() -> None:
    # "a/b/c" has two slashes: both the group rule and the label-name rule complain.
    with pytest.raises(ArgsError) as err:
        plugin(ignoredResourceGroups=["a/b/c"])
    assert [e.field for e in err.value.errors] == ["ignoredResourceGroups[0]"] * 2


# ---- queueing hints ----------------------------------------------------------------------------


def test_hint_pod_deleted() -> None:
    pl = plugin()
    pod = make_pod("target", requests=r(1000, 1))
    assigned = make_pod("gone", node="n1", requests=r(1000, 1))
    nominated = make_pod("gone2", nominated="n1")
    pending = make_pod("gone3")
    assert pl.is_schedulable_after_pod_event(pod, assigned, None) == QueueingHint.QUEUE
    assert pl.is_schedulable_after_pod_event(pod, nominated, None) == QueueingHint.QUEUE
    assert pl.is_schedulable_after_pod_event(pod, pending, None) == QueueingHint.SKIP


def test_hint_pod_scaled_down() -> None:
    pl = plugin()
    pod = make_pod("target", uid="t", requests=r(1000, 0))
    before = make_pod("other", uid="o", node="n1", requests=r(2000, 10))
    cpu_down = make_pod("other", uid="o", node="n1", requests=r(1000, 10))
    mem_down = make_pod("other", uid="o", node="n1", requests=r(2000, 5))
    unassigned = make_pod("other", uid="o", requests=r(1000, 10))
    assert pl.is_schedulable_after_pod_event(pod, before, cpu_down) == QueueingHint.QUEUE
    # The target pod does not request memory: freeing memory cannot help it.
    assert pl.is_schedulable_after_pod_event(pod, before, mem_down) == QueueingHint.SKIP
    assert pl.is_schedulable_after_pod_event(pod, before, unassigned) == QueueingHint.SKIP
    itself = make_pod("target", uid="t", requests=r(500, 0))
    assert pl.is_schedulable_after_pod_event(pod, pod, itself) == QueueingHint.QUEUE


@pytest.mark.parametrize(("name", "old", "new", "want"), [
    ("queue on node add that fits", None, make_node("n", cpu="4"), QueueingHint.QUEUE),
    ("skip on node add that does not fit", None, make_node("n", cpu="1"), QueueingHint.SKIP),
    ("skip on node update that still does not fit", make_node("n", cpu="1"),
     make_node("n", cpu="1500m"), QueueingHint.SKIP),
    ("queue on node update that grows a requested resource", make_node("n", cpu="1"),
     make_node("n", cpu="4"), QueueingHint.QUEUE),
    ("skip on node update that grows nothing the pod requests", make_node("n", memory="1Gi"),
     make_node("n", memory="2Gi"), QueueingHint.SKIP),
    ("queue on node update that grows allowed pods", make_node("n", pods=10),
     make_node("n", pods=11), QueueingHint.QUEUE),
])
def test_hint_node_change(name: str, old: Any, new: Any, want: QueueingHint) -> None:
    pod = make_pod("target", requests={"cpu": "2"})
    assert plugin().is_schedulable_after_node_change(pod, old, new) == want


def test_events_registered() -> None:
    events = plugin().events_to_register()
    assert [(e.event.resource.value, e.event.action.name) for e in events] == [
        ("Pod", "DELETE|UPDATE_POD_SCALE_DOWN"), ("Node", "ADD|UPDATE_NODE_ALLOCATABLE")]
    assert all(e.hint is not None for e in events)
