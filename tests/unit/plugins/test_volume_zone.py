"""VolumeZone: upstream volume_zone_test.go tables (single zone, multi zone, with binding) per
node and batch, plus the queueing hints."""

from __future__ import annotations

from typing import Any

import pytest
from builders import filter_both, make_node, new_state, pod_info, snapshot_of
from test_volume_builders import handle_with, pv, pvc, storage_class, vpod

from pyscheduler.framework.status import Code
from pyscheduler.framework.types import QueueingHint
from pyscheduler.model.pod import Pod
from pyscheduler.plugins.volume_zone import (
    ERR_REASON_CONFLICT,
    LABEL_FAILURE_DOMAIN_BETA_REGION,
    LABEL_FAILURE_DOMAIN_BETA_ZONE,
    LABEL_TOPOLOGY_REGION,
    LABEL_TOPOLOGY_ZONE,
    VolumeZone,
    label_zones_to_set,
    new,
)

UNRES = int(Code.UNSCHEDULABLE_AND_UNRESOLVABLE)
SKIP = int(Code.SKIP)
CONFLICT = (UNRES, [ERR_REASON_CONFLICT])
BZ, BR = LABEL_FAILURE_DOMAIN_BETA_ZONE, LABEL_FAILURE_DOMAIN_BETA_REGION
Z, R = LABEL_TOPOLOGY_ZONE, LABEL_TOPOLOGY_REGION


def pod_with(claim: str) -> Pod:
    return vpod("pod_1", pvcs=[claim])


def check(pl: VolumeZone, pod: Pod, labels: dict[str, str], want_pre: Any,
          want_filter: Any) -> None:
    """PreFilter, then Filter on one node whatever PreFilter said (as upstream's tests: Filter
    recomputes when PreFilter left no state)."""
    snap = snapshot_of([make_node("host1", labels=labels)])
    state = new_state()
    pi = pod_info(pod)
    _, st = pl.pre_filter(state, pi, snap)
    assert (None if st is None else (int(st.code), list(st.reasons))) == want_pre
    assert filter_both(pl, state, pi, snap)["host1"] == want_filter


SINGLE_PVS = [
    pv("Vol_1", labels={BZ: "us-west1-a"}),
    pv("Vol_2", labels={BR: "us-west1", "uselessLabel": "none"}),
    pv("Vol_3", labels={BR: "us-west1"}),
    pv("Vol_Stable_1", labels={Z: "us-west1-a"}),
    pv("Vol_Stable_2", labels={R: "us-west1", "uselessLabel": "none"}),
    pv("Vol_Stable_3", labels={Z: "us-west1-a", R: "us-west1-a"}),
]
SINGLE_PVCS = [pvc("PVC_1", volume_name="Vol_1"), pvc("PVC_2", volume_name="Vol_2"),
               pvc("PVC_3", volume_name="Vol_3"), pvc("PVC_4", volume_name="Vol_not_exist"),
               pvc("PVC_Stable_1", volume_name="Vol_Stable_1"),
               pvc("PVC_Stable_2", volume_name="Vol_Stable_2"),
               pvc("PVC_Stable_3", volume_name="Vol_Stable_3")]

