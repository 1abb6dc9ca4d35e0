"""Shared fixtures for the preemption tests: upstream's test sizes and pods, a framework with
NodeResourcesFit, a handle carrying what DefaultPreemption reads, and a recording API client.

The plugin test builders (tests/unit/plugins/builders.py) are reused for pods and nodes.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

_PLUGINS_TESTS = str(Path(__file__).resolve().parent.parent / "plugins")
if _PLUGINS_TESTS not in sys.path:
    sys.path.insert(0, _PLUGINS_TESTS)

from builders import make_node, make_pod  # noqa: E402

from pyscheduler.api.errors import ApiError, NotFoundError  # noqa: E402
from pyscheduler.backend.cache.cache import SchedulerCache  # noqa: E402
from pyscheduler.backend.queue.nominator import Nominator  # noqa: E402
from pyscheduler.framework.cycle_state import CycleState  # noqa: E402
from pyscheduler.framework.interfaces import (  # noqa: E402
    PreFilterExtensions,
    PreFilterResult,
)
from pyscheduler.framework.runtime import (  # noqa: E402
    Diagnosis,
    Framework,
    FrameworkOptions,
    new_framework,
)
from pyscheduler.framework.snapshot import Snapshot  # noqa: E402
from pyscheduler.framework.status import Code, Status  # noqa: E402
from pyscheduler.framework.types import PodInfo  # noqa: E402
from pyscheduler.informers.indexer import Indexer  # noqa: E402
from pyscheduler.model.node import Node  # noqa: E402
from pyscheduler.model.pdb import PodDisruptionBudget  # noqa: E402
from pyscheduler.model.pod import Pod  # noqa: E402
from pyscheduler.plugins import (  # noqa: E402
    default_binder,
    default_preemption,
    priority_sort,
)
from pyscheduler.plugins.noderesources import fit as node_resources_fit  # noqa: E402
from pyscheduler.preemption.executor import Executor  # noqa: E402

__all__ = ["make_node", "make_pod"]

# upstream default_preemption_test.go values
NEG, LOW, MID, HIGH, VERY_HIGH = -100, 0, 100, 1000, 10000
SMALL = {"cpu": "100m", "memory": "100"}
MEDIUM = {"cpu": "200m", "memory": "200"}
LARGE = {"cpu": "300m", "memory": "300"}
VERY_LARGE = {"cpu": "500m", "memory": "500"}


def epoch(n: int) -> str:
    """metav1.NewTime(time.Unix(0, n)) as the API writes it (seconds precision): tests that
    order by start time use whole seconds instead of upstream's nanoseconds."""
    return f"1970-01-01T00:00:{n:02d}Z"


def vpod(
    name: str,
    *,
    node: str = "",
    priority: int | None = None,
    requests: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    namespace: str = "default",
    uid: str | None = None,
    start: str | None = None,
    scheduler_name: str | None = None,
    preemption_policy: str | None = None,
    nominated: str = "",
    deleting: bool = False,
    conditions: Sequence[Mapping[str, Any]] = (),
    generation: int = 0,
) -> Pod:
    """A pod as upstream's st.MakePod() builds them, with the fields preemption reads."""
    base = make_pod(name, namespace=namespace, uid=uid or name, node=node, requests=requests,
                    labels=labels, priority=priority, nominated=nominated)
    obj: dict[str, Any] = msgspec.to_builtins(base)
    spec = obj.setdefault("spec", {})
    status = obj.setdefault("status", {})
    meta = obj.setdefault("metadata", {})
    if scheduler_name is not None:
        spec["schedulerName"] = scheduler_name
    if preemption_policy is not None:
        spec["preemptionPolicy"] = preemption_policy
    if start is not None:
        status["startTime"] = start
    if conditions:
        status["conditions"] = [dict(c) for c in conditions]
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    if generation:
        meta["generation"] = generation
    return msgspec.convert(obj, Pod)


def terminating_victim(pod: Pod) -> Pod:
    """``pod`` as the informer shows it after our preemption: DisruptionTarget and being deleted."""
    obj: dict[str, Any] = msgspec.to_builtins(pod)
    obj["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    obj.setdefault("status", {})["conditions"] = [{
        "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
        "message": "default-scheduler: preempting to accommodate a higher priority pod"}]
    return msgspec.convert(obj, Pod)


def node(name: str, res: Mapping[str, str] | None = None, *, pods: int = 32,
         labels: Mapping[str, str] | None = None) -> Node:
    """st.MakeNode().Name(name).Capacity(res): pods defaults to 32, nothing else is set."""
    res = dict(res or {})
    if "pods" in res:
        pods = int(res.pop("pods"))
    extra = {k: q for k, q in res.items() if k not in ("cpu", "memory")}
    return make_node(name, cpu=res.get("cpu"), memory=res.get("memory"), pods=pods,
                     extra=extra, labels=labels)


