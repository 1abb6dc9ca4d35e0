"""VolumeBinding: upstream volume_binding_test.go's TestVolumeBinding table (PreFilter, Filter
and Score per node, batch too), pv_helpers' FindMatchingVolume table, provisioning checks,
Reserve/Unreserve through the assume caches, PreBind against an in-memory API (static binding,
dynamic provisioning, timeouts, controller rollbacks, conflicts), hints and args."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import msgspec
import pytest
from builders import filter_both, make_node, new_state, pod_info, snapshot_of
from hypothesis import given, settings
from hypothesis import strategies as st
from test_volume_builders import (
    HOSTNAME,
    VolumeHandle,
    csi_node,
    handle_with,
    pv,
    pvc,
    storage_class,
    vpod,
)

from pyscheduler.api.errors import ConflictError
from pyscheduler.api.merge_patch import json_merge_patch
from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.runtime import Diagnosis, Framework, implemented_points
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.status import Code
from pyscheduler.framework.types import PodInfo, QueueingHint
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.model.storage import (
    ANN_BIND_COMPLETED,
    ANN_BOUND_BY_CONTROLLER,
    ANN_MIGRATED_PLUGINS,
    ANN_SELECTED_NODE,
    PERSISTENT_VOLUME_CLAIMS,
    PERSISTENT_VOLUMES,
    PersistentVolume,
    PersistentVolumeClaim,
)
from pyscheduler.plugins import (
    default_binder,
    image_locality,
    node_volume_limits,
    priority_sort,
    volume_binding,
    volume_restrictions,
    volume_zone,
)
from pyscheduler.plugins import validation as v
from pyscheduler.plugins.noderesources.fit import UtilizationShapePoint as P
from pyscheduler.plugins.volume_binding import (
    ERR_REASON_BIND_CONFLICT,
    ERR_REASON_NODE_CONFLICT,
    ERR_REASON_PV_NOT_EXIST,
    ERR_REASON_UNBOUND_IMMEDIATE,
    VolumeBinding,
    VolumeBindingArgs,
    new,
)
from pyscheduler.plugins.volume_binding.pv_helpers import (
    CandidateIndex,
    eligible_volumes,
    find_matching_volume,
    pick_volume,
)

UNRES = int(Code.UNSCHEDULABLE_AND_UNRESOLVABLE)
SKIP = int(Code.SKIP)
ZONE, REGION = "topology.kubernetes.io/zone", "topology.kubernetes.io/region"
WAIT = "WaitForFirstConsumer"
CLASSES = [storage_class("immediate-sc", mode="Immediate"),
           storage_class("wait-sc", mode=WAIT),
           storage_class("wait-hdd-sc", mode=WAIT)]
OLD_DEFAULT_SHAPE = [P(0, 0), P(100, 10)]  # upstream's test default (VolumeCapacityPriority)


def node(name: str, **labels: str) -> Node:
    return make_node(name, labels={HOSTNAME: name, **labels})


def bound_pvc(name: str, class_name: str, pv_name: str, **kw: Any) -> PersistentVolumeClaim:
    return pvc(name, class_name=class_name, volume_name=pv_name, bound=True, **kw)


def plugin(snap: Snapshot, *, pvcs: list[Any] = (), pvs: list[Any] = (),  # type: ignore[assignment]
           classes: list[Any] = CLASSES, shape: list[P] | None = None, timeout: int = 300,
           client: Any = None, pods: list[Pod] | None = None) -> tuple[VolumeBinding,
                                                                       VolumeHandle]:
    h = handle_with(snap, pvcs=pvcs, pvs=pvs, classes=classes, client=client, pods=pods)
    args = VolumeBindingArgs(bind_timeout_seconds=timeout, shape=list(shape or []))
    pl = new(args, h)
    pl.binder.poll_interval = 0.01
    return pl, h


def outcome(st: Any) -> Any:
    return None if st is None else (int(st.code), list(st.reasons))


# ---- the TestVolumeBinding table -----------------------------------------------------------------

LOCAL_PVS = [pv(f"pv-{n}-{i}", class_name="wait-sc", capacity=cap,
                node_affinity={HOSTNAME: [f"node-{n}"]})
             for n, cap in (("a", "200Gi"), ("b", "100Gi")) for i in range(2)]
LOCAL_HDD_PVS = [pv(f"pv-{n}-{i}", class_name="wait-hdd-sc", capacity=cap,
                    node_affinity={HOSTNAME: [f"node-{n}"]})
                 for n, cap in (("a", "200Gi"), ("b", "100Gi")) for i in (2, 3)]
ZONAL_NODES = [node(f"zone-{z}-node-{n}", **{REGION: f"region-{z}", ZONE: f"zone-{z}"})
               for z in "abc" for n in "ab"]
ZONAL_PVS = [pv(f"pv-{z}-{i}", class_name="wait-sc", capacity=cap,
                node_affinity={REGION: [f"region-{z}"], ZONE: [f"zone-{z}"]})
             for z, cap in (("a", "200Gi"), ("b", "100Gi")) for i in range(2)]
BIND = (UNRES, [ERR_REASON_BIND_CONFLICT])

TABLE: list[tuple[Any, ...]] = [
    # (name, pod, nodes, pvcs, pvs, shape, want prefilter, want filter per node, want scores)
    ("pod has not pvcs", vpod("pod-a"), [node("node-a")], [], [], None, (SKIP, []), None,
     None),
    ("all bound", vpod("pod-a", pvcs=["pvc-a"]), [node("node-a")],
     [bound_pvc("pvc-a", "wait-sc", "pv-a")], [pv("pv-a", class_name="wait-sc")], None, None,
     [None], None),
    ("all bound with local volumes", vpod("pod-a", pvcs=["pvc-a", "pvc-b"]),
     [node("node-a"), node("node-b")],
     [bound_pvc("pvc-a", "wait-sc", "pv-a"), bound_pvc("pvc-b", "wait-sc", "pv-b")],
     [pv("pv-a", class_name="wait-sc", phase="Bound", node_affinity={HOSTNAME: ["node-a"]}),
      pv("pv-b", class_name="wait-sc", phase="Bound", node_affinity={HOSTNAME: ["node-a"]})],
     None, None, [None, (UNRES, [ERR_REASON_NODE_CONFLICT])], None),
    ("PVC does not exist", vpod("pod-a", pvcs=["pvc-a"]), [node("node-a")], [], [], None,
     (UNRES, ['persistentvolumeclaim "pvc-a" not found']), None, None),
    ("Part of PVCs do not exist", vpod("pod-a", pvcs=["pvc-a", "pvc-b"]), [node("node-a")],
     [bound_pvc("pvc-a", "wait-sc", "pv-a")], [], None,
     (UNRES, ['persistentvolumeclaim "pvc-b" not found']), None, None),
    ("immediate claims not bound", vpod("pod-a", pvcs=["pvc-a"]), [node("node-a")],
     [pvc("pvc-a", class_name="immediate-sc")], [], None,
     (UNRES, [ERR_REASON_UNBOUND_IMMEDIATE]), None, None),
    ("unbound claims no matches", vpod("pod-a", pvcs=["pvc-a"]), [node("node-a")],
     [pvc("pvc-a", class_name="wait-sc")], [], None, None, [BIND], None),
    ("bound and unbound unsatisfied", vpod("pod-a", pvcs=["pvc-a", "pvc-b"]),
     [node("node-a", foo="barbar")],
     [bound_pvc("pvc-a", "wait-sc", "pv-a"), pvc("pvc-b", class_name="wait-sc")],
     [pv("pv-a", class_name="wait-sc", node_affinity={"foo": ["bar"]})], None, None,
     [(UNRES, [ERR_REASON_NODE_CONFLICT, ERR_REASON_BIND_CONFLICT])], None),
    ("pv not found", vpod("pod-a", pvcs=["pvc-a"]), [node("node-a")],
     [bound_pvc("pvc-a", "wait-sc", "pv-a")], [], None, None,
     [(UNRES, [ERR_REASON_PV_NOT_EXIST])], None),
    ("pv not found claim lost", vpod("pod-a", pvcs=["pvc-a"]), [node("node-a")],
     [bound_pvc("pvc-a", "wait-sc", "pv-a", phase="Lost")], [], None,
     (UNRES, ['persistentvolumeclaim "pvc-a" bound to non-existent persistentvolume "pv-a"']),
     None, None),
    ("local volumes with close capacity are preferred", vpod("pod-a", pvcs=["pvc-a"]),
     [node("node-a"), node("node-b"), node("node-c")],
     [pvc("pvc-a", class_name="wait-sc", request="50Gi")], LOCAL_PVS, OLD_DEFAULT_SHAPE, None,
     [None, None, BIND], [25, 50, 0]),
    ("local volumes with close capacity are preferred (multiple pvcs)",
     vpod("pod-a", pvcs=["pvc-0", "pvc-1"]), [node("node-a"), node("node-b"), node("node-c")],
     [pvc("pvc-0", class_name="wait-sc", request="50Gi"),
      pvc("pvc-1", class_name="wait-hdd-sc", request="100Gi")],
     LOCAL_PVS + LOCAL_HDD_PVS, OLD_DEFAULT_SHAPE, None, [None, None, BIND], [38, 75, 0]),
    ("zonal volumes with close capacity are preferred", vpod("pod-a", pvcs=["pvc-a"]),
     ZONAL_NODES, [pvc("pvc-a", class_name="wait-sc", request="50Gi")], ZONAL_PVS,
     OLD_DEFAULT_SHAPE, None, [None, None, None, None, BIND, BIND], [25, 25, 50, 50, 0, 0]),
    ("zonal volumes with close capacity are preferred (custom shape)",
     vpod("pod-a", pvcs=["pvc-a"]), ZONAL_NODES,
     [pvc("pvc-a", class_name="wait-sc", request="50Gi")], ZONAL_PVS,
     [P(0, 0), P(50, 3), P(100, 5)], None, [None, None, None, None, BIND, BIND],
     [15, 15, 30, 30, 0, 0]),
    # v1.37's default shape (StorageCapacityScoring): the PV with the most room wins.
    ("local volumes, default shape prefers free capacity", vpod("pod-a", pvcs=["pvc-a"]),
     [node("node-a"), node("node-b"), node("node-c")],
     [pvc("pvc-a", class_name="wait-sc", request="50Gi")], LOCAL_PVS, None, None,
     [None, None, BIND], [75, 50, 0]),
]


@pytest.mark.parametrize(("name", "pod", "nodes", "pvcs", "pvs", "shape", "want_pre",
                          "want_filter", "want_scores"), TABLE, ids=[c[0] for c in TABLE])
def test_volume_binding(name: str, pod: Pod, nodes: list[Node], pvcs: list[Any],
                        pvs: list[Any], shape: list[P] | None, want_pre: Any, want_filter: Any,
                        want_scores: list[int] | None) -> None:
    snap = snapshot_of(nodes)
    pl, _ = plugin(snap, pvcs=pvcs, pvs=pvs, shape=shape)
    state = new_state()
    pi = pod_info(pod)
    result, st = pl.pre_filter(state, pi, snap)
    assert result is None  # never narrows the node set
    assert outcome(st) == want_pre
    if st is not None:
        return
    got = filter_both(pl, state, pi, snap)
    assert [got[n.metadata.name] for n in nodes] == want_filter
    feasible = snap.all_rows()[[got[n.metadata.name] is None for n in nodes]]
    st = pl.pre_score(state, pi, snap, feasible)
    if want_scores is None:
        assert outcome(st) == (SKIP, [])
        return
    assert st is None
    infos = snap.node_infos
    assert [pl.score(state, pi, infos[r]) for r in range(len(nodes))] == want_scores


def test_batch_filter_fast_path_for_bound_claims_without_affinity() -> None:
    snap = snapshot_of([node("node-a"), node("node-b")])
    pl, _ = plugin(snap, pvcs=[bound_pvc("pvc-a", "wait-sc", "pv-a")],
                   pvs=[pv("pv-a", class_name="wait-sc", phase="Bound")])
    state = new_state()
    pi = pod_info(vpod("pod-a", pvcs=["pvc-a"]))
    pl.pre_filter(state, pi, snap)
    assert pl.filter_nodes(state, pi, snap, snap.all_rows()) is None
    assert pl.reserve(state, pi, "node-a") is None
    # Everything is bound: PreBind has nothing to do (and needs no client).
    assert asyncio.run(pl.pre_bind(state, pi, "node-a")) is None


def test_ephemeral_volume_claims() -> None:
    snap = snapshot_of([node("node-a")])
    p = vpod("abc", namespace="test", uid="12345", ephemeral=["xyz"])
    pl, _ = plugin(snap)
    _, st = pl.pre_filter(new_state(), pod_info(p), snap)
    assert outcome(st) == (UNRES, ['waiting for ephemeral volume controller to create the '
                                   'persistentvolumeclaim "abc-xyz"'])
    pl, _ = plugin(snap, pvcs=[pvc("abc-xyz", "test", class_name="wait-sc")])
    _, st = pl.pre_filter(new_state(), pod_info(p), snap)
    assert outcome(st) == (UNRES, ["PVC test/abc-xyz was not created for pod test/abc "
                                   "(pod is not owner)"])
    pl, _ = plugin(snap, pvcs=[pvc("abc-xyz", "test", class_name="wait-sc", deleting=True,
                                   owner_uid="12345")])
    _, st = pl.pre_filter(new_state(), pod_info(p), snap)
    assert outcome(st) == (UNRES, ['persistentvolumeclaim "abc-xyz" is being deleted'])
    pl, _ = plugin(snap, pvcs=[pvc("abc-xyz", "test", class_name="wait-sc",
                                   owner_uid="12345")],
                   classes=[*CLASSES, storage_class("x")])
    state = new_state()
    assert pl.pre_filter(state, pod_info(p), snap) == (None, None)


def test_class_without_binding_mode_is_an_error() -> None:
    snap = snapshot_of([node("node-a")])
    pl, _ = plugin(snap, pvcs=[pvc("c", class_name="nomode")],
                   classes=[storage_class("nomode")])
    _, st = pl.pre_filter(new_state(), pod_info(vpod("p", pvcs=["c"])), snap)
    assert outcome(st) == (int(Code.ERROR), ['VolumeBindingMode not set for StorageClass '
                                             '"nomode"'])


# ---- FindMatchingVolume (pv_helpers_test.go TestFindMatchVolumeWithNode) -------------------------

FM_VOLUMES = [
    pv("local001", capacity="5G", access_modes=["ReadWriteOnce", "ReadOnlyMany"]),
    pv("local002", capacity="200E", class_name="large",
       access_modes=["ReadWriteOnce", "ReadOnlyMany"]),
    pv("affinity001", capacity="100G", class_name="wait", node_affinity={"key1": ["value1"]},
       access_modes=["ReadWriteOnce", "ReadOnlyMany"]),
    pv("affinity002", capacity="150G", class_name="wait", node_affinity={"key1": ["value1"]},
       access_modes=["ReadWriteOnce", "ReadOnlyMany"]),
    pv("affinity003", capacity="100G", class_name="wait", node_affinity={"key1": ["value1"]},
       claim=("myns", "claim02", ""), access_modes=["ReadWriteOnce", "ReadOnlyMany"]),
    pv("affinity003b", capacity="200G", class_name="wait", node_affinity={"key1": ["value3"]},
       access_modes=["ReadWriteOnce", "ReadOnlyMany"]),
    pv("affinity004", capacity="200G", class_name="wait", node_affinity={"key1": ["value4"]},
       phase="", access_modes=["ReadWriteOnce", "ReadOnlyMany"]),
]


def fm_claim(name: str, modes: list[str] = ["ReadWriteOnce"],  # noqa: B006
             vac: str | None = None) -> PersistentVolumeClaim:
    return pvc(name, "myns", class_name="wait", request="100G", access_modes=modes,
               volume_mode="Filesystem", vac=vac)


def with_vac(vols: list[PersistentVolume], vac: str) -> list[PersistentVolume]:
    return [msgspec.structs.replace(x, spec=msgspec.structs.replace(
        x.spec, volume_attributes_class_name=vac)) for x in vols]


@pytest.mark.parametrize(("name", "claim", "value", "volumes", "excluded", "want"), [
    ("success-match", fm_claim("claim01"), "value1", FM_VOLUMES, set(), "affinity001"),
    ("success-prebound", fm_claim("claim02"), "value1", FM_VOLUMES, set(), "affinity003"),
    ("success-exclusion", fm_claim("claim01"), "value1", FM_VOLUMES, {"affinity001"},
     "affinity002"),
    ("fail-exclusion", fm_claim("claim01"), "value1", FM_VOLUMES,
     {"affinity001", "affinity002"}, None),
    ("fail-accessmode", fm_claim("claim01", ["ReadWriteMany"]), "value1", FM_VOLUMES, set(),
     None),
    ("fail-nodeaffinity", fm_claim("claim01"), "value2", FM_VOLUMES, set(), None),
    ("fail-prebound-node-affinity", fm_claim("claim02"), "value3", FM_VOLUMES, set(), None),
    ("fail-nonavaliable", fm_claim("claim04"), "value4", FM_VOLUMES, set(), None),
    ("success-bad-and-good-node-affinity", fm_claim("claim03"), "value3", FM_VOLUMES, set(),
     "affinity003b"),
    ("success-match-with-vac", fm_claim("claim01", vac="gold"), "value1",
     with_vac(FM_VOLUMES, "gold"), set(), "affinity001"),
    ("fail-vac", fm_claim("claim01", vac="silver"), "value1", FM_VOLUMES, set(), None),
    ("fail-prebound-vac", fm_claim("claim02", vac="silver"), "value1",
     with_vac(FM_VOLUMES, "gold"), set(), None),
])
def test_find_matching_volume(name: str, claim: PersistentVolumeClaim, value: str,
                              volumes: list[PersistentVolume], excluded: set[str],
                              want: str | None) -> None:
    got = find_matching_volume(claim, volumes, make_node("n", labels={"key1": value}), excluded)
    assert (None if got is None else got.metadata.name) == want


# ---- provisioning and the selected-node annotation -----------------------------------------------


@pytest.mark.parametrize(("name", "classes", "labels", "want"), [
    ("provisioner", [storage_class("wait-sc", mode=WAIT, provisioner="p")], {}, None),
    ("no provisioner", [storage_class("wait-sc", mode=WAIT)], {}, BIND),
    ("not supported", [storage_class("wait-sc", mode=WAIT,
                                     provisioner="kubernetes.io/no-provisioner")], {}, BIND),
    ("allowed topology matches", [storage_class(
        "wait-sc", mode=WAIT, provisioner="p", allowed_topologies=[{ZONE: ["z1", "z2"]}])],
     {ZONE: "z2"}, None),
    ("allowed topology does not match", [storage_class(
        "wait-sc", mode=WAIT, provisioner="p", allowed_topologies=[{ZONE: ["z1"]}])],
     {ZONE: "z2"}, BIND),
])
def test_dynamic_provisioning(name: str, classes: list[Any], labels: dict[str, str],
                              want: Any) -> None:
    snap = snapshot_of([node("node-a", **labels)])
    pl, _ = plugin(snap, pvcs=[pvc("c", class_name="wait-sc", request="1Gi")], classes=classes)
    state = new_state()
    pi = pod_info(vpod("p", pvcs=["c"]))
    assert pl.pre_filter(state, pi, snap) == (None, None)
    assert filter_both(pl, state, pi, snap)["node-a"] == want


def test_claim_with_selected_node_fits_only_that_node() -> None:
    snap = snapshot_of([node("node-a"), node("node-b")])
    pl, _ = plugin(snap, pvcs=[pvc("c", class_name="wait-sc",
                                   annotations={ANN_SELECTED_NODE: "node-b"})],
                   classes=[storage_class("wait-sc", mode=WAIT, provisioner="p")])
    state = new_state()
    pi = pod_info(vpod("p", pvcs=["c"]))
    pl.pre_filter(state, pi, snap)
    assert filter_both(pl, state, pi, snap) == {"node-a": BIND, "node-b": None}


# ---- Reserve / Unreserve -------------------------------------------------------------------------


def schedule(pl: VolumeBinding, snap: Snapshot, pod: Pod) -> tuple[CycleState, PodInfo, Any]:
    state = new_state()
    pi = pod_info(pod)
    _, st = pl.pre_filter(state, pi, snap)
    assert st is None
    return state, pi, filter_both(pl, state, pi, snap)


def test_reserved_pv_is_not_offered_again_until_unreserved() -> None:
    snap = snapshot_of([node("node-a")])
    claims = [pvc("c1", class_name="wait-sc", request="1Gi"),
              pvc("c2", class_name="wait-sc", request="1Gi")]
    pl, _ = plugin(snap, pvcs=claims, pvs=[pv("only", class_name="wait-sc", capacity="5Gi")])
    s1, p1, got = schedule(pl, snap, vpod("p1", pvcs=["c1"]))
    assert got == {"node-a": None}
    assert pl.reserve(s1, p1, "node-a") is None
    # The PV is assumed bound to c1: c2 finds nothing (and has no provisioner).
    _, _, got = schedule(pl, snap, vpod("p2", pvcs=["c2"]))
    assert got == {"node-a": BIND}
    pl.unreserve(s1, p1, "node-a")
    pl.unreserve(s1, p1, "node-a")  # idempotent
    _, _, got = schedule(pl, snap, vpod("p2", pvcs=["c2"]))
    assert got == {"node-a": None}


def test_assumption_gives_way_to_a_newer_api_object() -> None:
    snap = snapshot_of([node("node-a")])
    pl, h = plugin(snap, pvcs=[pvc("c1", class_name="wait-sc")],
                   pvs=[pv("only", class_name="wait-sc", rv="5")])
    s1, p1, _ = schedule(pl, snap, vpod("p1", pvcs=["c1"]))
    pl.reserve(s1, p1, "node-a")
    assumed = pl.binder.pv_cache.get("only")
    assert assumed is not None and assumed.spec.claim_ref is not None
    # Someone else changed the PV (a newer resourceVersion): the assumption is dropped.
    h.listers[PERSISTENT_VOLUMES].put(pv("only", class_name="wait-sc", rv="6"))
    latest = pl.binder.pv_cache.get("only")
    assert latest is not None and latest.spec.claim_ref is None


# ---- PreBind against an in-memory API ------------------------------------------------------------


class FakeApi:
    """Applies merge patches to the handle's listers like kube-apiserver (resourceVersion
    precondition, bumped resourceVersion) and returns the stored object's JSON."""

    def __init__(self, handle: VolumeHandle, conflict: bool = False) -> None:
        self.handle = handle
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.conflict = conflict

    async def patch_persistent_volume(self, name: str, patch: dict[str, Any]) -> bytes:
        self.patches.append((f"pv/{name}", patch))
        return self._apply(PERSISTENT_VOLUMES, name, patch, PersistentVolume)

    async def patch_persistent_volume_claim(self, namespace: str, name: str,
                                            patch: dict[str, Any]) -> bytes:
        self.patches.append((f"pvc/{namespace}/{name}", patch))
        return self._apply(PERSISTENT_VOLUME_CLAIMS, f"{namespace}/{name}", patch,
                           PersistentVolumeClaim)

    def _apply(self, resource: str, key: str, patch: dict[str, Any], typ: Any) -> bytes:
        lister = self.handle.listers[resource]
        cur = msgspec.to_builtins(lister.get_by_key(key))
        if self.conflict or patch["metadata"]["resourceVersion"] != cur["metadata"].get(
                "resourceVersion", ""):
            raise ConflictError(409, "Conflict", "the object has been modified")
        merged = json_merge_patch(cur, patch)
        merged["metadata"]["resourceVersion"] = str(int(cur["metadata"]["resourceVersion"]) + 1)
        obj = msgspec.convert(merged, typ)
        lister.put(obj)
        return msgspec.json.encode(obj)


