"""Per-attempt scratch space shared by the plugins of one scheduling cycle.

Contract: a CycleState lives for one scheduling attempt of one pod. Plugins store what PreFilter
or PreScore computed under their own key and read it back in Filter/Score. ``clone()`` is shallow
over values that implement ``clone()`` (upstream StateData.Clone): preemption and nominated-pod
evaluation mutate clones, never the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class StateData(Protocol):
    def clone(self) -> StateData:
        """Upstream StateData.Clone: a copy the clone's owner may mutate freely."""
        ...


@dataclass(slots=True)
class CycleState:
    _data: dict[str, Any] = field(default_factory=dict)
    # Plugins whose PreFilter/PreScore returned Skip: their Filter/Score is not run.
    skip_filter_plugins: set[str] = field(default_factory=set)
    skip_score_plugins: set[str] = field(default_factory=set)
    # Filters known to pass on every node this state is used for (preemption's dry runs set
    # it from PluginsRunner.settled_filters): not run.
    settled_filters: frozenset[str] = frozenset()
    # Set during the binding cycle; True when the pod was nominated for a node before.
    record_plugin_metrics: bool = True

    def read(self, key: str) -> Any:
        """The value stored under key; KeyError when the PreFilter did not run."""
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` when nothing is."""
        return self._data.get(key, default)

    def write(self, key: str, value: Any) -> None:
        """Upstream CycleState.Write: store ``value`` under ``key``, replacing any."""
        self._data[key] = value

    def delete(self, key: str) -> None:
        """Upstream CycleState.Delete: remove ``key``; a no-op when absent."""
        self._data.pop(key, None)

    def clone(self) -> CycleState:
        """Upstream CycleState.Clone: values with ``clone()`` cloned, others shared."""
        data = {k: (v.clone() if hasattr(v, "clone") else v) for k, v in self._data.items()}
        return CycleState(
            data, set(self.skip_filter_plugins), set(self.skip_score_plugins),
            self.settled_filters, self.record_plugin_metrics,
        )
