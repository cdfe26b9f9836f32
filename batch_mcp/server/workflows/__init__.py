"""Agent-sized tools that do in one call what otherwise takes many."""

from __future__ import annotations

from batch_mcp.server.server_tools import ServerTool


def workflow_tools() -> dict[str, ServerTool]:
    return {}
