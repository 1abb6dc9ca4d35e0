"""Plugin registry: plugin name -> factory and typed args (upstream runtime.Registry).

Contract: each plugin module exports ``SPEC = PluginSpec(NAME, new, ArgsType | None)``.
``new(args, handle)`` builds the plugin; ``args`` is an instance of ``args_type`` (a msgspec
Struct whose defaults are upstream's defaults) or None when the plugin takes no args. The config
loader decodes a profile's ``pluginConfig[].args`` into ``args_type`` and calls
``validate_args`` if the args type defines it, so errors name the offending field.
Out-of-tree plugins register with ``register()`` before the profile is loaded.
``listers`` names the objects the plugin reads through ``handle.lister(name)`` besides the
snapshot (see pyscheduler/watched.py for the names); the app watches exactly the union of what
the enabled plugins declare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyscheduler.framework.interfaces import Handle, Plugin

PluginFactory = Callable[[Any, Handle], Plugin]


@dataclass(frozen=True, slots=True)
class PluginSpec:
    name: str
    factory: PluginFactory
    args_type: type[Any] | None = None
    listers: tuple[str, ...] = ()


_REGISTRY: dict[str, PluginSpec] = {}


def register(spec: PluginSpec) -> None:
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"a plugin named {spec.name!r} already exists")
    _REGISTRY[spec.name] = spec


def registry() -> dict[str, PluginSpec]:
    """All registered plugins, in-tree ones included."""
    # Imported here so that importing the framework does not import every plugin.
    from pyscheduler.plugins import IN_TREE

    for spec in IN_TREE:
        _REGISTRY.setdefault(spec.name, spec)
    return dict(_REGISTRY)
