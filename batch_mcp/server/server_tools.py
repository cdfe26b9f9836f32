"""Tools the server defines itself (meta tools, agent-sized workflows), shaped like catalog tools
so that listing, selection, validation, guardrails and audit treat both kinds the same way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import mcp_types as types

if TYPE_CHECKING:
    from batch_mcp.server.engine import CallContext

Handler = Callable[["CallContext", dict[str, Any]], Awaitable[types.CallToolResult]]


def annotations(
    *, read_only: bool, destructive: bool = False, idempotent: bool = False, open_world: bool = True
) -> dict[str, bool]:
    return {
        "readOnlyHint": read_only,
        "destructiveHint": destructive,
        "idempotentHint": idempotent,
        "openWorldHint": open_world,
    }


@dataclass(frozen=True)
class ServerTool:
    name: str
    title: str
    description: str
    toolset: str
    guard: str
    input_schema: Mapping[str, Any]
    handler: Handler
    annotations: Mapping[str, bool] = field(default_factory=dict)
    output_schema: Mapping[str, Any] | None = None

    @property
    def read_only(self) -> bool:
        return bool(self.annotations.get("readOnlyHint"))

    @property
    def destructive(self) -> bool:
        return bool(self.annotations.get("destructiveHint"))


def object_schema(properties: Mapping[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": dict(properties), "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema
