"""What every preemption PostFilter plugin does around the Evaluator (DefaultPreemption,
CapacityScheduling): read the preemptor's latest version, hand a chosen candidate to the
process-wide executor, and hold a preemptor at PreEnqueue while its calls are in flight.

Contract: ``latest_preemptor`` returns the pod lister's version of the pod (the pod itself
when no pod lister is watched), or None when the lister no longer holds it (upstream fails the
attempt then). ``start_preemption`` clears nothing itself: it passes the lower-priority pods
nominated to the candidate's node to the executor, which clears their nominations and evicts
the victims. ``preemption_in_flight`` is PreEnqueue's check; without an executor (a dry run,
a test) no preemption can be running.
"""

from __future__ import annotations

from pyscheduler.framework.interfaces import Handle, PreemptionCandidate
from pyscheduler.framework.runtime import MissingDependencyError
from pyscheduler.framework.status import Status
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.pod import Pod

ERR_WAITING_FOR_PREEMPTION = "waiting for the preemption for this pod to be finished"
PODS = "pods"


def latest_preemptor(handle: Handle, pod: PodInfo) -> Pod | None:
    """The informer's current version of ``pod`` (see the module contract)."""
    pods = handle.lister(PODS)
    if pods is None:
        return pod.pod
    found: Pod | None = pods.get_by_key(pod.key)
    return found


def start_preemption(handle: Handle, candidate: PreemptionCandidate, preemptor: Pod,
                     priority: int, plugin: str) -> None:
    """Hand ``candidate`` to the executor with the lower-priority pods nominated there."""
    lower = [npi.pod for npi in handle.nominator.nominated_pods_for_node(candidate.node_name)
             if npi.priority < priority]
    handle.preemption_executor.prepare_candidate_async(candidate, preemptor, plugin, lower)


def preemption_in_flight(handle: Handle, pod: Pod, plugin: str) -> Status | None:
    """UnschedulableAndUnresolvable while this preemptor's API calls run, else None."""
    try:
        executor = handle.preemption_executor
    except MissingDependencyError:
        return None
    if executor.is_pod_running_preemption(pod.metadata.uid):
        return Status.unresolvable(ERR_WAITING_FOR_PREEMPTION, plugin=plugin)
    return None