def controller_binds(h: VolumeHandle, claim_key: str, pv_name: str) -> None:
    """What the PV controller does to finish a binding: claim bound and bind-completed."""
    lister = h.listers[PERSISTENT_VOLUME_CLAIMS]
    cur = lister.get_by_key(claim_key)
    meta = msgspec.structs.replace(
        cur.metadata, resource_version=str(int(cur.metadata.resource_version) + 1),
        annotations={**cur.metadata.annotations, ANN_BIND_COMPLETED: "yes"})
    lister.put(msgspec.structs.replace(cur, metadata=meta, spec=msgspec.structs.replace(
        cur.spec, volume_name=pv_name)))


async def prebind_with_controller(pl: VolumeBinding, state: CycleState, pi: PodInfo,
                                  node_name: str, finish: Any) -> Any:
    task = asyncio.ensure_future(pl.pre_bind(state, pi, node_name))
    await asyncio.sleep(0.03)
    finish()
    return await task


async def test_pre_bind_static_binding() -> None:
    snap = snapshot_of([node("node-a")])
    claim = pvc("c1", class_name="wait-sc", request="1Gi", uid="claim-uid", rv="7")
    pl, h = plugin(snap, pvcs=[claim], pvs=[pv("pv1", class_name="wait-sc", capacity="2Gi",
                                                 node_affinity={HOSTNAME: ["node-a"]}, rv="3")])
    api = FakeApi(h)
    h.volume_client = api
    state, pi, got = schedule(pl, snap, vpod("p1", pvcs=["c1"]))
    assert got == {"node-a": None}
    assert pl.reserve(state, pi, "node-a") is None
    st = await prebind_with_controller(pl, state, pi, "node-a",
                                       lambda: controller_binds(h, "default/c1", "pv1"))
    assert st is None
    assert api.patches == [("pv/pv1", {
        "metadata": {"resourceVersion": "3", "annotations": {ANN_BOUND_BY_CONTROLLER: "yes"}},
        "spec": {"claimRef": {"kind": "PersistentVolumeClaim", "namespace": "default",
                              "name": "c1", "uid": "claim-uid", "apiVersion": "v1",
                              "resourceVersion": "7", "fieldPath": None}},
    })]
    stored = h.listers[PERSISTENT_VOLUMES].get_by_key("pv1")
    assert stored.spec.claim_ref.uid == "claim-uid"


