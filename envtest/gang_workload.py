"""The competing-gangs workload (issue 16): groups that each fit alone, more of them than the
cluster holds, scheduled through scheduler-plugins' PodGroup API, sampled throughout.

Shared by tests/integration/test_gang_competing.py (pyscheduler) and hack/gang_compare.py
(pyscheduler and scheduler-plugins' own scheduler, side by side).

Contract of :func:`run_competing_gangs`:

* ``groups`` PodGroups (``scheduling.x-k8s.io/v1alpha1``, minMember ``size``) in a fresh
  namespace, on a cluster of 1-cpu nodes with room for ``fit`` groups plus ``spare`` members
  (fewer than a group). Members (1 cpu each, labelled ``scheduling.x-k8s.io/pod-group``) are
  created interleaved, member i of every group before member i+1 of any, so no group arrives
  whole before another starts.
* The API is sampled (a pod list, one consistent read) every ``interval`` seconds until
  ``fit`` groups are fully bound and nothing changed for ``settle`` seconds, or ``timeout``.
  A sample in which a group has 0 < bound < minMember is a *partial sample*.
* ``reserved`` (optional), called right after each API sample, returns the scheduler's own
  reservations per group (members it has assumed or bound; pyscheduler's /debug/cache). A
  partial sample is *explained* when the scheduler then already held minMember members of that
  group: its remaining binds were in flight (binding is one API call per member, so any
  scheduler's group shows 0 < bound < minMember for the length of its bind burst). Every other
  partial sample is a *partial occurrence*: a group bound part-way with nothing reserving the
  rest. Without ``reserved`` every partial sample counts as an occurrence.
* Result: per group, seconds from its PodGroup's creation to the first sample in which it is
  fully bound (None if never), the partial samples and the occurrences, and the final counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from envtest.workload import create_pods, list_pods, pod_manifest

if TYPE_CHECKING:
    from envtest.control_plane import ControlPlane

GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
PODGROUPS = "/apis/scheduling.x-k8s.io/v1alpha1/namespaces/{ns}/podgroups"


@dataclass(slots=True)
class GangRun:
    """What one run of the workload saw (see the module contract)."""

    groups: int
    fit: int
    size: int
    samples: int = 0
    # group -> seconds from its PodGroup's creation to full placement (None: never)
    placed_after: dict[str, float | None] = field(default_factory=dict)
    partial_samples: int = 0
    occurrences: list[tuple[float, str, int]] = field(default_factory=list)  # (t, group, bound)
    final: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def completed(self) -> list[str]:
        return sorted(g for g, t in self.placed_after.items() if t is not None)

    def summary(self) -> str:
        """One line: groups placed, their placement times, the partial counts."""
        times = sorted(t for t in self.placed_after.values() if t is not None)
        shown = ", ".join(f"{t:.2f}" for t in times)
        return (f"{self.groups} groups of {self.size} for room for {self.fit}: "
                f"{len(times)} placed whole (after {shown} s), final bound {self.final}; "
                f"{self.samples} samples, {self.partial_samples} partial samples, "
                f"{len(self.occurrences)} partial occurrences")


def member(group: str, i: int, scheduler_name: str) -> dict[str, Any]:
    """Member ``i`` of ``group``: 1 cpu, the scheduler-plugins group label."""
    return pod_manifest(f"{group}-{i}", scheduler_name=scheduler_name, cpu="1", memory="64Mi",
                        labels={GROUP_LABEL: group})


def _bound(cp: ControlPlane, namespace: str, names: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(names, 0)
    for p in list_pods(cp, namespace):
        g = (p["metadata"].get("labels") or {}).get(GROUP_LABEL)
        if g in counts and p["spec"].get("nodeName"):
            counts[g] += 1
    return counts


def run_competing_gangs(
    cp: ControlPlane, namespace: str, *, groups: int, fit: int, size: int = 4,
    scheduler_name: str = "pyscheduler",
    reserved: Callable[[], dict[str, int]] | None = None,
    interval: float = 0.05, settle: float = 3.0, timeout: float = 120.0,
) -> GangRun:
    """Create the groups and members in ``namespace`` and sample until settled (module doc).
    The nodes are the caller's (room for ``fit`` groups, less than ``fit + 1``)."""
    names = [f"g{i}" for i in range(groups)]
    run = GangRun(groups=groups, fit=fit, size=size)
    created: dict[str, float] = {}
    t0 = time.monotonic()
    for name in names:
        cp.request("POST", PODGROUPS.format(ns=namespace), {
            "apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
            "metadata": {"name": name}, "spec": {"minMember": size}})
        created[name] = time.monotonic()
        run.placed_after[name] = None
    pods = [member(name, i, scheduler_name) for i in range(size) for name in names]
    create_pods(cp, namespace, pods, concurrency=8)
    last: dict[str, int] = {}
    since = time.monotonic()
    deadline = t0 + timeout
    while True:
        counts = _bound(cp, namespace, names)
        now = time.monotonic()
        held = reserved() if reserved is not None else {}
        run.samples += 1
        for name, n in counts.items():
            if n >= size and run.placed_after[name] is None:
                run.placed_after[name] = now - created[name]
            if 0 < n < size:
                run.partial_samples += 1
                if held.get(name, 0) < size:
                    run.occurrences.append((now - t0, name, n))
        if counts != last:
            last, since = counts, now
        done = sum(1 for n in counts.values() if n >= size) >= fit
        if (done and now - since >= settle) or now > deadline:
            break
        time.sleep(interval)
    run.final = last
    run.seconds = time.monotonic() - t0
    return run
