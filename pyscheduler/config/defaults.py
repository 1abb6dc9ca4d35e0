"""Defaults of KubeSchedulerConfiguration v1 and upstream's plugin-set merge rules.

Contract:
* ``DEFAULT_MULTI_POINT`` is upstream v1 ``getDefaultPlugins()`` (pkg/scheduler/apis/config/v1/
  default_plugins.go): one multiPoint list, in upstream's order, with upstream's weights. The
  plugins upstream adds only behind feature gates (DynamicResources, NodeDeclaredFeatures,
  GangScheduling, ...) are not part of pyscheduler's defaults; docs/CONFIGURATION.md says so.
* ``merge_plugin_set`` / ``merge_plugins`` are upstream's ``mergePluginSet`` / ``mergePlugins``
  and keep its quirks on purpose (same input, same output): a custom entry naming a default
  replaces it in place (weight included, so re-listing a default without a weight resets it);
  ``disabled: [{name: "*"}]`` drops every default at that point; a name listed twice in a
  custom set is kept twice (validation reports it as a duplicate).
* Entries carry the path of the config field they came from ("" for built-in defaults), so
  errors found after merging can still name the field the user wrote.
* Top-level defaults differ from kube-scheduler's only where a *secondary* scheduler must: the
  scheduler name and the leader-election lease ("pyscheduler" in "pyscheduler-system"), so that
  pyscheduler never contends for kube-scheduler's lease ("kube-scheduler" in "kube-system").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# ---- top-level defaults (upstream SetDefaults_KubeSchedulerConfiguration) -------------------
DEFAULT_SCHEDULER_NAME = "pyscheduler"
DEFAULT_PARALLELISM = 16
DEFAULT_POD_INITIAL_BACKOFF_SECONDS = 1
DEFAULT_POD_MAX_BACKOFF_SECONDS = 10
DEFAULT_LEADER_ELECT = True
DEFAULT_LEASE_DURATION_SECONDS = 15.0
DEFAULT_RENEW_DEADLINE_SECONDS = 10.0
DEFAULT_RETRY_PERIOD_SECONDS = 2.0
DEFAULT_RESOURCE_LOCK = "leases"
# Deliberately not kube-scheduler's "kube-scheduler"/"kube-system": a secondary scheduler that
# shared the primary's lease would either never run or stop the primary from running.
DEFAULT_RESOURCE_NAME = "pyscheduler"
DEFAULT_RESOURCE_NAMESPACE = "pyscheduler-system"
DEFAULT_QPS = 50.0
DEFAULT_BURST = 100
# pyscheduler.preemption.allowedSchedulerNames entry that turns the courtesy off (any pod may
# be a victim, upstream behaviour). Without it only our own profiles' pods (plus the listed
# schedulers') may be preempted.
PREEMPTION_ANY_SCHEDULER = "*"
# None = evaluate every node (pyscheduler's departure; upstream's unset means adaptive, which
# pyscheduler applies only when the user sets 0 explicitly).
DEFAULT_PERCENTAGE_OF_NODES_TO_SCORE: int | None = None

# The specific extension points, in upstream's Plugins field order.
EXTENSION_POINTS: tuple[str, ...] = (
    "preEnqueue", "queueSort", "preFilter", "filter", "postFilter", "preScore", "score",
    "reserve", "permit", "preBind", "bind", "postBind",
)
MULTI_POINT = "multiPoint"

# Upstream v1 getDefaultPlugins(), in order, with weights (None = no weight given).
DEFAULT_MULTI_POINT: tuple[tuple[str, int | None], ...] = (
    ("SchedulingGates", None),
    ("PrioritySort", None),
    ("NodeUnschedulable", None),
    ("NodeName", None),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", None),
    ("NodeResourcesFit", 1),
    ("VolumeRestrictions", None),
    ("NodeVolumeLimits", None),
    ("VolumeBinding", None),
    ("VolumeZone", None),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DefaultPreemption", None),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", None),
)

# Plugins upstream removed from v1 (validation.go invalidPluginsByVersion): enabling one is an
# error with upstream's message.
REMOVED_IN_V1: frozenset[str] = frozenset(
    {"AzureDiskLimits", "CinderLimits", "EBSLimits", "GCEPDLimits"}
)

# Upstream in-tree plugin names that pyscheduler may not implement (feature-gated upstream). A
# config copied from kube-scheduler may *disable* them; that is accepted even when they are not
# registered here, and enabling one gets a message that says why it fails.
UPSTREAM_PLUGIN_NAMES: frozenset[str] = frozenset(
    {name for name, _ in DEFAULT_MULTI_POINT}
    | {
        "DynamicResources",
        "NodeDeclaredFeatures",
        "GangScheduling",
    }
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One enabled/disabled plugin after merging; ``path`` is its config field ("" = default)."""

    name: str
    weight: int | None = None
    # provenance for error messages only: two configs that say the same thing compare equal
    path: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class MergedSet:
    """A PluginSet after merging custom over default (upstream mergePluginSet's result)."""

    enabled: tuple[Entry, ...] = ()
    disabled: tuple[Entry, ...] = ()

    def enabled_names(self) -> list[str]:
        return [e.name for e in self.enabled]

    def disabled_names(self) -> set[str]:
        return {e.name for e in self.disabled}


@dataclass(frozen=True, slots=True)
class MergedPlugins:
    """All points after merging: ``sets`` maps multiPoint and every extension point to a set."""

    sets: Mapping[str, MergedSet] = field(default_factory=dict)

    def get(self, point: str) -> MergedSet:
        return self.sets.get(point, MergedSet())


def default_plugins() -> MergedPlugins:
    """Upstream's default plugin configuration: everything in multiPoint."""
    sets = {p: MergedSet() for p in EXTENSION_POINTS}
    sets[MULTI_POINT] = MergedSet(tuple(Entry(n, w) for n, w in DEFAULT_MULTI_POINT))
    return MergedPlugins(sets)


def merge_plugin_set(default: MergedSet, custom: MergedSet) -> MergedSet:
    """Upstream mergePluginSet: custom enabled/disabled applied over a default set."""
    disabled: list[Entry] = list(custom.disabled) + list(default.disabled)
    disabled_names = {e.name for e in disabled}
    # name -> (index, entry); a repeated name keeps its *last* occurrence, as upstream's map.
    custom_by_name: dict[str, tuple[int, Entry]] = {
        e.name: (i, e) for i, e in enumerate(custom.enabled)
    }
    replaced: set[int] = set()
    enabled: list[Entry] = []
    if "*" not in disabled_names:
        for d in default.enabled:
            if d.name in disabled_names:
                continue
            hit = custom_by_name.get(d.name)
            if hit is not None:
                # The default is re-configured: take the custom entry, keep the default's place.
                index, d = hit
                replaced.add(index)
            enabled.append(d)
    enabled.extend(e for i, e in enumerate(custom.enabled) if i not in replaced)
    return MergedSet(tuple(enabled), tuple(disabled))


def merge_plugins(default: MergedPlugins, custom: MergedPlugins | None) -> MergedPlugins:
    """Upstream mergePlugins: merge every point; no custom plugins means the defaults as-is."""
    if custom is None:
        return default
    points: Iterable[str] = (MULTI_POINT, *EXTENSION_POINTS)
    return MergedPlugins(
        {p: merge_plugin_set(default.get(p), custom.get(p)) for p in points}
    )
