"""Pod groups under kube-scheduler v1.37.2's GangScheduling and under pyscheduler's, one test
per gated scenario (scenarios/gang.yaml; the format and the comparison are in gang.py)."""

from __future__ import annotations

import pytest

from .gang import GangReport, GangScenario, load_gang_scenarios, run_gang_scenario
from .runner import Env

SCENARIOS = load_gang_scenarios()


@pytest.mark.parametrize("scenario", [pytest.param(sc, id=sc.name) for sc in SCENARIOS])
def test_gang_scenario(scenario: GangScenario, gang_env: Env,
                       gang_reports: list[GangReport]) -> None:
    report = GangReport(scenario.name)
    gang_reports.append(report)
    run_gang_scenario(gang_env, scenario, report)
    assert not report.mismatches, (
        f"pyscheduler's pod groups differ from kube-scheduler's in {scenario.name}:\n  "
        + "\n  ".join(report.mismatches))
