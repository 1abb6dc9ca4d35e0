"""Fixtures for the CapacityScheduling tests: upstream capacity_scheduling_test.go's pods
(makePod: memory in bytes, priorities), ElasticQuota objects, and a framework with
NodeResourcesFit and CapacityScheduling over a real SchedulerCache (used figures come from the
pods the cache holds, so each upstream ``Used`` is expressed as pods on a node)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from preemption_fixtures import node, pdb_indexer, pod_indexer, vpod

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.backend.queue.nominator import Nominator
from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.runtime import Diagnosis, Framework, FrameworkOptions, new_framework
from pyscheduler.framework.status import Status
from pyscheduler.framework.types import PodInfo
from pyscheduler.informers.indexer import Indexer
from pyscheduler.model.elasticquota import ElasticQuota
from pyscheduler.model.node import Node
from pyscheduler.model.pdb import PodDisruptionBudget
from pyscheduler.model.pod import Pod
from pyscheduler.plugins import default_binder, priority_sort
from pyscheduler.plugins.capacity_scheduling import plugin as capacity
from pyscheduler.plugins.noderesources import fit as node_resources_fit

__all__ = ["node", "vpod"]

# upstream capacity_scheduling_test.go
LOW, MID, HIGH = 0, 100, 1000
NODE_RES = {"memory": "150"}


def mpod(name: str, ns: str, mem: int, priority: int = 0, node_name: str = "", *,
         cpu: str | None = None, **kw: Any) -> Pod:
    """makePod(name, ns, memReq, cpuReq, 0, priority, uid=name, nodeName)."""
    req = {"memory": str(mem)} if mem else {}
    if cpu is not None:
        req["cpu"] = cpu
    return vpod(name, namespace=ns, node=node_name, priority=priority, requests=req or None,
                uid=name, **kw)


def eq(ns: str, *, min: Mapping[str, str | int] | None = None,
       max: Mapping[str, str | int] | None = None, name: str | None = None) -> ElasticQuota:
    """An ElasticQuota as the API serves it."""
    spec: dict[str, Any] = {}
    if min is not None:
        spec["min"] = dict(min)
    if max is not None:
        spec["max"] = dict(max)
    obj = {"metadata": {"name": name or ns, "namespace": ns, "uid": f"eq-{ns}-{name or ns}",
                        "resourceVersion": "1"}, "spec": spec}
    return msgspec.convert(obj, ElasticQuota)


@dataclass
class RecordingExecutor:
    """The Handle's PreemptionExecutor, recording the candidates it is asked to carry out
    (the real executor's API calls are tested in test_preemption_executor.py)."""

    candidates: list[Any] = field(default_factory=list)
    running: set[str] = field(default_factory=set)

    def prepare_candidate_async(self, candidate: Any, preemptor: Pod, plugin: str,
                                lower_nominated: Sequence[Pod] = ()) -> bool:
        self.candidates.append(candidate)
        self.running.add(preemptor.metadata.uid)
        return True

    def is_pod_running_preemption(self, uid: str) -> bool:
        return uid in self.running


@dataclass
class CapEnv:
    cache: SchedulerCache
    fwk: Framework
    plugin: capacity.CapacityScheduling
    executor: RecordingExecutor
    pods: Indexer[Pod]
    quotas: Indexer[ElasticQuota]
    nominator: Nominator

    def pre_filter(self, pod: Pod) -> tuple[CycleState, PodInfo, Status | None]:
        pi = PodInfo.of(pod)
        state = CycleState()
        _, st, _ = self.fwk.run_pre_filter(state, pi, self.cache.update_snapshot())
        return state, pi, st

    def diagnosis(self, unschedulable: Iterable[str] | None = None) -> Diagnosis:
        """Every node (or those named) rejected with a resolvable status."""
        snap = self.cache.snapshot
        d = Diagnosis(num_all_nodes=snap.num_nodes)
        d.resolvable_names = (list(unschedulable) if unschedulable is not None
                              else [ni.name for ni in snap.node_infos])
        return d

    def post_filter(self, pod: Pod, unschedulable: Iterable[str] | None = None) -> Any:
        state, pi, _ = self.pre_filter(pod)
        return self.fwk.post_filter[0].post_filter(state, pi, self.diagnosis(unschedulable))


def make_cap_env(nodes: Sequence[Node], pods: Sequence[Pod] = (),
                 quotas: Sequence[ElasticQuota] = (), *, preemptor: Pod | None = None,
                 pdbs: Sequence[PodDisruptionBudget] = (), extra_filters: Sequence[Any] = (),
                 rng: random.Random | None = None,
                 allowed: frozenset[str] | None = None) -> CapEnv:
    cache = SchedulerCache()
    for n in nodes:
        cache.add_node(n)
    for p in pods:
        if p.spec.node_name:
            cache.add_pod(p)
    pod_store = pod_indexer([*pods, *([preemptor] if preemptor is not None else [])])
    quota_store: Indexer[ElasticQuota] = Indexer()
    for q in quotas:
        quota_store.add(q)
    nominator = Nominator()
    executor = RecordingExecutor()
    options = FrameworkOptions(
        snapshot=cache.snapshot,
        listers={"pods": pod_store, "poddisruptionbudgets": pdb_indexer(pdbs),
                 "elasticquotas": quota_store},
        nominator=nominator,
        preemption_executor=executor,
        preemption_allowed_scheduler_names=allowed,
    )
    builders: dict[str, Any] = {
        "PrioritySort": lambda h: priority_sort.new(None, h),
        "DefaultBinder": lambda h: default_binder.new(None, h),
        "NodeResourcesFit": lambda h: node_resources_fit.new(None, h),
        capacity.NAME: lambda h: capacity.new(None, h),
    }
    filters = ["NodeResourcesFit"]
    for f in extra_filters:
        builders[f.name] = lambda h, f=f: f
        filters.append(f.name)
    points = {"queueSort": ["PrioritySort"], "preFilter": ["NodeResourcesFit", capacity.NAME],
              "filter": filters, "postFilter": [capacity.NAME], "reserve": [capacity.NAME],
              "preEnqueue": [capacity.NAME], "bind": ["DefaultBinder"]}
    fwk, install = new_framework("default-scheduler", builders, {}, options,
                                 rng=random.Random(0))
    install(points)
    plugin = fwk.plugins[capacity.NAME]
    if rng is not None:
        assert plugin.evaluator is not None
        plugin.evaluator.rng = rng
    return CapEnv(cache, fwk, plugin, executor, pod_store, quota_store, nominator)


def victim_names(candidate: Any) -> list[str]:
    return sorted(v.pod.metadata.name for v in candidate.victims)
