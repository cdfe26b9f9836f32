"""What `tools/list` carries for a catalog tool, and what that costs.

The server builds its MCP `Tool` objects from `tool_listing`, and the budget tests and
`bench/catalog_size.py` measure the same dictionaries, so the figures are those of the wire.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from batch_mcp.catalog.model import ToolDef

# What a client assumes for a hint that is not sent (MCP's defaults).
HINT_DEFAULTS = {"destructiveHint": True, "idempotentHint": False, "openWorldHint": True}


def listed_annotations(annotations: Mapping[str, bool]) -> dict[str, bool]:
    """The hints a client needs: `readOnlyHint` always (clients treat a missing one as false, and
    ask for approval); for a read-only tool nothing else (MCP gives the others no meaning then);
    otherwise the hints whose value differs from MCP's default. Every byte rides in every turn."""
    read_only = bool(annotations.get("readOnlyHint"))
    out = {"readOnlyHint": read_only}
    if not read_only:
        out |= {k: v for k, v in annotations.items() if k in HINT_DEFAULTS and v != HINT_DEFAULTS[k]}
    return out


class Listable(Protocol):
    """A catalog tool, or one the server defines itself: what `tools/list` shows of it."""

    @property
    def name(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def input_schema(self) -> Mapping[str, Any]: ...
    @property
    def annotations(self) -> Mapping[str, bool]: ...
    @property
    def output_schema(self) -> Mapping[str, Any] | None: ...


def tool_listing(tool: Listable) -> dict[str, Any]:
    listing: dict[str, Any] = {
        "name": tool.name,
        "title": tool.title,
        "description": tool.description,
        "inputSchema": tool.input_schema,
        "annotations": listed_annotations(tool.annotations),
    }
    if tool.output_schema is not None:
        listing["outputSchema"] = tool.output_schema
    return listing


def minified(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def tool_bytes(tool: ToolDef) -> int:
    return len(minified(tool_listing(tool)).encode())
