"""Pods held at Permit (upstream framework/runtime/waiting_pods_map.go).

Contract:
* A ``WaitingPod`` is created when a pod's Permit plugins say Wait, and is resolved once: every
  waiting plugin allows it (the future gets None), or one rejects it (the future gets an
  Unschedulable status naming the plugin). Later allow/reject calls are no-ops.
* ``WaitingPodsMap`` is shared by every profile's Framework (upstream's WithWaitingPods), so a
  plugin or the preemption executor can find a waiting pod whatever profile holds it. It is
  keyed by pod UID and only mutated on the scheduler's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

from pyscheduler.framework.status import Status
from pyscheduler.framework.types import PodInfo


@dataclass(slots=True)
class WaitingPod:
    """A pod held at Permit; plugins allow or reject it through the framework handle."""

    pod_info: PodInfo
    pending: dict[str, float]
    future: asyncio.Future[Status | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def allow(self, plugin: str) -> None:
        """``plugin`` no longer holds the pod; the last one to allow releases it."""
        self.pending.pop(plugin, None)
        if not self.pending and not self.future.done():
            self.future.set_result(None)

    def reject(self, plugin: str, msg: str) -> None:
        """Fail the pod's binding cycle with an Unschedulable status from ``plugin``."""
        if not self.future.done():
            self.future.set_result(Status.unschedulable(msg, plugin=plugin))

    def pending_plugins(self) -> list[str]:
        """Names of the plugins still holding the pod."""
        return sorted(self.pending)


class WaitingPodsMap:
    """UID -> WaitingPod, shared by all profiles."""

    def __init__(self) -> None:
        self._pods: dict[str, WaitingPod] = {}

    def add(self, wp: WaitingPod) -> None:
        """Start tracking ``wp`` (replacing an older entry for the same UID)."""
        self._pods[wp.pod_info.uid] = wp

    def remove(self, uid: str) -> None:
        """Stop tracking the pod (its wait ended)."""
        self._pods.pop(uid, None)

    def get(self, uid: str) -> WaitingPod | None:
        """The waiting pod with this UID, if any."""
        return self._pods.get(uid)

    def __iter__(self) -> Iterator[WaitingPod]:
        return iter(list(self._pods.values()))

    def __len__(self) -> int:
        return len(self._pods)

    def reject(self, uid: str, plugin: str, msg: str) -> bool:
        """Reject the waiting pod with this UID; False if none is waiting."""
        wp = self._pods.get(uid)
        if wp is None:
            return False
        wp.reject(plugin, msg)
        return True
