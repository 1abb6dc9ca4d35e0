"""Differential scenarios: the YAML format, its validation, and rendering to API objects.

A scenario file (``scenarios/*.yaml``) is a list of scenarios. Each scenario is a small cluster
(nodes, optional extra namespaces and objects, pods already bound to nodes) and a sequence of
incoming pods; the runner (runner.py) plays it once against kube-scheduler and once against
pyscheduler and compares what each decided. Fields::

    - name: taint-noschedule-untolerated     # unique, lowercase, [a-z0-9-]
      description: why the scenario exists
      profile: default                      # a key of PROFILES (both schedulers run each one)
      needs: [InterPodAffinity]             # plugins beyond what the content already implies
      namespaces: {other: {labels: {team: b}}}   # extra namespaces by alias ("main" always exists)
      nodes:
        - name: n1                          # cpu "4", memory 16Gi, pods 110 by default
          cpu: "2"
          memory: 4Gi
          pods: 3
          ephemeralStorage: 10Gi
          labels: {disk: ssd}
          taints: [{key: k, value: v, effect: NoSchedule}]
          extended: {example.com/gpu: 2}
          unschedulable: true
          images: [{names: [docker.io/library/nginx:1.27], sizeBytes: 500000000}]
      objects: [...]                        # raw manifests: PV, PVC, StorageClass, CSINode,
                                            # Service, PodDisruptionBudget (a "status" is
                                            # written through the status subresource)
      existing:                             # pods created already bound (spec.nodeName)
        - {name: e1, node: n1, requests: {cpu: "1"}}
      incoming:                             # created one at a time, each waited for
        - name: p1
          namespace: other                  # an alias; default "main"
          labels: {app: web}
          requests: {cpu: 500m}             # shorthand for one container's requests/limits
          limits: {cpu: "1"}
          image: nginx:1.27
          spec: {...}                       # merged over the generated pod spec (lists replace)
          metadata: {annotations: {...}}    # merged over the generated metadata
          ungate: true                      # after observing the pod gated, remove all gates
                                            # (or a list of gate names to remove)
          startTime: 5                      # status.startTime, seconds after START_BASE
      expect:                               # sanity checks on kube-scheduler's own outcome
        p1: n2                              # a node, "n1|n2", "unschedulable",
                                            # "unschedulable: <substring>", "gated", "preassigned"

Names are scenario-local: the runner gives every phase its own real node, namespace,
PersistentVolume and StorageClass names (so the two runs never share an object) and rewrites
every reference (nodeName, matchFields on metadata.name, affinity term namespaces, PVC
volumeName and storageClassName, PV claimRef, CSINode names) accordingly.

``needs`` is the union of the declared list and what the content implies (see
:func:`inferred_needs`), so a scenario cannot pass by accident while the plugin that decides it
is missing from pyscheduler.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from envtest import fake_node

SCENARIO_DIR = Path(__file__).parent / "scenarios"
DEFAULT_IMAGE = "registry.k8s.io/pause:3.10"
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
MAIN_NAMESPACE = "main"

# Cluster-wide objects every phase may use (created once per session by the conftest).
PRIORITY_CLASSES: dict[str, dict[str, Any]] = {
    "diff-low": {"value": 100},
    "diff-medium": {"value": 500},
    "diff-high": {"value": 1000},
    "diff-high-nonpreempting": {"value": 1000, "preemptionPolicy": "Never"},
}
RUNTIME_CLASSES: dict[str, dict[str, Any]] = {
    # Pod overhead comes from a RuntimeClass: admission copies it into spec.overhead.
    "diff-overhead": {"handler": "runc",
                      "overhead": {"podFixed": {"cpu": "500m", "memory": "512Mi"}}},
}

# Scheduler profiles, as KubeSchedulerConfiguration pluginConfig lists. Both schedulers run
# every profile (kube-scheduler as "kube-<key>", pyscheduler as "py-<key>").
PROFILES: dict[str, list[dict[str, Any]]] = {
    "default": [],
    "most-allocated": [{
        "name": "NodeResourcesFit",
        "args": {"scoringStrategy": {"type": "MostAllocated",
                                     "resources": [{"name": "cpu", "weight": 1},
                                                   {"name": "memory", "weight": 1}]}},
    }],
    "requested-to-capacity": [{
        "name": "NodeResourcesFit",
        "args": {"scoringStrategy": {
            "type": "RequestedToCapacityRatio",
            "resources": [{"name": "cpu", "weight": 3}, {"name": "memory", "weight": 1}],
            "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 0},
                                                   {"utilization": 60, "score": 10},
                                                   {"utilization": 100, "score": 2}]},
        }},
    }],
    "extended-resources": [{
        "name": "NodeResourcesFit",
        "args": {"scoringStrategy": {"type": "LeastAllocated",
                                     "resources": [{"name": "cpu", "weight": 1},
                                                   {"name": "memory", "weight": 1},
                                                   {"name": "example.com/gpu", "weight": 5}]}},
    }],
    "hard-affinity-weight": [{"name": "InterPodAffinity", "args": {"hardPodAffinityWeight": 10}}],
    "spread-list-defaults": [{
        "name": "PodTopologySpread",
        "args": {"defaultingType": "List", "defaultConstraints": [
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
             "whenUnsatisfiable": "ScheduleAnyway"}]},
    }],
}
# Plugins a profile's pluginConfig configures must be registered for the scenario to count.
PROFILE_NEEDS: dict[str, frozenset[str]] = {
    key: frozenset(pc["name"] for pc in cfg) for key, cfg in PROFILES.items()
}

NODE_KEYS = {"name", "cpu", "memory", "pods", "ephemeralStorage", "labels", "taints",
             "extended", "unschedulable", "images", "annotations"}
POD_KEYS = {"name", "namespace", "labels", "requests", "limits", "image", "spec", "metadata",
            "node", "ungate", "startTime"}
# status.startTime of every pod the runner sees running: START_BASE plus the pod's "startTime"
# offset in seconds (default: existing pods their position, incoming pods 10000 + position), so
# both phases see the same start times (metav1.Time has one-second precision).
START_BASE = 1767225600  # 2026-01-01T00:00:00Z
INCOMING_START = 10000
SCENARIO_KEYS = {"name", "description", "profile", "needs", "namespaces", "nodes", "objects",
                 "existing", "incoming", "expect"}
OBJECT_KINDS = {"PersistentVolume", "PersistentVolumeClaim", "StorageClass", "CSINode",
                "CSIDriver", "Service", "ReplicaSet", "StatefulSet", "PodDisruptionBudget"}
CLUSTER_SCOPED_RENAMED = {"PersistentVolume", "StorageClass"}


class ScenarioError(ValueError):
    """A scenario file that does not follow the format (reported at collection)."""


@dataclass(slots=True)
class NodeDef:
    name: str
    raw: dict[str, Any]


@dataclass(slots=True)
class PodDef:
    name: str
    raw: dict[str, Any]

    @property
    def namespace(self) -> str:
        return str(self.raw.get("namespace", MAIN_NAMESPACE))

    @property
    def ungate(self) -> bool | list[str]:
        value = self.raw.get("ungate", False)
        return list(value) if isinstance(value, list) else bool(value)

    @property
    def has_gates(self) -> bool:
        return bool((self.raw.get("spec") or {}).get("schedulingGates"))

    @property
    def preassigned(self) -> bool:
        return bool((self.raw.get("spec") or {}).get("nodeName"))


def start_offset(pod: PodDef, position: int, *, incoming: bool) -> int:
    """Seconds after START_BASE the runner sets as the pod's status.startTime."""
    value = pod.raw.get("startTime")
    if value is not None:
        return int(value)
    return INCOMING_START + position if incoming else position


