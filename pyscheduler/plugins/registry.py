"""The in-tree plugin registry (upstream pkg/scheduler/framework/plugins/registry.go).

Contract: ``new_in_tree_registry()`` returns a fresh ``Registry`` of every in-tree plugin, in
the order of upstream's default profile, then the plugins that no default profile enables
(from scheduler-plugins: Coscheduling, CapacityScheduling, the Trimaran load-aware
scores and PodState); callers may merge out-of-tree plugins into it without
affecting any other caller. ``default_registry()`` is what the command runs with when it is not
given one: the in-tree plugins merged with those installed distributions declare in the
``pyscheduler.plugins`` entry point group (a name clash is a RegistryError, as upstream's
Registry.Merge).
"""

from __future__ import annotations

from pyscheduler.framework.registry import PluginSpec, Registry, out_of_tree_registry
from pyscheduler.plugins import (
    default_binder,
    default_preemption,
    image_locality,
    node_affinity,
    node_name,
    node_ports,
    node_unschedulable,
    node_volume_limits,
    podstate,
    priority_sort,
    scheduling_gates,
    taint_toleration,
    volume_restrictions,
    volume_zone,
)
from pyscheduler.plugins.capacity_scheduling import plugin as capacity_scheduling
from pyscheduler.plugins.gangscheduling import plugin as gangscheduling
from pyscheduler.plugins.inter_pod_affinity import plugin as inter_pod_affinity
from pyscheduler.plugins.noderesources import balanced_allocation, fit
from pyscheduler.plugins.pod_topology_spread import plugin as pod_topology_spread
from pyscheduler.plugins.trimaran import (
    load_variation_risk_balancing,
    low_risk_over_commitment,
    target_load_packing,
)
from pyscheduler.plugins.volume_binding import plugin as volume_binding

IN_TREE: tuple[PluginSpec, ...] = (
    scheduling_gates.SPEC,
    priority_sort.SPEC,
    node_unschedulable.SPEC,
    node_name.SPEC,
    taint_toleration.SPEC,
    node_affinity.SPEC,
    node_ports.SPEC,
    fit.SPEC,
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
)

# In-tree but not in the default profile (upstream adds GangScheduling only behind its feature
# gates; Coscheduling, CapacityScheduling,
# TargetLoadPacking, LoadVariationRiskBalancing, LowRiskOverCommitment and PodState are
# scheduler-plugins'): a profile enables them.
OPTIONAL: tuple[PluginSpec, ...] = (
    gangscheduling.GANG_SCHEDULING_SPEC,
    gangscheduling.COSCHEDULING_SPEC,
    capacity_scheduling.SPEC,
    target_load_packing.SPEC,
    load_variation_risk_balancing.SPEC,
    low_risk_over_commitment.SPEC,
    podstate.SPEC,
)


def new_in_tree_registry() -> Registry:
    """A new Registry of every in-tree plugin: upstream's default profile in its order, then
    the optional ones."""
    return Registry((*IN_TREE, *OPTIONAL))


def default_registry() -> Registry:
    """In-tree plugins merged with the installed out-of-tree ones (entry points)."""
    reg = new_in_tree_registry()
    reg.merge(out_of_tree_registry())
    return reg
