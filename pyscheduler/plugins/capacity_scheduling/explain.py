"""The words CapacityScheduling says: why a pod was not admitted, why nothing was reclaimed.

Contract: every message names the quota (by namespace, the key upstream uses), the resource
and the figures, in the form ``format_quantity`` prints (cpu in cores or millicores, bytes with
binary suffixes), e.g. "quota team-a: cpu used 6 + 2 > max 7". The message constants are the
greppable parts tests share.
"""

from __future__ import annotations

from pyscheduler.framework.namespace_usage import Resources
from pyscheduler.model.quantity import format_quantity
from pyscheduler.plugins.capacity_scheduling.quota import QuotaInfo, QuotaInfos

ERR_NO_VICTIMS = "No victims found on node for preemptor pod"
ERR_QUOTA_STILL_EXCEEDED = "quota still exceeded after removing every possible victim"
RECLAIM_NOT_POSSIBLE = "reclaim not possible"


def q(resource: str, value: int) -> str:
    """A figure as users read it."""
    return format_quantity(resource, value)


def over_max(eq: QuotaInfo, resource: str, req: Resources) -> str:
    """PreFilter's rejection for a pod that would take its quota above max."""
    assert eq.max is not None
    return (f"quota {eq.namespace}: {resource} used {q(resource, eq.used.get(resource, 0))} + "
            f"{q(resource, req[resource])} > max {q(resource, eq.max[resource])}")


def over_aggregated_min(infos: QuotaInfos, eq: QuotaInfo, resource: str,
                        req: Resources) -> str:
    """PreFilter's rejection when sum(used) + request > sum(min): either the pod would borrow
    more than the other quotas leave unused of their min, or (within its own min) what it is
    guaranteed is held by borrowers and must be reclaimed."""
    used, mins = infos.totals()
    r = resource
    total = (f"total used {q(r, used.get(r, 0))} + {q(r, req[r])} > "
             f"total min {q(r, mins.get(r, 0))}")
    own_used, own_min = eq.used.get(r, 0), eq.min.get(r, 0)
    if own_used + req[r] <= own_min:
        return (f"quota {eq.namespace}: {r} {total}; within its min {q(r, own_min)}, "
                f"the rest is borrowed by other quotas")
    others_unused = (mins.get(r, 0) - own_min) - (used.get(r, 0) - own_used)
    return (f"quota {eq.namespace}: {r} used {q(r, own_used)} + {q(r, req[r])} > min "
            f"{q(r, own_min)} would borrow {q(r, own_used + req[r] - own_min)}, but other "
            f"quotas leave {q(r, max(others_unused, 0))} of their min unused ({total})")


def reclaim_shortfall(resource: str, held: int, nodes: int, needed: int) -> str:
    """Why cross-node reclaim found no set of victims that frees enough."""
    return (f"{RECLAIM_NOT_POSSIBLE}: borrowers on {nodes} node(s) hold "
            f"{q(resource, held)} {resource}, {q(resource, needed)} needed")


def reclaim_over_max(eq: QuotaInfo, resource: str, req: Resources) -> str:
    """Reclaim cannot help a pod whose own quota's max is the limit."""
    return f"{RECLAIM_NOT_POSSIBLE}: {over_max(eq, resource, req)}"


def reclaim_borrowing(eq: QuotaInfo, resource: str) -> str:
    """A borrowing pod may only preempt lower-priority pods of its own namespace."""
    return (f"{RECLAIM_NOT_POSSIBLE}: quota {eq.namespace} would be above its min for "
            f"{resource}, so only lower-priority pods of namespace {eq.namespace} may be "
            f"preempted")


def reclaim_no_fit() -> str:
    """No node would take the pod even with every borrower pod on it gone."""
    return f"{RECLAIM_NOT_POSSIBLE}: no node fits the pod even without the borrowers' pods on it"
