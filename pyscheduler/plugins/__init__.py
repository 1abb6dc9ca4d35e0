"""In-tree plugins, one module (or small package) each. ``IN_TREE`` lists every plugin's
PluginSpec, in the order of upstream's default profile.

Shared helpers live beside them: ``helper`` (score normalization, Go integer math, broken
linear shapes), ``resource_allocation`` (resource names and allocatable/requested math shared by
the NodeResources plugins) and ``validation`` (args errors worded as upstream's).
"""

from __future__ import annotations

from pyscheduler.framework.registry import PluginSpec
from pyscheduler.plugins import (
    balanced_allocation,
    default_binder,
    default_preemption,
    image_locality,
    node_affinity,
    node_name,
    node_ports,
    node_resources_fit,
    node_unschedulable,
    node_volume_limits,
    priority_sort,
    scheduling_gates,
    taint_toleration,
    volume_restrictions,
    volume_zone,
)
from pyscheduler.plugins.inter_pod_affinity import plugin as inter_pod_affinity
from pyscheduler.plugins.pod_topology_spread import plugin as pod_topology_spread
from pyscheduler.plugins.volume_binding import plugin as volume_binding

IN_TREE: list[PluginSpec] = [
    scheduling_gates.SPEC,
    priority_sort.SPEC,
    node_unschedulable.SPEC,
    node_name.SPEC,
    taint_toleration.SPEC,
    node_affinity.SPEC,
    node_ports.SPEC,
    node_resources_fit.SPEC,
    volume_restrictions.SPEC,
    node_volume_limits.SPEC,
    volume_binding.SPEC,
    volume_zone.SPEC,
    pod_topology_spread.SPEC,
    inter_pod_affinity.SPEC,
    default_preemption.SPEC,
    balanced_allocation.SPEC,
    image_locality.SPEC,
    default_binder.SPEC,
]
