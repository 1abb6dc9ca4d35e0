"""Output of a dry run: a table (default), JSON or YAML (docs/DRY_RUN.md), --explain as text or
as a DryRunExplanation document, and the --compare-config difference.

Contract: output is deterministic for a given result (no timestamps, pods in result order,
JSON keys in schema order), so golden tests can compare it byte for byte. Unplaced pods show
``<none>`` as node; the message column is last and never truncated (it is upstream's
FailedScheduling text, byte for byte).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from pyscheduler.dryrun.explain import AttemptView, Explanation, NodeScore
from pyscheduler.dryrun.result import API_VERSION, DryRunResult, PodResult
from pyscheduler.model.meta import format_rfc3339

NONE = "<none>"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for r in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)] + [r[-1]]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _victims(p: PodResult) -> str:
    return ",".join(f"{ns}/{n}" for ns, n in p.victims) or NONE


def table(result: DryRunResult) -> str:
    """The default output: one row per pod."""
    rows = [[p.key, p.profile, p.node or NONE, NONE if p.score is None else str(p.score),
             _victims(p), p.message or ""] for p in result.pods]
    return _table(["POD", "PROFILE", "NODE", "SCORE", "VICTIMS", "MESSAGE"], rows)


def to_json(result: DryRunResult) -> str:
    """The versioned JSON document."""
    return json.dumps(result.to_dict(), indent=2) + "\n"


def to_yaml(result: DryRunResult) -> str:
    """The same document as YAML."""
    return yaml.safe_dump(result.to_dict(), sort_keys=False, width=10_000)


def render(result: DryRunResult, output: str) -> str:
    """``--output`` table|json|yaml."""
    if output == "json":
        return to_json(result)
    if output == "yaml":
        return to_yaml(result)
    return table(result)


def _value(v: float | int | str) -> str:
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def _age(seconds: float | None) -> str:
    return NONE if seconds is None else f"{seconds:.0f}s"


def _load_sources(ex: Explanation) -> list[str]:
    out = []
    for rep in ex.load:
        line = (f"  load source {rep.source}: {rep.origin}; {rep.fresh} nodes with a fresh "
                f"sample, {rep.stale} scored by requests")
        if rep.error:
            line += f" (the sample failed: {rep.error})"
        out.append(line)
    return out


def _load_figures(a: AttemptView) -> list[str]:
    rows = []
    for s in a.feasible:
        for plugin, d in sorted(s.details.items()):
            figures = ", ".join(f"{k} {_value(v)}" for k, v in d.figures.items())
            if d.fallback:
                figures = f"{d.fallback}; {figures}" if figures else d.fallback
            rows.append([s.node, plugin, _age(d.sample_age_seconds), figures])
    if not rows:
        return []
    lines = ["  Figures behind the scores (SAMPLE AGE: of the load sample used):"]
    lines.extend("    " + line for line in
                 _table(["NODE", "PLUGIN", "SAMPLE AGE", "FIGURES"], rows).splitlines())
    return lines


def explain_text(ex: Explanation) -> str:
    """--explain as text."""
    out = [f"Pod {ex.pod}"]
    r = ex.result
    if r is not None:
        out.append(f"  result: {'node ' + r.node if r.node else 'stays pending'}"
                   + (f", score {r.score}" if r.score is not None else "")
                   + (f", victims {_victims(r)}" if r.victims else ""))
    out.extend(_load_sources(ex))
    if not ex.attempts:
        out.append("  never attempted" + (f": {r.message}" if r is not None and r.message
                                          else ""))
    for a in ex.attempts:
        out.append("")
        out.append(f"Attempt {a.number}: {a.outcome}")
        if a.note:
            out.append(f"  {a.note}")
        if a.rejected:
            out.append("  Filtered out:")
            rows = [[v.node, v.plugin, ", ".join(v.reasons)] for v in a.rejected]
            out.extend("    " + line for line in
                       _table(["NODE", "PLUGIN", "REASON"], rows).splitlines())
        if a.feasible:
            out.append("  Feasible nodes, best first:")
            plugins = sorted({p for s in a.feasible for p in s.plugins})
            header = ["NODE", "TOTAL", *plugins, ""]
            rows = []
            for s in a.feasible:
                cells = []
                for p in plugins:
                    raw, norm, w = s.plugins.get(p, (0, 0, 1))
                    cells.append(f"{raw}->{norm}x{w}")
                rows.append([s.node, str(s.total), *cells, ""])
            out.extend("    " + line for line in _table(header, rows).splitlines())
            if plugins:
                out.append("    (each plugin: raw -> normalized x weight)")
            out.extend(_load_figures(a))
        if a.suggestions:
            out.append("  Smallest changes that would make it fit:")
            out.extend(f"    - {s}" for s in a.suggestions)
    return "\n".join(out) + "\n"


EXPLANATION_KIND = "DryRunExplanation"


def _plugin_entry(s: NodeScore, plugin: str) -> dict[str, Any]:
    raw, norm, weight = s.plugins[plugin]
    entry: dict[str, Any] = {"raw": raw, "normalized": norm, "weight": weight}
    d = s.details.get(plugin)
    if d is not None:
        entry["figures"] = dict(d.figures)
        entry["sampleAgeSeconds"] = (None if d.sample_age_seconds is None
                                     else round(d.sample_age_seconds, 3))
        entry["fallback"] = d.fallback or None
    return entry


def explain_doc(ex: Explanation) -> dict[str, Any]:
    """--explain as the versioned DryRunExplanation document (docs/DRY_RUN.md)."""
    return {
        "apiVersion": API_VERSION, "kind": EXPLANATION_KIND, "pod": ex.pod,
        "result": ex.result.to_dict() if ex.result is not None else None,
        "loadSources": [{"source": r.source, "origin": r.origin,
                         "checkedAt": format_rfc3339(r.checked_at, micro=True),
                         "freshNodes": r.fresh, "staleNodes": r.stale,
                         "error": r.error or None} for r in ex.load],
        "attempts": [{
            "number": a.number, "outcome": a.outcome, "note": a.note or None,
            "rejected": [{"node": v.node, "plugin": v.plugin, "reasons": list(v.reasons)}
                         for v in a.rejected],
            "feasible": [{"node": s.node, "total": s.total,
                          "plugins": {p: _plugin_entry(s, p) for p in sorted(s.plugins)}}
                         for s in a.feasible],
            "suggestions": list(a.suggestions),
        } for a in ex.attempts],
    }


def explain(ex: Explanation, output: str) -> str:
    """--explain in ``--output``'s form: text for table, else the document."""
    if output == "json":
        return json.dumps(explain_doc(ex), indent=2) + "\n"
    if output == "yaml":
        return yaml.safe_dump(explain_doc(ex), sort_keys=False, width=10_000)
    return explain_text(ex)


