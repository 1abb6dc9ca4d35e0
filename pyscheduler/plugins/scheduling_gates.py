"""SchedulingGates: a pod with ``spec.schedulingGates`` waits outside the active queue.

Contract (upstream schedulinggates/scheduling_gates.go): PreEnqueue rejects a gated pod with
UnschedulableAndUnresolvable and the message ``waiting for scheduling gates: [g1 g2]`` (Go's %v
of the gate names, in spec order). The only event that can release it is an update of that same
pod removing its last gate (UpdatePodSchedulingGatesEliminated); the hint checks it is the same
pod (upstream registers the event for the target pod only, which is the same thing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyscheduler.framework.interfaces import EnqueueExtensions, Handle, PreEnqueuePlugin
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.status import Status
from pyscheduler.framework.types import (
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    QueueingHint,
    Resource,
)
from pyscheduler.model.pod import Pod

NAME = "SchedulingGates"

ERR_REASON_PREFIX = "waiting for scheduling gates: "


def gated_message(gates: list[str]) -> str:
    return ERR_REASON_PREFIX + "[" + " ".join(gates) + "]"


@dataclass(slots=True)
class SchedulingGates:
    """PreEnqueue and EnqueueExtensions."""

    name: str = NAME

    def pre_enqueue(self, pod: Pod) -> Status | None:
        """Hold the pod back while it has scheduling gates."""
        gates = pod.spec.scheduling_gates
        if not gates:
            return None
        return Status.unresolvable(gated_message([g.name for g in gates]), plugin=NAME)

    def events_to_register(self) -> list[ClusterEventWithHint]:
        """The pod's own last gate removed."""
        return [ClusterEventWithHint(
            ClusterEvent(Resource.POD, ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED),
            self.is_schedulable_after_gates_eliminated,
        )]

    def is_schedulable_after_gates_eliminated(self, pod: Pod, old: Any,
                                              new: Any) -> QueueingHint:
        """Queue when the update is to the gated pod itself."""
        modified: Pod = new
        if modified.metadata.uid == pod.metadata.uid:
            return QueueingHint.QUEUE
        return QueueingHint.SKIP


def new(args: None, handle: Handle) -> SchedulingGates:
    return SchedulingGates()


SPEC = PluginSpec(NAME, new, None)


def _check(p: SchedulingGates) -> tuple[PreEnqueuePlugin, EnqueueExtensions]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p
