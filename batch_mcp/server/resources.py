"""MCP resources for Batch entities and files (placeholder until the resource handlers land)."""

from __future__ import annotations

from typing import Any


def resource_handlers() -> dict[str, Any]:
    """The `on_*` keyword arguments for `mcp.server.Server` that serve resources."""
    return {}


def file_routes(runtime_ref: Any) -> list[Any]:
    """Starlette routes of the HTTP file streaming endpoint."""
    return []
