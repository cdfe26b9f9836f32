"""The server's meta tools: full schemas of collapsed models, and a router to every enabled tool.

`tools/list` shows a curated set; `batch_tools` finds and describes the rest and `batch_call`
runs them, through the same validation, guardrails and audit as a listed tool. Reaching a
hidden tool costs one `batch_tools` call (its schema) and one `batch_call`, instead of its
schema riding along in every turn of every conversation.
"""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Any

import mcp_types as types

from batch_mcp.catalog.listing import minified, tool_listing
from batch_mcp.server import render
from batch_mcp.server.selection import ROUTER_TOOLS
from batch_mcp.server.server_tools import ServerTool, object_schema, tool_annotations

if TYPE_CHECKING:
    from batch_mcp.server.server_tools import CallContext


async def _schema(ctx: CallContext, args: dict[str, Any]) -> types.CallToolResult:
    catalog = ctx.engine.catalog
    name = args["model"]
    if name not in catalog.models:
        close = difflib.get_close_matches(name, list(catalog.models), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        return render.error_result(f"No model {name!r} in api-version {catalog.api_version}.{hint}")
    closure = catalog.model_closure({name})
    schema = {"$ref": f"#/$defs/{name}", "$defs": closure}
    return render.text_result(json.dumps(schema, separators=(",", ":")))


async def _tools(ctx: CallContext, args: dict[str, Any]) -> types.CallToolResult:
    engine = ctx.engine
    selection = engine.selection
    name = args.get("name")
    if name:
        tool = engine.tools.get(name)
        if tool is None or name not in selection.enabled:
            return render.error_result(
                f"No enabled tool {name!r}.{selection.meant(name)} Call batch_tools without a name to list them."
            )
        if "arguments" in args:
            return await _run(ctx, name, args.get("arguments") or {}, read_only=True)
        listing = tool_listing(tool)
        listing.pop("outputSchema", None)
        return render.text_result(f"{name} ({_how(selection.is_listed(name), tool.read_only)})\n{minified(listing)}")
    query = (args.get("query") or "").lower()
    toolset = args.get("toolset")
    rows = []
    for tool in engine.tools.values():
        if tool.name not in selection.enabled or selection.is_listed(tool.name):
            continue
        if toolset and tool.toolset != toolset:
            continue
        if query and query not in tool.name and query not in tool.description.lower():
            continue
        rows.append(f"{tool.name} [{tool.toolset}, {tool.guard}]: {tool.description}")
    if not rows:
        toolsets = sorted({tool.toolset for tool in engine.tools.values() if tool.name in selection.enabled})
        if toolset and toolset not in toolsets:
            return render.text_result(f"No toolset {toolset!r}; toolsets: {', '.join(toolsets)}.")
        return render.text_result("No matching tools beyond the listed ones.")
    return render.text_result(
        f"{len(rows)} more tool(s); describe one with batch_tools(name=...); run a read tool with "
        "batch_tools(name=..., arguments={...}), any other with batch_call(name=..., arguments={...}).\n"
        + "\n".join(rows)
    )


def _how(listed: bool, read_only: bool) -> str:
    if listed:
        return "listed: call it directly"
    if read_only:
        return "not listed: run it with batch_tools(name, arguments)"
    return "not listed: run it with batch_call(name, arguments)"


async def _call(ctx: CallContext, args: dict[str, Any]) -> types.CallToolResult:
    return await _run(ctx, args["name"], args.get("arguments") or {}, read_only=False)


async def _run(ctx: CallContext, name: str, arguments: dict[str, Any], *, read_only: bool) -> types.CallToolResult:
    """Route a call; each router takes only the calls its annotations describe (batch_tools: reads,
    batch_call: changes), so neither claims more, or less, than the call it runs."""
    tool = ctx.engine.tools.get(name)
    if tool is None or name in ROUTER_TOOLS:
        meant = ctx.engine.selection.meant(name)
        return render.error_result(f"No tool {name!r} to call.{meant} List them with batch_tools.")
    if tool.read_only and not read_only:
        return render.error_result(f"{name} only reads: run it with batch_tools(name, arguments).")
    if read_only and not tool.read_only:
        return render.error_result(f"{name} can change Batch state: run it with batch_call(name, arguments).")
    return await ctx.engine.call(name, arguments, ctx)


def meta_tools(*, read_only: bool = False) -> dict[str, ServerTool]:
    """The meta tools (the same in read-only mode, where selection leaves batch_call out)."""
    tools = [
        ServerTool(
            name="batch_schema",
            title="Get a model's full schema",
            toolset="meta",
            guard="read",
            description="Full JSON schema of a request model that another tool's schema names as a stub, "
            "e.g. StartTask or NetworkConfiguration.",
            input_schema=object_schema(
                {"model": {"type": "string", "minLength": 1, "description": "Name in a stub's description"}}, ["model"]
            ),
            annotations=tool_annotations(read_only=True, idempotent=True, open_world=False),
            handler=_schema,
        ),
        ServerTool(
            name="batch_tools",
            title="Find more Batch tools",
            toolset="meta",
            guard="read",
            description="List the Batch tools not shown in this list (schedules, certificates, node users, ...), "
            "describe one by name, or run a read-only one (name and arguments).",
            input_schema=object_schema(
                {
                    "query": {"type": "string", "description": "Word to match in names and descriptions"},
                    "toolset": {"type": "string", "description": "e.g. job_schedules, certificates"},
                    "name": {"type": "string", "description": "Tool to describe or run"},
                    "arguments": {"type": "object", "description": "Run it (read-only tools) with these"},
                }
            ),
            annotations=tool_annotations(read_only=True, idempotent=True, open_world=False),
            handler=_tools,
        ),
        ServerTool(
            name="batch_call",
            title="Run a Batch tool that changes something",
            toolset="meta",
            guard="write",
            description="Run a tool found with batch_tools that changes something. Same checks as calling it "
            "directly: destructive ones ask the user first.",
            input_schema=object_schema(
                {
                    "name": {"type": "string", "minLength": 1},
                    "arguments": {"type": "object"},
                },
                ["name"],
            ),
            # Not destructive: it also runs plain writes, and a destructive call it runs asks the user itself.
            annotations=tool_annotations(read_only=False, destructive=False),
            handler=_call,
        ),
    ]
    return {tool.name: tool for tool in tools}
