"""The volume binder: how a pod's claims can be satisfied on a node, and how to bind them.

Contract (upstream volumebinding/binder.go; the PV/PVC matchers are in pv_helpers.py):
* ``get_pod_volume_claims`` splits the pod's claims (persistentVolumeClaim and generic
  ephemeral volumes) into bound ones (``volumeName`` set and "pv.kubernetes.io/bind-completed"
  annotated), unbound ones of a WaitForFirstConsumer class without ``volumeName`` (decided
  here), and unbound "immediate" ones (the PV controller's job; PreFilter rejects the pod), and
  lists the candidate PVs of each delayed claim's class (assumed versions included).
* ``find_pod_volumes`` checks one node: bound claims' PVs must exist and their node affinity
  match the node's labels; each delayed claim is matched to the smallest available PV of its
  class that fits (size, volume mode, access modes, selector, attributes class, node affinity;
  a PV pre-bound to the claim wins), claims taken in increasing request size and no PV used
  twice; claims already annotated with a selected node only fit that node; claims left over
  are provisioned dynamically when their class has a provisioner (not
  "kubernetes.io/no-provisioner") whose allowedTopologies admit the node. Reasons, in
  upstream's order: "node(s) had volume node affinity conflict", "node(s) didn't find available
  persistent volumes to bind", "node(s) did not have enough free storage", "node(s)
  unavailable due to one or more pvc(s) bound to non-existent pv(s)".
* Departure: storage capacity (CSIStorageCapacity) is not tracked, so dynamic provisioning is
  never rejected for lack of space and the "not enough free storage" reason never appears.
  In-tree PVs are not translated to CSI (their node affinity is read as written).
* ``assume_pod_volumes`` (Reserve) assumes the chosen PVs pre-bound to their claims and the
  provisioned claims annotated with the selected node; ``revert`` undoes it.
* ``bind_pod_volumes`` (PreBind) patches each PV's claimRef (and the bound-by-controller
  annotation) and each provisioned claim's "volume.kubernetes.io/selected-node" through the
  ``VolumeClient``, then polls every ``poll_interval`` seconds, until ``bind_timeout``, for the
  PV controller to finish: every claim fully bound, claimRefs intact, selected nodes not
  withdrawn, PV node affinity still matching the node.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import msgspec
import structlog

from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod, Volume
from pyscheduler.model.storage import (
    ANN_SELECTED_NODE,
    NOT_SUPPORTED_PROVISIONER,
    PODS,
    WAIT_FOR_FIRST_CONSUMER,
    PersistentVolume,
    PersistentVolumeClaim,
    StorageListers,
    claim_class,
    not_found,
    quote,
    resource_version,
    volume_claim_name,
    volume_is_for_pod,
)
from pyscheduler.plugins.volume_binding.assume_cache import (
    AssumeCache,
    pv_cache,
    pvc_cache,
)
from pyscheduler.plugins.volume_binding.client import VolumeClient
from pyscheduler.plugins.volume_binding.pv_helpers import (
    CandidateIndex,
    bind_volume_to_claim,
    check_node_affinity,
    claim_request,
    eligible_volumes,
    is_pvc_fully_bound,
    match_topology_selector_terms,
    pv_binding_patch,
    pv_capacity,
    pvc_provisioning_patch,
    quantity_value,
    with_annotation,
)

log = structlog.get_logger(__name__)

ERR_REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
ERR_REASON_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_REASON_NOT_ENOUGH_SPACE = "node(s) did not have enough free storage"
ERR_REASON_PV_NOT_EXIST = (
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
)

_pv_decoder = msgspec.json.Decoder(PersistentVolume)
_pvc_decoder = msgspec.json.Decoder(PersistentVolumeClaim)


class BinderError(Exception):
    """Something went wrong (not a reason the node does not fit): an Error status."""


def _pvc_key(pvc: PersistentVolumeClaim) -> str:
    return f"{pvc.metadata.namespace}/{pvc.metadata.name}"


# ---- binder ------------------------------------------------------------------------------------


@dataclass(slots=True)
class BindingInfo:
    """A claim and the PV chosen for it."""

    pvc: PersistentVolumeClaim
    pv: PersistentVolume

    def storage_class_name(self) -> str:
        return self.pv.spec.storage_class_name

    def storage_resource(self) -> tuple[int, int]:
        """(requested, capacity) as Quantity.Value()s."""
        return quantity_value(claim_request(self.pvc)), quantity_value(pv_capacity(self.pv))


@dataclass(slots=True)
class PodVolumes:
    """What a node needs done for the pod's volumes."""

    static_bindings: list[BindingInfo] = field(default_factory=list)
    dynamic_provisions: list[PersistentVolumeClaim] = field(default_factory=list)


