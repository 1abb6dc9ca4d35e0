"""PodTopologySpreadArgs (kubescheduler.config.k8s.io/v1) with upstream defaults and validation.

Contract:
* ``defaultingType`` defaults to "System" (v1 SetDefaults_PodTopologySpreadArgs): the built-in
  constraints (hostname maxSkew 3, zone maxSkew 5, both ScheduleAnyway) apply to pods without
  constraints of their own. "List" applies ``defaultConstraints`` instead (none when empty).
* ``validate()`` is upstream ValidatePodTopologySpreadArgs, with its messages and field paths:
  System with non-empty defaultConstraints is invalid; each default constraint needs a positive
  maxSkew, a valid label name as topologyKey, whenUnsatisfiable DoNotSchedule or
  ScheduleAnyway, no labelSelector (it is deduced per pod), and no repeat of the same
  (topologyKey, whenUnsatisfiable) pair.
* ``ArgsConstraint`` mirrors v1.TopologySpreadConstraint *without* API defaults (maxSkew 0,
  whenUnsatisfiable ""), because the args are not defaulted by the API server and upstream
  reports the missing fields.
"""

from __future__ import annotations

import msgspec

from pyscheduler.model.pod import LabelSelector, TopologySpreadConstraint
from pyscheduler.plugins import validation as v
from pyscheduler.plugins.pod_topology_spread.common import (
    DO_NOT_SCHEDULE,
    LABEL_HOSTNAME,
    LABEL_TOPOLOGY_ZONE,
    SCHEDULE_ANYWAY,
)

SYSTEM_DEFAULTING = "System"
LIST_DEFAULTING = "List"

FORBIDDEN = "Forbidden"

SYSTEM_DEFAULT_CONSTRAINTS: tuple[TopologySpreadConstraint, ...] = (
    TopologySpreadConstraint(max_skew=3, topology_key=LABEL_HOSTNAME,
                             when_unsatisfiable=SCHEDULE_ANYWAY),
    TopologySpreadConstraint(max_skew=5, topology_key=LABEL_TOPOLOGY_ZONE,
                             when_unsatisfiable=SCHEDULE_ANYWAY),
)


class ArgsConstraint(msgspec.Struct, rename="camel", omit_defaults=True):
    """v1.TopologySpreadConstraint as written in the args (no API defaulting)."""

    max_skew: int = 0
    topology_key: str = ""
    when_unsatisfiable: str = ""
    label_selector: LabelSelector | None = None
    min_domains: int | None = None
    node_affinity_policy: str | None = None
    node_taints_policy: str | None = None
    match_label_keys: list[str] = []

    def as_spec(self) -> TopologySpreadConstraint:
        return TopologySpreadConstraint(
            max_skew=self.max_skew, topology_key=self.topology_key,
            when_unsatisfiable=self.when_unsatisfiable, label_selector=self.label_selector,
            min_domains=self.min_domains, node_affinity_policy=self.node_affinity_policy,
            node_taints_policy=self.node_taints_policy,
            match_label_keys=list(self.match_label_keys),
        )


class PodTopologySpreadArgs(msgspec.Struct, rename="camel", omit_defaults=True):
    default_constraints: list[ArgsConstraint] = []
    defaulting_type: str = ""

    def __post_init__(self) -> None:
        if not self.defaulting_type:
            self.defaulting_type = SYSTEM_DEFAULTING

    def validate(self, path: str = "") -> None:
        """Upstream ValidatePodTopologySpreadArgs; raises ArgsError (a ValueError)."""
        errs: list[v.FieldError] = []
        dt = self.defaulting_type
        dt_path = v.child(path, "defaultingType")
        if dt not in (SYSTEM_DEFAULTING, LIST_DEFAULTING):
            errs.append(v.not_supported(dt_path, dt, [SYSTEM_DEFAULTING, LIST_DEFAULTING]))
        elif dt == SYSTEM_DEFAULTING and self.default_constraints:
            errs.append(v.invalid(dt_path, dt, "when .defaultConstraints are not empty"))
        cpath = v.child(path, "defaultConstraints")
        for i, c in enumerate(self.default_constraints):
            p = v.index(cpath, i)
            if c.max_skew <= 0:
                errs.append(v.invalid(v.child(p, "maxSkew"), c.max_skew,
                                      "not in valid range (0, inf)"))
            kpath = v.child(p, "topologyKey")
            if not c.topology_key:
                errs.append(v.required(kpath, "can not be empty"))
            else:
                errs.extend(v.validate_label_name(c.topology_key, kpath))
            wpath = v.child(p, "whenUnsatisfiable")
            if not c.when_unsatisfiable:
                errs.append(v.required(wpath, "can not be empty"))
            elif c.when_unsatisfiable not in (DO_NOT_SCHEDULE, SCHEDULE_ANYWAY):
                errs.append(v.not_supported(wpath, c.when_unsatisfiable,
                                            [DO_NOT_SCHEDULE, SCHEDULE_ANYWAY]))
            if c.label_selector is not None:
                errs.append(v.FieldError(FORBIDDEN, v.child(p, "labelSelector"), detail=(
                    "constraint must not define a selector, as they deduced for each pod")))
            for other in self.default_constraints[:i]:
                if (other.topology_key, other.when_unsatisfiable) == (
                        c.topology_key, c.when_unsatisfiable):
                    errs.append(v.duplicate(p, f"{{{c.topology_key}, {c.when_unsatisfiable}}}"))
                    break
        v.raise_if(errs)

    validate_args = validate

    def constraints(self) -> tuple[list[TopologySpreadConstraint], bool]:
        """(the default constraints in force, whether they are the system defaults)."""
        if self.defaulting_type == SYSTEM_DEFAULTING:
            return list(SYSTEM_DEFAULT_CONSTRAINTS), True
        return [c.as_spec() for c in self.default_constraints], False