SINGLE_CASES = [
    ("pod without volume", vpod("pod_1"), {BZ: "us-west1-a"}, (SKIP, []), None),
    ("node without labels", pod_with("PVC_1"), {}, None, None),
    ("beta zone label matched", pod_with("PVC_1"), {BZ: "us-west1-a", "uselessLabel": "none"},
     None, None),
    ("beta region label matched", pod_with("PVC_2"), {BR: "us-west1", "uselessLabel": "none"},
     None, None),
    ("beta region label doesn't match", pod_with("PVC_2"),
     {BR: "no_us-west1", "uselessLabel": "none"}, None, CONFLICT),
    ("beta zone label doesn't match", pod_with("PVC_1"),
     {BZ: "no_us-west1-a", "uselessLabel": "none"}, None, CONFLICT),
    ("zone label matched", pod_with("PVC_Stable_1"), {Z: "us-west1-a", "uselessLabel": "none"},
     None, None),
    ("region label matched", pod_with("PVC_Stable_2"), {R: "us-west1", "uselessLabel": "none"},
     None, None),
    ("region label doesn't match", pod_with("PVC_Stable_2"),
     {R: "no_us-west1", "uselessLabel": "none"}, None, CONFLICT),
    ("zone label doesn't match", pod_with("PVC_Stable_1"),
     {Z: "no_us-west1-a", "uselessLabel": "none"}, None, CONFLICT),
    ("pv with zone and region, node with only zone", pod_with("PVC_Stable_3"),
     {Z: "us-west1-a"}, None, CONFLICT),
    ("pv with zone,node with beta zone", pod_with("PVC_Stable_1"), {BZ: "us-west1-a"}, None,
     CONFLICT),
    ("pv with beta label,node with ga label, matched", pod_with("PVC_1"), {Z: "us-west1-a"},
     None, None),
    ("pv with beta label,node with ga label, don't match", pod_with("PVC_1"),
     {Z: "us-west1-b"}, None, CONFLICT),
    ("pv not found", pod_with("PVC_4"), {Z: "us-west1-a"},
     (UNRES, ['persistentvolume "Vol_not_exist" not found']),
     (UNRES, ['persistentvolume "Vol_not_exist" not found'])),
]


@pytest.mark.parametrize(("name", "pod", "labels", "want_pre", "want"), SINGLE_CASES,
                         ids=[c[0] for c in SINGLE_CASES])
def test_single_zone(name: str, pod: Pod, labels: dict[str, str], want_pre: Any,
                     want: Any) -> None:
    check(new(None, handle_with(pvcs=SINGLE_PVCS, pvs=SINGLE_PVS)), pod, labels, want_pre, want)


MULTI_PVS = [
    pv("Vol_1", labels={BZ: "us-west1-a"}),
    pv("Vol_2", labels={BZ: "us-west1-b", "uselessLabel": "none"}),
    pv("Vol_3", labels={BZ: "us-west1-c__us-west1-a"}),
    pv("Vol_Stable_1", labels={Z: "us-west1-a"}),
    pv("Vol_Stable_2", labels={Z: "us-west1-c__us-west1-a"}),
]
MULTI_PVCS = [pvc("PVC_1", volume_name="Vol_1"), pvc("PVC_2", volume_name="Vol_2"),
              pvc("PVC_3", volume_name="Vol_3"),
              pvc("PVC_Stable_1", volume_name="Vol_Stable_1"),
              pvc("PVC_Stable_2", volume_name="Vol_Stable_2")]

MULTI_CASES = [
    ("node without labels", pod_with("PVC_3"), {}, None, None),
    ("beta zone label matched", pod_with("PVC_3"), {BZ: "us-west1-a", "uselessLabel": "none"},
     None, None),
    ("beta zone label doesn't match", pod_with("PVC_1"),
     {BZ: "us-west1-b", "uselessLabel": "none"}, None, CONFLICT),
    ("zone label matched", pod_with("PVC_Stable_2"), {Z: "us-west1-a", "uselessLabel": "none"},
     None, None),
    ("zone label doesn't match", pod_with("PVC_Stable_1"),
     {Z: "us-west1-b", "uselessLabel": "none"}, None, CONFLICT),
]


@pytest.mark.parametrize(("name", "pod", "labels", "want_pre", "want"), MULTI_CASES,
                         ids=[c[0] for c in MULTI_CASES])
def test_multi_zone(name: str, pod: Pod, labels: dict[str, str], want_pre: Any,
                    want: Any) -> None:
    check(new(None, handle_with(pvcs=MULTI_PVCS, pvs=MULTI_PVS)), pod, labels, want_pre, want)


BINDING_CLASSES = [storage_class("Class_Immediate"),
                   storage_class("Class_Wait", mode="WaitForFirstConsumer")]
