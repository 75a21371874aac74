"""List import cycles between the modules of napari_il6assay; exit 1 when there is one.

Usage: ``python scripts/import_cycles.py [SRC]`` (default ``src``). Every ``import`` counts,
at module level or inside a function (a lazy import still ties the two modules together), except
those under ``if TYPE_CHECKING:``. A package's import of its own parent package is no edge.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "napari_il6assay"


def module_files(src: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package under ``src``."""
    mods = {}
    for f in sorted((src / PACKAGE).rglob("*.py")):
        name = ".".join(f.relative_to(src).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = f
    return mods


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement names (``from a import b`` gives ``a`` and ``a.b``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: resolved against the importing module's package
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join(parts + ([node.module] if node.module else []))
    return [base] + [f"{base}.{a.name}" for a in node.names]


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""

    def resolve(name: str) -> str | None:  # a name may be a module or an attribute of one
        parts = name.split(".")
        for k in range(len(parts), 0, -1):
            if ".".join(parts[:k]) in mods:
                return ".".join(parts[:k])
        return None

    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        tree = ast.parse(f.read_text(encoding="utf-8"))
        typing_only = {
            id(sub)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
            for sub in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            for name in _imported(node, m, f.name == "__init__.py"):
                target = resolve(name) if name.startswith(PACKAGE) else None
                if target and target != m and not m.startswith(target + "."):
                    edges[m].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(edges)))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main(argv: list[str]) -> int:
    """Print the cycles; 0 when there is none."""
    edges = import_graph(module_files(Path(argv[0] if argv else "src")))
    found = cycles(edges)
    for comp in found:
        print("cycle: " + " <-> ".join(comp))
        for m in comp:
            print(f"    {m} imports {', '.join(sorted(edges[m] & set(comp)))}")
    print(f"{len(found)} import cycle(s) among {len(edges)} modules")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
