"""Fixtures of the differential suite: one control plane, one kube-scheduler, one pyscheduler.

* ``diff_env`` (session): a real control plane (its own, not the integration suite's), the
  session-wide objects scenarios refer to (PriorityClasses, a RuntimeClass with pod overhead),
  kube-scheduler as a child process and pyscheduler in-process (schedulers.py). Binaries come
  from ``$KUBEBUILDER_ASSETS``; kube-scheduler is built into the same directory by
  ``hack/build-components.sh kube-scheduler`` if it is not there yet (after collection, before
  the first test, with its progress on the terminal). A missing binary is an error, never a
  skip. ``PYSCHEDULER_ENVTEST_KEEP=1`` keeps the work directory (kube-scheduler's log and
  config, pyscheduler's log).
* ``diff_reports`` (session): every scenario's :class:`runner.Report`; the terminal summary
  lists the suite's size, the scenarios waiting for a plugin, every mismatch and the runtime.
  ``PYSCHEDULER_DIFF_REPORT=<path>`` also writes them as JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from envtest import ControlPlane, ControlPlaneOptions, find_assets
from envtest.assets import BUILD_SCRIPT
from pyscheduler.plugins.registry import default_registry as registry

from .gang import GATES, GangReport, gated_files, load_gang_scenarios
from .runner import Env, Report
from .scenario import PRIORITY_CLASSES, RUNTIME_CLASSES
from .schedulers import KubeScheduler, PyScheduler, pyscheduler_config

_HERE = Path(__file__).parent
_REPORTS: list[Report] = []
_GANG_REPORTS: list[GangReport] = []
_STARTED = time.monotonic()


def _needs_cluster(item: pytest.Item) -> bool:
    return _HERE in Path(str(item.path)).parents and bool(
        {"diff_env", "gang_env"} & set(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _needs_cluster(item):
            item.add_marker(pytest.mark.differential)


def _kube_scheduler_binary(assets: Path) -> Path:
    binary = assets / "kube-scheduler"
    if os.access(binary, os.X_OK):
        return binary
    proc = subprocess.run([str(BUILD_SCRIPT), "kube-scheduler"], stdout=subprocess.PIPE,
                          text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT} kube-scheduler failed ({proc.returncode})")
    built = Path(proc.stdout.strip().splitlines()[-1]) / "kube-scheduler"
    if not os.access(built, os.X_OK):
        raise RuntimeError(f"{BUILD_SCRIPT} kube-scheduler did not produce {built}")
    return built


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build what is missing before the first test, with the build's output visible."""
    if not any(map(_needs_cluster, session.items)):
        return
    capture = session.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        assets = find_assets()
        os.environ["KUBEBUILDER_ASSETS"] = str(assets)
        os.environ["PYSCHEDULER_KUBE_SCHEDULER"] = str(_kube_scheduler_binary(assets))


def _session_objects(cp: ControlPlane) -> None:
    docs: list[dict[str, object]] = []
    for name, fields in PRIORITY_CLASSES.items():
        docs.append({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                     "metadata": {"name": name}, **fields})
    for name, fields in RUNTIME_CLASSES.items():
        docs.append({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                     "metadata": {"name": name}, **fields})
    cp.apply(docs)


@pytest.fixture(scope="session")
def diff_env() -> Iterator[Env]:
    keep = os.environ.get("PYSCHEDULER_ENVTEST_KEEP", "") not in ("", "0", "false")
    binary = Path(os.environ.get("PYSCHEDULER_KUBE_SCHEDULER")
                  or _kube_scheduler_binary(find_assets()))
    registered = frozenset(registry())
    with ControlPlane.start(ControlPlaneOptions(keep=keep)) as cp:
        work = cp.work_dir / "differential"
        work.mkdir()
        _session_objects(cp)
        kube = KubeScheduler(cp, binary, work)
        py = PyScheduler(cp.scheduler_kubeconfig, pyscheduler_config(set(registered)),
                         work / "pyscheduler.log")
        try:
            (work / "pyscheduler.yaml").write_text(py.config_text)
            py.start()
            yield Env(cp=cp, kube=kube, py=py, registered=registered, work=work)
        finally:
            py.stop()
            kube.stop()
            if keep:
                print(f"\ndifferential work directory kept: {work}")


