"""Quota-aware preemption: who may be reclaimed for whom, on one node or across nodes.

Contract:
* ``QuotaEvaluator`` is DefaultPreemption's ``Evaluator`` (candidates, dry runs, reprieve
  order, PDBs, candidate choice) with the policy parts of scheduler-plugins' preemptor:
  - ``potential_victims``: for a pod whose quota stays within its min with this pod
    (``in_quota``), the pods of *other* namespaces whose quota is over its min (borrowers),
    least important first, each quota only while it is still over its min; for a pod that
    would borrow, the lower-priority pods of its own namespace only; for a pod of a namespace
    without a quota, the lower-priority pods of namespaces without a quota. Pods of
    namespaces without a quota are never victims of a quota'd pod's reclaim. The courtesy
    rule (``is_eligible_pod``) applies on top, as for DefaultPreemption.
  - ``preemptor_fits``: the filters, and then the quota checks of PreFilter (max with
    ``in_quota``, aggregated min with ``in_all``) against the dry run's usage, which the
    PreFilter extensions keep current as victims are removed and reprieved.
  - ``pod_eligible_to_preempt_others``: upstream's (terminating pods on the nominated node, by
    quota), plus: a nominated pod within its min waits while pods of borrowers are terminating
    by preemption anywhere (cross-node reclaim may have evicted them for it), or while another
    nominated pod of its namespace still has preemption calls running: the quota those
    victims free is already claimed, and preempting again would take more than the share.
* ``reclaim_across_nodes`` runs when no single node offers victims that both make room and
  free enough quota (what upstream cannot do): for a pod within its min that only the
  aggregated-min check blocks, it picks a node where the pod fits (with that node's borrower
  pods as local victims if needed, reprieved as usual), then borrower pods on any node, least
  important first and PDB-respecting ones first, until the quota is satisfied. The candidates
  (at most ``num_candidates``, from a random offset) are compared as DefaultPreemption's.
  When none works, the returned message says why, e.g. "reclaim not possible: borrowers on 3
  node(s) hold 1500m cpu, 2 needed".
* ``cycle_state`` is set by the plugin before each ``preempt`` (upstream passes the state to
  its preemptor); it is only read during that call.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import PluginsRunner
from pyscheduler.framework.namespace_usage import NamespaceUsage, Resources
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Code, Status
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.pod import Pod, pod_priority
from pyscheduler.plugins.capacity_scheduling import explain
from pyscheduler.plugins.capacity_scheduling.quota import QuotaInfo, QuotaInfos
from pyscheduler.plugins.capacity_scheduling.state import (
    PreFilterState,
    pre_filter_state,
    quota_snapshot,
)
from pyscheduler.preemption.candidates import Candidate, importance_key, sort_by_importance
from pyscheduler.preemption.evaluator import (
    ERR_NOT_ELIGIBLE_NEVER,
    ERR_NOT_ELIGIBLE_TERMINATING,
    PREEMPT_NEVER,
    Evaluator,
    terminating_by_preemption,
)
from pyscheduler.preemption.pdb import PDBChecker

ERR_NOT_ELIGIBLE_STATE = "not eligible due to failed to read from cycleState"
ERR_NOT_ELIGIBLE_RECLAIMING = "not eligible due to a reclaim still in progress"


def quota_status(state: CycleState, pod: PodInfo) -> Status | None:
    """PreFilter's two checks against the state's (possibly hypothetical) usage."""
    snap, pre = quota_snapshot(state), pre_filter_state(state)
    if snap is None or pre is None:
        return None
    own = snap.infos.get(pod.pod.metadata.namespace)
    if own is None:
        return None
    r = own.over_max_with(pre.in_quota)
    if r is not None:
        return Status.unschedulable(explain.over_max(own, r, pre.in_quota))
    r = snap.infos.aggregated_over_min_with(pre.in_all)
    if r is not None:
        return Status.unschedulable(explain.over_aggregated_min(snap.infos, own, r, pre.in_all))
    return None


def _least_important_first(pods: list[PodInfo], now: float) -> list[PodInfo]:
    return sorted(pods, key=lambda pi: importance_key(pi, now), reverse=True)


@dataclass(slots=True)
class _Context:
    infos: QuotaInfos
    pre: PreFilterState
    own: QuotaInfo


class QuotaEvaluator(Evaluator):
    """The Evaluator with CapacityScheduling's victim policy (see the module contract)."""

    def __init__(self, usage: NamespaceUsage, min_candidate_nodes_percentage: int = 10,
                 min_candidate_nodes_absolute: int = 100, *,
                 rng: random.Random | None = None) -> None:
        super().__init__(min_candidate_nodes_percentage, min_candidate_nodes_absolute, rng=rng)
        self.usage = usage
        self.cycle_state: CycleState | None = None
        # Set by the plugin before each preempt: another pod of the preemptor's namespace has
        # a preemption whose API calls still run (its victims are not terminating yet).
        self.reclaim_in_flight = False
        # Off while cross-node reclaim picks local victims: quota is settled across nodes.
        self.quota_check = True

    # ---- the seam ---------------------------------------------------------------------------
    def potential_victims(self, state: CycleState, pod: PodInfo,
                          node_info: NodeInfo) -> list[PodInfo]:
        """Upstream capacityscheduling SelectVictimsOnNode's choice of potential victims."""
        snap, pre = quota_snapshot(state), pre_filter_state(state)
        if snap is None or pre is None:
            return []
        infos = snap.infos
        ns = pod.pod.metadata.namespace
        pods = _least_important_first(list(node_info.pods.values()), self.clock())

        def eligible(p: PodInfo) -> bool:
            return self.is_eligible_pod(node_info, p, pod.pod)

        own = infos.get(ns)
        if own is None:
            return [p for p in pods if p.pod.metadata.namespace not in infos
                    and p.priority < pod.priority and eligible(p)]
        if own.over_min_with(pre.in_quota) is not None:
            return [p for p in pods if p.pod.metadata.namespace == ns
                    and p.priority < pod.priority and eligible(p)]
        out: list[PodInfo] = []
        left: dict[str, Resources] = {}
        for p in pods:
            pns = p.pod.metadata.namespace
            q = infos.get(pns)
            if q is None or pns == ns or not eligible(p):
                continue
            used = left.setdefault(pns, dict(q.used))
            if any(v > q.min.get(r, 0) for r, v in used.items()):
                out.append(p)
                for r, v in p.requests.items():
                    used[r] = used.get(r, 0) - v
        return out

    def preemptor_fits(self, fwk: PluginsRunner, state: CycleState, pod: PodInfo,
                       node_info: NodeInfo) -> Status | None:
        """The filters, then (unless off) the quota checks on the dry run's usage."""
        st = fwk.run_filter_with_nominated_pods(state, pod, node_info)
        if st is not None or not self.quota_check:
            return st
        return quota_status(state, pod)

    def pod_eligible_to_preempt_others(self, pod: Pod, snapshot: Snapshot,
                                       nominated_node_status: Code | None) -> tuple[bool, str]:
        """Upstream capacityscheduling PodEligibleToPreemptOthers (see the module contract)."""
        if pod.spec.preemption_policy == PREEMPT_NEVER:
            return False, ERR_NOT_ELIGIBLE_NEVER
        state = self.cycle_state
        snap = quota_snapshot(state) if state is not None else None
        pre = pre_filter_state(state) if state is not None else None
        if snap is None or pre is None:
            return False, ERR_NOT_ELIGIBLE_STATE
        nominated = pod.status.nominated_node_name
        if not nominated:
            return True, ""
        if nominated_node_status == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
            return True, ""
        ni = snapshot.get(nominated)
        if ni is None:
            return True, ""
        infos = snap.infos
        ns = pod.metadata.namespace
        prio = pod_priority(pod)
        own = infos.get(ns)
        if own is None:
            for p in ni.pods.values():
                if (p.pod.metadata.namespace not in infos
                        and p.pod.metadata.deletion_timestamp is not None
                        and p.priority < prio):
                    return False, ERR_NOT_ELIGIBLE_TERMINATING
            return True, ""
        more_than_min = own.over_min_with(pre.in_quota) is not None
        for p in ni.pods.values():
            if p.pod.metadata.deletion_timestamp is None:
                continue
            q = infos.get(p.pod.metadata.namespace)
            if q is None:
                continue
            if p.pod.metadata.namespace == ns:
                if p.priority < prio:
                    return False, ERR_NOT_ELIGIBLE_TERMINATING
            elif not more_than_min and q.over_min():
                return False, ERR_NOT_ELIGIBLE_TERMINATING
        if not more_than_min:
            if self.reclaim_in_flight:
                return False, ERR_NOT_ELIGIBLE_RECLAIMING
            for bns, q in infos.items():
                if bns == ns or not q.over_min():
                    continue
                for _, pi in self.usage.pods.get(bns, {}).values():
                    if terminating_by_preemption(pi.pod):
                        return False, ERR_NOT_ELIGIBLE_RECLAIMING
        return True, ""

    # ---- cross-node reclaim ---------------------------------------------------------------
    def _reclaim_context(self, state: CycleState, pod: PodInfo) -> tuple[_Context | None, str]:
        snap, pre = quota_snapshot(state), pre_filter_state(state)
        if snap is None or pre is None:
            return None, ""
        own = snap.infos.get(pod.pod.metadata.namespace)
        if own is None:
            return None, ""
        r = own.over_max_with(pre.in_quota)
        if r is not None:
            return None, explain.reclaim_over_max(own, r, pre.in_quota)
        r = own.over_min_with(pre.in_quota)
        if r is not None:
            return None, explain.reclaim_borrowing(own, r)
        if snap.infos.aggregated_over_min_with(pre.in_all) is None:
            return None, ""  # quota is not what blocks the pod: nothing to reclaim
        return _Context(snap.infos, pre, own), ""

    def _borrower_pool(self, ctx: _Context, pod: PodInfo, snapshot: Snapshot) -> list[PodInfo]:
        pool: list[PodInfo] = []
        for bns, q in ctx.infos.items():
            if bns == ctx.own.namespace or not q.over_min():
                continue
            for node, pi in self.usage.pods.get(bns, {}).values():
                ni = snapshot.get(node)
                if (ni is not None and pi.pod.metadata.deletion_timestamp is None
                        and self.is_eligible_pod(ni, pi, pod.pod)):
                    pool.append(pi)
        return _least_important_first(pool, self.clock())

    def reclaim_across_nodes(self, fwk: PluginsRunner, state: CycleState, pod: PodInfo,
                             snapshot: Snapshot, pdbs: PDBChecker) -> tuple[Candidate | None, str]:
        """A candidate whose victims may be on several nodes, or None and why not (see the
        module contract; "" when reclaim does not apply to this pod)."""
        ctx, why = self._reclaim_context(state, pod)
        if ctx is None:
            return None, why
        pool = self._borrower_pool(ctx, pod, snapshot)
        used, mins = ctx.infos.totals()
        r = ctx.infos.aggregated_over_min_with(ctx.pre.in_all) or ""
        needed = used.get(r, 0) + ctx.pre.in_all.get(r, 0) - mins.get(r, 0)
        held = sum(p.requests.get(r, 0) for p in pool)
        pool_nodes = len({p.pod.spec.node_name for p in pool})
        if held < needed:
            return None, explain.reclaim_shortfall(r, held, pool_nodes, needed)
        nodes = snapshot.node_infos
        offset, k = self.get_offset_and_num_candidates(len(nodes))
        candidates: list[Candidate] = []
        short = ""
        self.quota_check = False
        try:
            for i in range(len(nodes)):
                ni = nodes[(offset + i) % len(nodes)]
                cand, short_here = self._candidate_on(fwk, state, pod, ni, pool, pdbs, r)
                if cand is None:
                    short = short_here or short
                    continue
                candidates.append(cand)
                if len(candidates) >= k:
                    break
        finally:
            self.quota_check = True
        best = self.select_candidate(candidates)
        if best is None:
            return None, short or explain.reclaim_no_fit()
        return best, ""

    def _candidate_on(self, fwk: PluginsRunner, state: CycleState, pod: PodInfo,
                      ni: NodeInfo, pool: list[PodInfo], pdbs: PDBChecker,
                      resource: str) -> tuple[Candidate | None, str]:
        st = state.clone()
        node = ni.clone()
        local: list[PodInfo] = []
        violations = 0
        if fwk.run_filter_with_nominated_pods(st, pod, node) is not None:
            local, violations, status = self.select_victims_on_node(fwk, st, pod, node, pdbs)
            if status is not None:
                return None, ""
        snap = quota_snapshot(st)
        pre = pre_filter_state(st)
        if snap is None or pre is None:
            return None, ""
        infos = snap.infos
        taken = {p.uid for p in local}
        violating, non_violating = pdbs.split([p for p in pool if p.uid not in taken])
        remote: list[PodInfo] = []
        for group, violates in ((non_violating, False), (violating, True)):
            for p in group:
                if infos.aggregated_over_min_with(pre.in_all) is None:
                    break
                q = infos.get(p.pod.metadata.namespace)
                if q is None or not q.over_min():
                    continue
                q.remove_pod(p)
                remote.append(p)
                violations += int(violates)
        r = infos.aggregated_over_min_with(pre.in_all)
        if r is not None:
            used, mins = infos.totals()
            freed = sum(p.requests.get(r, 0) for p in remote + local)
            nodes = len({p.pod.spec.node_name for p in remote + local})
            return None, explain.reclaim_shortfall(
                r, freed, nodes, freed + used.get(r, 0) + pre.in_all.get(r, 0) - mins.get(r, 0))
        victims = local + remote
        if not victims:
            return None, ""
        sort_by_importance(victims, self.clock())
        return Candidate(ni.name, victims, violations), ""
