"""Defaults, upstream's mergePlugins table, and multiPoint expansion."""

from __future__ import annotations

import pytest
from _config_fakes import fake_registry, instantiate, spec

from pyscheduler.config import ConfigError, ProfileConfig, default_config, parse_config
from pyscheduler.config.defaults import (
    DEFAULT_MULTI_POINT,
    Entry,
    MergedPlugins,
    MergedSet,
    merge_plugin_set,
    merge_plugins,
)
from pyscheduler.framework.multipoint import expand

HEADER = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"

# pkg/scheduler/apis/config/v1/default_plugins.go getDefaultPlugins(), without feature gates.
UPSTREAM_DEFAULTS = [
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
]


def test_default_plugins_match_upstream_order_and_weights() -> None:
    assert list(DEFAULT_MULTI_POINT) == UPSTREAM_DEFAULTS


def test_default_config_top_level() -> None:
    c = default_config(plugins=fake_registry())
    assert c.parallelism == 16
    assert c.pod_initial_backoff_seconds == 1
    assert c.pod_max_backoff_seconds == 10
    assert c.percentage_of_nodes_to_score is None  # pyscheduler: all nodes
    le = c.leader_election
    assert le.leader_elect is True
    assert (le.lease_duration_seconds, le.renew_deadline_seconds, le.retry_period_seconds) == (
        15.0, 10.0, 2.0)
    assert le.resource_lock == "leases"
    # a secondary scheduler must never share kube-scheduler's lease
    assert (le.resource_name, le.resource_namespace) == ("pyscheduler", "pyscheduler-system")
    assert (c.client_connection.qps, c.client_connection.burst) == (50.0, 100)
    # courtesy on by default: only our own profile's pods may be preemption victims
    assert c.preemption_allowed_scheduler_names == frozenset({"pyscheduler"})
    assert c.scheduler_names == ("pyscheduler",)


def test_default_profile_weights_and_plugins() -> None:
    p = default_config(plugins=fake_registry()).profiles[0]
    assert p.plugin_names == tuple(n for n, _ in UPSTREAM_DEFAULTS)
    assert p.multi_point == tuple(n for n, _ in UPSTREAM_DEFAULTS)
    for name, weight in UPSTREAM_DEFAULTS:
        assert p.score_weights[name] == (weight or 1)
    assert p.percentage_of_nodes_to_score is None


def test_default_profile_expands_like_upstream() -> None:
    p = default_config(plugins=fake_registry()).profiles[0]
    pts = expand(p, instantiate(p))
    assert pts["preEnqueue"] == ["SchedulingGates"]
    assert pts["queueSort"] == ["PrioritySort"]
    assert pts["filter"] == [
        "NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
        "NodeResourcesFit", "VolumeRestrictions", "NodeVolumeLimits", "VolumeBinding",
        "VolumeZone", "PodTopologySpread", "InterPodAffinity",
    ]
    assert pts["postFilter"] == ["DefaultPreemption"]
    assert pts["score"] == [
        "TaintToleration", "NodeAffinity", "NodeResourcesFit", "VolumeBinding",
        "PodTopologySpread", "InterPodAffinity", "NodeResourcesBalancedAllocation",
        "ImageLocality",
    ]
    assert pts["reserve"] == ["VolumeBinding"]
    assert pts["preBind"] == ["VolumeBinding"]
    assert pts["bind"] == ["DefaultBinder"]
    assert pts["permit"] == [] and pts["postBind"] == []


# ---- upstream TestMergePlugins (default_plugins_test.go), ported -----------------------------
def _set(*names: str | tuple[str, int], disabled: tuple[str, ...] = ()) -> MergedSet:
    enabled = tuple(Entry(n) if isinstance(n, str) else Entry(n[0], n[1]) for n in names)
    return MergedSet(enabled, tuple(Entry(d) for d in disabled))


def _names(ms: MergedSet) -> list[tuple[str, int | None]]:
    return [(e.name, e.weight) for e in ms.enabled]