@pytest.fixture(scope="session")
def gang_env() -> Iterator[Env]:
    """A second control plane, and kube-scheduler and pyscheduler on it, with the gated files'
    feature gates (gang.py). One for all gated files: they must ask for the same gates (a 2-core
    machine holds two control planes, not more)."""
    files = gated_files()
    gates = sorted({g for sc in load_gang_scenarios() for g in sc.gates})
    if not files or not gates:
        raise RuntimeError("gang_env without gated scenario files")
    setups = [GATES[g] for g in gates]
    apiserver: dict[str, str] = {}
    for setup in setups:
        for flag, value in setup.apiserver.items():
            apiserver[flag] = ",".join(filter(None, (apiserver.get(flag), value)))
    keep = os.environ.get("PYSCHEDULER_ENVTEST_KEEP", "") not in ("", "0", "false")
    binary = Path(os.environ.get("PYSCHEDULER_KUBE_SCHEDULER")
                  or _kube_scheduler_binary(find_assets()))
    registered = frozenset(registry())
    enabled = [p for s in setups for p in s.py_plugins]
    with ControlPlane.start(ControlPlaneOptions(keep=keep, apiserver_args=apiserver)) as cp:
        work = cp.work_dir / "differential-gated"
        work.mkdir()
        _session_objects(cp)
        kube = KubeScheduler(cp, binary, work,
                             feature_gates=",".join(s.kube_scheduler for s in setups))
        py = PyScheduler(cp.scheduler_kubeconfig, pyscheduler_config(set(registered), enabled),
                         work / "pyscheduler.log")
        try:
            (work / "pyscheduler.yaml").write_text(py.config_text)
            py.start()
            yield Env(cp=cp, kube=kube, py=py, registered=registered, work=work)
        finally:
            py.stop()
            kube.stop()
            if keep:
                print(f"\ngated differential work directory kept: {work}")


@pytest.fixture(scope="session")
def gang_reports() -> list[GangReport]:
    return _GANG_REPORTS


@pytest.fixture(scope="session")
def diff_reports() -> list[Report]:
    return _REPORTS


def _gang_summary(tr: pytest.TerminalReporter) -> None:
    tr.section("differential, gated: pod groups under kube-scheduler's GangScheduling")
    for r in _GANG_REPORTS:
        verdict = f"{len(r.mismatches)} MISMATCH(ES)" if r.mismatches else "agree"
        renamed = f" (our groups {r.renamed} play upstream's roles)" if r.renamed else ""
        tr.write_line(f"{r.scenario}: {verdict}, {r.seconds:.1f}s{renamed}")
        for i, (kube, py) in enumerate(zip(r.kube, r.py, strict=False), 1):
            for key in sorted(kube):
                if key.startswith(("pod ", "group ", "nodes ", "message ", "groupmessage ")):
                    tr.write_line(f"  {i}:{key}: kube {kube[key]!r} / py {py.get(key)!r}")
        for m in r.mismatches:
            tr.write_line(f"  MISMATCH {m}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    tr = terminalreporter
    if _GANG_REPORTS:
        _gang_summary(tr)
    if not _REPORTS:
        return
    ran = [r for r in _REPORTS if not r.missing and r.py]
    waiting = [r for r in _REPORTS if r.missing]
    bad = [r for r in _REPORTS if r.mismatches]
    errors = [r for r in _REPORTS if r.error]
    tr.section("differential: pyscheduler vs kube-scheduler")
    tr.write_line(f"{len(_REPORTS)} scenarios run against kube-scheduler; {len(ran)} compared "
                  f"with pyscheduler; {len(waiting)} waiting for plugins; {len(bad)} with "
                  f"mismatches; {len(errors)} errors; {time.monotonic() - _STARTED:.1f}s")
    # After a preemption tie broken the other way the two clusters differ (other victims
    # went), so the scenario's later pods are played but not compared.
    skipped = sum(1 for r in ran for n in r.notes if "not compared" in n)
    pods = sum(len(r.kube) for r in ran) - skipped
    ties = sum(1 for r in ran for o in r.py if o.realigned)
    tr.write_line(f"{pods} pod decisions compared ({skipped} not compared: after a preemption "
                  f"tie broken the other way); pyscheduler's pod re-created to follow "
                  f"kube-scheduler {ties} time(s) (ties broken the other way, or mismatches)")
    preempt_ties = sum(1 for r in ran for n in r.notes if "preemption tie" in n)
    preempted = sum(1 for r in ran for o in r.kube if o.victims)
    tr.write_line(f"{preempted} preemptions compared; {preempt_ties} on another node that "
                  "upstream's criteria tie with")
    by_missing: dict[str, list[str]] = {}
    for r in waiting:
        by_missing.setdefault(", ".join(r.missing), []).append(r.scenario)
    for missing, names in sorted(by_missing.items()):
        tr.write_line(f"  waiting for {missing}: {len(names)} ({', '.join(names)})")
    for r in errors:
        first = (r.error or "").splitlines()[0][:300]
        tr.write_line(f"  ERROR {r.scenario} (not compared): {first}")
    for r in bad:
        tr.write_line(f"  MISMATCH {r.scenario}:")
        for m in r.mismatches:
            tr.write_line(f"    {m}")
    from .test_fuzz import OUT, SAVED

    fuzzed = [r for r in _REPORTS if r.scenario.startswith("fuzz-")]
    if fuzzed:
        bad_fuzz = [r for r in fuzzed if r.mismatches or r.error]
        tr.write_line(f"fuzz: {len(fuzzed)} random scenarios, {len(bad_fuzz)} disagreeing or "
                      f"failing; {len(SAVED)} saved under {OUT}")
    path = os.environ.get("PYSCHEDULER_DIFF_REPORT")
    if path:
        Path(path).write_text(json.dumps([dataclasses.asdict(r) for r in _REPORTS], indent=1,
                                         default=list))
        tr.write_line(f"report written to {path}")
