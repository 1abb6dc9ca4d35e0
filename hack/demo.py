"""`make demo`: a local control plane, KWOK nodes, pyscheduler, and a small mixed workload.

It shows, in about a minute:
1. pods for pyscheduler placed on nodes (resources, taints and tolerations, GPUs, host ports);
2. pods it cannot place, each with the reason it wrote on the pod (PodScheduled=False), the
   same "0/N nodes are available: ..." text kube-scheduler writes;
3. pods for another scheduler, left alone;
4. the event path: adding a big node and lifting a scheduling gate get waiting pods bound within
   seconds, without waiting for any periodic flush.

Usage: python -m hack.demo [--keep]   (--keep leaves everything running until Ctrl-C)
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from envtest import ControlPlane, ControlPlaneOptions
from envtest.workload import (
    SchedulerProcess,
    create_pods,
    list_events,
    list_pods,
    pod_condition,
    pod_manifest,
    runnable_config_yaml,
)

NS = "demo"
GPU = "nvidia.com/gpu"
DEMO_0 = {"kubernetes.io/hostname": "demo-0"}
GPU_TOLERATION = {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}


def workload() -> list[dict[str, Any]]:
    pods = [pod_manifest(f"web-{i}", cpu="500m", memory="512Mi", labels={"app": "web"})
            for i in range(8)]
    pods += [
        pod_manifest("train-0", cpu="1", extended={GPU: 1}, tolerations=[GPU_TOLERATION]),
        pod_manifest("train-1", cpu="1", extended={GPU: 1}, tolerations=[GPU_TOLERATION]),
        # asks for a GPU but does not tolerate the GPU node's taint
        pod_manifest("train-untolerated", cpu="1", extended={GPU: 1}),
        # bigger than any node
        pod_manifest("batch-huge", cpu="24", memory="8Gi"),
        # no node carries this zone
        pod_manifest("pinned-zone-c", node_selector={"topology.kubernetes.io/zone": "zone-c"}),
        # two pods wanting host port 8080 on the same node: the second cannot go there
        pod_manifest("ingress-0", host_port=8080, node_selector=DEMO_0),
        pod_manifest("ingress-1", host_port=8080, node_selector=DEMO_0),
        # held back by a scheduling gate until someone removes it
        pod_manifest("gated", scheduling_gates=["example.com/approval"]),
    ]
    # another scheduler's pods: pyscheduler must not touch them
    pods += [pod_manifest(f"other-{i}", scheduler_name="default-scheduler") for i in range(2)]
    return pods


def describe(pod: dict[str, Any]) -> tuple[str, str, str]:
    name = pod["metadata"]["name"]
    node = pod["spec"].get("nodeName") or ""
    if pod["spec"].get("schedulerName") != "pyscheduler":
        return name, node or "-", f"not ours (schedulerName={pod['spec']['schedulerName']})"
    if node:
        return name, node, "Scheduled"
    if pod["spec"].get("schedulingGates"):
        return name, "-", "SchedulingGated (gates: " + ", ".join(
            g["name"] for g in pod["spec"]["schedulingGates"]) + ")"
    cond = pod_condition(pod, "PodScheduled")
    if cond and cond.get("status") == "False":
        return name, "-", f"{cond.get('reason')}: {cond.get('message')}"
    return name, "-", "Pending"


def show(cp: ControlPlane, title: str) -> None:
    rows = sorted(describe(p) for p in list_pods(cp, NS))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"\n== {title}")
    print(f"{'POD':<{w0}}  {'NODE':<{w1}}  STATUS")
    for name, node, status in rows:
        print(f"{name:<{w0}}  {node:<{w1}}  {status}")


def wait_settled(cp: ControlPlane, timeout: float = 30.0) -> None:
    """Until every pyscheduler pod is bound, gated, or carries a PodScheduled=False reason."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = [p for p in list_pods(cp, NS) if p["spec"].get("schedulerName") == "pyscheduler"]
        if all(describe(p)[2] != "Pending" for p in pods):
            return
        time.sleep(0.3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep running until Ctrl-C")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    work = Path(tempfile.mkdtemp(prefix="pyscheduler-demo-"))
    print("starting etcd, kube-apiserver and kwok ...", flush=True)
    with ControlPlane.start(ControlPlaneOptions(keep=args.keep)) as cp:
        cp.create_nodes(3, cpu="4", memory="16Gi", name_prefix="demo-",
                        labels=lambda i: {"topology.kubernetes.io/zone": f"zone-{'ab'[i % 2]}"})
        cp.create_nodes(1, cpu="8", memory="32Gi", name_prefix="demo-gpu-",
                        extended_resources={GPU: 2},
                        taints=[{"key": "gpu", "value": "true", "effect": "NoSchedule"}])
        config = work / "pyscheduler.yaml"
        config.write_text(runnable_config_yaml())
        log_path = work / "pyscheduler.log"
        print(f"starting pyscheduler (log: {log_path}) ...", flush=True)
        with SchedulerProcess(cp.scheduler_kubeconfig, log_path, config=config) as sched:
            sched.start()
            cp.request("POST", "/api/v1/namespaces",
                       {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
            t0 = time.monotonic()
            create_pods(cp, NS, workload())
            wait_settled(cp)
            show(cp, f"after {time.monotonic() - t0:.1f}s: 4 nodes "
                     "(demo-0..2: 4 cpu, 16Gi; demo-gpu-0: 8 cpu, 2 GPUs, tainted gpu)")

            print("\n-- adding node demo-big-0 (32 cpu) and removing the gate on pod 'gated' ...")
            t1 = time.monotonic()
            cp.create_nodes(1, cpu="32", memory="64Gi", name_prefix="demo-big-")
            cp.request("PATCH", f"/api/v1/namespaces/{NS}/pods/gated",
                       {"spec": {"schedulingGates": None}},
                       content_type="application/strategic-merge-patch+json")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                got = {p["metadata"]["name"]: p["spec"].get("nodeName")
                       for p in list_pods(cp, NS)}
                if got.get("batch-huge") and got.get("gated"):
                    break
                time.sleep(0.2)
            show(cp, f"{time.monotonic() - t1:.1f}s later")

            events = [e for e in list_events(cp, NS)
                      if e.get("reportingController") == "pyscheduler"]
            reasons: dict[str, int] = {}
            for e in events:
                reasons[e["reason"]] = reasons.get(e["reason"], 0) + 1
            print("\n== events written by pyscheduler:",
                  ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())))
            attempts = re.findall(r'scheduler_schedule_attempts_total\{profile="pyscheduler",'
                                  r'result="(\w+)"\} ([\d.e+]+)', sched.metrics())
            print("== scheduler_schedule_attempts_total:",
                  ", ".join(f"{r}={float(v):.0f}" for r, v in attempts))
            if args.keep:
                print(f"\nstill running; admin kubeconfig: {cp.admin_kubeconfig}\n"
                      "Ctrl-C stops everything.")
                try:
                    while True:
                        time.sleep(1)
                        cp.check_alive()
                except KeyboardInterrupt:
                    pass
    print("\ndemo done; control plane stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