async def test_pre_bind_dynamic_provisioning() -> None:
    snap = snapshot_of([node("node-a")])
    pl, h = plugin(snap, pvcs=[pvc("c1", class_name="wait-sc", rv="4")],
                   classes=[storage_class("wait-sc", mode=WAIT, provisioner="p")])
    api = FakeApi(h)
    h.volume_client = api
    state, pi, _ = schedule(pl, snap, vpod("p1", pvcs=["c1"]))
    assert pl.reserve(state, pi, "node-a") is None
    assumed = pl.binder.pvc_cache.get("default/c1")
    assert assumed is not None and assumed.metadata.annotations[ANN_SELECTED_NODE] == "node-a"

    def provision() -> None:
        h.listers[PERSISTENT_VOLUMES].put(pv("pvc-xyz", class_name="wait-sc",
                                             node_affinity={HOSTNAME: ["node-a"]}))
        controller_binds(h, "default/c1", "pvc-xyz")

    assert await prebind_with_controller(pl, state, pi, "node-a", provision) is None
    assert api.patches == [("pvc/default/c1", {"metadata": {
        "resourceVersion": "4", "annotations": {ANN_SELECTED_NODE: "node-a"}}})]


async def test_pre_bind_provisioning_withdrawn_by_the_provisioner() -> None:
    snap = snapshot_of([node("node-a")])
    pl, h = plugin(snap, pvcs=[pvc("c1", class_name="wait-sc")],
                   classes=[storage_class("wait-sc", mode=WAIT, provisioner="p")])
    h.volume_client = FakeApi(h)
    state, pi, _ = schedule(pl, snap, vpod("p1", pvcs=["c1"]))
    pl.reserve(state, pi, "node-a")

    def give_up() -> None:
        lister = h.listers[PERSISTENT_VOLUME_CLAIMS]
        cur = lister.get_by_key("default/c1")
        lister.put(msgspec.structs.replace(cur, metadata=msgspec.structs.replace(
            cur.metadata, resource_version="99", annotations={"other": "x"})))

    st = await prebind_with_controller(pl, state, pi, "node-a", give_up)
    assert outcome(st) == (int(Code.ERROR),
                           ['binding volumes: provisioning failed for PVC "c1"'])


