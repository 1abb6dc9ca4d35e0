"""Fake plugins for config tests: one per upstream default, implementing upstream's points.

The registry built here is passed explicitly to ``parse_config(plugins=...)`` so the tests do
not depend on (or pollute) the global registry that the in-tree plugins fill.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from pyscheduler.framework.registry import PluginSpec

# Which points each default plugin implements upstream (for multiPoint expansion tests).
UPSTREAM_POINTS: dict[str, tuple[str, ...]] = {
    "SchedulingGates": ("preEnqueue",),
    "PrioritySort": ("queueSort",),
    "NodeUnschedulable": ("filter",),
    "NodeName": ("filter",),
    "TaintToleration": ("filter", "preScore", "score"),
    "NodeAffinity": ("preFilter", "filter", "preScore", "score"),
    "NodePorts": ("preFilter", "filter"),
    "NodeResourcesFit": ("preFilter", "filter", "preScore", "score"),
    "VolumeRestrictions": ("preFilter", "filter"),
    "NodeVolumeLimits": ("preFilter", "filter"),
    "VolumeBinding": ("preFilter", "filter", "reserve", "preBind", "preScore", "score"),
    "VolumeZone": ("preFilter", "filter"),
    "PodTopologySpread": ("preFilter", "filter", "preScore", "score"),
    "InterPodAffinity": ("preFilter", "filter", "preScore", "score"),
    "DefaultPreemption": ("postFilter",),
    "NodeResourcesBalancedAllocation": ("preScore", "score"),
    "ImageLocality": ("score",),
    "DefaultBinder": ("bind",),
}


def _method_table() -> dict[str, dict[str, Any]]:
    def ret_none(self: Any, *a: Any) -> None:
        return None

    def ret_pair(self: Any, *a: Any) -> tuple[None, None]:
        return None, None

    def less(self: Any, a: Any, b: Any) -> bool:
        return False

    def score(self: Any, *a: Any) -> int:
        return 0

    def permit(self: Any, *a: Any) -> tuple[None, float]:
        return None, 0.0

    async def coro(self: Any, *a: Any) -> None:
        return None

    return {
        "preEnqueue": {"pre_enqueue": ret_none},
        "queueSort": {"less": less},
        "preFilter": {"pre_filter": ret_pair, "pre_filter_extensions": ret_none},
        "filter": {"filter": ret_none},
        "postFilter": {"post_filter": ret_pair},
        "preScore": {"pre_score": ret_none},
        "score": {"score": score},
        "reserve": {"reserve": ret_none, "unreserve": ret_none},
        "permit": {"permit": permit},
        "preBind": {"pre_bind": coro},
        "bind": {"bind": coro},
        "postBind": {"post_bind": ret_none},
    }


_METHODS = _method_table()


def make_plugin_class(name: str, points: tuple[str, ...]) -> type:
    ns: dict[str, Any] = {"name": name}
    for p in points:
        ns.update(_METHODS[p])

    def __init__(self: Any, args: Any = None, handle: Any = None) -> None:
        self.args = args

    ns["__init__"] = __init__
    return type(name, (), ns)


class ResourceSpec(msgspec.Struct, rename="camel"):
    name: str = ""
    weight: int = 1


class ScoringStrategy(msgspec.Struct, rename="camel"):
    type: Literal["LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"] = (
        "LeastAllocated"
    )
    resources: list[ResourceSpec] = msgspec.field(
        default_factory=lambda: [ResourceSpec("cpu", 1), ResourceSpec("memory", 1)]
    )


class NodeResourcesFitArgs(msgspec.Struct, rename="camel"):
    """Upstream-shaped NodeResourcesFitArgs (fields the example configs use)."""

    ignored_resources: list[str] = []
    ignored_resource_groups: list[str] = []
    scoring_strategy: ScoringStrategy = msgspec.field(default_factory=ScoringStrategy)

    def validate(self) -> None:
        errs = []
        for i, r in enumerate(self.scoring_strategy.resources):
            if not 1 <= r.weight <= 100:
                errs.append(f"scoringStrategy.resources[{i}].weight: Invalid value: "
                            f"{r.weight}: resource weight of {r.name} should be in the "
                            "range [1, 100]")
        if errs:
            raise ValueError("\n".join(errs))


class DefaultPreemptionArgs(msgspec.Struct, rename="camel"):
    min_candidate_nodes_percentage: int = 10
    min_candidate_nodes_absolute: int = 100

    def validate(self) -> None:
        if not 0 <= self.min_candidate_nodes_percentage <= 100:
            raise ValueError(f"minCandidateNodesPercentage: Invalid value: "
                             f"{self.min_candidate_nodes_percentage}: not in valid range [0, 100]")


class PrioritySortArgs(msgspec.Struct, rename="camel"):
    """Not upstream: lets tests give the queueSort plugin args."""

    reverse: bool = False


ARGS_TYPES: dict[str, type[Any]] = {
    "NodeResourcesFit": NodeResourcesFitArgs,
    "DefaultPreemption": DefaultPreemptionArgs,
    "PrioritySort": PrioritySortArgs,
}

CLASSES: dict[str, type] = {n: make_plugin_class(n, pts) for n, pts in UPSTREAM_POINTS.items()}


def spec(name: str, points: tuple[str, ...], args_type: type[Any] | None = None) -> PluginSpec:
    cls = make_plugin_class(name, points)
    return PluginSpec(name, lambda args, handle: cls(args, handle), args_type)


def fake_registry(**extra: PluginSpec) -> dict[str, PluginSpec]:
    reg: dict[str, PluginSpec] = {}
    for name, cls in CLASSES.items():
        reg[name] = PluginSpec(name, _factory(cls), ARGS_TYPES.get(name))
    reg.update(extra)
    return reg


def _factory(cls: type) -> Any:
    return lambda args, handle: cls(args, handle)


def instantiate(profile: Any) -> dict[str, Any]:
    """What the framework runtime does: build every plugin of a profile with its args."""
    return {
        name: profile.specs[name].factory(profile.args.get(name), None)
        for name in profile.plugin_names
    }
