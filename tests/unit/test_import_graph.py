"""The import graph of the pyscheduler package has no cycle (Go forbids them; we follow).

The graph is read from the source with ast, so nothing is imported and no third-party tool is
needed. It is strict: every import counts, wherever it stands (module level, inside a function,
under ``if TYPE_CHECKING``), and importing ``a.b.c`` also depends on the packages ``a`` and
``a.b`` (Python runs their ``__init__`` first). Two views are checked:

* modules: no cycle at all, except through an edge listed in ``TRANSITIONAL_EDGES``;
* top-level packages (``pyscheduler.framework``, ``pyscheduler.plugins``, ...): no cycle except
  the ones listed in ``KNOWN_PACKAGE_CYCLES``.

Both lists may only shrink: an entry whose edge or cycle is gone fails the test, so whoever
removes the last use deletes the entry too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pyscheduler

ROOT = Path(pyscheduler.__file__).resolve().parent

# Edges that close a cycle, kept only for callers that are not yet moved. Each names them.
TRANSITIONAL_EDGES: dict[tuple[str, str], str] = {}

# Package-level cycles that a later change removes (issue 12, item 3).
KNOWN_PACKAGE_CYCLES: dict[frozenset[str], str] = {}


def _modules() -> dict[str, tuple[Path, bool]]:
    out: dict[str, tuple[Path, bool]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts.pop()
        out[".".join(parts)] = (path, is_pkg)
    return out


def _imports(name: str, path: Path, is_pkg: bool, known: Mapping[str, object],
             skip: Iterable[tuple[str, str]]) -> set[str]:
    """The modules of ``known`` that module ``name`` imports, parents of each included; an
    import (name, target) listed in ``skip`` is left out, with its parents."""
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for a in node.names:
                sub = f"{target}.{a.name}"
                found.add(sub if sub in known else target)
    deps: set[str] = set()
    for mod in found - {t for m, t in skip if m == name}:
        parts = mod.split(".")
        for i in range(1, len(parts) + 1):
            dep = ".".join(parts[:i])
            if dep in known and dep != name and not name.startswith(dep + "."):
                deps.add(dep)
    return deps


def module_graph(skip: Iterable[tuple[str, str]] = ()) -> dict[str, set[str]]:
    """Module -> the pyscheduler modules it imports, but the imports listed in ``skip``."""
    mods = _modules()
    skipped = set(skip)
    return {name: _imports(name, path, is_pkg, mods, skipped)
            for name, (path, is_pkg) in mods.items()}


def package_graph(graph: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """The module graph collapsed onto top-level packages (pyscheduler.<name>)."""

    def top(mod: str) -> str:
        return ".".join(mod.split(".")[:2])

    out: dict[str, set[str]] = {}
    for mod, deps in graph.items():
        out.setdefault(top(mod), set()).update(top(d) for d in deps if top(d) != top(mod))
    return out


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    scc: list[str] = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        scc.append(w)
                        if w == v:
                            break
                    if len(scc) > 1:
                        out.append(sorted(scc))
    return out


def _cycle_path(graph: Mapping[str, Iterable[str]], scc: list[str]) -> list[str]:
    """One concrete cycle inside ``scc``, for the failure message."""
    members = set(scc)
    start = scc[0]
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt: list[str] = []
        for v in frontier:
            for w in sorted(graph.get(v, ())):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w in members and w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    return scc


def _without_transitional() -> dict[str, set[str]]:
    return module_graph(skip=TRANSITIONAL_EDGES)


def test_the_walker_sees_known_edges() -> None:
    g = module_graph()
    assert "pyscheduler.framework.interfaces" in g["pyscheduler.framework.runtime"]
    assert "pyscheduler.framework.registry" in g["pyscheduler.plugins.node_name"]
    # a parent package is a dependency too (but a module's own packages are not)
    assert "pyscheduler.framework" in g["pyscheduler.plugins.node_name"]
    assert "pyscheduler.plugins" not in g["pyscheduler.plugins.node_name"]
    assert "pyscheduler.framework" not in g["pyscheduler.framework.runtime"]


def test_cycles_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_cycle() -> None:
    g = _without_transitional()
    found = [" -> ".join(_cycle_path(g, scc)) for scc in cycles(g)]
    assert found == []


def test_transitional_edges_still_exist() -> None:
    g = module_graph()
    stale = [edge for edge in TRANSITIONAL_EDGES if edge[1] not in g.get(edge[0], set())]
    assert stale == [], "remove these from TRANSITIONAL_EDGES"


def test_no_package_cycle_but_the_known_ones() -> None:
    found = {frozenset(scc) for scc in cycles(package_graph(_without_transitional()))}
    assert sorted(map(sorted, found - set(KNOWN_PACKAGE_CYCLES))) == []
    stale = set(KNOWN_PACKAGE_CYCLES) - found
    assert sorted(map(sorted, stale)) == [], "remove these from KNOWN_PACKAGE_CYCLES"


def test_framework_and_config_import_no_plugin() -> None:
    """The framework defines the registry and imports no plugin (upstream's shape); config
    resolution reads registry entries only through their shape (config.RegisteredPlugin)."""
    g = _without_transitional()
    bad = sorted(
        (m, d) for m, deps in g.items() for d in deps
        if m.startswith(("pyscheduler.framework.", "pyscheduler.config"))
        and d.startswith("pyscheduler.plugins")
    )
    assert bad == []
    assert sorted((m, d) for m, deps in g.items() for d in deps
                  if m.startswith("pyscheduler.config") and
                  d.startswith("pyscheduler.framework")) == []
