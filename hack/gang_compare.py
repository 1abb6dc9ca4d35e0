"""The competing-gangs workload under pyscheduler and under scheduler-plugins' own scheduler.

    make gang-compare                 # builds scheduler-plugins (hack/build-components.sh)
    .venv/bin/python hack/gang_compare.py --repeat 3

One control plane (etcd, kube-apiserver, KWOK) with the scheduler-plugins PodGroup CRD. For
each case (2 groups of 4 for room for 1, 5 for room for 2; the room is the winners plus 3 cpu,
a group less one member) and each scheduler, envtest/gang_workload.py creates the groups and
their interleaved members and samples the API until settled, then everything is deleted. Both
schedulers run Coscheduling with permitWaitingTimeSeconds 10 (scheduler-plugins' example
configuration), scheduler-plugins with its Coscheduling QueueSort as its manifests configure.

What is counted, per run: partial samples (0 < bound < minMember); for pyscheduler, partial
occurrences (a partial sample while its /debug/cache did not hold the rest of the group: not a
bind burst in flight); for scheduler-plugins, whose reservations are not observable, every
partial sample counts, and its log (-v=3) gives its *partial holds*: a group that held members
at Permit ("Pod is waiting to be scheduled to node") and then lost them (PostFilter's
"optimistic rejection", Unreserve's rejection, or the Permit timeout) reserved capacity for a
group that did not complete. And each
group's seconds from creation to full placement. A measurement on a shared 2-core machine:
the times are indicative only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from envtest import ControlPlane, ControlPlaneOptions, find_assets  # noqa: E402
from envtest._process import Process, spawn  # noqa: E402
from envtest.gang_workload import GangRun, run_competing_gangs  # noqa: E402
from envtest.workload import SchedulerProcess  # noqa: E402

CRD = ROOT / "manifests/crds/scheduling.x-k8s.io_podgroups.yaml"
TIMEOUT = 10  # permitWaitingTimeSeconds, both schedulers
PY_CONFIG = f"""apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: pyscheduler
  plugins:
    multiPoint:
      enabled:
      - name: Coscheduling
  pluginConfig:
  - name: Coscheduling
    args:
      permitWaitingTimeSeconds: {TIMEOUT}
"""
SP_CONFIG = """apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
clientConnection:
  kubeconfig: {kubeconfig}
profiles:
- schedulerName: scheduler-plugins
  plugins:
    multiPoint:
      enabled:
      - name: Coscheduling
    queueSort:
      enabled:
      - name: Coscheduling
      disabled:
      - name: "*"
  pluginConfig:
  - name: Coscheduling
    args:
      permitWaitingTimeSeconds: {timeout}
