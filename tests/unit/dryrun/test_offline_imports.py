"""`dry-run --snapshot` is offline: it must not load the Kubernetes client or aiohttp.

Loading them costs about a second of the command's start (kubernetes-asyncio's generated
client), and an offline command has no use for them. This guards the package seams that keep
them out (api.resources apart from api.listwatch, the CLI's serving flags apart from the
server, SchedulerApp importing the API's informers and writers only when it builds them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hack.dryrun_snapshots import as_list, node, pod

PROBE = """
import io, runpy, sys, contextlib
sys.argv = ["pyscheduler", "dry-run", "--snapshot", sys.argv[1], "-o", "json"]
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        runpy.run_module("pyscheduler", run_name="__main__")
    except SystemExit as exit:
        code = exit.code
heavy = sorted(m for m in ("kubernetes_asyncio", "aiohttp", "kopf") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy, "result": json.loads(out.getvalue())}))
"""


def test_snapshot_dry_run_loads_no_client_library(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps(as_list([
        node("n1", "2", "4Gi", zone="a"),
        pod("default", "p1", cpu="500m"),
    ])))
    proc = subprocess.run([sys.executable, "-c", "import json\n" + PROBE, str(snap)],
                          capture_output=True, text=True, check=True)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    assert [p["node"] for p in report["result"]["pods"]] == ["n1"]
    assert report["heavy"] == []
