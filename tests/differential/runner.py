"""Plays a scenario against kube-scheduler, then against pyscheduler, and compares.

Contract of :func:`run_scenario`:

* Scenarios run one at a time on one control plane. Each run ("phase") gets fresh nodes,
  namespaces and cluster objects with names of its own, and deletes its pods and nodes at the
  end, so the only nodes in the cluster during a phase are that phase's: "0/N nodes are
  available" counts exactly the scenario's nodes, for both schedulers.
* Before the first incoming pod, the runner waits until the phase's scheduler has *seen*
  exactly the phase's nodes and bound pods (kube-scheduler: its event-handler log lines;
  pyscheduler: its cache), so neither decides on a stale view of the previous scenario.
* Incoming pods are created one at a time, and each is waited for: bound, unschedulable
  (PodScheduled=False, reason Unschedulable; a pod that got a nominatedNodeName is waited for
  until bound), gated, or still pending after a timeout. Unschedulable pods are deleted after
  their outcome is read, in both phases, so a later pod cannot make them schedulable at a
  timing-dependent moment.
* kube-scheduler goes first. pyscheduler's phase then runs in lockstep with it: whenever
  pyscheduler's decision differs from kube-scheduler's (a tie broken the other way, or a real
  mismatch), its pod is deleted and re-created bound where kube-scheduler put it (or just
  deleted), so every later pod is decided on the same cluster state upstream decided on.
* Comparison per pod: same outcome; when kube-scheduler found one feasible node
  (``feasibleNodes=1`` in its log), the same node; otherwise a node among kube-scheduler's
  top-scoring nodes (its logged final scores: ties come from upstream's arithmetic, never from
  ours); for unschedulable pods, the same PodScheduled message (the "0/N nodes are available:
  ..." reason counts) and the same observedGeneration rule on it, and each scheduler's
  FailedScheduling event must carry its own condition message. Until pyscheduler registers
  DefaultPreemption, the PostFilter part of upstream's message (whatever follows pyscheduler's
  whole message and a space, usually " preemption: ...") is not compared.
* Preemption: the same victims, or a node upstream's pickOneNodeForPreemption criteria tie
  with (kube-scheduler's logged candidates, see :func:`victims_agree`), and the same
  FailedScheduling message for the attempt that preempted (" preemption: found a potential
  placement for pod on node X, preempting N victims"; a tied node is named as such).
* Every pod gets a ``status.startTime`` the two phases share (:meth:`Phase.set_start_time`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envtest import ApiError, ControlPlane

from .scenario import (
    CLUSTER_SCOPED_RENAMED,
    MAIN_NAMESPACE,
    START_BASE,
    Names,
    PodDef,
    Scenario,
    cluster_object_names,
    render_node,
    render_object,
    render_pod,
    start_offset,
)
from .schedulers import KUBE_PREFIX, PY_PREFIX, KubeScheduler, PyScheduler

OUTCOME_TIMEOUT = 10.0       # one scheduling decision (first attempt) takes milliseconds
PREEMPTION_TIMEOUT = 20.0    # a nominated pod waits for its victims to go
VIEW_TIMEOUT = 15.0          # a scheduler's informers catching up with a phase's objects
RUN_TIMEOUT = 60.0           # KWOK marking a bound pod Running (slow while it retries deletes)
EVENT_TIMEOUT = 5.0          # events are written asynchronously by both schedulers
GATE_OBSERVE = 0.4           # how long a gated pod must stay unbound to count as gated
POLL = 0.01



class PluginsMissing(Exception):
    """pyscheduler lacks a plugin the scenario depends on (an expected failure, see conftest)."""


class HarnessError(AssertionError):
    """The scenario or the harness is wrong (not a scheduler mismatch)."""


@dataclass(slots=True)
class Env:
    cp: ControlPlane
    kube: KubeScheduler
    py: PyScheduler
    registered: frozenset[str]
    work: Path
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def compare_postfilter(self) -> bool:
        return "DefaultPreemption" in self.registered


@dataclass(slots=True)
class PodOutcome:
    pod: str
    kind: str  # bound | unschedulable | gated | pending | nominated | preassigned
    node: str | None = None
    message: str | None = None
    event_message: str | None = None
    was_gated: bool = False
    # PodScheduled=False: its observedGeneration (v1.37 sets it to metadata.generation)
    observed_generation: int | None = None
    generation: int | None = None
    nominated: str | None = None
    victims: tuple[str, ...] = ()
    victim_node: str | None = None
    # the FailedScheduling message of the attempt that preempted ("... preemption: found a
    # potential placement for pod on node X, preempting N victims")
    preempt_message: str | None = None
    # kube-scheduler only (from its log)
    candidates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    feasible: int | None = None
    top: tuple[str, ...] = ()
    final_scores: dict[str, int] = field(default_factory=dict)
    plugin_scores: dict[str, dict[str, int]] = field(default_factory=dict)
    # pyscheduler only
    realigned: bool = False
    # a pod left pending: the errors pyscheduler logged for it (distinct, in order)
    errors: tuple[str, ...] = ()

    def brief(self) -> str:
        if self.kind in ("bound", "preassigned"):
            s = f"{self.kind} on {self.node}"
        elif self.kind == "unschedulable":
            s = f"unschedulable ({self.message})"
        else:
            s = self.kind
        if self.victims:
            s += f", victims {list(self.victims)}"
        if self.errors:
            s += f" (it logged {'; '.join(self.errors)})"
        return s


@dataclass(slots=True)
class Report:
    scenario: str
    kube: list[PodOutcome] = field(default_factory=list)
    py: list[PodOutcome] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str | None = None  # the harness or a scheduler failed; nothing was compared
    seconds: float = 0.0


# ------------------------------------------------------------------------------ API helpers
def _get(cp: ControlPlane, path: str) -> dict[str, Any] | None:
    try:
        obj: dict[str, Any] = cp.request("GET", path)
        return obj
    except ApiError as e:
        if e.status == 404:
            return None
        raise


def _pod_path(ns: str, name: str) -> str:
    return f"/api/v1/namespaces/{ns}/pods/{name}"


def _condition(pod: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


_COLLECTIONS = {
    "PersistentVolume": "/api/v1/persistentvolumes",
    "StorageClass": "/apis/storage.k8s.io/v1/storageclasses",
    "CSINode": "/apis/storage.k8s.io/v1/csinodes",
    "CSIDriver": "/apis/storage.k8s.io/v1/csidrivers",
    "PersistentVolumeClaim": "/api/v1/namespaces/{ns}/persistentvolumeclaims",
    "Service": "/api/v1/namespaces/{ns}/services",
    "ReplicaSet": "/apis/apps/v1/namespaces/{ns}/replicasets",
    "StatefulSet": "/apis/apps/v1/namespaces/{ns}/statefulsets",
    "PodDisruptionBudget": "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
}
# Creation order: what others refer to first.
_KIND_ORDER = ["CSIDriver", "StorageClass", "CSINode", "PersistentVolume",
               "PersistentVolumeClaim", "Service", "ReplicaSet", "StatefulSet",
               "PodDisruptionBudget"]


def _collection(obj: dict[str, Any]) -> str:
    return _COLLECTIONS[obj["kind"]].format(ns=obj["metadata"].get("namespace", ""))


def _wait(what: str, probe: Callable[[], bool], timeout: float, detail: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout}s waiting for {what}: {detail()}")
        time.sleep(POLL)


# ------------------------------------------------------------------------------ one phase
class Phase:
    """One run of a scenario against one scheduler (see module doc)."""

    def __init__(self, env: Env, sc: Scenario, which: str, tag: str) -> None:
        self.env = env
        self.cp = env.cp
        self.sc = sc
        self.which = which
        prefix = f"{tag}{which[0]}-"
        self.names = Names(
            nodes={n.name: f"{prefix}{n.name}" for n in sc.nodes},
            namespaces={},
            cluster={key: f"{prefix}{key[1]}" for key in cluster_object_names(sc)},
        )
        self.scheduler_name = (KUBE_PREFIX if which == "kube" else PY_PREFIX) + sc.profile
        self.bound: dict[str, tuple[str, str]] = {}  # scenario pod name -> (uid, real node)
        # A pod re-created to follow kube-scheduler gets a new API name: reusing the name at
        # once would let anything still acting on the old object by name hit the new one.
        self.api_names: dict[str, str] = {}
        self.objects: list[dict[str, Any]] = []

    # ---- setup / teardown -----------------------------------------------------------------
    def setup(self) -> None:
        cp = self.cp
        for alias, spec in self.sc.namespaces.items():
            labels = {str(k): str(v) for k, v in ((spec or {}).get("labels") or {}).items()}
            labels["pyscheduler.test/differential"] = self.which
            self.names.namespaces[alias] = cp.create_namespace(
                f"{self.sc.name[:40]}-{self.which[0]}-", labels=labels)
        rendered = [render_object(o, self.names) for o in self.sc.objects]
        rendered.sort(key=lambda o: _KIND_ORDER.index(o["kind"]))
        for obj in rendered:
            created = cp.request("POST", _collection(obj), obj)
            self.objects.append(created)
            status = obj.get("status")
            if status:
                # No controller runs: a pre-bound PV/PVC pair gets its phase, a PDB its
                # disruptionsAllowed, from the scenario.
                created["status"] = status
                path = f"{_collection(obj)}/{created['metadata']['name']}/status"
                self.objects[-1] = cp.request("PUT", path, created)
        for node in self.sc.nodes:
            cp.request("POST", "/api/v1/nodes", render_node(node, self.names))
        # KWOK only plays pods of nodes it already manages: a pod bound to a node it has not
        # initialized yet would stay Pending (and never get a start time).
        for real in self.names.nodes.values():
            path = f"/api/v1/nodes/{real}"
            _wait(f"node {real} to be Ready",
                  lambda path=path: (_condition(_get(cp, path) or {}, "Ready") or {}).get(
                      "status") == "True", RUN_TIMEOUT, lambda: "")
        for pod in self.sc.existing:
            created = cp.request(
                "POST", f"/api/v1/namespaces/{self.names.ns(pod.namespace)}/pods",
                render_pod(pod, self.names, scheduler_name=self.existing_scheduler(pod)))
            self.bound[pod.name] = (created["metadata"]["uid"], created["spec"]["nodeName"])
        for i, pod in enumerate(self.sc.existing):
            self.set_start_time(pod, start_offset(pod, i, incoming=False))
        self.wait_view()

    def existing_scheduler(self, pod: PodDef) -> str | None:
        """The schedulerName a bound pod is created with (None: the API's default)."""
        return None

    def set_start_time(self, pod: PodDef, offset: int) -> None:
        """Once KWOK has the pod running, give it a start time both phases share.

        KWOK stamps its own clock, which differs between the phases (and is in one-second
        steps): preemption's "latest start time" and victim order would then depend on when
        each phase ran. KWOK's pod-ready stage only matches Pending pods, so it leaves the
        patched time alone.
        """
        path = _pod_path(self.names.ns(pod.namespace), self.api_name(pod))

        def running() -> bool:
            cur = _get(self.cp, path)
            return cur is None or (cur.get("status") or {}).get("phase") == "Running"

        _wait(f"pod {pod.name} to run", running, RUN_TIMEOUT,
              lambda: str((_get(self.cp, path) or {}).get("status")))
        stamp = datetime.fromtimestamp(START_BASE + offset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            self.cp.request("PATCH", f"{path}/status", {"status": {"startTime": stamp}},
                            content_type="application/merge-patch+json")
        except ApiError as e:
            if e.status != 404:
                raise

    def teardown(self) -> None:
        cp = self.cp
        for ns in self.names.namespaces.values():
            cp.request("DELETE", f"/api/v1/namespaces/{ns}/pods", query={"gracePeriodSeconds": 0})
        def empty() -> bool:
            return not any(cp.request("GET", f"/api/v1/namespaces/{ns}/pods")["items"]
                           for ns in self.names.namespaces.values())

        _wait("the phase's pods to go", empty, VIEW_TIMEOUT, lambda: "")
        for real in self.names.nodes.values():
            try:
                cp.request("DELETE", f"/api/v1/nodes/{real}")
            except ApiError as e:
                if e.status != 404:
                    raise
        for obj in reversed(self.objects):
            path = f"{_collection(obj)}/{obj['metadata']['name']}"
            try:
                if obj["metadata"].get("finalizers") or obj["kind"] in CLUSTER_SCOPED_RENAMED:
                    # No controller removes the protection finalizers: do its work.
                    cp.request("PATCH", path, {"metadata": {"finalizers": None}},
                               content_type="application/merge-patch+json")
                cp.request("DELETE", path, query={"gracePeriodSeconds": 0})
            except ApiError as e:
                if e.status != 404:
                    raise

    # ---- the scheduler's view -------------------------------------------------------------
    def wait_view(self) -> None:
        """Until the scheduler has seen exactly this phase's nodes and bound pods."""
        nodes = set(self.names.nodes.values())
        if self.which == "kube":
            kube = self.env.kube
            pods = {f"{self._ns_of(name)}/{name}" for name in self.bound}

            def kube_ok() -> bool:
                log = kube.poll()
                return log.nodes == nodes and log.scheduled_pods == pods

            _wait("kube-scheduler to see the phase's nodes and pods", kube_ok, VIEW_TIMEOUT,
                  lambda: f"nodes seen {sorted(kube.log.nodes)} want {sorted(nodes)}; pods "
                          f"seen {sorted(kube.log.scheduled_pods)} want {sorted(pods)}")
            return
        want = dict(self.bound.values())

        def view(app: Any) -> tuple[set[str], dict[str, str | None], int]:
            cache = app.cache
            return (set(cache.nodes), {uid: cache.pod_node(uid) for uid in want},
                    cache.pod_count)

        last: list[Any] = []

        def py_ok() -> bool:
            seen = self.env.py.call(view)
            last[:] = [seen]
            return seen == (nodes, want, len(want))

        _wait("pyscheduler to see the phase's nodes and pods", py_ok, VIEW_TIMEOUT,
              lambda: f"seen {last} want {(nodes, want, len(want))}")

    def _ns_of(self, pod_name: str) -> str:
        for p in (*self.sc.existing, *self.sc.incoming):
            if p.name == pod_name:
                return self.names.ns(p.namespace)
        return self.names.ns(MAIN_NAMESPACE)

    # ---- one incoming pod -----------------------------------------------------------------
    def api_name(self, pod: PodDef) -> str:
        return self.api_names.get(pod.name, pod.name)

    def create(self, pod: PodDef, *, bind_to: str | None = None) -> dict[str, Any]:
        ns = self.names.ns(pod.namespace)
        body = render_pod(pod, self.names, scheduler_name=self.scheduler_name, bind_to=bind_to)
        body["metadata"]["name"] = self.api_name(pod)
        created: dict[str, Any] = self.cp.request("POST", f"/api/v1/namespaces/{ns}/pods", body)
        return created

    def delete(self, pod: PodDef) -> None:
        ns = self.names.ns(pod.namespace)
        path = _pod_path(ns, self.api_name(pod))
        try:
            self.cp.request("DELETE", path, query={"gracePeriodSeconds": 0})
        except ApiError as e:
            if e.status != 404:
                raise
        _wait(f"pod {pod.name} to go", lambda: _get(self.cp, path) is None, VIEW_TIMEOUT,
              lambda: "")
        self.bound.pop(pod.name, None)

    def schedule(self, pod: PodDef) -> PodOutcome:
        """Create ``pod`` for this phase's scheduler and read what became of it."""
        ns = self.names.ns(pod.namespace)
        path = _pod_path(ns, self.api_name(pod))
        before = {name: uid for name, (uid, _) in self.bound.items()}
        created = self.create(pod)
        out = PodOutcome(pod=pod.name, kind="pending")
        if pod.preassigned:
            time.sleep(GATE_OBSERVE)
            out.kind = "preassigned"
            out.node = self._scenario_node(created["spec"]["nodeName"])
            events = self._events(created["metadata"]["uid"], wait_for=None)
            if events:
                out.kind = "preassigned-but-touched"
                out.message = "; ".join(f"{e['reason']}: {e.get('message')}" for e in events)
            self.bound[pod.name] = (created["metadata"]["uid"], created["spec"]["nodeName"])
            self.set_start_time(pod, self._incoming_offset(pod))
            return out
        if pod.has_gates:
            current = self._observe_gated(path)
            if current is None:
                out.kind = "bound-while-gated"
                return self._read_result(pod, out, before)
            out.was_gated = True
            gates = [g["name"] for g in current["spec"].get("schedulingGates") or []]
            if not pod.ungate:
                out.kind = "gated"
                return out
            keep = [] if pod.ungate is True else [g for g in gates if g not in pod.ungate]
            self.cp.request("PATCH", path, [{"op": "replace", "path": "/spec/schedulingGates",
                                             "value": [{"name": g} for g in keep]}],
                            content_type="application/json-patch+json")
            if keep:
                if self._observe_gated(path) is None:
                    out.kind = "bound-while-gated"
                    return self._read_result(pod, out, before)
                out.kind = "gated"
                return out
        return self._read_result(pod, out, before)

    def _observe_gated(self, path: str) -> dict[str, Any] | None:
        """The pod after GATE_OBSERVE seconds, or None if it got bound meanwhile."""
        time.sleep(GATE_OBSERVE)
        current = _get(self.cp, path)
        if current is None or current["spec"].get("nodeName"):
            return None
        return current

    def _read_result(self, pod: PodDef, out: PodOutcome, before: dict[str, str]) -> PodOutcome:
        ns = self.names.ns(pod.namespace)
        path = _pod_path(ns, self.api_name(pod))
        deadline = time.monotonic() + OUTCOME_TIMEOUT
        current: dict[str, Any] | None = None
        while True:
            current = _get(self.cp, path)
            if current is None:
                raise HarnessError(f"pod {pod.name} disappeared while being scheduled")
            spec, status = current["spec"], current.get("status") or {}
            if spec.get("nodeName"):
                if out.kind != "bound-while-gated":
                    out.kind = "bound"
                out.node = self._scenario_node(spec["nodeName"])
                break
            cond = _condition(current, "PodScheduled")
            if status.get("nominatedNodeName"):
                if out.nominated is None:
                    out.nominated = self._scenario_node(status["nominatedNodeName"])
                    out.message = self.names.unmap((cond or {}).get("message") or "")
                    deadline = time.monotonic() + PREEMPTION_TIMEOUT
            elif cond and cond.get("status") == "False" and cond.get("reason") == "Unschedulable":
                out.kind = "unschedulable"
                out.message = self.names.unmap(cond.get("message") or "")
                out.observed_generation = cond.get("observedGeneration")
                out.generation = current["metadata"].get("generation")
                break
            if time.monotonic() > deadline:
                out.kind = "nominated" if out.nominated else "pending"
                if self.which == "py":
                    key = f"{ns}/{self.api_name(pod)}"
                    out.errors = tuple(dict.fromkeys(self.env.py.errors_for(key)))
                break
            time.sleep(POLL)
        uid = current["metadata"]["uid"]
        if out.kind in ("bound", "bound-while-gated"):
            self.bound[pod.name] = (uid, current["spec"]["nodeName"])
        nodes_before = {name: node for name, (_, node) in self.bound.items()}
        out.victims = self._victims(before)
        if out.victims:
            out.victim_node = self._scenario_node(nodes_before[out.victims[0]])
            events = self._events(uid, wait_for="FailedScheduling")
            for e in events:
                msg = e.get("message") or ""
                if e.get("reason") == "FailedScheduling" and PLACEMENT in msg:
                    out.preempt_message = self.names.unmap(msg)
            if self.which == "kube":
                self._kube_candidates(pod, out)
        if out.kind in ("bound", "bound-while-gated"):
            self.set_start_time(pod, self._incoming_offset(pod))
        if out.kind == "unschedulable":
            events = self._events(uid, wait_for="FailedScheduling")
            failed = [e for e in events if e.get("reason") == "FailedScheduling"]
            if failed:
                out.event_message = self.names.unmap(failed[0].get("message") or "")
        if self.which == "kube" and out.kind in ("bound", "bound-while-gated"):
            self._kube_scores(pod, out)
        return out

    def _incoming_offset(self, pod: PodDef) -> int:
        return start_offset(pod, self.sc.incoming.index(pod), incoming=True)

    def _kube_candidates(self, pod: PodDef, out: PodOutcome) -> None:
        """kube-scheduler's preemption candidates for ``pod``, from its log (scenario names)."""
        key = f"{self.names.ns(pod.namespace)}/{self.api_name(pod)}"
        kube = self.env.kube
        _wait(f"kube-scheduler's preemption log lines for {key}",
              lambda: kube.poll().preemption_attempt(key) is not None, EVENT_TIMEOUT, lambda: "")
        attempt = kube.log.preemption_attempt(key)
        assert attempt is not None
        api_to_name = {self.api_name(p): p.name for p in (*self.sc.existing, *self.sc.incoming)}
        out.candidates = {
            self._scenario_node(node): tuple(sorted(
                api_to_name.get(v.split("/", 1)[1], v) for v in victims))
            for node, victims in attempt.candidates.items()}

    def _victims(self, before: dict[str, str]) -> tuple[str, ...]:
        """Pods bound before this step that are gone (or going) now: preemption's victims."""
        present: set[str] = set()
        for ns in self.names.namespaces.values():
            for p in self.cp.request("GET", f"/api/v1/namespaces/{ns}/pods")["items"]:
                if not p["metadata"].get("deletionTimestamp"):
                    present.add(p["metadata"]["uid"])
        gone = sorted(name for name, uid in before.items() if uid not in present)
        for name in gone:
            self.bound.pop(name, None)
        return tuple(gone)

    def _events(self, uid: str, *, wait_for: str | None) -> list[dict[str, Any]]:
        deadline = time.monotonic() + (EVENT_TIMEOUT if wait_for else 0)
        while True:
            items: list[dict[str, Any]] = []
            for ns in self.names.namespaces.values():
                items += self.cp.request(
                    "GET", f"/api/v1/namespaces/{ns}/events",
                    query={"fieldSelector": f"involvedObject.uid={uid}"})["items"]
            if wait_for is None or any(e.get("reason") == wait_for for e in items):
                return items
            if time.monotonic() > deadline:
                return items
            time.sleep(0.05)

    def _kube_scores(self, pod: PodDef, out: PodOutcome) -> None:
        key = f"{self.names.ns(pod.namespace)}/{pod.name}"
        kube = self.env.kube
        _wait(f"kube-scheduler's log line binding {key}",
              lambda: kube.poll().bound_attempt(key) is not None, EVENT_TIMEOUT,
              lambda: f"attempts {kube.log.attempts.get(key)}")
        attempt = kube.log.bound_attempt(key)
        assert attempt is not None
        out.feasible = attempt.feasible_nodes
        out.final_scores = {self._scenario_node(n): s for n, s in attempt.final_scores.items()}
        out.plugin_scores = {self._scenario_node(n): s for n, s in attempt.plugin_scores.items()}
        out.top = tuple(sorted(self._scenario_node(n) for n in attempt.top_nodes()))
        if attempt.bound_node and self._scenario_node(attempt.bound_node) != out.node:
            raise HarnessError(f"kube-scheduler's log binds {key} to {attempt.bound_node}, "
                               f"the API says {out.node}")
        if (out.feasible or 0) > 1 and out.node not in out.top:
            raise HarnessError(f"{key}: kube-scheduler bound to {out.node}, not among its own "
                               f"top-scoring nodes {out.top} (log parsing is wrong)")

    def _scenario_node(self, real: str) -> str:
        for name, r in self.names.nodes.items():
            if r == real:
                return name
        raise HarnessError(f"a pod landed on {real!r}, which is not a node of this phase "
                           f"({sorted(self.names.nodes.values())}): a stale scheduler view")

    def realign(self, pod: PodDef, want: PodOutcome) -> None:
        """Make pyscheduler's cluster state what kube-scheduler's was after ``want``."""
        self.delete(pod)
        if want.kind in ("bound", "bound-while-gated") and want.node is not None:
            self.api_names[pod.name] = f"{pod.name}-r{next(self.env.counter)}"
            created = self.create(pod, bind_to=self.names.node(want.node))
            self.bound[pod.name] = (created["metadata"]["uid"], created["spec"]["nodeName"])
            self.set_start_time(pod, self._incoming_offset(pod))
        self.wait_view()


# ------------------------------------------------------------------------------ scenario
def check_expectations(sc: Scenario, outcomes: list[PodOutcome]) -> list[str]:
    """The scenario's own claims about kube-scheduler's outcome (it tests what it says)."""
    problems = []
    by_pod = {o.pod: o for o in outcomes}
    for pod, want in sc.expect.items():
        o = by_pod[pod]
        head, _, text = want.partition(":")
        head, text = head.strip(), text.strip()
        if head == "unschedulable":
            ok = o.kind == "unschedulable" and (not text or text in (o.message or ""))
        elif head in ("gated", "preassigned"):
            ok = o.kind == head
        else:
            ok = o.kind in ("bound", "bound-while-gated") and o.node in {
                a.strip() for a in want.split("|")}
        if not ok:
            problems.append(f"{pod}: scenario expects {want!r}, kube-scheduler: {o.brief()}")
    return problems


DRA_POSTFILTER_ERROR = " not found"
PLACEMENT = "preemption: found a potential placement for pod on node "
_PRIORITY_SHIFT = 2**31


def preemption_ties(candidates: dict[str, tuple[str, ...]], chosen: str,
                    importance: dict[str, tuple[int, int]]) -> set[str]:
    """The candidate nodes upstream's pickOneNodeForPreemption could have chosen instead of
    ``chosen``: equal on every criterion (no PDB violations: the caller checks there are no
    budgets), so the remaining pick is Go map order. Start times are whole seconds."""

    def key(node: str) -> tuple[float, ...]:
        prios = [importance[v][0] for v in candidates[node]]
        top = max(prios)
        earliest = min(importance[v][1] for v in candidates[node] if importance[v][0] == top)
        return (-top, -sum(p + _PRIORITY_SHIFT for p in prios), -len(prios), earliest)

    if chosen not in candidates or any(
            v not in importance for vs in candidates.values() for v in vs):
        return {chosen}
    want = key(chosen)
    return {n for n in candidates if key(n) == want}


def victims_agree(kube: PodOutcome, py: PodOutcome, importance: dict[str, tuple[int, int]],
                  ties_allowed: bool) -> bool:
    """Same victims, or pyscheduler preempted on another node upstream's criteria tie with
    (its victims there exactly kube-scheduler's candidate victims on that node)."""
    if kube.victims == py.victims:
        return True
    if not ties_allowed or kube.victim_node is None or py.victim_node is None:
        return False
    if kube.candidates.get(py.victim_node) != tuple(sorted(py.victims)):
        return False
    return py.victim_node in preemption_ties(kube.candidates, kube.victim_node, importance)


def compare(kube: PodOutcome, py: PodOutcome, *, compare_postfilter: bool,
            importance: dict[str, tuple[int, int]] | None = None,
            ties_allowed: bool = False) -> list[str]:
    """Why pyscheduler's outcome for one pod is not kube-scheduler's (empty: it is)."""
    problems: list[str] = []
    importance = importance or {}
    if kube.kind != py.kind:
        return [f"{kube.pod}: kube-scheduler {kube.brief()}; pyscheduler {py.brief()}"]
    if kube.was_gated != py.was_gated:
        problems.append(f"{kube.pod}: gated: kube-scheduler {kube.was_gated}, "
                        f"pyscheduler {py.was_gated}")
    victims_ok = victims_agree(kube, py, importance, ties_allowed)
    # A preemption tie broken the other way (victims_agree accepted pyscheduler's node): each
    # scheduler nominated its own node, and the retry after the victims went tries the
    # nominated node first (findNodesThatFitPod's evaluateNominatedNode), so kube-scheduler's
    # "one feasible node" is its nominated node and pyscheduler's is the tied one. Comparing
    # the bound node with kube-scheduler's was the "disagreed once, agrees on replay" class:
    # upstream breaks the tie in Go map order, which changes from run to run.
    tied = (victims_ok and kube.victims != py.victims and py.victim_node is not None
            and kube.victim_node != py.victim_node)
    if kube.kind in ("bound", "bound-while-gated"):
        if tied and kube.node == kube.victim_node:
            if py.node != py.victim_node:
                problems.append(f"{kube.pod}: preemption tie on {py.victim_node} (kube-scheduler "
                                f"{kube.victim_node}), but pyscheduler bound on {py.node}")
        elif kube.feasible == 1:
            if py.node != kube.node:
                problems.append(f"{kube.pod}: one feasible node {kube.node}; "
                                f"pyscheduler chose {py.node}")
        elif py.node not in kube.top:
            problems.append(f"{kube.pod}: pyscheduler chose {py.node}, not among "
                            f"kube-scheduler's top-scoring {list(kube.top)}; final scores "
                            f"{kube.final_scores}; per plugin {kube.plugin_scores}")
    if kube.kind in ("unschedulable", "nominated"):
        km, pm = kube.message or "", py.message or ""
        if not compare_postfilter and pm.endswith(".") and km.startswith(pm + " "):
            # Upstream's message is "<filter part>. <PostFilter message>" (FitError.Error);
            # without DefaultPreemption pyscheduler has no PostFilter part to compare.
            km = pm
        if km.endswith(DRA_POSTFILTER_ERROR) and " preemption: " in pm:
            # Documented departure (docs/CONFIGURATION.md, "DynamicResources"): upstream's
            # DynamicResources PostFilter fails with a bare "not found" when an earlier
            # PreFilter rejected the pod, which ends the PostFilter chain before preemption.
            # pyscheduler has no DynamicResources, so DefaultPreemption speaks instead. The
            # filter part must still match exactly.
            km = km[: -len(DRA_POSTFILTER_ERROR)]
            pm = pm[: pm.index(" preemption: ")]
        if km != pm:
            problems.append(f"{kube.pod}: message differs:\n    kube-scheduler: {km}\n"
                            f"    pyscheduler:    {pm}")
    if kube.kind == "unschedulable":
        kgen = kube.observed_generation == kube.generation
        pgen = py.observed_generation == py.generation
        if kgen != pgen:
            problems.append(f"{kube.pod}: PodScheduled observedGeneration: kube-scheduler "
                            f"{kube.observed_generation} (pod generation {kube.generation}), "
                            f"pyscheduler {py.observed_generation} (pod generation "
                            f"{py.generation})")
        for who, o in (("kube-scheduler", kube), ("pyscheduler", py)):
            if o.event_message != o.message:
                problems.append(f"{o.pod}: {who}'s FailedScheduling event says "
                                f"{o.event_message!r}, its PodScheduled condition {o.message!r}")
    # Polling sees a nomination only if the pod stays nominated for a while: compare it for
    # pods left waiting; a bound pod's victims and node say what its preemption did.
    if kube.kind == "nominated" and kube.nominated != py.nominated and not (
            tied and kube.nominated == kube.victim_node and py.nominated == py.victim_node):
        problems.append(f"{kube.pod}: nominated node: kube-scheduler {kube.nominated}, "
                        f"pyscheduler {py.nominated}")
    if not victims_ok:
        problems.append(f"{kube.pod}: victims: kube-scheduler {list(kube.victims)} on "
                        f"{kube.victim_node}, pyscheduler {list(py.victims)} on "
                        f"{py.victim_node}; kube-scheduler's candidates {kube.candidates}")
    elif kube.preempt_message != py.preempt_message:
        km, pm = kube.preempt_message or "", py.preempt_message or ""
        if kube.victim_node != py.victim_node and py.victim_node is not None:
            # A tie on the node: the message names pyscheduler's choice.
            pm = pm.replace(f"{PLACEMENT}{py.victim_node},", f"{PLACEMENT}{kube.victim_node},")
        if km != pm:
            problems.append(f"{kube.pod}: preemption message differs:\n    kube-scheduler: "
                            f"{kube.preempt_message}\n    pyscheduler:    {py.preempt_message}")
    if kube.kind == "preassigned" and py.node != kube.node:
        problems.append(f"{kube.pod}: preassigned node changed")
    return problems


def run_scenario(env: Env, sc: Scenario, report: Report) -> None:
    """Run ``sc`` (see module doc), filling ``report``; raise PluginsMissing or HarnessError."""
    t0 = time.monotonic()
    env.kube.check_alive()
    env.py.check_alive()
    tag = f"d{next(env.counter):03d}"

    kube = Phase(env, sc, "kube", tag)
    try:
        kube.setup()
        for pod in sc.incoming:
            out = kube.schedule(pod)
            report.kube.append(out)
            if out.kind in ("unschedulable", "pending", "nominated"):
                kube.delete(pod)
    finally:
        kube.teardown()
    problems = check_expectations(sc, report.kube)
    if problems:
        raise HarnessError(f"scenario {sc.name} does not do what it says against "
                           "kube-scheduler:\n  " + "\n  ".join(problems))
    report.missing = sc.missing(env.registered)
    if report.missing:
        report.seconds = time.monotonic() - t0
        raise PluginsMissing(f"pyscheduler lacks {report.missing}")

    importance = sc.importance()
    py = Phase(env, sc, "py", tag)
    try:
        py.setup()
        diverged = False
        for pod, want in zip(sc.incoming, report.kube, strict=True):
            out = py.schedule(pod)
            report.py.append(out)
            if diverged:
                report.notes.append(f"{pod.name}: not compared (earlier victims differ)")
                continue
            problems = compare(want, out, compare_postfilter=env.compare_postfilter,
                               importance=importance, ties_allowed=not sc.has_pdbs)
            report.mismatches += problems
            if want.victims != out.victims:
                if not problems:
                    report.notes.append(f"{pod.name}: preemption tie broken differently "
                                        f"({out.victim_node} vs {want.victim_node})")
                diverged = True
                continue
            same_node = out.node == want.node
            if out.kind in ("unschedulable", "pending", "nominated"):
                py.delete(pod)
                if want.kind in ("bound", "bound-while-gated"):
                    py.realign(pod, want)
                    out.realigned = True
            elif out.kind in ("bound", "bound-while-gated") and (
                    want.kind not in ("bound", "bound-while-gated") or not same_node):
                py.realign(pod, want)
                out.realigned = True
                if not problems:
                    report.notes.append(f"{pod.name}: tie broken differently "
                                        f"({out.node} vs {want.node}), realigned")
    finally:
        py.teardown()
    report.seconds = time.monotonic() - t0
