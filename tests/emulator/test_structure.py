"""The emulator's shape: every operation of both catalogs (and the newer ones) has a handler, and the package imports
nothing of ours but the catalog and the shared leaf modules: Shared Key, redaction and the slow-client guard
(never the client or the server)."""

from __future__ import annotations

import ast
from pathlib import Path

from batch_mcp.emulator import handlers
from batch_mcp.emulator.routing import NEWER_OPERATIONS, all_operation_ids

PACKAGE = Path(handlers.__file__).parent
ALLOWED = (
    "batch_mcp.catalog",
    "batch_mcp.sharedkey",
    "batch_mcp.redaction",
    "batch_mcp.slow_clients",
    "batch_mcp.emulator",
)


def test_every_operation_of_both_catalogs_has_a_handler() -> None:
    for version, ops in all_operation_ids().items():
        missing = sorted(op for op in ops if op not in handlers.HANDLERS)
        assert not missing, f"{version}: no handler for {missing}"
    served = set().union(*all_operation_ids().values(), {op[3] for op in NEWER_OPERATIONS})
    assert set(handlers.HANDLERS) == served  # and no handler for an operation nobody serves


def test_handlers_are_distinct_snake_case_functions() -> None:
    names = [h.__name__ for h in handlers.HANDLERS.values()]
    assert len(set(names)) == len(names)
    assert all(name.islower() and " " not in name for name in names)


def test_the_emulator_imports_only_the_catalog_and_shared_leaf_modules() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "batch_mcp" else [node.module]
            for name in names:
                if name.startswith("batch_mcp"):
                    assert name.startswith(ALLOWED), f"{path.name} imports {name}"
