"""Where collections live, and what a Reflector needs to fetch one: no I/O, no client library.

Contract:
- :class:`Resource` names a collection (group/version, plural, namespaced) and builds its URL
  path. The module's constants are the collections the scheduler reads.
- :class:`ListerWatcher` is the protocol the Reflector uses (client-go cache.ListerWatcher).
  api.listwatch implements it over HTTP; the dry run and tests implement it in memory.
  ``watch`` returns an async generator so the consumer can ``aclose()`` it, which closes an
  HTTP stream at once.
- Kept apart from api.listwatch so that code which only names resources (the informer layer,
  the offline dry run) does not load kubernetes-asyncio and aiohttp.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

from pyscheduler.api.types import T, WatchEvent
from pyscheduler.model.meta import ListMeta


@dataclass(slots=True, frozen=True)
class Resource:
    """Where a collection lives: ``group_version`` is "v1" for core, else "group/version"."""

    group_version: str
    plural: str
    namespaced: bool = True

    def collection_path(self, namespace: str | None = None) -> str:
        """URL path of the collection; ``namespace=None`` means all namespaces."""
        prefix = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if self.namespaced and namespace:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"


PODS = Resource("v1", "pods")
NODES = Resource("v1", "nodes", namespaced=False)
PERSISTENT_VOLUME_CLAIMS = Resource("v1", "persistentvolumeclaims")
PERSISTENT_VOLUMES = Resource("v1", "persistentvolumes", namespaced=False)
STORAGE_CLASSES = Resource("storage.k8s.io/v1", "storageclasses", namespaced=False)
CSI_NODES = Resource("storage.k8s.io/v1", "csinodes", namespaced=False)
CSI_DRIVERS = Resource("storage.k8s.io/v1", "csidrivers", namespaced=False)
VOLUME_ATTACHMENTS = Resource("storage.k8s.io/v1", "volumeattachments", namespaced=False)
# scheduler-plugins' CRD (manifests/crds/).
ELASTIC_QUOTAS = Resource("scheduling.x-k8s.io/v1alpha1", "elasticquotas")


class ListerWatcher(Protocol[T]):
    """What the Reflector uses to fetch a collection (client-go cache.ListerWatcher)."""

    async def list(
        self,
        *,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
    ) -> tuple[list[T], ListMeta]: ...

    def watch(
        self,
        *,
        resource_version: str,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
    ) -> AsyncGenerator[WatchEvent[T], None]: ...
