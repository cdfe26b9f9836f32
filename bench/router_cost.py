"""What reaching a tool outside the default `tools/list` costs, against listing everything.

    python bench/router_cost.py

Through `batch_tools` (find, describe, and run a read-only one) and `batch_call` (run one that
changes something), a hidden tool costs two extra calls the first time it is needed and the bytes
of its description once; listing every tool instead costs the extra schemas in every request of
every conversation. Measured through a real in-memory MCP client, in reply bytes (text content, as
a model would read it).
"""

from __future__ import annotations

import statistics

import anyio
import mcp

from batch_mcp.catalog.listing import minified, tool_listing
from batch_mcp.server import assemble, create_server
from batch_mcp.settings import Settings


def reply_bytes(result: object) -> int:
    return sum(len(getattr(block, "text", "").encode()) for block in result.content)  # type: ignore[attr-defined]


async def main() -> None:
    settings = Settings(emulator_data_dir=":memory:", audit_log="off")
    parts = assemble(settings)
    tools = {**parts.catalog.tools, **parts.server_tools}
    hidden = [name for name in parts.selection.enabled if not parts.selection.is_listed(name)]
    listed_bytes = len(minified({"tools": [tool_listing(tools[n]) for n in parts.selection.listed]}).encode())
    everything = assemble(Settings(toolsets=["all"])).selection.listed  # without the routers
    all_bytes = len(minified({"tools": [tool_listing(tools[n]) for n in everything]}).encode())
    async with mcp.Client(create_server(settings), mode="legacy") as client:
        overview = reply_bytes(await client.call_tool("batch_tools", {}))
        described = {name: reply_bytes(await client.call_tool("batch_tools", {"name": name})) for name in hidden}
    print(f"default tools/list: {len(parts.selection.listed)} tools, {listed_bytes:,} bytes, sent with every request")
    print(
        f"everything listed:  {len(everything)} tools, {all_bytes:,} bytes "
        f"(+{all_bytes - listed_bytes:,} bytes on every request)"
    )
    print(f"batch_tools (list the {len(hidden)} hidden tools): one call, {overview:,} bytes once")
    print(
        f"batch_tools name=X (one tool's schema): one call, median {statistics.median(described.values()):,.0f} "
        f"bytes, largest {max(described.values()):,} ({max(described, key=described.__getitem__)})"
    )
    print("then batch_tools name=X arguments={...} (reads) or batch_call (changes): the reply of calling X directly")
    per_conversation = all_bytes - listed_bytes
    print(
        f"break-even: listing everything costs {per_conversation:,} bytes per request; reaching one hidden tool "
        f"costs about {statistics.median(described.values()):,.0f} bytes and 2 calls, once"
    )


if __name__ == "__main__":
    anyio.run(main)
