"""The comparison table, the JSON file and the PNG plots.

Contract: :func:`e2e_table` and :func:`inproc_table` return plain text (printed by the runner
and kept in ``table.txt``); :func:`write_json` writes everything a later comparison needs,
machine facts included; :func:`plot_e2e` / :func:`plot_inproc` draw PNGs with matplotlib's Agg
backend and return None (with a printed note) when matplotlib is not installed, so a run never
fails on its plot.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hack.bench.results import OK, E2EResult, InProcResult, ratio
from hack.bench.schedulers import (
    BIND_CEILING,
    BIND_EVENT_CEILING,
    CEILINGS,
    KUBE_SCHEDULER,
    PYSCHEDULER,
)
from hack.bench.workloads import WORKLOADS


def _f(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def machine_facts() -> dict[str, Any]:
    facts: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    facts["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    facts["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return facts


Group = tuple[float, int, str]  # qps, burst, mode


def _group(r: E2EResult) -> Group:
    return (r.qps, r.burst, r.mode)


def _groups(results: Sequence[E2EResult]) -> list[Group]:
    seen: list[Group] = []
    for r in results:
        if _group(r) not in seen:
            seen.append(_group(r))
    return seen


def _title(g: Group) -> str:
    qps, burst, mode = g
    text = f"QPS/burst {qps:g}/{burst}"
    return text + (", drain" if mode == "drain" else "")


# Row order within a workload.
ALL = (KUBE_SCHEDULER, PYSCHEDULER, BIND_CEILING, BIND_EVENT_CEILING)


def _rows_by_workload(results: Iterable[E2EResult]) -> dict[tuple[str, int], dict[str, E2EResult]]:
    out: dict[tuple[str, int], dict[str, E2EResult]] = {}
    for r in results:
        out.setdefault((r.workload, r.nodes), {})[r.scheduler] = r
    return out


def e2e_table(results: Sequence[E2EResult]) -> str:
    lines: list[str] = []
    # The widest workload label sets the first column (the longest scheduler_perf names are
    # over 50 characters).
    w = max([34, *(len(f"{r.workload}/{r.nodes}Nodes") for r in results)])
    head = (f"{'workload':{w}} {'scheduler':18} {'pods/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'CPU s':>7} {'RSS MiB':>8} {'created/s':>10} {'ratio':>6} {'p99 ratio':>9} "
            f"{'of ceiling':>10}")
    for g in _groups(results):
        qps, burst, mode = g
        lines.append("")
        lines.append(f"End-to-end, client QPS/burst {qps:g}/{burst} for both schedulers "
                     "(ratio = pyscheduler/kube-scheduler pods/s; p99 ratio < 1 is better; "
                     "of ceiling = pods/s / bind-ceiling's pods/s)")
        if mode == "drain":
            lines.append("DRAIN mode: pods created while the scheduler was stopped; pods/s and "
                         "latency count from its release (creation excluded)")
        lines.append(head)
        lines.append("-" * len(head))
        group = [r for r in results if _group(r) == g]
        notes: list[str] = []
        starred = False
        for (wl, nodes), by in _rows_by_workload(group).items():
            any_r = next(iter(by.values()))
            label = f"{wl}/{nodes}Nodes"
            sub = f"  ({any_r.init_pods} init, {any_r.measure_pods} measured)"
            first = True
            ceiling = by.get(BIND_CEILING)
            top = ceiling.pods_per_s if ceiling is not None and ceiling.status == OK else None
            for name in ALL:
                r = by.get(name)
                if r is None:
                    continue
                left = label if first else sub
                first = False
                if r.status != OK:
                    why = r.reason.splitlines()[0] if r.reason else ""
                    lines.append(f"{left:{w}} {name:18} {r.status.upper():>8}  {why}")
                    if r.status != "n/a" and r.pods_per_s is not None:
                        lines.append(f"{'':{w}} {'':18} {_f(r.pods_per_s):>8} {_f(r.p50_ms):>8} "
                                     f"{_f(r.p99_ms):>8}  (partial)")
                    continue
                ks = by.get(KUBE_SCHEDULER)
                rt = p99r = None
                if name == PYSCHEDULER and ks is not None and ks.status == OK:
                    rt = ratio(r.pods_per_s, ks.pods_per_s)
                    p99r = ratio(r.p99_ms, ks.p99_ms)
                frac = (ratio(r.pods_per_s, top)
                        if top is not None and name not in CEILINGS else None)
                created = r.measure_pods / r.create_s if r.create_s else None
                # Creation at about the measured rate: the API server, not the scheduler, was
                # the limit (both schedulers share it; see docs/BENCHMARKS.md).
                mark = " "
                if (r.mode == "create" and created and r.pods_per_s
                        and created < r.pods_per_s * 1.2):
                    mark = "*"
                lines.append(
                    f"{left:{w}} {name:18} {_f(r.pods_per_s):>8} {_f(r.p50_ms):>8} "
                    f"{_f(r.p99_ms):>8} {_f(r.cpu_s, 2):>7} {_f(r.peak_rss_mib):>8} "
                    f"{_f(created, 0):>9}{mark} "
                    f"{_f(rt, 2) if rt is not None else '':>6} "
                    f"{_f(p99r, 2) if p99r is not None else '':>9} "
                    f"{_f(frac, 2) if frac is not None else '':>10}"
                )
                if mark == "*":
                    starred = True
            if first:  # nothing printed
                continue
            if len(by) == 1:
                lines.append(f"{sub:{w}}")
            events_top = by.get(BIND_EVENT_CEILING)
            fracs = [(n, ratio(by[n].pods_per_s, events_top.pods_per_s))
                     for n in (KUBE_SCHEDULER, PYSCHEDULER)
                     if events_top is not None and events_top.status == OK
                     and events_top.pods_per_s and n in by and by[n].status == OK
                     and by[n].pods_per_s]
            if fracs:
                lines.append(f"{'':{w}} of the bind+event ceiling: " + ", ".join(
                    f"{n} {_f(f, 2)}" for n, f in fracs))
            gangs = [(n, by[n]) for n in ALL
                     if n in by and by[n].gang_size and by[n].status == OK]
            if gangs:
                lines.append(f"{'':{w}} groups of {gangs[0][1].gang_size}: " + ", ".join(
                    f"{n} {_f(r.groups_per_s, 2)} groups/s ({r.partial_groups} left partial)"
                    for n, r in gangs))
            cpu = [(n, by[n]) for n in ALL
                   if n in by and by[n].status == OK and by[n].machine_busy is not None]
            if cpu:
                lines.append(f"{'':{w}} CPU s in the timed phase (process, kube-apiserver, "
                             "etcd; all cores busy): " + "; ".join(
                                 f"{n} {_f(r.cpu_s, 1)}, {_f(r.apiserver_cpu_s, 1)}, "
                                 f"{_f(r.etcd_cpu_s, 1)}; {_f((r.machine_busy or 0) * 100, 0)}%"
                                 for n, r in cpu))
            spec = WORKLOADS.get(wl)
            if spec is not None and spec.note and f"{wl}: {spec.note}" not in notes:
                notes.append(f"{wl}: {spec.note}")
        disabled = sorted({p for r in group if r.scheduler == PYSCHEDULER
                           for p in r.disabled_plugins})
        if disabled:
            lines.append(f"pyscheduler profile without (not registered yet): {', '.join(disabled)}")
        ks_disabled = sorted({p for r in group if r.scheduler == KUBE_SCHEDULER
                              for p in r.disabled_plugins})
        lines.append("kube-scheduler profile: " + (
            f"default minus {', '.join(ks_disabled)} (--match-profiles)" if ks_disabled
            else "all default plugins"))
        if starred:
            lines.append("* pods were created at about the rate they were bound: the shared API "
                         "server, not the scheduler, set the pace")
        lines.extend(f"note: {n}" for n in notes)
    return "\n".join(lines)


def inproc_table(results: Sequence[InProcResult]) -> str:
    head = (f"{'workload':26} {'nodes':>7} {'init':>7} {'pods':>6} {'cycle pods/s':>13} "
            f"{'cycle p50 us':>13} {'cycle p99 us':>13} {'loop pods/s':>12} {'RSS MiB':>8}")
    lines = ["", "In-process (no API; every node evaluated; one core)", head, "-" * len(head)]
    for r in results:
        if r.status != OK:
            lines.append(f"{r.workload:26} {r.nodes:>7,} {r.init_pods:>7,} {r.measure_pods:>6,} "
                         f" {r.status.upper()}: {r.reason}")
            continue
        lines.append(
            f"{r.workload:26} {r.nodes:>7,} {r.init_pods:>7,} {r.measure_pods:>6,} "
            f"{_f(r.cycle_pods_per_s, 0):>13} {_f(r.cycle_p50_us, 0):>13} "
            f"{_f(r.cycle_p99_us, 0):>13} {_f(r.loop_pods_per_s, 0):>12} {_f(r.rss_mib):>8}"
        )
    return "\n".join(lines)


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2, default=str))


def _matplotlib() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed (pip install -e '.[bench]'): no PNG")
        return None
    return plt


def plot_e2e(results: Sequence[E2EResult], path: Path) -> Path | None:
    groups = _groups(results)
    if not groups:
        return None
    plt = _matplotlib()
    if plt is None:
        return None
    fig, axes = plt.subplots(len(groups), 2, figsize=(15, 4.8 * len(groups)), squeeze=False)
    colors = {KUBE_SCHEDULER: "#326ce5", PYSCHEDULER: "#f2a900"}
    for gi, g in enumerate(groups):
        rows = _rows_by_workload([r for r in results if _group(r) == g])
        labels = [f"{wl}\n{n} nodes" for wl, n in rows]
        x = range(len(labels))
        width = 0.38
        ax_t, ax_l = axes[gi]
        for si, name in enumerate((KUBE_SCHEDULER, PYSCHEDULER)):
            xs = [i + (si - 0.5) * width for i in x]
            thr = [0.0] * len(labels)
            p50 = [0.0] * len(labels)
            p99 = [0.0] * len(labels)
            for i, by in enumerate(rows.values()):
                r = by.get(name)
                if r is not None and r.status == OK:
                    thr[i] = r.pods_per_s or 0.0
                    p50[i] = r.p50_ms or 0.0
                    p99[i] = r.p99_ms or 0.0
                elif r is not None:
                    ax_t.text(xs[i], 0, r.status, ha="center", va="bottom", fontsize=7,
                              rotation=90)
            ax_t.bar(xs, thr, width, label=name, color=colors[name])
            ax_l.bar(xs, p99, width, label=f"{name} p99", color=colors[name], alpha=0.45)
            ax_l.bar(xs, p50, width, label=f"{name} p50", color=colors[name])
        for ax, title, unit in ((ax_t, "throughput", "pods/s"),
                                (ax_l, "scheduling latency (create to bound)", "ms")):
            ax.set_xticks(list(x))
            ax.set_xticklabels(labels, fontsize=7, rotation=25, ha="right")
            ax.set_ylabel(unit)
            ax.set_title(f"{title}, {_title(g)}")
            ax.legend(fontsize=7)
            ax.grid(axis="y", alpha=0.3)
        ax_l.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_inproc(results: Sequence[InProcResult], path: Path) -> Path | None:
    ok = [r for r in results if r.status == OK]
    if not ok:
        return None
    plt = _matplotlib()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for wl in dict.fromkeys(r.workload for r in ok):
        rs = sorted((r for r in ok if r.workload == wl), key=lambda r: r.nodes)
        ax.plot([r.nodes for r in rs], [r.cycle_pods_per_s or 0 for r in rs], "o-",
                label=f"{wl} (cycle)")
        ax.plot([r.nodes for r in rs], [r.loop_pods_per_s or 0 for r in rs], "s--",
                label=f"{wl} (loop)")
    ax.axhline(2000, color="grey", lw=0.8, ls=":", label="target at 5,000 nodes")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("nodes")
    ax.set_ylabel("pods/s")
    ax.set_title("pyscheduler in-process (no API), every node evaluated")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
