"""In-tree plugins, one module each. ``IN_TREE`` lists every plugin's PluginSpec.

Shared helpers live beside them: ``helper`` (score normalization, Go integer math, broken
linear shapes), ``resource_allocation`` (resource names and allocatable/requested math shared by
the NodeResources plugins) and ``validation`` (args errors worded as upstream's).
"""

from __future__ import annotations

from pyscheduler.framework.registry import PluginSpec
from pyscheduler.plugins import (
    balanced_allocation,
    default_binder,
    node_affinity,
    node_name,
    node_ports,
    node_resources_fit,
    node_unschedulable,
    priority_sort,
    scheduling_gates,
    taint_toleration,
)

IN_TREE: list[PluginSpec] = [
    priority_sort.SPEC,
    scheduling_gates.SPEC,
    node_unschedulable.SPEC,
    node_name.SPEC,
    taint_toleration.SPEC,
    node_affinity.SPEC,
    node_ports.SPEC,
    node_resources_fit.SPEC,
    balanced_allocation.SPEC,
    default_binder.SPEC,
]
