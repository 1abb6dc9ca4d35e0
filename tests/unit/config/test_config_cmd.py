"""Issue 13: ``pyscheduler config defaults`` loads back unchanged; ``config validate`` lists
every error with its field path and exits 2, or exits 0."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pyscheduler.cmd.cli import main
from pyscheduler.config import default_config, parse_config
from pyscheduler.config.encode import defaulted_document
from pyscheduler.plugins.registry import default_registry


@pytest.fixture(autouse=True)
def _keep_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() configures structlog onto the captured stderr, which pytest closes after the
    test: later tests' log lines would then fail with "I/O operation on closed file"."""
    from pyscheduler.cmd import logsetup

    monkeypatch.setattr(logsetup, "configure", lambda *a, **k: None)


def test_defaults_print_yaml_that_loads_back_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "defaults"]) == 0
    text = capsys.readouterr().out
    reg = default_registry()
    loaded = parse_config(text, plugins=reg)
    assert loaded == default_config(plugins=reg)
    assert defaulted_document(loaded) == yaml.safe_load(text)


def test_defaults_write_every_default_out(capsys: pytest.CaptureFixture[str]) -> None:
    main(["config", "defaults"])
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["leaderElection"]["leaseDuration"] == "15s"
    (prof,) = doc["profiles"]
    names = [e["name"] for e in prof["plugins"]["multiPoint"]["enabled"]]
    assert names[:2] == ["SchedulingGates", "PrioritySort"] and "DefaultBinder" in names
    fit = next(c for c in prof["pluginConfig"] if c["name"] == "NodeResourcesFit")
    assert fit["args"]["kind"] == "NodeResourcesFitArgs"
    assert fit["args"]["scoringStrategy"]["type"] == "LeastAllocated"


def test_validate_a_valid_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["config", "defaults"])
    path = tmp_path / "c.yaml"
    path.write_text(capsys.readouterr().out)
    assert main(["config", "validate", str(path)]) == 0
    out = capsys.readouterr()
    assert "valid; profiles: pyscheduler" in out.out and out.err == ""


def test_validate_lists_every_error_with_its_path(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("""apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: a
- schedulerName: b
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: Foo
  - name: DefaultPreemption
    args:
      minCandidateNodesPercentage: 200
""")
    assert main(["config", "validate", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert any('profiles[1].pluginConfig[0].args.scoringStrategy.type: Unsupported value: "Foo"'
               in line for line in err), err
    assert any("profiles[1].pluginConfig[1].args.minCandidateNodesPercentage: Invalid value: 200"
               in line for line in err), err
    assert all(line.startswith(str(path)) for line in err)


def test_validate_needs_exactly_one_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate"]) == 2
    assert "give a FILE or --config-map" in capsys.readouterr().err


def test_validate_missing_file_is_one_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No such file" in err
