"""``python -m hack.bench`` (``make bench``): pyscheduler against kube-scheduler, and alone.

See docs/BENCHMARKS.md for what is measured and how to read it. Typical uses::

    python -m hack.bench                       # default sizes, both modes (~20 min on 2 cores)
    python -m hack.bench --scale               # adds 1,000 and 5,000 nodes (long)
    python -m hack.bench --mode e2e --workloads SchedulingBasic --sizes 1000 --qps 5000/5000
    python -m hack.bench --mode inproc --inproc-sizes 5000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hack.bench import e2e, inproc, report, workloads
from hack.bench.results import E2EResult, InProcResult
from hack.bench.schedulers import SCHEDULERS, missing_default_plugins

RESULTS_ROOT = Path(__file__).resolve().parent / "results"


def _qps_list(text: str) -> list[tuple[float, int]]:
    out = []
    for part in text.split(","):
        q, _, b = part.partition("/")
        out.append((float(q), int(b or q)))
    return out


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hack.bench", description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("all", "e2e", "inproc"), default="all")
    p.add_argument("--workloads", type=_csv, default=list(workloads.DEFAULT_WORKLOADS),
                   help="comma-separated; default: " + ", ".join(workloads.DEFAULT_WORKLOADS)
                   + "; also: " + ", ".join(n for n in workloads.WORKLOADS
                                            if n not in workloads.DEFAULT_WORKLOADS))
    p.add_argument("--sizes", type=lambda s: tuple(int(x) for x in _csv(s)),
                   default=workloads.DEFAULT_SIZES, help="node counts (end-to-end); default 500")
    p.add_argument("--scale", action="store_true", help="also run 1,000 and 5,000 nodes")
    p.add_argument("--qps", type=_qps_list, default=_qps_list("5000/5000,50/100"),
                   help="client QPS/burst settings, both schedulers (default 5000/5000,50/100)")
    p.add_argument("--schedulers", type=_csv, default=list(SCHEDULERS))
    p.add_argument("--match-profiles", action="store_true",
                   help="give kube-scheduler the same reduced plugin set as pyscheduler")
    p.add_argument("--init-pods", type=int, default=None, help="override every workload's")
    p.add_argument("--measure-pods", type=int, default=None, help="override every workload's")
    p.add_argument("--create-concurrency", type=int, default=32)
    p.add_argument("--timeout-scale", type=float, default=1.0)
    p.add_argument("--drain", action="store_true",
                   help="create the measured pods while the scheduler is stopped, then measure "
                        "from its release (the scheduler's pace without creation)")
    p.add_argument("--kwok-running", action="store_true",
                   help="keep KWOK running while measuring (default: paused, as scheduler_perf "
                        "has no kubelets)")
    p.add_argument("--inproc-sizes", type=lambda s: tuple(int(x) for x in _csv(s)),
                   default=inproc.SIZES)
    p.add_argument("--inproc-pods", type=int, default=2000,
                   help="measured pods per in-process size (capped at 20 per node)")
    p.add_argument("--inproc-all", action="store_true",
                   help="every in-process workload at every size (default: SchedulingBasic at "
                        f"every size, the others at {inproc.OTHERS_AT} nodes)")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--profile-nodes", type=int, default=5000)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--memory-nodes", type=int, default=5000)
    p.add_argument("--memory-pods", type=int, default=100_000)
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default hack/bench/results/<timestamp>)")
    return p


def _versions() -> dict[str, str]:
    """Pinned component versions (hack/versions.env) and pyscheduler's."""
    from pyscheduler import __version__

    out = {"pyscheduler": __version__}
    env = Path(__file__).resolve().parents[1] / "versions.env"
    for line in env.read_text().splitlines() if env.exists() else []:
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            out[key.strip()] = value.strip()
    # Which code was measured: the commit, and whether the tree had local changes.
    try:
        repo = Path(__file__).resolve().parents[2]
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                                "--untracked-files=no", "--", "pyscheduler"],
                               capture_output=True, text=True, check=True).stdout.strip()
        out["git"] = head + (" (pyscheduler/ has uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    return out


def _log(msg: str) -> None:
    print(msg, flush=True)


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    unknown = [w for w in a.workloads if w not in workloads.WORKLOADS]
    if unknown:
        sys.exit(f"unknown workload(s): {', '.join(unknown)}")
    out: Path = a.out or RESULTS_ROOT / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    doc: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv[1:] if argv is None else argv,
        "machine": report.machine_facts(),
        "pyscheduler_disabled_plugins": missing_default_plugins(),
        "versions": _versions(),
        "e2e": [], "inproc": [], "profile": [], "memory": None,
    }
    _log(f"results: {out}")
    e2e_results: list[E2EResult] = []
    in_results: list[InProcResult] = []

    def save() -> None:
        doc["e2e"] = [r.to_json() for r in e2e_results]
        doc["inproc"] = [r.to_json() for r in in_results]
        doc["elapsed_s"] = round(time.monotonic() - t_start, 1)
        report.write_json(out / "results.json", doc)

    if a.mode in ("all", "inproc"):
        _run_inproc(a, out, doc, in_results, save)
    if a.mode in ("all", "e2e"):
        _run_e2e(a, out, e2e_results, save)

    text = ""
    if in_results:
        text += report.inproc_table(in_results) + "\n"
        if doc["profile"]:
            text += f"\nTop hot spots (self time), loop at {a.profile_nodes} nodes:\n"
            for h in doc["profile"]:
                if "error" in h:
                    text += f"  {h['error']}\n"
                    continue
                text += f"  {h['self_pct']:5.1f}%  {h['function']:40} {h['where']}\n"
        if doc["memory"]:
            m = doc["memory"]
            text += ("\nMemory: " + (m.get("error") or
                     f"{m['nodes']:,} nodes + {m['pods']:,} pods cached: RSS "
                     f"{m['rss_mib']:.0f} MiB (peak {m['peak_rss_mib']:.0f} MiB, "
                     f"interpreter baseline {m['baseline_rss_mib']:.0f} MiB)") + "\n")
    if e2e_results:
        text += report.e2e_table(e2e_results) + "\n"
        png = report.plot_e2e(e2e_results, out / "e2e.png")
        if png:
            text += f"\nplot: {png}\n"
    if in_results:
        png = report.plot_inproc(in_results, out / "inproc.png")
        if png:
            text += f"plot: {png}\n"
    m, v = doc["machine"], doc["versions"]
    text += (f"\nmachine: {m.get('cores')} cores, {m.get('memory_gib')} GiB, {m.get('cpu', '?')};"
             f" kube-scheduler {v.get('K8S_VERSION', '?')}, pyscheduler {v.get('pyscheduler')}"
             f" at {v.get('git', '?')}; total {time.monotonic() - t_start:.0f}s;"
             f" results in {out}\n")
    (out / "table.txt").write_text(text)
    save()
    print(text)
    return 0


