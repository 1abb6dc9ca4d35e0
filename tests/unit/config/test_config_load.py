"""Loading: strict decoding, YAML safety, args decoding, files, and never-partial hot swaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from _config_fakes import fake_registry, instantiate, make_plugin_class

from pyscheduler.config import (
    ConfigError,
    SchedulerConfig,
    default_config,
    load_config,
    parse_config,
)
from pyscheduler.framework.multipoint import expand, expand_all
from pyscheduler.framework.registry import PluginSpec, Registry
from pyscheduler.plugins.registry import default_registry, new_in_tree_registry

HEADER = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
REPO = Path(__file__).resolve().parents[3]


def errors_of(text: str, plugins: dict[str, PluginSpec] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as ei:
        parse_config(text, plugins=plugins if plugins is not None else fake_registry())
    return ei.value.errors


# ---- strict decoding -------------------------------------------------------------------------
def test_unknown_fields_are_all_reported_with_their_paths() -> None:
    errs = errors_of(HEADER + """\
foo: 1
leaderElection:
  leaderElect: true
  lease: 15s
profiles:
- schedulerName: a
  bogus: true
  plugins:
    filters: {}
    score:
      enabled: [{name: ImageLocality, wieght: 2}]
""")
    assert errs == [
        'unknown field "foo"',
        'unknown field "leaderElection.lease"',
        'unknown field "profiles[0].bogus"',
        'unknown field "profiles[0].plugins.filters" (did you mean "filter"?)',
        'unknown field "profiles[0].plugins.score.enabled[0].wieght" (did you mean "weight"?)',
    ]


def test_type_errors_name_the_field() -> None:
    errs = errors_of(HEADER + """\
parallelism: "16"
profiles:
- schedulerName: 7
  plugins:
    filter:
      enabled: NodeName
""")
    assert errs == [
        'parallelism: Invalid value: "16": expected int, got str',
        "profiles[0].schedulerName: Invalid value: 7: expected str, got int",
        'profiles[0].plugins.filter.enabled: Invalid value: "NodeName": expected array, got str',
    ]


def test_null_means_unset_like_go() -> None:
    c = parse_config(HEADER + """\
parallelism:
leaderElection:
profiles:
- schedulerName: solo
  plugins:
    multiPoint:
      enabled:
      disabled:
  pluginConfig:
""", plugins=fake_registry())
    assert c.parallelism == 16
    assert c.scheduler_names == ("solo",)
    assert c.profiles[0].plugin_names == default_config(plugins=fake_registry()).profiles[
        0].plugin_names


def test_empty_profiles_list_gets_the_default_profile() -> None:
    c = parse_config(HEADER + "profiles: []\n", plugins=fake_registry())
    assert c.scheduler_names == ("pyscheduler",)


def test_upstream_debugging_fields_are_accepted_and_ignored() -> None:
    c = parse_config(HEADER + "enableProfiling: true\nenableContentionProfiling: false\n"
                     "delayCacheUntilActive: true\n", plugins=fake_registry())
    assert c.delay_cache_until_active is True


# ---- YAML safety -----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "want"), [
    ("", "configuration is empty: expected a KubeSchedulerConfiguration"),
    ("- a\n- b\n", "configuration must be a YAML mapping (a KubeSchedulerConfiguration), got "
                   "list"),
    ("kind: [\n", "yaml: line 2, column 1: while parsing a flow node, expected the node "
                  "content, but found '<stream end>'"),
    ("a: 1\nb: 2\na: 3\n", 'line 3, column 1: duplicate field "a"'),
    ("x: &a [1]\ny: *a\n", "yaml: line 2, column 4: YAML aliases are not supported"),
    ("a: 1\n---\nb: 2\n", "yaml: line 2, column 1: expected a single document in the stream, "
                          "but found another document"),
])
def test_yaml_problems_are_config_errors(text: str, want: str) -> None:
    assert errors_of(text) == [want]


def test_deep_nesting_is_a_config_error() -> None:
    errs = errors_of("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert errs == ["yaml: document is nested too deeply"]


def test_oversized_document_is_refused() -> None:
    errs = errors_of(HEADER + "#" + "x" * (1 << 20) + "\n")
    assert errs == ["configuration is larger than 1048576 bytes"]


def test_bytes_input() -> None:
    assert parse_config(HEADER.encode(), plugins=fake_registry()).scheduler_names == (
        "pyscheduler",)
    assert errors_of(b"\xff\xfe") == [  # type: ignore[arg-type]
        "configuration is not valid UTF-8: 'utf-8' codec can't decode byte 0xff in position "
        "0: invalid start byte"
    ]


# ---- profiles and args -----------------------------------------------------------------------
TWO_PROFILES = HEADER + """\
profiles:
- schedulerName: spread
- schedulerName: pack
  percentageOfNodesToScore: 50
  plugins:
    multiPoint:
      enabled:
      - name: NodeResourcesFit
        weight: 4
      disabled:
      - name: NodeResourcesBalancedAllocation
    postFilter:
      disabled:
      - name: DefaultPreemption
  pluginConfig:
  - name: NodeResourcesFit
    args:
      apiVersion: kubescheduler.config.k8s.io/v1
      kind: NodeResourcesFitArgs
      scoringStrategy:
        type: MostAllocated
        resources:
        - {name: cpu, weight: 2}
        - {name: memory, weight: 1}
