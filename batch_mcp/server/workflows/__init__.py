"""Agent-sized tools that do in one call what otherwise takes many: the account at a glance, why a
task failed, waiting for a state, submitting thousands of tasks, and tailing a file. They sit
beside the 1:1 catalog tools and go through the same validation, guardrails and audit."""

from __future__ import annotations

from batch_mcp.server.server_tools import ServerTool
from batch_mcp.server.workflows import diagnose, file_tail, overview, submit, waiting
from batch_mcp.server.workflows.prompts import WorkflowPrompt, prompt_handlers, workflow_prompts


def workflow_tools() -> dict[str, ServerTool]:
    tools = (overview.TOOL, diagnose.TOOL, waiting.TOOL, submit.TOOL, file_tail.TOOL)
    return {tool.name: tool for tool in tools}


__all__ = ["WorkflowPrompt", "prompt_handlers", "workflow_prompts", "workflow_tools"]