async def test_pre_bind_times_out() -> None:
    snap = snapshot_of([node("node-a")])
    pl, h = plugin(snap, pvcs=[pvc("c1", class_name="wait-sc")],
                   pvs=[pv("pv1", class_name="wait-sc")], timeout=0)
    h.volume_client = FakeApi(h)
    state, pi, _ = schedule(pl, snap, vpod("p1", pvcs=["c1"]))
    pl.reserve(state, pi, "node-a")
    st = await pl.pre_bind(state, pi, "node-a")
    assert outcome(st) == (int(Code.ERROR), ["binding volumes: context deadline exceeded"])


async def test_pre_bind_conflict_reverts_the_assumption() -> None:
    snap = snapshot_of([node("node-a")])
    pl, h = plugin(snap, pvcs=[pvc("c1", class_name="wait-sc")],
                   pvs=[pv("pv1", class_name="wait-sc")])
    h.volume_client = FakeApi(h, conflict=True)
    state, pi, _ = schedule(pl, snap, vpod("p1", pvcs=["c1"]))
    pl.reserve(state, pi, "node-a")
    st = await pl.pre_bind(state, pi, "node-a")
    assert st is not None and st.code == Code.ERROR and "409" in st.message()
    latest = pl.binder.pv_cache.get("pv1")
    assert latest is not None and latest.spec.claim_ref is None  # back to the API object


