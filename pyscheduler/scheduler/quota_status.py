"""The ElasticQuota status writer: ``status.used`` as the scheduler counts it, at a bounded rate.

Contract:
* ``QuotaStatusWriter.sync_once()`` computes, for every ElasticQuota the informer holds, the
  used figures the scheduler works with: the requests of the namespace's pods that the cache
  holds (bound and assumed; framework/namespace_usage.py), with every resource named in
  ``spec.min`` or ``spec.max`` present (0 when unused), as scheduler-plugins' controller
  writes them. A quota whose ``status.used`` (as last observed by the informer) already says
  the same numbers gets no call; the others get one merge patch of ``elasticquotas/status``
  carrying ``metadata.uid`` (so a re-created quota of the same name is refused, 422) through the
  ApiDispatcher (``patch_status``), keyed per path so a newer patch replaces a queued one.
* ``run()`` calls ``sync_once`` every ``period`` seconds (default 5): at most one write per
  quota per period, whatever the pod churn, and within the client QPS the dispatcher enforces.
  Upstream's controller reconciles on every pod event instead (docs/CONFIGURATION.md).
* It runs only while this process leads: SchedulerApp starts it with the scheduling loop
  (after the lease is won) and cancels it with it; the dispatcher's write guard fences any
  call after the lease is lost. The figures come from the cache, never from an older status,
  so a new leader corrects whatever a previous one left.
* Kopf is not used for this (docs/ARCHITECTURE.md: why a task on the scheduler's loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from pyscheduler.framework.interfaces import Lister, StatusClient
from pyscheduler.framework.namespace_usage import NamespaceUsage, Resources
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.model.elasticquota import ElasticQuota, parse_resource_list
from pyscheduler.model.quantity import format_quantity

log = structlog.get_logger(__name__)

DEFAULT_PERIOD = 5.0


def desired_used(eq: ElasticQuota, used: Resources) -> Resources:
    """The figures ``status.used`` should hold: ``used``, plus 0 for every resource min or
    max names."""
    out: Resources = {}
    for names in (eq.spec.min, eq.spec.max):
        for name in names or {}:
            out[name] = 0
    out.update(used)
    return out


def _observed(eq: ElasticQuota) -> Resources | None:
    try:
        return parse_resource_list(eq.status.used)
    except ValueError:
        return None  # unparsable: rewrite it


class QuotaStatusWriter:
    """Writes ``status.used`` of every ElasticQuota (see the module contract)."""

    def __init__(self, snapshot: Callable[[], Snapshot], quotas: Lister,
                 dispatcher: StatusClient, *, period: float = DEFAULT_PERIOD) -> None:
        self._snapshot = snapshot
        self._quotas = quotas
        self._dispatcher = dispatcher
        self.period = period
        self.usage = NamespaceUsage()

    def pending_patches(self) -> list[tuple[ElasticQuota, dict[str, Any]]]:
        """(quota, merge patch) for every quota whose observed status differs."""
        self.usage.refresh(self._snapshot())
        out: list[tuple[ElasticQuota, dict[str, Any]]] = []
        for eq in self._quotas.list():
            want = desired_used(eq, self.usage.used.get(eq.metadata.namespace, {}))
            if _observed(eq) == want:
                continue
            used = {name: format_quantity(name, v) for name, v in sorted(want.items())}
            out.append((eq, {"metadata": {"uid": eq.metadata.uid}, "status": {"used": used}}))
        return out

    def sync_once(self) -> int:
        """Submit the patches needed now; how many were submitted."""
        patches = self.pending_patches()
        for eq, patch in patches:
            self._dispatcher.patch_status(
                f"/apis/scheduling.x-k8s.io/v1alpha1/namespaces/{eq.metadata.namespace}/"
                f"elasticquotas/{eq.metadata.name}/status", patch)
        return len(patches)

    async def run(self) -> None:
        """``sync_once`` every ``period`` seconds, until cancelled."""
        while True:
            try:
                n = self.sync_once()
                if n:
                    log.debug("elasticquota status patches submitted", count=n)
            except Exception:  # a bad object must not stop the writer, nor the scheduler
                log.exception("elasticquota status sync failed")
            await asyncio.sleep(self.period)