def pdb(name: str = "pdb", *, namespace: str = "default", match_labels: Mapping[str, str] | None
        = None, allowed: int = 0, disrupted: Iterable[str] = (),
        selector: Mapping[str, Any] | None = None) -> PodDisruptionBudget:
    sel: Mapping[str, Any] | None = selector
    if sel is None and match_labels is not None:
        sel = {"matchLabels": dict(match_labels)}
    obj: dict[str, Any] = {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {} if sel is None else {"selector": dict(sel)},
        "status": {"disruptionsAllowed": allowed,
                   "disruptedPods": {p: "2024-01-01T00:00:00Z" for p in disrupted}},
    }
    return msgspec.convert(obj, PodDisruptionBudget)


# ---- plugins used only by tests ------------------------------------------------------------


@dataclass(slots=True)
class CountingFilter:
    """Upstream's FakeFilterPlugin: counts Filter calls, answers per node from a code map."""

    codes: dict[str, Code] = field(default_factory=dict)
    calls: int = 0
    name: str = "FakeFilter"

    def filter(self, state: CycleState, pod: PodInfo, node_info: Any) -> Status | None:
        self.calls += 1
        code = self.codes.get(node_info.name, Code.SUCCESS)
        if code == Code.SUCCESS:
            return None
        return Status(code, [f"injecting failure for pod {pod.pod.metadata.name}"])


@dataclass(slots=True)
class FalseFilter:
    name: str = "FalseFilter"

    def filter(self, state: CycleState, pod: PodInfo, node_info: Any) -> Status | None:
        return Status.unschedulable("Insufficient cpu")


@dataclass(slots=True)
class ErroringExtensions:
    """Upstream's TestPlugin: AddPod/RemovePod fail on nodes labelled error=true."""

    name: str = "test-plugin"

    def pre_filter(self, state: CycleState, pod: PodInfo,
                   snapshot: Snapshot) -> tuple[PreFilterResult | None, Status | None]:
        return None, None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return self

    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo,
                node_info: Any) -> Status | None:
        if node_info.labels.get("error") == "true":
            return Status.as_error(RuntimeError(f"failed to add pod: {pod.pod.metadata.name}"))
        return None

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo,
                   node_info: Any) -> Status | None:
        if node_info.labels.get("error") == "true":
            return Status.as_error(RuntimeError(f"failed to remove pod: {pod.pod.metadata.name}"))
        return None


class ScriptedRandom(random.Random):
    """Offsets in a given order (upstream seeds Go's rand with 4: offsets 4, 1, 3 over 5)."""

    def __init__(self, offsets: Sequence[int]) -> None:
        super().__init__(0)
        self._offsets = list(offsets)

    def randrange(self, *args: Any, **kwargs: Any) -> int:  # type: ignore[override]
        return self._offsets.pop(0) if self._offsets else 0


# ---- API client ---------------------------------------------------------------------------


@dataclass
class FakeClient:
    """Records every preemption call; answers 404 for pods named in ``gone``, raises an API
    error for pods named in ``fail``, holds ``waiting`` UIDs at Permit."""

    gone: set[str] = field(default_factory=set)
    fail: set[str] = field(default_factory=set)
    waiting: set[str] = field(default_factory=set)
    patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    deletes: list[tuple[str, str]] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    events: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)
    activated: list[str] = field(default_factory=list)
    # awaited by every API call, when set: lets a test hold calls in flight
    gate: Any = None

    async def _maybe_wait(self) -> None:
        if self.gate is not None:
            await self.gate.wait()

    def _check(self, pod: Pod) -> None:
        if pod.metadata.name in self.gone:
            raise NotFoundError(404, "NotFound", f'pods "{pod.metadata.name}" not found')
        if pod.metadata.name in self.fail:
            raise ApiError(500, "InternalError", "boom")

    async def patch_pod_status(self, pod: Pod, patch: dict[str, Any]) -> None:
        await self._maybe_wait()
        self._check(pod)
        self.patches.append((pod.metadata.name, patch))

    async def delete_pod(self, pod: Pod) -> None:
        await self._maybe_wait()
        self._check(pod)
        self.deletes.append((pod.metadata.name, pod.metadata.uid))

    async def clear_nominated_node_name(self, pod: Pod) -> None:
        await self._maybe_wait()
        self.cleared.append(pod.metadata.name)

    def record_event(self, regarding: Pod, related: Pod | None, type_: str, reason: str,
                     action: str, note: str) -> None:
        self.events.append((regarding.metadata.name,
                            related.metadata.name if related is not None else "",
                            type_, reason, action, note))

    def reject_waiting_pod(self, uid: str, plugin: str, message: str) -> bool:
        if uid in self.waiting:
            self.rejected.append((uid, plugin, message))
            return True
        return False

    def activate(self, pod: Pod) -> None:
        self.activated.append(pod.metadata.name)

    @property
    def deleted_names(self) -> list[str]:
        return sorted(n for n, _ in self.deletes)


# ---- framework, handle -----------------------------------------------------------------------


def pod_indexer(pods: Iterable[Pod] = ()) -> Indexer[Pod]:
    idx: Indexer[Pod] = Indexer()
    for p in pods:
        idx.add(p)
    return idx


