"""The preemption algorithm (upstream framework/preemption/preemption.go and DefaultPreemption's
Interface methods): who may preempt, where, and whom.

Contract:
* ``Evaluator.preempt(fwk, state, pod_info, diagnosis, snapshot, pdbs, latest)`` runs inside the
  scheduling cycle (it never awaits; the snapshot cannot change under it) and returns
  ``(result, status, candidate)`` with upstream's meaning:
  - ``(None, Unschedulable(msg), None)``: the pod may not preempt now (preemptionPolicy Never,
    or it already preempted and a victim on its nominated node is still terminating); its
    nomination is kept;
  - ``(PostFilterResult(""), Unschedulable(fit error message), None)``: preemption cannot help;
    the message is "0/N nodes are available: ..." over the dry run's per-node reasons, nodes not
    tried counting as "Preemption is not helpful for scheduling"; the nomination is cleared;
  - ``(None, Error, None)``: every node tried failed with an error (e.g. a PreFilter extension);
  - ``(PostFilterResult(node), None, candidate)``: preempt ``candidate.victims`` on ``node``.
  Acting on the candidate is the caller's job (``executor.Executor``).
* Candidates are the nodes the diagnosis marked *Unschedulable* (resolvable), in snapshot row
  order, tried one by one from a random offset until ``num_candidates`` were found and at least
  one of them violates no PodDisruptionBudget (each of the two lists holds at most
  ``num_candidates``, as upstream's fixed-size lists do).
* A dry run on a node works on clones of the node and of the cycle state: every pod that may be
  a victim (lower priority than the preemptor and allowed by ``is_eligible_pod``, the courtesy
  rule) is removed, PreFilter extensions following each removal; if the preemptor then passes
  the filters (nominated pods included, as the runtime does) the victims are reprieved one by
  one, most important first and PDB-violating ones before the rest, keeping each whose return
  still lets the preemptor fit. The victims left are the candidate's, most important first.
* ``pod_eligible_to_preempt_others`` and the candidate choice are upstream's, see candidates.py.
* Seam (upstream preemption.Interface): a policy subclass overrides ``potential_victims`` (who
  may go on a node), ``preemptor_fits`` (what "fits" means in the dry run, e.g. plus a quota
  check) and ``pod_eligible_to_preempt_others``; the dry run, reprieve order, PDB split and
  candidate choice stay this module's. DefaultPreemption uses the defaults.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import PluginsRunner, PostFilterResult
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.runtime import Diagnosis
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.pdb import PodDisruptionBudget
from pyscheduler.model.pod import Pod, pod_priority
from pyscheduler.model.quantity import CPU, EPHEMERAL_STORAGE, MEMORY, PODS
from pyscheduler.preemption.candidates import (
    Candidate,
    num_candidates,
    pick_one_node_for_preemption,
    sort_by_importance,
)
from pyscheduler.preemption.pdb import PDBChecker

PREEMPT_NEVER = "Never"

ERR_NOT_ELIGIBLE_NEVER = "not eligible due to preemptionPolicy=Never."
ERR_NOT_ELIGIBLE_TERMINATING = "not eligible due to a terminating pod on the nominated node."
ERR_NO_VICTIMS = "No preemption victims found for incoming pod"
ERR_NOT_HELPFUL = "Preemption is not helpful for scheduling"
ERR_NO_NODES = "no nodes available"
# The filter whose verdict cannot_help predicts (by name: the preemption library imports no
# plugin).
FIT_PLUGIN = "NodeResourcesFit"
# What lacks_room and the room-only dry run compare (never ignored by NodeResourcesFit).
_ROOM_RESOURCES = (CPU, MEMORY, EPHEMERAL_STORAGE)

DISRUPTION_TARGET = "DisruptionTarget"
REASON_PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"

# (node the victim is on, the victim, the preemptor) -> may this victim be preempted at all?
IsEligiblePod = Callable[[NodeInfo, PodInfo, Pod], bool]


def lacks_room(pod: PodInfo, node_info: NodeInfo, nominated: Sequence[PodInfo],
               removed: Sequence[PodInfo]) -> bool:
    """True when NodeResourcesFit must reject ``pod`` on ``node_info`` with ``nominated`` added
    and ``removed`` (pods on the node) taken away: a pod slot, cpu, memory or ephemeral
    storage short. Those are never ignored resources. False says nothing about other filters.
    ``nominated`` pods must not be on the node (PluginsRunner.nominated_pods_counted)."""
    alloc, used = node_info.allocatable, node_info.requested
    if len(node_info.pods) - len(removed) + len(nominated) + 1 > alloc.get(PODS, 0):
        return True
    for r in _ROOM_RESOURCES:
        q = pod.requests.get(r, 0)
        if q > 0:
            after = (used.get(r, 0) - sum(v.requests.get(r, 0) for v in removed)
                     + sum(n.requests.get(r, 0) for n in nominated))
            if q > alloc.get(r, 0) - after:
                return True
    return False


def _any_pod(node_info: NodeInfo, victim: PodInfo, preemptor: Pod) -> bool:
    return True


def courtesy_rule(allowed_scheduler_names: frozenset[str] | None) -> IsEligiblePod:
    """pyscheduler's courtesy: only pods placed by these schedulers may be victims
    (``None``: any pod, as upstream)."""
    if allowed_scheduler_names is None:
        return _any_pod
    allowed = allowed_scheduler_names

    def eligible(node_info: NodeInfo, victim: PodInfo, preemptor: Pod) -> bool:
        return victim.pod.spec.scheduler_name in allowed

    return eligible


def terminating_by_preemption(pod: Pod) -> bool:
    """Being deleted, with the DisruptionTarget condition a scheduler's preemption sets."""
    if pod.metadata.deletion_timestamp is None:
        return False
    for c in pod.status.conditions:
        if c.type == DISRUPTION_TARGET:
            return c.status == "True" and c.reason == REASON_PREEMPTION_BY_SCHEDULER
    return False