async def test_pre_bind_stops_when_the_pod_is_gone() -> None:
    snap = snapshot_of([node("node-a")])
    p = vpod("p1", pvcs=["c1"])
    pl, h = plugin(snap, pvcs=[pvc("c1", class_name="wait-sc")],
                   pvs=[pv("pv1", class_name="wait-sc")], pods=[])
    h.volume_client = FakeApi(h)
    state, pi, _ = schedule(pl, snap, p)
    pl.reserve(state, pi, "node-a")
    st = await pl.pre_bind(state, pi, "node-a")
    assert outcome(st) == (int(Code.ERROR), ['binding volumes: pod does not exist any more: '
                                             'pod "p1" not found'])


async def test_pre_bind_without_a_client_is_an_error() -> None:
    snap = snapshot_of([node("node-a")])
    pl, _ = plugin(snap, pvcs=[pvc("c1", class_name="wait-sc")],
                   pvs=[pv("pv1", class_name="wait-sc")])
    state, pi, _ = schedule(pl, snap, vpod("p1", pvcs=["c1"]))
    pl.reserve(state, pi, "node-a")
    st = await pl.pre_bind(state, pi, "node-a")
    assert st is not None and st.code == Code.ERROR


# ---- hints, events, args -------------------------------------------------------------------------


