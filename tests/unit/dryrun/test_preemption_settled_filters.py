"""Preemption's dry runs skip the leading node-only filters (NodeUnschedulable, NodeName,
TaintToleration, NodeAffinity in the default order): skipping them changes no outcome.

Random clusters with taints, cordons, labels, low-priority pods everywhere and high-priority
pending pods with node selectors, tolerations and nodeName, simulated twice by the dry run's
engine (the default profile, preemption included): once as shipped, once with no filter
settled. Every pod's node, victims and message must be the same.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import msgspec
import pytest

from hack.dryrun_snapshots import as_list, node, pod, priority_class
from pyscheduler.config import parse_config
from pyscheduler.dryrun.engine import DryRunOptions, simulate
from pyscheduler.dryrun.snapshot import load_state
from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.runtime import Framework
from pyscheduler.plugins.registry import new_in_tree_registry

REGISTRY = new_in_tree_registry()
CONFIG = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"


def _cluster(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    items: list[dict[str, Any]] = [priority_class("high", 100)]
    n = rng.randint(3, 8)
    for i in range(n):
        taints = ([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
                  if rng.random() < 0.3 else None)
        nd = node(f"n{i}", rng.choice(["2", "4"]), "8Gi", zone=f"z{i % 2}", taints=taints,
                  labels={"disk": "ssd"} if rng.random() < 0.5 else None)
        if rng.random() < 0.15:
            nd["spec"]["unschedulable"] = True
        items.append(nd)
    for j in range(rng.randint(n, 3 * n)):
        items.append(pod("low", f"l{j}", cpu=rng.choice(["500m", "900m", "1500m"]),
                         node_name=f"n{rng.randrange(n)}", priority=rng.choice([0, 10])))
    for k in range(rng.randint(1, 5)):
        spec: dict[str, Any] = {}
        if rng.random() < 0.4:
            spec["nodeSelector"] = {"disk": "ssd"}
        if rng.random() < 0.4:
            spec["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
        if rng.random() < 0.1:
            spec["nodeName"] = f"n{rng.randrange(n)}"
        items.append(pod("high", f"h{k}", cpu=rng.choice(["1", "2", "3"]), priority=100,
                         priority_class="high", extra_spec=spec))
    return items


def _outcome(items: list[dict[str, Any]]) -> list[tuple[str, str | None, list[Any], str | None]]:
    state = load_state(msgspec.json.encode(as_list(items)), "snapshot")
    sim = asyncio.run(simulate(state, parse_config(CONFIG, plugins=REGISTRY), REGISTRY,
                               DryRunOptions()))
    return [(f"{r.namespace}/{r.name}", r.node, sorted(r.victims), r.message)
            for r in sim.result.pods]


@pytest.mark.parametrize("seed", range(60))
def test_settled_filters_change_no_preemption_outcome(seed: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    items = _cluster(seed)
    shipped = _outcome(items)
    monkeypatch.setattr(Framework, "settled_filters",
                        lambda self, state: frozenset())
    assert _outcome(items) == shipped


def test_default_profile_settles_the_four_node_only_filters() -> None:
    config = parse_config(CONFIG, plugins=REGISTRY)
    from pyscheduler.framework.runtime import FrameworkOptions
    from pyscheduler.scheduler.profile import build_frameworks

    fwk = build_frameworks(config, lambda profile: FrameworkOptions(),
                           registry=REGISTRY)["pyscheduler"]
    assert fwk.settled_filters(CycleState()) == {
        "NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity"}
    skipped = CycleState()
    skipped.skip_filter_plugins.add("NodeName")
    assert fwk.settled_filters(skipped) == {"NodeUnschedulable", "TaintToleration",
                                            "NodeAffinity"}
