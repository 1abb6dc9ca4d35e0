"""Framework runtime: runs one profile's plugins at each extension point.

Contract:
* Filtering runs plugin by plugin over the remaining candidate rows: a batch plugin sees all of
  them at once, a per-node plugin is called per row. A row rejected by one plugin is not shown
  to later ones, as upstream stops at the first failing filter per node, so the reasons users
  see are upstream's ("0/N nodes are available: 3 Insufficient cpu, 2 node(s) had untolerated
  taint {k: v}.").
* Rows that carry nominated pods of equal or higher priority are re-checked per node twice
  (with and without those pods), as upstream's RunFilterPluginsWithNominatedPods.
* percentageOfNodesToScore, when set, stops at the upstream-computed number of feasible nodes,
  starting at a rotating offset; when unset every node is evaluated.
* Scores: raw scores per plugin, NormalizeScore in place, times the weight, summed; the host is
  a uniformly random one among the best (reservoir-equivalent).
* ``scheduler_framework_extension_point_duration_seconds{extension_point,status,profile}`` is
  observed for every point run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import structlog

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import (
    I64,
    BatchFilterPlugin,
    BatchScorePlugin,
    BindingClient,
    BindPlugin,
    EnqueueExtensions,
    EventRecorder,
    FilterPlugin,
    GangPlugin,
    GangPolicy,
    GroupPreemptionPlugin,
    Handle,
    Lister,
    LoadMetrics,
    NodeOnlyFilter,
    NormalizeScorePlugin,
    PermitPlugin,
    Plugin,
    PodActivator,
    PodNominator,
    PostBindPlugin,
    PostFilterPlugin,
    PostFilterResult,
    PreBindPlugin,
    PreemptionExecutor,
    PreEnqueuePlugin,
    PreFilterExtensions,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
    QueueSortPlugin,
    ReservePlugin,
    ScoreDetail,
    ScoreExplainer,
    ScorePlugin,
    StatusClient,
    VolumeClient,
)
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import ClusterEventWithHint, PodInfo, QueuedPodInfo
from pyscheduler.framework.waiting_pods import WaitingPod, WaitingPodsMap
from pyscheduler.loadmetrics.types import EMPTY_VIEW, LoadSourceSpec, LoadView
from pyscheduler.metrics import (
    EXTENSION_POINT_DURATION,
    PERMIT_WAIT_DURATION,
    PLUGIN_EVALUATION_TOTAL,
    PLUGIN_EXECUTION_DURATION,
)
from pyscheduler.model.pod import Pod

log = structlog.get_logger(__name__)

NO_NODE_AVAILABLE_MSG = "0/{} nodes are available"
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5

EXTENSION_POINTS = (
    "preEnqueue", "queueSort", "preFilter", "filter", "postFilter", "preScore", "score",
    "reserve", "permit", "preBind", "bind", "postBind",
)

_POINT_PROTOCOLS: dict[str, type] = {
    "preEnqueue": PreEnqueuePlugin,
    "queueSort": QueueSortPlugin,
    "preFilter": PreFilterPlugin,
    "filter": FilterPlugin,
    "postFilter": PostFilterPlugin,
    "preScore": PreScorePlugin,
    "score": ScorePlugin,
    "reserve": ReservePlugin,
    "permit": PermitPlugin,
    "preBind": PreBindPlugin,
    "bind": BindPlugin,
    "postBind": PostBindPlugin,
}


def implemented_points(plugin: Plugin) -> list[str]:
    """Extension points a plugin instance implements (multiPoint expansion)."""
    return [p for p, proto in _POINT_PROTOCOLS.items() if isinstance(plugin, proto)]


@dataclass(slots=True)
class Diagnosis:
    """Why a pod did not fit (upstream framework.Diagnosis), built for users and preemption."""

    num_all_nodes: int = 0
    # reason -> number of nodes that gave it
    reasons: Counter[str] = field(default_factory=Counter)
    # Nodes rejected with a *resolvable* status (preemption candidates): batch filters add
    # row arrays, per-node filters add names; names are built only when asked for.
    resolvable_rows: list[I64] = field(default_factory=list)
    resolvable_names: list[str] = field(default_factory=list)
    node_infos: list[NodeInfo] = field(default_factory=list)
    unschedulable_plugins: set[str] = field(default_factory=set)
    pending_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""
    # nodes whose status code is known; absent nodes carry ``absent_status``
    evaluated: int = 0
    absent_reason: str = ""
    # Upstream's NodeToStatus, kept only when asked for (None: off, the hot path's default):
    # node name -> the status of the first filter that rejected it. The dry run's --explain.
    node_to_status: dict[str, Status] | None = None

    @property
    def resolvable_nodes(self) -> list[str]:
        """Nodes rejected with a resolvable status (preemption's candidates)."""
        names = [self.node_infos[int(r)].name for rows in self.resolvable_rows for r in rows]
        return names + self.resolvable_names

    def message(self) -> str:
        """Upstream FitError.Error: '0/N nodes are available: ...', with PostFilter's part."""
        msg = NO_NODE_AVAILABLE_MSG.format(self.num_all_nodes) + ":"
        if self.pre_filter_msg:
            msg += f" {self.pre_filter_msg}."
        else:
            counts = Counter(self.reasons)
            absent = self.num_all_nodes - self.evaluated
            if absent > 0 and self.absent_reason:
                counts[self.absent_reason] += absent
            parts = sorted(f"{n} {r}" for r, n in counts.items())
            if parts:
                msg += " " + ", ".join(parts) + "."
        if self.post_filter_msg:
            # Appended as it is (upstream adds no period: "... preempting 1 victims" has none,
            # the dry run's own fit error ends with one).
            msg += f" {self.post_filter_msg}"
        return msg


class FitError(Exception):
    def __init__(self, pod: PodInfo, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.message())
        self.pod = pod
        self.diagnosis = diagnosis


def num_feasible_nodes_to_find(percentage: int | None, num_all_nodes: int) -> int:
    """Upstream numFeasibleNodesToFind; ``None`` (pyscheduler's default) means all nodes."""
    if percentage is None or percentage >= 100 or num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    adaptive = percentage
    if adaptive == 0:
        adaptive = 50 - num_all_nodes // 125
        if adaptive < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND:
            adaptive = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND
    n = num_all_nodes * adaptive // 100
    return max(n, MIN_FEASIBLE_NODES_TO_FIND)


class _NoNominations:
    """The nominator of a Framework built without one (unit tests): nothing is nominated."""

    def add_nominated_pod(self, pod_info: PodInfo, node_name: str | None = None) -> None:
        """Nothing is nominated: does nothing."""
        return None

    def delete_nominated_pod_if_exists(self, pod: Pod) -> None:
        """Nothing is nominated: does nothing."""
        return None

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        """Nothing is nominated: always empty."""
        return []

    def nominated_nodes(self) -> Iterable[str]:
        """Nothing is nominated: always empty."""
        return ()


class LoadMetricsProvider(Protocol):
    """Hands out one LoadMetrics per source spec (loadmetrics.LoadMetricsHub)."""

    def monitor(self, spec: LoadSourceSpec) -> LoadMetrics:
        """The monitor of ``spec``, created on first use."""
        ...


@dataclass(frozen=True, slots=True)
class _NoLoadMetrics:
    """A monitor without a source: every node falls back to request-based scoring."""

    spec: LoadSourceSpec

    def view(self) -> LoadView:
        return EMPTY_VIEW


class MissingDependencyError(RuntimeError):
    """A plugin used a Handle dependency this Framework was built without."""


@dataclass(frozen=True, slots=True)
class FrameworkOptions:
    """What a Framework hands its plugins through the Handle (upstream's frameworkImpl
    options: WithClientSet, WithEventRecorder, WithPodNominator, WithWaitingPods, ...).

    Everything here exists before any Framework is built; nothing is attached afterwards."""

    snapshot: Snapshot | None = None
    listers: Mapping[str, Lister] = field(default_factory=dict)
    binding_client: BindingClient | None = None
    volume_client: VolumeClient | None = None
    status_client: StatusClient | None = None
    event_recorder: EventRecorder | None = None
    nominator: PodNominator | None = None
    activator: PodActivator | None = None
    # Shared by every profile, as upstream's WithWaitingPods.
    waiting_pods: WaitingPodsMap = field(default_factory=WaitingPodsMap)
    preemption_executor: PreemptionExecutor | None = None
    # Node load pollers (loadmetrics.LoadMetricsHub), shared by every profile.
    load_metrics: LoadMetricsProvider | None = None
    preemption_allowed_scheduler_names: frozenset[str] | None = None
    percentage_of_nodes_to_score: int | None = None
    # Seed of the random source that breaks ties (host selection, preemption's start offset);
    # None: seeded from the OS, as upstream. The dry run fixes it to be reproducible.
    seed: int | None = None


PluginBuilder = Callable[[Handle], Plugin]  # a registry factory with its args bound


class Framework:
    """One profile: its plugins per extension point, weights, and the cycle helpers; and the
    Handle its plugins reach the scheduler through (upstream frameworkImpl)."""

    def __init__(
        self,
        profile_name: str,
        plugins: dict[str, Plugin],
        points: dict[str, list[str]],
        weights: dict[str, int],
        *,
        percentage_of_nodes_to_score: int | None = None,
        nominator: PodNominator | None = None,
        rng: random.Random | None = None,
        options: FrameworkOptions | None = None,
    ) -> None:
        """A Framework over plugins built elsewhere (tests build them on a fake handle);
        ``new_framework`` builds them on the Framework itself, as the scheduler does."""
        opts = options or FrameworkOptions()
        if percentage_of_nodes_to_score is not None or nominator is not None:
            opts = dataclasses.replace(
                opts,
                percentage_of_nodes_to_score=(percentage_of_nodes_to_score
                                              if percentage_of_nodes_to_score is not None
                                              else opts.percentage_of_nodes_to_score),
                nominator=nominator if nominator is not None else opts.nominator)
        self._init_handle(profile_name, opts, rng)
        self._init_plugins(plugins, points, weights)

    def _init_handle(self, profile_name: str, options: FrameworkOptions,
                     rng: random.Random | None) -> None:
        self.profile_name = profile_name
        self.options = options
        self.percentage_of_nodes_to_score = options.percentage_of_nodes_to_score
        # Not ``nominator or ...``: an empty Nominator is falsy (it has __len__).
        self._nominator: PodNominator = (
            options.nominator if options.nominator is not None else _NoNominations())
        self.waiting_pods = options.waiting_pods
        self.rng = rng or random.Random(options.seed)
        self._duration_children: dict[tuple[str, str], Any] = {}
        self._eval_children: dict[tuple[str, str], Any] = {}
        # Evaluations counted since the last flush_evaluations(): a prometheus inc takes a
        # lock and costs microseconds, and preemption's dry runs call the filters hundreds of
        # thousands of times, so each cycle adds its counts to the counters once.
        self._eval_pending: dict[tuple[str, str], int] = {}
        self.next_start_row = 0

    def _init_plugins(self, plugins: dict[str, Plugin], points: dict[str, list[str]],
                      weights: dict[str, int]) -> None:
        self.plugins = plugins
        self.weights = weights

        def pick(point: str, proto: type) -> list[Any]:
            out = []
            for name in points.get(point, []):
                p = plugins[name]
                if not isinstance(p, proto):
                    raise ValueError(f"plugin {name!r} does not implement {point}")
                out.append(p)
            return out

        self.pre_enqueue: list[PreEnqueuePlugin] = pick("preEnqueue", PreEnqueuePlugin)
        qs: list[QueueSortPlugin] = pick("queueSort", QueueSortPlugin)
        if len(qs) != 1:
            raise ValueError(f"exactly one queueSort plugin must be enabled, got {len(qs)}")
        self.queue_sort = qs[0]
        # Pod group plugins (GangPlugin), found once: isinstance on a runtime-checkable
        # Protocol is too slow for every cycle.
        self.gang_plugins: list[GangPlugin] = [
            p for p in plugins.values() if isinstance(p, GangPlugin)]
        self.pre_filter: list[PreFilterPlugin] = pick("preFilter", PreFilterPlugin)
        self.filter: list[FilterPlugin] = pick("filter", FilterPlugin)
        self.post_filter: list[PostFilterPlugin] = pick("postFilter", PostFilterPlugin)
        self.group_preemption: list[GroupPreemptionPlugin] = [
            p for p in self.post_filter if isinstance(p, GroupPreemptionPlugin)]
        self.pre_score: list[PreScorePlugin] = pick("preScore", PreScorePlugin)
        self.score: list[ScorePlugin] = pick("score", ScorePlugin)
        self.reserve: list[ReservePlugin] = pick("reserve", ReservePlugin)
        self.permit: list[PermitPlugin] = pick("permit", PermitPlugin)
        self.pre_bind: list[PreBindPlugin] = pick("preBind", PreBindPlugin)
        self.bind: list[BindPlugin] = pick("bind", BindPlugin)
        self.post_bind: list[PostBindPlugin] = pick("postBind", PostBindPlugin)
        # Protocol isinstance checks are slow (they walk the protocol's members): decide once.
        self._batch_filter = {p.name for p in self.filter if isinstance(p, BatchFilterPlugin)}
        self._batch_score = {p.name for p in self.score if isinstance(p, BatchScorePlugin)}
        self._normalizes = {p.name for p in self.score if isinstance(p, NormalizeScorePlugin)}
        # The filter list per (skipped, settled) pair: preemption's dry runs ask for it once
        # per node and victim tried, always with the same few pairs.
        self._filters_memo: dict[tuple[frozenset[str], frozenset[str]], list[FilterPlugin]] = {}
        self._node_only = {p.name for p in self.filter
                           if isinstance(p, NodeOnlyFilter) and p.node_only_filter()}
        self._pre_filter_extensions: list[tuple[str, PreFilterExtensions]] = [
            (p.name, ext) for p in self.pre_filter
            if (ext := p.pre_filter_extensions()) is not None]
        if not self.bind:
            raise ValueError("at least one bind plugin must be enabled")

    # ---- Handle (framework.interfaces.Handle) -----------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        """The live snapshot of the scheduler cache."""
        if self.options.snapshot is None:
            raise MissingDependencyError("no snapshot: the framework was built without one")
        return self.options.snapshot

    def lister(self, resource: str) -> Lister | None:
        """The informer indexer for ``resource``, if some enabled plugin asked for it."""
        return self.options.listers.get(resource)

    @property
    def binding_client(self) -> BindingClient:
        """Where binds go."""
        if self.options.binding_client is None:
            raise MissingDependencyError("no binding client: the framework was built without one")
        return self.options.binding_client

    @property
    def volume_client(self) -> VolumeClient:
        """Where VolumeBinding's PV/PVC writes go."""
        if self.options.volume_client is None:
            raise MissingDependencyError("no volume client: the framework was built without one")
        return self.options.volume_client

    @property
    def status_client(self) -> StatusClient:
        """Where status writes of non-pod objects go."""
        if self.options.status_client is None:
            raise MissingDependencyError("no status client: the framework was built without one")
        return self.options.status_client

    @property
    def event_recorder(self) -> EventRecorder:
        """Where this profile's events go."""
        if self.options.event_recorder is None:
            raise MissingDependencyError("framework built without an event recorder")
        return self.options.event_recorder

    @property
    def nominator(self) -> PodNominator:
        """The scheduler's nominated pods (an empty one when built without)."""
        return self._nominator

    @property
    def preemption_executor(self) -> PreemptionExecutor:
        """The process-wide preemption executor."""
        if self.options.preemption_executor is None:
            raise MissingDependencyError(
                "no preemption executor: the framework was built without one")
        return self.options.preemption_executor

    @property
    def preemption_allowed_scheduler_names(self) -> frozenset[str] | None:
        """schedulerNames whose pods may be preempted (None: every scheduler's)."""
        return self.options.preemption_allowed_scheduler_names

    def get_waiting_pod(self, uid: str) -> WaitingPod | None:
        """The pod with this UID held at Permit, in any profile."""
        return self.waiting_pods.get(uid)

    def reject_waiting_pod(self, uid: str, plugin: str, msg: str) -> bool:
        """Reject the pod with this UID held at Permit; False if none is waiting."""
        return self.waiting_pods.reject(uid, plugin, msg)

    def iterate_waiting_pods(self) -> Iterator[WaitingPod]:
        """Every pod held at Permit, in any profile."""
        return iter(self.waiting_pods)

    def load_metrics(self, spec: LoadSourceSpec) -> LoadMetrics:
        """The shared monitor of ``spec``; one that never has data if the scheduler was built
        without a load pipeline (the dry run), so plugins fall back instead of failing."""
        provider = self.options.load_metrics
        if provider is None:
            return _NoLoadMetrics(spec)
        return provider.monitor(spec)

    def activate(self, pods: Iterable[Pod]) -> None:
        """Move these pods to activeQ now (a no-op when built without an activator)."""
        if self.options.activator is not None:
            self.options.activator.activate(pods)

    # ---- queue-facing ---------------------------------------------------------------------
    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
        """Upstream QueueSortFunc: the QueueSort plugin's order of two queued pods."""
        return self.queue_sort.less(a, b)

    def pre_enqueue_plugins(self) -> dict[str, PreEnqueuePlugin]:
        """Upstream PreEnqueuePlugins: this profile's PreEnqueue plugins by name."""
        return {p.name: p for p in self.pre_enqueue}

    def gang_policy(self, pod: Pod) -> GangPolicy | None:
        """The first enabled gang plugin's constraint on ``pod``'s group, if any."""
        for p in self.gang_plugins:
            policy = p.gang_policy(pod)
            if policy is not None:
                return policy
        return None

    def events_by_plugin(self) -> dict[str, list[ClusterEventWithHint]]:
        """Upstream EnqueueExtensions: each plugin's EventsToRegister, by name."""
        out: dict[str, list[ClusterEventWithHint]] = {}
        for name, p in self.plugins.items():
            if isinstance(p, EnqueueExtensions):
                out[name] = p.events_to_register()
        return out

    def _evaluated(self, point: str, plugin: str, n: int = 1) -> None:
        """Count for scheduler_plugin_evaluation_total: ``plugin`` ran at ``point`` (per node
        at Filter and Score, as upstream's instrumented plugins count); published by
        flush_evaluations()."""
        key = (point, plugin)
        self._eval_pending[key] = self._eval_pending.get(key, 0) + n

    def flush_evaluations(self) -> None:
        """Add the evaluations counted since the last flush to the counters (the scheduler
        calls it at the end of every scheduling cycle, so a scrape sees whole cycles)."""
        if not self._eval_pending:
            return
        for key, n in self._eval_pending.items():
            child = self._eval_children.get(key)
            if child is None:
                child = PLUGIN_EVALUATION_TOTAL.labels(key[1], key[0], self.profile_name)
                self._eval_children[key] = child
            child.inc(n)
        self._eval_pending.clear()

    @staticmethod
    def _plugin_duration(state: CycleState, point: str, plugin: str, start: float,
                         status: Status | None) -> None:
        """scheduler_plugin_execution_duration_seconds, in the cycles that sample it."""
        if state.record_plugin_metrics:
            code = "Success" if status is None else _code_label(status.code)
            PLUGIN_EXECUTION_DURATION.labels(plugin, point, code).observe(
                time.perf_counter() - start)

    def _observe(self, point: str, start: float, status: Status | None) -> None:
        code = "Success" if status is None else _code_label(status.code)
        # labels() hashes and locks on every call; several calls per cycle add up, so keep the
        # children (a handful per profile).
        child = self._duration_children.get((point, code))
        if child is None:
            child = EXTENSION_POINT_DURATION.labels(point, code, self.profile_name)
            self._duration_children[(point, code)] = child
        child.observe(time.perf_counter() - start)

    # ---- filtering ------------------------------------------------------------------------
    def run_pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
        rejected: set[str] | None = None,
    ) -> tuple[PreFilterResult | None, Status | None, set[str]]:
        """Returns (merged result, failure status, names of plugins that narrowed nodes).

        As upstream (kubernetes#119770): an Unschedulable status does not stop the remaining
        PreFilter plugins, so that preemption later sees complete PreFilter state; the last such
        status is returned. UnschedulableAndUnresolvable and Error stop at once. The names of
        the rejecting plugins are added to ``rejected`` when given.
        """
        start = time.perf_counter()
        result: PreFilterResult | None = None
        narrowing: set[str] = set()
        status: Status | None = None
        for p in self.pre_filter:
            self._evaluated("PreFilter", p.name)
            t0 = time.perf_counter()
            try:
                r, st = p.pre_filter(state, pod, snapshot)
            except Exception as err:  # a plugin bug must fail this pod, not the scheduler
                log.exception("preFilter plugin raised", plugin=p.name, pod=pod.key)
                st, r = Status.as_error(err, p.name), None
            self._plugin_duration(state, "PreFilter", p.name, t0, st)
            if st is not None and st.code == Code.SKIP:
                state.skip_filter_plugins.add(p.name)
                continue
            if st is not None and st.code != Code.SUCCESS:
                status = st.with_plugin(p.name)
                if st.code == Code.UNSCHEDULABLE:
                    if rejected is not None:
                        rejected.add(p.name)
                    continue
                if st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE and rejected is not None:
                    rejected.add(p.name)
                break
            if r is not None and r.node_names is not None:
                narrowing.add(p.name)
                result = r if result is None else result.merge(r)
                if not result.node_names:
                    status = Status.unresolvable(
                        f"node(s) didn't satisfy plugin(s) {_go_list(narrowing)} simultaneously",
                        plugin=p.name,
                    )
                    break
        self._observe("PreFilter", start, status)
        return result, status, narrowing

    def _filters(self, state: CycleState) -> list[FilterPlugin]:
        if not state.skip_filter_plugins and not state.settled_filters:
            return self.filter
        key = (frozenset(state.skip_filter_plugins), state.settled_filters)
        out = self._filters_memo.get(key)
        if out is None:
            out = [p for p in self.filter if p.name not in key[0] and p.name not in key[1]]
            if len(self._filters_memo) < 64:  # bounded: the pairs come from plugin names
                self._filters_memo[key] = out
        return out

    def settled_filters(self, state: CycleState) -> frozenset[str]:
        """The leading NodeOnlyFilters of this cycle's filter order (PluginsRunner)."""
        out: list[str] = []
        for p in self.filter:
            if p.name in state.skip_filter_plugins:
                continue
            if p.name not in self._node_only:
                break
            out.append(p.name)
        return frozenset(out)

    def nominated_pods_counted(self, pod: PodInfo, node_info: NodeInfo) -> list[PodInfo]:
        """The nominated pods that filtering ``pod`` on ``node_info`` adds (PluginsRunner)."""
        # A nominated pod the node already counts (a gang member assumed there in the same
        # group cycle) is not added twice.
        return [npi for npi in self.nominator.nominated_pods_for_node(node_info.name)
                if npi.priority >= pod.priority and npi.uid != pod.uid
                and npi.uid not in node_info.pods]

    def runs_filter(self, plugin: str, state: CycleState) -> bool:
        """Whether the Filter plugin named ``plugin`` runs in this cycle (PluginsRunner)."""
        return any(p.name == plugin for p in self._filters(state))

    def filters_run(self, state: CycleState) -> tuple[str, ...]:
        """The Filter plugins that run with ``state``, in order (PluginsRunner)."""
        return tuple(p.name for p in self._filters(state))

    def runs_pre_filter_extensions(self, state: CycleState) -> bool:
        """Whether any PreFilter plugin's AddPod/RemovePod runs with ``state`` (PluginsRunner)."""
        return any(name not in state.skip_filter_plugins
                   for name, _ in self._pre_filter_extensions)

    def run_filter_per_node(self, state: CycleState, pod: PodInfo,
                            node_info: NodeInfo) -> Status | None:
        """All filters against one NodeInfo (first failure wins), as upstream RunFilterPlugins."""
        for p in self._filters(state):
            self._evaluated("Filter", p.name)
            try:
                st = p.filter(state, pod, node_info)
            except Exception as err:
                log.exception("filter plugin raised", plugin=p.name, pod=pod.key)
                return Status.as_error(err, p.name)
            if st is not None and st.code != Code.SUCCESS:
                return st.with_plugin(p.name)
        return None

    def run_each_filter(self, state: CycleState, pod: PodInfo,
                        node_info: NodeInfo) -> list[Status]:
        """Every filter plugin's rejection of one node, not only the first (what-if analysis:
        the dry run's --explain asks which plugins alone stand in the way)."""
        out: list[Status] = []
        for p in self._filters(state):
            try:
                st = p.filter(state, pod, node_info)
            except Exception as err:
                st = Status.as_error(err, p.name)
            if st is not None and st.code != Code.SUCCESS:
                out.append(st.with_plugin(p.name))
        return out

    def run_filter_with_nominated_pods(self, state: CycleState, pod: PodInfo,
                                       node_info: NodeInfo) -> Status | None:
        """Upstream RunFilterPluginsWithNominatedPods: with nominated pods, then without."""
        nominated = self.nominated_pods_counted(pod, node_info)
        if nominated:
            exts = [ext for name, ext in self._pre_filter_extensions
                    if name not in state.skip_filter_plugins]
            # Only AddPod extensions write to the state: without one, it needs no copy.
            st2 = state.clone() if exts else state
            ni2 = node_info.clone()
            for npi in nominated:
                ni2.add_pod(npi)
                for ext in exts:
                    ext.add_pod(st2, pod, npi, ni2)
            status = self.run_filter_per_node(st2, pod, ni2)
            if status is not None:
                return status
        return self.run_filter_per_node(state, pod, node_info)

    def _run_pre_filter_extension(self, state: CycleState, pod: PodInfo, other: PodInfo,
                                  node_info: NodeInfo, *, add: bool) -> Status | None:
        for p in self.pre_filter:
            if p.name in state.skip_filter_plugins:
                continue
            ext = p.pre_filter_extensions()
            if ext is None:
                continue
            try:
                if add:
                    st = ext.add_pod(state, pod, other, node_info)
                else:
                    st = ext.remove_pod(state, pod, other, node_info)
            except Exception as err:
                st = Status.as_error(err, p.name)
            if st is not None and st.code != Code.SUCCESS:
                op = "AddPod" if add else "RemovePod"
                return Status(Code.ERROR, [f"running {op} on PreFilter plugin "
                                           f"{json.dumps(p.name)}: {st.message()}"], p.name)
        return None

    def run_pre_filter_extension_add_pod(self, state: CycleState, pod: PodInfo,
                                         pod_to_add: PodInfo,
                                         node_info: NodeInfo) -> Status | None:
        """Upstream RunPreFilterExtensionAddPod: every PreFilter plugin with extensions (not
        skipped this cycle) follows ``pod_to_add`` being added to ``node_info``."""
        return self._run_pre_filter_extension(state, pod, pod_to_add, node_info, add=True)

    def run_pre_filter_extension_remove_pod(self, state: CycleState, pod: PodInfo,
                                            pod_to_remove: PodInfo,
                                            node_info: NodeInfo) -> Status | None:
        """Upstream RunPreFilterExtensionRemovePod (see the AddPod twin)."""
        return self._run_pre_filter_extension(state, pod, pod_to_remove, node_info, add=False)

    def find_nodes_that_pass_filters(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, rows: I64,
        diagnosis: Diagnosis,
    ) -> I64:
        """Feasible rows among ``rows`` (in the given order), filling ``diagnosis``."""
        start = time.perf_counter()
        n_find = num_feasible_nodes_to_find(self.percentage_of_nodes_to_score, len(rows))
        remaining = rows
        infos = snapshot.node_infos
        # Nominated pods change the answer on their nodes: those rows go through the slow path.
        nominated_rows = self._rows_with_nominated(pod, snapshot)
        slow = remaining[:0]
        # The leading node-only filters answer the same with or without nominated pods, so
        # they run in batch over every row, and the rows with nominated pods leave the batch
        # only after them.
        node_only = self.settled_filters(state) if nominated_rows else frozenset()
        split = not nominated_rows
        for p in self._filters(state):
            if not split and p.name not in node_only:
                mask = np.isin(remaining, np.fromiter(nominated_rows, dtype=np.int64))
                slow = remaining[mask]
                remaining = remaining[~mask]
                split = True
            if len(remaining) == 0:
                break
            self._evaluated("Filter", p.name, len(remaining))
            t0 = time.perf_counter()
            if p.name in self._batch_filter:
                try:
                    verdict = cast(BatchFilterPlugin, p).filter_nodes(
                        state, pod, snapshot, remaining)
                except Exception as err:
                    log.exception("filter plugin raised", plugin=p.name, pod=pod.key)
                    raise PluginError(Status.as_error(err, p.name)) from err
                if verdict is None:
                    continue
                failed = ~verdict.passed
                if failed.any():
                    diagnosis.unschedulable_plugins.add(p.name)
                    resolvable = np.zeros(len(remaining), dtype=np.bool_)
                    for f in verdict.failures:
                        hit = f.mask & failed
                        cnt = int(hit.sum())
                        if cnt:
                            diagnosis.reasons[f.reason] += cnt
                            if f.code == Code.UNSCHEDULABLE:
                                resolvable |= hit
                            elif f.code == Code.ERROR:
                                raise PluginError(Status(Code.ERROR, [f.reason], p.name))
                    # a node counts as resolvable only if none of its reasons is unresolvable
                    for f in verdict.failures:
                        if f.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                            resolvable &= ~f.mask
                    diagnosis.node_infos = infos
                    diagnosis.resolvable_rows.append(remaining[resolvable & failed])
                    if diagnosis.node_to_status is not None:
                        self._record_batch(diagnosis.node_to_status, p.name, remaining, failed,
                                           verdict.failures, infos)
                    remaining = remaining[verdict.passed]
            else:
                keep = np.ones(len(remaining), dtype=np.bool_)
                for i, r in enumerate(remaining):
                    try:
                        st = p.filter(state, pod, infos[r])
                    except Exception as err:
                        log.exception("filter plugin raised", plugin=p.name, pod=pod.key)
                        raise PluginError(Status.as_error(err, p.name)) from err
                    if st is not None and st.code != Code.SUCCESS:
                        self._record(diagnosis, st.with_plugin(p.name), infos[r].name)
                        keep[i] = False
                remaining = remaining[keep]
            # One observation per plugin over all rows (upstream: one per node and call).
            self._plugin_duration(state, "Filter", p.name, t0, None)
        if not split:  # every filter was node-only
            mask = np.isin(remaining, np.fromiter(nominated_rows, dtype=np.int64))
            slow = remaining[mask]
            remaining = remaining[~mask]
        feasible_parts = [remaining]
        if len(slow):
            settled, state.settled_filters = state.settled_filters, node_only
            try:
                for r in slow:
                    st = self.run_filter_with_nominated_pods(state, pod, infos[r])
                    if st is None:
                        feasible_parts.append(np.array([r], dtype=np.int64))
                    else:
                        self._record(diagnosis, st, infos[r].name)
            finally:
                state.settled_filters = settled
        feasible = np.concatenate(feasible_parts) if len(feasible_parts) > 1 else remaining
        if len(slow):
            # keep the caller's row order (the rotation) for the percentage cut-off below
            order = {int(r): i for i, r in enumerate(rows)}
            feasible = np.array(sorted(feasible.tolist(), key=order.__getitem__), dtype=np.int64)
        if len(feasible) > n_find:
            feasible = feasible[:n_find]
        diagnosis.evaluated += len(rows)
        self._observe("Filter", start, None)
        return feasible

    @staticmethod
    def _record_batch(statuses: dict[str, Status], plugin: str, rows: I64, failed: Any,
                      failures: Iterable[Any], infos: list[NodeInfo]) -> None:
        """Per-node statuses of one batch filter's rejections (only when asked for)."""
        worst: dict[int, Code] = {}
        reasons: dict[int, list[str]] = {}
        for f in failures:
            for r in rows[f.mask & failed].tolist():
                reasons.setdefault(r, []).append(f.reason)
                # A node is unresolvable as soon as one of its reasons is.
                if worst.get(r) != Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                    worst[r] = f.code
        for r, rs in reasons.items():
            statuses[infos[r].name] = Status(worst[r], rs, plugin)

    @staticmethod
    def _record(diagnosis: Diagnosis, st: Status, node: str) -> None:
        if st.code == Code.ERROR:
            raise PluginError(st)
        if diagnosis.node_to_status is not None:
            diagnosis.node_to_status[node] = st
        for reason in st.reasons:
            diagnosis.reasons[reason] += 1
        if st.plugin:
            if st.code == Code.PENDING:
                diagnosis.pending_plugins.add(st.plugin)
            else:
                diagnosis.unschedulable_plugins.add(st.plugin)
        if st.code == Code.UNSCHEDULABLE:
            diagnosis.resolvable_names.append(node)

    def _rows_with_nominated(self, pod: PodInfo, snapshot: Snapshot) -> set[int]:
        rows: set[int] = set()
        index = snapshot.table.index
        for node_name in self.nominator.nominated_nodes():
            pods = self.nominator.nominated_pods_for_node(node_name)
            if any(p.priority >= pod.priority and p.uid != pod.uid for p in pods):
                r = index.get(node_name)
                if r is not None:
                    rows.add(r)
        return rows

    def run_post_filter(self, state: CycleState, pod: PodInfo,
                        diagnosis: Diagnosis) -> tuple[PostFilterResult | None, Status | None]:
        """Upstream RunPostFilterPlugins: the first Success, else the last failure. The
        message of the status upstream returns (a Success one included, e.g. preemption's
        "found a potential placement ...") becomes the diagnosis's PostFilter message."""
        start = time.perf_counter()
        last: Status | None = Status.unschedulable()
        result: PostFilterResult | None = None
        msgs: list[str] = []
        final: str | None = None  # the message of a status that ended the chain
        for p in self.post_filter:
            t0 = time.perf_counter()
            try:
                r, st = p.post_filter(state, pod, diagnosis)
            except Exception as err:
                log.exception("postFilter plugin raised", plugin=p.name, pod=pod.key)
                r, st = None, Status.as_error(err, p.name)
            self._plugin_duration(state, "PostFilter", p.name, t0, st)
            if st is None or st.code == Code.SUCCESS:
                result, last = r, None
                final = st.message() if st is not None else ""
                break
            if st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                result, last = r, st.with_plugin(p.name)
                final = st.message()
                break
            if st.code != Code.UNSCHEDULABLE:
                result, last = None, st.with_plugin(p.name)
                final = st.message()
                break
            msgs.extend(st.reasons)
            last = st.with_plugin(p.name)
            # A rejecting plugin may still say something about the nomination: upstream's
            # PostFilterResult with an empty node name (mode Override) clears it.
            if r is not None:
                result = r
        # Upstream: Status.Message() of what RunPostFilterPlugins returned; when every plugin
        # rejected, a status holding all their reasons (joined with ", ").
        msg = final if final is not None else ", ".join(msgs)
        if msg:
            diagnosis.post_filter_msg = msg
        self._observe("PostFilter", start, last)
        return result, last

    # ---- scoring --------------------------------------------------------------------------
    def run_pre_score(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                      rows: I64) -> Status | None:
        """Upstream RunPreScorePlugins: first failure, else None; Skip skips its Score."""
        start = time.perf_counter()
        status: Status | None = None
        for p in self.pre_score:
            self._evaluated("PreScore", p.name)
            t0 = time.perf_counter()
            st = p.pre_score(state, pod, snapshot, rows)
            self._plugin_duration(state, "PreScore", p.name, t0, st)
            if st is not None and st.code == Code.SKIP:
                state.skip_score_plugins.add(p.name)
                continue
            if st is not None and st.code != Code.SUCCESS:
                status = st.with_plugin(p.name)
                break
        self._observe("PreScore", start, status)
        return status

    def run_score(self, state: CycleState, pod: PodInfo, snapshot: Snapshot,
                  rows: I64, breakdown: dict[str, tuple[I64, I64]] | None = None,
                  details: dict[str, dict[str, ScoreDetail]] | None = None) -> I64:
        """Weighted total score per feasible row; with ``breakdown``, also each plugin's raw
        and normalized scores per row, and with ``details`` what each ScoreExplainer plugin
        scored each node from, by node name (both for the dry run's --explain)."""
        start = time.perf_counter()
        total = np.zeros(len(rows), dtype=np.int64)
        infos = snapshot.node_infos
        for p in self.score:
            if p.name in state.skip_score_plugins:
                continue
            self._evaluated("Score", p.name, len(rows))
            t0 = time.perf_counter()
            if p.name in self._batch_score:
                batch = cast(BatchScorePlugin, p)
                raw = np.asarray(batch.score_nodes(state, pod, snapshot, rows), dtype=np.int64)
            else:
                raw = np.fromiter(
                    (p.score(state, pod, infos[r]) for r in rows), dtype=np.int64, count=len(rows)
                )
            self._plugin_duration(state, "Score", p.name, t0, None)
            before = raw.copy() if breakdown is not None else raw
            if p.name in self._normalizes:
                t0 = time.perf_counter()
                cast(NormalizeScorePlugin, p).normalize_score(state, pod, raw)
                self._plugin_duration(state, "ScoreExtensionNormalize", p.name, t0, None)
            if breakdown is not None:
                breakdown[p.name] = (before, raw.copy())
            if details is not None and isinstance(p, ScoreExplainer):
                details[p.name] = {infos[r].name: p.explain_score(state, pod, infos[r])
                                   for r in rows}
            total += raw * self.weights.get(p.name, 1)
        self._observe("Score", start, None)
        return total

    def select_host(self, snapshot: Snapshot, rows: I64, scores: I64) -> str:
        """Upstream selectHost: a highest-scoring row's node, ties broken at random."""
        best = np.flatnonzero(scores == scores.max())
        pick = int(best[0]) if len(best) == 1 else int(best[self.rng.randrange(len(best))])
        return snapshot.node_infos[int(rows[pick])].name

    # ---- reserve / permit -----------------------------------------------------------------
    def run_reserve(self, state: CycleState, pod: PodInfo, node: str) -> Status | None:
        """Upstream RunReservePluginsReserve: first failure (raise = Error), else None."""
        start = time.perf_counter()
        status: Status | None = None
        for p in self.reserve:
            t0 = time.perf_counter()
            try:
                st = p.reserve(state, pod, node)
            except Exception as err:
                st = Status.as_error(err, p.name)
            self._plugin_duration(state, "Reserve", p.name, t0, st)
            if st is not None and st.code != Code.SUCCESS:
                status = st.with_plugin(p.name)
                break
        self._observe("Reserve", start, status)
        return status

    def run_unreserve(self, state: CycleState, pod: PodInfo, node: str) -> None:
        """Upstream RunReservePluginsUnreserve: all plugins, reverse order, never raises."""
        # Reverse order, as upstream, and every plugin runs even if one raises.
        for p in reversed(self.reserve):
            try:
                p.unreserve(state, pod, node)
            except Exception:
                log.exception("unreserve plugin raised", plugin=p.name, pod=pod.key)

    def run_permit(self, state: CycleState, pod: PodInfo,
                   node: str) -> tuple[Status | None, dict[str, float]]:
        """(status, plugin -> wait timeout). A non-empty dict with a None status means Wait."""
        start = time.perf_counter()
        waits: dict[str, float] = {}
        status: Status | None = None
        for p in self.permit:
            t0 = time.perf_counter()
            try:
                st, timeout = p.permit(state, pod, node)
            except Exception as err:
                st, timeout = Status.as_error(err, p.name), 0.0
            self._plugin_duration(state, "Permit", p.name, t0, st)
            if st is None or st.code == Code.SUCCESS:
                continue
            if st.code == Code.WAIT:
                waits[p.name] = min(timeout, 15 * 60.0)  # upstream caps at maxTimeout 15 min
                continue
            status = st.with_plugin(p.name)
            break
        self._observe("Permit", start, status)
        return status, waits

    async def wait_on_permit(self, pod: PodInfo, waits: dict[str, float]) -> Status | None:
        """Upstream WaitOnPermit: hold the pod until every waiting Permit plugin allows it,
        one rejects it, or the shortest timeout passes (then that plugin rejects it)."""
        wp = WaitingPod(pod, dict(waits))
        self.waiting_pods.add(wp)
        start = time.perf_counter()
        status: Status | None = None
        try:
            status = await asyncio.wait_for(wp.future, timeout=min(waits.values()))
            return status
        except TimeoutError:
            plugin = min(waits, key=waits.__getitem__)
            status = Status.unschedulable("rejected due to timeout after waiting at permit",
                                          plugin=plugin)
            return status
        finally:
            self.waiting_pods.remove(pod.uid)
            PERMIT_WAIT_DURATION.labels(
                "Success" if status is None else _code_label(status.code)
            ).observe(time.perf_counter() - start)

    async def run_pre_bind(self, state: CycleState, pod: PodInfo, node: str) -> Status | None:
        """Upstream RunPreBindPlugins: first failure (raise = Error), else None."""
        start = time.perf_counter()
        status: Status | None = None
        for p in self.pre_bind:
            t0 = time.perf_counter()
            try:
                st = await p.pre_bind(state, pod, node)
            except Exception as err:
                st = Status.as_error(err, p.name)
            self._plugin_duration(state, "PreBind", p.name, t0, st)
            if st is not None and st.code != Code.SUCCESS:
                status = st.with_plugin(p.name)
                break
        self._observe("PreBind", start, status)
        return status

    async def run_bind(self, state: CycleState, pod: PodInfo, node: str) -> Status | None:
        """Upstream RunBindPlugins: the first plugin not skipping decides; all Skip: Error."""
        start = time.perf_counter()
        status: Status | None = Status(Code.SKIP)
        for p in self.bind:
            t0 = time.perf_counter()
            try:
                st = await p.bind(state, pod, node)
            except Exception as err:
                st = Status.as_error(err, p.name)
            self._plugin_duration(state, "Bind", p.name, t0, st)
            if st is not None and st.code == Code.SKIP:
                continue
            status = None if st is None or st.code == Code.SUCCESS else st.with_plugin(p.name)
            break
        if status is not None and status.code == Code.SKIP:
            status = Status(Code.ERROR, ["no bind plugin bound the pod"])
        self._observe("Bind", start, status)
        return status

    def run_post_bind(self, state: CycleState, pod: PodInfo, node: str) -> None:
        """Upstream RunPostBindPlugins: all plugins, informational, never raises."""
        for p in self.post_bind:
            try:
                p.post_bind(state, pod, node)
            except Exception:
                log.exception("postBind plugin raised", plugin=p.name, pod=pod.key)


