"""PodTopologySpread: spread pods evenly over topology domains (zones, nodes, ...).

A small package (upstream pkg/scheduler/framework/plugins/podtopologyspread):
``selector`` (label selectors with apimachinery semantics), ``common`` (constraints, node
inclusion policies, per-node match counts), ``filtering`` (hard constraints), ``scoring`` (soft
constraints), ``args`` (PodTopologySpreadArgs), ``workloads`` (Service/controller selectors for
default spreading) and ``plugin`` (the plugin, its queueing hints and ``SPEC``).
"""

from __future__ import annotations

from pyscheduler.plugins.pod_topology_spread.args import (
    LIST_DEFAULTING,
    SYSTEM_DEFAULT_CONSTRAINTS,
    SYSTEM_DEFAULTING,
    ArgsConstraint,
    PodTopologySpreadArgs,
)
from pyscheduler.plugins.pod_topology_spread.common import (
    ERR_REASON_CONSTRAINTS_NOT_MATCH,
    ERR_REASON_NODE_LABEL_NOT_MATCH,
    NAME,
)
from pyscheduler.plugins.pod_topology_spread.plugin import SPEC, PodTopologySpread, new

__all__ = [
    "ERR_REASON_CONSTRAINTS_NOT_MATCH",
    "ERR_REASON_NODE_LABEL_NOT_MATCH",
    "LIST_DEFAULTING",
    "NAME",
    "SPEC",
    "SYSTEM_DEFAULTING",
    "SYSTEM_DEFAULT_CONSTRAINTS",
    "ArgsConstraint",
    "PodTopologySpread",
    "PodTopologySpreadArgs",
    "new",
]
