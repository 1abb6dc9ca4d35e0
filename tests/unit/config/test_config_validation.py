"""Validation errors: each names the field the user wrote, upstream-style."""

from __future__ import annotations

import pytest
from _config_fakes import fake_registry, instantiate, spec

from pyscheduler.config import ConfigError, parse_config
from pyscheduler.framework.multipoint import expand_all

HEADER = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"


def errors_of(body: str, header: str = HEADER) -> list[str]:
    with pytest.raises(ConfigError) as ei:
        parse_config(header + body, plugins=fake_registry())
    return ei.value.errors


def test_score_weight_zero_is_invalid() -> None:
    errs = errors_of("""\
profiles:
- plugins:
    score:
      enabled:
      - name: ImageLocality
        weight: 2
      - name: NodeResourcesFit
        weight: 0
""")
    assert errs == [
        "profiles[0].plugins.score.enabled[1].weight: Invalid value: 0: must be a positive "
        "integer (disable the plugin to turn its score off)"
    ]


def test_multipoint_weight_negative_is_invalid() -> None:
    errs = errors_of("profiles:\n- plugins:\n    multiPoint:\n"
                     "      enabled: [{name: TaintToleration, weight: -3}]\n")
    assert errs == [
        "profiles[0].plugins.multiPoint.enabled[0].weight: Invalid value: -3: must be a "
        "positive integer (disable the plugin to turn its score off)"
    ]


def test_weight_out_of_int32_range() -> None:
    errs = errors_of("profiles:\n- plugins:\n    score:\n"
                     "      enabled: [{name: ImageLocality, weight: 4294967296}]\n")
    assert errs == [
        "profiles[0].plugins.score.enabled[0].weight: Invalid value: 4294967296: expected int "
        "<= 2147483647"
    ]


def test_duplicate_scheduler_name() -> None:
    errs = errors_of("profiles:\n- schedulerName: x\n- schedulerName: y\n- schedulerName: x\n")
    assert errs == ['profiles[2].schedulerName: Duplicate value: "x"']


def test_empty_scheduler_name() -> None:
    assert errors_of('profiles:\n- schedulerName: ""\n') == [
        "profiles[0].schedulerName: Required value"
    ]


def test_scheduler_name_defaults_only_with_one_profile() -> None:
    c = parse_config(HEADER + "profiles:\n- {}\n", plugins=fake_registry())
    assert c.scheduler_names == ("pyscheduler",)
    assert errors_of("profiles:\n- schedulerName: a\n- {}\n") == [
        "profiles[1].schedulerName: Required value"
    ]


def test_unregistered_plugin() -> None:
    errs = errors_of("profiles:\n- plugins:\n    filter:\n      enabled: [{name: Foo}]\n")
    assert errs == ['profiles[0].plugins.filter.enabled[0]: Invalid value: "Foo": plugin not '
                    "registered"]


def test_unregistered_upstream_plugin_says_so() -> None:
    errs = errors_of("profiles:\n- plugins:\n    multiPoint:\n"
                     "      enabled: [{name: DynamicResources}]\n")
    assert errs == [
        'profiles[0].plugins.multiPoint.enabled[0]: Invalid value: "DynamicResources": plugin '
        "not registered (an upstream kube-scheduler plugin pyscheduler lacks)"
    ]


def test_disabling_an_upstream_plugin_pyscheduler_lacks_is_accepted() -> None:
    c = parse_config(HEADER + "profiles:\n- plugins:\n    multiPoint:\n"
                     "      disabled: [{name: DynamicResources}]\n", plugins=fake_registry())
    assert "DynamicResources" not in c.profiles[0].plugin_names


def test_disabled_typo_is_reported() -> None:
    errs = errors_of("profiles:\n- plugins:\n    score:\n      disabled: [{name: ImageLocalty}]\n")
    assert errs == ['profiles[0].plugins.score.disabled[0]: Invalid value: "ImageLocalty": '
                    'plugin not registered (did you mean "ImageLocality"?)']


