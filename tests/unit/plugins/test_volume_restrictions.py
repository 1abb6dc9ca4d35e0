"""VolumeRestrictions: upstream volume_restrictions_test.go tables (GCE PD, AWS EBS, RBD,
iSCSI disk conflicts; ReadWriteOncePod conflicts) per node and batch, AddPod/RemovePod, and
the queueing hints."""

from __future__ import annotations

from typing import Any

import pytest
from builders import filter_both, make_node, new_state, pod_info, snapshot_of
from test_volume_builders import handle_with, pvc, vpod

from pyscheduler.framework.status import Code
from pyscheduler.framework.types import QueueingHint
from pyscheduler.model.pod import Pod
from pyscheduler.plugins.volume_restrictions import (
    ERR_REASON_DISK_CONFLICT,
    ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT,
    NAME,
    VolumeRestrictions,
    new,
)

UNSCHED = int(Code.UNSCHEDULABLE)
UNRES = int(Code.UNSCHEDULABLE_AND_UNRESOLVABLE)
SKIP = int(Code.SKIP)

GCE = {"name": "g", "gcePersistentDisk": {"pdName": "foo"}}
GCE2 = {"name": "g", "gcePersistentDisk": {"pdName": "bar"}}
AWS = {"name": "a", "awsElasticBlockStore": {"volumeID": "foo"}}
AWS2 = {"name": "a", "awsElasticBlockStore": {"volumeID": "bar"}}
RBD = {"name": "r", "rbd": {"monitors": ["a", "b"], "pool": "foo", "image": "bar",
                            "fsType": "ext4"}}
RBD2 = {"name": "r", "rbd": {"monitors": ["c", "d"], "pool": "foo", "image": "bar",
                             "fsType": "ext4"}}
ISCSI = {"name": "i", "iscsi": {"targetPortal": "127.0.0.1:3260",
                                "iqn": "iqn.2016-12.server:storage.target01", "fsType": "ext4",
                                "lun": 0}}
ISCSI2 = {"name": "i", "iscsi": {"targetPortal": "127.0.0.1:3260",
                                 "iqn": "iqn.2017-12.server:storage.target01", "fsType": "ext4",
                                 "lun": 0}}
NO_RESTRICTION = {"name": "volume with no restriction", "emptyDir": {}}


def plugin(**objs: Any) -> VolumeRestrictions:
    return new(None, handle_with(**objs))


def run(pl: VolumeRestrictions, pod: Pod,
        existing: list[list[dict[str, Any]]]) -> tuple[Any, Any]:
    """(PreFilter outcome, Filter outcome on node-1 holding pods with the ``existing`` volume
    lists, or None when PreFilter did not pass)."""
    placed = [vpod(f"e{i}", node="node-1", volumes=vs) for i, vs in enumerate(existing)]
    snap = snapshot_of([make_node("node-1")], placed)
    state = new_state()
    pi = pod_info(pod)
    _, st = pl.pre_filter(state, pi, snap)
    pre = None if st is None else (int(st.code), list(st.reasons))
    if st is not None:
        return pre, None
    return pre, filter_both(pl, state, pi, snap)["node-1"]


DISK_CASES = []
for kind, same, other in [("GCE", GCE, GCE2), ("AWS", AWS, AWS2), ("RBD", RBD, RBD2),
                          ("ISCSI", ISCSI, ISCSI2)]:
    DISK_CASES += [
        (f"{kind} nothing", [], [], (SKIP, []), None),
        (f"{kind} one state", [], [[same]], (SKIP, []), None),
        (f"{kind} same state", [same], [[same]], None, (UNSCHED, [ERR_REASON_DISK_CONFLICT])),
        (f"{kind} different state", [other], [[same]], None, None),
    ]
DISK_CASES.append(("pod with a volume that doesn't have restrictions", [NO_RESTRICTION], [],
                   (SKIP, []), None))


@pytest.mark.parametrize(("name", "volumes", "existing", "want_pre", "want"), DISK_CASES,
                         ids=[c[0] for c in DISK_CASES])
def test_disk_conflicts(name: str, volumes: list[dict[str, Any]],
                        existing: list[list[dict[str, Any]]], want_pre: Any, want: Any) -> None:
    pre, got = run(plugin(), vpod("new", volumes=volumes), existing)
    assert pre == want_pre
    assert got == want


