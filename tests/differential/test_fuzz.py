"""Seeded random scenarios (fuzz.py) through the differential harness.

``make differential-fuzz SEED=7 COUNT=300`` sets ``PYSCHEDULER_FUZZ_SEED`` and
``PYSCHEDULER_FUZZ_COUNT`` (``START=`` / ``PYSCHEDULER_FUZZ_START``: the first index, to play
a seed in chunks); without them (``make test``) a small fixed run: seed 20, 6
scenarios. Every scenario whose decisions disagree (or that the harness could not run) is saved
as YAML under ``PYSCHEDULER_FUZZ_OUT`` (default ``$TMPDIR/pyscheduler-fuzz``), one file each,
with what disagreed next to it (``<name>.txt``, written at once);
``PYSCHEDULER_DIFF_SCENARIOS=<that dir> make differential`` replays them. The terminal summary
prints how many disagreed and where they were saved.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from .fuzz import generate, save
from .runner import Env, Report, run_scenario
from .scenario import parse_scenario

SEED = int(os.environ.get("PYSCHEDULER_FUZZ_SEED", "20"))
START = int(os.environ.get("PYSCHEDULER_FUZZ_START", "0"))
COUNT = int(os.environ.get("PYSCHEDULER_FUZZ_COUNT", "6"))
OUT = Path(os.environ.get("PYSCHEDULER_FUZZ_OUT")
           or Path(tempfile.gettempdir()) / "pyscheduler-fuzz")
SAVED: list[Path] = []


@pytest.mark.parametrize("index", range(START, START + COUNT), ids=lambda i: f"seed{SEED}-{i}")
def test_fuzz(index: int, diff_env: Env, diff_reports: list[Report]) -> None:
    doc = generate(SEED, index)
    sc = parse_scenario(doc, "fuzz", doc["name"])
    report = Report(sc.name)
    diff_reports.append(report)
    try:
        run_scenario(diff_env, sc, report)
    except Exception as e:
        report.error = f"{type(e).__name__}: {e}"
        SAVED.append(save(doc, OUT, report.error))
        raise
    if report.mismatches:
        SAVED.append(save(doc, OUT, "\n".join(report.mismatches)))
    assert not report.mismatches, (
        f"pyscheduler decided differently from kube-scheduler in {sc.name} (saved under "
        f"{OUT}):\n  " + "\n  ".join(report.mismatches))