def test_removed_v1_plugin_uses_upstream_message() -> None:
    errs = errors_of("profiles:\n- plugins:\n    filter:\n      enabled: [{name: EBSLimits}]\n")
    assert errs == [
        'profiles[0].plugins.filter.enabled[0]: Invalid value: "EBSLimits": was invalid in '
        'version "kubescheduler.config.k8s.io/v1" (KubeSchedulerConfiguration is version '
        '"kubescheduler.config.k8s.io/v1")'
    ]


def test_duplicate_enabled_plugin_and_missing_name() -> None:
    errs = errors_of("profiles:\n- plugins:\n    filter:\n"
                     "      enabled: [{name: NodeName}, {weight: 1}, {name: NodeName}]\n")
    assert errs == [
        "profiles[0].plugins.filter.enabled[1].name: Required value",
        'profiles[0].plugins.filter.enabled[2]: Duplicate value: "NodeName"',
    ]


def test_star_is_only_for_disabled() -> None:
    errs = errors_of("profiles:\n- plugins:\n    filter:\n      enabled: [{name: '*'}]\n")
    assert errs == ['profiles[0].plugins.filter.enabled[0]: Invalid value: "*": "*" is only '
                    "meaningful in disabled"]


def test_percentage_of_nodes_to_score_range() -> None:
    errs = errors_of("percentageOfNodesToScore: 101\nprofiles:\n"
                     "- percentageOfNodesToScore: -1\n")
    assert errs == [
        "percentageOfNodesToScore: Invalid value: 101: not in valid range [0-100]",
        "profiles[0].percentageOfNodesToScore: Invalid value: -1: not in valid range [0-100]",
    ]


def test_percentage_resolution_profile_overrides_global() -> None:
    c = parse_config(HEADER + "percentageOfNodesToScore: 0\nprofiles:\n- schedulerName: a\n"
                     "- schedulerName: b\n  percentageOfNodesToScore: 30\n",
                     plugins=fake_registry())
    assert [p.percentage_of_nodes_to_score for p in c.profiles] == [0, 30]


def test_backoff_rules() -> None:
    errs = errors_of("podInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 2\n")
    assert errs == ["podMaxBackoffSeconds: Invalid value: 2: must be greater than or equal to "
                    "PodInitialBackoffSeconds"]
    errs = errors_of("podInitialBackoffSeconds: -1\n")
    assert errs == ["podInitialBackoffSeconds: Invalid value: -1: must be greater than 0"]


def test_parallelism_must_be_positive() -> None:
    assert errors_of("parallelism: 0\n") == [
        "parallelism: Invalid value: 0: should be an integer value greater than zero"
    ]


def test_queue_sort_must_be_the_same_in_all_profiles() -> None:
    errs = errors_of("""\
profiles:
- schedulerName: a
  plugins:
    queueSort:
      enabled: [{name: PrioritySort}]
- schedulerName: b
""")
    assert errs == ['profiles[1].plugins.queueSort: Invalid value: {"disabled": [], "enabled": '
                    '[]}: must be the same for all profiles']


def test_queue_sort_args_must_be_the_same_in_all_profiles() -> None:
    errs = errors_of("""\
profiles:
- schedulerName: a
  plugins:
    queueSort: {enabled: [{name: PrioritySort}]}
  pluginConfig: [{name: PrioritySort, args: {reverse: true}}]
- schedulerName: b
  plugins:
    queueSort: {enabled: [{name: PrioritySort}]}
  pluginConfig: [{name: PrioritySort, args: {reverse: false}}]
""")
    assert errs == ['profiles[1].pluginConfig: Invalid value: "PrioritySort": queueSort must be '
                    "the same for all profiles"]


def test_only_one_queue_sort() -> None:
    errs = errors_of("profiles:\n- plugins:\n    queueSort:\n"
                     "      enabled: [{name: PrioritySort}, {name: NodeName}]\n")
    assert errs == ["profiles[0].plugins.queueSort.enabled: Invalid value: 2: only one queue "
                    "sort plugin can be enabled"]


