"""pyscheduler against the real kube-scheduler, one test per scenario (scenarios/*.yaml).

A scenario whose decisive plugins pyscheduler has not registered yet is an expected failure
(``xfail(strict=True, raises=PluginsMissing)``), computed at collection from the plugin
registry: it still runs against kube-scheduler, so the scenario itself is checked against
upstream (its ``expect`` entries), then fails with PluginsMissing. Once the plugin is
registered the mark goes away and the scenario is compared for real. See runner.py for what
"the same decision" means.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyscheduler.plugins.registry import default_registry as registry

from .runner import Env, PluginsMissing, Report, run_scenario
from .scenario import SCENARIO_DIR, Scenario, load_scenarios

# PYSCHEDULER_DIFF_SCENARIOS=<dir> replays other scenario files (e.g. saved fuzz failures).
SCENARIOS = load_scenarios(Path(os.environ.get("PYSCHEDULER_DIFF_SCENARIOS") or SCENARIO_DIR))
REGISTERED = frozenset(registry())


def _param(sc: Scenario) -> object:
    missing = sc.missing(REGISTERED)
    marks = []
    if missing:
        marks.append(pytest.mark.xfail(
            strict=True, raises=PluginsMissing,
            reason=f"pyscheduler has not registered {', '.join(missing)}"))
    return pytest.param(sc, id=sc.name, marks=marks)


@pytest.mark.parametrize("scenario", [_param(sc) for sc in SCENARIOS])
def test_scenario(scenario: Scenario, diff_env: Env, diff_reports: list[Report]) -> None:
    report = Report(scenario.name)
    diff_reports.append(report)
    try:
        run_scenario(diff_env, scenario, report)
    except PluginsMissing:
        raise
    except Exception as e:
        report.error = f"{type(e).__name__}: {e}"
        raise
    assert not report.mismatches, (
        f"pyscheduler decided differently from kube-scheduler in {scenario.name}:\n  "
        + "\n  ".join(report.mismatches))
