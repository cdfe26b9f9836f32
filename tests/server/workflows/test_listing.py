"""The workflow tools in tools/list: small, annotated honestly, reachable in read-only mode when they
only read; and the workflow prompts render."""

from __future__ import annotations

import mcp
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from batch_mcp.catalog.listing import minified, tool_listing
from batch_mcp.server import assemble
from batch_mcp.server.workflows import prompt_handlers, workflow_prompts, workflow_tools
from batch_mcp.settings import Settings

BUDGET = 2900  # bytes of tools/list for all five tools (the default list must stay within 40 KB)


def test_the_five_tools_fit_their_share_of_the_tools_list() -> None:
    tools = workflow_tools()
    assert set(tools) == {"batch_overview", "task_diagnose", "wait_for", "tasks_submit", "file_tail"}
    assert sum(len(minified(tool_listing(t)).encode()) for t in tools.values()) <= BUDGET
    for tool in tools.values():
        assert len(tool.description) <= 160, tool.name
        assert "oneOf" not in tool.input_schema and "anyOf" not in tool.input_schema


def test_only_tasks_submit_changes_anything_and_it_says_so() -> None:
    tools = workflow_tools()
    for name, tool in tools.items():
        assert tool.annotations["readOnlyHint"] is (name != "tasks_submit"), name
        assert tool.guard == ("write" if name == "tasks_submit" else "read"), name
    assert tools["tasks_submit"].annotations == {
        "readOnlyHint": False,
        "destructiveHint": False,
        "idempotentHint": True,
    }


def test_read_only_mode_keeps_the_reading_workflows_and_drops_submit() -> None:
    parts = assemble(Settings(read_only=True, audit_log=None))
    assert {"batch_overview", "task_diagnose", "wait_for", "file_tail"} <= parts.selection.enabled
    assert "tasks_submit" not in parts.selection.enabled


@pytest.mark.anyio
async def test_the_prompts_list_and_render_through_a_real_client() -> None:
    from mcp.server import Server

    server: Server[object] = Server("prompts-only", **prompt_handlers(workflow_prompts()))
    async with mcp.Client(server) as client:
        listed = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(listed) == {"diagnose_job", "right_size_pool"}
        assert [a.name for a in listed["diagnose_job"].arguments or []] == ["job_id"]
        result = await client.get_prompt("diagnose_job", {"job_id": "render-42"})
        message = result.messages[0].content
        assert isinstance(message, types.TextContent)
        assert "render-42" in message.text and "task_diagnose" in message.text
        with pytest.raises(MCPError):
            await client.get_prompt("right_size_pool", {})
