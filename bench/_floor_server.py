"""The floor for bench/server_overhead.py: a one-tool server on the bare MCP SDK whose tool makes
the same Batch client call as batch-mcp's pool_get. It imports nothing of batch-mcp until the
first call, so its cold start is the SDK's own. Usage as a stdio server: _floor_server.py ENDPOINT"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server

# The same result shape as batch-mcp's pool_get (structured content checked by the client against an
# output schema, plus text), so the comparison is of the frameworks and not of the replies.
OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "state": {"type": "string"},
        "allocationState": {"type": "string"},
        "vmSize": {"type": "string"},
        "currentDedicatedNodes": {"type": "integer"},
        "targetDedicatedNodes": {"type": "integer"},
    },
}
TOOL = types.Tool(
    name="pool_get",
    input_schema={"type": "object", "properties": {"pool_id": {"type": "string"}}},
    output_schema=OUTPUT_SCHEMA,
)


def floor_server(endpoint: str) -> Server[Any]:
    clients: list[Any] = []

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[TOOL])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        if not clients:
            from batch_mcp.batch import BatchClient
            from batch_mcp.catalog import load_catalog

            clients.append(BatchClient(load_catalog(), endpoint))
        result = await clients[0].call("pool_get", params.arguments or {})
        return types.CallToolResult(
            content=[types.TextContent(text=json.dumps(result.data))], structured_content=result.data
        )

    return Server("floor", on_list_tools=list_tools, on_call_tool=call_tool)


async def main() -> None:
    from mcp.server.stdio import stdio_server

    server = floor_server(sys.argv[1])
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
