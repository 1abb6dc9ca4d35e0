"""The command line's common options: accepted before and after any subcommand (issue 15)."""

from __future__ import annotations

import pytest

from pyscheduler.cmd import cli
from pyscheduler.cmd.logsetup import level_for_verbosity


@pytest.mark.parametrize("argv", [
    ["-v", "4", "run"], ["run", "-v", "4"], ["run", "-v=4"], ["--v=4", "run"], ["run", "--v", "4"],
])
def test_verbosity_before_or_after_the_subcommand(argv: list[str]) -> None:
    args = cli._parser().parse_args(argv)
    assert args.verbosity == 4
    assert cli._log_level(args) == "debug"


@pytest.mark.parametrize("argv", [
    ["--log-level", "warning", "--logging-format", "json", "version"],
    ["version", "--log-level", "warning", "--logging-format", "json"],
    ["--log-level", "warning", "version", "--logging-format", "json"],
])
def test_log_options_before_or_after(argv: list[str]) -> None:
    args = cli._parser().parse_args(argv)
    assert (args.log_level, args.logging_format) == ("warning", "json")


def test_a_value_before_the_subcommand_survives_the_subparser_defaults() -> None:
    args = cli._parser().parse_args(["--log-level", "error", "run", "--kubeconfig", "k"])
    assert args.log_level == "error"
    assert args.logging_format is None  # not given anywhere: the top-level default


def test_log_level_wins_over_verbosity() -> None:
    args = cli._parser().parse_args(["-v", "5", "run", "--log-level", "warning"])
    assert cli._log_level(args) == "warning"


def test_a_new_subcommand_gets_the_common_options_from_one_function() -> None:
    p = cli._Parser(prog="x")
    cli.add_common_options(p, top_level=True)
    sub = p.add_subparsers(dest="command", required=True, parser_class=cli._Parser)
    cli.add_subcommand(sub, "dry-run")
    args = p.parse_args(["dry-run", "-v", "2", "--logging-format", "text"])
    assert (args.verbosity, args.logging_format) == (2, "text")


@pytest.mark.parametrize(("v", "level"), [(0, "info"), (2, "info"), (3, "info"), (4, "debug"),
                                          (10, "debug")])
def test_klog_verbosity_mapping(v: int, level: str) -> None:
    assert level_for_verbosity(v) == level


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli._parser().parse_args(["run", "--logging-format", "xml"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--logging-format" in err, err
