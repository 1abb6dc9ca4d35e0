"""``--explain NS/NAME``: one pod's attempts in detail, from what the engine itself recorded.

Contract:
* Per attempt (AttemptTrace, recorded by schedule_one with NodeToStatus and the per-plugin
  score breakdown switched on): every node with the first filter plugin that rejected it and
  that plugin's reasons (PreFilter rejections and nodes a PreFilter narrowed away are shown as
  such); the feasible nodes with each score plugin's raw and normalized score, its weight and
  the weighted total, best first; and, for score plugins that implement ``ScoreExplainer``
  (the load-aware ones), the figures each node's score came from, the age of the load sample
  behind them, or why the node was scored by requests instead. ``Explanation.load`` lists the
  run's load sources (dryrun/engine.LoadReport).
* For a failed attempt, ``analyze`` runs right after it (the copy unchanged): each rejected
  node is re-checked with *every* filter (``Framework.run_each_filter``); a node that only one
  plugin rejects gives a suggestion, in that plugin's words when it implements
  ``FilterExplainer`` and in its rejection reasons otherwise. When that rejection is
  resolvable, the preemption evaluator's victim selection on that node (lower-priority pods,
  PDBs respected) says which pods' eviction would free the room. Nodes with the same
  suggestion are grouped. Nothing here knows any plugin by name.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import FilterExplainer, ScoreDetail
from pyscheduler.framework.status import Code
from pyscheduler.framework.types import PodInfo
from pyscheduler.preemption.evaluator import Evaluator
from pyscheduler.preemption.pdb import PDBChecker
from pyscheduler.scheduler.schedule_one import AttemptTrace

MAX_NODES_NAMED = 5


@dataclass(slots=True)
class NodeVerdict:
    node: str
    plugin: str
    reasons: list[str]


@dataclass(slots=True)
class NodeScore:
    node: str
    total: int
    # plugin -> (raw, normalized, weight)
    plugins: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    # plugin -> what it scored this node from (ScoreExplainer plugins only)
    details: dict[str, ScoreDetail] = field(default_factory=dict)


@dataclass(slots=True)
class AttemptView:
    number: int
    outcome: str  # "scheduled on X", "unschedulable", "error: ..."
    rejected: list[NodeVerdict] = field(default_factory=list)
    feasible: list[NodeScore] = field(default_factory=list)
    note: str = ""
    suggestions: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Explanation:
    pod: str
    attempts: list[AttemptView] = field(default_factory=list)
    result: Any = None  # result.PodResult
    load: list[Any] = field(default_factory=list)  # engine.LoadReport, one per load source


def _names(nodes: list[str]) -> str:
    shown = ", ".join(nodes[:MAX_NODES_NAMED])
    more = len(nodes) - MAX_NODES_NAMED
    return shown + (f" and {more} more" if more > 0 else "")


def analyze(app: Any, fwk: Any, pod_info: PodInfo, trace: AttemptTrace) -> list[str]:
    """Suggestions for a failed attempt (module contract); the Analyzer the engine calls."""
    diagnosis = trace.diagnosis
    if diagnosis is None or diagnosis.node_to_status is None:
        return []
    snapshot = app.cache.update_snapshot()
    state = CycleState()
    fwk.run_pre_filter(state, pod_info, snapshot)
    pdb_lister = fwk.lister("poddisruptionbudgets")
    pdbs = PDBChecker(pdb_lister.list() if pdb_lister is not None else [])
    evaluator = Evaluator()
    groups: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for name in sorted(diagnosis.node_to_status):
        ni = snapshot.get(name)
        if ni is None:
            continue
        fails = fwk.run_each_filter(state, pod_info, ni)
        if len(fails) != 1 or fails[0].code == Code.ERROR:
            continue
        st = fails[0]
        plugin = next((p for p in fwk.filter if p.name == st.plugin), None)
        hint = None
        if isinstance(plugin, FilterExplainer):
            hint = plugin.explain_filter(state, pod_info, ni)
        if not hint:
            hint = f"{st.plugin} accepted it ({st.message()})"
        victims: list[str] = []
        if st.code == Code.UNSCHEDULABLE:
            found, _, vst = evaluator.select_victims_on_node(
                fwk, state.clone(), pod_info, ni.clone(), pdbs)
            if vst is None:
                victims = [v.key for v in found]
        groups[hint].append((name, victims))
    out = []
    for hint, nodes in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        names = [n for n, _ in nodes]
        where = names[0] if len(nodes) == 1 else f"{len(nodes)} nodes ({_names(names)})"
        line = f"fits on {where} if {hint}"
        freeing = [(n, v) for n, v in nodes if v]
        if len(freeing) == 1 and len(nodes) == 1:
            line += f" (preempting {', '.join(freeing[0][1])} would free it)"
        elif freeing:
            shown = "; ".join(f"{', '.join(v)} on {n}" for n, v in freeing[:2])
            more = len(freeing) - 2
            line += (f" (preempting lower-priority pods would free it on {len(freeing)} of "
                     f"them, e.g. {shown}" + (f" and {more} more" if more > 0 else "") + ")")
        out.append(line)
    return out


def build(pod_key: str, attempts: list[Any], fwk_weights: dict[str, int],
          result: Any, load: list[Any] | None = None) -> Explanation:
    """The Explanation of the recorded attempts of one pod."""
    ex = Explanation(pod_key, result=result, load=list(load or []))
    for i, att in enumerate(attempts, 1):
        trace: AttemptTrace = att.trace
        view = AttemptView(i, "")
        d = trace.diagnosis
        if trace.error:
            view.outcome = f"error: {trace.error}"
        elif trace.result is not None:
            view.outcome = f"scheduled on {trace.result.suggested_host}"
        else:
            view.outcome = "unschedulable"
            if d is not None:
                view.note = d.message()
        if trace.nominated_node_passed:
            view.note = (f"its nominated node {trace.nominated_node_passed} passed every "
                         "filter, so the other nodes were not evaluated (as upstream)")
        if d is not None:
            if d.pre_filter_msg:
                view.rejected.append(NodeVerdict("(every node)", "PreFilter",
                                                 [d.pre_filter_msg]))
            for node, st in sorted((d.node_to_status or {}).items()):
                view.rejected.append(NodeVerdict(node, st.plugin, list(st.reasons)))
            absent = d.num_all_nodes - d.evaluated
            if absent > 0 and d.absent_reason and not d.pre_filter_msg:
                view.rejected.append(NodeVerdict(f"({absent} other nodes)", "PreFilter",
                                                 [d.absent_reason]))
        view.feasible = _scores(trace, fwk_weights)
        if att.analysis:
            view.suggestions = list(att.analysis)
        ex.attempts.append(view)
    return ex


def _scores(trace: AttemptTrace, weights: dict[str, int]) -> list[NodeScore]:
    rows = []
    for i, node in enumerate(trace.feasible):
        total = trace.totals[i] if i < len(trace.totals) else 0
        ns = NodeScore(node, int(total))
        for plugin, (raw, norm) in trace.plugin_scores.items():
            ns.plugins[plugin] = (int(raw[i]), int(norm[i]), weights.get(plugin, 1))
        for plugin, by_node in trace.score_details.items():
            detail = by_node.get(node)
            if detail is not None:
                ns.details[plugin] = detail
        rows.append(ns)
    rows.sort(key=lambda s: (-s.total, s.node))
    return rows