def pdb_indexer(pdbs: Iterable[PodDisruptionBudget] = ()) -> Indexer[PodDisruptionBudget]:
    idx: Indexer[PodDisruptionBudget] = Indexer()
    for b in pdbs:
        idx.add(b)
    return idx


@dataclass
class Env:
    cache: SchedulerCache
    handle: Framework
    fwk: Framework
    plugin: default_preemption.DefaultPreemption
    client: FakeClient
    executor: Executor
    pods: Indexer[Pod]
    pdbs: Indexer[PodDisruptionBudget]
    nominator: Nominator
    counter: CountingFilter

    @property
    def snapshot(self) -> Snapshot:
        return self.cache.snapshot

    def state_for(self, pod: Pod) -> tuple[CycleState, PodInfo]:
        """A cycle state with PreFilter run, as the scheduler leaves it before PostFilter."""
        pi = PodInfo.of(pod)
        state = CycleState()
        _, st, _ = self.fwk.run_pre_filter(state, pi, self.cache.update_snapshot())
        assert st is None, st
        return state, pi

    def diagnosis(self, unschedulable: Iterable[str] = (), *,
                  unresolvable: Iterable[str] = ()) -> Diagnosis:
        """A diagnosis marking ``unschedulable`` nodes resolvable (upstream's NodeToStatus
        with those nodes Unschedulable; every other node UnschedulableAndUnresolvable)."""
        d = Diagnosis(num_all_nodes=self.snapshot.num_nodes)
        d.resolvable_names = list(unschedulable)
        del unresolvable  # documentation only: absent means unresolvable
        return d

    def update_pod(self, old: Pod, new: Pod) -> None:
        """What the informer does on a pod update: cache and pod lister."""
        self.cache.update_pod(old, new)
        self.pods.update(new)


def make_env(
    nodes: Sequence[Node],
    pods: Sequence[Pod] = (),
    *,
    preemptor: Pod | None = None,
    pdbs: Sequence[PodDisruptionBudget] = (),
    args: default_preemption.DefaultPreemptionArgs | None = None,
    extra_filters: Sequence[Any] = (),
    extra_pre_filters: Sequence[Any] = (),
    counter_codes: Mapping[str, Code] | None = None,
    resources_fit: bool = True,
    allowed: frozenset[str] | None = None,
    rng: random.Random | None = None,
    client: FakeClient | None = None,
    room_shortcut: bool = False,
    counter_filter: bool = True,
) -> Env:
    """The ported upstream tables count upstream's Filter calls, so by default every reprieve
    is filtered (Evaluator.room_shortcut off); pass ``room_shortcut=True`` for the default."""
    cache = SchedulerCache()
    for n in nodes:
        cache.add_node(n)
    for p in pods:
        if p.spec.node_name:
            cache.add_pod(p)
    pod_store = pod_indexer([*pods, *([preemptor] if preemptor is not None else [])])
    pdb_store = pdb_indexer(pdbs)
    nominator = Nominator()
    client = client or FakeClient()
    executor = Executor(client, pod_store.get_by_key)
    options = FrameworkOptions(
        snapshot=cache.snapshot,
        listers={"pods": pod_store, "poddisruptionbudgets": pdb_store},
        nominator=nominator,
        preemption_executor=executor,
        preemption_allowed_scheduler_names=allowed,
    )
    counter = CountingFilter(dict(counter_codes or {}))
    builders: dict[str, Any] = {
        "PrioritySort": lambda h: priority_sort.new(None, h),
        "DefaultBinder": lambda h: default_binder.new(None, h),
        "DefaultPreemption": lambda h: default_preemption.new(args, h),
        counter.name: lambda h: counter,
    }
    pre_filter: list[str] = []
    # Without the counting filter, NodeResourcesFit alone filters (the room-only dry run).
    filters: list[str] = [counter.name] if counter_filter else []
    for p in extra_pre_filters:
        builders[p.name] = lambda h, p=p: p
        pre_filter.append(p.name)
    for f in extra_filters:
        builders[f.name] = lambda h, f=f: f
        filters.append(f.name)
    if resources_fit:
        builders["NodeResourcesFit"] = lambda h: node_resources_fit.new(None, h)
        pre_filter.append("NodeResourcesFit")
        filters.append("NodeResourcesFit")
    points = {"queueSort": ["PrioritySort"], "preFilter": pre_filter, "filter": filters,
              "postFilter": ["DefaultPreemption"], "preEnqueue": ["DefaultPreemption"],
              "bind": ["DefaultBinder"]}
    # As the scheduler builds it: the Framework is its plugins' Handle.
    fwk, install = new_framework("default-scheduler", builders, {}, options,
                                 rng=random.Random(0))
    install(points)
    handle = fwk
    plugin = fwk.plugins["DefaultPreemption"]
    if rng is not None:
        plugin.evaluator.rng = rng
    plugin.evaluator.room_shortcut = room_shortcut
    return Env(cache, handle, fwk, plugin, client, executor, pod_store, pdb_store, nominator,
               counter)


def names(pis: Iterable[PodInfo]) -> list[str]:
    return [pi.pod.metadata.name for pi in pis]