@pytest.mark.parametrize(("a", "b", "conflict"), [
    ({"gcePersistentDisk": {"pdName": "x", "readOnly": True}},
     {"gcePersistentDisk": {"pdName": "x", "readOnly": True}}, False),
    ({"gcePersistentDisk": {"pdName": "x", "readOnly": True}},
     {"gcePersistentDisk": {"pdName": "x"}}, True),
    ({"awsElasticBlockStore": {"volumeID": "x", "readOnly": True}},
     {"awsElasticBlockStore": {"volumeID": "x", "readOnly": True}}, True),
    ({"iscsi": {"iqn": "q", "readOnly": True}}, {"iscsi": {"iqn": "q", "readOnly": True}},
     False),
    ({"rbd": {"monitors": ["a"], "pool": "p", "image": "i", "readOnly": True}},
     {"rbd": {"monitors": ["b", "a"], "pool": "p", "image": "i"}}, True),
    ({"rbd": {"monitors": ["a"], "pool": "p", "image": "i"}},
     {"rbd": {"monitors": ["a"], "pool": "p", "image": "j"}}, False),
])
def test_read_only_sharing(a: dict[str, Any], b: dict[str, Any], conflict: bool) -> None:
    _, got = run(plugin(), vpod("new", volumes=[{"name": "v", **a}]), [[{"name": "v", **b}]])
    assert (got == (UNSCHED, [ERR_REASON_DISK_CONFLICT])) is conflict


# ---- ReadWriteOncePod ---------------------------------------------------------------------------

RWOP1 = pvc("claim-with-rwop-1", access_modes=["ReadWriteOncePod"])
RWOP2 = pvc("claim-with-rwop-2", access_modes=["ReadWriteOncePod"])
RWX = pvc("claim-with-rwx", access_modes=["ReadWriteMany"])

POD_ONE_PVC = vpod("pod-with-one-pvc", pvcs=["claim-with-rwop-1"], node="node-1")
POD_TWO_PVCS = vpod("pod-with-two-pvcs", pvcs=["claim-with-rwop-1", "claim-with-rwop-2"],
                    node="node-1")
POD_ONE_CONFLICT = vpod("pod-with-one-conflict", pvcs=["claim-with-rwop-1"])
POD_TWO_CONFLICTS = vpod("pod-with-two-conflicts", pvcs=["claim-with-rwop-1",
                                                         "claim-with-rwop-2"])
POD_RWX = vpod("pod-with-rwx", pvcs=["claim-with-rwx"], node="node-1")

ACCESS_CASES = [
    ("nothing", vpod("nothing"), [], [], (SKIP, []), None),
    ("failed to get PVC", POD_ONE_PVC, [], [],
     (UNRES, ['persistentvolumeclaim "claim-with-rwop-1" not found']), None),
    ("no access mode conflict", POD_ONE_PVC, [POD_RWX], [RWOP1, RWX], (SKIP, []), None),
    ("access mode conflict, unschedulable", POD_ONE_CONFLICT, [POD_ONE_PVC, POD_RWX],
     [RWOP1, RWX], None, (UNSCHED, [ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT])),
    ("two conflicts, unschedulable", POD_TWO_CONFLICTS, [POD_TWO_PVCS, POD_RWX],
     [RWOP1, RWOP2, RWX], None, (UNSCHED, [ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT])),
]


@pytest.mark.parametrize(("name", "pod", "existing", "pvcs", "want_pre", "want"), ACCESS_CASES,
                         ids=[c[0] for c in ACCESS_CASES])
def test_access_mode_conflicts(name: str, pod: Pod, existing: list[Pod], pvcs: list[Any],
                               want_pre: Any, want: Any) -> None:
    snap = snapshot_of([make_node("node-1"), make_node("node-2")], existing)
    pl = plugin(pvcs=pvcs)
    state = new_state()
    pi = pod_info(pod)
    _, st = pl.pre_filter(state, pi, snap)
    assert (None if st is None else (int(st.code), list(st.reasons))) == want_pre
    if st is None:
        # The claim is held somewhere in the cluster: every node is rejected, and preemption
        # may help (Unschedulable, not unresolvable).
        got = filter_both(pl, state, pi, snap)
        assert got == {"node-1": want, "node-2": want}


