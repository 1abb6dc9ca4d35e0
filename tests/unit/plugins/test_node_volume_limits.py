"""NodeVolumeLimits (CSILimits): upstream csi_test.go's TestCSILimits rows that do not involve
in-tree migration (same fixtures: PVs/PVCs named "csi-<driver>-<i>", a class whose provisioner
is the first driver, a CSINode with a count per driver), per node and batch; the
VolumeLimitScaling driver check; the queueing hints."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from builders import filter_both, make_node, new_state, pod_info, snapshot_of
from test_volume_builders import (
    csi_driver,
    csi_node,
    handle_with,
    pv,
    pvc,
    storage_class,
    volume_attachment,
    vpod,
)

from pyscheduler.framework.status import Code
from pyscheduler.framework.types import QueueingHint
from pyscheduler.model.pod import Pod
from pyscheduler.model.storage import PersistentVolumeClaim
from pyscheduler.plugins.node_volume_limits import (
    ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED,
    CSILimits,
    new,
)

EBS = "ebs.csi.aws.com"
GCE = "pd.csi.storage.gke.io"
SC = "csi-sc"
NODE = "node-for-max-pd-test-1"
UNSCHED = int(Code.UNSCHEDULABLE)
UNRES = int(Code.UNSCHEDULABLE_AND_UNRESOLVABLE)
ERROR = int(Code.ERROR)
SKIP = int(Code.SKIP)
EXCEEDED = (UNSCHED, [ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED])


def claim_pod(*claims: str, name: str = "p") -> Pod:
    return vpod(name, pvcs=list(claims))


RUNNING = claim_pod(f"csi-{EBS}-3", name="running")
PENDING_VOLUME = claim_pod("csi-4", name="pending")
UNBOUND_PVC_POD2 = claim_pod("csi-4", name="pending2")
MISSING_PV = claim_pod("csi-6", name="missing-pv")
NO_SC_PVC = claim_pod("csi-5", name="no-sc")
GCE_TWO_VOL = claim_pod(f"csi-{GCE}-1", f"csi-{GCE}-2", name="gce-two")
CSI_EBS_ONE_VOL = claim_pod(f"csi-{EBS}-0", name="ebs-one")
CSI_EBS_TWO_VOL = claim_pod(f"csi-{EBS}-1", f"csi-{EBS}-2", name="ebs-two")
EPHEMERAL = vpod("abc", namespace="test", uid="12345", ephemeral=["xyz"])
EPHEMERAL_CLAIM = pvc("abc-xyz", "test", class_name=SC, owner_uid="12345")
CONFLICTING_CLAIM = pvc("abc-xyz", "test", class_name=SC)
EPHEMERAL_TWO = vpod("abc", namespace="test", uid="12345II", ephemeral=["x", "y"])
EPHEMERAL_X = pvc("abc-x", "test", class_name=SC, owner_uid="12345II")
EPHEMERAL_Y = pvc("abc-y", "test", class_name=SC, owner_uid="12345II")
CONFIGMAP_SECRET = [{"name": "cm", "configMap": {}}, {"name": "s", "secret": {}}]
ONLY_CONFIGMAP_SECRET = vpod("cms", volumes=CONFIGMAP_SECRET)
PVC_WITH_CONFIGMAP = vpod("pvc-cms", pvcs=[f"csi-{EBS}-0"], volumes=CONFIGMAP_SECRET)
EPHEMERAL_WITH_CONFIGMAP = vpod("abc", namespace="test", uid="12345", ephemeral=["xyz"],
                                volumes=CONFIGMAP_SECRET)


def fixtures(drivers: list[str]) -> tuple[list[Any], list[PersistentVolumeClaim], list[Any]]:
    """getFakeCSIPVLister / getFakeCSIPVCLister / getFakeCSIStorageClassLister."""
    pvs, pvcs = [], []
    for d in drivers:
        for j in range(4):
            name = f"csi-{d}-{j}"
            pvs.append(pv(name, csi=(d, name)))
            pvcs.append(pvc(name, volume_name=name))
    pvcs += [pvc("csi-4", class_name=SC), pvc("csi-5"),
             # a claim whose PV is missing, with a class that exists
             pvc("csi-6", class_name=SC, volume_name="missing-in-action")]
    return pvs, pvcs, [storage_class(SC, provisioner=drivers[0])]


def run(new_pod: Pod, existing: list[Pod], drivers: list[str], limit_source: str,
        max_vols: int = 0, va_count: int = 0,
        extra_claims: tuple[PersistentVolumeClaim, ...] = ()) -> tuple[Any, Any]:
    pvs, pvcs, classes = fixtures(drivers)
    if limit_source == "csinode":
        nodes = [csi_node(NODE, {d: max_vols for d in drivers})]
    elif limit_source == "csinode-with-no-limit":
        nodes = [csi_node(NODE, {d: None for d in drivers})]
    else:
        nodes = []
    vas = [volume_attachment(f"va-{d}-{j}", NODE, d, f"csi-{d}-{j}")
           for d in drivers[:1] for j in range(va_count)]
    placed = [vpod(f"e{i}", namespace=p.metadata.namespace, uid=p.metadata.uid, node=NODE,
                   volumes=[_raw(v) for v in p.spec.volumes]) for i, p in enumerate(existing)]
    # Existing ephemeral pods keep their names: their claims are named after them.
    placed = [_renamed(q, p) for q, p in zip(placed, existing, strict=True)]
    snap = snapshot_of([make_node(NODE)], placed)
    pl = new(None, handle_with(snap, pvcs=[*pvcs, *extra_claims], pvs=pvs, classes=classes,
                               csi_nodes=nodes, vas=vas))
    state = new_state()
    pi = pod_info(new_pod)
    _, st = pl.pre_filter(state, pi, snap)
    pre = None if st is None else (int(st.code), list(st.reasons))
    if st is not None:
        return pre, None
    info = snap.get(NODE)
    assert info is not None
    per = pl.filter(state, pi, info)
    if per is not None and per.code == Code.ERROR:
        # filter_both cannot compare Errors (a verdict row has no Error code): the batch form
        # must fail every row with an Error failure, which the runtime raises.
        verdict = pl.filter_nodes(state, pi, snap, snap.all_rows())
        assert verdict is not None and not verdict.passed.any()
        assert [(f.code, f.reason) for f in verdict.failures] == [(Code.ERROR, per.message())]
        return pre, (int(per.code), list(per.reasons))
    return pre, filter_both(pl, state, pi, snap)[NODE]


def _raw(v: Any) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(v)
    return out


def _renamed(placed: Pod, original: Pod) -> Pod:
    meta = msgspec.structs.replace(placed.metadata, name=original.metadata.name)
    return msgspec.structs.replace(placed, metadata=meta)


CASES: list[tuple[Any, ...]] = [
    # (name, new pod, existing, drivers, limit source, max, va count, extra claims, want)
    ("should count VolumeAttachments towards volume limit when no pods exist",
     CSI_EBS_ONE_VOL, [], [EBS], "csinode", 2, 2, [], EXCEEDED),
    ("should schedule pod when VolumeAttachments count does not exceed limit",
     CSI_EBS_ONE_VOL, [], [EBS], "csinode", 2, 1, [], None),
    ("fits when node volume limit >= new pods CSI volume",
     CSI_EBS_ONE_VOL, [RUNNING, CSI_EBS_TWO_VOL], [EBS], "csinode", 4, 0, [], None),
    ("doesn't when node volume limit <= pods CSI volume",
     CSI_EBS_ONE_VOL, [RUNNING, CSI_EBS_TWO_VOL], [EBS], "csinode", 2, 0, [], EXCEEDED),
    ("should when driver does not support volume limits",
     CSI_EBS_ONE_VOL, [RUNNING, CSI_EBS_TWO_VOL], [EBS], "csinode-with-no-limit", 2, 0, [],
     None),
    ("count pending PVCs towards volume limit <= pods CSI volume",
     CSI_EBS_ONE_VOL, [PENDING_VOLUME, CSI_EBS_TWO_VOL], [EBS], "csinode", 2, 0, [], EXCEEDED),
    ("count multiple pending pvcs towards volume limit >= pods CSI volume",
     CSI_EBS_ONE_VOL, [PENDING_VOLUME, UNBOUND_PVC_POD2, CSI_EBS_TWO_VOL], [EBS], "csinode", 4,
     0, [], None),
    ("should count PVCs with invalid PV name but valid SC",
     CSI_EBS_ONE_VOL, [MISSING_PV, CSI_EBS_TWO_VOL], [EBS], "csinode", 2, 0, [], EXCEEDED),
    ("don't count pvcs with missing SC towards volume limit",
     CSI_EBS_ONE_VOL, [RUNNING, NO_SC_PVC], [EBS], "csinode", 2, 0, [], None),
    ("count pvcs with the same type towards volume limit",
     CSI_EBS_ONE_VOL, [GCE_TWO_VOL, CSI_EBS_TWO_VOL], [EBS, GCE], "csinode", 2, 0, [],
     EXCEEDED),
    ("don't count pvcs with different type towards volume limit",
     GCE_TWO_VOL, [CSI_EBS_TWO_VOL, RUNNING], [EBS, GCE], "csinode", 2, 0, [], None),
    ("ephemeral volume missing",
     EPHEMERAL, [], [EBS], "csinode-with-no-limit", 0, 0, [],
     (UNRES, ['looking up PVC test/abc-xyz: persistentvolumeclaim "abc-xyz" not found'])),
    ("ephemeral volume not owned",
     EPHEMERAL, [], [EBS], "csinode-with-no-limit", 0, 0, [CONFLICTING_CLAIM],
     (ERROR, ["PVC test/abc-xyz was not created for pod test/abc (pod is not owner)"])),
    ("ephemeral volume unbound",
     EPHEMERAL, [], [EBS], "csinode-with-no-limit", 0, 0, [EPHEMERAL_CLAIM], None),
    ("ephemeral doesn't when node volume limit <= pods CSI volume",
     EPHEMERAL, [RUNNING, CSI_EBS_TWO_VOL], [EBS], "csinode", 2, 0, [EPHEMERAL_CLAIM], EXCEEDED),
    ("ephemeral doesn't when node volume limit <= pods ephemeral CSI volume",
     CSI_EBS_ONE_VOL, [RUNNING, EPHEMERAL_TWO], [EBS], "csinode", 2, 0,
     [EPHEMERAL_X, EPHEMERAL_Y], EXCEEDED),
    ("persistent doesn't when node volume limit <= pods ephemeral CSI volume + persistent "
     "volume", CSI_EBS_ONE_VOL, [RUNNING, EPHEMERAL, CSI_EBS_TWO_VOL], [EBS], "csinode", 3, 0,
     [EPHEMERAL_CLAIM], EXCEEDED),
    ("persistent okay when node volume limit > pods ephemeral CSI volume + persistent volume",
     CSI_EBS_ONE_VOL, [RUNNING, EPHEMERAL, CSI_EBS_TWO_VOL], [EBS], "csinode", 5, 0,
     [EPHEMERAL_CLAIM], None),
    ("don't skip Filter when the pod has pvcs",
     PVC_WITH_CONFIGMAP, [], [EBS], "csinode", 2, 0, [], None),
    ("don't skip Filter when the pod has ephemeral volumes",
     EPHEMERAL_WITH_CONFIGMAP, [], [EBS], "csinode-with-no-limit", 0, 0, [],
     (UNRES, ['looking up PVC test/abc-xyz: persistentvolumeclaim "abc-xyz" not found'])),
    ("no CSINode: no limits",
     CSI_EBS_ONE_VOL, [RUNNING, CSI_EBS_TWO_VOL], [EBS], "none", 1, 0, [], None),
]


@pytest.mark.parametrize(("name", "pod", "existing", "drivers", "source", "max_vols",
                          "va_count", "extra", "want"), CASES, ids=[c[0] for c in CASES])
def test_csi_limits(name: str, pod: Pod, existing: list[Pod], drivers: list[str], source: str,
                    max_vols: int, va_count: int, extra: list[PersistentVolumeClaim],
                    want: Any) -> None:
    pre, got = run(pod, existing, drivers, source, max_vols, va_count, tuple(extra))
    assert pre is None
    assert got == want


def test_skip_filter_when_the_pod_only_uses_secrets_and_configmaps() -> None:
    pre, _ = run(ONLY_CONFIGMAP_SECRET, [], [EBS], "csinode", 2)
    assert pre == (SKIP, [])


def test_in_tree_pvs_are_not_counted() -> None:
    """Departure from upstream (no migration): a PV with an in-tree source never counts."""
    snap = snapshot_of([make_node(NODE)], [vpod("old", node=NODE, pvcs=["intree"])])
    pl = new(None, handle_with(
        snap, pvcs=[pvc("intree", volume_name="intree"), pvc("c", volume_name="c")],
        pvs=[pv("intree"), pv("c", csi=(EBS, "c"))], csi_nodes=[csi_node(NODE, {EBS: 1})]))
    state = new_state()
    pi = pod_info(claim_pod("c"))
    pl.pre_filter(state, pi, snap)
    assert filter_both(pl, state, pi, snap)[NODE] is None


@pytest.mark.parametrize(("prevent", "on_node", "want"), [
    (True, False, (UNSCHED, [f"{EBS} CSI driver is not installed on the node"])),
    (True, True, None),
    (False, False, None),
    (None, False, None),
])
def test_volume_limit_scaling_driver_check(prevent: bool | None, on_node: bool,
                                           want: Any) -> None:
    snap = snapshot_of([make_node(NODE)])
    pvs, pvcs, classes = fixtures([EBS])
    drivers = [] if prevent is None else [csi_driver(EBS, prevent_if_missing=prevent)]
    pl = new(None, handle_with(snap, pvcs=pvcs, pvs=pvs, classes=classes,
                               csi_nodes=[csi_node(NODE, {EBS: 5} if on_node else {"x": 1})],
                               csi_drivers=drivers))
    state = new_state()
    pi = pod_info(CSI_EBS_ONE_VOL)
    pl.pre_filter(state, pi, snap)
    assert filter_both(pl, state, pi, snap)[NODE] == want


def test_batch_matches_per_node_over_several_nodes() -> None:
    nodes = [make_node(f"n{i}") for i in range(4)]
    pvs, pvcs, classes = fixtures([EBS])
    existing = [vpod(f"e{i}", node=f"n{i % 4}", pvcs=[f"csi-{EBS}-{i}"]) for i in range(4)]
    existing.append(vpod("e4", node="n1", pvcs=[f"csi-{EBS}-2"]))
    snap = snapshot_of(nodes, existing)
    pl = new(None, handle_with(snap, pvcs=pvcs, pvs=pvs, classes=classes, csi_nodes=[
        csi_node("n0", {EBS: 1}), csi_node("n1", {EBS: 2}), csi_node("n2", {EBS: 2})]))
    state = new_state()
    pi = pod_info(claim_pod(f"csi-{EBS}-3", "csi-4"))
    pl.pre_filter(state, pi, snap)
    got = filter_both(pl, state, pi, snap)
    # n0: 1 attached + 2 new > 1; n1: 2 attached + 2 new > 2; n2: 1 + 2 > 2; n3: no CSINode.
    assert got == {"n0": EXCEEDED, "n1": EXCEEDED, "n2": EXCEEDED, "n3": None}


# ---- queueing hints ------------------------------------------------------------------------------


def plugin() -> CSILimits:
    return new(None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "deleted", "want"), [
    ("return a Queue when a deleted pod has a PVC",
     vpod("d", node="n", pvcs=["placeholder"]), QueueingHint.QUEUE),
    ("return a Queue when a deleted pod has a inline migratable volume",
     vpod("d", node="n", volumes=[{"name": "a", "awsElasticBlockStore": {}}]),
     QueueingHint.QUEUE),
    ("return a QueueSkip when a deleted pod doesn't have any volume", vpod("d", node="n"),
     QueueingHint.SKIP),
    ("return a QueueSkip when a deleted pod is not scheduled.",
     vpod("d", pvcs=[f"csi-{EBS}-0"]), QueueingHint.SKIP),
])
def test_is_schedulable_after_pod_deleted(name: str, deleted: Pod, want: QueueingHint) -> None:
    assert plugin().is_schedulable_after_pod_deleted(claim_pod(f"csi-{EBS}-2"), deleted,
                                                     None) is want


@pytest.mark.parametrize(("name", "pod", "added", "want"), [
    ("a pod isn't in the same namespace as an added PVC", vpod("p", namespace="ns1"),
     pvc("x", "ns2"), QueueingHint.SKIP),
    ("a pod is in the same namespace as an added PVC",
     vpod("p", namespace="ns1", pvcs=["pvc1"]), pvc("pvc1", "ns1"), QueueingHint.QUEUE),
    ("a pod has an ephemeral volume related to an added PVC",
     vpod("pod1", namespace="ns1", ephemeral=["ephemeral"]), pvc("pod1-ephemeral", "ns1"),
     QueueingHint.QUEUE),
    ("a pod doesn't have the same PVC as an added PVC",
     vpod("p", namespace="ns1", pvcs=["pvc1"]), pvc("pvc2", "ns1"), QueueingHint.SKIP),
    ("a pod doesn't have any PVC attached", vpod("p", namespace="ns1"), pvc("pvc2", "ns1"),
     QueueingHint.SKIP),
])
def test_is_schedulable_after_pvc_added(name: str, pod: Pod, added: Any,
                                        want: QueueingHint) -> None:
    assert plugin().is_schedulable_after_pvc_added(pod, None, added) is want


@pytest.mark.parametrize(("old", "new_obj", "want"), [
    ({"d": 2}, {"d": 3}, QueueingHint.QUEUE),
    ({"d": 2}, {"d": 2}, QueueingHint.SKIP),
    ({"d": 2}, {"d": 1}, QueueingHint.SKIP),
    ({"d": 2}, {"d": None}, QueueingHint.QUEUE),
    ({"d": None}, {"d": 5}, QueueingHint.SKIP),
    ({}, {"d": 1}, QueueingHint.QUEUE),
])
def test_is_schedulable_after_csi_node_updated(old: dict[str, int | None],
                                               new_obj: dict[str, int | None],
                                               want: QueueingHint) -> None:
    got = plugin().is_schedulable_after_csi_node_updated(
        claim_pod("c"), csi_node("n", old), csi_node("n", new_obj))
    assert got is want


def test_events_to_register() -> None:
    events = [(e.event.resource.value, int(e.event.action), e.hint is not None)
              for e in plugin().events_to_register()]
    assert events == [("storage.k8s.io/CSINode", 1, False),
                      ("storage.k8s.io/CSINode", events[1][1], True),
                      ("AssignedPod", 2, True), ("PersistentVolumeClaim", 1, True),
                      ("storage.k8s.io/VolumeAttachment", 2, False)]
