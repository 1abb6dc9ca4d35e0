"""The dry run explains elastic-quota decisions (issue 17) with the messages `run` writes.

docs/QUOTAS.md's two-teams example as a snapshot: 4 nodes x 5 cpu, 4 cpu used by a namespace
without a quota, team-a (min 8, max 16 cpu) borrowing 8 of team-b's cpu, team-b submitting 8
one-cpu pods and a 9-cpu pod. Every pod also requests memory, which the cpu-only quotas do not
govern (quota.py's contract).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from hack.dryrun_snapshots import as_list, node, pod
from pyscheduler.config import parse_config
from pyscheduler.dryrun.engine import DryRunOptions, simulate
from pyscheduler.dryrun.snapshot import load_state
from pyscheduler.plugins.registry import new_in_tree_registry

SCHEDULER = "pyscheduler-quota"
CONFIG = f"""
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - schedulerName: {SCHEDULER}
    plugins:
      multiPoint:
        enabled: [{{name: CapacityScheduling}}]
        disabled: [{{name: DefaultPreemption}}]
"""


def _quota(ns: str, min_cpu: str, max_cpu: str) -> dict[str, Any]:
    return {"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "ElasticQuota",
            "metadata": {"name": ns, "namespace": ns, "uid": f"eq-{ns}",
                         "resourceVersion": "1"},
            "spec": {"min": {"cpu": min_cpu}, "max": {"cpu": max_cpu}}}


REGISTRY = new_in_tree_registry()


def _run(items: list[dict[str, Any]]) -> dict[str, Any]:
    state = load_state(msgspec.json.encode(as_list(items)), "snapshot")
    config = parse_config(CONFIG, plugins=REGISTRY)
    sim = asyncio.run(simulate(state, config, REGISTRY, DryRunOptions()))
    return {f"{r.namespace}/{r.name}": r for r in sim.result.pods}


def _two_teams(team_b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items = [node(f"n{i}", "5", "32Gi", zone="a") for i in range(4)]
    items += [_quota("team-a", "8", "16"), _quota("team-b", "8", "16")]
    items += [pod("other", f"sys-{i}", cpu="1", node_name=f"n{i}", scheduler=SCHEDULER)
              for i in range(4)]
    items += [pod("team-a", f"a-{i:02d}", cpu="1", node_name=f"n{i % 4}", scheduler=SCHEDULER)
              for i in range(16)]
    return items + team_b


def test_reclaim_takes_back_exactly_the_guarantee_from_the_borrower_only() -> None:
    team_b = [pod("team-b", f"b-{i}", cpu="1", scheduler=SCHEDULER) for i in range(8)]
    out = _run(_two_teams(team_b))
    victims = [v for r in out.values() for v in r.victims]
    assert all(out[f"team-b/b-{i}"].node for i in range(8))
    assert len(victims) == len(set(victims)) == 8
    assert {ns for ns, _ in victims} == {"team-a"}


def test_over_max_stays_pending_with_the_quota_and_figures() -> None:
    out = _run(_two_teams([pod("team-b", "big", cpu="17", scheduler=SCHEDULER)]))
    msg = out["team-b/big"].message or ""
    assert out["team-b/big"].node is None and out["team-b/big"].victims == []
    assert "quota team-b: cpu used 0 + 17 > max 16" in msg
    assert "reclaim not possible: quota team-b: cpu used 0 + 17 > max 16" in msg


def test_borrowing_pod_is_told_why_nothing_was_reclaimed() -> None:
    out = _run(_two_teams([pod("team-b", "nine", cpu="9", scheduler=SCHEDULER)]))
    msg = out["team-b/nine"].message or ""
    assert out["team-b/nine"].node is None
    assert ("quota team-b: cpu used 0 + 9 > min 8 would borrow 1, but other quotas leave 0 of "
            "their min unused (total used 16 + 9 > total min 16)") in msg
    assert ("reclaim not possible: quota team-b would be above its min for cpu, so only "
            "lower-priority pods of namespace team-b may be preempted") in msg


def test_ungoverned_memory_neither_rejects_nor_makes_a_borrower() -> None:
    """team-a within its cpu min, using memory its quota does not name, is not a borrower, and
    team-b's memory-requesting pods are admitted without reclaiming anything."""
    items = [node(f"n{i}", "5", "32Gi", zone="a") for i in range(2)]
    items += [_quota("team-a", "4", "8"), _quota("team-b", "4", "8")]
    items += [pod("team-a", f"a-{i}", cpu="1", memory="4Gi", node_name=f"n{i % 2}",
                  scheduler=SCHEDULER) for i in range(4)]
    items += [pod("team-b", f"b-{i}", cpu="1", memory="1Gi", scheduler=SCHEDULER)
              for i in range(4)]
    out = _run(items)
    assert all(out[f"team-b/b-{i}"].node and not out[f"team-b/b-{i}"].victims
               for i in range(4))