def _same_place(p: PodResult, q: PodResult) -> bool:
    if p.victims != q.victims or (p.node is None) != (q.node is None):
        return False
    # Equally scored nodes are one decision: run would pick either at random.
    return p.node == q.node or q.node in p.tied or p.node in q.tied


def compare(base: DryRunResult, other: DryRunResult, output: str) -> str:
    """Pods whose placement differs between the two profiles (node or victims; a different
    node among equally scored ones is not a difference)."""
    theirs = {p.key: p for p in other.pods}
    diffs: list[tuple[PodResult, PodResult | None]] = []
    for p in base.pods:
        q = theirs.get(p.key)
        if q is None or not _same_place(p, q):
            diffs.append((p, q))
    if output in ("json", "yaml"):
        doc: dict[str, Any] = {
            "apiVersion": API_VERSION, "kind": "DryRunComparison",
            "pods": [{"namespace": p.namespace, "name": p.name,
                      "current": p.to_dict(), "other": q.to_dict() if q else None}
                     for p, q in diffs]}
        if output == "json":
            return json.dumps(doc, indent=2) + "\n"
        return yaml.safe_dump(doc, sort_keys=False, width=10_000)
    rows = [[p.key, p.node or NONE, _victims(p), (q.node or NONE) if q else NONE,
             _victims(q) if q else NONE] for p, q in diffs]
    return _table(["POD", "NODE", "VICTIMS", "OTHER NODE", "OTHER VICTIMS"], rows)