MERGE_CASES = [
    pytest.param(_set("CustomPlugin"), _set("DefaultPlugin1", "DefaultPlugin2"),
                 [("DefaultPlugin1", None), ("DefaultPlugin2", None), ("CustomPlugin", None)],
                 id="AppendCustomPlugin"),
    pytest.param(_set("CustomPlugin", "DefaultPlugin2", disabled=("DefaultPlugin2",)),
                 _set("DefaultPlugin1", "DefaultPlugin2"),
                 [("DefaultPlugin1", None), ("CustomPlugin", None), ("DefaultPlugin2", None)],
                 id="InsertAfterDefaultPlugins2"),
    pytest.param(_set("CustomPlugin", "DefaultPlugin1", "DefaultPlugin2", disabled=("*",)),
                 _set("DefaultPlugin1", "DefaultPlugin2"),
                 [("CustomPlugin", None), ("DefaultPlugin1", None), ("DefaultPlugin2", None)],
                 id="InsertBeforeAllPlugins"),
    pytest.param(_set("DefaultPlugin2", "DefaultPlugin1", disabled=("*",)),
                 _set("DefaultPlugin1", "DefaultPlugin2"),
                 [("DefaultPlugin2", None), ("DefaultPlugin1", None)],
                 id="ReorderDefaultPlugins"),
    pytest.param(_set(("Plugin1", 2), ("Plugin3", 3)), _set("Plugin1", "Plugin2", "Plugin3"),
                 [("Plugin1", 2), ("Plugin2", None), ("Plugin3", 3)],
                 id="CustomPluginOverrideDefaultPlugin"),
    pytest.param(_set(("Plugin2", 2), ("Plugin1", 1)), _set("Plugin1", "Plugin2", "Plugin3"),
                 [("Plugin1", 1), ("Plugin2", 2), ("Plugin3", None)],
                 id="OrderPreserveAfterOverride"),
    pytest.param(_set("Plugin1", ("Plugin2", 2), "Plugin3", ("Plugin2", 4)),
                 _set("Plugin1", "Plugin2", "Plugin3"),
                 [("Plugin1", None), ("Plugin2", 4), ("Plugin3", None), ("Plugin2", 2)],
                 id="RepeatedCustomPlugin"),
    pytest.param(_set(("DefaultPlugin", 5)), _set("DefaultPlugin"),
                 [("DefaultPlugin", 5)],
                 id="override default MultiPoint plugins with custom value"),
    pytest.param(_set("CustomPlugin"), _set("DefaultPlugin", disabled=("DefaultPlugin2",)),
                 [("DefaultPlugin", None), ("CustomPlugin", None)],
                 id="disabled MultiPoint plugin in default set"),
    pytest.param(_set(disabled=("DefaultPlugin",)), _set("DefaultPlugin"), [],
                 id="multipoint with only disabled gets merged"),
]


@pytest.mark.parametrize(("custom", "default", "want"), MERGE_CASES)
def test_merge_plugin_set_upstream_table(
    custom: MergedSet, default: MergedSet, want: list[tuple[str, int | None]]
) -> None:
    assert _names(merge_plugin_set(default, custom)) == want


def test_merge_keeps_disabled_lists_custom_first() -> None:
    # upstream: custom disabled entries, then the default set's own disabled entries
    got = merge_plugin_set(_set("A", disabled=("D0",)), _set("X", disabled=("D1",)))
    assert [e.name for e in got.disabled] == ["D1", "D0"]
    assert _names(got) == [("A", None), ("X", None)]


def test_merge_plugins_nil_custom_returns_defaults() -> None:
    default = MergedPlugins({"filter": _set("DefaultPlugin1", "DefaultPlugin2")})
    assert merge_plugins(default, None) is default  # upstream ApplyNilCustomPlugin


def test_merge_plugins_append_disabled_multipoint() -> None:
    # upstream "Append disabled Multipoint plugins"
    default = MergedPlugins({"multiPoint": _set("DefaultPlugin1", "DefaultPlugin2")})
    custom = MergedPlugins({
        "multiPoint": _set("CustomPlugin", "CustomPlugin2", disabled=("DefaultPlugin2",)),
        "score": _set(disabled=("CustomPlugin2",)),
    })
    got = merge_plugins(default, custom)
    assert _names(got.get("multiPoint")) == [
        ("DefaultPlugin1", None), ("CustomPlugin", None), ("CustomPlugin2", None)]
    assert got.get("multiPoint").disabled_names() == {"DefaultPlugin2"}
    assert got.get("score").disabled_names() == {"CustomPlugin2"}


