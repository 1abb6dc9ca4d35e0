"""The status of scheduler-plugins' PodGroups (scheduling.x-k8s.io/v1alpha1).

Contract:
* Computed from the group's member pods in the group's own namespace only (label
  ``scheduling.x-k8s.io/pod-group``; scheduler-plugins' controller lists them across all
  namespaces). Terminal pods count too, so the informer feeding it watches every labelled pod.
* Phases, in order: ``Pending`` (fewer than minMember members exist), ``Scheduling``
  (enough exist, fewer than minMember bound; ``scheduleStartTime`` is set on entering it),
  ``Scheduled`` (minMember bound), ``Running`` (running + succeeded >= minMember), and the final
  ``Finished`` (succeeded >= minMember) or ``Failed`` (some failed, and failed + running +
  succeeded >= minMember). Each is derived from the pods every time, never from the previous
  phase, so a group whose pods all run says Running even if an update was missed (the
  "stays Scheduling" reports, scheduler-plugins #578 and #446).
* ``scheduleStartTime`` is when the group's current scheduling round started: set on leaving
  Pending, and set again when a group that had reached minMember (Scheduled, Running) falls
  short of it (a member lost). The clock of a partly bound group runs from it
  (scheduler/podgroup_timeout.py), so it must say when the group last started to schedule.
* ``occupiedBy`` (scheduler-plugins fillOccupiedObj): on leaving Pending, the owner references
  of the first member (by name) as "namespace/ownerName", sorted, joined with ","; nothing
  when that member has no owner. Kept once written.
* ``running``, ``succeeded`` and ``failed`` count member pods by phase.
* Writes go through the leader-fenced writer, only when something changed, at most once per
  ``interval`` per group.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import structlog

from pyscheduler.framework.interfaces import Lister, StatusClient
from pyscheduler.model import podgroup as pg
from pyscheduler.model.pod import Pod

log = structlog.get_logger(__name__)

PENDING, SCHEDULING, SCHEDULED, RUNNING, FINISHED, FAILED = (
    "Pending", "Scheduling", "Scheduled", "Running", "Finished", "Failed")


def compute_status(group: pg.CoschedulingPodGroup, members: list[Pod],
                   now: str) -> dict[str, Any]:
    """The status ``group`` should have, given all its member pods (terminal ones too)."""
    minimum = max(1, group.spec.min_member)
    running = sum(1 for p in members if p.status.phase == "Running")
    succeeded = sum(1 for p in members if p.status.phase == "Succeeded")
    failed = sum(1 for p in members if p.status.phase == "Failed")
    bound = sum(1 for p in members if p.spec.node_name)
    if succeeded >= minimum:
        phase = FINISHED
    elif failed and failed + running + succeeded >= minimum:
        phase = FAILED
    elif running + succeeded >= minimum:
        phase = RUNNING
    elif bound >= minimum:
        phase = SCHEDULED
    elif len(members) >= minimum:
        phase = SCHEDULING
    else:
        phase = PENDING
    status: dict[str, Any] = {"phase": phase, "running": running, "succeeded": succeeded,
                              "failed": failed}
    start = group.status.schedule_start_time
    if (start is None and phase != PENDING) or (
            phase in (PENDING, SCHEDULING) and group.status.phase in (SCHEDULED, RUNNING)):
        start = now
    if start is not None:
        status["scheduleStartTime"] = start
    occupied = group.status.occupied_by
    if not occupied and phase != PENDING and members:
        occupied = occupied_by(min(members, key=lambda p: p.metadata.name))
    if occupied:
        status["occupiedBy"] = occupied
    return status


def occupied_by(pod: Pod) -> str:
    """scheduler-plugins' occupiedBy for ``pod``: "namespace/ownerName" of each owner
    reference, sorted, joined with ","; "" when it has none."""
    return ",".join(sorted(f"{pod.metadata.namespace}/{ref.name}"
                           for ref in pod.metadata.owner_references))


class PodGroupStatusController:
    """Keeps every scheduler-plugins PodGroup's status equal to ``compute_status``."""

    def __init__(self, groups: Lister, member_pods: Lister, writer: StatusClient,
                 interval: float = 1.0) -> None:
        self.groups = groups
        self.member_pods = member_pods
        self.writer = writer
        self.interval = interval
        # key -> (status sent, when): not sent again while the informer catches up with it
        self._written: dict[str, tuple[dict[str, Any], float]] = {}

    def reconcile_all(self) -> int:
        """One pass over every group; returns how many status patches were sent."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        sent = 0
        seen: set[str] = set()
        for group in self.groups.list():
            m = group.metadata
            key = f"{m.namespace}/{m.name}"
            seen.add(key)
            members: list[Pod] = self.member_pods.by_index(
                pg.POD_GROUP_INDEX, pg.GroupRef(pg.COSCHEDULING, m.namespace, m.name).index_key)
            want = compute_status(group, members, now)
            have = {"phase": group.status.phase, "running": group.status.running,
                    "succeeded": group.status.succeeded, "failed": group.status.failed}
            if group.status.schedule_start_time is not None:
                have["scheduleStartTime"] = group.status.schedule_start_time
            if group.status.occupied_by:
                have["occupiedBy"] = group.status.occupied_by
            if want == have:
                self._written.pop(key, None)
                continue
            last = self._written.get(key)
            if last is not None and last[0] == want and time.monotonic() - last[1] < 10.0:
                continue  # sent a moment ago; a lost write is sent again after 10 s
            self._written[key] = (want, time.monotonic())
            self.writer.patch_status(
                f"/apis/scheduling.x-k8s.io/v1alpha1/namespaces/{m.namespace}/podgroups/"
                f"{m.name}/status", {"status": want})
            sent += 1
        for key in set(self._written) - seen:
            del self._written[key]
        return sent

    async def run(self) -> None:
        """Reconcile every ``interval`` seconds until cancelled."""
        while True:
            try:
                self.reconcile_all()
            except Exception:  # a bad object must not stop the controller
                log.exception("PodGroup status pass failed")
            await asyncio.sleep(self.interval)
