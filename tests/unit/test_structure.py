"""The package's shape: no import cycle, each layer importing only its own and those below
(docs/architecture.md), every module short enough to read.

Modules are found as installed (``tables/``, ``transforms/`` and ``loaders/`` are
``gim_faust.tables``, ...); every import counts, also those inside functions, since a cycle
hidden in a function is still two modules that cannot be understood one without the other.
Imports under ``if TYPE_CHECKING:`` do not: they name the type of an object handed down by
the caller (the GSP service hands itself to its channels), which is no dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"gim_faust": REPO / "gim_faust", "gim_faust.tables": REPO / "tables",
         "gim_faust.transforms": REPO / "transforms", "gim_faust.loaders": REPO / "loaders"}


def modules() -> dict[str, Path]:
    found = {}
    for package, root in ROOTS.items():
        for path in root.rglob("*.py"):
            parts = [*path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project's modules ``name`` imports (``from package import module`` included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    tree = ast.parse(path.read_text())
    for guard in ast.walk(tree):
        if isinstance(guard, ast.If) and ast.unparse(guard.test).endswith("TYPE_CHECKING"):
            guard.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([package.rsplit(".", node.level - 1)[0], base]).strip(".")
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        out |= {target for target in targets if target in known and target != name}
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph = {name: imports(name, path, set(known)) for name, path in known.items()}
    # A package's __init__ that re-exports its modules is not a cycle with them.
    return {name: {t for t in targets if not name.startswith(f"{t}.")}
            for name, targets in graph.items()}


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


# docs/architecture.md: a layer imports from its own layer and those below it, and no
# service imports another.
LAYERS = (
    ("wire models", {"models", "errors"}),
    ("pure core", {"transforms"}),
    ("libraries", {"tables", "loaders", "postgres", "objectstore", "kafka", "topics",
                   "settings", "metrics", "log_limit", "collector"}),
    ("services", {"gca", "gsp", "gim"}),
    ("commands", {"commands", "__main__", "simulate"}),
)


def part(module: str) -> str:
    """The top-level part of the package a module belongs to (``gim_faust.gsp.engine``: gsp)."""
    return module.split(".")[1] if "." in module else module


def layer(module: str) -> int:
    name = part(module)
    for level, (_, parts) in enumerate(LAYERS):
        if name in parts:
            return level
    raise AssertionError(f"{module} is in no layer of docs/architecture.md")


def forbidden(module: str, target: str) -> bool:
    if part(target) == part(module):
        return False
    services = LAYERS.index(next(entry for entry in LAYERS if entry[0] == "services"))
    return layer(target) > layer(module) or layer(target) == layer(module) == services


def test_each_layer_imports_only_from_its_own_and_below() -> None:
    wrong = [f"{module} ({LAYERS[layer(module)][0]}) imports {target} "
             f"({LAYERS[layer(target)][0]})"
             for module, targets in sorted(import_graph().items()) if module != "gim_faust"
             for target in sorted(targets) if target != "gim_faust" and forbidden(module, target)]
    assert not wrong, "\n".join(wrong)


# A module longer than this holds more than one thing; split it where its parts meet.
MODULE_LINES_MAX = 400


def test_no_module_is_over_the_limit() -> None:
    long = {name: lines for name, path in modules().items()
            if (lines := len(path.read_text().splitlines())) > MODULE_LINES_MAX}
    assert not long, f"over {MODULE_LINES_MAX} lines: {long}"


def test_the_cycle_check_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
