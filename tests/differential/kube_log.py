"""What kube-scheduler decided and saw, read from its own log.

kube-scheduler runs with ``--vmodule=schedule_one=10,eventhandlers=3``, so its text log (klog
format) carries, from the v1.37.2 sources:

* pkg/scheduler/schedule_one.go: ``"Attempting to schedule pod" pod="ns/name"`` (V3) opening each
  attempt; ``"Plugin scored node for pod" pod= plugin= node= score=`` and
  ``"Calculated node's final score for pod" pod= node= score=`` (V10, only when scoring ran, i.e.
  when more than one node was feasible); ``"Successfully bound pod to node" pod= node=
  evaluatedNodes= feasibleNodes=`` (V2); ``"Unable to schedule pod; no fit; waiting" pod= err=``
  (V2).
* pkg/scheduler/eventhandlers.go: ``"Add event for node"`` / ``"Delete event for node"`` node=
  and ``"Add event for scheduled pod"`` / ``"Delete event for scheduled pod"`` pod= (V3), which
  give the scheduler's own view of the cluster, so the runner can wait until kube-scheduler has
  seen a phase's nodes and pods (and no longer sees the previous phase's) before it starts.

* pkg/scheduler/framework/plugins/defaultpreemption/default_preemption.go: ``"Pods are potential
  preemption victims on node" pods=[...] node=`` (V5), once per victim kept by a node's dry run,
  so every preemption candidate with its victims; pkg/scheduler/framework/preemption/
  preemption.go: ``"the target node for the preemption is determined" node= pod=`` (V2). Both
  belong to the attempt opened last (the runner schedules one pod at a time).

Ties are therefore derived from upstream's own arithmetic: the top-scoring set of an attempt is
every node whose logged final score equals the highest one.

Contract: :meth:`KubeSchedulerLog.poll` reads whatever was appended since the last call and
folds it into the state; it never blocks. Lines are parsed in order, so a node deleted and
re-added is tracked correctly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

_HEADER = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [^\]]+\] (.*)$")
_MSG = re.compile(r'^"((?:[^"\\]|\\.)*)"(.*)$')
_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def parse_line(line: str) -> tuple[str, dict[str, str]] | None:
    """(message, key/values) of one structured klog line, or None if it is not one."""
    m = _HEADER.match(line)
    if not m:
        return None
    body = _MSG.match(m.group(1))
    if not body:
        return None
    kvs: dict[str, str] = {}
    for k, v in _KV.findall(body.group(2)):
        kvs[k] = _unescape(v[1:-1]) if v.startswith('"') else v
    return _unescape(body.group(1)), kvs


_VICTIMS = re.compile(r' pods=\[([^\]]*)\]')
_OBJ = re.compile(r'([a-z0-9][-a-z0-9.]*/[a-z0-9][-a-z0-9.]*)')


def _victim_names(text: str) -> list[str]:
    """"ns/name" of each klog.ObjectRef in a slice klog wrote as JSON
    ({"name":..,"namespace":..}), or as strings."""
    try:
        items = json.loads(f"[{text}]")
    except ValueError:
        return list(_OBJ.findall(text))
    out = []
    for it in items:
        if isinstance(it, dict):
            out.append(f"{it.get('namespace', '')}/{it.get('name', '')}")
        else:
            out.append(str(it))
    return out


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unescape(s: str) -> str:
    """Go's strconv.Quote, undone for the escapes klog's messages use."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), s)


@dataclass(slots=True)
class Attempt:
    """One scheduling attempt of one pod, as kube-scheduler logged it."""

    final_scores: dict[str, int] = field(default_factory=dict)
    plugin_scores: dict[str, dict[str, int]] = field(default_factory=dict)  # node -> plugin
    bound_node: str | None = None
    evaluated_nodes: int | None = None
    feasible_nodes: int | None = None
    error: str | None = None
    # preemption: node -> victims ("ns/name") of each candidate, and the node chosen
    candidates: dict[str, list[str]] = field(default_factory=dict)
    preemption_node: str | None = None

    def top_nodes(self) -> set[str]:
        """The nodes with the highest final score (upstream's tie set)."""
        if not self.final_scores:
            return set()
        best = max(self.final_scores.values())
        return {n for n, s in self.final_scores.items() if s == best}


@dataclass(slots=True)
class KubeSchedulerLog:
    path: Path
    nodes: set[str] = field(default_factory=set)
    scheduled_pods: set[str] = field(default_factory=set)
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)
    current: str = ""  # the pod of the attempt opened last
    _offset: int = 0
    _partial: str = ""

    def poll(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        if not data:
            return
        self._offset += len(data)
        text = self._partial + data.decode(errors="replace")
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            self.feed(line)

    def feed(self, line: str) -> None:
        parsed = parse_line(line)
        if parsed is None:
            return
        msg, kv = parsed
        pod = kv.get("pod", "")
        if msg == "Attempting to schedule pod":
            self.attempts.setdefault(pod, []).append(Attempt())
            self.current = pod
        elif msg == "Pods are potential preemption victims on node":
            victims = _VICTIMS.search(line)
            names = _victim_names(victims.group(1)) if victims else []
            self._last(self.current).candidates.setdefault(kv["node"], []).extend(names)
        elif msg == "the target node for the preemption is determined":
            self._last(pod or self.current).preemption_node = kv["node"]
        elif msg == "Plugin scored node for pod":
            a = self._last(pod)
            a.plugin_scores.setdefault(kv["node"], {})[kv["plugin"]] = int(kv["score"])
        elif msg == "Calculated node's final score for pod":
            self._last(pod).final_scores[kv["node"]] = int(kv["score"])
        elif msg == "Successfully bound pod to node":
            a = self._last(pod)
            a.bound_node = kv["node"]
            a.evaluated_nodes = int(kv["evaluatedNodes"])
            a.feasible_nodes = int(kv["feasibleNodes"])
        elif msg == "Unable to schedule pod; no fit; waiting":
            self._last(pod).error = kv.get("err")
        elif msg == "Add event for node":
            self.nodes.add(kv["node"])
        elif msg == "Delete event for node":
            self.nodes.discard(kv["node"])
        elif msg == "Add event for scheduled pod":
            self.scheduled_pods.add(pod)
        elif msg == "Delete event for scheduled pod":
            self.scheduled_pods.discard(pod)

    def _last(self, pod: str) -> Attempt:
        attempts = self.attempts.setdefault(pod, [])
        if not attempts:
            attempts.append(Attempt())
        return attempts[-1]

    def preemption_attempt(self, pod: str) -> Attempt | None:
        """The last attempt of ``pod`` that chose a node to preempt on."""
        for a in reversed(self.attempts.get(pod, [])):
            if a.preemption_node is not None:
                return a
        return None

    def bound_attempt(self, pod: str) -> Attempt | None:
        """The attempt that bound ``pod`` ("ns/name"), once its line has been read."""
        for a in reversed(self.attempts.get(pod, [])):
            if a.bound_node is not None:
                return a
        return None
