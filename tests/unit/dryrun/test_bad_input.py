"""Malformed snapshots and pod specs: exit 2, one line on stderr, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyscheduler.cmd.cli import main

GOOD_NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
             "status": {"allocatable": {"cpu": "2", "memory": "2Gi", "pods": "10"}}}
GOOD_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "d"},
            "spec": {"schedulerName": "pyscheduler",
                     "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)

# A known-good object with one field replaced by anything, or a wholly random document.
PATHS = [("metadata",), ("metadata", "name"), ("spec",), ("spec", "containers"),
         ("spec", "priority"), ("spec", "nodeName"), ("spec", "overhead"), ("status",),
         ("spec", "containers", 0, "resources", "requests", "cpu"), ("kind",), ("items",)]


def _mutate(base: dict, path: tuple, value: object) -> dict:
    doc = json.loads(json.dumps(base))
    cur = doc
    try:
        for k in path[:-1]:
            cur = cur[k] if isinstance(k, int) else cur.setdefault(k, {})
        cur[path[-1]] = value
    except (KeyError, IndexError, TypeError, AttributeError):
        doc[str(path[0])] = value  # the path does not exist in this kind: replace its root
    return doc


@st.composite
def bad_documents(draw: st.DrawFn) -> str:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.text(max_size=60))
    base = draw(st.sampled_from([GOOD_NODE, GOOD_POD]))
    if choice == 1:
        doc = _mutate(base, draw(st.sampled_from(PATHS)), draw(values))
    elif choice == 2:
        doc = _mutate(base, ("spec", "containers", 0, "resources", "requests", "cpu"),
                      draw(st.text(min_size=1, max_size=6)))
    else:
        doc = {"apiVersion": "v1", "kind": "List", "items": [GOOD_NODE, draw(values)]}
    return json.dumps(doc) if draw(st.booleans()) else __import__("yaml").safe_dump(doc)


def _check(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code = main(argv)
    _, err = capsys.readouterr()
    assert code in (0, 1, 2)
    assert "Traceback" not in err
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("pyscheduler: "), err


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=bad_documents())
def test_fuzzed_snapshots(capsys: pytest.CaptureFixture[str], tmp_path: Path, doc: str) -> None:
    f = tmp_path / "snap.yaml"
    f.write_text(doc)
    _check(capsys, ["dry-run", "--snapshot", str(f)])


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=bad_documents())
def test_fuzzed_pod_specs(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                          doc: str) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps({"kind": "List", "items": [GOOD_NODE]}))
    f = tmp_path / "pod.yaml"
    f.write_text(doc)
    _check(capsys, ["dry-run", "--snapshot", str(snap), "--pod", str(f)])


@pytest.mark.parametrize(("doc", "fragment"), [
    ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, resources: "
     "{requests: {cpu: lots}}}]}\n",
     "(Pod p): spec.containers[0].resources.requests.cpu: invalid quantity 'lots'"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, imagee: x}]}\n",
     "(Pod p): unknown field 'spec.containers[0].imagee'"),
    ("kind: Node\nmetadata: {name: n}\nstatus: {allocatable: {cpu: [1]}}\n",
     "invalid quantity"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {priority: high}\n", "spec.priority"),
    ("{not yaml: [", "not valid YAML"),
])
def test_bad_pod_spec_messages(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                               doc: str, fragment: str) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps({"kind": "List", "items": [GOOD_NODE]}))
    f = tmp_path / "pod.yaml"
    f.write_text(doc)
    assert main(["dry-run", "--snapshot", str(snap), "--pod", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and str(f) in err, err


def test_missing_file_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dry-run", "--snapshot", "/nonexistent.yaml"]) == 2
    err = capsys.readouterr().err
    assert err == "pyscheduler: /nonexistent.yaml: cannot read: No such file or directory\n"
    assert main(["dry-run", "--snapshot", "x", "--kubeconfig", "y"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_unreachable_cluster_is_one_line(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n")
    proc = subprocess.run([sys.executable, "-m", "pyscheduler", "dry-run", "--kubeconfig",
                           str(kubeconfig)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cannot reach the API server" in proc.stderr, \
        proc.stderr
