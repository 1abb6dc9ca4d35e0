"""multiPoint expansion: a profile's merged plugin sets -> the plugins to run at each extension
point (upstream framework/runtime's expandMultiPointPlugins and the checks NewFramework makes).

Contract: which extension points a plugin implements is only known from an instance (a
PluginSpec factory is usually a plain function), so framework construction instantiates
``profile.plugin_names`` with ``profile.args`` first and then calls ``expand(profile,
instances)``. ``expand_all`` does that for every profile and also checks that all profiles
resolved to the same queueSort plugin with the same args. Errors are ``ConfigError`` naming
the configuration field, so a caller that hot-swaps configurations keeps its previous one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from pyscheduler.config import defaults
from pyscheduler.config.load import ProfileConfig, SchedulerConfig
from pyscheduler.config.validation import ConfigError, invalid, required
from pyscheduler.framework.interfaces import Plugin
from pyscheduler.framework.runtime import implemented_points


def expand(profile: ProfileConfig, instances: Mapping[str, Plugin]) -> dict[str, list[str]]:
    """Per extension point, the ordered plugin names to run (upstream expandMultiPointPlugins).

    For each point: plugins enabled explicitly there that also come from multiPoint first (the
    user re-configured them), then multiPoint plugins that implement the point and are not
    disabled there, then the rest of the explicit ones. ``disabled: "*"`` at a point stops
    multiPoint from adding anything to it. Raises ConfigError when a plugin is enabled at a
    point it does not implement, when no or several queueSort plugins result, or when no bind
    plugin does.
    """
    path = f"profiles[{profile.index}].plugins"
    errors: list[str] = []
    implements: dict[str, set[str]] = {}
    for name in profile.plugin_names:
        inst = instances.get(name)
        if inst is None:
            errors.append(required(f"{path}", f"plugin {name!r} was not instantiated"))
            continue
        if getattr(inst, "name", None) != name:
            # weights and diagnostics are keyed by the instance's name (upstream checks too)
            errors.append(invalid(path, name, f"plugin factory returned a plugin named "
                                              f"{getattr(inst, 'name', None)!r}"))
            continue
        implements[name] = set(implemented_points(inst))
    if errors:
        raise ConfigError(errors)

    multi = profile.plugins.get(defaults.MULTI_POINT).enabled
    out: dict[str, list[str]] = {}
    for point in defaults.EXTENSION_POINTS:
        ps = profile.plugins.get(point)
        explicit: list[str] = []
        for e in ps.enabled:
            if point not in implements[e.name]:
                errors.append(invalid(e.path or f"{path}.{point}", e.name,
                                      f"plugin does not implement {point}"))
            elif e.name not in explicit:
                explicit.append(e.name)
        disabled = ps.disabled_names()
        if "*" in disabled:
            out[point] = explicit
            continue
        overrides: set[str] = set()
        from_multi: list[str] = []
        for e in multi:
            if point not in implements[e.name] or e.name in disabled:
                continue
            if e.name in explicit:
                overrides.add(e.name)
            elif e.name not in from_multi:
                from_multi.append(e.name)
        out[point] = (
            [n for n in explicit if n in overrides]
            + from_multi
            + [n for n in explicit if n not in overrides]
        )
    if len(out["queueSort"]) != 1:
        errors.append(invalid(f"{path}.queueSort", out["queueSort"],
                              "exactly one queueSort plugin must be enabled"))
    if not out["bind"]:
        errors.append(required(f"{path}.bind", "at least one bind plugin must be enabled"))
    if errors:
        raise ConfigError(errors)
    return out


def expand_all(
    config: SchedulerConfig, instances: Mapping[str, Mapping[str, Plugin]]
) -> dict[str, dict[str, list[str]]]:
    """``expand`` for every profile (``instances`` keyed by scheduler name), plus upstream's
    cross-profile rule: every profile ends up with the same queueSort plugin and args."""
    errors: list[str] = []
    out: dict[str, dict[str, list[str]]] = {}
    for prof in config.profiles:
        try:
            out[prof.scheduler_name] = expand(prof, instances.get(prof.scheduler_name, {}))
        except ConfigError as err:
            errors += err.errors
    if not errors and len(config.profiles) > 1:
        first = config.profiles[0]
        qs = out[first.scheduler_name]["queueSort"][0]
        for prof in config.profiles[1:]:
            other = out[prof.scheduler_name]["queueSort"][0]
            if other != qs:
                errors.append(invalid(f"profiles[{prof.index}].plugins.queueSort", other,
                                      f"must be the same for all profiles ({qs!r} in "
                                      f"profiles[0])"))
            elif not _same_args(prof.args.get(qs), first.args.get(qs)):
                errors.append(invalid(f"profiles[{prof.index}].pluginConfig", qs,
                                      "queueSort must be the same for all profiles"))
    if errors:
        raise ConfigError(errors)
    return out


def _same_args(a: Any, b: Any) -> bool:
    if isinstance(a, msgspec.Struct) and isinstance(b, msgspec.Struct):
        a, b = msgspec.to_builtins(a), msgspec.to_builtins(b)
    return bool(a == b)
