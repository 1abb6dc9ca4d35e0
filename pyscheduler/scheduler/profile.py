"""Build each profile's Framework from a resolved SchedulerConfig.

Contract: plugins are instantiated once per profile with that profile's decoded args and the
profile's Framework as their handle, from the factories of ``registry`` (the one the command
composed and resolved the configuration with; when left out, the specs the configuration
resolved to).
multiPoint is then expanded against the instances (framework.multipoint.expand_all), so a
plugin only lands at the extension points it implements. Any error is a ConfigError naming the
field, and nothing is half-built: the caller keeps its previous frameworks.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping

from pyscheduler.config import ConfigError, RegisteredPlugin, SchedulerConfig
from pyscheduler.config.validation import required
from pyscheduler.framework.interfaces import Handle, Plugin
from pyscheduler.framework.multipoint import expand_all
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.runtime import Framework, FrameworkOptions, new_framework


def build_frameworks(
    config: SchedulerConfig,
    options_for: Callable[[str], FrameworkOptions],
    registry: Mapping[str, PluginSpec] | None = None,
) -> dict[str, Framework]:
    """One Framework per profile, keyed by scheduler name; ConfigError if any cannot be built.

    Each Framework is its plugins' Handle (upstream NewFramework): the plugins are built with
    it, from ``options_for(schedulerName)``, and multiPoint is expanded across all profiles
    before any Framework is used."""
    frameworks: dict[str, Framework] = {}
    installers: dict[str, tuple[int, Callable[[dict[str, list[str]]], None]]] = {}
    missing: list[str] = []
    for prof in config.profiles:
        specs: Mapping[str, RegisteredPlugin] = prof.specs if registry is None else registry
        builders: dict[str, Callable[[Handle], Plugin]] = {}
        for name in prof.plugin_names:
            spec = specs.get(name)
            if spec is None:
                missing.append(required(f"profiles[{prof.index}].plugins",
                                        f"plugin {name!r} is not in the registry"))
                continue
            builders[name] = functools.partial(spec.factory, prof.args.get(name))
        if missing:
            continue
        opts = options_for(prof.scheduler_name)
        pct = prof.percentage_of_nodes_to_score
        if pct is None:
            pct = config.percentage_of_nodes_to_score
        opts = dataclasses.replace(opts, percentage_of_nodes_to_score=pct)
        fwk, install = new_framework(prof.scheduler_name, builders, dict(prof.score_weights),
                                     opts)
        frameworks[prof.scheduler_name] = fwk
        installers[prof.scheduler_name] = (prof.index, install)
    if missing:
        raise ConfigError(missing)
    points = expand_all(config, {name: fwk.plugins for name, fwk in frameworks.items()})
    for name, (index, install) in installers.items():
        try:
            install(points[name])
        except ValueError as err:  # e.g. a plugin enabled at a point it does not implement
            raise ConfigError([f"profiles[{index}].plugins: {err}"]) from err
    return frameworks
