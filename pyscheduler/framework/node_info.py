"""NodeInfo: the scheduler's aggregate view of one node and the pods on it.

Contract: a NodeInfo is owned by the scheduler cache (or by a clone made for preemption or
nominated-pod evaluation). Every mutation bumps ``generation`` so the columnar table and derived
lists know to refresh. ``node`` may be None for a node whose object was deleted while pods still
reference it (upstream keeps such "ghost" NodeInfos until their pods go); those never appear in
the schedulable node list.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import cast

from pyscheduler.framework.types import HostPort, PodInfo
from pyscheduler.model.node import Node
from pyscheduler.model.pod import pvc_name
from pyscheduler.model.quantity import PODS, to_int

_generation = itertools.count(1)


def next_generation() -> int:
    """A process-wide monotonically increasing generation, as upstream's nextGeneration()."""
    return next(_generation)


def parse_allocatable(node: Node) -> dict[str, int]:
    """status.allocatable as integers per resource; an unparsable entry is skipped."""
    out: dict[str, int] = {}
    for name, q in node.status.allocatable.items():
        try:
            out[name] = to_int(name, q)
        except ValueError:
            # Skip only the bad entry; the node remains usable for other resources.
            continue
    return out


def _has_affinity(pi: PodInfo) -> bool:
    a = pi.pod.spec.affinity
    return a is not None and (a.pod_affinity is not None or a.pod_anti_affinity is not None)


def _has_required_anti_affinity(pi: PodInfo) -> bool:
    a = pi.pod.spec.affinity
    return (
        a is not None
        and a.pod_anti_affinity is not None
        and bool(a.pod_anti_affinity.required_during_scheduling_ignored_during_execution)
    )


_Accounting = tuple[bool, bool, tuple[str, ...]]
# Most pods: no pod (anti-)affinity and no claims. The shared value lets _update skip the rest.
_PLAIN: _Accounting = (False, False, ())
_ACCOUNTING_MEMO = "NodeInfo"


def _accounting(pi: PodInfo) -> _Accounting:
    """What a pod adds to a node beyond requests and ports: (has pod (anti-)affinity, has
    required anti-affinity, "ns/claim" keys), computed once per pod version. Preemption's dry
    runs add and remove the same pods hundreds of times per cycle."""
    acct = pi.memo.get(_ACCOUNTING_MEMO)
    if acct is None:
        ns = pi.pod.metadata.namespace
        claims = tuple(f"{ns}/{c}" for vol in pi.pod.spec.volumes
                       if (c := pvc_name(pi.pod, vol)) is not None)
        acct = (_has_affinity(pi), _has_required_anti_affinity(pi), claims)
        if acct == _PLAIN:
            acct = _PLAIN
        pi.memo[_ACCOUNTING_MEMO] = acct
    return cast(_Accounting, acct)


@dataclass(slots=True, eq=False)
class NodeInfo:
    name: str
    node: Node | None = None
    # uid -> PodInfo, insertion ordered.
    pods: dict[str, PodInfo] = field(default_factory=dict)
    requested: dict[str, int] = field(default_factory=dict)
    non_zero_cpu: int = 0
    non_zero_mem: int = 0
    allocatable: dict[str, int] = field(default_factory=dict)
    # (ip, protocol, port) -> number of pods using it
    used_ports: dict[HostPort, int] = field(default_factory=dict)
    pods_with_affinity: int = 0
    pods_with_required_anti_affinity: int = 0
    # "ns/claim" -> number of pods on this node using it
    pvc_ref_counts: dict[str, int] = field(default_factory=dict)
    generation: int = field(default_factory=next_generation)
    # Row in the columnar table, -1 when not in it.
    row: int = -1

    @property
    def allowed_pod_number(self) -> int:
        """Upstream Allocatable.AllowedPodNumber: allocatable pods (0 if unset)."""
        return self.allocatable.get(PODS, 0)

    def set_node(self, node: Node) -> None:
        """Upstream SetNode: replace the node object, re-parse allocatable, bump generation."""
        self.node = node
        self.allocatable = parse_allocatable(node)
        self.generation = next_generation()

    def add_pod(self, pi: PodInfo) -> None:
        """Upstream AddPodInfo: count the pod's requests, ports and volumes; store it by UID."""
        self._update(pi, +1)
        self.pods[pi.uid] = pi

    def remove_pod(self, uid: str) -> PodInfo | None:
        """Upstream RemovePod: uncount and return the pod with this UID; None if absent."""
        pi = self.pods.pop(uid, None)
        if pi is not None:
            self._update(pi, -1)
        return pi

    def _update(self, pi: PodInfo, sign: int) -> None:
        requested = self.requested
        for name, v in pi.requests.items():
            requested[name] = requested.get(name, 0) + sign * v
        self.non_zero_cpu += sign * pi.non_zero_cpu
        self.non_zero_mem += sign * pi.non_zero_mem
        for hp in pi.host_ports:
            n = self.used_ports.get(hp, 0) + sign
            if n > 0:
                self.used_ports[hp] = n
            else:
                self.used_ports.pop(hp, None)
        acct = _accounting(pi)
        if acct is not _PLAIN:
            has_affinity, has_required_anti, claims = acct
            if has_affinity:
                self.pods_with_affinity += sign
            if has_required_anti:
                self.pods_with_required_anti_affinity += sign
            for key in claims:
                n = self.pvc_ref_counts.get(key, 0) + sign
                if n > 0:
                    self.pvc_ref_counts[key] = n
                else:
                    self.pvc_ref_counts.pop(key, None)
        self.generation = next_generation()

    def clone(self) -> NodeInfo:
        """A copy that can be mutated (preemption dry runs); PodInfos themselves are shared."""
        return NodeInfo(
            name=self.name,
            node=self.node,
            pods=dict(self.pods),
            requested=dict(self.requested),
            non_zero_cpu=self.non_zero_cpu,
            non_zero_mem=self.non_zero_mem,
            allocatable=self.allocatable,
            used_ports=dict(self.used_ports),
            pods_with_affinity=self.pods_with_affinity,
            pods_with_required_anti_affinity=self.pods_with_required_anti_affinity,
            pvc_ref_counts=dict(self.pvc_ref_counts),
            generation=self.generation,
            row=self.row,
        )

    @property
    def labels(self) -> dict[str, str]:
        """The node's labels; empty for a ghost NodeInfo (no node object)."""
        return self.node.metadata.labels if self.node is not None else {}