def test_hints() -> None:
    pl, _ = plugin(Snapshot())
    p = vpod("pod1", pvcs=["c"], ephemeral=["e"])
    assert pl.is_schedulable_after_pvc_change(p, None, pvc("c")) is QueueingHint.QUEUE
    assert pl.is_schedulable_after_pvc_change(p, None, pvc("pod1-e")) is QueueingHint.QUEUE
    assert pl.is_schedulable_after_pvc_change(p, None, pvc("x")) is QueueingHint.SKIP
    assert pl.is_schedulable_after_pvc_change(p, None, pvc("c", "other")) is QueueingHint.SKIP
    sc = storage_class("s", mode=WAIT, provisioner="p")
    topo = storage_class("s", mode=WAIT, provisioner="p", allowed_topologies=[{ZONE: ["a"]}])
    assert pl.is_schedulable_after_storage_class_change(p, None, sc) is QueueingHint.QUEUE
    assert pl.is_schedulable_after_storage_class_change(p, sc, topo) is QueueingHint.QUEUE
    assert pl.is_schedulable_after_storage_class_change(p, topo, topo) is QueueingHint.SKIP
    cn = csi_node("n", {"d": 1})
    migrated = csi_node("n", {"d": 1}, annotations={ANN_MIGRATED_PLUGINS: "kubernetes.io/gce-pd"})
    assert pl.is_schedulable_after_csi_node_change(p, None, cn) is QueueingHint.QUEUE
    assert pl.is_schedulable_after_csi_node_change(p, cn, migrated) is QueueingHint.QUEUE
    assert pl.is_schedulable_after_csi_node_change(p, cn, cn) is QueueingHint.SKIP