def test_add_and_remove_pod_adjust_the_conflict_count() -> None:
    snap = snapshot_of([make_node("node-1")], [POD_ONE_PVC])
    pl = plugin(pvcs=[RWOP1])
    state = new_state()
    pi = pod_info(POD_ONE_CONFLICT)
    _, st = pl.pre_filter(state, pi, snap)
    assert st is None
    info = snap.get("node-1")
    assert info is not None
    holder = pod_info(POD_ONE_PVC)
    clone = state.clone()
    assert pl.remove_pod(clone, pi, holder, info) is None
    assert pl.filter(clone, pi, info) is None  # with the holder gone (preemption) it fits
    assert pl.filter(state, pi, info) is not None  # the original state is untouched
    assert pl.add_pod(clone, pi, holder, info) is None
    assert pl.filter(clone, pi, info) is not None


def test_pre_filter_extensions_and_name() -> None:
    pl = plugin()
    assert pl.pre_filter_extensions() is pl
    assert pl.name == NAME


# ---- queueing hints ------------------------------------------------------------------------------

POD_DELETED_CASES = [
    ("queue-new-object-gcedisk-conflict", [GCE], [GCE], QueueingHint.QUEUE),
    ("skip-new-object-gcedisk-no-conflict", [GCE], [GCE2], QueueingHint.SKIP),
    ("queue-new-object-awsdisk-conflict", [AWS], [AWS], QueueingHint.QUEUE),
    ("skip-new-object-awsdisk-no-conflict", [AWS], [AWS2], QueueingHint.SKIP),
    ("queue-new-object-rbddisk-conflict", [RBD], [RBD], QueueingHint.QUEUE),
    ("skip-new-object-rbddisk-no-conflict", [RBD], [RBD2], QueueingHint.SKIP),
    ("queue-new-object-iscsidisk-conflict", [ISCSI], [ISCSI], QueueingHint.QUEUE),
    ("skip-new-object-iscsidisk-no-conflict", [ISCSI], [ISCSI2], QueueingHint.SKIP),
]


@pytest.mark.parametrize(("name", "mine", "deleted", "want"), POD_DELETED_CASES,
                         ids=[c[0] for c in POD_DELETED_CASES])
def test_is_schedulable_after_pod_deleted(name: str, mine: list[dict[str, Any]],
                                          deleted: list[dict[str, Any]],
                                          want: QueueingHint) -> None:
    got = plugin().is_schedulable_after_pod_deleted(vpod("p", volumes=mine),
                                                    vpod("d", volumes=deleted), None)
    assert got is want


def test_is_schedulable_after_pod_deleted_claims_and_namespaces() -> None:
    pl = plugin()
    assert pl.is_schedulable_after_pod_deleted(
        vpod("pod1", pvcs=["claim-rwop"]), vpod("pod2", pvcs=["claim-rwop"]), None
    ) is QueueingHint.QUEUE
    assert pl.is_schedulable_after_pod_deleted(
        vpod("pod1", pvcs=["claim-1-rwop"]), vpod("pod2", pvcs=["claim-2-rwop"]), None
    ) is QueueingHint.SKIP
    assert pl.is_schedulable_after_pod_deleted(
        vpod("pod1", volumes=[GCE]), vpod("pod2", namespace="other", volumes=[GCE]), None
    ) is QueueingHint.SKIP


PVC1 = pvc("claim-with-rwx-1", access_modes=["ReadWriteMany"])
PVC2 = pvc("claim-with-rwx-2", access_modes=["ReadWriteMany"])


@pytest.mark.parametrize(("name", "pod", "new_pvc", "want"), [
    ("queue-new-object-pvc-belong-pod",
     vpod("p", pvcs=["claim-with-rwx-1", "claim-with-rwx-2"]), PVC1, QueueingHint.QUEUE),
    ("skip-new-object-unused", vpod("p", pvcs=["claim-with-rwx-1"]), PVC2, QueueingHint.SKIP),
    ("skip-new-object-namespace-not-equal-pod",
     vpod("p", namespace="kube-system", pvcs=["claim-with-rwx-1"]), PVC1, QueueingHint.SKIP),
])
def test_is_schedulable_after_pvc_added(name: str, pod: Pod, new_pvc: Any,
                                        want: QueueingHint) -> None:
    assert plugin().is_schedulable_after_pvc_added(pod, None, new_pvc) is want


def test_events_to_register() -> None:
    events = [(e.event.resource.value, int(e.event.action), e.hint is not None)
              for e in plugin().events_to_register()]
    assert events == [("Pod", 2, True), ("Node", 1, False), ("PersistentVolumeClaim", 1, True)]
