"""Value types of the load pipeline: one node's sample, a node's load, the immutable view.

Contract:
* ``NodeSample`` is what a source reports for one node in one poll: CPU in millicores and
  memory in bytes actually used, the time the sample describes (epoch seconds) and the window
  it averages over (metrics.k8s.io's ``window``; 0 for a Prometheus instant value). A resource
  the source did not report is None.
* ``NodeLoad`` is what plugins read: per resource the latest usage (``avg``) and the population
  standard deviation of the last ``historySize`` samples (``std``), both absolute, and the
  sample's time and window. Upstream Trimaran reads load-watcher's Average/Std; see
  docs/LOAD_AWARE.md for how ours are obtained.
* ``LoadView`` is swapped whole by the poller and never mutated: ``fresh`` holds the nodes
  whose data is usable at the last check, ``stale`` the cluster's nodes that have none (absent
  or older than ``staleAfterSeconds``). ``expires_at`` is when the oldest fresh sample passes
  ``staleAfterSeconds``; the monitor re-checks a view read after it, so no sample is used
  past the threshold. A node in neither (added since the last check) has no
  data either: plugins treat every node not in ``fresh`` alike (request-based fallback).
* ``LoadSourceSpec`` is a plugin's metricProvider as the monitor needs it; equal specs share
  one poller (one per process, whatever the number of plugins and profiles using it).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

KUBERNETES_METRICS_SERVER = "KubernetesMetricsServer"
PROMETHEUS = "Prometheus"
SIGNALFX = "SignalFx"

DEFAULT_POLL_INTERVAL_SECONDS = 30.0  # upstream collector's metricsUpdateIntervalSeconds
DEFAULT_HISTORY_SIZE = 5  # upstream DefaultSmoothingWindowSize: samples behind the std
DEFAULT_PROMETHEUS_NODE_LABEL = "node"
# The kubelet's resource metrics (/metrics/resource), as a Prometheus scraping kubelets (or
# KWOK's emulation of them) stores them; both are absolute: cores and bytes.
DEFAULT_PROMETHEUS_CPU_QUERY = "sum by (node) (rate(node_cpu_usage_seconds_total[1m]))"
DEFAULT_PROMETHEUS_MEMORY_QUERY = "sum by (node) (node_memory_working_set_bytes)"


@dataclass(frozen=True, slots=True)
class NodeSample:
    """One node's usage in one poll (absolute units) and when it was measured."""

    cpu_milli: float | None
    memory_bytes: float | None
    timestamp: float
    window: float = 0.0


@dataclass(frozen=True, slots=True)
class ResourceLoad:
    """Usage of one resource: the latest value and the std over the recent samples."""

    avg: float
    std: float


@dataclass(frozen=True, slots=True)
class NodeLoad:
    """What plugins read for one node (absolute: millicores, bytes)."""

    cpu: ResourceLoad | None
    memory: ResourceLoad | None
    timestamp: float
    window: float = 0.0

    def age(self, now: float) -> float:
        """Seconds between the sample and ``now`` (never negative)."""
        return max(0.0, now - self.timestamp)


def _empty() -> Mapping[str, NodeLoad]:
    return types.MappingProxyType({})


def _empty_times() -> Mapping[str, float]:
    return types.MappingProxyType({})


@dataclass(frozen=True, slots=True, eq=False)
class LoadView:
    """The poller's immutable answer: fresh loads by node name, and the stale node names."""

    fresh: Mapping[str, NodeLoad] = field(default_factory=_empty)
    stale: frozenset[str] = frozenset()
    checked_at: float = 0.0
    # Bumped by the poller with each new view: consumers cache per-view work under it.
    generation: int = 0
    # When the first fresh node's sample passes staleAfterSeconds: a read after this moment
    # re-judges freshness at once instead of waiting for the next poll.
    expires_at: float = float("inf")
    # The latest sample's time of every node with one, fresh or not (why a node is stale).
    latest: Mapping[str, float] = field(default_factory=_empty_times)


EMPTY_VIEW = LoadView()


@dataclass(frozen=True, slots=True)
class LoadSourceSpec:
    """Where and how often to read node load (a plugin's metricProvider, resolved)."""

    provider: str = KUBERNETES_METRICS_SERVER
    address: str = ""
    token: str = ""
    insecure_skip_verify: bool = True
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS
    # 0: three poll intervals (a sample survives two failed polls).
    stale_after_seconds: float = 0.0
    history_size: int = DEFAULT_HISTORY_SIZE
    cpu_query: str = DEFAULT_PROMETHEUS_CPU_QUERY
    memory_query: str = DEFAULT_PROMETHEUS_MEMORY_QUERY
    node_label: str = DEFAULT_PROMETHEUS_NODE_LABEL

    @property
    def stale_after(self) -> float:
        """Seconds after which a node's sample no longer counts."""
        if self.stale_after_seconds > 0:
            return self.stale_after_seconds
        return 3 * self.poll_interval_seconds

    @property
    def label(self) -> str:
        """The value of the ``source`` label on this poller's metrics and log lines."""
        if self.provider == PROMETHEUS:
            return f"{PROMETHEUS}:{self.address}"
        return self.provider


@runtime_checkable
class LoadSourceArgs(Protocol):
    """Plugin args that name a load source (the Trimaran plugins' metricProvider)."""

    def source_spec(self) -> LoadSourceSpec:
        """The LoadSourceSpec these args name."""
        ...


class SourceError(RuntimeError):
    """A poll whose whole answer is unusable (the previous samples stay in force)."""


class MetricsSource(Protocol):
    """Where a LoadMonitor reads node usage from."""

    async def fetch(self) -> dict[str, NodeSample]:
        """Node name -> its latest sample; SourceError when the answer is unusable."""
        ...

    async def close(self) -> None:
        """Release connections (idempotent)."""
        ...


class FixedSource:
    """A source answering the same samples at every fetch (the dry run's one sample)."""

    def __init__(self, samples: Mapping[str, NodeSample]) -> None:
        """A source whose every answer is ``samples``."""
        self._samples = dict(samples)

    async def fetch(self) -> dict[str, NodeSample]:
        """The fixed samples."""
        return dict(self._samples)

    async def close(self) -> None:
        """Nothing to release."""