def pod_priority(pod: PodDef) -> int:
    """The priority admission gives the pod (the session PriorityClasses, else 0)."""
    spec = pod.raw.get("spec") or {}
    pc = spec.get("priorityClassName")
    if pc in PRIORITY_CLASSES:
        return int(PRIORITY_CLASSES[pc]["value"])
    return int(spec.get("priority", 0))


@dataclass(slots=True)
class Scenario:
    name: str
    file: str
    description: str
    profile: str
    declared_needs: frozenset[str]
    namespaces: dict[str, dict[str, Any]]
    nodes: list[NodeDef]
    objects: list[dict[str, Any]]
    existing: list[PodDef]
    incoming: list[PodDef]
    expect: dict[str, str] = field(default_factory=dict)

    @property
    def needs(self) -> frozenset[str]:
        return self.declared_needs | inferred_needs(self) | PROFILE_NEEDS[self.profile]

    def missing(self, registered: Iterable[str]) -> list[str]:
        return sorted(self.needs - set(registered))

    def importance(self) -> dict[str, tuple[int, int]]:
        """Pod name -> (priority, start offset): what preemption orders victims by."""
        out = {p.name: (pod_priority(p), start_offset(p, i, incoming=False))
               for i, p in enumerate(self.existing)}
        out.update({p.name: (pod_priority(p), start_offset(p, i, incoming=True))
                    for i, p in enumerate(self.incoming)})
        return out

    @property
    def has_pdbs(self) -> bool:
        return any(o.get("kind") == "PodDisruptionBudget" for o in self.objects)