class PluginError(Exception):
    """A plugin returned or raised an Error: the attempt fails with SchedulerError."""

    def __init__(self, status: Status) -> None:
        super().__init__(status.message())
        self.status = status



def _code_label(code: Code) -> str:
    return {
        Code.SUCCESS: "Success",
        Code.ERROR: "Error",
        Code.UNSCHEDULABLE: "Unschedulable",
        Code.UNSCHEDULABLE_AND_UNRESOLVABLE: "UnschedulableAndUnresolvable",
        Code.WAIT: "Wait",
        Code.SKIP: "Skip",
        Code.PENDING: "Pending",
    }[code]


def _go_list(names: Iterable[str]) -> str:
    """Format like Go's %v of a sorted []string: [a b c]."""
    return "[" + " ".join(sorted(names)) + "]"


def new_framework(
    profile_name: str,
    builders: Mapping[str, PluginBuilder],
    weights: dict[str, int],
    options: FrameworkOptions,
    *,
    rng: random.Random | None = None,
) -> tuple[Framework, Callable[[dict[str, list[str]]], None]]:
    """Upstream NewFramework, in two steps so multiPoint can be expanded across profiles:
    build every plugin with the Framework itself as its Handle; return the Framework and the
    function that installs the expanded extension points (call it once, before first use).
    The plugins are reachable as ``framework.plugins`` in between."""
    fwk = Framework.__new__(Framework)
    fwk._init_handle(profile_name, options, rng)
    fwk.plugins = {name: build(fwk) for name, build in builders.items()}

    def install(points: dict[str, list[str]]) -> None:
        fwk._init_plugins(fwk.plugins, points, weights)

    return fwk, install


if TYPE_CHECKING:

    def _implements_handle(f: Framework) -> Handle:
        """Compile-time check: the Framework is the plugins' Handle (upstream frameworkImpl)."""
        return f
