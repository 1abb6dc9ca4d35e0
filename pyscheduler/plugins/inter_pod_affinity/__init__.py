"""InterPodAffinity: required and preferred pod affinity and anti-affinity, in both directions
(the incoming pod's terms against existing pods, and existing pods' terms against it).

Layout: ``terms`` (parsed affinity terms, label selectors, namespaces), ``counts`` (topology
domain -> count maps), ``index`` (the cluster index: pods grouped by shape and terms by key,
kept current across cycles), ``filtering`` (PreFilter state, Filter per node and over rows,
AddPod/RemovePod), ``scoring`` (PreScore state, Score per node and over rows, NormalizeScore),
``plugin`` (the plugin object, args, queueing hints). Each module's docstring states its
contract; the public surface is re-exported here.
"""

from __future__ import annotations

from pyscheduler.plugins.inter_pod_affinity.filtering import (
    ERR_REASON_AFFINITY,
    ERR_REASON_ANTI_AFFINITY,
    ERR_REASON_EXISTING_ANTI_AFFINITY,
    NAME,
    PRE_FILTER_STATE_KEY,
    PreFilterState,
)
from pyscheduler.plugins.inter_pod_affinity.plugin import (
    DEFAULT_HARD_POD_AFFINITY_WEIGHT,
    SPEC,
    InterPodAffinity,
    InterPodAffinityArgs,
    new,
)
from pyscheduler.plugins.inter_pod_affinity.scoring import PRE_SCORE_STATE_KEY, PreScoreState

__all__ = [
    "DEFAULT_HARD_POD_AFFINITY_WEIGHT",
    "ERR_REASON_AFFINITY",
    "ERR_REASON_ANTI_AFFINITY",
    "ERR_REASON_EXISTING_ANTI_AFFINITY",
    "NAME",
    "PRE_FILTER_STATE_KEY",
    "PRE_SCORE_STATE_KEY",
    "SPEC",
    "InterPodAffinity",
    "InterPodAffinityArgs",
    "PreFilterState",
    "PreScoreState",
    "new",
]
