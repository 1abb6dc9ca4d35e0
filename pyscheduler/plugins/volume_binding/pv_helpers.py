"""PV/PVC matching helpers (upstream component-helpers/storage/volume pv_helpers.go and the
PV controller's binding helpers), used by the volume binder.

Contract:
* Pure functions of decoded objects: nothing here reads a lister or writes to the API.
* ``eligible_volumes`` + ``pick_volume`` (or ``CandidateIndex.pick``) are FindMatchingVolume in
  the scheduler's path: the node-independent checks once per claim, then node affinity per
  node; a PV pre-bound to the claim decides alone, else the smallest fitting PV, the first
  among equals. ``check_node_affinity`` matches a PV's required node affinity against node
  *labels* only (matchFields never match), with compiled selectors cached by object identity.
* ``bind_volume_to_claim``/``pv_binding_patch``/``pvc_provisioning_patch`` build what PreBind
  writes; ``is_pvc_fully_bound`` is what it waits for.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import msgspec

from pyscheduler.model.meta import ObjectMeta
from pyscheduler.model.node import Node
from pyscheduler.model.pod import NodeSelector
from pyscheduler.model.quantity import parse_quantity
from pyscheduler.model.selectors import compile_label_selector
from pyscheduler.model.storage import (
    ANN_BIND_COMPLETED,
    ANN_BOUND_BY_CONTROLLER,
    ANN_SELECTED_NODE,
    STORAGE,
    VOLUME_AVAILABLE,
    VOLUME_MODE_FILESYSTEM,
    ObjectReference,
    PersistentVolume,
    PersistentVolumeClaim,
    TopologySelectorTerm,
    claim_class,
    volume_class,
)
from pyscheduler.plugins.node_affinity import NodeSelectorMatcher


def storage_quantity(resources: dict[str, str]) -> Fraction:
    """The "storage" quantity of a ResourceList, exactly (0 when absent or unparsable)."""
    q = resources.get(STORAGE)
    if q is None:
        return Fraction(0)
    try:
        return parse_quantity(q)
    except ValueError:
        return Fraction(0)


def quantity_value(q: Fraction) -> int:
    """Quantity.Value(): rounded up to an integer."""
    return -((-q.numerator) // q.denominator)


def claim_request(pvc: PersistentVolumeClaim) -> Fraction:
    """The claim's requested storage, exactly."""
    return storage_quantity(pvc.spec.resources.requests)


def pv_capacity(pv: PersistentVolume) -> Fraction:
    """The volume's storage capacity, exactly."""
    return storage_quantity(pv.spec.capacity)


class _MatcherCache:
    """Compiled PV node affinities, by the identity of the (immutable) NodeSelector object."""

    __slots__ = ("_by_id",)
    MAX = 1 << 16  # above the number of PVs with node affinity in large clusters

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[NodeSelector, NodeSelectorMatcher]] = {}

    def get(self, sel: NodeSelector) -> NodeSelectorMatcher:
        hit = self._by_id.get(id(sel))
        if hit is not None and hit[0] is sel:
            return hit[1]
        if len(self._by_id) >= self.MAX:
            self._by_id.clear()
        m = NodeSelectorMatcher.of(sel)
        # Holding ``sel`` keeps its id from being reused while the entry lives.
        self._by_id[id(sel)] = (sel, m)
        return m


_matchers = _MatcherCache()


def check_node_affinity(pv: PersistentVolume, node_labels: dict[str, str]) -> bool:
    """CheckNodeAffinity: the PV's required node affinity against the node's *labels* (the
    node is matched by labels only, so matchFields never match)."""
    na = pv.spec.node_affinity
    if na is None or na.required is None:
        return True
    return _matchers.get(na.required).matches(node_labels, "")


def is_volume_bound_to_claim(pv: PersistentVolume, pvc: PersistentVolumeClaim) -> bool:
    """IsVolumeBoundToClaim: the PV's claimRef names the claim (and its UID, when set)."""
    ref = pv.spec.claim_ref
    if ref is None:
        return False
    if pvc.metadata.name != ref.name or pvc.metadata.namespace != ref.namespace:
        return False
    return not (ref.uid and pvc.metadata.uid != ref.uid)


def check_access_modes(pvc: PersistentVolumeClaim, pv: PersistentVolume) -> bool:
    """The PV offers every access mode the claim asks for."""
    offered = set(pv.spec.access_modes)
    return all(m in offered for m in pvc.spec.access_modes)


