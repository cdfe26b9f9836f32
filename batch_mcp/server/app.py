"""The MCP server: the SDK's low-level `Server` with our handlers, for both protocol eras.

The backend (a Batch client, and the embedded emulator when no endpoint is configured) lives in
the server's lifespan, entered once per process by stdio, by the HTTP session manager, or by an
in-memory client. `tools/list` needs no backend, so it is answered from the catalog alone.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import ServerRequestContext
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from batch_mcp import __version__
from batch_mcp.catalog import Catalog
from batch_mcp.catalog.listing import tool_listing
from batch_mcp.server.confirmations import ConfirmState, InMemoryUsedStates, UsedStates
from batch_mcp.server.resources import resource_handlers
from batch_mcp.server.runtime import BackendUnavailable, Runtime
from batch_mcp.server.selection import Selection
from batch_mcp.server.server_tools import NeedsInput, QuestionExpired, ServerTool
from batch_mcp.server.users import current_user
from batch_mcp.server.workflows.prompts import prompt_handlers, workflow_prompts
from batch_mcp.settings import Settings

if TYPE_CHECKING:  # the backend, engine and client load in the lifespan, after tools/list can answer
    from batch_mcp.server.backend import ClientOpener
    from batch_mcp.server.server_tools import Answer, Asker

logger = logging.getLogger(__name__)

NAME = "batch-mcp"
CONFIRM_KEY = "confirm"
# How long a question to the user stands: the sealed request state of a 2026-07-28 client (bound to
# the exact call by RequestStateBoundary) and an elicitation of a handshake-era client both expire.
CONFIRM_TTL_SECONDS = 300.0
CONFIRM_SCHEMA = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean", "title": "Go ahead", "description": "Yes, do it"}},
    "required": ["confirm"],
}
INSTRUCTIONS = (
    "Azure Batch tools. Ids come from the *_list tools. Destructive calls ask the user to confirm; scale tools "
    "take dry_run. Tools not listed here: batch_tools, then batch_call. Collapsed schema stubs: batch_schema."
)


@dataclass
class RuntimeRef:
    """Where code outside MCP handlers (the HTTP file routes) finds the live runtime."""

    runtime: Runtime | None = None


def _can_elicit(ctx: ServerRequestContext[Any, Any]) -> bool:
    capability = types.ClientCapabilities(elicitation=types.ElicitationCapability())
    return ctx.session.check_client_capability(capability)


def _claim_state(params: types.CallToolRequestParams, used: UsedStates) -> ConfirmState | None:
    """The confirmation state of ours this call carries, presented for the first time (None: none).

    A state that is ours but was presented before is refused outright, as the SDK refuses an
    expired one: it answered its question already."""
    if params.request_state is None:
        return None
    state = ConfirmState.parse(params.request_state)
    if state is None or not used.claim(state.state_id, state.expires_at):
        logger.warning("requestState refused on tools/call %s: already used or not ours", params.name)
        raise MCPError(
            code=types.INVALID_PARAMS,
            message="Invalid or expired requestState",
            data={"reason": "invalid_request_state"},
        )
    return state


def _asker(
    ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams, *, answered: ConfirmState | None
) -> Asker:
    """`answered`: the fresh confirmation state of ours the call carries (see `_claim_state`). Its
    answer counts only for the question it was given for: when the command lines shown differ now
    (a file of lines changed while the user read), the user is asked again."""
    modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS

    async def ask(question: str, *, bound: str = "") -> Answer:
        if modern:
            response = (params.input_responses or {}).get(CONFIRM_KEY)
            if isinstance(response, types.ElicitResult) and answered is not None and answered.bound == bound:
                return _answer(response)
            if not _can_elicit(ctx):
                return "cannot"
            raise NeedsInput(question, bound)
        if not _can_elicit(ctx):
            return "cannot"
        with anyio.move_on_after(CONFIRM_TTL_SECONDS):  # a client that went away must not leave it pending
            result = await ctx.session.elicit_form(question, CONFIRM_SCHEMA, related_request_id=ctx.request_id)
            return _answer(result)
        raise QuestionExpired(CONFIRM_TTL_SECONDS)

    return ask


def _answer(result: types.ElicitResult) -> Answer:
    """A form sent with the box ticked is a yes, sent unticked a no; a dismissed one is a cancel."""
    if result.action == "accept" and (result.content or {}).get("confirm") is True:
        return "accept"
    return "cancel" if result.action == "cancel" else "decline"


def _principal() -> str | None:
    token = get_access_token()
    if token is None:
        return None
    return f"{token.client_id}:{token.subject}" if token.subject else token.client_id


def _user() -> dict[str, Any] | None:
    user = current_user()
    return user.audit() if user is not None else None


def build_server(
    settings: Settings,
    catalog: Catalog,
    selection: Selection,
    server_tools: dict[str, ServerTool],
    *,
    no_confirm: bool = False,
    runtime_ref: RuntimeRef | None = None,
    opener: ClientOpener | None = None,
    used_states: UsedStates | None = None,
) -> Server[Runtime]:
    """An MCP server for one catalog and tool selection; the backend opens in its lifespan
    (through `opener`, which tests replace to watch what reaches the wire). `used_states` records
    the confirmation states already presented (one process's memory by default)."""
    tools = {**catalog.tools, **server_tools}
    listing = types.ListToolsResult(
        tools=[types.Tool.model_validate(tool_listing(tools[name])) for name in selection.listed]
    )
    schemas = {name: tools[name].input_schema for name in selection.listed}
    ref = runtime_ref or RuntimeRef()
    used = used_states if used_states is not None else _used_states(settings)

    @asynccontextmanager
    async def lifespan(_: Server[Runtime]) -> AsyncIterator[Runtime]:
        from batch_mcp.server.backend import open_backend

        runtime = Runtime()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(
                runtime.serve,
                lambda: open_backend(settings, catalog, selection, server_tools, no_confirm=no_confirm, opener=opener),
            )
            ref.runtime = runtime
            try:
                yield runtime
            finally:
                ref.runtime = None
                runtime.close()

    async def list_tools(
        ctx: ServerRequestContext[Runtime, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return listing

    async def call_tool(
        ctx: ServerRequestContext[Runtime, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        from batch_mcp.server.engine import UnknownTool
        from batch_mcp.server.server_tools import CallContext

        answered = _claim_state(params, used)
        try:
            live = await ctx.lifespan_context.ready()
        except BackendUnavailable as exc:
            return types.CallToolResult(content=[types.TextContent(text=str(exc))], is_error=True)
        call_ctx = CallContext(
            engine=live.engine,
            asker=_asker(ctx, params, answered=answered),
            principal=_principal(),
            user=_user(),
            progress=ctx.session.report_progress,
        )
        try:
            return await live.engine.call(params.name, params.arguments, call_ctx)
        except UnknownTool:
            meant = live.engine.selection.meant(params.name)
            raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {params.name}.{meant}") from None
        except NeedsInput as ask:
            request = types.ElicitRequest(
                params=types.ElicitRequestFormParams(message=ask.question, requested_schema=CONFIRM_SCHEMA)
            )
            state = ConfirmState.new(CONFIRM_TTL_SECONDS, bound=ask.bound).encode()
            return types.InputRequiredResult(input_requests={CONFIRM_KEY: request}, request_state=state)

    server: Server[Runtime] = Server(
        NAME,
        version=__version__,
        title="Azure Batch",
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        get_tool_input_schema=schemas.get,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        **resource_handlers(),
        **prompt_handlers(workflow_prompts()),
    )
    server.middleware.append(RequestStateBoundary(state_security(settings), default_audience=NAME))
    return server


def _used_states(settings: Settings) -> UsedStates:
    if settings.confirmations_db is None:
        return InMemoryUsedStates()
    from batch_mcp.server.used_states import SqliteUsedStates  # shared by the replicas that open it

    return SqliteUsedStates(settings.confirmations_db)


def state_security(settings: Settings) -> RequestStateSecurity:
    """How confirmation request state is sealed: with the shared `state_keys` (several replicas open
    each other's states), else a key of this process's own. Either way it is bound to the principal."""
    if settings.state_keys is None:
        return RequestStateSecurity.ephemeral(ttl=CONFIRM_TTL_SECONDS)
    keys = [key.strip() for key in settings.state_keys.get_secret_value().split(",") if key.strip()]
    if not keys or any(len(key.encode()) < 32 for key in keys):
        raise ValueError("BATCH_MCP_STATE_KEYS: each comma-separated key must be 32 bytes or more of secret randomness")
    return RequestStateSecurity(keys=keys, ttl=CONFIRM_TTL_SECONDS)