@dataclass(slots=True)
class PodVolumeClaims:
    bound: list[PersistentVolumeClaim] = field(default_factory=list)
    unbound_delay_binding: list[PersistentVolumeClaim] = field(default_factory=list)
    unbound_immediate: list[PersistentVolumeClaim] = field(default_factory=list)
    # class name -> candidate PVs (latest views)
    unbound_volumes_delay_binding: dict[str, list[PersistentVolume]] = field(
        default_factory=dict)
    # claim key -> its node-independent candidates, computed at the first node
    eligible: dict[str, CandidateIndex] = field(default_factory=dict)

    def candidates(self, pvc: PersistentVolumeClaim) -> CandidateIndex:
        key = _pvc_key(pvc)
        out = self.eligible.get(key)
        if out is None:
            out = CandidateIndex(eligible_volumes(pvc, self.unbound_volumes_delay_binding.get(
                claim_class(pvc), [])))
            self.eligible[key] = out
        return out


@dataclass(slots=True)
class FindResult:
    pod_volumes: PodVolumes
    reasons: list[str]


class VolumeBinder:
    """The binder of one plugin instance (one per profile, as upstream): its assume caches."""

    def __init__(self, listers: StorageListers, bind_timeout: float) -> None:
        self.listers = listers
        self.pv_cache: AssumeCache[PersistentVolume] = pv_cache(listers)
        self.pvc_cache: AssumeCache[PersistentVolumeClaim] = pvc_cache(listers)
        self.bind_timeout = bind_timeout
        self.poll_interval = 1.0

    # ---- prefilter ------------------------------------------------------------------------
    def _is_volume_bound(self, pod: Pod,
                         vol: Volume) -> tuple[bool, PersistentVolumeClaim | None]:
        if vol.persistent_volume_claim is not None:
            claim, ephemeral = vol.persistent_volume_claim.claim_name, False
        elif vol.ephemeral is not None:
            claim, ephemeral = volume_claim_name(pod, vol), True
        else:
            return True, None
        key = f"{pod.metadata.namespace}/{claim}"
        pvc = self.pvc_cache.get(key)
        if pvc is None:
            raise BinderError(f"error getting PVC {quote(key)}: "
                              f"{not_found('persistentvolumeclaims', claim)}")
        if ephemeral:
            err = volume_is_for_pod(pod, pvc)
            if err is not None:
                raise BinderError(err)
        return is_pvc_fully_bound(pvc), pvc

    def _is_delay_binding_mode(self, pvc: PersistentVolumeClaim) -> bool:
        name = claim_class(pvc)
        if not name:
            return False
        sc = self.listers.storage_class(name)
        if sc is None:
            return False
        if sc.volume_binding_mode is None:
            raise BinderError(f"VolumeBindingMode not set for StorageClass {quote(name)}")
        return sc.volume_binding_mode == WAIT_FOR_FIRST_CONSUMER

    def get_pod_volume_claims(self, pod: Pod) -> PodVolumeClaims:
        out = PodVolumeClaims()
        for vol in pod.spec.volumes:
            bound, pvc = self._is_volume_bound(pod, vol)
            if pvc is None:
                continue
            if bound:
                out.bound.append(pvc)
            elif self._is_delay_binding_mode(pvc) and not pvc.spec.volume_name:
                out.unbound_delay_binding.append(pvc)
            else:
                # Immediate binding, or pre-bound to a PV: the PV controller binds these.
                out.unbound_immediate.append(pvc)
        for pvc in out.unbound_delay_binding:
            name = claim_class(pvc)
            if name not in out.unbound_volumes_delay_binding:
                pvs = sorted(self.listers.pvs_of_class(name), key=lambda p: p.metadata.name)
                out.unbound_volumes_delay_binding[name] = [self.pv_cache.latest(p) for p in pvs]
        return out

    # ---- filter ---------------------------------------------------------------------------
    def _check_bound_claims(self, claims: list[PersistentVolumeClaim],
                            node: Node) -> tuple[bool, bool]:
        """(bound volumes satisfied, bound PVs found)."""
        for pvc in claims:
            pv = self.pv_cache.get(pvc.spec.volume_name)
            if pv is None:
                return True, False
            if not check_node_affinity(pv, node.metadata.labels):
                return False, True
        return True, True

    def _find_matching_volumes(
        self, claims: list[PersistentVolumeClaim], pvcs: PodVolumeClaims, node: Node,
    ) -> tuple[bool, list[BindingInfo], list[PersistentVolumeClaim]]:
        """(all matched, bindings, claims left unmatched)."""
        # Smallest requests first, so each gets the smallest PV that fits.
        ordered = sorted(claims, key=claim_request)
        chosen: set[str] = set()
        bindings: list[BindingInfo] = []
        unmatched: list[PersistentVolumeClaim] = []
        labels = node.metadata.labels
        for pvc in ordered:
            pv = pvcs.candidates(pvc).pick(labels, chosen)
            if pv is None:
                unmatched.append(pvc)
                continue
            chosen.add(pv.metadata.name)
            bindings.append(BindingInfo(pvc, pv))
        return not unmatched, bindings, unmatched

    def _check_volume_provisions(
        self, claims: list[PersistentVolumeClaim], node: Node,
    ) -> tuple[bool, bool, list[PersistentVolumeClaim]]:
        """(provisioning possible, enough storage, claims to provision)."""
        out: list[PersistentVolumeClaim] = []
        for pvc in claims:
            name = claim_class(pvc)
            if not name:
                raise BinderError(f"no class for claim {quote(_pvc_key(pvc))}")
            sc = self.listers.storage_class(name)
            if sc is None:
                raise BinderError(f"failed to find storage class {quote(name)}")
            if not sc.provisioner or sc.provisioner == NOT_SUPPORTED_PROVISIONER:
                return False, True, []
            if not match_topology_selector_terms(sc.allowed_topologies, node.metadata.labels):
                return False, True, []
            # Storage capacity is not tracked: provisioning is assumed to have room.
            out.append(pvc)
        return True, True, out

    def find_pod_volumes(self, claims: PodVolumeClaims, node: Node) -> FindResult:
        """Whether the node can satisfy every claim, and what binding that takes."""
        unbound_ok = bound_ok = sufficient = pvs_found = True
        result = PodVolumes()
        if claims.bound:
            bound_ok, pvs_found = self._check_bound_claims(claims.bound, node)
        if claims.unbound_delay_binding:
            to_match: list[PersistentVolumeClaim] = []
            to_provision: list[PersistentVolumeClaim] = []
            node_name = node.metadata.name
            for pvc in claims.unbound_delay_binding:
                selected = pvc.metadata.annotations.get(ANN_SELECTED_NODE)
                if selected is None:
                    to_match.append(pvc)
                elif selected != node_name:
                    unbound_ok = False  # provisioning already started for another node
                    return FindResult(result, _reasons(bound_ok, unbound_ok, sufficient,
                                                       pvs_found))
                else:
                    to_provision.append(pvc)
            if to_match:
                unbound_ok, result.static_bindings, unmatched = self._find_matching_volumes(
                    to_match, claims, node)
                to_provision.extend(unmatched)
            if to_provision:
                unbound_ok, sufficient, result.dynamic_provisions = (
                    self._check_volume_provisions(to_provision, node))
        return FindResult(result, _reasons(bound_ok, unbound_ok, sufficient, pvs_found))

    # ---- reserve --------------------------------------------------------------------------
    def are_pod_volumes_bound(self, pod: Pod) -> bool:
        for vol in pod.spec.volumes:
            try:
                bound, _ = self._is_volume_bound(pod, vol)
            except BinderError:
                return False
            if not bound:
                return False
        return True

    def assume_pod_volumes(self, pod: Pod, node_name: str, pv: PodVolumes) -> bool:
        """Assume the node's bindings and provisionings; True when everything is bound."""
        if self.are_pod_volumes_bound(pod):
            return True
        new_bindings: list[BindingInfo] = []
        for b in pv.static_bindings:
            new_pv, dirty = bind_volume_to_claim(b.pv, b.pvc)
            if dirty:
                try:
                    self.pv_cache.assume(new_pv)
                except Exception:
                    self._revert_pvs(new_bindings)
                    raise
            new_bindings.append(BindingInfo(b.pvc, new_pv))
        provisioned: list[PersistentVolumeClaim] = []
        for claim in pv.dynamic_provisions:
            clone = msgspec.structs.replace(
                claim, metadata=with_annotation(claim.metadata, ANN_SELECTED_NODE, node_name))
            try:
                self.pvc_cache.assume(clone)
            except Exception:
                self._revert_pvs(new_bindings)
                self._revert_pvcs(provisioned)
                raise
            provisioned.append(clone)
        pv.static_bindings = new_bindings
        pv.dynamic_provisions = provisioned
        return False

    def _revert_pvs(self, bindings: list[BindingInfo]) -> None:
        for b in bindings:
            self.pv_cache.restore(b.pv.metadata.name)

    def _revert_pvcs(self, claims: list[PersistentVolumeClaim]) -> None:
        for c in claims:
            self.pvc_cache.restore(_pvc_key(c))

    def revert_assumed_pod_volumes(self, pv: PodVolumes) -> None:
        self._revert_pvs(pv.static_bindings)
        self._revert_pvcs(pv.dynamic_provisions)

    # ---- prebind --------------------------------------------------------------------------
    async def bind_pod_volumes(self, client: VolumeClient, pod: Pod, node_name: str,
                               pv: PodVolumes, snapshot: Snapshot) -> None:
        """Write the bindings, then wait for the PV controller to complete them."""
        await self._bind_api_update(client, pv)
        deadline = time.monotonic() + self.bind_timeout
        while True:
            now = time.monotonic()
            if now + self.poll_interval > deadline:
                await asyncio.sleep(max(deadline - now, 0.0))
                raise BinderError("binding volumes: context deadline exceeded")
            await asyncio.sleep(self.poll_interval)
            try:
                if self.check_bindings(pod, node_name, pv, snapshot):
                    log.info("all PVCs for pod are bound", pod=_pod_key(pod))
                    return
            except BinderError as err:
                raise BinderError(f"binding volumes: {err}") from err

    async def _bind_api_update(self, client: VolumeClient, pv: PodVolumes) -> None:
        bindings, claims = pv.static_bindings, pv.dynamic_provisions
        done_bindings = done_claims = 0
        try:
            for i, b in enumerate(bindings):
                raw = await client.patch_persistent_volume(b.pv.metadata.name,
                                                           pv_binding_patch(b.pv))
                # Keep the server's version: the checks wait until the informer has it.
                bindings[i] = BindingInfo(b.pvc, _pv_decoder.decode(raw))
                done_bindings += 1
            for i, c in enumerate(claims):
                raw = await client.patch_persistent_volume_claim(
                    c.metadata.namespace, c.metadata.name, pvc_provisioning_patch(c))
                claims[i] = _pvc_decoder.decode(raw)
                done_claims += 1
        finally:
            # Only what was not written goes back; written objects come from the informer.
            self._revert_pvs(bindings[done_bindings:])
            self._revert_pvcs(claims[done_claims:])

    def check_bindings(self, pod: Pod, node_name: str, pv: PodVolumes,
                       snapshot: Snapshot) -> bool:
        """True when the PV controller has bound everything; BinderError when scheduling must
        be retried. Reads the informers' objects, never the assumed ones."""
        info = snapshot.get(node_name)
        node = info.node if info is not None else None
        if node is None:
            raise BinderError(f"failed to get node {quote(node_name)}: "
                              f"node {quote(node_name)} not found")
        labels = node.metadata.labels
        if self.listers.has(PODS) and self.listers.pod(pod.metadata.namespace,
                                                       pod.metadata.name) is None:
            raise BinderError(f"pod does not exist any more: {not_found(PODS, pod.metadata.name)}")
        for b in pv.static_bindings:
            api_pv = self.pv_cache.get_api(b.pv.metadata.name)
            if api_pv is None:
                raise BinderError(f"failed to check binding: PersistentVolume "
                                  f"{quote(b.pv.metadata.name)} not found")
            api_pvc = self.pvc_cache.get_api(_pvc_key(b.pvc))
            if api_pvc is None:
                raise BinderError(f"failed to check binding: PersistentVolumeClaim "
                                  f"{quote(_pvc_key(b.pvc))} not found")
            if resource_version(b.pv.metadata) > resource_version(api_pv.metadata):
                return False  # the informer has not seen our update yet
            if not check_node_affinity(api_pv, labels):
                raise BinderError(f"pv {quote(api_pv.metadata.name)} node affinity doesn't "
                                  f"match node {quote(node_name)}: no matching "
                                  "NodeSelectorTerms")
            ref = api_pv.spec.claim_ref
            if ref is None or not ref.uid:
                raise BinderError(f"ClaimRef got reset for pv {quote(api_pv.metadata.name)}")
            if not is_pvc_fully_bound(api_pvc):
                return False
        for claim in pv.dynamic_provisions:
            api_pvc = self.pvc_cache.get_api(_pvc_key(claim))
            if api_pvc is None:
                raise BinderError(f"failed to check provisioning pvc: PersistentVolumeClaim "
                                  f"{quote(_pvc_key(claim))} not found")
            if resource_version(claim.metadata) > resource_version(api_pvc.metadata):
                return False
            if not api_pvc.metadata.annotations:
                raise BinderError(f"selectedNode annotation reset for PVC "
                                  f"{quote(api_pvc.metadata.name)}")
            if api_pvc.metadata.annotations.get(ANN_SELECTED_NODE, "") != node_name:
                # A provisioner that gave up removes the annotation to ask for a retry.
                raise BinderError(f"provisioning failed for PVC {quote(api_pvc.metadata.name)}")
            if api_pvc.spec.volume_name:
                api_pv = self.pv_cache.get_api(api_pvc.spec.volume_name)
                if api_pv is None:
                    return False  # not seen yet; a deleted PV unbinds the claim eventually
                if not check_node_affinity(api_pv, labels):
                    raise BinderError(f"pv {quote(api_pv.metadata.name)} node affinity "
                                      f"doesn't match node {quote(node_name)}: no matching "
                                      "NodeSelectorTerms")
            if not is_pvc_fully_bound(api_pvc):
                return False
        return True


def _reasons(bound_ok: bool, unbound_ok: bool, sufficient: bool, pvs_found: bool) -> list[str]:
    out: list[str] = []
    if not bound_ok:
        out.append(ERR_REASON_NODE_CONFLICT)
    if not unbound_ok:
        out.append(ERR_REASON_BIND_CONFLICT)
    if not sufficient:
        out.append(ERR_REASON_NOT_ENOUGH_SPACE)
    if not pvs_found:
        out.append(ERR_REASON_PV_NOT_EXIST)
    return out


def _pod_key(pod: Pod) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"