# ---------------------------------------------------------------------------------- loading
def load_scenarios(directory: Path = SCENARIO_DIR) -> list[Scenario]:
    """Every scenario under ``directory``, validated; names are unique across files."""
    out: list[Scenario] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            docs = yaml.safe_load(path.read_text()) or []
        except yaml.YAMLError as e:
            raise ScenarioError(f"{path.name}: {e}") from None
        if isinstance(docs, dict) and "featureGates" in docs:
            continue  # a gated file: gang.py plays it on a control plane of its own
        if not isinstance(docs, list):
            raise ScenarioError(f"{path.name}: expected a list of scenarios")
        for i, doc in enumerate(docs):
            where = f"{path.name}[{i}]"
            sc = parse_scenario(doc, path.name, where)
            if sc.name in seen:
                raise ScenarioError(
                    f"{where}: duplicate name {sc.name!r} (also in {seen[sc.name]})")
            seen[sc.name] = path.name
            out.append(sc)
    return out


def parse_scenario(doc: Any, file: str, where: str) -> Scenario:
    if not isinstance(doc, dict):
        raise ScenarioError(f"{where}: a scenario is a mapping")
    unknown = set(doc) - SCENARIO_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown fields {sorted(unknown)}")
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 50:
        raise ScenarioError(f"{where}: name must be a short [a-z0-9-] slug, got {name!r}")
    where = f"{where} {name}"
    profile = doc.get("profile", "default")
    if profile not in PROFILES:
        raise ScenarioError(f"{where}: unknown profile {profile!r} (one of {sorted(PROFILES)})")
    namespaces = dict(doc.get("namespaces") or {})
    if MAIN_NAMESPACE in namespaces and set(namespaces[MAIN_NAMESPACE] or {}) - {"labels"}:
        raise ScenarioError(f"{where}: namespace entries only take labels")
    namespaces.setdefault(MAIN_NAMESPACE, {})

    nodes = [_node(n, where) for n in doc.get("nodes") or []]
    if not nodes:
        raise ScenarioError(f"{where}: a scenario needs nodes")
    node_names = [n.name for n in nodes]
    if len(set(node_names)) != len(node_names):
        raise ScenarioError(f"{where}: duplicate node names")

    existing = [_pod(p, where, namespaces, node_names, existing=True)
                for p in doc.get("existing") or []]
    incoming = [_pod(p, where, namespaces, node_names, existing=False)
                for p in doc.get("incoming") or []]
    if not incoming:
        raise ScenarioError(f"{where}: a scenario needs incoming pods")
    pod_keys = [(p.namespace, p.name) for p in existing + incoming]
    if len(set(pod_keys)) != len(pod_keys):
        raise ScenarioError(f"{where}: duplicate pod names")

    objects = list(doc.get("objects") or [])
    for o in objects:
        if not isinstance(o, dict) or o.get("kind") not in OBJECT_KINDS:
            raise ScenarioError(f"{where}: objects must be one of {sorted(OBJECT_KINDS)}")

    expect = {str(k): str(v) for k, v in (doc.get("expect") or {}).items()}
    incoming_names = {p.name for p in incoming}
    for pod, want in expect.items():
        if pod not in incoming_names:
            raise ScenarioError(f"{where}: expect names unknown incoming pod {pod!r}")
        check_expectation_syntax(want, node_names, f"{where}: expect.{pod}")

    return Scenario(
        name=name,
        file=file,
        description=str(doc.get("description", "")).strip(),
        profile=profile,
        declared_needs=frozenset(doc.get("needs") or ()),
        namespaces=namespaces,
        nodes=nodes,
        objects=objects,
        existing=existing,
        incoming=incoming,
        expect=expect,
    )


def _node(raw: Any, where: str) -> NodeDef:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ScenarioError(f"{where}: a node needs a name")
    unknown = set(raw) - NODE_KEYS
    if unknown:
        raise ScenarioError(f"{where}: node {raw['name']}: unknown fields {sorted(unknown)}")
    return NodeDef(raw["name"], dict(raw))


