"""Snapshots for `pyscheduler dry-run --snapshot`: the shipped sample and the benchmark's.

    .venv/bin/python -m hack.dryrun_snapshots > config/examples/dry-run-snapshot.yaml

Both are what `kubectl get nodes,pods,pdb,priorityclasses -A -o yaml` prints (a v1 List),
deterministic (no randomness, fixed UIDs and timestamps), so golden tests can rely on them.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

SCHEDULER = "pyscheduler"
CREATED = "2026-01-01T00:00:00Z"


def node(name: str, cpu: str, memory: str, *, zone: str, labels: dict[str, str] | None = None,
         taints: list[dict[str, str]] | None = None, pods: str = "110") -> dict[str, Any]:
    """A Ready Node as kubectl prints it (the fields the scheduler reads, plus conditions)."""
    res = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi"}
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": f"node-{name}", "resourceVersion": "1",
                     "creationTimestamp": CREATED,
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                "topology.kubernetes.io/zone": zone, **(labels or {})}},
        "spec": spec,
        "status": {"capacity": dict(res), "allocatable": dict(res),
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }


def pod(namespace: str, name: str, *, cpu: str = "100m", memory: str = "128Mi",
        node_name: str = "", priority: int = 0, priority_class: str = "",
        scheduler: str = SCHEDULER, labels: dict[str, str] | None = None,
        extra_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Pod as kubectl prints it: bound and Running when ``node_name`` is set, else Pending."""
    spec: dict[str, Any] = {
        "schedulerName": scheduler,
        "priority": priority,
        "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
        "preemptionPolicy": "PreemptLowerPriority",
        "terminationGracePeriodSeconds": 30,
        **(extra_spec or {}),
    }
    if priority_class:
        spec["priorityClassName"] = priority_class
    status: dict[str, Any] = {"phase": "Pending", "qosClass": "Burstable"}
    if node_name:
        spec["nodeName"] = node_name
        status = {"phase": "Running", "startTime": CREATED, "qosClass": "Burstable"}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"pod-{namespace}-{name}",
                     "resourceVersion": "1", "creationTimestamp": CREATED,
                     "labels": {"app": name.rsplit("-", 1)[0], **(labels or {})}},
        "spec": spec,
        "status": status,
    }


def priority_class(name: str, value: int, *, default: bool = False) -> dict[str, Any]:
    """A scheduling.k8s.io/v1 PriorityClass."""
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name, "uid": f"pc-{name}", "resourceVersion": "1"},
            "value": value, "globalDefault": default,
            "preemptionPolicy": "PreemptLowerPriority"}


def as_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The v1 List kubectl prints."""
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
            "items": items}


def sample() -> dict[str, Any]:
    """config/examples/dry-run-snapshot.yaml: 30 nodes, about 80 bound pods, 12 pending.

    * 24 general nodes (4 cpu, 16Gi) in three zones, each running batch pods (priority 0)
      using 3.5 cpu: small web pods fit, a 2-cpu high-priority pod must preempt;
    * 4 GPU nodes, empty but tainted dedicated=gpu:NoSchedule: a 2-cpu pod without the
      toleration cannot use them, one with it can;
    * 2 ssd nodes (disk=ssd) with little memory left: a database pod selecting them cannot fit;
    * a pod asking for 64 cpu fits nowhere; a gated pod is never attempted.
    """
    items: list[dict[str, Any]] = [
        priority_class("batch-low", 0, default=True),
        priority_class("web", 100),
        priority_class("critical-batch", 1000),
    ]
    zones = ["zone-a", "zone-b", "zone-c"]
    for i in range(24):
        n = f"general-{i:02d}"
        items.append(node(n, "4", "16Gi", zone=zones[i % 3]))
    for i in range(4):
        items.append(node(f"gpu-{i}", "8", "32Gi", zone=zones[i % 3],
                          labels={"accelerator": "nvidia"},
                          taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    for i in range(2):
        items.append(node(f"ssd-{i}", "2", "16Gi", zone=zones[i], labels={"disk": "ssd"}))
    for i in range(24):
        for j in range(3):
            items.append(pod("batch", f"worker-{i:02d}{j}", cpu="1" if j < 2 else "1500m",
                             memory="2Gi", node_name=f"general-{i:02d}",
                             priority_class="batch-low"))
    for i in range(2):
        items.append(pod("data", f"cache-{i}", cpu="1", memory="14Gi", node_name=f"ssd-{i}",
                         priority=100, priority_class="web"))
    items.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                  "metadata": {"name": "cache", "namespace": "data", "uid": "pdb-cache",
                               "resourceVersion": "1"},
                  "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "cache"}}},
                  "status": {"disruptionsAllowed": 0, "currentHealthy": 2, "desiredHealthy": 2,
                             "expectedPods": 2}})
    for i in range(6):
        items.append(pod("shop", f"web-{i}", cpu="250m", memory="256Mi", priority=100,
                         priority_class="web"))
    items.append(pod("batch", "report-0", cpu="2", memory="1Gi", priority=1000,
                     priority_class="critical-batch"))
    items.append(pod("ml", "train-0", cpu="2", memory="4Gi", priority_class="batch-low"))
    items.append(pod("ml", "train-gpu-0", cpu="2", memory="4Gi", priority_class="batch-low",
                     extra_spec={"tolerations": [{"key": "dedicated", "operator": "Equal",
                                                  "value": "gpu", "effect": "NoSchedule"}],
                                 "nodeSelector": {"accelerator": "nvidia"}}))
    items.append(pod("data", "db-0", cpu="1", memory="4Gi", priority=100, priority_class="web",
                     extra_spec={"nodeSelector": {"disk": "ssd"}}))
    items.append(pod("batch", "huge-0", cpu="64", memory="1Gi", priority_class="batch-low"))
    items.append(pod("batch", "gated-0", cpu="100m", memory="64Mi", priority_class="batch-low",
                     extra_spec={"schedulingGates": [{"name": "example.com/quota"}]}))
    return as_list(items)


def main() -> None:
    """Print the sample snapshot as YAML."""
    sys.stdout.write("# Sample cluster for `pyscheduler dry-run --snapshot` (generated by\n"
                     "# `python -m hack.dryrun_snapshots`; see the README, \"Why is my pod\n"
                     "# pending?\")\n")
    sys.stdout.write(yaml.safe_dump(sample(), sort_keys=False))


if __name__ == "__main__":
    main()
