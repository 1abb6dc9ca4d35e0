"""Fixtures and options of the fault suite (tests/faults; docs/TESTING.md, "Fault suite").

Options (each also an environment variable, for ``make faults``):

* ``--full`` / ``FAULTS_FULL=1``: bigger clusters and bursts, upstream lease durations
  (15 s/10 s/2 s) where the default uses short ones, more fault cycles, and the scenarios
  marked ``full_only``. Without it those are deselected (never skipped-as-passed).
* ``--repeat N`` / ``FAULTS_REPEAT=N``: run every scenario N times; the terminal summary
  counts passes and failures per scenario and the violations by kind.
* ``--scheduler-source DIR`` / ``FAULTS_SCHEDULER_SOURCE=DIR``: run ``pyscheduler run`` from
  the pyscheduler package in DIR (e.g. ``git worktree add /tmp/old <commit>``) instead of the
  installed one; the harness (envtest, these tests) stays the current checkout's.
* ``FAULTS_ARTIFACTS=DIR`` (default ``$TMPDIR/pyscheduler-faults``): where each failed run
  keeps its scheduler logs, configs, component logs and audit log.

Every test here is marked ``faults``. Binaries come from ``$KUBEBUILDER_ASSETS`` or
``hack/build-components.sh``, resolved before the first test (never skipped).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from envtest import find_assets

from .harness import Cluster

_HERE = Path(__file__).parent
_RESULTS: list[dict[str, Any]] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("faults")
    g.addoption("--full", action="store_true",
                default=os.environ.get("FAULTS_FULL", "") not in ("", "0", "false"),
                help="the full fault suite (bigger, slower, every scenario)")
    g.addoption("--repeat", type=int, default=int(os.environ.get("FAULTS_REPEAT") or 1),
                help="run each fault scenario N times")
    g.addoption("--scheduler-source", default=os.environ.get("FAULTS_SCHEDULER_SOURCE") or None,
                help="directory whose pyscheduler package the scheduler processes run")


def _is_fault(item: pytest.Item) -> bool:
    return _HERE in Path(str(item.path)).parents


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rep" in metafunc.fixturenames:
        n = max(1, int(metafunc.config.getoption("--repeat")))
        metafunc.parametrize("rep", range(n), ids=[f"run{i}" for i in range(n)])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    full = bool(config.getoption("--full"))
    keep, drop = [], []
    for item in items:
        if _is_fault(item):
            item.add_marker(pytest.mark.faults)
            if not full and item.get_closest_marker("full_only"):
                drop.append(item)
                continue
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: fault scenarios against the real control plane")
    config.addinivalue_line("markers", "full_only: only with --full / FAULTS_FULL=1")


def pytest_collection_finish(session: pytest.Session) -> None:
    if os.environ.get("KUBEBUILDER_ASSETS") or not any(map(_is_fault, session.items)):
        return
    capture = session.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        os.environ["KUBEBUILDER_ASSETS"] = str(find_assets())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" or (report.when == "setup" and report.failed):
        item.stash[_OUTCOME] = report.outcome
    return report


_OUTCOME = pytest.StashKey[str]()
_REPORT = pytest.StashKey[dict[str, Any]]()


@dataclass(frozen=True)
class Sizes:
    """How big a scenario runs: the default (fits make test) or --full."""

    full: bool

    def pick(self, default: Any, full: Any) -> Any:
        return full if self.full else default


@pytest.fixture
def sizes(request: pytest.FixtureRequest) -> Sizes:
    return Sizes(full=bool(request.config.getoption("--full")))


def _artifacts_root() -> Path:
    return Path(os.environ.get("FAULTS_ARTIFACTS")
                or Path(tempfile.gettempdir()) / "pyscheduler-faults")


@pytest.fixture
def cluster_factory(request: pytest.FixtureRequest) -> Iterator[Any]:
    """``cluster_factory(**Cluster.start kwargs) -> Cluster``; one per test, torn down after."""
    source = request.config.getoption("--scheduler-source")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    artifacts = _artifacts_root() / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    made: list[Cluster] = []

    def make(**kwargs: Any) -> Cluster:
        c = Cluster.start(artifacts, source=Path(source).resolve() if source else None,
                          **kwargs)
        made.append(c)
        return c

    yield make
    failed = request.node.stash.get(_OUTCOME, "failed") != "passed"
    for c in made:
        c.close(keep_artifacts=failed)
    if failed and artifacts.exists():
        print(f"\nfault artifacts kept in {artifacts}")
    elif artifacts.exists():
        shutil.rmtree(artifacts, ignore_errors=True)


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Any:
    """record(report_dict): what the terminal summary counts for this run."""
    def put(data: dict[str, Any]) -> None:
        request.node.stash[_REPORT] = data
    return put


def pytest_runtest_teardown(item: pytest.Item) -> None:
    if not _is_fault(item):
        return
    name = item.originalname if isinstance(item, pytest.Function) else item.name
    params = getattr(item, "callspec", None)
    variant = ""
    if params is not None:
        variant = ",".join(f"{k}={v}" for k, v in params.params.items() if k != "rep")
    report: dict[str, Any] = item.stash.get(_REPORT, {})
    _RESULTS.append({
        "scenario": name + (f"[{variant}]" if variant else ""),
        "outcome": item.stash.get(_OUTCOME, "failed"),
        **report,
    })


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _RESULTS:
        return
    tr = terminalreporter
    tr.section("fault suite")
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in _RESULTS:
        by[r["scenario"]].append(r)
    for scenario, runs in by.items():
        passed = sum(1 for r in runs if r["outcome"] == "passed")
        kinds: Counter[str] = Counter()
        for r in runs:
            kinds.update(r.get("violation_kinds") or {})
        secs = [float(r["seconds"]) for r in runs if r.get("seconds") is not None]
        tr.write_line(
            f"{scenario}: {passed}/{len(runs)} passed"
            + (f"; violations by kind over all runs: {dict(kinds)}" if kinds else "")
            + (f"; {min(secs):.0f}-{max(secs):.0f}s per run" if secs else ""))
        for i, r in enumerate(runs):
            if r.get("highlights"):
                tr.write_line(f"    run{i}: {r['highlights']}")
    out = _artifacts_root() / "results.json"
    with contextlib.suppress(OSError):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(_RESULTS, indent=1, default=str))
        tr.write_line(f"results: {out}")