def volume_mode_mismatch(pvc: PersistentVolumeClaim, pv: PersistentVolume) -> bool:
    """An unset volume mode means Filesystem on both sides."""
    return ((pvc.spec.volume_mode or VOLUME_MODE_FILESYSTEM)
            != (pv.spec.volume_mode or VOLUME_MODE_FILESYSTEM))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A PV that fits a claim everywhere it fits at all: only node affinity is left."""

    pv: PersistentVolume
    prebound: bool  # its claimRef names the claim
    capacity: Fraction


def eligible_volumes(pvc: PersistentVolumeClaim,
                     volumes: list[PersistentVolume]) -> list[Candidate]:
    """FindMatchingVolume's node-independent checks, in the volumes' order: capacity, volume
    mode, attributes class, deletion; for PVs not pre-bound to the claim also the claimRef,
    phase Available, the claim's selector, the class and the access modes."""
    requested = claim_request(pvc)
    requested_class = claim_class(pvc)
    selector = (compile_label_selector(pvc.spec.selector)
                if pvc.spec.selector is not None else None)
    pvc_vac = pvc.spec.volume_attributes_class_name or ""
    out: list[Candidate] = []
    for pv in volumes:
        prebound = is_volume_bound_to_claim(pv, pvc)
        if pv.spec.claim_ref is not None and not prebound:
            continue
        qty = pv_capacity(pv)
        if qty < requested:
            continue
        if volume_mode_mismatch(pvc, pv):
            continue
        if (pv.spec.volume_attributes_class_name or "") != pvc_vac:
            continue
        if pv.metadata.deletion_timestamp is not None:
            continue
        if not prebound:
            # Binding PVs in other phases would likely fail on API conflicts.
            if pv.status.phase != VOLUME_AVAILABLE:
                continue
            if selector is not None and not selector(pv.metadata.labels):
                continue
            if volume_class(pv) != requested_class:
                continue
            if not check_access_modes(pvc, pv):
                continue
        out.append(Candidate(pv, prebound, qty))
    return out


def pick_volume(candidates: list[Candidate], node_labels: dict[str, str],
                excluded: set[str]) -> PersistentVolume | None:
    """The first pre-bound candidate decides alone (itself if it fits the node, else no
    match); otherwise the smallest candidate fitting the node, the first among equals."""
    smallest: Candidate | None = None
    for c in candidates:
        if c.pv.metadata.name in excluded:
            continue
        if c.prebound:
            return c.pv if check_node_affinity(c.pv, node_labels) else None
        if (smallest is None or smallest.capacity > c.capacity) and check_node_affinity(
                c.pv, node_labels):
            smallest = c
    return None if smallest is None else smallest.pv


def _first_in_requirement(sel: NodeSelector) -> tuple[str, list[str]] | None:
    """(key, values) of an In requirement every matching node must satisfy: the selector has
    one term and the term has one. None when no such requirement bounds the matches."""
    if len(sel.node_selector_terms) != 1:
        return None
    for r in sel.node_selector_terms[0].match_expressions:
        if r.operator == "In" and r.values:
            return r.key, r.values
    return None


class CandidateIndex:
    """A claim's candidates, indexed so a node only examines the PVs that may fit it.

    PVs whose node affinity has a single term with an ``In`` requirement (local PVs pinned to
    a hostname, zonal PVs) are filed under that requirement's key and values; a node looks up
    its own value of each such key. The others are examined on every node. ``pick`` returns
    exactly what ``pick_volume`` returns over the whole list: the subset it examines holds
    every candidate that can match, and order (for ties) is the list's order.
    """

    __slots__ = ("_by_label", "_others", "_prebound")

    def __init__(self, candidates: list[Candidate]) -> None:
        self._prebound = [c for c in candidates if c.prebound]
        self._others: list[tuple[int, Candidate]] = []
        self._by_label: dict[str, dict[str, list[tuple[int, Candidate]]]] = {}
        for i, c in enumerate(candidates):
            if c.prebound:
                continue
            na = c.pv.spec.node_affinity
            req = None if na is None or na.required is None else _first_in_requirement(
                na.required)
            if req is None:
                self._others.append((i, c))
                continue
            key, values = req
            by_value = self._by_label.setdefault(key, {})
            for value in dict.fromkeys(values):
                by_value.setdefault(value, []).append((i, c))

    def pick(self, node_labels: dict[str, str], excluded: set[str]) -> PersistentVolume | None:
        for c in self._prebound:
            if c.pv.metadata.name not in excluded:
                return c.pv if check_node_affinity(c.pv, node_labels) else None
        pool = list(self._others)
        for key, by_value in self._by_label.items():
            value = node_labels.get(key)
            if value is not None:
                pool.extend(by_value.get(value, ()))
        best: tuple[int, Candidate] | None = None
        for i, c in pool:
            if c.pv.metadata.name in excluded:
                continue
            if best is not None and (c.capacity > best[1].capacity or (
                    c.capacity == best[1].capacity and i > best[0])):
                continue
            if check_node_affinity(c.pv, node_labels):
                best = (i, c)
        return None if best is None else best[1].pv