BINDING_PVS = [pv("Vol_1", labels={BZ: "us-west1-a"})]
BINDING_PVCS = [pvc("PVC_1", volume_name="Vol_1"), pvc("PVC_NoSC", class_name="Class_0"),
                pvc("PVC_EmptySC"), pvc("PVC_WaitSC", class_name="Class_Wait"),
                pvc("PVC_ImmediateSC", class_name="Class_Immediate")]
NO_NAME = (UNRES, ["PersistentVolumeClaim had no pv name and storageClass name"])
SC_NOT_FOUND = (UNRES, ['storageclass.storage.k8s.io "Class_0" not found'])
MODE_NOT_SET = (UNRES, ['VolumeBindingMode not set for StorageClass "Class_Immediate"'])

BINDING_CASES = [
    ("label zone failure domain matched", pod_with("PVC_1"), None, None),
    ("unbound volume empty storage class", pod_with("PVC_EmptySC"), NO_NAME, NO_NAME),
    ("unbound volume no storage class", pod_with("PVC_NoSC"), SC_NOT_FOUND, SC_NOT_FOUND),
    ("unbound volume immediate binding mode", pod_with("PVC_ImmediateSC"), MODE_NOT_SET,
     MODE_NOT_SET),
    ("unbound volume wait binding mode", pod_with("PVC_WaitSC"), (SKIP, []), None),
]


@pytest.mark.parametrize(("name", "pod", "want_pre", "want"), BINDING_CASES,
                         ids=[c[0] for c in BINDING_CASES])
def test_with_binding(name: str, pod: Pod, want_pre: Any, want: Any) -> None:
    pl = new(None, handle_with(pvcs=BINDING_PVCS, pvs=BINDING_PVS, classes=BINDING_CLASSES))
    check(pl, pod, {BZ: "us-west1-a", "uselessLabel": "none"}, want_pre, want)


def test_immediate_class_with_mode_set_reports_unnamed_pv() -> None:
    """A class as the API server returns it (mode defaulted to Immediate)."""
    pl = new(None, handle_with(pvcs=[pvc("c", class_name="imm")],
                               classes=[storage_class("imm", mode="Immediate")]))
    want = (UNRES, ["PersistentVolume had no name"])
    check(pl, pod_with("c"), {BZ: "a"}, want, want)


def test_missing_listers_read_as_missing_objects() -> None:
    pl = new(None, None)  # type: ignore[arg-type]
    want = (UNRES, ['persistentvolumeclaim "PVC_1" not found'])
    check(pl, pod_with("PVC_1"), {BZ: "a"}, want, want)


def test_batch_over_many_nodes_matches_per_node() -> None:
    pl = new(None, handle_with(pvcs=[*MULTI_PVCS, pvc("both", volume_name="Both")],
                               pvs=[*MULTI_PVS, pv("Both", labels={BZ: "us-west1-a", R: "r1"})]))
    nodes = [make_node(f"n{i}", labels=lbl) for i, lbl in enumerate([
        {}, {BZ: "us-west1-a"}, {BZ: "us-west1-b"}, {Z: "us-west1-a"}, {Z: "us-west1-c"},
        {Z: "us-west1-a", R: "r1"}, {BZ: "us-west1-a", R: "r2"}, {BR: "r1", Z: "us-west1-a"},
        {"other": "x"}])]
    snap = snapshot_of(nodes)
    for claim in ("PVC_1", "PVC_3", "PVC_Stable_2", "both"):
        state = new_state()
        pi = pod_info(pod_with(claim))
        pl.pre_filter(state, pi, snap)
        filter_both(pl, state, pi, snap)  # asserts batch == per node on every row


@pytest.mark.parametrize(("value", "want"), [
    ("us-west1-a", {"us-west1-a"}), ("a__b", {"a", "b"}), (" a __ b ", {"a", "b"}),
    ("a____b", None), ("", None),
])
def test_label_zones_to_set(value: str, want: set[str] | None) -> None:
    got = label_zones_to_set(value)
    assert (None if got is None else set(got)) == want