"""


def test_two_profiles() -> None:
    c = parse_config(TWO_PROFILES, plugins=fake_registry())
    assert c.scheduler_names == ("spread", "pack")
    spread, pack = c.profiles
    assert c.profile("pack") is pack and c.profile("nope") is None
    assert spread.percentage_of_nodes_to_score is None
    assert pack.percentage_of_nodes_to_score == 50
    assert spread.args["NodeResourcesFit"].scoring_strategy.type == "LeastAllocated"
    fit = pack.args["NodeResourcesFit"]
    assert fit.scoring_strategy.type == "MostAllocated"
    assert [(r.name, r.weight) for r in fit.scoring_strategy.resources] == [
        ("cpu", 2), ("memory", 1)]
    assert pack.score_weights["NodeResourcesFit"] == 4
    assert "NodeResourcesBalancedAllocation" not in pack.plugin_names
    # NodeResourcesFit replaced its default in place: order is unchanged
    assert pack.multi_point.index("NodeResourcesFit") == spread.multi_point.index(
        "NodeResourcesFit")
    pts = expand_all(c, {p.scheduler_name: instantiate(p) for p in c.profiles})
    assert pts["spread"]["postFilter"] == ["DefaultPreemption"]
    assert pts["pack"]["postFilter"] == []
    assert "NodeResourcesBalancedAllocation" not in pts["pack"]["score"]
    assert pts["pack"]["queueSort"] == pts["spread"]["queueSort"] == ["PrioritySort"]


def test_invalid_args_name_the_field_path() -> None:
    errs = errors_of(HEADER + """\
profiles:
- pluginConfig:
  - name: DefaultPreemption
    args: {minCandidateNodesAbsolute: 100}
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources:
        - {name: cpu, weight: 500}
        - {name: memory, weight: 0}
""")
    assert errs == [
        "profiles[0].pluginConfig[1].args.scoringStrategy.resources[0].weight: Invalid value: "
        "500: resource weight of cpu should be in the range [1, 100]",
        "profiles[0].pluginConfig[1].args.scoringStrategy.resources[1].weight: Invalid value: "
        "0: resource weight of memory should be in the range [1, 100]",
    ]


def test_args_decoding_is_strict_and_typed() -> None:
    errs = errors_of(HEADER + """\
profiles:
- pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy: {type: Bogus, resourcez: []}
      ignoredResources: cpu
