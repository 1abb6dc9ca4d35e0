"""InterPodAffinity: required and preferred pod affinity and anti-affinity, in both directions
(the incoming pod's terms against existing pods, and existing pods' terms against it).

Layout: ``terms`` (parsed affinity terms, namespaces), ``memo`` (topology-domain counts kept
across cycles), ``filtering`` (PreFilter/Filter/AddPod/RemovePod), ``scoring`` (PreScore/Score/
NormalizeScore), ``plugin`` (the plugin object, args, queueing hints). Each module's docstring
states its contract; the public surface is re-exported here.
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