def test_queue_sort_resolved_from_multipoint_must_match_across_profiles() -> None:
    reg = fake_registry(OtherSort=spec("OtherSort", ("queueSort",)))
    c = parse_config(HEADER + """\
profiles:
- schedulerName: a
- schedulerName: b
  plugins:
    multiPoint:
      enabled: [{name: OtherSort}]
      disabled: [{name: PrioritySort}]
""", plugins=reg)
    with pytest.raises(ConfigError) as ei:
        expand_all(c, {p.scheduler_name: instantiate(p) for p in c.profiles})
    assert ei.value.errors == [
        "profiles[1].plugins.queueSort: Invalid value: \"OtherSort\": must be the same for all "
        "profiles ('PrioritySort' in profiles[0])"
    ]


def test_leader_election_rules() -> None:
    errs = errors_of("leaderElection:\n  leaseDuration: 5s\n  renewDeadline: 10s\n"
                     "  retryPeriod: -1s\n  resourceLock: endpoints\n")
    assert errs == [
        'leaderElection.retryPeriod: Invalid value: "-1s": must be greater than zero',
        'leaderElection.leaseDuration: Invalid value: "10s": must be greater than '
        "`RenewDeadline`",
        'leaderElection.resourceLock: Invalid value: "endpoints": resourceLock value must be '
        '"leases"',
    ]
    # none of it matters without leader election (upstream)
    parse_config(HEADER + "leaderElection:\n  leaderElect: false\n  leaseDuration: 1s\n",
                 plugins=fake_registry())


def test_bad_duration_syntax() -> None:
    assert errors_of("leaderElection:\n  leaseDuration: 15\n") == [
        'leaderElection.leaseDuration: Invalid value: 15: expected str, got int'
    ]
    assert errors_of("leaderElection:\n  retryPeriod: 2 seconds\n") == [
        'leaderElection.retryPeriod: Invalid value: "2 seconds": time: invalid duration '
        '"2 seconds"'
    ]


def test_durations_parse_go_syntax() -> None:
    c = parse_config(HEADER + "leaderElection:\n  leaseDuration: 1m30s\n  renewDeadline: 1.5s\n"
                     "  retryPeriod: 500ms\n", plugins=fake_registry())
    le = c.leader_election
    assert (le.lease_duration_seconds, le.renew_deadline_seconds, le.retry_period_seconds) == (
        90.0, 1.5, 0.5)


def test_client_connection() -> None:
    assert errors_of("clientConnection:\n  burst: -1\n") == [
        "clientConnection.burst: Invalid value: -1: must be non-negative"
    ]
    assert errors_of("clientConnection:\n  qps: .nan\n") == [
        "clientConnection.qps: Invalid value: nan: must be a finite number"
    ]
    c = parse_config(HEADER + "clientConnection:\n  qps: 5\n  burst: 0\n"
                     "  contentType: application/json\n", plugins=fake_registry())
    assert (c.client_connection.qps, c.client_connection.burst) == (5.0, 100)


def test_header_is_required() -> None:
    assert errors_of("profiles: []\n", header="") == [
        'apiVersion: Required value: must be "kubescheduler.config.k8s.io/v1"',
        'kind: Required value: must be "KubeSchedulerConfiguration"',
    ]
    assert errors_of("", header="apiVersion: kubescheduler.config.k8s.io/v1beta3\n"
                                "kind: KubeSchedulerConfiguration\n") == [
        'apiVersion: Unsupported value: "kubescheduler.config.k8s.io/v1beta3": supported '
        'values: "kubescheduler.config.k8s.io/v1": v1beta3 is no longer supported '
        '(kube-scheduler v1.37 reads only v1 too); convert the file to '
        'kubescheduler.config.k8s.io/v1, see docs/CONFIGURATION.md'
    ]


def test_plugin_config_errors() -> None:
    errs = errors_of("""\
profiles:
- pluginConfig:
  - name: NodeResourcesFit
  - name: NodeResourcesFit
  - name: Nope
  - args: {}
  - name: EBSLimits
""")
    assert errs == [
        'profiles[0].pluginConfig[1]: Duplicate value: "NodeResourcesFit"',
        'profiles[0].pluginConfig[2].name: Invalid value: "Nope": plugin not registered',
        "profiles[0].pluginConfig[3].name: Required value",
        'profiles[0].pluginConfig[4]: Invalid value: "EBSLimits": was invalid in version '
        '"kubescheduler.config.k8s.io/v1" (KubeSchedulerConfiguration is version '
        '"kubescheduler.config.k8s.io/v1")',
    ]


