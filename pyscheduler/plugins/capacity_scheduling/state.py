"""What CapacityScheduling's PreFilter leaves in the CycleState for AddPod/RemovePod, the dry
runs of preemption and Reserve (upstream PreFilterState and ElasticQuotaSnapshotState).

Contract: ``QuotaSnapshot`` holds the cycle's QuotaInfos and is cloned with the CycleState, so
each dry run changes only its own usage; ``PreFilterState`` is immutable (clone is identity).
``pod_req`` is the pod's requests; ``in_quota`` adds the nominated pods of the same namespace
at equal or higher priority; ``in_all`` adds to that the nominated pods of other namespaces
whose quota is within its min (both as upstream: what the pod must not double-claim).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.namespace_usage import Resources
from pyscheduler.plugins.capacity_scheduling.quota import QuotaInfos

NAME = "CapacityScheduling"
PRE_FILTER_STATE_KEY = "PreFilter" + NAME
SNAPSHOT_KEY = "ElasticQuotaSnapshot"


@dataclass(slots=True)
class QuotaSnapshot:
    infos: QuotaInfos

    def clone(self) -> QuotaSnapshot:
        """A copy with its own usage figures."""
        return QuotaSnapshot(self.infos.clone())


@dataclass(frozen=True, slots=True)
class PreFilterState:
    pod_req: Resources
    in_quota: Resources
    in_all: Resources

    def clone(self) -> PreFilterState:
        """Immutable: shared."""
        return self


def quota_snapshot(state: CycleState) -> QuotaSnapshot | None:
    """The cycle's quota snapshot, or None when PreFilter did not run."""
    s = state.get(SNAPSHOT_KEY)
    return s if isinstance(s, QuotaSnapshot) else None


def pre_filter_state(state: CycleState) -> PreFilterState | None:
    """The cycle's PreFilter state, or None when PreFilter did not run."""
    s = state.get(PRE_FILTER_STATE_KEY)
    return s if isinstance(s, PreFilterState) else None
