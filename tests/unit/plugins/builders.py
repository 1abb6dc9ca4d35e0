"""Fixture builders for plugin tests: pods and nodes from plain values, snapshots via the cache.

Objects are built as API-shaped (camelCase) dicts and converted with msgspec, the same path the
informers use, so defaults (toleration operator, schedulerName, ...) match decoded objects.
A pod made without ``requests`` has *no containers*, like upstream's ``st.MakePod().Obj()``, so
it has no non-zero default requests either. ``pod_level`` sets pod-level requests
(``spec.resources.requests``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import numpy as np

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import I64, Lister
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.runtime import MissingDependencyError
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.node import Node
from pyscheduler.model.pod import ContainerPort, Pod

_uids = itertools.count(1)

# The JSON name the model decodes hostIP from (it should be "hostIP"; msgspec's camel rename
# makes it "hostIp"): asking the model keeps these tests right whichever it is.
_HOST_IP_KEY = next(k for k in msgspec.to_builtins(ContainerPort(host_ip="x"))
                    if k.lower() == "hostip")

Port = tuple[int, str, str]  # (hostPort, protocol, hostIP)


def make_pod(
    name: str = "p",
    *,
    namespace: str = "default",
    uid: str | None = None,
    node: str = "",
    requests: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
    init_requests: Sequence[Mapping[str, str]] = (),
    sidecar_requests: Sequence[Mapping[str, str]] = (),
    overhead: Mapping[str, str] | None = None,
    pod_level: Mapping[str, str] | None = None,
    ports: Sequence[Port] = (),
    sidecar_ports: Sequence[Port] = (),
    labels: Mapping[str, str] | None = None,
    node_selector: Mapping[str, str] | None = None,
    node_affinity: Mapping[str, Any] | None = None,
    tolerations: Sequence[Mapping[str, Any]] = (),
    priority: int | None = None,
    gates: Sequence[str] = (),
    nominated: str = "",
) -> Pod:
    if requests is None:
        per_container: list[Mapping[str, str]] = []
    elif isinstance(requests, Mapping):
        per_container = [requests]
    else:
        per_container = list(requests)
    containers: list[dict[str, Any]] = [
        {"name": f"c{i}", "resources": {"requests": dict(r)}} for i, r in enumerate(per_container)
    ]
    if ports:
        if not containers:
            containers.append({"name": "c0"})
        containers[0]["ports"] = [_port(p) for p in ports]
    init: list[dict[str, Any]] = [
        {"name": f"i{i}", "resources": {"requests": dict(r)}} for i, r in enumerate(init_requests)
    ]
    for i, r in enumerate(sidecar_requests):
        init.append({"name": f"s{i}", "restartPolicy": "Always",
                     "resources": {"requests": dict(r)}})
    if sidecar_ports:
        init.append({"name": "sp", "restartPolicy": "Always",
                     "ports": [_port(p) for p in sidecar_ports]})
    spec: dict[str, Any] = {"containers": containers, "initContainers": init,
                            "tolerations": [dict(t) for t in tolerations]}
    if node:
        spec["nodeName"] = node
    if overhead:
        spec["overhead"] = dict(overhead)
    if pod_level is not None:
        spec["resources"] = {"requests": dict(pod_level)}
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if node_affinity is not None:
        spec["affinity"] = {"nodeAffinity": dict(node_affinity)}
    if priority is not None:
        spec["priority"] = priority
    if gates:
        spec["schedulingGates"] = [{"name": g} for g in gates]
    obj = {
        "metadata": {"name": name, "namespace": namespace,
                     "uid": uid or f"uid-{name}-{next(_uids)}", "labels": dict(labels or {})},
        "spec": spec,
        "status": {"nominatedNodeName": nominated} if nominated else {},
    }
    return msgspec.convert(obj, Pod)


def _port(p: Port) -> dict[str, Any]:
    host_port, protocol, host_ip = p
    d: dict[str, Any] = {"containerPort": host_port, "hostPort": host_port, "protocol": protocol}
    if host_ip:
        d[_HOST_IP_KEY] = host_ip
    return d


def make_node(
    name: str,
    *,
    cpu: str | None = "4",
    memory: str | None = "32Gi",
    pods: int | None = 110,
    ephemeral_storage: str | None = None,
    extra: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Mapping[str, str]] = (),
    unschedulable: bool = False,
) -> Node:
    alloc: dict[str, str] = {}
    if cpu is not None:
        alloc["cpu"] = cpu
    if memory is not None:
        alloc["memory"] = memory
    if pods is not None:
        alloc["pods"] = str(pods)
    if ephemeral_storage is not None:
        alloc["ephemeral-storage"] = ephemeral_storage
    alloc.update(extra or {})
    obj = {
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": {"unschedulable": unschedulable, "taints": [dict(t) for t in taints]},
        "status": {"capacity": dict(alloc), "allocatable": alloc},
    }
    return msgspec.convert(obj, Node)


def taint(key: str, value: str = "", effect: str = "NoSchedule") -> dict[str, str]:
    return {"key": key, "value": value, "effect": effect}


def toleration(key: str = "", value: str = "", effect: str = "",
               operator: str = "Equal") -> dict[str, str]:
    return {"key": key, "value": value, "effect": effect, "operator": operator}


def term(*exprs: tuple[str, str, Sequence[str]],
         fields: Sequence[tuple[str, str, Sequence[str]]] = ()) -> dict[str, Any]:
    """A node selector term from (key, operator, values) triples."""
    out: dict[str, Any] = {}
    if exprs:
        out["matchExpressions"] = [{"key": k, "operator": op, "values": list(vs)}
                                   for k, op, vs in exprs]
    if fields:
        out["matchFields"] = [{"key": k, "operator": op, "values": list(vs)}
                              for k, op, vs in fields]
    return out


def required(*terms: Mapping[str, Any]) -> dict[str, Any]:
    return {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [dict(t) for t in terms]}}


def preferred(*weighted: tuple[int, Mapping[str, Any]]) -> dict[str, Any]:
    return {"preferredDuringSchedulingIgnoredDuringExecution":
            [{"weight": w, "preference": dict(t)} for w, t in weighted]}


def cache_of(nodes: Sequence[Node], pods: Sequence[Pod] = ()) -> SchedulerCache:
    cache = SchedulerCache()
    for n in nodes:
        cache.add_node(n)
    for p in pods:
        if p.spec.node_name:
            cache.add_pod(p)
    return cache


def snapshot_of(nodes: Sequence[Node], pods: Sequence[Pod] = ()) -> Snapshot:
    """A snapshot of these nodes with the assigned pods among ``pods`` on them."""
    return cache_of(nodes, pods).snapshot


def info(snapshot: Snapshot, name: str) -> NodeInfo:
    ni = snapshot.get(name)
    assert ni is not None, name
    return ni


def rows_of(snapshot: Snapshot, names: Sequence[str]) -> I64:
    return np.array([snapshot.table.index[n] for n in names], dtype=np.int64)


def pod_info(pod: Pod) -> PodInfo:
    return PodInfo.of(pod)


class FakeHandle:
    """What plugins see of the framework in unit tests."""

    def __init__(self, snapshot: Snapshot | None = None, profile_name: str = "default-scheduler",
                 binding_client: Any = None) -> None:
        self.snapshot = snapshot if snapshot is not None else Snapshot()
        self.profile_name = profile_name
        self.client = binding_client

    @property
    def binding_client(self) -> Any:
        # As framework.runtime.Framework: a missing dependency raises when used.
        if self.client is None:
            raise MissingDependencyError("no binding client: the framework was built without one")
        return self.client

    def lister(self, resource: str) -> Lister | None:
        return None


def new_state() -> CycleState:
    return CycleState()


# ---- running plugins both ways ------------------------------------------------------------------

Outcome = tuple[int, list[str]] | None  # (status code, reasons) or None for "passes"


def outcome(st: Any) -> Outcome:
    return None if st is None else (int(st.code), list(st.reasons))


def verdict_outcomes(verdict: Any, n: int) -> list[Outcome]:
    """Per input row, what a batch FilterVerdict says, in the per-node Status's terms: a row's
    code is UnschedulableAndUnresolvable when any of its failures is (the runtime's rule)."""
    from pyscheduler.framework.status import Code

    if verdict is None:
        return [None] * n
    out: list[Outcome] = []
    for i in range(n):
        if verdict.passed[i]:
            out.append(None)
            continue
        mine = [f for f in verdict.failures if f.mask[i]]
        assert mine, f"row {i} rejected without a reason"
        code = (Code.UNSCHEDULABLE_AND_UNRESOLVABLE
                if any(f.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE for f in mine)
                else Code.UNSCHEDULABLE)
        out.append((int(code), [f.reason for f in mine]))
    return out


def filter_both(plugin: Any, state: CycleState, pi: PodInfo, snapshot: Snapshot,
                rows: I64 | None = None) -> dict[str, Outcome]:
    """Run the per-node filter on every row and, when the plugin has one, the batch filter;
    assert they agree and return node name -> outcome."""
    if rows is None:
        rows = snapshot.all_rows()
    infos = snapshot.node_infos
    per = {infos[r].name: outcome(plugin.filter(state, pi, infos[r])) for r in rows.tolist()}
    if hasattr(plugin, "filter_nodes"):
        batch = verdict_outcomes(plugin.filter_nodes(state, pi, snapshot, rows), len(rows))
        for i, r in enumerate(rows.tolist()):
            assert batch[i] == per[infos[r].name], (infos[r].name, batch[i], per[infos[r].name])
    return per


def scores_both(plugin: Any, state: CycleState, pi: PodInfo, snapshot: Snapshot,
                rows: I64 | None = None, normalize: bool = True) -> dict[str, int]:
    """Per-node and batch scores (asserted equal), then NormalizeScore if the plugin has it."""
    if rows is None:
        rows = snapshot.all_rows()
    infos = snapshot.node_infos
    per = np.array([plugin.score(state, pi, infos[r]) for r in rows.tolist()], dtype=np.int64)
    if hasattr(plugin, "score_nodes"):
        batch = np.asarray(plugin.score_nodes(state, pi, snapshot, rows), dtype=np.int64)
        assert batch.tolist() == per.tolist(), (batch.tolist(), per.tolist())
    if normalize and hasattr(plugin, "normalize_score"):
        plugin.normalize_score(state, pi, per)
    return {infos[r].name: int(s) for r, s in zip(rows.tolist(), per.tolist(), strict=True)}
