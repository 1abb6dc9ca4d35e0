"""manifests/ against the code: the RBAC has no wildcard, every rule it grants is used by a call
the code really makes, and every call the code makes is granted; the shipped ConfigMap holds
the default profile.

The calls are recorded, not listed by hand: the scheduler is built from the default profile
with a recording API client, and its informers list and watch, its dispatcher's every write
operation (found by introspection), the leader elector, and the secure port's TokenReview,
SubjectAccessReview and client-CA lookup run against that client. tests/integration/
test_rbac.py checks the same RBAC against the real apiserver, and test_manifests_apply.py has
the apiserver dry-run every rendered manifest.
"""

from __future__ import annotations

import inspect
import json
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio.client import Configuration

from pyscheduler.api.configmaps import read_config_map_key
from pyscheduler.backend.api_dispatcher import ApiDispatcher
from pyscheduler.cmd.delegated_auth import (
    SubjectAccessReviewAuthorizer,
    TokenReviewAuthenticator,
    UserInfo,
)
from pyscheduler.cmd.leader import LeaderElector
from pyscheduler.cmd.server import _client_ca, _poster
from pyscheduler.config import default_config, parse_config
from pyscheduler.plugins.registry import OPTIONAL, default_registry
from pyscheduler.scheduler.scheduler import SchedulerApp

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "manifests" / "base"
SA = ("pyscheduler-system", "pyscheduler")

# Upstream's bootstrap roles the manifests bind (plugin/pkg/auth/authorizer/rbac/
# bootstrappolicy, v1.37): facts of the apiserver, not ours to trim.
BOOTSTRAP: dict[tuple[str, str, str], list[dict[str, Any]]] = {
    ("ClusterRole", "", "system:auth-delegator"): [
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"],
         "verbs": ["create"]},
        {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"],
         "verbs": ["create"]}],
    ("Role", "kube-system", "extension-apiserver-authentication-reader"): [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"],
         "resourceNames": ["extension-apiserver-authentication"]}],
}

def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def all_manifest_docs() -> list[dict[str, Any]]:
    return [d for p in sorted((REPO / "manifests").rglob("*.yaml"))
            if p.name not in ("kustomization.yaml", "config.yaml") for d in _docs(p)]


@dataclass(frozen=True, slots=True)
class Attrs:
    """A request as RBAC sees it."""

    verb: str
    group: str
    resource: str  # "pods" or "pods/binding"
    namespace: str
    name: str


