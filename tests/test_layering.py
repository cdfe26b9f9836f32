"""The folder layout is the architecture: spec → catalog → client → server, with the emulator
beside them. Dependencies only point down that picture; this test reads every import to keep it so."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "batch_mcp"

# What each layer may import from the project (besides itself). Shared leaf modules: redaction,
# sharedkey (the signing scheme both the client and the emulator implement), settings.
ALLOWED = {
    "catalog": {"redaction"},
    "batch": {"catalog", "redaction", "sharedkey"},
    "emulator": {"catalog", "redaction", "sharedkey"},
    "server": {"catalog", "batch", "emulator", "redaction", "settings", "__version__"},
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
