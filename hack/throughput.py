"""End-to-end throughput of `pyscheduler run` on the real apiserver with KWOK nodes.

Pods are created first, with no scheduler running, so pod creation is not what is measured;
then pyscheduler starts, and the clock runs from the moment it reports ready (informers synced)
until the last pod has a nodeName. Prints pods/s, and the scheduler's CPU seconds and peak RSS.

    KUBEBUILDER_ASSETS=$(hack/build-components.sh) .venv/bin/python -m hack.throughput \
        --nodes 1000 --pods 10000 --qps 5000 --burst 5000

The full benchmark against kube-scheduler is `make bench` (hack/bench/); this is the quick
check used in issue notes.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from envtest import ControlPlane
from envtest.workload import (
    SchedulerProcess,
    create_pods,
    pod_manifest,
    runnable_config_yaml,
)


def count_bound(cp: ControlPlane, ns: str) -> int:
    # resourceVersion=0: served from the watch cache, cheap enough to poll.
    items = cp.request("GET", f"/api/v1/namespaces/{ns}/pods",
                       query={"resourceVersion": "0"})["items"]
    return sum(1 for p in items if p["spec"].get("nodeName"))


def proc_stats(pid: int) -> tuple[float, float]:
    """CPU seconds (user+sys) and peak RSS in MiB of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cpu, peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--qps", type=float, default=5000)
    ap.add_argument("--burst", type=int, default=5000)
    ap.add_argument("--profile", type=Path, default=None,
                    help="write a py-spy collapsed-stack profile of the measured run here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pyscheduler-throughput-"))
    with ControlPlane.start() as cp:
        t = time.monotonic()
        cp.create_nodes(args.nodes, cpu="32", memory="128Gi", pods=110, timeout=300)
        ns = cp.create_namespace("throughput-")
        pods = [pod_manifest(f"p-{i}", cpu="100m", memory="128Mi") for i in range(args.pods)]
        create_pods(cp, ns, pods, concurrency=32)
        print(f"{args.nodes} nodes and {args.pods} pods created in {time.monotonic() - t:.1f}s")
        config = work / "config.yaml"
        config.write_text(runnable_config_yaml())
        with SchedulerProcess(cp.scheduler_kubeconfig, work / "pyscheduler.log", config=config,
                              extra_args=["--kube-api-qps", str(args.qps),
                                          "--kube-api-burst", str(args.burst)]) as sched:
            sched.start(timeout=300)
            assert sched.proc is not None
            spy = None
            if args.profile is not None:
                spy = subprocess.Popen(["py-spy", "record", "-p", str(sched.proc.pid), "-r", "100",
                                        "-f", "raw", "-o", str(args.profile)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t0 = time.monotonic()
            last = 0
            while True:
                n = count_bound(cp, ns)
                if n >= args.pods:
                    break
                if time.monotonic() - t0 > 1800:
                    print(f"timeout: {n}/{args.pods} bound")
                    return 1
                if n != last:
                    last = n
                time.sleep(0.5)
            elapsed = time.monotonic() - t0
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
            cpu, rss = proc_stats(sched.proc.pid)
    print(f"nodes={args.nodes} pods={args.pods} qps={args.qps:g}/{args.burst}: "
          f"all bound in {elapsed:.1f}s = {args.pods / elapsed:.0f} pods/s; "
          f"scheduler CPU {cpu:.1f}s, peak RSS {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