""")
    assert errs == [
        'profiles[0].pluginConfig[0].args.scoringStrategy.type: Invalid value: "Bogus": '
        "invalid enum value 'Bogus'",
        'unknown field "profiles[0].pluginConfig[0].args.scoringStrategy.resourcez" '
        '(did you mean "resources"?)',
        'profiles[0].pluginConfig[0].args.ignoredResources: Invalid value: "cpu": expected '
        "array, got str",
    ]


# Plugins merged into the in-tree registry, as the command merges out-of-tree plugins.
class CoschedArgs(msgspec.Struct, rename="camel"):
    permit_waiting_time_seconds: int = 60
    pod_group_backoff_seconds: int | None = None

    def validate(self) -> None:
        if self.permit_waiting_time_seconds <= 0:
            raise ValueError(f"permitWaitingTimeSeconds: Invalid value: "
                             f"{self.permit_waiting_time_seconds}: must be greater than 0")


_COSCHED = make_plugin_class("ConfigTestCosched", ("permit", "queueSort"))
_BINDER = make_plugin_class("ConfigTestBinder", ("bind",))
COSCHED = PluginSpec("ConfigTestCosched", lambda args, h: _COSCHED(args, h), CoschedArgs)
BINDER = PluginSpec("ConfigTestBinder", lambda args, h: _BINDER(args, h), None)

OUT_OF_TREE = HEADER + """\
profiles:
- schedulerName: gang
  plugins:
    multiPoint:
      disabled: [{name: "*"}]
      enabled: [{name: ConfigTestCosched}, {name: ConfigTestBinder}]
  pluginConfig:
  - name: ConfigTestCosched
    args:
      apiVersion: example.com/v1
      permitWaitingTimeSeconds: %s
