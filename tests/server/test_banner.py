"""The start-up banner says what this server offers, in the words of the settings that chose it."""

from __future__ import annotations

from pathlib import Path

from batch_mcp.server import assemble
from batch_mcp.server.banner import banner
from tests.server.conftest import make_settings


def test_an_allow_list_is_named_as_tools_not_as_toolsets(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, toolsets=["default"], tools=["pool_list", "job_list"])
    text = banner(assemble(settings), no_confirm=False)
    assert "2 listed, 2 enabled (tools: pool_list,job_list)" in text, text
    assert "toolsets: pool_list" not in text

    by_toolset = banner(assemble(make_settings(tmp_path, toolsets=["pools", "jobs"])), no_confirm=False)
    assert "(toolsets: pools,jobs)" in by_toolset, by_toolset


def test_excluded_tools_are_named(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, toolsets=["default"], exclude_tools=["job_delete"])
    text = banner(assemble(settings), no_confirm=False)
    assert "excluding job_delete" in text, text
