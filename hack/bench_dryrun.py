"""Speed of `pyscheduler dry-run --snapshot` on a large snapshot, end to end (load included).

    .venv/bin/python -m hack.bench_dryrun [--nodes 5000] [--bound 50000] [--pending 1000]

Writes the snapshot (JSON, as `pyscheduler snapshot -o FILE.json` would) to a temp file, then
times `python -m pyscheduler dry-run --snapshot FILE -o json` as a subprocess (interpreter start,
reading and decoding, informer sync, scheduling every pending pod, output). Target: < 20 s of
wall time. Prints the child's CPU seconds and peak RSS as well.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hack.dryrun_snapshots import as_list, node, pod


def build(nodes: int, bound: int, pending: int) -> dict[str, object]:
    """Nodes in 10 zones (8 cpu, 32Gi); bound pods spread evenly; pending pods of mixed size."""
    items = [node(f"node-{i:05d}", "8", "32Gi", zone=f"zone-{i % 10}") for i in range(nodes)]
    for j in range(bound):
        items.append(pod(f"ns-{j % 50}", f"bound-{j:06d}", cpu="500m", memory="1Gi",
                         node_name=f"node-{j % nodes:05d}"))
    for k in range(pending):
        cpu = ("250m", "1", "2")[k % 3]
        items.append(pod(f"ns-{k % 50}", f"pending-{k:05d}", cpu=cpu, memory="512Mi",
                         priority=(k % 4) * 100))
    return as_list(items)


def main() -> None:
    """Build the snapshot, time the dry run, print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--bound", type=int, default=50000)
    ap.add_argument("--pending", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snapshot.json"
        path.write_text(json.dumps(build(args.nodes, args.bound, args.pending)))
        size = path.stat().st_size / 2**20
        start = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([sys.executable, "-m", "pyscheduler", "dry-run", "--snapshot",
                               str(path), "-o", "json"], capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU seconds too: on a shared machine they move far less than wall time does.
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rss = after.ru_maxrss / 1024
    if proc.returncode not in (0, 1):
        sys.exit(f"dry-run failed ({proc.returncode}): {proc.stderr}")
    pods = json.loads(proc.stdout)["pods"]
    placed = sum(1 for p in pods if p["node"])
    print(f"nodes={args.nodes} bound={args.bound} pending={args.pending} snapshot={size:.0f}MiB "
          f"placed={placed}/{len(pods)} exit={proc.returncode} elapsed={elapsed:.1f}s "
          f"cpu={cpu:.1f}s maxrss={rss:.0f}MiB "
          f"({'under' if elapsed < 20 else 'OVER'} the 20 s target)")


if __name__ == "__main__":
    main()
