"""The API calls VolumeBinding's PreBind makes (upstream: PV and PVC Update).

Contract: ``VolumeClient`` is framework.interfaces.VolumeClient, which the Handle exposes as
``handle.volume_client``: both calls send a JSON merge patch carrying
``metadata.resourceVersion``, so the server applies it only to the version the scheduler
decided on (a stale object fails with 409 Conflict, as upstream's Update does); they return the
server's answer (the updated object) as raw JSON bytes. Errors are
``pyscheduler.api.errors.ApiError``s. ``ApiDispatcher`` implements it.
"""

from __future__ import annotations

from pyscheduler.framework.interfaces import VolumeClient

__all__ = ["VolumeClient"]
