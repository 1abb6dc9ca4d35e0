"""Gated scenarios: pod groups played under kube-scheduler's GangScheduling and pyscheduler's.

A scenario file that starts with ``featureGates`` is a gated file. The ordinary loader skips it
(scenario.py) and this module plays it, on a control plane of its own started with those gates
(conftest.py ``gang_env``: one for every gated file, since all of them ask for the same gates).
Format::

    featureGates: [GenericWorkload]        # keys of GATES
    scenarios:
      - name: gang-fits                    # as in scenario.py
        description: why it exists
        nodes: [...]                       # as in scenario.py
        existing: [...]                    # as in scenario.py (bound pods), plus group
        podGroups: {a: 4, b: {minCount: 2, priorityClassName: diff-high}}
                                           # PodGroup name -> gang minCount, or minCount and
                                           # priorityClassName (scheduling.k8s.io/v1beta1, in
                                           # the phase's namespace)
        interchangeable: [[a, b]]          # groups whose roles upstream may swap (set-valued:
                                           # the comparison renames ours to fit upstream's)
        compareNodes: true                 # compare the nodes the incoming pods are bound to,
                                           # as a multiset (which member went where is not)
        steps:                             # each step's pods are created together, then the
          - members: {group: a, count: 4, requests: {cpu: "1"}}   # a-0 .. a-3
          - pods: [{name: a-4, group: a, requests: {cpu: "1"}}]   # scenario.py pod + group
        expect: {"pod a-0": bound, "group a": "True Scheduled"}   # kube-scheduler, last step
        departures:                        # differences on purpose, both sides asserted
          - {key: "1:message a-*", kube: "regex", py: "regex", why: "..."}

After each step the runner waits until the cluster is *settled*: no pod nominated and still
pending, and nothing in the observed outcome changed for SETTLE seconds (a pod that never binds
can only be observed as "still not bound"; the window is not a speed assertion).

The outcome of a step is a flat mapping, ``"<step>:<what> <name>"`` -> value:

* ``pod <p>``: ``bound``, ``pending <PodScheduled reason>`` (``pending`` with no condition, e.g.
  held at PreEnqueue) or ``gone`` (deleted: a preemption victim);
* ``nodes used`` (with ``compareNodes``): the nodes of the bound incoming pods, a sorted
  multiset of scenario names (which member got which node is upstream's tie-breaking);
* ``events <p>``: the distinct reasons of the events about it (Scheduled, FailedScheduling,
  Preempted, ...), sorted;
* ``group <g>``: the PodGroupInitiallyScheduled condition, ``<status> <reason>``, or ``none``;
* ``message <p>`` / ``groupmessage <g>``: the PodScheduled / PodGroup condition messages
  (scenario node names; namespaces stay the phase's own).

Every key must be equal on both sides, except those a departure names. A departure's key is a
glob (``1:message b-*``); every key it matches is asserted against its ``kube`` value for
kube-scheduler and its ``py`` value for pyscheduler (regular expressions, searched, for
messages; exact otherwise), and it must match at least one key on each side. So a difference
on purpose (the group messages' wording, docs/CONFIGURATION.md) is still checked on both
sides, never skipped.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from envtest import ApiError

from .runner import Env, HarnessError, Phase, _condition, _get
from .scenario import (
    MAIN_NAMESPACE,
    NAME_RE,
    SCENARIO_DIR,
    NodeDef,
    PodDef,
    Scenario,
    ScenarioError,
    _node,
    _pod,
)


@dataclass(frozen=True, slots=True)
class GateSetup:
    """What one upstream feature gate means for each side of the comparison."""

    apiserver: Mapping[str, str]      # kube-apiserver flags (feature-gates, runtime-config)
    kube_scheduler: str               # kube-scheduler --feature-gates
    py_plugins: tuple[str, ...]       # what the gate adds to upstream's default profile,
                                      # enabled by name in pyscheduler's (it has no gates)


# kube-scheduler v1.37.2 has no GangScheduling gate (--feature-gates=GangScheduling=true is
# "unrecognized feature gate"): GenericWorkload alone adds GangScheduling to the default
# profile (apis/config/v1/default_plugins.go applyFeatureGates) and turns on the pod group
# cycle and the PodGroup informers.
GATES: dict[str, GateSetup] = {
    "GenericWorkload": GateSetup(
        apiserver={"feature-gates": "GenericWorkload=true",
                   "runtime-config": "scheduling.k8s.io/v1beta1=true"},
        kube_scheduler="GenericWorkload=true",
        py_plugins=("GangScheduling",),
    ),
}
PODGROUPS = "/apis/scheduling.k8s.io/v1beta1/namespaces/{ns}/podgroups"
CONDITION = "PodGroupInitiallyScheduled"
SETTLE = 2.5          # seconds the outcome must stay unchanged to count as settled
SETTLE_TIMEOUT = 60.0
POLL = 0.1
SCENARIO_KEYS = {"name", "description", "nodes", "existing", "podGroups", "interchangeable",
                 "compareNodes", "steps", "expect", "departures"}
REGEX_KEYS = ("message", "groupmessage")  # a departure's values are regular expressions
GROUP_KEYS = {"minCount", "priorityClassName"}


@dataclass(slots=True)
class Departure:
    key: str
    kube: str
    py: str
    why: str


@dataclass(slots=True)
class GangScenario:
    name: str
    file: str
    gates: tuple[str, ...]
    description: str
    nodes: list[NodeDef]
    existing: list[PodDef]
    groups: dict[str, dict[str, Any]]   # name -> minCount, priorityClassName
    steps: list[list[PodDef]]
    interchangeable: list[list[str]] = field(default_factory=list)
    compare_nodes: bool = False
    expect: dict[str, str] = field(default_factory=dict)
    departures: list[Departure] = field(default_factory=list)

    def as_scenario(self) -> Scenario:
        """The runner's Scenario with the same nodes and pods (its Phase does the setup)."""
        return Scenario(name=self.name, file=self.file, description=self.description,
                        profile="default", declared_needs=frozenset(gate_plugins(self.gates)),
                        namespaces={MAIN_NAMESPACE: {}}, nodes=self.nodes, objects=[],
                        existing=self.existing, incoming=[p for s in self.steps for p in s])


