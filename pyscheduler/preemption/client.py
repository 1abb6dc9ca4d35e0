"""What preemption needs from the outside world: API calls and two scheduler hooks.

Contract (the scheduler app implements ``PreemptionClient`` on top of its API dispatcher):
* ``patch_pod_status(pod, patch)``: a strategic-merge patch of ``pods/<name>/status`` (the body
  is ``{"status": {...}}``). Raises ``pyscheduler.api.errors.NotFoundError`` when the pod is
  gone; any other failure raises too (after the dispatcher's own retries).
* ``delete_pod(pod)``: DELETE with a UID precondition (``preconditions.uid``), so a pod
  re-created under the same name is never deleted by mistake. Same error contract.
* ``clear_nominated_node_name(pod)``: patch ``status.nominatedNodeName`` away (upstream's
  clearNominatedNodeName) and forget the in-memory nomination at once, as upstream's API cacher
  does, so the pod stops counting on that node before its informer update arrives.
* ``record_event(regarding, related, type_, reason, action, note)``: an events.k8s.io/v1 Event,
  fire and forget (never raises).
* ``reject_waiting_pod(uid, plugin, message)``: if a pod with this UID is held at Permit, reject
  it (it then fails its binding cycle) and return True; otherwise False. Upstream rejects such
  victims instead of deleting them.
* ``activate(pod)``: move the preemptor to activeQ now (upstream Handle.Activate), used when its
  preemption calls failed so it does not wait in the unschedulable pool for an event that will
  not come.
"""

from __future__ import annotations

from typing import Any, Protocol

from pyscheduler.model.pod import Pod


class PreemptionClient(Protocol):
    async def patch_pod_status(self, pod: Pod, patch: dict[str, Any]) -> None:
        """Strategic-merge patch of the victim's status (DisruptionTarget)."""
        ...

    async def delete_pod(self, pod: Pod) -> None:
        """Delete the pod with a UID precondition; raises the final error."""
        ...

    async def clear_nominated_node_name(self, pod: Pod) -> None:
        """Drop the pod's nomination in memory and, if set, on its status."""
        ...

    def record_event(self, regarding: Pod, related: Pod | None, type_: str, reason: str,
                     action: str, note: str) -> None:
        """Emit an Event regarding ``regarding``, related to ``related``."""
        ...

    def reject_waiting_pod(self, uid: str, plugin: str, message: str) -> bool:
        """Reject the pod held at Permit with this UID; False if none."""
        ...

    def activate(self, pod: Pod) -> None:
        """Upstream Handle.Activate: move the pod to activeQ now."""
        ...
