"""pyscheduler's configuration: a KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1)
subset, loaded, defaulted and validated like upstream. See docs/CONFIGURATION.md.

Public surface: ``load_config``/``parse_config`` (raise ``ConfigError``, never partially
apply), ``validate`` (every problem as a ``FieldError`` with its path, for ``config validate``
and hot reload), the resolved ``SchedulerConfig``/``ProfileConfig``, and ``RegisteredPlugin``:
the shape of a registry entry that resolution reads. multiPoint expansion is the framework's
(framework/multipoint.py).
"""

from pyscheduler.config.load import (
    ProfileConfig,
    SchedulerConfig,
    default_config,
    load_config,
    parse_config,
    validate,
)
from pyscheduler.config.types import RegisteredPlugin
from pyscheduler.config.validation import ConfigError, FieldError

__all__ = [
    "ConfigError",
    "FieldError",
    "ProfileConfig",
    "RegisteredPlugin",
    "SchedulerConfig",
    "default_config",
    "load_config",
    "parse_config",
    "validate",
]