def gate_plugins(gates: tuple[str, ...]) -> set[str]:
    """The plugins pyscheduler enables for these upstream gates."""
    return {p for g in gates for p in GATES[g].py_plugins}


@dataclass(slots=True)
class GangReport:
    scenario: str
    kube: list[dict[str, str]] = field(default_factory=list)
    py: list[dict[str, str]] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)   # our group -> upstream's
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0


# ---------------------------------------------------------------------------------- loading
def gated_files(directory: Path = SCENARIO_DIR) -> list[Path]:
    return [p for p in sorted(directory.glob("*.yaml"))
            if isinstance(d := yaml.safe_load(p.read_text()), dict) and "featureGates" in d]


def load_gang_scenarios(directory: Path = SCENARIO_DIR) -> list[GangScenario]:
    """Every scenario of the gated files under ``directory``, validated."""
    out: list[GangScenario] = []
    for path in gated_files(directory):
        doc = yaml.safe_load(path.read_text())
        gates = tuple(doc.get("featureGates") or ())
        unknown = [g for g in gates if g not in GATES]
        if not gates or unknown:
            raise ScenarioError(f"{path.name}: featureGates must be keys of {sorted(GATES)}")
        for i, raw in enumerate(doc.get("scenarios") or []):
            out.append(parse_gang_scenario(raw, path.name, f"{path.name}[{i}]", gates))
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ScenarioError(f"gated scenarios: duplicate names in {names}")
    return out


