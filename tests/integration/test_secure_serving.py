"""The secure port against the real apiserver (RBAC on, delegated authentication): anonymous
/metrics is refused, a ServiceAccount token whose account may `get` /metrics through a
ClusterRole reads it, one without is refused, a forged token is 401, /healthz is open, and a
client certificate the cluster's client CA signed (the admin's, O=system:masters) is accepted.

The scheduler runs as the manifests' ServiceAccount, so its TokenReviews, SubjectAccessReviews
and the client-CA lookup all go through exactly manifests/base/rbac.yaml.
"""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from envtest import ControlPlane
from envtest.workload import SchedulerProcess, free_port, runnable_config_yaml

METRIC = "scheduler_schedule_attempts_total"


def _get(port: int, path: str, *, token: str | None = None,
         cert: tuple[Path, Path] | None = None) -> tuple[int, str]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the in-memory self-signed certificate
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def _service_account_token(cp: ControlPlane, ns: str, name: str) -> str:
    cp.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
               {"metadata": {"name": name}})
    resp = cp.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{name}/token",
                      {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                       "spec": {"expirationSeconds": 3600}})
    token: str = resp["status"]["token"]
    return token


def _allowed(cp: ControlPlane, user: str, path: str) -> bool:
    review = cp.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": ["system:serviceaccounts", "system:authenticated"],
                 "nonResourceAttributes": {"path": path, "verb": "get"}}})
    return bool(review["status"].get("allowed"))


@pytest.fixture
def metrics_reader(live_control_plane: ControlPlane, namespace: str) -> Iterator[str]:
    """A ServiceAccount token allowed `get /metrics` by a ClusterRole, once RBAC applies."""
    cp = live_control_plane
    token = _service_account_token(cp, namespace, "reader")
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    name = f"{namespace}-metrics-reader"
    cp.request("POST", f"{rbac}/clusterroles", {
        "metadata": {"name": name},
        "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]})
    cp.request("POST", f"{rbac}/clusterrolebindings", {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}]})
    user = f"system:serviceaccount:{namespace}:reader"
    deadline = time.monotonic() + 30
    # RBAC reaches the authorizer through informers: wait until the apiserver agrees.
    while not _allowed(cp, user, "/metrics"):
        assert time.monotonic() < deadline, "the ClusterRoleBinding never took effect"
        time.sleep(0.1)
    try:
        yield token
    finally:
        cp.request("DELETE", f"{rbac}/clusterrolebindings/{name}")
        cp.request("DELETE", f"{rbac}/clusterroles/{name}")


@pytest.fixture
def secure_scheduler(live_control_plane: ControlPlane, tmp_path: Path) -> Iterator[int]:
    """pyscheduler as the manifests' ServiceAccount, HTTPS on a free loopback port."""
    config = tmp_path / "pyscheduler.yaml"
    config.write_text(runnable_config_yaml())
    port = free_port()
    proc = SchedulerProcess(
        live_control_plane.scheduler_kubeconfig, tmp_path / "pyscheduler.log", config=config,
        extra_args=["--secure-port", str(port), "--bind-address", "127.0.0.1"])
    with proc:
        proc.start()
        yield port


def test_secure_port_delegates_to_the_apiserver(
    live_control_plane: ControlPlane, secure_scheduler: int, metrics_reader: str,
    namespace: str,
) -> None:
    port = secure_scheduler
    for path in ("/healthz", "/livez", "/readyz"):
        assert _get(port, path) == (200, "ok")

    status, body = _get(port, "/metrics")
    assert status == 403 and METRIC not in body
    assert 'User \\"system:anonymous\\" cannot get path \\"/metrics\\"' in body

    status, body = _get(port, "/metrics", token="not-a-token")
    assert status == 401 and METRIC not in body

    status, body = _get(port, "/metrics", token=metrics_reader)
    assert status == 200 and METRIC in body
    # The ClusterRole grants /metrics only.
    assert _get(port, "/debug/cache", token=metrics_reader)[0] == 403

    nobody = _service_account_token(live_control_plane, namespace, "nobody")
    status, body = _get(port, "/metrics", token=nobody)
    assert status == 403 and METRIC not in body

    # The admin's client certificate, verified with the client CA the scheduler read from
    # kube-system/extension-apiserver-authentication (its RoleBinding in the manifests).
    admin = (live_control_plane.admin_cert_file, live_control_plane.admin_key_file)
    status, body = _get(port, "/debug/cache", cert=admin)
    assert status == 200 and '"queue"' in body
