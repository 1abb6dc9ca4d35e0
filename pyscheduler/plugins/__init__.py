"""In-tree plugins, one module each. ``IN_TREE`` lists every plugin's PluginSpec."""

from __future__ import annotations

from pyscheduler.framework.registry import PluginSpec

IN_TREE: list[PluginSpec] = []