def test_merge_plugins_default_specific_disabled_survives() -> None:
    # upstream "disabled MultiPoint plugin in default set for specific extension point"
    default = MergedPlugins({"multiPoint": _set("DefaultPlugin"),
                             "score": _set(disabled=("DefaultPlugin2",))})
    custom = MergedPlugins({"multiPoint": _set("CustomPlugin")})
    got = merge_plugins(default, custom)
    assert _names(got.get("multiPoint")) == [("DefaultPlugin", None), ("CustomPlugin", None)]
    assert got.get("score").disabled_names() == {"DefaultPlugin2"}


# ---- multiPoint expansion (upstream expandMultiPointPlugins) ---------------------------------
def _profile(plugins_yaml: str) -> ProfileConfig:
    reg = fake_registry(
        A=spec("A", ("filter", "score")),
        B=spec("B", ("filter", "score")),
        C=spec("C", ("filter", "score")),
        Sort=spec("Sort", ("queueSort",)),
        Bind=spec("Bind", ("bind",)),
    )
    text = HEADER + "profiles:\n- schedulerName: p\n  plugins:\n" + plugins_yaml
    return parse_config(text, plugins=reg).profiles[0]


BASE = """\
    multiPoint:
      disabled: [{name: "*"}]
      enabled: [{name: Sort}, {name: Bind}, {name: A, weight: 3}, {name: B, weight: 4}]
"""


def _expand(plugins_yaml: str) -> tuple[dict[str, list[str]], dict[str, int]]:
    p = _profile(plugins_yaml)
    return expand(p, instantiate(p)), dict(p.score_weights)


def test_expand_multipoint_to_implemented_points_only() -> None:
    pts, weights = _expand(BASE)
    assert pts["filter"] == ["A", "B"] and pts["score"] == ["A", "B"]
    assert pts["queueSort"] == ["Sort"] and pts["bind"] == ["Bind"]
    assert pts["preFilter"] == []
    assert weights["A"] == 3 and weights["B"] == 4


def test_expand_specific_point_overrides_go_first_then_multipoint_then_rest() -> None:
    pts, weights = _expand(BASE + "    score:\n      enabled: [{name: C}, {name: B, weight: 7}]\n")
    assert pts["score"] == ["B", "A", "C"]
    assert pts["filter"] == ["A", "B"]
    assert weights["B"] == 7  # the specific score entry's weight wins
    assert weights["C"] == 1


def test_expand_specific_score_entry_without_weight_resets_to_one() -> None:
    # upstream getScoreWeights: the Score entry is met first even without a weight
    _, weights = _expand(BASE + "    score:\n      enabled: [{name: A}]\n")
    assert weights["A"] == 1


def test_expand_disabled_at_one_point() -> None:
    pts, _ = _expand(BASE + "    score:\n      disabled: [{name: A}]\n")
    assert pts["score"] == ["B"]
    assert pts["filter"] == ["A", "B"]


def test_expand_star_disabled_stops_multipoint_at_that_point() -> None:
    pts, _ = _expand(BASE + "    filter:\n      disabled: [{name: '*'}]\n"
                            "      enabled: [{name: C}]\n")
    assert pts["filter"] == ["C"]
    assert pts["score"] == ["A", "B"]


def test_expand_rejects_plugin_at_point_it_does_not_implement() -> None:
    p = _profile(BASE + "    permit:\n      enabled: [{name: A}]\n")
    with pytest.raises(ConfigError) as ei:
        expand(p, instantiate(p))
    assert ei.value.errors == [
        'profiles[0].plugins.permit.enabled[0]: Invalid value: "A": '
        "plugin does not implement permit"
    ]


def test_expand_requires_exactly_one_queue_sort_and_a_binder() -> None:
    p = _profile("""\
    multiPoint:
      disabled: [{name: "*"}]
      enabled: [{name: A}]
""")
    with pytest.raises(ConfigError) as ei:
        expand(p, instantiate(p))
    assert ei.value.errors == [
        "profiles[0].plugins.queueSort: Invalid value: []: exactly one queueSort plugin must "
        "be enabled",
        "profiles[0].plugins.bind: Required value: at least one bind plugin must be enabled",
    ]


def test_expand_rejects_missing_or_misnamed_instances() -> None:
    p = _profile(BASE)
    instances = instantiate(p)
    del instances["A"]
    instances["B"].name = "NotB"
    with pytest.raises(ConfigError) as ei:
        expand(p, instances)
    assert ei.value.errors == [
        "profiles[0].plugins: Required value: plugin 'A' was not instantiated",
        "profiles[0].plugins: Invalid value: \"B\": plugin factory returned a plugin named "
        "'NotB'",
    ]