def test_args_for_plugin_without_args_type() -> None:
    errs = errors_of("profiles:\n- pluginConfig:\n  - name: NodeName\n    args: {foo: 1}\n")
    assert errs == ["profiles[0].pluginConfig[0].args: Forbidden: plugin 'NodeName' takes no "
                    "args"]


def test_args_kind_must_match_plugin() -> None:
    errs = errors_of("profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n"
                     "    args: {kind: InterPodAffinityArgs}\n")
    assert errs == ['profiles[0].pluginConfig[0].args.kind: Invalid value: '
                    '"InterPodAffinityArgs": must be NodeResourcesFitArgs']


def test_unsupported_upstream_features() -> None:
    errs = errors_of("""\
extenders:
- urlPrefix: http://x
percentageOfPlacementsToScore: 10
profiles:
- plugins:
    placementScore:
      enabled: [{name: X}]
""")
    assert errs == [
        "extenders: Forbidden: scheduler extenders are not supported by pyscheduler",
        "percentageOfPlacementsToScore: Forbidden: workload (PodGroup placement) scheduling is "
        "not supported by pyscheduler",
        "profiles[0].plugins.placementScore: Forbidden: workload (PodGroup placement) "
        "scheduling is not supported by pyscheduler",
    ]


def test_allowed_scheduler_names_courtesy_list() -> None:
    def allowed(body: str) -> frozenset[str] | None:
        c = parse_config(HEADER + body, plugins=fake_registry())
        return c.preemption_allowed_scheduler_names

    ext = "pyscheduler:\n  preemption:\n    allowedSchedulerNames: "
    # our own profiles are always allowed; the list adds other schedulers
    assert allowed(ext + "[batch]\n") == frozenset({"pyscheduler", "batch"})
    assert allowed(ext + "[pyscheduler, batch]\n") == frozenset({"pyscheduler", "batch"})
    assert allowed(ext + "[]\n") == frozenset({"pyscheduler"})
    assert allowed("pyscheduler:\n  preemption: {}\n") == frozenset({"pyscheduler"})
    assert allowed("profiles:\n- schedulerName: a\n- schedulerName: b\n") == frozenset(
        {"a", "b"})
    # "*": the courtesy off, any pod may be a victim (upstream)
    assert allowed(ext + "['*']\n") is None
    assert errors_of(ext + "[a, '', a]\n") == [
        "pyscheduler.preemption.allowedSchedulerNames[1]: Required value",
        'pyscheduler.preemption.allowedSchedulerNames[2]: Duplicate value: "a"',
    ]
    assert errors_of(ext + "[a, '*']\n") == [
        'pyscheduler.preemption.allowedSchedulerNames[1]: Invalid value: "*": must be the only '
        "entry",
    ]


def test_default_plugin_missing_from_registry() -> None:
    reg = fake_registry()
    del reg["VolumeBinding"]
    with pytest.raises(ConfigError) as ei:
        parse_config(HEADER, plugins=reg)
    assert ei.value.errors == [
        'profiles[0].plugins.multiPoint: Invalid value: "VolumeBinding": default plugin not '
        "registered (disable it explicitly to run without it)"
    ]
    # ... and disabling it is the way out
    parse_config(HEADER + "profiles:\n- plugins:\n    multiPoint:\n"
                 "      disabled: [{name: VolumeBinding}]\n", plugins=reg)


def test_all_errors_are_collected_and_aggregated_like_upstream() -> None:
    with pytest.raises(ConfigError) as ei:
        parse_config(HEADER + "parallelism: -1\npercentageOfNodesToScore: 200\n",
                     plugins=fake_registry())
    assert len(ei.value.errors) == 2
    assert str(ei.value) == (
        "[parallelism: Invalid value: -1: should be an integer value greater than zero, "
        "percentageOfNodesToScore: Invalid value: 200: not in valid range [0-100]]"
    )
    with pytest.raises(ConfigError) as ei:
        parse_config(HEADER + "parallelism: -1\n", plugins=fake_registry())
    assert str(ei.value) == (
        "parallelism: Invalid value: -1: should be an integer value greater than zero")
