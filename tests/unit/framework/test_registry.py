"""Registry (upstream runtime.Registry): a value with register/unregister/merge, duplicates
refused; the out-of-tree registry read from entry points; the in-tree one; profile building
from a composed registry."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import pytest

from pyscheduler.config import ConfigError, parse_config
from pyscheduler.framework.registry import (
    ENTRY_POINT_GROUP,
    PluginSpec,
    Registry,
    RegistryError,
    out_of_tree_registry,
)
from pyscheduler.framework.runtime import FrameworkOptions
from pyscheduler.plugins.registry import (
    IN_TREE,
    OPTIONAL,
    default_registry,
    new_in_tree_registry,
)
from pyscheduler.scheduler.profile import build_frameworks


class _Filter:
    name = "RegistryTestFilter"

    def __init__(self, args: Any, handle: Any) -> None:
        self.handle = handle

    def filter(self, state: Any, pod: Any, node: Any) -> None:
        return None


def _new(args: Any, handle: Any) -> _Filter:
    return _Filter(args, handle)


SPEC = PluginSpec("RegistryTestFilter", _new)
OTHER = PluginSpec("RegistryTestOther", _new)
SPECS = [SPEC, OTHER]
NOT_A_SPEC = 42


def _ep(name: str, attr: str) -> metadata.EntryPoint:
    return metadata.EntryPoint(name, f"{__name__}:{attr}", ENTRY_POINT_GROUP)


def test_register_refuses_a_duplicate_name() -> None:
    reg = Registry([SPEC])
    with pytest.raises(RegistryError, match="a plugin named RegistryTestFilter already exists"):
        reg.register(PluginSpec("RegistryTestFilter", _new))
    with pytest.raises(RegistryError, match="already exists"):
        reg.register(SPEC)  # even the same spec: upstream's Register does not dedupe
    assert list(reg) == ["RegistryTestFilter"]
    assert reg["RegistryTestFilter"] is SPEC


def test_unregister() -> None:
    reg = Registry([SPEC, OTHER])
    reg.unregister("RegistryTestFilter")
    assert list(reg) == ["RegistryTestOther"]
    with pytest.raises(RegistryError, match="no plugin named RegistryTestFilter exists"):
        reg.unregister("RegistryTestFilter")


def test_merge_adds_and_refuses_duplicates() -> None:
    reg = Registry([SPEC])
    reg.merge(Registry([OTHER]))
    assert list(reg) == ["RegistryTestFilter", "RegistryTestOther"]
    with pytest.raises(RegistryError, match="RegistryTestOther already exists"):
        reg.merge({"RegistryTestOther": OTHER})


def test_in_tree_registry_is_a_fresh_value_each_time() -> None:
    a = new_in_tree_registry()
    a.register(SPEC)
    b = new_in_tree_registry()
    assert "RegistryTestFilter" not in b
    assert list(b) == [s.name for s in (*IN_TREE, *OPTIONAL)]
    with pytest.raises(RegistryError, match="a plugin named NodeName already exists"):
        b.merge(Registry([PluginSpec("NodeName", _new)]))


def test_out_of_tree_registry_from_entry_points() -> None:
    reg = out_of_tree_registry(entry_points=[_ep("RegistryTestFilter", "SPEC")])
    assert dict(reg) == {"RegistryTestFilter": SPEC}
    many = out_of_tree_registry(entry_points=[_ep("several", "SPECS")])
    assert list(many) == ["RegistryTestFilter", "RegistryTestOther"]


def test_out_of_tree_entry_point_errors() -> None:
    with pytest.raises(RegistryError, match="must be named after the plugin"):
        out_of_tree_registry(entry_points=[_ep("Wrong", "SPEC")])
    with pytest.raises(RegistryError, match="expected a PluginSpec or a sequence of them, got int"):
        out_of_tree_registry(entry_points=[_ep("x", "NOT_A_SPEC")])
    with pytest.raises(RegistryError, match="cannot load: AttributeError"):
        out_of_tree_registry(entry_points=[_ep("x", "MISSING")])
    with pytest.raises(RegistryError, match="RegistryTestFilter already exists"):
        out_of_tree_registry(entry_points=[_ep("RegistryTestFilter", "SPEC"),
                                           _ep("several", "SPECS")])


def test_out_of_tree_registry_reads_the_installed_group() -> None:
    """The installed group loads (whatever is installed); the default registry holds it and
    every in-tree plugin."""
    reg = out_of_tree_registry()
    in_tree = [s.name for s in (*IN_TREE, *OPTIONAL)]
    assert set(reg) & set(in_tree) == set()
    assert list(default_registry()) == [*in_tree, *reg]


PROFILE = """\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: s
  plugins:
    multiPoint:
      enabled: [{name: RegistryTestFilter}]
"""


def test_frameworks_built_from_the_composed_registry() -> None:
    reg = new_in_tree_registry()
    reg.merge(Registry([SPEC]))
    config = parse_config(PROFILE, plugins=reg)
    handles: list[str] = []

    def handle_for(profile: str) -> FrameworkOptions:
        handles.append(profile)
        return FrameworkOptions()

    fwks = build_frameworks(config, handle_for, registry=reg)
    assert handles == ["s"]
    assert "RegistryTestFilter" in [p.name for p in fwks["s"].filter]
    with pytest.raises(ConfigError, match="plugin 'RegistryTestFilter' is not in the registry"):
        build_frameworks(config, handle_for, registry=new_in_tree_registry())
    with pytest.raises(ConfigError, match=r"RegistryTestFilter.*plugin not registered"):
        parse_config(PROFILE, plugins=new_in_tree_registry())


def test_broken_out_of_tree_plugin_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command composes the registry: an out-of-tree entry point that clashes with an
    in-tree plugin is a configuration error (exit 2, one line naming it), not a traceback."""
    import pyscheduler.framework.registry as registry_module
    from pyscheduler.cmd.cli import _compose_registry

    clash = metadata.EntryPoint("NodeName", f"{__name__}:NODE_NAME_CLASH", ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry_module.metadata, "entry_points",
                        lambda group: [clash] if group == ENTRY_POINT_GROUP else [])
    with pytest.raises(SystemExit) as exit_info:
        _compose_registry()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("pyscheduler: invalid plugin registry: ")
    assert "a plugin named NodeName already exists" in err and err.count("\n") == 1


NODE_NAME_CLASH = PluginSpec("NodeName", _new)
