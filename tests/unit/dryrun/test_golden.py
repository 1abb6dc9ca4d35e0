"""Golden output of `pyscheduler dry-run --snapshot` on the shipped sample snapshot.

Regenerate after a deliberate change with:
    S=config/examples/dry-run-snapshot.yaml; G=tests/unit/dryrun/golden
    .venv/bin/python -m pyscheduler dry-run --snapshot $S > $G/table.txt   (and -o json, --explain)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyscheduler.cmd.cli import main

REPO = Path(__file__).resolve().parents[3]
SAMPLE = str(REPO / "config" / "examples" / "dry-run-snapshot.yaml")
GOLDEN = Path(__file__).parent / "golden"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["dry-run", "--snapshot", SAMPLE, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys)
    assert code == 1  # some pods of the sample cannot fit
    assert err == ""
    assert out == (GOLDEN / "table.txt").read_text()


def test_json_schema_and_content(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "-o", "json")
    assert code == 1
    assert out == (GOLDEN / "result.json").read_text()
    doc = json.loads(out)
    assert doc["apiVersion"] == "pyscheduler.dev/v1alpha1" and doc["kind"] == "DryRunResult"
    by = {f"{p['namespace']}/{p['name']}": p for p in doc["pods"]}
    for p in doc["pods"]:
        assert set(p) == {"namespace", "name", "profile", "node", "score", "victims", "message"}
    # fits; needs preemption; cannot fit
    assert by["shop/web-0"]["node"] and by["shop/web-0"]["victims"] == []
    assert by["batch/report-0"]["node"] and by["batch/report-0"]["victims"]
    assert by["batch/huge-0"]["node"] is None
    assert by["batch/huge-0"]["message"].startswith("0/30 nodes are available: ")


@pytest.mark.parametrize("pod", ["ml/train-0", "batch/report-0", "data/db-0"])
def test_explain(capsys: pytest.CaptureFixture[str], pod: str) -> None:
    code, out, _ = _run(capsys, "--explain", pod)
    assert code == (0 if pod == "batch/report-0" else 1)
    assert out == (GOLDEN / f"explain-{pod.replace('/', '-')}.txt").read_text()


def test_explain_names_the_smallest_changes(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(capsys, "--explain", "ml/train-0")
    assert "if it tolerated taint dedicated=gpu:NoSchedule" in out
    _, out, _ = _run(capsys, "--explain", "batch/report-0")
    assert "(preempting lower-priority pods would free it" in out
    _, out, _ = _run(capsys, "--explain", "data/db-0")
    assert "fits on 2 nodes (ssd-0, ssd-1) if 2Gi memory more were free there" in out


def test_namespace_selector_and_extra_pod(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    spec = tmp_path / "pod.yaml"
    spec.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: extra}\nspec:\n"
                    "  containers: [{name: c, image: x, resources: {requests: {cpu: 100m}}}]\n")
    code, out, _ = _run(capsys, "-n", "default", "--pod", str(spec), "-o", "json")
    doc = json.loads(out)
    assert [(p["namespace"], p["name"]) for p in doc["pods"]] == [("default", "extra")]
    assert doc["pods"][0]["node"] is not None and code == 0
    code, out, _ = _run(capsys, "-l", "app=web", "-o", "json")
    assert {p["name"] for p in json.loads(out)["pods"]} == {f"web-{i}" for i in range(6)}
    assert code == 0


def test_compare_config_prints_only_differences(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    # The ConfigMap edit under review: the same schedulerName, without preemption.
    text = (REPO / "config" / "examples" / "no-preemption.yaml").read_text()
    other = tmp_path / "edited.yaml"
    other.write_text(text.replace("schedulerName: pyscheduler-no-preemption",
                                  "schedulerName: pyscheduler"))
    code, out, _ = _run(capsys, "--compare-config", str(other))
    lines = out.splitlines()
    assert lines[0].startswith("POD")
    assert any(line.startswith("batch/report-0") for line in lines[1:])
    # Pods placed the same way under both (pending in both, or the same node) are not shown.
    shown = {line.split()[0] for line in lines[1:]}
    assert not shown & {"batch/huge-0", "ml/train-0", "batch/gated-0", "data/db-0"}
    assert code == 1
