"""The API calls VolumeBinding's PreBind makes (upstream: PV and PVC Update).

Contract: both calls send a JSON merge patch carrying ``metadata.resourceVersion``, so the
server applies it only to the version the scheduler decided on (a stale object fails with 409
Conflict, as upstream's Update does); they return the server's answer (the updated object) as
raw JSON bytes. Errors are ``pyscheduler.api.errors.ApiError``s. ``ApiDispatcher`` implements
this Protocol; the framework handle exposes it as ``handle.volume_client``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol


class VolumeClient(Protocol):
    async def patch_persistent_volume(self, name: str, patch: dict[str, Any]) -> bytes:
        """PATCH /api/v1/persistentvolumes/{name} (merge patch); the updated PV."""
        ...

    async def patch_persistent_volume_claim(self, namespace: str, name: str,
                                            patch: dict[str, Any]) -> bytes:
        """PATCH /api/v1/namespaces/{ns}/persistentvolumeclaims/{name}; the updated PVC."""
        ...


if TYPE_CHECKING:
    from pyscheduler.api_dispatcher import ApiDispatcher

    def _check(d: ApiDispatcher) -> VolumeClient:
        """Compile-time conformance: the dispatcher is the production VolumeClient."""
        return d
