"""Tools the server defines itself (meta tools, agent-sized workflows), shaped like catalog tools
so that listing, selection, validation, guardrails and audit treat both kinds the same way, and the
context every call runs in. A handler reaches the engine only through `ToolHost`, the part of it a
tool may use (the engine imports this module, never the other way round)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import mcp_types as types

from batch_mcp.catalog import Catalog, ToolDef

if TYPE_CHECKING:
    from batch_mcp.batch import BatchClient, BatchError
    from batch_mcp.server.selection import Selection

# accept: go ahead; decline: the user said no; cancel: the user dismissed the question without answering;
# cannot: there is no way to ask
Answer = Literal["accept", "decline", "cancel", "cannot"]


class Asker(Protocol):
    """Ask the user. `bound`: a digest of what the answer must be about (the command lines shown);
    an asker whose answer arrives in a later request checks it is still the same."""

    async def __call__(self, question: str, *, bound: str = "") -> Answer: ...


async def cannot_ask(question: str, *, bound: str = "") -> Answer:
    return "cannot"


async def no_progress(progress: float, total: float | None = None, message: str | None = None) -> None:
    return None


class QuestionExpired(Exception):
    """The user was asked and no answer came within the question's lifetime: nothing was done."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s")
        self.seconds = seconds


class NeedsInput(Exception):
    """Ask the user through an InputRequiredResult (2026-07-28 clients): control flow that leaves the
    call, through any router that runs it, up to the MCP handler, never a tool's fault."""

    def __init__(self, question: str, bound: str = "") -> None:
        super().__init__(question)
        self.question = question
        self.bound = bound


class ToolHost(Protocol):
    """What a tool's handler may use of the engine that runs it."""

    catalog: Catalog
    client: BatchClient
    tools: dict[str, AnyTool]

    @property
    def selection(self) -> Selection: ...

    async def call(self, name: str, args: Mapping[str, Any] | None, ctx: CallContext) -> types.CallToolResult: ...


@dataclass
class CallContext:
    engine: ToolHost
    asker: Asker = cannot_ask
    progress: Callable[[float, float | None, str | None], Awaitable[None]] = no_progress
    principal: str | None = None
    user: Mapping[str, Any] | None = None  # the signed-in Entra ID user (object id, name), for the audit log
    failure: BatchError | None = None  # the Batch error that ended the call, for callers that map it (the CLI)
    # Secrets a handler found that the arguments do not show by name (a template's values filling a
    # DB_PASSWORD entry): scrubbed from the result and the audit log like the arguments' own.
    secrets: set[str] = field(default_factory=set)
    # How far a long call has got with Batch ("100 of 250 task(s) acknowledged"): the audit log says it when
    # the client cancels the call, since the cancelled call gets no reply.
    partial: str | None = None


Handler = Callable[[CallContext, dict[str, Any]], Awaitable[types.CallToolResult]]
# What a call will run, for the execution policy's question: the arguments with every command line
# filled in (a template's values or file lines), sent as shown; None when the call runs nothing (a dry
# run). Raises ValueError when the arguments can make no tasks.
# Its arguments: the Batch client, the call's arguments, and the operations this server may use.
SpellOut = Callable[["BatchClient", Mapping[str, Any], frozenset[str]], Awaitable[Mapping[str, Any] | None]]


def tool_annotations(
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
    spell_out: SpellOut | None = None
    # The catalog operations this tool reads or changes through: excluding any of them (--exclude-tools)
    # disables this tool too, so an exclusion holds on every route to the same effect.
    uses: tuple[str, ...] = ()

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


AnyTool = ToolDef | ServerTool
