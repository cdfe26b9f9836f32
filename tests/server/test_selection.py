"""Tool selection: the default set fits real clients, and read-only wins over everything."""

from __future__ import annotations

import pytest

from batch_mcp.catalog import load_catalog
from batch_mcp.catalog.listing import minified, tool_listing
from batch_mcp.server import assemble
from batch_mcp.server.meta_tools import meta_tools
from batch_mcp.server.selection import DEFAULT_TOOLS, ROUTER_TOOLS, SelectionError, select
from batch_mcp.server.workflows import workflow_tools
from batch_mcp.settings import Settings
from tests.conftest import API_VERSIONS


def all_tools(version: str = "2024-02-01.19.0", read_only: bool = False):
    return {**load_catalog(version).tools, **meta_tools(read_only=read_only), **workflow_tools()}


@pytest.mark.parametrize("version", API_VERSIONS)
def test_default_set_fits_cursor_and_the_40_kb_budget(version: str) -> None:
    parts = assemble(Settings(api_version=version))
    tools = {**parts.catalog.tools, **parts.server_tools}
    listing = minified({"tools": [tool_listing(tools[n]) for n in parts.selection.listed]})
    assert len(parts.selection.listed) <= 40
    assert len(listing.encode()) <= 40_000  # 40 KB, counted in thousands to leave no doubt
    assert {"pool_list", "node_list", "job_add", "task_list", "task_file_get"} <= set(parts.selection.listed)


def test_every_default_tool_name_exists_in_some_catalog() -> None:
    """A typo in DEFAULT_TOOLS would silently shrink the default set; each name must be a tool of
    one of the catalogs (some exist only in one version) or of the server itself."""
    known = set(all_tools("2018-08-01.7.0")) | set(all_tools("2024-02-01.19.0"))
    assert set(DEFAULT_TOOLS) <= known


def test_tools_outside_the_list_stay_reachable_through_the_router() -> None:
    selection = select(all_tools())
    assert "job_schedule_add" in selection.enabled
    assert not selection.is_listed("job_schedule_add")
    assert set(ROUTER_TOOLS) <= set(selection.listed)


def test_listing_everything_drops_the_router() -> None:
    selection = select(all_tools(), toolsets=["all"])
    assert not set(ROUTER_TOOLS) & set(selection.listed)
    assert len(selection.listed) == len(all_tools()) - len(ROUTER_TOOLS)


def test_read_only_wins_over_an_explicit_allow_list() -> None:
    tools = all_tools(read_only=True)
    selection = select(tools, allow=["pool_delete", "pool_list", "job_add"], read_only=True)
    assert selection.listed == ("pool_list",)
    assert "pool_delete" not in selection.enabled


def test_read_only_exposes_nothing_that_can_change_state() -> None:
    tools = all_tools(read_only=True)
    for toolsets in (["default"], ["all"]):
        selection = select(tools, toolsets=toolsets, read_only=True)
        for name in selection.enabled:
            assert tools[name].annotations["readOnlyHint"] is True, name


def test_exclude_beats_toolsets_and_allow_list() -> None:
    selection = select(all_tools(), toolsets=["pools"], exclude=["pool_delete"])
    assert "pool_delete" not in selection.enabled
    selection = select(all_tools(), allow=["pool_delete", "pool_get"], exclude=["pool_delete"])
    assert selection.listed == ("pool_get",)


def test_allow_list_offers_exactly_the_named_tools() -> None:
    selection = select(all_tools(), toolsets=["all"], allow=["pool_get", "job_get"])
    assert selection.listed == ("job_get", "pool_get") or set(selection.listed) == {"pool_get", "job_get"}
    assert selection.enabled == frozenset({"pool_get", "job_get"})


def test_unknown_names_are_reported() -> None:
    with pytest.raises(SelectionError, match="nope"):
        select(all_tools(), allow=["nope"])
    with pytest.raises(SelectionError, match="poolz"):
        select(all_tools(), toolsets=["poolz"])


def test_readme_tables_are_generated_from_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from batch_mcp.docs_gen import README, render

    for name in list(os.environ):
        if name.startswith(("BATCH_MCP_", "AZURE_BATCH_")):
            monkeypatch.delenv(name)
    current = README.read_text(encoding="utf-8")
    assert render(current) == current, "README is stale: run python -m batch_mcp.docs_gen"