def _run_inproc(a: argparse.Namespace, out: Path, doc: dict[str, Any],
                results: list[InProcResult], save: Any) -> None:
    specs = [workloads.WORKLOADS[n] for n in a.workloads if n in inproc.RUNNABLE]
    base = {s.name: workloads.plan([s.name], (500,))[0] for s in specs}
    for size in a.inproc_sizes:
        for s in specs:
            if s.name != "SchedulingBasic" and size != inproc.OTHERS_AT and not a.inproc_all:
                continue
            w = inproc.sized(base[s.name], size, a.inproc_pods)
            _log(f"in-process {w.label}: {w.init_pods} init, {w.measure_pods} pods")
            r = inproc.run(w)
            results.append(r)
            _log(f"  -> {r.status} cycle {r.cycle_pods_per_s or 0:.0f} pods/s, "
                 f"loop {r.loop_pods_per_s or 0:.0f} pods/s {r.reason}")
            save()
    if not a.no_profile and "SchedulingBasic" in base:
        w = inproc.sized(base["SchedulingBasic"], a.profile_nodes, a.inproc_pods)
        _log(f"profiling the loop, {w.label} (pyinstrument)")
        doc["profile"] = inproc.profile(w, out)
        save()
    if not a.no_memory:
        _log(f"memory: {a.memory_nodes} nodes + {a.memory_pods} pods cached (child process)")
        doc["memory"] = inproc.memory(a.memory_nodes, a.memory_pods)
        save()


def _run_e2e(a: argparse.Namespace, out: Path, results: list[E2EResult], save: Any) -> None:
    from envtest import find_assets

    assets = find_assets()
    if "kube-scheduler" in a.schedulers and not (assets / "kube-scheduler").exists():
        sys.exit(f"{assets}/kube-scheduler is missing: run `make scheduler-assets`")
    sizes = tuple(dict.fromkeys(a.sizes + (workloads.SCALE_SIZES if a.scale else ())))
    extra = workloads.DEFAULT_EXTRA if not a.scale else ()
    plan = workloads.plan(a.workloads, sizes, extra=extra, init_pods=a.init_pods,
                          measure_pods=a.measure_pods)
    opts = e2e.E2EOptions(assets=assets, results_dir=out,
                          create_concurrency=a.create_concurrency,
                          timeout_scale=a.timeout_scale, match_profiles=a.match_profiles,
                          pause_kwok=not a.kwok_running, drain=a.drain, log=_log)
    for w in plan:
        runs: list[tuple[float, int, str]] = []
        for gi, (qps, burst) in enumerate(a.qps):
            # Alternate which scheduler goes first, so neither always meets the fresher etcd.
            order = a.schedulers if gi % 2 == 0 else list(reversed(a.schedulers))
            runs.extend((qps, burst, name) for name in order)
        _log(f"e2e {w.label}: {w.init_pods} init pods, {w.measure_pods} measured; "
             + ", ".join(f"{n} at {q:g}/{b}" for q, b, n in runs))
        results.extend(e2e.run_workload(w, runs, opts))
        save()


if __name__ == "__main__":
    raise SystemExit(main())
