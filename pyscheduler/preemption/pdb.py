"""PodDisruptionBudget accounting for preemption (upstream filterPodsWithPDBViolation).

Contract:
* ``PDBChecker(pdbs)`` compiles every budget's selector once per preemption attempt; ``split``
  can then be called per candidate node.
* ``split(pods)`` partitions ``pods`` (in the given order, so an importance-sorted input stays
  sorted) into ``(violating, non_violating)``: walking the pods in order, each budget that
  matches a pod is charged one disruption, and a pod is violating when any matching budget's
  ``disruptionsAllowed`` went below zero. Budgets start from their ``status.disruptionsAllowed``
  on every call (each node's dry run is independent).
* A budget matches a pod when it is in the pod's namespace and its selector is valid, not empty
  and selects the pod's labels; a pod without labels matches nothing. A pod listed in the
  budget's ``status.disruptedPods`` (by name) is not charged: the API server already counted
  its eviction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyscheduler.framework.types import PodInfo
from pyscheduler.model.pdb import PodDisruptionBudget
from pyscheduler.model.pod import LabelSelector
from pyscheduler.model.selectors import LabelMatcher, compile_label_selector

_SET_OPS = ("In", "NotIn")
_EXISTS_OPS = ("Exists", "DoesNotExist")


def _selector_usable(sel: LabelSelector | None) -> bool:
    """Whether metav1.LabelSelectorAsSelector would give a non-empty, error-free selector."""
    if sel is None:
        return False
    if not sel.match_labels and not sel.match_expressions:
        return False  # selects everything, which preemption treats as matching nothing
    for r in sel.match_expressions:
        if r.operator in _SET_OPS:
            if not r.values:
                return False
        elif r.operator in _EXISTS_OPS:
            if r.values:
                return False
        else:
            return False
    return True


@dataclass(frozen=True, slots=True)
class _Budget:
    index: int
    allowed: int
    matches: LabelMatcher
    disrupted: frozenset[str]


class PDBChecker:
    __slots__ = ("_by_namespace", "_n")

    def __init__(self, pdbs: Sequence[PodDisruptionBudget]) -> None:
        self._by_namespace: dict[str, list[_Budget]] = {}
        self._n = len(pdbs)
        for i, pdb in enumerate(pdbs):
            sel = pdb.spec.selector
            if not _selector_usable(sel):
                continue
            self._by_namespace.setdefault(pdb.metadata.namespace, []).append(_Budget(
                i, pdb.status.disruptions_allowed, compile_label_selector(sel),
                frozenset(pdb.status.disrupted_pods),
            ))

    def __bool__(self) -> bool:
        return bool(self._by_namespace)

    def split(self, pods: Sequence[PodInfo]) -> tuple[list[PodInfo], list[PodInfo]]:
        """Upstream filterPodsWithPDBViolation: (violating, non-violating), input order."""
        if not self._by_namespace:
            return [], list(pods)
        allowed: dict[int, int] = {}
        violating: list[PodInfo] = []
        non_violating: list[PodInfo] = []
        for pi in pods:
            meta = pi.pod.metadata
            violated = False
            budgets = self._by_namespace.get(meta.namespace)
            if budgets and meta.labels:
                for b in budgets:
                    if not b.matches(meta.labels) or meta.name in b.disrupted:
                        continue
                    left = allowed.get(b.index, b.allowed) - 1
                    allowed[b.index] = left
                    if left < 0:
                        violated = True
            (violating if violated else non_violating).append(pi)
        return violating, non_violating
