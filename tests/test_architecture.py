"""The layout holds: no import cycles, no import from a lower layer into a higher one, and
only the report touches matplotlib, only the CLI and the demo print.

The import graph is built statically (``ast``) from every ``.py`` file under
``src/bpnetkit``, counting imports inside functions too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "bpnetkit"

# package (first component after "bpnetkit") -> layer; a module may import only from layers
# with a smaller number, or from its own layer
LAYERS: dict[str, int] = {
    "errors": 1, "config": 1, "utils": 1,
    "dist": 1,  # joining a torch.distributed job (process groups, timeouts)
    "io": 2,  # file formats, and io/models (model files)
    "models": 3,
    "data": 4,
    "train": 5,
    "interpret": 6,
    "motifs": 7,
    "variants": 8,
    "design": 9,
    "steps": 10,
    "pipeline": 11,
    "report": 12,
    "demo": 13,  # the demo runs the pipeline and registers its report section
    "cli": 14,  # the program: every command, including ``bpnetkit demo``
    "testing": 15,
}
# the lazy public API and ``python -m bpnetkit`` sit outside the layers
EXEMPT = {"bpnetkit", "bpnetkit.__main__"}


@dataclass(frozen=True)
class Edge:
    """One import statement: ``source`` imports ``target`` at ``file:line``."""

    source: str
    target: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.source} -> {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _resolve_relative(source: str, is_package: bool, level: int, module: str | None) -> str:
    base = source.split(".") if is_package else source.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _targets(node: ast.AST, source: str, is_package: bool) -> list[str]:
    """The bpnetkit modules one import statement imports."""
    known = modules()
    out: list[str] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == "bpnetkit" or alias.name.startswith("bpnetkit."):
                out.append(alias.name)
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = _resolve_relative(source, is_package, node.level, node.module)
        else:
            base = node.module or ""
        if not (base == "bpnetkit" or base.startswith("bpnetkit.")):
            return []
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            # ``from bpnetkit.x import y`` where y is a submodule imports the submodule
            out.append(sub if sub in known else base)
    return out


def _owner(target: str) -> str:
    """The nearest existing module of a dotted import target (``a.b.c`` -> ``a.b``)."""
    known = modules()
    parts = target.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts) if parts else target


@cache
def import_edges() -> tuple[Edge, ...]:
    """Every import of a bpnetkit module by a bpnetkit module (no self-imports)."""
    edges: dict[Edge, None] = {}  # ordered set: one edge per import statement and target
    for name, path in modules().items():
        tree = ast.parse(path.read_text(), filename=str(path))
        rel = str(path.relative_to(SRC.parent))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for t in _targets(node, name, path.name == "__init__.py"):
                t = _owner(t)
                if t != name:
                    edges[Edge(name, t, rel, node.lineno)] = None
    return tuple(sorted(edges, key=lambda e: (e.file, e.line, e.target)))


def layer_of(module: str) -> int | None:
    """Layer of a module (None for the exempt ones)."""
    if module in EXEMPT:
        return None
    parts = module.split(".")
    if parts[0] != "bpnetkit" or len(parts) < 2:
        return None
    if parts[1] not in LAYERS:
        raise AssertionError(f"module {module} is in no layer: add its package to LAYERS in "
                             f"tests/test_architecture.py (and to docs/architecture.md)")
    return LAYERS[parts[1]]


def layer_violations() -> list[Edge]:
    """Imports from a lower layer (smaller number) into a higher one."""
    bad = []
    for e in import_edges():
        src, dst = layer_of(e.source), layer_of(e.target)
        if src is not None and dst is not None and dst > src:
            bad.append(e)
    return bad


def import_cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {m: set() for m in modules() if m not in EXEMPT}
    for e in import_edges():
        if e.source in graph and e.target in graph:
            graph[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []
    counter = 0

    def strongconnect(v: str) -> None:  # recursion depth is bounded by the module count
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
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
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return sorted(comps)


def _cycle_report(comps: list[list[str]]) -> str:
    lines = []
    for comp in comps:
        members = set(comp)
        lines.append("cycle among " + ", ".join(comp) + ":")
        lines += [f"    {e}" for e in import_edges()
                  if e.source in members and e.target in members]
    return "\n".join(lines)


# -- the graph builder itself ---------------------------------------------------------------
def test_graph_sees_every_kind_of_import():
    """Known imports of the tree are found: top-level, lazy (inside a function) and
    ``from package import submodule``."""
    edges = {(e.source, e.target) for e in import_edges()}
    # top-level ``from bpnetkit.errors import ...``
    assert ("bpnetkit.pipeline.runner", "bpnetkit.errors") in edges
    # lazy import inside a function of the CLI
    assert ("bpnetkit.cli.demo", "bpnetkit.demo.run") in edges
    # every module is parsed, and the exempt ones are not in a layer
    assert "bpnetkit.utils" in modules() and layer_of("bpnetkit") is None
    assert layer_of("bpnetkit.io.models.native") == 2 and layer_of("bpnetkit.report") == 12


def test_relative_and_submodule_imports_are_resolved():
    assert _resolve_relative("bpnetkit.io.models.native", False, 2, "fasta") == \
        "bpnetkit.io.fasta"
    assert _resolve_relative("bpnetkit.io", True, 1, "bed") == "bpnetkit.io.bed"
    tree = ast.parse("from bpnetkit.io import fasta\nfrom bpnetkit.io.fasta import ALPHABET\n"
                     "import bpnetkit.utils\n")
    found = [t for node in tree.body for t in _targets(node, "bpnetkit.demo.simulate", False)]
    assert found == ["bpnetkit.io.fasta", "bpnetkit.io.fasta", "bpnetkit.utils"]


# -- the rules ------------------------------------------------------------------------------
def test_no_import_cycles():
    comps = import_cycles()
    assert not comps, f"{len(comps)} import cycle(s):\n{_cycle_report(comps)}"


def test_no_import_from_a_lower_layer_into_a_higher_one():
    bad = layer_violations()
    lines = [f"{e}  (layer {layer_of(e.source)} -> {layer_of(e.target)})" for e in bad]
    assert not bad, f"{len(bad)} import(s) against the layers:\n" + "\n".join(lines)


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def test_matplotlib_only_in_report_and_never_switching_backends():
    bad = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text(), filename=str(path))
        rel = path.relative_to(SRC.parent)
        in_report = name == "bpnetkit.report" or name.startswith("bpnetkit.report.")
        for node in ast.walk(tree):
            mods: list[str] = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                mods = [node.module or ""]
            if not in_report and any(m == "matplotlib" or m.startswith("matplotlib.")
                                     for m in mods):
                bad.append(f"{rel}:{node.lineno}: imports matplotlib outside report/")
            if any(m == "matplotlib.pyplot" for m in mods) or (
                    isinstance(node, ast.ImportFrom) and node.module == "matplotlib"
                    and any(a.name == "pyplot" for a in node.names)):
                bad.append(f"{rel}:{node.lineno}: imports pyplot (global figure state); "
                           f"build matplotlib.figure.Figure objects")
        for call in _calls(tree):
            f = call.func
            if isinstance(f, ast.Attribute) and f.attr == "use" and \
                    isinstance(f.value, ast.Name) and f.value.id in ("matplotlib", "mpl"):
                bad.append(f"{rel}:{call.lineno}: calls matplotlib.use")
    assert not bad, f"{len(bad)} matplotlib problem(s):\n" + "\n".join(sorted(bad))


def test_library_code_logs_instead_of_printing():
    bad = []
    for name, path in modules().items():
        parts = name.split(".")
        if name in EXEMPT or (len(parts) > 1 and parts[1] in ("cli", "demo")):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for call in _calls(tree):
            if isinstance(call.func, ast.Name) and call.func.id == "print":
                bad.append(f"{path.relative_to(SRC.parent)}:{call.lineno}: print() in library "
                           f"code (use logging.getLogger(__name__))")
    assert not bad, f"{len(bad)} print call(s):\n" + "\n".join(sorted(bad))
