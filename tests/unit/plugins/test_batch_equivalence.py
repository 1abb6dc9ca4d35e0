"""Property: every plugin's batch filter and batch score give exactly its per-node answers.

Random clusters (nodes with random allocatable, labels, taints, cordons; assigned pods with
requests and host ports) and a random pending pod (requests, init/sidecar containers, host
ports, tolerations, nodeSelector, required/preferred node affinity, nodeName) are generated;
each plugin configuration runs its PreFilter/PreScore, then ``filter_both``/``scores_both``
compare the batch verdict (pass/fail, reasons in order, resolvability) and the raw scores with
the per-node form row by row, over a random subset of rows in random order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from builders import (
    filter_both,
    make_node,
    make_pod,
    new_state,
    pod_info,
    scores_both,
    snapshot_of,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyscheduler.framework.status import Code
from pyscheduler.plugins import (
    node_affinity,
    node_name,
    node_ports,
    node_unschedulable,
    taint_toleration,
)
from pyscheduler.plugins.noderesources import balanced_allocation
from pyscheduler.plugins.noderesources import fit as node_resources_fit

GPU = "nvidia.com/gpu"
FOO = "example.com/foo"
LABEL_KEYS = ["zone", "disk", "gen", "kubernetes.io/hostname"]
LABEL_VALUES = ["a", "b", "c", "1", "10", "x_1", ""]
TAINT_KEYS = ["k1", "k2", "node.kubernetes.io/unschedulable"]
EFFECTS = ["NoSchedule", "NoExecute", "PreferNoSchedule"]
OPS = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Bogus"]

quantities = {
    "cpu": st.sampled_from(["0", "100m", "500m", "1", "2", "4", "8"]),
    "memory": st.sampled_from(["0", "128Mi", "512Mi", "1Gi", "4Gi"]),
    "ephemeral-storage": st.sampled_from(["0", "1Gi", "10Gi"]),
    GPU: st.sampled_from(["0", "1", "2", "4"]),
    FOO: st.sampled_from(["0", "1", "3"]),
}


def requests_dict() -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries({}, optional=quantities)


ports = st.lists(st.tuples(st.sampled_from([80, 443, 8080]), st.sampled_from(["TCP", "UDP"]),
                           st.sampled_from(["", "0.0.0.0", "10.0.0.1", "10.0.0.2"])),
                 max_size=2)

labels = st.dictionaries(st.sampled_from(LABEL_KEYS), st.sampled_from(LABEL_VALUES), max_size=4)

taints = st.lists(st.fixed_dictionaries({
    "key": st.sampled_from(TAINT_KEYS), "value": st.sampled_from(["v1", "v2", ""]),
    "effect": st.sampled_from(EFFECTS)}), max_size=2)

tolerations = st.lists(st.fixed_dictionaries({
    "key": st.sampled_from(["", *TAINT_KEYS]), "value": st.sampled_from(["v1", "v2", ""]),
    "effect": st.sampled_from(["", *EFFECTS]), "operator": st.sampled_from(["Equal", "Exists"])}),
    max_size=3)


@st.composite
def node(draw: st.DrawFn, i: int) -> Any:
    extra = {}
    if draw(st.booleans()):
        extra[GPU] = draw(quantities[GPU])
    if draw(st.booleans()):
        extra[FOO] = draw(quantities[FOO])
    return make_node(
        f"n{i}",
        cpu=draw(st.one_of(st.none(), quantities["cpu"])),
        memory=draw(st.one_of(st.none(), quantities["memory"])),
        pods=draw(st.sampled_from([None, 0, 1, 2, 3, 110])),
        ephemeral_storage=draw(st.one_of(st.none(), quantities["ephemeral-storage"])),
        extra=extra,
        labels=draw(labels),
        taints=draw(taints),
        unschedulable=draw(st.booleans()),
    )


@st.composite
def requirement(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    op = draw(st.sampled_from(OPS))
    if op in ("Exists", "DoesNotExist"):
        values: list[str] = draw(st.sampled_from([[], ["a"]]))
    elif op in ("Gt", "Lt"):
        values = draw(st.sampled_from([["1"], ["5"], ["x"], ["1", "2"]]))
    else:
        values = draw(st.lists(st.sampled_from([*LABEL_VALUES, "bad value!"]), max_size=2))
    return draw(st.sampled_from([*LABEL_KEYS, "bad key!"])), op, values


@st.composite
def selector_term(draw: st.DrawFn, n_nodes: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    exprs = draw(st.lists(requirement(), max_size=2))
    if exprs:
        out["matchExpressions"] = [{"key": k, "operator": op, "values": vs}
                                   for k, op, vs in exprs]
    if draw(st.integers(0, 3)) == 0:
        names = [f"n{i}" for i in range(n_nodes)] + ["missing"]
        out["matchFields"] = [{
            "key": draw(st.sampled_from(["metadata.name", "metadata.name", "spec.other"])),
            "operator": draw(st.sampled_from(["In", "NotIn", "Exists"])),
            "values": draw(st.lists(st.sampled_from(names), min_size=1, max_size=2)),
        }]
    return out


@st.composite
def affinity(draw: st.DrawFn, n_nodes: int) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": draw(st.lists(selector_term(n_nodes), max_size=2))}
    if draw(st.booleans()):
        out["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {"weight": draw(st.integers(0, 100)), "preference": t}
            for t in draw(st.lists(selector_term(n_nodes), max_size=3))]
    return out


@st.composite
def cluster(draw: st.DrawFn) -> tuple[list[Any], list[Any], Any, list[int]]:
    n = draw(st.integers(1, 8))
    nodes = [draw(node(i)) for i in range(n)]
    assigned = [
        make_pod(f"a{j}", node=f"n{draw(st.integers(0, n - 1))}",
                 requests=draw(st.lists(requests_dict(), max_size=2)), ports=draw(ports))
        for j in range(draw(st.integers(0, 8)))
    ]
    pending = make_pod(
        "pending",
        requests=draw(st.lists(requests_dict(), max_size=2)),
        init_requests=draw(st.lists(requests_dict(), max_size=1)),
        sidecar_requests=draw(st.lists(requests_dict(), max_size=1)),
        ports=draw(ports),
        tolerations=draw(tolerations),
        node_selector=draw(st.dictionaries(st.sampled_from(LABEL_KEYS),
                                           st.sampled_from(LABEL_VALUES), max_size=1)),
        node_affinity=draw(affinity(n)),
        node=draw(st.sampled_from(["", "", "n0", "missing"])),
    )
    order = draw(st.permutations(list(range(n))))
    rows = order[: draw(st.integers(1, n))]
    return nodes, assigned, pending, rows


def plugins(draw: Callable[[st.SearchStrategy[Any]], Any], n_nodes: int) -> list[Any]:
    fit_args = {
        "ignoredResources": draw(st.sampled_from([[], [FOO]])),
        "ignoredResourceGroups": draw(st.sampled_from([[], ["example.com"]])),
        "scoringStrategy": {
            "type": draw(st.sampled_from(["LeastAllocated", "MostAllocated",
                                          "RequestedToCapacityRatio"])),
            "resources": draw(st.sampled_from([
                [], [{"name": "cpu", "weight": 3}, {"name": "memory", "weight": 1}],
                [{"name": "cpu"}, {"name": "memory"}, {"name": GPU, "weight": 5},
                 {"name": "ephemeral-storage", "weight": 2}, {"name": FOO}],
            ])),
            "requestedToCapacityRatio": {"shape": draw(st.sampled_from([
                [{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}],
                [{"utilization": 0, "score": 0}, {"utilization": 30, "score": 7},
                 {"utilization": 80, "score": 3}, {"utilization": 100, "score": 10}],
            ]))},
        },
    }
    balanced = {"resources": draw(st.sampled_from([
        [], [{"name": "cpu"}, {"name": "memory"}, {"name": GPU}],
        [{"name": "cpu"}, {"name": "memory"}, {"name": "ephemeral-storage"}, {"name": FOO}],
    ]))}
    added = draw(affinity(n_nodes))
    if added is not None:
        # Added affinity must be valid (it is validated when the plugin is built).
        added = {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]},
                {"matchExpressions": [{"key": "disk", "operator": "Exists"}]},
            ]},
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 7, "preference": {"matchExpressions": [
                    {"key": "gen", "operator": "Gt", "values": ["1"]}]}}],
        }
    return [
        node_resources_fit.new(msgspec.convert(fit_args, node_resources_fit.NodeResourcesFitArgs),
                               None),  # type: ignore[arg-type]
        balanced_allocation.new(msgspec.convert(
            balanced, balanced_allocation.NodeResourcesBalancedAllocationArgs),
            None),  # type: ignore[arg-type]
        node_affinity.new(msgspec.convert({"addedAffinity": added} if added else {},
                                          node_affinity.NodeAffinityArgs),
                          None),  # type: ignore[arg-type]
        taint_toleration.new(None, None),  # type: ignore[arg-type]
        node_unschedulable.new(None, None),  # type: ignore[arg-type]
        node_ports.new(None, None),  # type: ignore[arg-type]
        node_name.new(None, None),  # type: ignore[arg-type]
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cluster(), st.data())
def test_batch_forms_equal_per_node_forms(c: tuple[list[Any], list[Any], Any, list[int]],
                                          data: st.DataObject) -> None:
    import numpy as np

    nodes, assigned, pending, order = c
    snap = snapshot_of(nodes, assigned)
    # Rows are table rows: map the drawn node order through the snapshot's index.
    rows = np.array([snap.table.index[f"n{i}"] for i in order], dtype=np.int64)
    pi = pod_info(pending)
    for pl in plugins(data.draw, len(nodes)):
        state = new_state()
        run_filter = hasattr(pl, "filter")
        if hasattr(pl, "pre_filter"):
            _, st_pre = pl.pre_filter(state, pi, snap)
            # Skip disables the Filter; a rejection ends the cycle before any Filter runs.
            run_filter = run_filter and (st_pre is None or st_pre.code == Code.SUCCESS)
        if run_filter:
            filter_both(pl, state, pi, snap, rows)
        if hasattr(pl, "score"):
            st_score = pl.pre_score(state, pi, snap, rows)
            if st_score is None:
                scores_both(pl, state, pi, snap, rows, normalize=False)
            else:
                assert st_score.code in (Code.SKIP, Code.ERROR)
