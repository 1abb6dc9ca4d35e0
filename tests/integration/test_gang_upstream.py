"""Issue 16: gang scheduling with upstream's API: scheduling.k8s.io/v1beta1 PodGroup and the
pod's spec.schedulingGroup, served by the pinned kube-apiserver with GenericWorkload on.

A control plane of its own (the session's runs without the feature gate). Every node has
1 cpu and every member asks for 1 cpu.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envtest import ControlPlane, ControlPlaneOptions
from envtest.workload import SchedulerProcess, create_pods, list_events, list_pods, pod_manifest
from integration.waiting import wait_until

NS = ""  # the module control plane's namespace
GATES = {"feature-gates": "GenericWorkload=true",
         "runtime-config": "scheduling.k8s.io/v1beta1=true"}
CONFIG = """apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: pyscheduler
  plugins:
    multiPoint:
      enabled:
      - name: GangScheduling
"""


@pytest.fixture(scope="module")
def cp() -> Iterator[ControlPlane]:
    global NS
    with ControlPlane.start(ControlPlaneOptions(apiserver_args=GATES)) as plane:
        NS = plane.create_namespace("gang-")
        yield plane


@pytest.fixture
def scheduler(cp: ControlPlane, tmp_path: Path) -> Iterator[SchedulerProcess]:
    config = tmp_path / "gang.yaml"
    config.write_text(CONFIG)
    proc = SchedulerProcess(cp.scheduler_kubeconfig, tmp_path / "pyscheduler.log",
                            config=config).start()
    yield proc
    proc.stop()


def pod_group(cp: ControlPlane, name: str, min_count: int) -> None:
    cp.request("POST", f"/apis/scheduling.k8s.io/v1beta1/namespaces/{NS}/podgroups", {
        "apiVersion": "scheduling.k8s.io/v1beta1", "kind": "PodGroup",
        "metadata": {"name": name},
        "spec": {"schedulingPolicy": {"gang": {"minCount": min_count}}}})


def members(group: str, n: int) -> list[dict[str, Any]]:
    return [pod_manifest(f"{group}-{i}", cpu="1", memory="64Mi",
                         extra_spec={"schedulingGroup": {"podGroupName": group}})
            for i in range(n)]


def bound(cp: ControlPlane, prefix: str) -> list[dict[str, Any]]:
    return [p for p in list_pods(cp, NS)
            if p["metadata"]["name"].startswith(prefix) and p["spec"].get("nodeName")]


def condition(cp: ControlPlane, name: str) -> dict[str, Any] | None:
    obj = cp.request("GET", f"/apis/scheduling.k8s.io/v1beta1/namespaces/{NS}/podgroups/{name}")
    for c in obj.get("status", {}).get("conditions", []):
        if c["type"] == "PodGroupInitiallyScheduled":
            return dict(c)
    return None


def test_upstream_gang_binds_none_then_all_with_its_condition(
        cp: ControlPlane, scheduler: SchedulerProcess) -> None:
    nodes = cp.create_nodes(6, cpu="1", memory="4Gi", pods=10, name_prefix="up-")
    try:
        pod_group(cp, "big", 8)
        created = create_pods(cp, NS, members("big", 8))
        # The apiserver really kept the reference (the feature gate is on).
        assert created[0]["spec"]["schedulingGroup"] == {"podGroupName": "big"}
        cond = wait_until(lambda: condition(cp, "big"), timeout=30,
                          what="PodGroupInitiallyScheduled written")
        assert (cond["status"], cond["reason"]) == ("False", "Unschedulable"), cond
        assert "6/8 members placeable" in cond["message"], cond
        notes = [e["note"] for e in list_events(cp, NS) if e["reason"] == "FailedScheduling"]
        assert notes and all("6/8 members placeable" in n for n in notes), notes
        time.sleep(1.0)
        assert bound(cp, "big-") == []

        nodes += cp.create_nodes(2, cpu="1", memory="4Gi", pods=10, name_prefix="up2-")
        wait_until(lambda: len(bound(cp, "big-")) == 8, timeout=60, what="all 8 bound")
        cond = wait_until(lambda: (lambda c: c if c and c["status"] == "True" else None)(
            condition(cp, "big")), timeout=30, what="condition True")
        assert cond["reason"] == "Scheduled"
    finally:
        cp.delete_nodes(nodes)
