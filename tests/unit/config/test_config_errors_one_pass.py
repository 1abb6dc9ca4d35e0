"""Every problem of a file in one pass, each with its field path (issue 15)."""

from __future__ import annotations

from pyscheduler.config import FieldError, validate
from pyscheduler.plugins.registry import default_registry

HEADER = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"


def test_decoding_and_validation_problems_come_together() -> None:
    errs = validate(HEADER + """\
foo: 1
profiles:
- schedulerName: a
  plugins:
    score:
      enabled:
      - name: NodeResourceFit
- schedulerName: b
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: Foo
""", plugins=default_registry())
    assert [e.field for e in errs] == [
        "foo",
        "profiles[0].plugins.score.enabled[0]",
        "profiles[1].pluginConfig[0].args.scoringStrategy.type",
    ]
    assert errs[1].message.endswith('plugin not registered (did you mean "NodeResourcesFit"?)')
    assert errs[2].message.startswith(
        'profiles[1].pluginConfig[0].args.scoringStrategy.type: Unsupported value: "Foo"')


def test_a_wrong_typed_field_does_not_hide_the_others() -> None:
    errs = validate(HEADER + "parallelism: many\npodMaxBackoffSeconds: -1\n",
                    plugins=default_registry())
    assert [e.field for e in errs] == ["parallelism", "podMaxBackoffSeconds"], errs


def test_an_older_api_version_is_named_as_the_cause() -> None:
    errs = validate("apiVersion: kubescheduler.config.k8s.io/v1beta1\n"
                    "kind: KubeSchedulerConfiguration\nhealthzBindAddress: 0.0.0.0:10251\n",
                    plugins=default_registry())
    assert len(errs) == 1
    assert errs[0].field == "apiVersion"
    assert "v1beta1 is no longer supported" in errs[0].message
    assert "healthzBindAddress" not in errs[0].message


def test_a_configmap_gets_a_hint() -> None:
    errs = validate("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s}\n"
                    "data:\n  config.yaml: |\n    kind: KubeSchedulerConfiguration\n",
                    plugins=default_registry())
    assert [e.field for e in errs] == ["kind"]
    assert "--config-map" in errs[0].message and '"config.yaml"' in errs[0].message


def test_a_loadable_file_has_no_errors() -> None:
    assert validate(HEADER, plugins=default_registry()) == []


def test_field_errors_render_as_their_message() -> None:
    assert str(FieldError("a.b", "a.b: Required value")) == "a.b: Required value"