"""


@pytest.fixture
def out_of_tree() -> Registry:
    reg = new_in_tree_registry()
    reg.merge(Registry([COSCHED, BINDER]))
    return reg


def test_registered_plugin_args_decode_into_args_type(out_of_tree: Registry) -> None:
    c = parse_config(OUT_OF_TREE % "30", plugins=out_of_tree)
    p = c.profiles[0]
    assert p.args["ConfigTestCosched"] == CoschedArgs(permit_waiting_time_seconds=30)
    assert p.args["ConfigTestBinder"] is None
    assert p.specs["ConfigTestCosched"] is COSCHED
    assert expand(p, instantiate(p)) == {
        "preEnqueue": [], "queueSort": ["ConfigTestCosched"], "preFilter": [], "filter": [],
        "postFilter": [], "preScore": [], "score": [], "reserve": [],
        "permit": ["ConfigTestCosched"], "preBind": [], "bind": ["ConfigTestBinder"],
        "postBind": [],
    }
    assert out_of_tree["ConfigTestCosched"] is COSCHED


def test_registered_plugin_invalid_args_names_the_field(out_of_tree: Registry) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_config(OUT_OF_TREE % "0", plugins=out_of_tree)
    assert ei.value.errors == [
        "profiles[0].pluginConfig[0].args.permitWaitingTimeSeconds: Invalid value: 0: must be "
        "greater than 0"
    ]
    with pytest.raises(ConfigError) as ei:
        parse_config(OUT_OF_TREE % "soon", plugins=out_of_tree)
    assert ei.value.errors == [
        'profiles[0].pluginConfig[0].args.permitWaitingTimeSeconds: Invalid value: "soon": '
        "expected int, got str"
    ]


def _unused_factory(args: Any, handle: Any) -> Any:
    raise AssertionError("the loader never instantiates plugins")


def test_args_type_without_defaults_needs_plugin_config() -> None:
    class Required(msgspec.Struct):
        endpoint: str

    reg = fake_registry(Needy=PluginSpec("Needy", _unused_factory, Required))
    text = HEADER + "profiles:\n- plugins:\n    filter:\n      enabled: [{name: Needy}]\n"
    errs = errors_of(text, reg)
    assert len(errs) == 1 and errs[0].startswith(
        "profiles[0].pluginConfig: Required value: plugin 'Needy' needs args")
    errs = errors_of(text + "  pluginConfig: [{name: Needy, args: {}}]\n", reg)
    assert errs == ["profiles[0].pluginConfig[0].args.endpoint: Required value"]


def test_plugin_validate_crash_is_reported_not_raised() -> None:
    class Buggy(msgspec.Struct):
        def validate(self) -> None:
            raise KeyError("oops")

    reg = fake_registry(Buggy=PluginSpec("Buggy", _unused_factory, Buggy))
    errs = errors_of(HEADER + "profiles:\n- pluginConfig: [{name: Buggy, args: {}}]\n", reg)
    assert errs == ["profiles[0].pluginConfig[0].args: Internal error: validating args raised "
                    "KeyError: 'oops'"]


# ---- files -----------------------------------------------------------------------------------
def _is_snapshot(path: Path) -> bool:
    # config/examples also ships a dry-run snapshot (a v1 List, tests/unit/dryrun checks it).
    return "\nkind: List\n" in path.read_text()


def _yaml_files() -> list[Path]:
    files = [REPO / "config" / "pyscheduler.yaml", *sorted(
        p for p in (REPO / "config" / "examples").glob("*.yaml") if not _is_snapshot(p))]
    assert len(files) >= 4
    return files


def _registry_for_files() -> dict[str, PluginSpec]:
    # Real in-tree plugins take precedence over the fakes as they land, so these files keep
    # being checked against the real args types.
    return {**fake_registry(), **new_in_tree_registry()}


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: p.name)
def test_shipped_yaml_files_load(path: Path) -> None:
    c = load_config(path, plugins=_registry_for_files())
    for p in c.profiles:
        pts = expand(p, instantiate(p))
        assert pts["queueSort"] and pts["bind"]


def test_default_file_is_the_default_config() -> None:
    reg = _registry_for_files()
    from_file = load_config(REPO / "config" / "pyscheduler.yaml", plugins=reg)
    builtin = default_config(plugins=reg)
    _assert_same(from_file, builtin)
    # str paths work too
    _assert_same(load_config(str(REPO / "config" / "pyscheduler.yaml"), plugins=reg), builtin)


def _assert_same(a: SchedulerConfig, b: SchedulerConfig) -> None:
    assert a == b  # ``source`` (the document as written) is excluded from equality
    for pa, pb in zip(a.profiles, b.profiles, strict=True):
        assert expand(pa, instantiate(pa)) == expand(pb, instantiate(pb))


def test_examples_mean_what_they_say() -> None:
    reg = _registry_for_files()
    ex = REPO / "config" / "examples"
    pack = load_config(ex / "bin-packing.yaml", plugins=reg).profiles[0]
    assert _msgspec_field(pack.args["NodeResourcesFit"], "scoringStrategy", "type") == (
        "MostAllocated")
    nopre = load_config(ex / "no-preemption.yaml", plugins=reg).profiles[0]
    assert expand(nopre, instantiate(nopre))["postFilter"] == []
    two = load_config(ex / "two-profiles.yaml", plugins=reg)
    assert len(two.profiles) == 2
    assert two.preemption_allowed_scheduler_names == frozenset(two.scheduler_names)


def _msgspec_field(obj: Any, *path: str) -> Any:
    builtins = msgspec.to_builtins(obj)
    for key in path:
        builtins = builtins[key]
    return builtins


def test_load_config_missing_file() -> None:
    with pytest.raises(ConfigError) as ei:
        load_config("/nonexistent/pyscheduler.yaml", plugins=default_registry())
    assert ei.value.errors == ["/nonexistent/pyscheduler.yaml: No such file or directory"]
    with pytest.raises(ConfigError):
        load_config(Path("/nonexistent/anything"), plugins=default_registry())


def test_load_config_accepts_text() -> None:
    assert load_config(HEADER, plugins=fake_registry()).scheduler_names == ("pyscheduler",)


# ---- hot swap --------------------------------------------------------------------------------
def test_parse_is_pure_and_never_partial() -> None:
    reg = fake_registry()
    snapshot = dict(reg)
    good = parse_config(TWO_PROFILES, plugins=reg)
    with pytest.raises(ConfigError):
        parse_config(TWO_PROFILES + "parallelism: 0\n", plugins=reg)
    assert reg == snapshot
    # the good config is untouched and still equal to a fresh parse
    assert good == parse_config(TWO_PROFILES, plugins=reg)
    with pytest.raises(TypeError):
        good.profiles[0].args["X"] = 1  # type: ignore[index]
