"""The guard review is data, complete and current: every tool that can change something in either
catalog has a row in docs/guards.md, every write tool a review note, and every command line and
pool size the spec allows in a request is covered by an effect rule the guardrails act on."""

from __future__ import annotations

from typing import Any

import pytest

from batch_mcp.catalog import load_catalog
from batch_mcp.docs_gen import DOC_SECTIONS, README, render
from batch_mcp.server.execution import command_lines
from batch_mcp.server.limits import formula_holders, target_sizes
from tests.conftest import API_VERSIONS

GUARDS_DOC = README.parent / "docs" / "guards.md"


def test_the_review_table_is_current_and_lists_every_tool_that_changes_something() -> None:
    current = GUARDS_DOC.read_text(encoding="utf-8")
    assert render(current, DOC_SECTIONS[GUARDS_DOC]) == current, "run python -m batch_mcp.docs_gen"
    for version in API_VERSIONS:
        for tool in load_catalog(version):
            if tool.guard != "read":
                assert f"| `{tool.name}` |" in current, tool.name
            if tool.guard == "write":
                assert tool.review, f"{version} {tool.name} has no review note"


def _fill(pointer: str, value: Any) -> dict[str, Any]:
    """Arguments with `value` at `pointer` (`*` as a one-item list)."""
    parts = pointer.strip("/").split("/")
    node: Any = value
    for part in reversed(parts):
        node = [node] if part == "*" else {part: node}
    return node


@pytest.mark.parametrize("version", API_VERSIONS)
def test_what_the_guardrails_find_is_what_the_catalog_declares(version: str) -> None:
    for tool in load_catalog(version):
        for effect in tool.effects:
            if effect.guard == "exec":
                found = list(command_lines(_fill(effect.field, "run-me")))
                assert [text for _, text in found] == ["run-me"], (tool.name, effect.field)
            elif effect.guard == "max_nodes" and effect.field.endswith("autoScaleFormula"):
                assert len(list(formula_holders(_fill(effect.field, "$TargetDedicatedNodes = 1;")))) == 1
            elif effect.guard == "max_nodes":
                assert target_sizes(_fill(effect.field, 7)) == [7], (tool.name, effect.field)
