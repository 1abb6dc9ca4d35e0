"""DefaultBinder: bind the pod to the chosen node through the API (POST pods/binding).

Contract (upstream defaultbinder/default_binder.go): Bind calls the handle's ``binding_client``
(framework.interfaces.BindingClient; the scheduler supplies one that goes through the
rate-limited API dispatcher). Success is ``None``; any exception becomes an Error
status carrying it, which the binding cycle turns into forget + requeue (or drop when the pod
is gone). The plugin never retries by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import BindPlugin, Handle
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.status import Status
from pyscheduler.framework.types import PodInfo

NAME = "DefaultBinder"


@dataclass(slots=True)
class DefaultBinder:
    """Bind."""

    handle: Handle
    name: str = NAME

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """Bind through the handle's binding client; errors become Error statuses."""
        try:
            await self.handle.binding_client.bind(pod.pod, node_name)
        except Exception as err:  # the API layer's errors are reported, never raised further
            return Status.as_error(err, NAME)
        return None


def new(args: None, handle: Handle) -> DefaultBinder:
    return DefaultBinder(handle)


SPEC = PluginSpec(NAME, new, None)


def _check(p: DefaultBinder) -> BindPlugin:
    """Compile-time conformance: mypy checks the plugin against the Protocol."""
    return p
