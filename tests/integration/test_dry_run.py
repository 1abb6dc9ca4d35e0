"""`pyscheduler dry-run --kubeconfig` against the real apiserver, as a read-only identity.

The identity is a ServiceAccount whose only grant is get/list/watch on every resource, so any
write the dry run attempted would be refused; the test also checks that the cluster is
unchanged afterwards (the pending pods still pending, no Events about them, their
resourceVersions untouched) and that the output names where each pod would go.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from envtest import ControlPlane
from envtest.control_plane import _mint_token, _write_kubeconfig

RO = "dry-run-readonly"


def pod_body(name: str, *, cpu: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"schedulerName": "pyscheduler", "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                     "resources": {"requests": {"cpu": cpu}}}]}}


def _readonly_kubeconfig(cp: ControlPlane) -> str:
    ns = cp.options.scheduler_namespace
    for method, path, body in [
        ("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
         {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": RO}}),
        ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles",
         {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
          "metadata": {"name": RO},
          "rules": [{"apiGroups": ["*"], "resources": ["*"],
                     "verbs": ["get", "list", "watch"]}]}),
        ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
         {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
          "metadata": {"name": RO},
          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                      "name": RO},
          "subjects": [{"kind": "ServiceAccount", "name": RO, "namespace": ns}]}),
    ]:
        try:
            cp.request(method, path, body)
        except Exception as err:  # already there from an earlier test of this session
            if "409" not in str(err) and "AlreadyExists" not in str(err):
                raise
    token = _mint_token(cp._admin, cp.options, service_account=RO)
    path = cp.work_dir / f"{RO}.kubeconfig"
    _write_kubeconfig(path, server=cp.apiserver_url, ca=cp.ca_file, user=RO,
                      user_entry={"token": token})
    return str(path)


def test_read_only_dry_run_places_pods_and_writes_nothing(
        live_control_plane: ControlPlane, namespace: str, kwok_nodes: Any) -> None:
    cp = live_control_plane
    (node,) = kwok_nodes(1, cpu="2", memory="4Gi")
    bound = pod_body("bound", cpu="1500m")
    bound["spec"]["nodeName"] = node
    cp.request("POST", f"/api/v1/namespaces/{namespace}/pods", bound)
    for name, cpu in (("fits", "250m"), ("too-big", "4")):
        body = pod_body(name, cpu=cpu)
        cp.request("POST", f"/api/v1/namespaces/{namespace}/pods", body)
    before = cp.request("GET", f"/api/v1/namespaces/{namespace}/pods")
    proc = subprocess.run(
        [sys.executable, "-m", "pyscheduler", "dry-run", "--kubeconfig",
         _readonly_kubeconfig(cp), "-n", namespace, "-o", "json"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr  # one pod cannot fit: exit 1, not an error
    pods = {p["name"]: p for p in json.loads(proc.stdout)["pods"]}
    assert pods["too-big"]["node"] is None
    assert pods["too-big"]["message"].startswith("0/")
    assert pods["fits"]["node"] is not None
    after = cp.request("GET", f"/api/v1/namespaces/{namespace}/pods")
    # The pending pods are untouched (the bound one is KWOK's to update: it marks it Running).
    def pending_rvs(pods: dict[str, Any]) -> dict[str, str]:
        return {p["metadata"]["name"]: p["metadata"]["resourceVersion"]
                for p in pods["items"] if p["metadata"]["name"] != "bound"}

    assert pending_rvs(after) == pending_rvs(before)
    assert all(not p["spec"].get("nodeName") for p in after["items"]
               if p["metadata"]["name"] != "bound")
    events = cp.request("GET", f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
    assert not [e for e in events.get("items") or []
                if e.get("reportingController") == "pyscheduler"]