def _members(raw: Any, where: str, groups: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(raw, dict) or raw.get("group") not in groups:
        raise ScenarioError(f"{where}: members need a group of podGroups")
    rest = {k: v for k, v in raw.items() if k not in ("group", "count", "from")}
    start = int(raw.get("from", 0))
    return [{"name": f"{raw['group']}-{i}", "group": raw["group"], **rest}
            for i in range(start, start + int(raw.get("count", 1)))]


def _member_pod(raw: dict[str, Any], where: str, groups: Mapping[str, Any],
                nodes: list[str] | None = None, *, existing: bool = False) -> PodDef:
    raw = dict(raw)
    group = raw.pop("group", None)
    if group is not None:
        if group not in groups:
            raise ScenarioError(f"{where}: pod {raw.get('name')}: unknown group {group!r}")
        spec = dict(raw.get("spec") or {})
        spec["schedulingGroup"] = {"podGroupName": group}
        raw["spec"] = spec
    return _pod(raw, where, {MAIN_NAMESPACE: {}}, nodes or [], existing=existing)


def parse_gang_scenario(doc: Any, file: str, where: str,
                        gates: tuple[str, ...]) -> GangScenario:
    if not isinstance(doc, dict):
        raise ScenarioError(f"{where}: a scenario is a mapping")
    unknown = set(doc) - SCENARIO_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown fields {sorted(unknown)}")
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 40:
        raise ScenarioError(f"{where}: name must be a short [a-z0-9-] slug, got {name!r}")
    where = f"{where} {name}"
    nodes = [_node(n, where) for n in doc.get("nodes") or []]
    node_names = [n.name for n in nodes]
    groups: dict[str, dict[str, Any]] = {}
    for k, v in (doc.get("podGroups") or {}).items():
        spec = dict(v) if isinstance(v, dict) else {"minCount": v}
        if not isinstance(spec.get("minCount"), int) or set(spec) - GROUP_KEYS:
            raise ScenarioError(f"{where}: podGroups.{k}: minCount and {sorted(GROUP_KEYS)}")
        groups[str(k)] = spec
    existing = [_member_pod(p, where, groups, node_names, existing=True)
                for p in doc.get("existing") or []]
    steps: list[list[PodDef]] = []
    for j, step in enumerate(doc.get("steps") or []):
        if not isinstance(step, dict) or set(step) - {"members", "pods"}:
            raise ScenarioError(f"{where}: step {j + 1} takes members and pods")
        raws: list[dict[str, Any]] = []
        members = step.get("members") or []
        for m in members if isinstance(members, list) else [members]:
            raws += _members(m, where, groups)
        raws += list(step.get("pods") or [])
        steps.append([_member_pod(r, where, groups) for r in raws])
    if not nodes or not steps or not all(steps):
        raise ScenarioError(f"{where}: a scenario needs nodes and non-empty steps")
    names = [p.name for p in existing] + [p.name for s in steps for p in s]
    if len(set(names)) != len(names):
        raise ScenarioError(f"{where}: duplicate pod names")
    inter = [[str(g) for g in s] for s in doc.get("interchangeable") or []]
    if any(g not in groups for s in inter for g in s):
        raise ScenarioError(f"{where}: interchangeable names unknown groups")
    departures = []
    for d in doc.get("departures") or []:
        if not isinstance(d, dict) or set(d) != {"key", "kube", "py", "why"}:
            raise ScenarioError(f"{where}: a departure has key, kube, py and why")
        departures.append(Departure(**{k: str(v) for k, v in d.items()}))
    return GangScenario(
        name=name, file=file, gates=gates, description=str(doc.get("description", "")).strip(),
        nodes=nodes, existing=existing, groups=groups, steps=steps, interchangeable=inter,
        compare_nodes=bool(doc.get("compareNodes", False)),
        expect={str(k): str(v) for k, v in (doc.get("expect") or {}).items()},
        departures=departures)


# ------------------------------------------------------------------------------ one phase
class GangPhase(Phase):
    """A runner Phase plus the scenario's PodGroups and the settled outcome of each step."""

    def __init__(self, env: Env, gsc: GangScenario, which: str, tag: str) -> None:
        super().__init__(env, gsc.as_scenario(), which, tag)
        self.gsc = gsc
        self.created: list[PodDef] = []

    def existing_scheduler(self, pod: PodDef) -> str | None:
        """A bound member was bound by this phase's scheduler (as before a restart), unless
        the scenario names another (upstream refuses a group of mixed schedulerNames)."""
        spec = pod.raw.get("spec") or {}
        if "schedulingGroup" in spec and "schedulerName" not in spec:
            return self.scheduler_name
        return None

    def setup(self) -> None:
        super().setup()
        ns = self.names.ns(MAIN_NAMESPACE)
        for group, spec in self.gsc.groups.items():
            body: dict[str, Any] = {"schedulingPolicy": {"gang": {"minCount": spec["minCount"]}}}
            if spec.get("priorityClassName"):
                body["priorityClassName"] = spec["priorityClassName"]
            self.cp.request("POST", PODGROUPS.format(ns=ns), {
                "apiVersion": "scheduling.k8s.io/v1beta1", "kind": "PodGroup",
                "metadata": {"name": group}, "spec": body})

    def teardown(self) -> None:
        ns = self.names.ns(MAIN_NAMESPACE)
        super().teardown()
        try:
            self.cp.request("DELETE", PODGROUPS.format(ns=ns))
        except ApiError as e:
            if e.status != 404:
                raise

    def play(self, step: list[PodDef]) -> dict[str, str]:
        """Create the step's pods together, wait until settled, return the outcome."""
        for pod in step:
            self.create(pod)
        self.created += step
        return self.settle()

    def observe(self) -> tuple[dict[str, str], bool]:
        """The outcome now, and whether a pod is nominated but not bound yet."""
        ns = self.names.ns(MAIN_NAMESPACE)
        pods = {p["metadata"]["name"]: p for p in
                self.cp.request("GET", f"/api/v1/namespaces/{ns}/pods")["items"]}
        events = self.cp.request("GET", f"/api/v1/namespaces/{ns}/events")["items"]
        reasons: dict[tuple[str, str], set[str]] = {}
        for e in events:
            obj = e.get("involvedObject") or {}
            if obj.get("kind") == "Pod":
                uid = (pods.get(obj.get("name", "")) or {}).get("metadata", {}).get("uid")
                if uid is not None and uid != obj.get("uid"):
                    continue  # about an earlier pod of that name
            reasons.setdefault((str(obj.get("kind")), str(obj.get("name"))), set()).add(
                str(e.get("reason")))
        out: dict[str, str] = {}
        used: list[str] = []
        nominated = False
        for pod in self.created:
            cur = pods.get(pod.name)
            if cur is None:
                out[f"pod {pod.name}"] = "gone"
            elif cur["spec"].get("nodeName"):
                out[f"pod {pod.name}"] = "bound"
                used.append(self._scenario_node(cur["spec"]["nodeName"]))
            else:
                cond = _condition(cur, "PodScheduled") or {}
                out[f"pod {pod.name}"] = " ".join(filter(None, ("pending", cond.get("reason"))))
                out[f"message {pod.name}"] = self.names.unmap(str(cond.get("message", "")))
                nominated |= bool((cur.get("status") or {}).get("nominatedNodeName"))
            out[f"events {pod.name}"] = ",".join(sorted(reasons.get(("Pod", pod.name), ())))
        for pod in self.sc.existing:
            out[f"pod {pod.name}"] = "bound" if pod.name in pods else "gone"
            out[f"events {pod.name}"] = ",".join(sorted(reasons.get(("Pod", pod.name), ())))
        if self.gsc.compare_nodes:
            out["nodes used"] = ",".join(sorted(used))
        for group in self.gsc.groups:
            obj = _get(self.cp, f"{PODGROUPS.format(ns=ns)}/{group}") or {}
            cond = _condition(obj, CONDITION)
            out[f"group {group}"] = f"{cond['status']} {cond['reason']}" if cond else "none"
            if cond:
                out[f"groupmessage {group}"] = self.names.unmap(str(cond.get("message", "")))
        return out, nominated

    def settle(self) -> dict[str, str]:
        self.env.kube.check_alive() if self.which == "kube" else self.env.py.check_alive()
        deadline = time.monotonic() + SETTLE_TIMEOUT
        last, nominated = self.observe()
        since = time.monotonic()
        while True:
            time.sleep(POLL)
            cur, nominated = self.observe()
            now = time.monotonic()
            if cur != last:
                last, since = cur, now
            elif not nominated and now - since >= SETTLE:
                return cur
            if now > deadline:
                raise HarnessError(f"{self.which}: not settled after {SETTLE_TIMEOUT}s: {cur}")


# ----------------------------------------------------------------------------- comparison
def _rename(outcome: Mapping[str, str], mapping: Mapping[str, str]) -> dict[str, str]:
    """``outcome`` with group names renamed: in keys (``group a``, members ``a-0``) and in
    messages (``PodGroup ns/a:``, member names)."""
    if not mapping:
        return dict(outcome)
    alt = "|".join(map(re.escape, mapping))
    in_key = re.compile(rf"\b({alt})(?=-|$)")
    in_text = re.compile(rf"(?<=/)({alt})(?=:)|\b({alt})(?=-\d)")

    def sub(m: re.Match[str]) -> str:
        return mapping[m.group(1) or m.group(2)]

    return {in_key.sub(sub, k): in_text.sub(sub, v) for k, v in outcome.items()}


def _departed(key: str, departures: list[Departure]) -> bool:
    return any(fnmatch.fnmatchcase(key, d.key) for d in departures)


def _compared(outcome: Mapping[str, str], departures: list[Departure]) -> dict[str, str]:
    return {k: v for k, v in outcome.items() if not _departed(k, departures)}


def best_renaming(gsc: GangScenario, kube: Mapping[str, str],
                  py: Mapping[str, str]) -> dict[str, str]:
    """The renaming of interchangeable groups that makes ours closest to upstream's."""
    want = _compared(kube, gsc.departures)
    best: tuple[int, dict[str, str]] = (-1, {})
    choices = [[dict(zip(s, perm, strict=True)) for perm in itertools.permutations(s)]
               for s in gsc.interchangeable]
    for combo in itertools.product(*choices) if choices else [()]:
        mapping = {k: v for m in combo for k, v in m.items() if k != v}
        got = _compared(_rename(py, mapping), gsc.departures)
        score = sum(1 for k, v in want.items() if got.get(k) == v)
        if score > best[0]:
            best = (score, mapping)
    return best[1]


def _matches(key: str, want: str, got: str | None) -> bool:
    if key.split(":", 1)[1].split(" ", 1)[0] in REGEX_KEYS:
        return got is not None and re.search(want, got) is not None
    return got == want


def compare(gsc: GangScenario, kube: Mapping[str, str], py: Mapping[str, str]) -> list[str]:
    """Every difference that is not a declared departure, and every departure not met."""
    problems: list[str] = []
    want, got = _compared(kube, gsc.departures), _compared(py, gsc.departures)
    for key in sorted(set(want) | set(got)):
        if want.get(key) != got.get(key):
            problems.append(f"{key}: kube-scheduler {want.get(key)!r}, pyscheduler "
                            f"{got.get(key)!r}")
    for d in gsc.departures:
        for side, value, outcome in (("kube-scheduler", d.kube, kube), ("pyscheduler", d.py, py)):
            keys = [k for k in outcome if fnmatch.fnmatchcase(k, d.key)]
            if not keys:
                problems.append(f"departure {d.key}: {side} has no such key ({d.why})")
            for k in keys:
                if not _matches(k, value, outcome[k]):
                    problems.append(f"departure {k}: {side} was {outcome[k]!r}, the scenario "
                                    f"says {value!r} ({d.why})")
    return problems


def check_expectations(gsc: GangScenario, kube: Mapping[str, str]) -> list[str]:
    last = len(gsc.steps)
    out = []
    for key, want in gsc.expect.items():
        full = key if ":" in key else f"{last}:{key}"
        if not _matches(full, want, kube.get(full)):
            out.append(f"{full}: kube-scheduler {kube.get(full)!r}, expected {want!r}")
    return out


def _flat(step: int, outcome: Mapping[str, str]) -> dict[str, str]:
    return {f"{step}:{k}": v for k, v in outcome.items()}


def run_gang_scenario(env: Env, gsc: GangScenario, report: GangReport) -> None:
    """Play ``gsc`` under kube-scheduler, then pyscheduler; fill ``report`` (module doc)."""
    t0 = time.monotonic()
    tag = f"g{next(env.counter):03d}"
    kube_out: dict[str, str] = {}
    py_out: dict[str, str] = {}
    for which, out, per_step in (("kube", kube_out, report.kube), ("py", py_out, report.py)):
        phase = GangPhase(env, gsc, which, tag)
        try:
            phase.setup()
            for i, step in enumerate(gsc.steps, 1):
                outcome = phase.play(step)
                per_step.append(outcome)
                out.update(_flat(i, outcome))
        finally:
            phase.teardown()
        if which == "kube":
            problems = check_expectations(gsc, kube_out)
            if problems:
                raise HarnessError(f"scenario {gsc.name} does not do what it says against "
                                   "kube-scheduler:\n  " + "\n  ".join(problems))
    report.renamed = best_renaming(gsc, kube_out, py_out)
    report.mismatches = compare(gsc, kube_out, _rename(py_out, report.renamed))
    report.seconds = time.monotonic() - t0