# ---- queueing hints ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "pod", "old", "new_obj", "want"), [
    ("pvc-was-added-but-pod-refers-no-pvc", vpod("pod_1"), None,
     pvc("PVC_1", volume_name="Vol_1"), QueueingHint.SKIP),
    ("pvc-was-added-and-pod-was-bound-to-different-pvc", pod_with("PVC_2"), None,
     pvc("PVC_1", volume_name="Vol_1"), QueueingHint.SKIP),
    ("pvc-was-added-and-pod-was-bound-to-pvc-but-different-ns", pod_with("PVC_1"), None,
     pvc("PVC_1", "ns1", volume_name="Vol_1"), QueueingHint.SKIP),
    ("pvc-was-added-and-pod-was-bound-to-the-pvc", pod_with("PVC_1"), None,
     pvc("PVC_1", volume_name="Vol_1"), QueueingHint.QUEUE),
    ("pvc-was-updated-and-pod-was-bound-to-the-pvc", pod_with("PVC_1"), pvc("PVC_1"),
     pvc("PVC_1", volume_name="Vol_1"), QueueingHint.QUEUE),
    ("pvc-was-updated-but-pod-refers-no-pvc", vpod("pod_1"), pvc("PVC_1"),
     pvc("PVC_1", volume_name="Vol_1"), QueueingHint.SKIP),
])
def test_is_schedulable_after_pvc_change(name: str, pod: Pod, old: Any, new_obj: Any,
                                         want: QueueingHint) -> None:
    assert new(None, None).is_schedulable_after_pvc_change(  # type: ignore[arg-type]
        pod, old, new_obj) is want


def test_is_schedulable_after_storage_class_added() -> None:
    pl = new(None, None)  # type: ignore[arg-type]
    p = pod_with("PVC_1")
    with pytest.raises(TypeError):
        pl.is_schedulable_after_storage_class_added(p, None, "not-a-storageclass")
    assert pl.is_schedulable_after_storage_class_added(
        p, None, storage_class("SC_1")) is QueueingHint.SKIP
    assert pl.is_schedulable_after_storage_class_added(
        p, None, storage_class("SC_1", mode="WaitForFirstConsumer")) is QueueingHint.QUEUE


def test_is_schedulable_after_pv_change() -> None:
    pl = new(None, None)  # type: ignore[arg-type]
    p = pod_with("PVC_1")
    with pytest.raises(TypeError):
        pl.is_schedulable_after_pv_change(p, None, "not-a-pv")
    with pytest.raises(TypeError):
        pl.is_schedulable_after_pv_change(p, "not-a-pv", pv("Vol_1"))
    assert pl.is_schedulable_after_pv_change(
        p, None, pv("Vol_1", labels={BZ: "us-west1-b"})) is QueueingHint.QUEUE
    assert pl.is_schedulable_after_pv_change(
        p, pv("Vol_1", labels={BZ: "us-west1-a"}),
        pv("Vol_1", labels={BZ: "us-west1-b"})) is QueueingHint.QUEUE
    assert pl.is_schedulable_after_pv_change(
        p, pv("Vol_1", labels={BZ: "us-west1-a"}),
        pv("Vol_1", labels={BZ: "us-west1-a", Z: "zone"})) is QueueingHint.QUEUE
    assert pl.is_schedulable_after_pv_change(
        p, pv("Vol_1", labels={BZ: "us-west1-a", Z: "zone"}),
        pv("Vol_1", labels={BZ: "us-west1-a", Z: "zone"})) is QueueingHint.SKIP


def test_events_to_register() -> None:
    events = [(e.event.resource.value, e.hint is not None)
              for e in new(None, None).events_to_register()]  # type: ignore[arg-type]
    assert events == [("storage.k8s.io/StorageClass", True), ("Node", False),
                      ("PersistentVolumeClaim", True), ("PersistentVolume", True)]