def find_matching_volume(pvc: PersistentVolumeClaim, volumes: list[PersistentVolume],
                         node: Node, excluded: set[str]) -> PersistentVolume | None:
    """FindMatchingVolume in the scheduler path (node set, delayBinding, attributes classes):
    the PV pre-bound to the claim if it fits the node, else the smallest available fit."""
    return pick_volume(eligible_volumes(pvc, volumes), node.metadata.labels, excluded)


def match_topology_selector_terms(terms: list[TopologySelectorTerm],
                                  labels: dict[str, str]) -> bool:
    """An empty list admits every node; an empty term admits none; terms are ORed."""
    if not terms:
        return True
    for t in terms:
        if not t.match_label_expressions:
            continue
        ok = True
        for r in t.match_label_expressions:
            if not r.values or labels.get(r.key) not in r.values:
                ok = False
                break
        if ok:
            return True
    return False


def with_annotation(meta: ObjectMeta, key: str, value: str) -> ObjectMeta:
    """A copy of ``meta`` with one annotation set."""
    return msgspec.structs.replace(meta, annotations={**meta.annotations, key: value})


def bind_volume_to_claim(pv: PersistentVolume,
                         pvc: PersistentVolumeClaim) -> tuple[PersistentVolume, bool]:
    """GetBindVolumeToClaim: (a copy of the PV bound to the claim, whether anything changed)."""
    should_set_bound_by_controller = not is_volume_bound_to_claim(pv, pvc)
    dirty = False
    spec = pv.spec
    ref = spec.claim_ref
    m = pvc.metadata
    if ref is None or ref.name != m.name or ref.namespace != m.namespace or ref.uid != m.uid:
        spec = msgspec.structs.replace(spec, claim_ref=ObjectReference(
            kind="PersistentVolumeClaim", namespace=m.namespace, name=m.name, uid=m.uid,
            api_version="v1", resource_version=m.resource_version))
        dirty = True
    meta = pv.metadata
    if should_set_bound_by_controller and ANN_BOUND_BY_CONTROLLER not in meta.annotations:
        meta = with_annotation(meta, ANN_BOUND_BY_CONTROLLER, "yes")
        dirty = True
    return msgspec.structs.replace(pv, metadata=meta, spec=spec), dirty


def pv_binding_patch(pv: PersistentVolume) -> dict[str, Any]:
    """The merge patch that writes what ``bind_volume_to_claim`` changed, guarded by the
    resourceVersion the decision was made on (upstream sends the whole object as an Update).
    claimRef is replaced as a whole: fields it does not set are removed."""
    patch: dict[str, Any] = {"metadata": {"resourceVersion": pv.metadata.resource_version}}
    if ANN_BOUND_BY_CONTROLLER in pv.metadata.annotations:
        patch["metadata"]["annotations"] = {
            ANN_BOUND_BY_CONTROLLER: pv.metadata.annotations[ANN_BOUND_BY_CONTROLLER]}
    ref = pv.spec.claim_ref
    if ref is not None:
        patch["spec"] = {"claimRef": {
            "kind": ref.kind or None, "namespace": ref.namespace or None,
            "name": ref.name or None, "uid": ref.uid or None,
            "apiVersion": ref.api_version or None,
            "resourceVersion": ref.resource_version or None,
            "fieldPath": ref.field_path or None,
        }}
    return patch


def pvc_provisioning_patch(pvc: PersistentVolumeClaim) -> dict[str, Any]:
    """The merge patch that sets the selected-node annotation on a claim to provision."""
    return {"metadata": {
        "resourceVersion": pvc.metadata.resource_version,
        "annotations": {ANN_SELECTED_NODE: pvc.metadata.annotations[ANN_SELECTED_NODE]},
    }}


def is_pvc_fully_bound(pvc: PersistentVolumeClaim) -> bool:
    """The claim names its volume and the PV controller marked the binding complete."""
    return bool(pvc.spec.volume_name) and ANN_BIND_COMPLETED in pvc.metadata.annotations
