"""manifests/ renders with the pinned kustomize and every object it renders is accepted by the
real apiserver's server-side dry-run (dryRun=All: validation and admission, nothing stored).

The ServiceMonitor overlay's ServiceMonitor needs the Prometheus Operator's CRD, which the test
control plane does not install: it is only rendered and checked, its other objects are
dry-run like the base's.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from envtest import ControlPlane
from envtest.assets import REPO_ROOT

MANIFESTS = REPO_ROOT / "manifests"


@pytest.fixture(scope="module")
def kustomize() -> Path:
    out = subprocess.run([str(REPO_ROOT / "hack" / "build-components.sh"), "kustomize"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return Path(out) / "kustomize"


def render(kustomize: Path, directory: Path) -> list[dict[str, Any]]:
    out = subprocess.run([str(kustomize), "build", str(directory)], check=True,
                         capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def kinds(docs: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(d["kind"], d["metadata"]["name"]) for d in docs}


def test_base_renders_and_the_apiserver_accepts_every_object(
        kustomize: Path, live_control_plane: ControlPlane) -> None:
    docs = render(kustomize, MANIFESTS)
    assert kinds(docs) >= {
        ("Namespace", "pyscheduler-system"), ("ServiceAccount", "pyscheduler"),
        ("ClusterRole", "pyscheduler"), ("ClusterRoleBinding", "pyscheduler"),
        ("ClusterRoleBinding", "pyscheduler-auth-delegator"), ("Role", "pyscheduler"),
        ("RoleBinding", "pyscheduler"),
        ("RoleBinding", "pyscheduler-extension-apiserver-authentication-reader"),
        ("ConfigMap", "pyscheduler-config"), ("Deployment", "pyscheduler"),
        ("Service", "pyscheduler"), ("PodDisruptionBudget", "pyscheduler")}
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert cm["data"]["config.yaml"] == (REPO_ROOT / "config" / "pyscheduler.yaml").read_text()
    for doc in docs:
        live_control_plane.apply([doc], dry_run=True)
    # dryRun persisted nothing.
    assert not live_control_plane.request(
        "GET", "/apis/apps/v1/namespaces/pyscheduler-system/deployments")["items"]


def test_servicemonitor_overlay_renders(
        kustomize: Path, live_control_plane: ControlPlane) -> None:
    base = render(kustomize, MANIFESTS)
    docs = render(kustomize, MANIFESTS / "overlays" / "servicemonitor")
    assert kinds(docs) == kinds(base) | {("ServiceMonitor", "pyscheduler"),
                                         ("ClusterRole", "pyscheduler-metrics-reader")}
    (sm,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
    (svc,) = [d for d in docs if d["kind"] == "Service"]
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert endpoint["scheme"] == "https"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    # No CRD for it here: everything else is dry-run.
    for doc in docs:
        if doc["kind"] != "ServiceMonitor":
            live_control_plane.apply([doc], dry_run=True)