"""
CASES = [(2, 1), (5, 2)]
SIZE = 4
# scheduler-plugins' Permit and PostFilter/Unreserve log lines (-v=3), coscheduling.go.
EVENT = re.compile(r'"(Pod is waiting to be scheduled to node|Permit allows|PostFilter rejects '
                   r'the pod|Unreserve rejects)".*?pod="([^"]+)"')
TIMED_OUT = re.compile(r"rejected due to timeout after waiting")


def _reserved(proc: SchedulerProcess, namespace: str) -> dict[str, int]:
    import json

    status, body = proc.get("/debug/cache")
    counts: dict[str, int] = {}
    if status != 200:
        return counts
    for node in json.loads(body)["nodes"].values():
        for key in node["pods"]:
            ns, _, name = key.partition("/")
            if ns == namespace:
                g = name.rsplit("-", 1)[0]
                counts[g] = counts.get(g, 0) + 1
    return counts


def _teardown(cp: ControlPlane, namespace: str, nodes: list[str]) -> None:
    cp.request("DELETE", f"/api/v1/namespaces/{namespace}/pods", query={"gracePeriodSeconds": 0})
    deadline = time.monotonic() + 60
    while cp.request("GET", f"/api/v1/namespaces/{namespace}/pods")["items"]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"pods of {namespace} not gone")
        time.sleep(0.1)
    cp.delete_nodes(nodes)


def _log_counts(log: Path, offset: int, namespace: str) -> str:
    """From scheduler-plugins' log: how often a group held members at Permit and then lost
    them (a partial hold: capacity reserved for a group that did not complete), how many
    member holds that was, the most members one failed hold had, and Permit timeouts."""
    text = log.read_text(errors="replace")[offset:]
    waiting: dict[str, set[str]] = {}
    episodes = holds = most = 0
    for what, pod in EVENT.findall(text):
        if not pod.startswith(f"{namespace}/"):
            continue
        group = pod.split("/", 1)[1].rsplit("-", 1)[0]
        held = waiting.setdefault(group, set())
        if what.startswith("Pod is waiting"):
            held.add(pod)
        elif what == "Permit allows":
            held.clear()
        elif held:  # rejected while members were held: the group's partial hold ends
            episodes += 1
            holds += len(held)
            most = max(most, len(held))
            held.clear()
    return (f"; partial holds at Permit: {episodes} (members held {holds}, at most {most} "
            f"at once), {len(TIMED_OUT.findall(text))} Permit timeouts")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep-logs", type=Path, help="copy both schedulers' logs here")
    args = ap.parse_args(argv)
    assets = find_assets()
    sp_binary = assets / "kube-scheduler-plugins"
    if not os.access(sp_binary, os.X_OK):
        print(f"{sp_binary} missing: run hack/build-components.sh scheduler-plugins",
              file=sys.stderr)
        return 2
    rows: list[tuple[str, int, int, int, GangRun, str]] = []
    with ControlPlane.start(ControlPlaneOptions()) as cp, \
            tempfile.TemporaryDirectory(prefix="gang-compare-") as tmp:
        work = Path(tmp)
        cp.apply(CRD)
        time.sleep(2.0)  # the CRD's REST endpoint appears shortly after it is Established
        py_cfg = work / "py.yaml"
        py_cfg.write_text(PY_CONFIG)
        py = SchedulerProcess(cp.scheduler_kubeconfig, work / "pyscheduler.log",
                              config=py_cfg).start()
        sp_cfg = work / "sp.yaml"
        sp_cfg.write_text(SP_CONFIG.format(kubeconfig=cp.admin_kubeconfig, timeout=TIMEOUT))
        sp_log = work / "scheduler-plugins.log"
        sp: Process = spawn("scheduler-plugins", [
            str(sp_binary), f"--config={sp_cfg}", "--secure-port=0", "-v=3"], sp_log)
        time.sleep(3.0)  # its informers sync
        try:
            if not sp.alive():
                print(f"scheduler-plugins exited:\n{sp.tail()}", file=sys.stderr)
                return 1
            for rep in range(args.repeat):
                for groups, fit in CASES:
                    for who in ("pyscheduler", "scheduler-plugins"):
                        ns = cp.create_namespace(f"gc-{who[:2]}-")
                        nodes = cp.create_nodes(fit * SIZE + SIZE - 1, cpu="1",
                                                memory="4Gi", pods=10,
                                                name_prefix=f"gc{rep}-{who[:2]}-")
                        offset = len(sp_log.read_text(errors="replace"))

                        def reserved(ns: str = ns) -> dict[str, int]:
                            return _reserved(py, ns)

                        run = run_competing_gangs(
                            cp, ns, groups=groups, fit=fit, size=SIZE, scheduler_name=who,
                            reserved=reserved if who == "pyscheduler" else None,
                            timeout=4 * TIMEOUT + 30)
                        extra = ""
                        if who == "scheduler-plugins":
                            extra = _log_counts(sp_log, offset, ns)
                        rows.append((who, rep, groups, fit, run, extra))
                        print(f"[{rep}] {who:17} {run.summary()}{extra}", flush=True)
                        _teardown(cp, ns, nodes)
        finally:
            py.stop()
            sp.stop(timeout=10)
            if args.keep_logs:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in (work / "pyscheduler.log", sp_log):
                    shutil.copy(log, args.keep_logs / log.name)
    print("\ntotals (scheduler, case: runs, groups placed whole, partial samples, partial "
          "occurrences, median seconds to full placement)")
    for who in ("pyscheduler", "scheduler-plugins"):
        for groups, fit in CASES:
            runs = [r for w, _, g, f, r, _ in rows if (w, g, f) == (who, groups, fit)]
            times = sorted(t for r in runs for t in r.placed_after.values() if t is not None)
            median = f"{times[len(times) // 2]:.2f}" if times else "-"
            print(f"  {who:17} {groups} for {fit}: {len(runs)} runs, "
                  f"{sum(len(r.completed) for r in runs)}/{fit * len(runs)} placed, "
                  f"{sum(r.partial_samples for r in runs)} partial samples, "
                  f"{sum(len(r.occurrences) for r in runs)} occurrences, median {median} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
