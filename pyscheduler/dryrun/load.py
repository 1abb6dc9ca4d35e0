"""The dry run's one load sample, for the load-aware plugins (docs/DRY_RUN.md, "Load").

Contract:
* ``LoadInput`` is what the engine's LoadMetricsHub is built with: a source per LoadSourceSpec
  and the clock freshness and ages are judged by. The engine polls each monitor once, after
  the informers synced and before the first pod, so every pod is scored against that sample.
* ``offline_load(state, now)``: every load source is answered by the snapshot's NodeMetrics
  (whatever provider the plugin args name: the file is the cluster as captured); ages are
  taken at ``now`` (``--now``), else at the snapshot's capture time, else at its newest
  sample's time (then said so). A snapshot without NodeMetrics gives no source: every node is
  scored by requests, and --explain says "no load sample: scored by requests" for each.
* ``live_load(client)``: each source the profile's plugin args name (metrics.k8s.io through
  the aggregator, or Prometheus), fetched once (the answer is kept, so ``--compare-config``
  sees the same sample) with the sample's own timestamps; ages are taken at the moment of the
  first fetch. A failed fetch leaves the monitor without data (every node scored by
  requests), and --explain shows the error.
* ``load_specs(config)``: the distinct load sources a configuration's plugins read (args that
  implement ``LoadSourceArgs``), in profile and plugin order.
* Nothing here imports the Kubernetes client or aiohttp unless ``live_load`` is called.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyscheduler.loadmetrics.types import (
    FixedSource,
    LoadSourceArgs,
    LoadSourceSpec,
    MetricsSource,
    NodeSample,
)
from pyscheduler.model.meta import format_rfc3339

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from pyscheduler.dryrun.snapshot import ClusterState


@dataclass(slots=True)
class LoadInput:
    """Sources and clock of the dry run's load sample (module contract)."""

    source_for: Callable[[LoadSourceSpec], MetricsSource | None]
    clock: Callable[[], float]
    origin: str  # what the sample is, for --explain


class FrozenClock:
    """A clock that reads the wall clock once, at its first call, and then stands still."""

    def __init__(self, now: float | None = None) -> None:
        """Frozen at ``now``, or at the first call when None."""
        self.now = now

    def __call__(self) -> float:
        if self.now is None:
            self.now = time.time()
        return self.now


def offline_load(state: ClusterState, now: float | None) -> LoadInput:
    """The snapshot's NodeMetrics as every source's answer (module contract)."""
    samples: Mapping[str, NodeSample] = state.node_metrics
    if not samples:
        return LoadInput(lambda spec: None, FrozenClock(now or state.captured_at or 0.0),
                         "the snapshot has no NodeMetrics")
    if now is not None:
        at, how = now, f"ages at --now {format_rfc3339(now)}"
    elif state.captured_at is not None:
        at = state.captured_at
        how = f"ages at the capture time {format_rfc3339(at)}"
    else:
        at = max(s.timestamp for s in samples.values())
        how = (f"ages at the newest sample's time {format_rfc3339(at)}: the snapshot records "
               f"no capture time (pass --now)")
    return LoadInput(lambda spec: FixedSource(samples), FrozenClock(at),
                     f"the snapshot's NodeMetrics ({len(samples)} nodes), {how}")


class _OnceSource:
    """A real source fetched once; later fetches answer the same (or fail the same)."""

    def __init__(self, source: MetricsSource) -> None:
        self._source = source
        self._answer: dict[str, NodeSample] | None = None
        self._error: Exception | None = None

    async def fetch(self) -> dict[str, NodeSample]:
        if self._answer is None and self._error is None:
            try:
                self._answer = await self._source.fetch()
            except Exception as err:
                self._error = err
            finally:
                await self._source.close()
        if self._error is not None:
            raise self._error
        assert self._answer is not None
        return dict(self._answer)

    async def close(self) -> None:
        await self._source.close()


def live_load(client: ApiClient) -> LoadInput:
    """Each configured source, sampled once from the live cluster (module contract)."""
    from pyscheduler.loadmetrics.sources import new_source

    made: dict[LoadSourceSpec, MetricsSource | None] = {}

    def source_for(spec: LoadSourceSpec) -> MetricsSource | None:
        if spec not in made:
            src = new_source(spec, client)
            made[spec] = _OnceSource(src) if src is not None else None
        return made[spec]

    return LoadInput(source_for, FrozenClock(), "one sample of each configured source, "
                     "ages at the time it was taken")


def load_specs(config: Any) -> list[LoadSourceSpec]:
    """The distinct load sources ``config``'s enabled plugins read (module contract)."""
    out: list[LoadSourceSpec] = []
    for prof in config.profiles:
        for name in prof.plugin_names:
            args = prof.args.get(name)  # decoded with defaults, pluginConfig or not
            if isinstance(args, LoadSourceArgs):
                spec = args.source_spec()
                if spec not in out:
                    out.append(spec)
    return out


async def sample_live(client: ApiClient, specs: list[LoadSourceSpec]
                      ) -> tuple[dict[str, NodeSample], list[str]]:
    """One sample of each of ``specs`` merged by node (the first spec's sample of a node
    wins), and one line per source that failed (``pyscheduler snapshot``)."""
    from pyscheduler.loadmetrics.sources import new_source
    from pyscheduler.loadmetrics.types import SourceError

    merged: dict[str, NodeSample] = {}
    failures: list[str] = []
    for spec in specs:
        src = new_source(spec, client)
        if src is None:
            continue
        try:
            samples = await src.fetch()
        except SourceError as err:
            failures.append(f"load source {spec.label}: {err}")
            continue
        finally:
            await src.close()
        for node, sample in samples.items():
            merged.setdefault(node, sample)
    return merged, failures
