"""Partial typed schema of policy/v1 PodDisruptionBudget: what preemption reads.

Contract: see meta.py. Preemption only reads ``spec.selector`` (which pods the budget covers, in
the budget's own namespace), ``status.disruptionsAllowed`` (how many more of them may go now)
and ``status.disruptedPods`` (pod name -> time the API server admitted an eviction that the PDB
controller has not yet observed; such pods are already accounted for). ``minAvailable`` and
``maxUnavailable`` are decoded for completeness (int or percentage string) but not used: the
PDB controller turns them into ``disruptionsAllowed``.
"""

from __future__ import annotations

import msgspec

from pyscheduler.model.meta import K8sStruct, ObjectMeta
from pyscheduler.model.pod import LabelSelector

IntOrString = int | str


class PodDisruptionBudgetSpec(K8sStruct):
    # None matches no pods; an empty selector also matches none for preemption (upstream).
    selector: LabelSelector | None = None
    min_available: IntOrString | None = None
    max_unavailable: IntOrString | None = None


class PodDisruptionBudgetStatus(K8sStruct):
    observed_generation: int = 0
    disruptions_allowed: int = 0
    current_healthy: int = 0
    desired_healthy: int = 0
    expected_pods: int = 0
    # pod name -> RFC 3339 time; names, not UIDs, as the API defines it.
    disrupted_pods: dict[str, str] = {}


class PodDisruptionBudget(K8sStruct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PodDisruptionBudgetSpec = msgspec.field(default_factory=PodDisruptionBudgetSpec)
    status: PodDisruptionBudgetStatus = msgspec.field(default_factory=PodDisruptionBudgetStatus)
