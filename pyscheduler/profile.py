"""Build each profile's Framework from a resolved SchedulerConfig.

Contract: plugins are instantiated once per profile with that profile's decoded args and a
handle naming the profile; multiPoint is then expanded against the instances (config.expand_all),
so a plugin only lands at the extension points it implements. Any error is a ConfigError naming
the field, and nothing is half-built: the caller keeps its previous frameworks.
"""

from __future__ import annotations

from collections.abc import Callable

from pyscheduler.config import SchedulerConfig, expand_all
from pyscheduler.framework.interfaces import Handle, Plugin
from pyscheduler.framework.runtime import Framework, NominatorView


def build_frameworks(
    config: SchedulerConfig,
    handle_for: Callable[[str], Handle],
    nominator: NominatorView | None = None,
) -> dict[str, Framework]:
    instances: dict[str, dict[str, Plugin]] = {}
    for prof in config.profiles:
        handle = handle_for(prof.scheduler_name)
        instances[prof.scheduler_name] = {
            name: prof.specs[name].factory(prof.args.get(name), handle)
            for name in prof.plugin_names
        }
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