def test_events_to_register() -> None:
    pl, _ = plugin(Snapshot())
    assert [(e.event.resource.value, e.hint is not None) for e in pl.events_to_register()] == [
        ("storage.k8s.io/StorageClass", True), ("PersistentVolumeClaim", True),
        ("PersistentVolume", False), ("Node", False), ("storage.k8s.io/CSINode", True)]


def test_args_defaults_and_validation() -> None:
    args = msgspec.convert({}, VolumeBindingArgs)
    assert args.bind_timeout_seconds == 600
    assert args.shape == [P(0, 10), P(100, 0)]
    args.validate()
    assert msgspec.convert({"bindTimeoutSeconds": 0}, VolumeBindingArgs).bind_timeout_seconds == 0
    bad = msgspec.convert({"bindTimeoutSeconds": -10}, VolumeBindingArgs)
    with pytest.raises(v.ArgsError) as e:
        bad.validate()
    assert str(e.value) == ("bindTimeoutSeconds: Invalid value: -10: invalid "
                            "BindTimeoutSeconds, should not be a negative value")
    unsorted = msgspec.convert({"shape": [{"utilization": 50, "score": 1},
                                          {"utilization": 10, "score": 11}]}, VolumeBindingArgs)
    with pytest.raises(v.ArgsError) as e:
        unsorted.validate()
    assert str(e.value) == ("[shape[1].utilization: Invalid value: 10: values must be sorted "
                            "in increasing order, shape[1].score: Invalid value: 11: not in "
                            "valid range [0, 10]]")


# ---- the candidate index answers as the plain scan -----------------------------------------------

_sizes = st.sampled_from(["1Gi", "2Gi", "5Gi", "10Gi"])
_affinity = st.one_of(
    st.none(),
    st.fixed_dictionaries({HOSTNAME: st.lists(st.sampled_from(["n0", "n1", "n2"]), min_size=1,
                                              max_size=2)}),
    st.fixed_dictionaries({ZONE: st.lists(st.sampled_from(["z0", "z1"]), min_size=1,
                                          max_size=2),
                           "disk": st.just(["ssd"])}),
)


@given(specs=st.lists(st.tuples(_sizes, _affinity, st.booleans()), max_size=8),
       host=st.sampled_from(["n0", "n1", "n2", "n3"]), zone=st.sampled_from(["z0", "z1", None]),
       ssd=st.booleans(), excluded=st.sets(st.integers(0, 7), max_size=3))