def aggregate_errors(messages: Sequence[str]) -> str:
    """apimachinery's utilerrors.NewAggregate(errs).Error()."""
    unique = list(dict.fromkeys(messages))
    if len(messages) == 1 or len(unique) == 1:
        return unique[0] if unique else ""
    return "[" + ", ".join(unique) + "]"


def _error(message: str, plugin: str = "") -> Status:
    return Status(Code.ERROR, [message], plugin)


def potential_nodes(diagnosis: Diagnosis, snapshot: Snapshot) -> list[NodeInfo]:
    """Nodes whose filter status was Unschedulable (preemption may help), in row order."""
    return [snapshot.node_infos[r] for r in sorted(_resolvable_rows(diagnosis, snapshot))]


def _resolvable_rows(diagnosis: Diagnosis, snapshot: Snapshot) -> set[int]:
    rows: set[int] = set()
    for arr in diagnosis.resolvable_rows:
        rows.update(arr.tolist())
    index = snapshot.table.index
    for name in diagnosis.resolvable_names:
        r = index.get(name)
        if r is not None:
            rows.add(r)
    return rows


@dataclass(slots=True)
class DryRunResult:
    # Non-violating candidates first, then violating ones, each in the order found.
    candidates: list[Candidate] = field(default_factory=list)
    # Node name -> why it is not a candidate.
    statuses: dict[str, Status] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class Evaluator:
    """DefaultPreemption's algorithm; stateless between calls apart from its random source."""

    def __init__(
        self,
        min_candidate_nodes_percentage: int = 10,
        min_candidate_nodes_absolute: int = 100,
        *,
        is_eligible_pod: IsEligiblePod | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.min_candidate_nodes_percentage = min_candidate_nodes_percentage
        self.min_candidate_nodes_absolute = min_candidate_nodes_absolute
        self.is_eligible_pod: IsEligiblePod = is_eligible_pod or _any_pod
        self.rng = rng or random.Random()
        self.clock = clock
        # Reprieves decided by lacks_room skip the filters (same victims, fewer Filter calls
        # than upstream's); False runs every filter, as upstream, for tests that count calls.
        self.room_shortcut = True

    # ---- Interface methods (upstream DefaultPreemption) -------------------------------------
    def is_preemption_allowed(self, node_info: NodeInfo, victim: PodInfo, preemptor: Pod,
                              preemptor_priority: int | None = None) -> bool:
        """Upstream isPreemptionAllowed: lower priority than the preemptor and eligible."""
        prio = pod_priority(preemptor) if preemptor_priority is None else preemptor_priority
        return victim.priority < prio and self.is_eligible_pod(node_info, victim, preemptor)

    def pod_eligible_to_preempt_others(self, pod: Pod, snapshot: Snapshot,
                                       nominated_node_status: Code | None) -> tuple[bool, str]:
        """Upstream PodEligibleToPreemptOthers; ``nominated_node_status`` is the filter status
        code of the pod's nominated node in this cycle (None when it has none)."""
        if pod.spec.preemption_policy == PREEMPT_NEVER:
            return False, ERR_NOT_ELIGIBLE_NEVER
        nominated = pod.status.nominated_node_name
        if nominated:
            # Preemption cannot help on that node any more: look elsewhere.
            if nominated_node_status == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return True, ""
            ni = snapshot.get(nominated)
            if ni is not None:
                prio = pod_priority(pod)
                for p in ni.pods.values():
                    if (self.is_preemption_allowed(ni, p, pod, prio)
                            and terminating_by_preemption(p.pod)):
                        return False, ERR_NOT_ELIGIBLE_TERMINATING
        return True, ""

    def get_offset_and_num_candidates(self, num_nodes: int) -> tuple[int, int]:
        """Upstream GetOffsetAndNumCandidates: a random start and how many to find."""
        offset = self.rng.randrange(num_nodes) if num_nodes > 0 else 0
        return offset, num_candidates(num_nodes, self.min_candidate_nodes_percentage,
                                      self.min_candidate_nodes_absolute)

    # ---- the seam other preemption policies override (CapacityScheduling's reclaim) -------
    def potential_victims(self, state: CycleState, pod: PodInfo,
                          node_info: NodeInfo) -> list[PodInfo]:
        """The pods on ``node_info`` the dry run may evict for ``pod``, in node order
        (DefaultPreemption: lower priority than the preemptor and ``is_eligible_pod``)."""
        return [p for p in node_info.pods.values()
                if self.is_preemption_allowed(node_info, p, pod.pod, pod.priority)]

    def preemptor_fits(self, fwk: PluginsRunner, state: CycleState, pod: PodInfo,
                       node_info: NodeInfo) -> Status | None:
        """Whether ``pod`` fits the dry run's ``state``/``node_info``: None, or why not
        (DefaultPreemption: every filter, with nominated pods). An override must fail whenever
        the filters fail: the reprieve skips it when NodeResourcesFit would already fail."""
        return fwk.run_filter_with_nominated_pods(state, pod, node_info)

    def select_victims_on_node(self, fwk: PluginsRunner, state: CycleState, pod: PodInfo,
                               node_info: NodeInfo, pdbs: PDBChecker,
                               potential: list[PodInfo] | None = None,
                               ) -> tuple[list[PodInfo], int, Status | None]:
        """Upstream SelectVictimsOnNode; ``state`` and ``node_info`` are mutated (pass clones).
        ``potential``: potential_victims of this node, when the caller has them already.
        Returns (victims most important first, PDB-violating victims, failure status)."""
        if potential is None:
            potential = self.potential_victims(state, pod, node_info)
        else:
            potential = list(potential)  # sorted below: the caller's list stays as it was
        for p in potential:
            node_info.remove_pod(p.uid)
            st = fwk.run_pre_filter_extension_remove_pod(state, pod, p, node_info)
            if st is not None:
                return [], 0, st
        if not potential:
            return [], 0, Status.unresolvable(ERR_NO_VICTIMS)
        # Without every lower-priority pod the preemptor must fit, or this node cannot help.
        # (Affinity to a would-be victim is deliberately not considered, as upstream.)
        st = self.preemptor_fits(fwk, state, pod, node_info)
        if st is not None:
            return [], 0, st
        sort_by_importance(potential, self.clock())
        violating, non_violating = pdbs.split(potential)
        victims: list[PodInfo] = []
        # Most reprieves fail on room alone (PreemptionBasic: three of every four). When
        # NodeResourcesFit runs, a shortfall of cpu, memory, ephemeral storage or pod slots
        # already decides "does not fit", so the filters need not run for that answer.
        nominated = (fwk.nominated_pods_counted(pod, node_info)
                     if self.room_shortcut and fwk.runs_filter(FIT_PLUGIN, state) else None)

        def reprieve(p: PodInfo) -> tuple[bool, Status | None]:
            node_info.add_pod(p)
            err = fwk.run_pre_filter_extension_add_pod(state, pod, p, node_info)
            if err is not None:
                return False, err
            fits = ((nominated is None or not lacks_room(pod, node_info, nominated, ()))
                    and self.preemptor_fits(fwk, state, pod, node_info) is None)
            if not fits:
                node_info.remove_pod(p.uid)
                err = fwk.run_pre_filter_extension_remove_pod(state, pod, p, node_info)
                if err is not None:
                    return False, err
                victims.append(p)
            return fits, None

        num_violating = 0
        for p in violating:
            fits, err = reprieve(p)
            if err is not None:
                return [], 0, err
            if not fits:
                num_violating += 1
        for p in non_violating:
            _, err = reprieve(p)
            if err is not None:
                return [], 0, err
        if violating and non_violating:
            sort_by_importance(victims, self.clock())
        return victims, num_violating, None

    # ---- the algorithm --------------------------------------------------------------------
    def cannot_help(self, fwk: PluginsRunner, state: CycleState, pod: PodInfo,
                    node_info: NodeInfo) -> bool:
        """True only when this node can never be a candidate: it has no potential victim, or
        without every one of them, and with the nominated pods the filters count, the pod's
        pod slot, cpu, memory or ephemeral storage still does not fit (NodeResourcesFit must
        run). Sound, never complete: False says nothing."""
        victims = self.potential_victims(state, pod, node_info)
        return not victims or lacks_room(pod, node_info,
                                         fwk.nominated_pods_counted(pod, node_info), victims)

    def _resource_only(self, fwk: PluginsRunner, state: CycleState, pod: PodInfo) -> bool:
        """Whether a dry run with ``state`` decides fits by room alone: NodeResourcesFit is the
        only filter that runs, no PreFilter extension follows removals, the pod asks for
        nothing but cpu, memory and ephemeral storage, and the policy keeps the default
        preemptor_fits and select_victims_on_node."""
        cls = type(self)
        return (self.room_shortcut
                and cls.preemptor_fits is Evaluator.preemptor_fits
                and cls.select_victims_on_node is Evaluator.select_victims_on_node
                and fwk.filters_run(state) == (FIT_PLUGIN,)
                and not fwk.runs_pre_filter_extensions(state)
                and all(q == 0 or r in _ROOM_RESOURCES for r, q in pod.requests.items()))

    def _select_by_room(self, pod: PodInfo, node_info: NodeInfo, pdbs: PDBChecker,
                        potential: list[PodInfo], nominated: Sequence[PodInfo],
                        ) -> tuple[list[PodInfo], int] | None:
        """select_victims_on_node when _resource_only holds, in integers: no clones, no
        filters. The reprieve order and victims are the general path's (property-tested).
        None when the pod does not fit even with every potential victim gone (the general
        path then gives the status)."""
        alloc = node_info.allocatable
        slots = alloc.get(PODS, 0)
        count = len(node_info.pods) - len(potential) + len(nominated)
        need = [(r, q, alloc.get(r, 0)) for r in _ROOM_RESOURCES
                if (q := pod.requests.get(r, 0)) > 0]
        used = [node_info.requested.get(r, 0) - sum(v.requests.get(r, 0) for v in potential)
                + sum(n.requests.get(r, 0) for n in nominated) for r, _, _ in need]
        if count + 1 > slots or any(q > a - u for (_, q, a), u in zip(need, used, strict=True)):
            return None
        potential = list(potential)
        sort_by_importance(potential, self.clock())
        violating, non_violating = pdbs.split(potential)
        victims: list[PodInfo] = []

        def reprieve(p: PodInfo) -> bool:
            nonlocal count
            back = [p.requests.get(r, 0) for r, _, _ in need]
            if count + 2 <= slots and all(q <= a - u - b for (_, q, a), u, b
                                          in zip(need, used, back, strict=True)):
                count += 1
                for i, b in enumerate(back):
                    used[i] += b
                return True
            victims.append(p)
            return False

        num_violating = sum(1 for p in violating if not reprieve(p))
        for p in non_violating:
            reprieve(p)
        if violating and non_violating:
            sort_by_importance(victims, self.clock())
        return victims, num_violating

    def dry_run_preemption(self, fwk: PluginsRunner, state: CycleState, pod: PodInfo,
                           potential: Sequence[NodeInfo], pdbs: PDBChecker, offset: int,
                           n_candidates: int) -> DryRunResult:
        """Upstream DryRunPreemption, sequential: nodes from ``offset`` on, wrapping around.

        Nodes ``cannot_help`` rules out are not cloned and filtered (most nodes, once a
        cluster is mostly preempted). Skipping them never changes the candidates found, in
        which order, or when the search stops. Their statuses matter only when no candidate
        is found at all; then, and only then, they are computed, so the message and the
        filter evaluations are upstream's."""
        return self._dry_run(fwk, state, pod, potential, pdbs, offset, n_candidates,
                             quick=fwk.runs_filter(FIT_PLUGIN, state))

    def _dry_run(self, fwk: PluginsRunner, state: CycleState, pod: PodInfo,
                 potential: Sequence[NodeInfo], pdbs: PDBChecker, offset: int,
                 n_candidates: int, *, quick: bool) -> DryRunResult:
        # The leading node-only filters passed on every potential node already (each failed a
        # later, resolvable filter) and no eviction changes them: the dry runs skip them.
        state = state.clone()
        state.settled_filters = fwk.settled_filters(state)
        by_room = quick and self._resource_only(fwk, state, pod)
        non_violating: list[Candidate] = []
        violating: list[Candidate] = []
        # Every node visited, in order, with why it is not a candidate (None: skipped by the
        # first pass, or a candidate).
        visited: list[tuple[NodeInfo, Status | None]] = []
        skipped = False
        n = len(potential)
        for i in range(n):
            ni = potential[(offset + i) % n]
            victims: list[PodInfo] | None = None
            cand: Candidate | None = None
            st: Status | None = None
            if quick:
                victims = self.potential_victims(state, pod, ni)
                nominated = fwk.nominated_pods_counted(pod, ni) if victims else []
                if not victims or lacks_room(pod, ni, nominated, victims):
                    visited.append((ni, None))
                    skipped = True
                    continue
                found = self._select_by_room(pod, ni, pdbs, victims, nominated) \
                    if by_room else None
                if found is not None:
                    cand = Candidate(ni.name, found[0], found[1]) if found[0] else None
                    if cand is None:
                        st = _error(f"expected at least one victim pod on node "
                                    f"{json.dumps(ni.name)}")
            if cand is None and st is None:
                cand, st = self._try_node(fwk, state, pod, ni, pdbs, victims)
            visited.append((ni, st))
            if cand is not None:
                target = non_violating if cand.num_pdb_violations == 0 else violating
                if len(target) < n_candidates:
                    target.append(cand)
                if non_violating and len(non_violating) + len(violating) >= n_candidates:
                    break
        out = DryRunResult(candidates=non_violating + violating)
        if skipped and not out.candidates:
            # No candidate anywhere: the loop visited every node; give the skipped ones the
            # status the full dry run gives them.
            visited = [(ni, st if st is not None else self._try_node(fwk, state, pod, ni,
                                                                     pdbs)[1])
                       for ni, st in visited]
        for ni, st in visited:
            if st is None:
                continue
            if st.code == Code.ERROR:
                out.errors.append(st.message())
            out.statuses[ni.name] = st
        return out

    def _try_node(self, fwk: PluginsRunner, state: CycleState, pod: PodInfo, ni: NodeInfo,
                  pdbs: PDBChecker, potential: list[PodInfo] | None = None,
                  ) -> tuple[Candidate | None, Status | None]:
        """(a candidate, None) or (None, why not) for one node, on clones."""
        victims, num_violating, st = self.select_victims_on_node(
            fwk, state.clone(), pod, ni.clone(), pdbs, potential)
        if st is None and victims:
            return Candidate(ni.name, victims, num_violating), None
        if st is None:
            st = _error(f"expected at least one victim pod on node {json.dumps(ni.name)}")
        return None, st

    def select_candidate(self, candidates: Sequence[Candidate]) -> Candidate | None:
        """Upstream SelectCandidate: the best by pickOneNodeForPreemption, or None."""
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        return pick_one_node_for_preemption(candidates, now=self.clock())

    def preempt(self, fwk: PluginsRunner, state: CycleState, pod: PodInfo, diagnosis: Diagnosis,
                snapshot: Snapshot, pdbs: Sequence[PodDisruptionBudget],
                latest: Pod | None = None,
                ) -> tuple[PostFilterResult | None, Status | None, Candidate | None]:
        """Upstream Evaluator.Preempt up to (not including) acting on the chosen candidate.
        ``latest`` is the informer's current version of the pod (its nomination may be newer
        than the one in ``pod``)."""
        current = latest if latest is not None else pod.pod
        resolvable = _resolvable_rows(diagnosis, snapshot)
        nominated_status: Code | None = None
        nominated = current.status.nominated_node_name
        if nominated:
            row = snapshot.table.index.get(nominated)
            nominated_status = (Code.UNSCHEDULABLE if row is not None and row in resolvable
                                else Code.UNSCHEDULABLE_AND_UNRESOLVABLE)
        ok, msg = self.pod_eligible_to_preempt_others(current, snapshot, nominated_status)
        if not ok:
            return None, Status.unschedulable(msg), None

        n_all = snapshot.num_nodes
        if n_all == 0:
            return None, _error(ERR_NO_NODES), None
        candidates: list[Candidate] = []
        statuses: dict[str, Status] = {}
        if resolvable:
            potential = [snapshot.node_infos[r] for r in sorted(resolvable)]
            offset, k = self.get_offset_and_num_candidates(len(potential))
            run = self.dry_run_preemption(fwk, state, pod, potential, PDBChecker(pdbs), offset, k)
            if run.errors and not run.candidates:
                return None, _error(aggregate_errors(run.errors)), None
            candidates, statuses = run.candidates, run.statuses
        if not candidates:
            return PostFilterResult(""), Status.unschedulable(
                no_candidate_message(n_all, statuses)), None
        best = self.select_candidate(candidates)
        if best is None or not best.node_name:
            return None, Status.unschedulable("no candidate node for preemption"), None
        return PostFilterResult(best.node_name), None, best


def no_candidate_message(num_all_nodes: int, statuses: dict[str, Status]) -> str:
    """Upstream FitError.Error() over the dry run's statuses; untried nodes count as
    "Preemption is not helpful for scheduling"."""
    reasons: Counter[str] = Counter()
    for st in statuses.values():
        for r in st.reasons:
            reasons[r] += 1
    d = Diagnosis(num_all_nodes=num_all_nodes, reasons=reasons, evaluated=len(statuses),
                  absent_reason=ERR_NOT_HELPFUL)
    return d.message()
