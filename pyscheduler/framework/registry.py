"""Plugin registry: plugin name -> factory and typed args (upstream framework/runtime.Registry).

Contract:
* Each plugin module exports ``SPEC = PluginSpec(NAME, new, ArgsType | None)``.
  ``new(args, handle)`` builds the plugin; ``args`` is an instance of ``args_type`` (a msgspec
  Struct whose defaults are upstream's defaults) or None when the plugin takes no args. The
  config loader decodes a profile's ``pluginConfig[].args`` into ``args_type`` and calls
  ``validate_args`` if the args type defines it, so errors name the offending field.
  ``listers`` names the objects the plugin reads through ``handle.lister(name)`` besides the
  snapshot (see pyscheduler/scheduler/watched.py for the names); the scheduler watches exactly
  the union of what the enabled plugins declare.
* A ``Registry`` is a plain value (a read-only mapping with ``register``/``unregister``/
  ``merge``); there is no global one. This module imports no plugin: the in-tree registry is
  ``pyscheduler.plugins.registry.new_in_tree_registry()``, and the command composes it with
  the out-of-tree plugins (``out_of_tree_registry()``) before resolving the configuration.
* Out-of-tree plugins are distributions that declare an entry point in the
  ``pyscheduler.plugins`` group (``ENTRY_POINT_GROUP``). The entry point names the plugin and
  loads either its ``PluginSpec`` (whose name must equal the entry point's) or a sequence of
  ``PluginSpec``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from pyscheduler.framework.interfaces import Handle, Plugin

PluginFactory = Callable[[Any, Handle], Plugin]

ENTRY_POINT_GROUP = "pyscheduler.plugins"


@dataclass(frozen=True, slots=True)
class PluginSpec:
    """One plugin as the registry knows it: name, factory, args type and the listers it reads."""

    name: str
    factory: PluginFactory
    args_type: type[Any] | None = None
    listers: tuple[str, ...] = ()


class RegistryError(ValueError):
    """A registration that upstream's Registry refuses (a duplicate or unknown name)."""


class Registry(Mapping[str, PluginSpec]):
    """Plugin name -> PluginSpec, in registration order (upstream runtime.Registry)."""

    __slots__ = ("_specs",)

    def __init__(self, specs: Iterable[PluginSpec] = ()) -> None:
        """A registry holding ``specs``; RegistryError if two share a name."""
        self._specs: dict[str, PluginSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: PluginSpec) -> None:
        """Add ``spec``; RegistryError if a plugin of that name is already registered."""
        if spec.name in self._specs:
            raise RegistryError(f"a plugin named {spec.name} already exists")
        self._specs[spec.name] = spec

    def unregister(self, name: str) -> None:
        """Remove the plugin ``name``; RegistryError if no such plugin is registered."""
        if name not in self._specs:
            raise RegistryError(f"no plugin named {name} exists")
        del self._specs[name]

    def merge(self, other: Mapping[str, PluginSpec]) -> None:
        """Register every plugin of ``other``; RegistryError on the first name already here,
        after registering the ones before it (upstream Registry.Merge)."""
        for spec in other.values():
            self.register(spec)

    def __getitem__(self, name: str) -> PluginSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return f"Registry({list(self._specs)!r})"


def out_of_tree_registry(
    group: str = ENTRY_POINT_GROUP,
    *,
    entry_points: Iterable[metadata.EntryPoint] | None = None,
) -> Registry:
    """The plugins installed distributions declare in entry point ``group``; RegistryError names
    an entry point that does not load a PluginSpec (or sequence of them) or repeats a name."""
    eps = metadata.entry_points(group=group) if entry_points is None else entry_points
    out = Registry()
    for ep in sorted(eps, key=lambda e: e.name):
        where = f"entry point {ep.name!r} ({ep.value}) in group {group!r}"
        try:
            obj = ep.load()
        except Exception as err:
            raise RegistryError(f"{where}: cannot load: {type(err).__name__}: {err}") from err
        if isinstance(obj, PluginSpec):
            if obj.name != ep.name:
                raise RegistryError(f"{where}: names plugin {obj.name!r}; an entry point "
                                    f"must be named after the plugin it registers")
            specs: list[Any] = [obj]
        elif isinstance(obj, Iterable) and not isinstance(obj, str | bytes | Mapping):
            specs = list(obj)
        else:
            raise RegistryError(f"{where}: expected a PluginSpec or a sequence of them, "
                                f"got {type(obj).__name__}")
        for spec in specs:
            if not isinstance(spec, PluginSpec):
                raise RegistryError(f"{where}: expected PluginSpec items, got "
                                    f"{type(spec).__name__}")
            try:
                out.register(spec)
            except RegistryError as err:
                raise RegistryError(f"{where}: {err}") from None
    return out