@settings(max_examples=300, deadline=None)
def test_candidate_index_matches_the_scan(specs: list[Any], host: str, zone: str | None,
                                          ssd: bool, excluded: set[int]) -> None:
    claim = pvc("c", class_name="wait-sc", request="1Gi", uid="u")
    vols = [pv(f"pv{i}", class_name="wait-sc", capacity=size, node_affinity=aff,
               claim=("default", "c", "u") if pre else None)
            for i, (size, aff, pre) in enumerate(specs)]
    labels = {HOSTNAME: host, **({ZONE: zone} if zone else {}), **({"disk": "ssd"} if ssd else {})}
    names = {f"pv{i}" for i in excluded}
    cands = eligible_volumes(claim, vols)
    want = pick_volume(cands, labels, names)
    got = CandidateIndex(cands).pick(labels, names)
    assert (got and got.metadata.name) == (want and want.metadata.name)


# ---- the issue-5 plugins together in the framework runtime -------------------------------------


def _volume_framework(h: VolumeHandle) -> Framework:
    specs = [priority_sort.SPEC, volume_restrictions.SPEC, node_volume_limits.SPEC,
             volume_binding.SPEC, volume_zone.SPEC, image_locality.SPEC, default_binder.SPEC]
    plugins = {s.name: s.factory(s.args_type() if s.args_type else None, h) for s in specs}
    points: dict[str, list[str]] = {}
    for name, p in plugins.items():
        for point in implemented_points(p):
            points.setdefault(point, []).append(name)
    return Framework("default-scheduler", plugins, points, {"ImageLocality": 1},
                     rng=random.Random(0))


def test_volume_plugins_in_the_framework() -> None:
    nodes = [node("n0", **{ZONE: "z0"}), node("n1", **{ZONE: "z1"}), node("n2", **{ZONE: "z1"}),
             node("n3", **{ZONE: "z0"})]
    snap = snapshot_of(nodes)
    h = handle_with(snap, pvcs=[pvc("data", class_name="wait-sc", request="1Gi"),
                                pvc("zonal", volume_name="pv-z", bound=True)],
                    pvs=[pv("pv-z", labels={ZONE: "z1"}, phase="Bound"),
                         pv("local-n1", class_name="wait-sc", capacity="5Gi",
                            node_affinity={HOSTNAME: ["n1"]}),
                         pv("local-n3", class_name="wait-sc", capacity="5Gi",
                            node_affinity={HOSTNAME: ["n3"]})],
                    classes=CLASSES)
    fwk = _volume_framework(h)
    assert [p.name for p in fwk.filter] == ["VolumeRestrictions", "NodeVolumeLimits",
                                           "VolumeBinding", "VolumeZone"]
    assert [p.name for p in fwk.reserve] == ["VolumeBinding"]
    assert [p.name for p in fwk.pre_bind] == ["VolumeBinding"]
    assert [p.name for p in fwk.score] == ["VolumeBinding", "ImageLocality"]
    pi = pod_info(vpod("p", pvcs=["data", "zonal"]))
    state = CycleState()
    res, st, _ = fwk.run_pre_filter(state, pi, snap)
    assert res is None and st is None
    diagnosis = Diagnosis(num_all_nodes=snap.num_nodes)
    feasible = fwk.find_nodes_that_pass_filters(state, pi, snap, snap.all_rows(), diagnosis)
    assert [snap.node_infos[r].name for r in feasible] == ["n1"]
    # Filters run in order and a node stops at its first failure, as upstream: n3 has a PV
    # for the claim but is in the wrong zone for the bound one.
    assert diagnosis.message() == (
        "0/4 nodes are available: 1 node(s) had no available volume zone, "
        "2 node(s) didn't find available persistent volumes to bind.")
    assert diagnosis.resolvable_nodes == []  # preemption cannot help either reason


async def test_reserve_and_pre_bind_through_the_framework() -> None:
    snap = snapshot_of([node("n0"), node("n1")])
    h = handle_with(snap, pvcs=[pvc("data", class_name="wait-sc", request="1Gi", uid="u1")],
                    pvs=[pv("local-n1", class_name="wait-sc", capacity="5Gi",
                            node_affinity={HOSTNAME: ["n1"]})], classes=CLASSES)
    api = FakeApi(h)
    h.volume_client = api
    fwk = _volume_framework(h)
    vb = fwk.plugins["VolumeBinding"]
    assert isinstance(vb, VolumeBinding)
    vb.binder.poll_interval = 0.01
    pi = pod_info(vpod("p", pvcs=["data"]))
    state = CycleState()
    fwk.run_pre_filter(state, pi, snap)
    feasible = fwk.find_nodes_that_pass_filters(state, pi, snap, snap.all_rows(),
                                                Diagnosis(num_all_nodes=2))
    assert fwk.run_pre_score(state, pi, snap, feasible) is None
    scores = fwk.run_score(state, pi, snap, feasible)
    assert fwk.select_host(snap, feasible, scores) == "n1"
    assert fwk.run_reserve(state, pi, "n1") is None
    task = asyncio.ensure_future(fwk.run_pre_bind(state, pi, "n1"))
    await asyncio.sleep(0.03)
    controller_binds(h, "default/data", "local-n1")
    assert await task is None
    assert [k for k, _ in api.patches] == ["pv/local-n1"]