def _pod(raw: Any, where: str, namespaces: Mapping[str, Any], nodes: list[str],
         *, existing: bool) -> PodDef:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ScenarioError(f"{where}: a pod needs a name")
    pod = PodDef(raw["name"], dict(raw))
    unknown = set(raw) - POD_KEYS
    if unknown:
        raise ScenarioError(f"{where}: pod {pod.name}: unknown fields {sorted(unknown)}")
    if pod.namespace not in namespaces:
        raise ScenarioError(f"{where}: pod {pod.name}: unknown namespace alias {pod.namespace!r}")
    node = raw.get("node")
    if existing and node not in nodes:
        raise ScenarioError(f"{where}: existing pod {pod.name} needs node: one of {nodes}")
    if not existing and node is not None:
        raise ScenarioError(f"{where}: incoming pod {pod.name}: use spec.nodeName, not node")
    if pod.preassigned and (raw["spec"]["nodeName"] not in nodes):
        raise ScenarioError(f"{where}: pod {pod.name}: spec.nodeName names no scenario node")
    if pod.ungate and not pod.has_gates:
        raise ScenarioError(f"{where}: pod {pod.name}: ungate without schedulingGates")
    return pod


def check_expectation_syntax(want: str, nodes: list[str], where: str) -> None:
    head = want.split(":", 1)[0].strip()
    if head in ("unschedulable", "gated", "preassigned"):
        return
    for alt in want.split("|"):
        if alt.strip() not in nodes:
            raise ScenarioError(f"{where}: {want!r} is not a node, 'a|b', 'unschedulable[: text]',"
                                " 'gated' or 'preassigned'")


# ---------------------------------------------------------------------------------- needs
def _all_pods(sc: Scenario) -> list[PodDef]:
    return sc.existing + sc.incoming


def inferred_needs(sc: Scenario) -> frozenset[str]:
    """Plugins whose decisions the scenario's content depends on (beyond the issue-4 set).

    Conservative on purpose: a plugin that could change any outcome of the scenario counts,
    so a scenario only runs for real once everything that may decide it is registered.
    """
    needs: set[str] = set()
    for p in _all_pods(sc):
        spec = p.raw.get("spec") or {}
        aff = spec.get("affinity") or {}
        if aff.get("podAffinity") or aff.get("podAntiAffinity"):
            needs.add("InterPodAffinity")
        if spec.get("topologySpreadConstraints"):
            needs.add("PodTopologySpread")
        if spec.get("priorityClassName"):
            needs.add("DefaultPreemption")
        for vol in spec.get("volumes") or []:
            if "persistentVolumeClaim" in vol or "ephemeral" in vol:
                needs |= {"VolumeBinding", "VolumeRestrictions", "VolumeZone",
                          "NodeVolumeLimits"}
            elif set(vol) & {"gcePersistentDisk", "awsElasticBlockStore", "rbd", "iscsi"}:
                needs.add("VolumeRestrictions")
    for o in sc.objects:
        kind = o.get("kind")
        if kind in ("Service", "ReplicaSet", "StatefulSet"):
            needs.add("PodTopologySpread")  # system default constraints select by these
        elif kind == "PodDisruptionBudget":
            needs.add("DefaultPreemption")
        elif kind in ("PersistentVolume", "PersistentVolumeClaim", "StorageClass", "CSINode",
                      "CSIDriver"):
            needs |= {"VolumeBinding", "VolumeRestrictions", "VolumeZone", "NodeVolumeLimits"}
    if any(n.raw.get("images") for n in sc.nodes):
        needs.add("ImageLocality")
    return frozenset(needs)


# ---------------------------------------------------------------------------------- rendering
@dataclass(slots=True)
class Names:
    """Real names of one phase's objects: scenario name -> API name."""

    nodes: dict[str, str]
    namespaces: dict[str, str]
    cluster: dict[tuple[str, str], str]  # (kind, scenario name) -> real name

    def node(self, name: str) -> str:
        return self.nodes[name]

    def ns(self, alias: str) -> str:
        return self.namespaces.get(alias, alias)

    def unmap(self, text: str) -> str:
        """Scenario names back in a message that mentions real ones (longest first)."""
        pairs = [(real, name) for name, real in self.nodes.items()]
        pairs += [(real, name) for (_, name), real in self.cluster.items()]
        for real, name in sorted(pairs, key=lambda p: -len(p[0])):
            text = text.replace(real, name)
        return text


def deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``: mappings merge, everything else replaces."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def render_node(node: NodeDef, names: Names) -> dict[str, Any]:
    r = node.raw
    body = fake_node(
        names.node(node.name),
        cpu=str(r.get("cpu", "4")),
        memory=str(r.get("memory", "16Gi")),
        pods=r.get("pods", 110),
        ephemeral_storage=str(r.get("ephemeralStorage", "100Gi")),
        labels={str(k): str(v) for k, v in (r.get("labels") or {}).items()},
        annotations=r.get("annotations"),
        taints=r.get("taints"),
        extended_resources=r.get("extended"),
        unschedulable=bool(r.get("unschedulable", False)),
    )
    if r.get("images"):
        body["status"]["images"] = copy.deepcopy(r["images"])
    return body


