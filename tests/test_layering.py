"""The folder layout is the architecture: spec → catalog → client → server, with the emulator
beside them. Dependencies only point down that picture; this test reads every import to keep it so."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "batch_mcp"

# What each layer may import from the project (besides itself). Shared leaf modules: redaction,
# sharedkey (the signing scheme both the client and the emulator implement), slow_clients (the
# HTTP servers' guard against trickling clients), settings.
ALLOWED = {
    "catalog": {"redaction"},
    "batch": {"catalog", "redaction", "sharedkey"},
    "emulator": {"catalog", "redaction", "sharedkey", "slow_clients"},
    "server": {"catalog", "batch", "emulator", "redaction", "settings", "slow_clients", "__version__"},
}


def project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("batch_mcp"):
            parts = node.module.split(".")
            if len(parts) == 1:  # from batch_mcp import x
                found.update(alias.name for alias in node.names)
            else:
                found.add(parts[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("batch_mcp."):
                    found.add(alias.name.split(".")[1])
    return found


def test_each_layer_imports_only_the_layers_below_it() -> None:
    problems = []
    for layer, allowed in ALLOWED.items():
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            for imported in project_imports(path) - allowed - {layer}:
                problems.append(f"{path.relative_to(PACKAGE.parent)} imports batch_mcp.{imported}")
    assert problems == []


def test_the_emulator_never_imports_the_client_or_the_server() -> None:
    for path in (PACKAGE / "emulator").rglob("*.py"):
        assert not project_imports(path) & {"batch", "server"}, path


def _module_graph() -> dict[str, set[str]]:
    """Every project module and the project modules it imports (type-checking and lazy imports too)."""
    modules: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("batch_mcp"):
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    found.add(child if child in modules else node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.startswith("batch_mcp"))
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_no_module_imports_one_that_imports_it_back() -> None:
    """Import cycles, even through `TYPE_CHECKING` blocks, mean two modules are one in disguise:
    each cycle found is reported as the set of modules in it (Tarjan's strongly connected components)."""
    graph = _module_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = [stack.pop()]
            while component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    assert cycles == []
