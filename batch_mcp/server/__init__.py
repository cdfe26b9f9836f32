"""The MCP server: catalog tools plus the server's own, selected, guarded, served over stdio or HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcp.server import Server

from batch_mcp.catalog import Catalog, load_catalog
from batch_mcp.server.app import build_server
from batch_mcp.server.meta_tools import meta_tools
from batch_mcp.server.runtime import Runtime
from batch_mcp.server.selection import Selection, select
from batch_mcp.server.server_tools import ServerTool
from batch_mcp.server.workflows import workflow_tools
from batch_mcp.settings import Settings

if TYPE_CHECKING:
    from batch_mcp.server.backend import ClientOpener


@dataclass
class Assembly:
    """Everything `serve`, `tools` and `call` need, built from settings without touching Batch."""

    settings: Settings
    catalog: Catalog
    server_tools: dict[str, ServerTool]
    selection: Selection


def assemble(settings: Settings) -> Assembly:
    catalog = load_catalog(settings.api_version)
    server_tools = {**meta_tools(read_only=settings.read_only), **workflow_tools()}
    selection = select(
        {**catalog.tools, **server_tools},
        toolsets=settings.toolsets,
        allow=settings.tools,
        exclude=settings.exclude_tools,
        read_only=settings.read_only,
    )
    return Assembly(settings, catalog, server_tools, selection)


def create_server(
    settings: Settings, *, no_confirm: bool = False, opener: ClientOpener | None = None
) -> Server[Runtime]:
    parts = assemble(settings)
    return build_server(
        settings, parts.catalog, parts.selection, parts.server_tools, no_confirm=no_confirm, opener=opener
    )


__all__ = ["Assembly", "Runtime", "assemble", "create_server"]