def render_pod(pod: PodDef, names: Names, *, scheduler_name: str | None,
               bind_to: str | None = None) -> dict[str, Any]:
    """The pod's manifest for one phase (``bind_to``: a real node name to create it bound)."""
    r = pod.raw
    container: dict[str, Any] = {"name": "c", "image": r.get("image", DEFAULT_IMAGE)}
    resources: dict[str, Any] = {}
    if r.get("requests"):
        resources["requests"] = {str(k): str(v) for k, v in r["requests"].items()}
    if r.get("limits"):
        resources["limits"] = {str(k): str(v) for k, v in r["limits"].items()}
    if resources:
        container["resources"] = resources
    spec: dict[str, Any] = {"containers": [container], "terminationGracePeriodSeconds": 0}
    if scheduler_name:
        spec["schedulerName"] = scheduler_name
    spec = deep_merge(spec, r.get("spec") or {})
    for c in (*spec.get("containers", []), *spec.get("initContainers", [])):
        c.setdefault("image", DEFAULT_IMAGE)
    node = r.get("node") or spec.get("nodeName")
    if node:
        spec["nodeName"] = names.node(node)
    if bind_to is not None:
        # Re-created bound to align a phase with the reference; the API refuses gates there.
        spec["nodeName"] = bind_to
        spec.pop("schedulingGates", None)
    _rewrite_affinity(spec, names)
    meta: dict[str, Any] = {"name": pod.name, "namespace": names.ns(pod.namespace)}
    if r.get("labels"):
        meta["labels"] = {str(k): str(v) for k, v in r["labels"].items()}
    meta = deep_merge(meta, r.get("metadata") or {})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def _rewrite_affinity(spec: dict[str, Any], names: Names) -> None:
    aff = spec.get("affinity") or {}
    na = aff.get("nodeAffinity") or {}
    terms = list((na.get("requiredDuringSchedulingIgnoredDuringExecution") or {})
                 .get("nodeSelectorTerms") or [])
    terms += [p.get("preference") or {}
              for p in na.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    for term in terms:
        for req in term.get("matchFields") or []:
            if req.get("key") == "metadata.name":
                req["values"] = [names.nodes.get(v, v) for v in req.get("values") or []]
    for kind in ("podAffinity", "podAntiAffinity"):
        block = aff.get(kind) or {}
        pod_terms = list(block.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        pod_terms += [w.get("podAffinityTerm") or {}
                      for w in block.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
        for t in pod_terms:
            if t.get("namespaces"):
                t["namespaces"] = [names.ns(n) for n in t["namespaces"]]


def render_object(obj: Mapping[str, Any], names: Names) -> dict[str, Any]:
    """A scenario object with this phase's real names and references."""
    o = copy.deepcopy(dict(obj))
    kind = o["kind"]
    meta = o.setdefault("metadata", {})
    spec = o.get("spec") or {}
    if kind in CLUSTER_SCOPED_RENAMED:
        meta["name"] = names.cluster[(kind, meta["name"])]
    elif kind == "CSINode":
        meta["name"] = names.node(meta["name"])
    elif kind != "CSIDriver":
        meta["namespace"] = names.ns(meta.get("namespace", MAIN_NAMESPACE))
    sc_name = spec.get("storageClassName")
    if kind in ("PersistentVolume", "PersistentVolumeClaim") and sc_name:
        spec["storageClassName"] = names.cluster.get(("StorageClass", sc_name), sc_name)
    if kind == "PersistentVolumeClaim" and spec.get("volumeName"):
        spec["volumeName"] = names.cluster.get(("PersistentVolume", spec["volumeName"]),
                                               spec["volumeName"])
    if kind == "PersistentVolume" and spec.get("claimRef"):
        ref = spec["claimRef"]
        ref["namespace"] = names.ns(ref.get("namespace", MAIN_NAMESPACE))
    if kind == "PersistentVolume":
        for term in ((spec.get("nodeAffinity") or {}).get("required") or {}).get(
                "nodeSelectorTerms") or []:
            for req in term.get("matchExpressions") or []:
                if req.get("key") == "kubernetes.io/hostname":
                    req["values"] = [names.nodes.get(v, v) for v in req.get("values") or []]
    return o


def cluster_object_names(sc: Scenario) -> list[tuple[str, str]]:
    """(kind, scenario name) of the objects that get a per-phase name."""
    return [(o["kind"], o["metadata"]["name"]) for o in sc.objects
            if o["kind"] in CLUSTER_SCOPED_RENAMED]
