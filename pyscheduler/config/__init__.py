"""pyscheduler's configuration: a KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1)
subset, loaded, defaulted and validated like upstream. See docs/CONFIGURATION.md.

Public surface: ``load_config``/``parse_config`` (raise ``ConfigError``, never partially
apply), the resolved ``SchedulerConfig``/``ProfileConfig``, and ``expand``/``expand_all`` that
the framework runtime calls after instantiating a profile's plugins.
"""

from pyscheduler.config.load import (
    ProfileConfig,
    SchedulerConfig,
    default_config,
    expand,
    expand_all,
    load_config,
    parse_config,
)
from pyscheduler.config.validation import ConfigError

__all__ = [
    "ConfigError",
    "ProfileConfig",
    "SchedulerConfig",
    "default_config",
    "expand",
    "expand_all",
    "load_config",
    "parse_config",
]
