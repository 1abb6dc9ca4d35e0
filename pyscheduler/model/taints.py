"""Taints and tolerations (core/v1 helper semantics).

Contract: ``tolerates(toleration, taint)`` is v1.Toleration.ToleratesTaint: an empty effect
matches every effect, an empty key with operator Exists matches every taint, operator "" means
Equal. ``find_untolerated(taints, tolerations, effects)`` returns the first taint with one of
``effects`` that no toleration tolerates (what TaintToleration's filter reports).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pyscheduler.model.node import Taint
from pyscheduler.model.pod import Toleration

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"
PREFER_NO_SCHEDULE = "PreferNoSchedule"


def tolerates(t: Toleration, taint: Taint) -> bool:
    if t.effect and t.effect != taint.effect:
        return False
    if t.key and t.key != taint.key:
        return False
    if t.operator in ("", "Equal"):
        return t.value == taint.value
    return t.operator == "Exists"


def tolerated(taint: Taint, tolerations: Iterable[Toleration]) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


def find_untolerated(
    taints: Sequence[Taint], tolerations: Sequence[Toleration], effects: tuple[str, ...]
) -> Taint | None:
    for taint in taints:
        if taint.effect in effects and not tolerated(taint, tolerations):
            return taint
    return None
