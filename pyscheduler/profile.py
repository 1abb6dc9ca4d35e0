"""Build each profile's Framework from a resolved SchedulerConfig.

Contract: plugins are instantiated once per profile with that profile's decoded args and a
handle naming the profile, from the factories of ``registry`` (the one the command composed and
resolved the configuration with; when left out, the specs the configuration resolved to).
multiPoint is then expanded against the instances (framework.multipoint.expand_all), so a
plugin only lands at the extension points it implements. Any error is a ConfigError naming the
field, and nothing is half-built: the caller keeps its previous frameworks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pyscheduler.config import ConfigError, RegisteredPlugin, SchedulerConfig
from pyscheduler.config.validation import required
from pyscheduler.framework.interfaces import Handle, Plugin
from pyscheduler.framework.multipoint import expand_all
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.runtime import Framework, NominatorView


def build_frameworks(
    config: SchedulerConfig,
    handle_for: Callable[[str], Handle],
    nominator: NominatorView | None = None,
    registry: Mapping[str, PluginSpec] | None = None,
) -> dict[str, Framework]:
    """One Framework per profile, keyed by scheduler name; ConfigError if any cannot be built."""
    instances: dict[str, dict[str, Plugin]] = {}
    missing: list[str] = []
    for prof in config.profiles:
        handle = handle_for(prof.scheduler_name)
        specs: Mapping[str, RegisteredPlugin] = prof.specs if registry is None else registry
        built: dict[str, Plugin] = {}
        for name in prof.plugin_names:
            spec = specs.get(name)
            if spec is None:
                missing.append(required(f"profiles[{prof.index}].plugins",
                                        f"plugin {name!r} is not in the registry"))
                continue
            built[name] = spec.factory(prof.args.get(name), handle)
        instances[prof.scheduler_name] = built
    if missing:
        raise ConfigError(missing)
    points = expand_all(config, instances)
    out: dict[str, Framework] = {}
    for prof in config.profiles:
        pct = prof.percentage_of_nodes_to_score
        if pct is None:
            pct = config.percentage_of_nodes_to_score
        out[prof.scheduler_name] = Framework(
            prof.scheduler_name,
            instances[prof.scheduler_name],
            points[prof.scheduler_name],
            dict(prof.score_weights),
            percentage_of_nodes_to_score=pct,
            nominator=nominator,
        )
    return out