def attrs(method: str, path: str, query: dict[str, str]) -> Attrs:
    """Upstream RequestInfoFactory's resource attributes of a request."""
    parts = [p for p in path.split("/") if p]
    if parts[0] == "api":
        group, rest = "", parts[2:]
    else:
        group, rest = parts[1], parts[3:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 2:
        namespace, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
    if verb is None:
        verb = "get" if name else ("watch" if query.get("watch") == "true" else "list")
    return Attrs(verb, group, resource, namespace, name)


class _Content:
    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in ():
            yield chunk


class _Response:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self._body, self.headers = status, body, {}
        self.content = _Content()

    async def read(self) -> bytes:
        return self._body

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class RecordingClient:
    """Stands in for kubernetes-asyncio's ApiClient.call_api; records (method, path, query)."""

    def __init__(self, answer: Callable[[str, str], tuple[int, bytes]] | None = None) -> None:
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        # Read for the rest_client metrics' host label.
        self.configuration = Configuration(host="https://recording.invalid")
        self.answer = answer or (lambda m, p: (200, b'{"metadata": {}, "items": []}'))

    async def call_api(self, path: str, method: str, *, query_params: Any = None,
                       **_: Any) -> _Response:
        self.calls.append((method, urllib.parse.urlsplit(path).path, dict(query_params or [])))
        return _Response(*self.answer(method, path))


def _dummy(param: inspect.Parameter) -> Any:
    return {} if "dict" in str(param.annotation) else "x"


async def recorded_calls() -> list[Attrs]:
    """Every API request the code paths listed in the module doc make."""
    client = RecordingClient()
    reg = default_registry()
    config = default_config(plugins=reg)
    # Every optional in-tree plugin enabled too (gang scheduling...): their informers count.
    enabled = "\n".join(f"      - name: {s.name}" for s in OPTIONAL)
    everything = parse_config(f"""apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: pyscheduler
  plugins:
    multiPoint:
      enabled:
{enabled}
""", plugins=reg)
    app = SchedulerApp(client, everything, registry=reg)  # type: ignore[arg-type]
    for informer in app.factory._informers.values():
        lw = informer.reflector.list_watch
        await lw.list(limit=500)
        async for _ in lw.watch(resource_version="1"):
            pass

    # The load-aware plugins' metrics.k8s.io source (one poll of each monitor they asked for).
    assert app.load_metrics.monitors
    for monitor in app.load_metrics.monitors:
        await monitor.poll_once()

    dispatcher = ApiDispatcher(client, qps=1000, burst=1000, workers=1)  # type: ignore[arg-type]
    dispatcher.start()
    writes = [(n, m) for n, m in inspect.getmembers(ApiDispatcher, inspect.isfunction)
              if not n.startswith("_") and "_req(" in inspect.getsource(m)]
    assert len(writes) >= 7, writes
    # Writes whose path the caller gives: the paths the code passes (the gang plugins'
    # PodGroup status, plugins/gangscheduling and operator/podgroup_status.py; the ElasticQuota
    # status, scheduler/quota_status.py).
    by_path = {"patch_status": [
        "/apis/scheduling.k8s.io/v1beta1/namespaces/ns/podgroups/g/status",
        "/apis/scheduling.x-k8s.io/v1alpha1/namespaces/ns/podgroups/g/status",
        "/apis/scheduling.x-k8s.io/v1alpha1/namespaces/ns/elasticquotas/q/status"]}
    for name, fn in writes:
        params = list(inspect.signature(fn).parameters.values())[1:]
        for path in by_path.get(name, [None]):
            args = [_dummy(p) for p in params if p.default is p.empty]
            if path is not None:
                args[0] = path
            result = getattr(dispatcher, name)(*args)
            if inspect.isawaitable(result):
                await result
    while dispatcher.pending:
        await __import__("asyncio").sleep(0)
    await dispatcher.shutdown()

    le = config.leader_election
    lease: dict[str, Any] = {}

    def lease_answer(method: str, path: str) -> tuple[int, bytes]:
        if method == "GET" and not lease:
            return 404, b'{"kind": "Status", "code": 404}'
        if method == "POST":
            lease.update({"metadata": {"name": le.resource_name, "resourceVersion": "1"},
                          "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}})
        return 200, json.dumps(lease).encode()

    client.answer = lease_answer
    elector = LeaderElector(client, namespace=le.resource_namespace,  # type: ignore[arg-type]
                            name=le.resource_name, identity="me")
    assert await elector._try() and await elector._try()  # create, then renew

    client.answer = lambda m, p: (200, b'{"status": {"authenticated": true, "allowed": true}}')
    post = _poster(client)  # type: ignore[arg-type]
    await TokenReviewAuthenticator(post).authenticate("t")
    await SubjectAccessReviewAuthorizer(post).authorize(UserInfo("u"), "/metrics", "get")
    client.answer = lambda m, p: (200, b'{"data": {}}')
    await _client_ca(client, None)  # type: ignore[arg-type]

    # The profile ConfigMap (run --config-map): the first read goes through our client...
    client.answer = lambda m, p: (200, b'{"data": {"config.yaml": "x"}}')
    await read_config_map_key(client, le.resource_namespace, "pyscheduler-config",  # type: ignore[arg-type]
                              "config.yaml")
    calls = [attrs(*c) for c in client.calls]
    # ...and the watch through kopf's own HTTP client (operator/configmap.py), which lists and
    # watches the ConfigMaps of that one namespace; recorded here as kopf makes them.
    calls += [Attrs(v, "", "configmaps", le.resource_namespace, "") for v in ("list", "watch")]
    return calls


@dataclass(frozen=True, slots=True)
class Grant:
    """One verb on one resource from one rule of a role bound to the scheduler."""

    verb: str
    group: str
    resource: str
    namespace: str  # "" for a ClusterRole through a ClusterRoleBinding
    names: tuple[str, ...]
    role: str
    ours: bool  # from manifests/, not an upstream bootstrap role

    def allows(self, a: Attrs) -> bool:
        return (self.verb == a.verb and self.group == a.group and self.resource == a.resource
                and (not self.namespace or self.namespace == a.namespace)
                and (not self.names or a.name in self.names))


def grants() -> list[Grant]:
    docs = _docs(BASE / "rbac.yaml")
    roles = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d["rules"]
             for d in docs if d["kind"] in ("Role", "ClusterRole")}
    out: list[Grant] = []
    for b in docs:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any((s.get("namespace"), s["name"]) == SA for s in b["subjects"]):
            continue
        ns = b["metadata"].get("namespace", "")
        ref = b["roleRef"]
        key = (ref["kind"], ns if ref["kind"] == "Role" else "", ref["name"])
        ours = key in roles
        rules = roles[key] if ours else BOOTSTRAP[key]
        for rule in rules:
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    for v in rule["verbs"]:
                        out.append(Grant(v, g, r, ns, tuple(rule.get("resourceNames", ())),
                                         f"{ref['kind']}/{ref['name']}", ours))
    return out


def test_no_wildcard_anywhere_in_the_rbac() -> None:
    for doc in all_manifest_docs():
        for rule in doc.get("rules", ()):
            for field in ("verbs", "resources", "apiGroups", "resourceNames", "nonResourceURLs"):
                assert not any("*" in v for v in rule.get(field, ())), (doc["metadata"], rule)


async def test_every_granted_rule_is_used_and_every_call_is_granted() -> None:
    calls = await recorded_calls()
    granted = grants()
    refused = sorted({str(a) for a in calls if not any(g.allows(a) for g in granted)})
    assert not refused, f"calls the manifests do not allow: {refused}"
    unused = {(g.group, g.resource, g.verb): g for g in granted
              if g.ours and not any(g.allows(a) for a in calls)}
    assert not unused, f"granted but no code path uses it: {sorted(unused)}"
    # The bootstrap bindings are there for a reason too.
    for role in ("ClusterRole/system:auth-delegator",
                 "Role/extension-apiserver-authentication-reader"):
        assert any(g.allows(a) for g in granted if g.role == role for a in calls), role


def test_the_configmap_ships_the_default_profile() -> None:
    assert (BASE / "config.yaml").read_text() == (REPO / "config" / "pyscheduler.yaml").read_text()
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    (gen,) = kustomization["configMapGenerator"]
    assert (gen["name"], gen["files"]) == ("pyscheduler-config", ["config.yaml"])


def test_the_deployment_runs_as_the_issue_asks() -> None:
    (dep,) = [d for d in _docs(BASE / "deployment.yaml") if d["kind"] == "Deployment"]
    spec = dep["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert dep["spec"]["replicas"] == 2 and spec["serviceAccountName"] == SA[1]
    assert "--leader-elect=true" in c["args"]
    assert "--config-map=pyscheduler-system/pyscheduler-config" in c["args"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert spec["securityContext"]["runAsNonRoot"]
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["scheme"] == "HTTPS"
        assert c[probe]["httpGet"]["port"] == "https-metrics"
    assert c["ports"][0]["containerPort"] == 10259
    assert set(c["resources"]) == {"requests", "limits"}
    assert spec["affinity"]["podAntiAffinity"]


@pytest.mark.parametrize("verb_path", [("GET", "/api/v1/pods", {}, "list"),
                                       ("GET", "/api/v1/pods", {"watch": "true"}, "watch")])
def test_attrs(verb_path: tuple[str, str, dict[str, str], str]) -> None:
    method, path, query, verb = verb_path
    assert attrs(method, path, query) == Attrs(verb, "", "pods", "", "")
    assert attrs("POST", "/api/v1/namespaces/d/pods/p/binding", {}) == Attrs(
        "create", "", "pods/binding", "d", "p")


def test_the_dockerfile_matches_the_deployment() -> None:
    """The image runs `pyscheduler` as the non-root uid the Deployment's securityContext names
    (hack/check-wheel.sh runs the image's install steps)."""
    lines = [ln.strip() for ln in (REPO / "Dockerfile").read_text().splitlines()]
    assert sum(ln.startswith("FROM ") for ln in lines) == 2  # multi-stage
    assert 'ENTRYPOINT ["pyscheduler"]' in lines
    (user,) = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    (dep,) = [d for d in _docs(BASE / "deployment.yaml") if d["kind"] == "Deployment"]
    pod_sc = dep["spec"]["template"]["spec"]["securityContext"]
    assert user == f"{pod_sc['runAsUser']}:{pod_sc['runAsGroup']}" and pod_sc["runAsUser"] != 0
