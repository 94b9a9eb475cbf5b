"""srem's floors, read from its imports: `python -m tests.layering` prints the package graph,
any import circle, any upward import and the largest files; `tests/test_layering.py`
holds the tree to it.

Every import counts, at the top of a file or inside a function: an import moved into a
function to dodge a circle is still a circle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent

# Lower floors never import higher ones. One floor may import another package of the
# same floor only while the packages form no circle.
FLOORS = {
    "p4target": 0,  # the reference target: compiler, switch, its P4Runtime server
    "topologies": 0,  # substrates, addressing, the one input-error type
    "p4rt": 1,  # the P4Runtime client
    "emac": 2,
    "nfs": 2,
    "placement": 2,  # the model and the placement methods
    "migration": 2,
    "prediction": 2,
    "controller": 3,
    "emulation": 4,
    "srem": 5,  # the application's command line
}
MAX_LINES = 800


def modules() -> dict[str, Path]:
    """Every module of srem's packages by dotted name."""
    out = {}
    for pkg in FLOORS:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _imported(node: ast.AST, me: str, is_pkg: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = me.split(".") if is_pkg else me.split(".")[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, base] if base else parts)
        # `from pkg import mod` imports the module pkg.mod when there is one.
        return [base] + [f"{base}.{a.name}" for a in node.names]
    return []


def graph() -> nx.DiGraph:
    """Module -> module, for imports between srem's own modules."""
    mods = modules()
    g = nx.DiGraph()
    g.add_nodes_from(mods)
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            for target in _imported(node, name, path.name == "__init__.py"):
                # The deepest srem module the name refers to.
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    g.add_edge(name, target)
    return g


def circles(g: nx.DiGraph) -> list[list[str]]:
    """Groups of modules that import each other, directly or around a loop."""
    return [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]


def package_graph(g: nx.DiGraph) -> nx.DiGraph:
    p = nx.DiGraph()
    p.add_nodes_from(FLOORS)
    for a, b in g.edges:
        pa, pb = a.split(".")[0], b.split(".")[0]
        if pa != pb:
            p.add_edge(pa, pb)
    return p


def upward(g: nx.DiGraph) -> list[tuple[str, str]]:
    """Imports from a lower floor into a higher one."""
    return sorted((a, b) for a, b in g.edges if FLOORS[a.split(".")[0]] < FLOORS[b.split(".")[0]])


def largest(n: int = 5) -> list[tuple[int, str]]:
    sizes = [(len(p.read_text().splitlines()), str(p.relative_to(ROOT))) for p in modules().values()]
    return sorted(sizes, reverse=True)[:n]


def main() -> int:
    g = graph()
    p = package_graph(g)
    print("packages by floor (each imports):")
    for pkg in sorted(FLOORS, key=lambda k: (FLOORS[k], k)):
        print(f"  {FLOORS[pkg]} {pkg:<11} -> {', '.join(sorted(p.successors(pkg))) or '-'}")
    bad = circles(g) + [sorted(c) for c in nx.strongly_connected_components(p) if len(c) > 1]
    print(f"module circles: {len(circles(g))}; package circles: {len(bad) - len(circles(g))}")
    for c in bad:
        print("  circle:", " <-> ".join(c))
    up = upward(g)
    print(f"upward imports: {len(up)}")
    for a, b in up:
        print(f"  {a} -> {b}")
    print("largest files:", ", ".join(f"{path} ({n})" for n, path in largest()))
    return 1 if bad or up else 0


if __name__ == "__main__":
    sys.exit(main())
