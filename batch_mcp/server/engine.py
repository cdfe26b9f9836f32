"""Running one tool call, the same way for MCP clients and `batch-mcp call`:

    look up → validate against the full schema → guardrails → execute → render → audit

Bad input never reaches Batch; Batch errors come back as readable tool errors; every call that
could change something is audited, whatever its outcome. How the user is asked for confirmation
is the caller's business (`Asker`): elicitation, `InputRequiredResult`, or a terminal prompt.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from jsonschema import Draft202012Validator

from batch_mcp.batch import shaping
from batch_mcp.batch.errors import BatchError
from batch_mcp.catalog import Catalog, ToolDef
from batch_mcp.catalog.bounds import with_arg_bounds
from batch_mcp.catalog.validation import json_path, make_validator, validation_errors
from batch_mcp.redaction import MASK, redact_text, secret_values
from batch_mcp.server import lean, render
from batch_mcp.server.audit import AuditLog
from batch_mcp.server.errors import batch_error_text
from batch_mcp.server.guardrails import Confirm, DryRun, Guardrails, Refuse
from batch_mcp.server.server_tools import AnyTool, CallContext, NeedsInput, QuestionExpired, ServerTool
from batch_mcp.server.summary import summarize

if TYPE_CHECKING:
    from batch_mcp.batch import BatchClient
    from batch_mcp.server.selection import Selection

logger = logging.getLogger(__name__)

FILE_WINDOW = 256 * 1024  # an RDP file or other small download read whole, up to this
FILE_TEXT_LIMIT = 50_000  # characters of file text one file tool reply carries (under render.TEXT_LIMIT)


class UnknownTool(LookupError):
    """No tool by that name (a protocol error, not a tool error)."""


class Engine:
    def __init__(
        self,
        *,
        catalog: Catalog,
        client: BatchClient,
        guardrails: Guardrails,
        audit: AuditLog,
        server_tools: Mapping[str, ServerTool],
        page_size: int,
    ) -> None:
        self.catalog = catalog
        self.client = client
        self.guardrails = guardrails
        self.audit = audit
        self.page_size = page_size
        self.tools: dict[str, AnyTool] = {**catalog.tools, **server_tools}
        self._server_validators: dict[str, Any] = {}
        self._output_validators: dict[str, Any] = {}

    @property
    def selection(self) -> Selection:
        return self.guardrails.selection

    # -- steps ---------------------------------------------------------------------------------

    def lookup(self, name: str) -> AnyTool:
        tool = self.tools.get(name)
        if tool is None:
            raise UnknownTool(name)
        return tool

    def validate(self, tool: AnyTool, args: Mapping[str, Any]) -> list[str]:
        if isinstance(tool, ToolDef):
            validator = self.catalog.validator(tool.name)
        else:
            validator = self._server_validators.get(tool.name)
            if validator is None:
                validator = self._server_validators[tool.name] = make_validator(with_arg_bounds(tool.input_schema))
        return validation_errors(validator, args)

    async def call(self, name: str, args: Mapping[str, Any] | None, ctx: CallContext) -> types.CallToolResult:
        tool = self.lookup(name)
        args = dict(args or {})
        outcome = _Outcome(self.audit, tool, args, ctx.principal, ctx.user, found=ctx.secrets)
        refused = self.guardrails.availability(tool)
        if refused:
            return outcome.done("refused", render.error_result(refused.text))
        problems = self.validate(tool, args)
        if problems:
            text = f"Invalid arguments for {tool.name}; nothing was sent to Batch.\n- " + "\n- ".join(problems)
            return outcome.done("invalid", render.error_result(text))
        try:
            decision = await self.guardrails.decide(tool, args)
        except BatchError as exc:  # a lookup behind the question: the error names its own request, if any
            ctx.failure = exc
            return outcome.done("error", render.error_result(batch_error_text(tool.name, exc)))
        if isinstance(decision, Refuse):
            return outcome.done("refused", render.error_result(decision.text))
        if isinstance(decision, DryRun):
            result = render.json_result(f"Dry run of {tool.name}: nothing was changed.", decision.plan)
            return outcome.done("dry_run", result)
        if isinstance(decision, Confirm):
            try:
                answer = await ctx.asker(decision.question, bound=decision.bound)
            except anyio.get_cancelled_exc_class():  # the client gave up while the user was asked
                outcome.done(
                    "cancelled",
                    render.error_result(
                        "The client cancelled the call during the question; nothing was sent to Batch."
                    ),
                )
                raise
            except QuestionExpired as expired:  # nobody answered: a late yes must not act on a stale question
                text = (
                    f"Not done: the question about {tool.name} expired after {expired.seconds:g} s without an "
                    "answer; nothing was sent to Batch. Call again to be asked again."
                )
                return outcome.done("expired", render.error_result(text))
            if answer == "cannot":
                return outcome.done("refused", render.error_result(decision.unasked))
            if answer != "accept":
                cancelled = answer == "cancel"  # dismissed unanswered: not a no, and the audit log says so
                what = f"dismissed the question about {tool.name}" if cancelled else f"declined {tool.name}"
                declined = render.text_result(f"Not done: the user {what}. Nothing was changed.")
                # A client checks a successful result against the tool's output schema; this one has no data.
                declined.is_error = tool.output_schema is not None
                return outcome.done("cancelled" if cancelled else "declined", declined)
        request_id = response = None
        if decision.args is not None:  # the guardrails bounded something (an autoscale formula)
            args = dict(decision.args)
            outcome.args = args
        try:
            if isinstance(tool, ServerTool):
                result = await tool.handler(ctx, args)
            else:
                result, request_id, response = await self.execute(tool, args)
        except BatchError as exc:
            ctx.failure = exc
            binding = tool.http if isinstance(tool, ToolDef) else None
            return outcome.done(
                "error",
                render.error_result(batch_error_text(tool.name, exc, binding=binding)),
                request_id=getattr(exc, "request_id", None),
            )
        except NeedsInput:  # a routed call's question for the user (2026-07-28): the MCP handler asks it
            raise
        except anyio.get_cancelled_exc_class():  # the client gave up mid-call: it gets no reply, the log says how far
            sent = f" ({ctx.partial})" if ctx.partial else ""
            text = f"The client cancelled {tool.name} while it ran; it may have partly reached Batch{sent}."
            outcome.done("interrupted", render.error_result(text))
            raise
        except Exception as exc:  # a fault of ours: a tool error for the model, the traceback for the log
            logger.exception("%s failed unexpectedly", tool.name)
            text = f"{tool.name} failed inside batch-mcp ({type(exc).__name__}); it may or may not have reached Batch."
            return outcome.done("error", render.error_result(text))
        if decision.note:
            result.content.append(types.TextContent(text=decision.note))
        status = "error" if result.is_error else "dry_run" if args.get("dry_run") is True else "ok"
        return outcome.done(status, result, request_id=request_id, response=response)

    # -- catalog tools ---------------------------------------------------------------------------

    async def execute(
        self, tool: ToolDef, args: Mapping[str, Any]
    ) -> tuple[types.CallToolResult, str | None, dict[str, Any] | None]:
        """The tool's result, and for the audit: the Batch request-id when one call answered it, and
        the reply's headers (eTag, ...) of a call that returns no body."""
        kind = tool.http.result
        if kind == "list":
            return self._as_published(tool, await self._list(tool, args)), None, None
        if kind == "bytes":
            return await self._read_window(tool, args), None, None
        result = await self.client.call(tool, args)
        if kind == "exists":
            exists = bool(result.data.get("exists"))
            out = render.json_result(f"{_target(args)} {'exists' if exists else 'does not exist'}.", result.data)
        elif kind in ("json", "file_properties"):
            out = _entity_result(result.data, selected=str(args.get("select") or ""), selectable=_takes_select(tool))
        else:
            verb = "accepted; Batch completes it in the background" if result.status == 202 else "done"
            out = render.text_result(f"{tool.name} {verb}.")
            return out, result.request_id, dict(result.data or {})
        return self._as_published(tool, out), result.request_id, None

    def _as_published(self, tool: ToolDef, out: types.CallToolResult) -> types.CallToolResult:
        """`out`, if its data has the shape the tool's output schema promises; else an error saying
        what Batch sent that does not fit (an MCP client rejects such a result outright)."""
        schema, data = tool.output_schema, out.structured_content
        if schema is None or data is None:
            return out
        validator = self._output_validators.get(tool.name)
        if validator is None:
            validator = self._output_validators[tool.name] = Draft202012Validator(schema)
        error = next(iter(validator.iter_errors(data)), None)
        if error is None:
            return out
        where = json_path(error.absolute_path) if error.absolute_path else "the reply"
        shown = redact_text(repr(error.instance)[:60])
        expected = f"of type {error.validator_value}" if error.validator == "type" else "as documented"
        return render.error_result(
            f"{tool.name} failed: Batch's reply does not match the documented result: at {where}, {shown} is not "
            f"{expected}. Check the endpoint setting: it may not be Azure Batch."
        )

    async def _list(self, tool: ToolDef, args: Mapping[str, Any]) -> types.CallToolResult:
        limit = int(args.get("max_results") or self.page_size)
        page = await self.client.list(tool, args, max_items=limit, continuation=args.get("continuation"))
        summary = await summarize(self.client, tool, args, page.items, has_more=page.continuation is not None)
        items, left_out = _list_items(tool, page.items, selected=bool(args.get("select")))
        shaped = shaping.list_result(items, page.continuation, summary)
        more = " (more available)" if page.continuation else ""
        if args.get("select"):
            note = _unselected(str(args["select"]), page.items)
        else:
            note = lean.left_out_note(left_out, selectable=_takes_select(tool))
        return render.list_result(f"{len(items)} item(s){more}", shaped, note=note)

    async def _read_window(self, tool: ToolDef, args: Mapping[str, Any]) -> types.CallToolResult:
        """A window of a file (task_file_get, node_file_get), or a small download (an RDP file)."""
        from batch_mcp.server.file_windows import read_window, target_for
        from batch_mcp.server.uris import FileQuery

        start, end = parse_range(args.get("range")) or (None, None)
        target = target_for(tool.name, args, FileQuery(start=start, end=end))
        if target is None:
            async with self.client.open_stream(tool, args) as stream:
                data = await stream.read(limit=FILE_WINDOW)
            return render.text_result(data.decode("utf-8", errors="replace"))
        window = _fit_text(await read_window(self.client, target))
        if not window.size:  # "bytes 0--1 of 0" and a blank line said nothing true
            return render.text_result(f"{target.path}: empty (0 bytes).")
        header = f"{target.path}: bytes {window.start}-{window.end} of {window.size}"
        if not window.complete and window.end + 1 < window.size:
            header += f" (more: range=bytes={window.end + 1}-)"
        if window.text is None and not args.get("range"):
            return _binary_summary(target, window)
        if window.text is None:
            return types.CallToolResult(
                content=[
                    types.TextContent(text=header + " (binary, base64 below)"),
                    types.EmbeddedResource(
                        type="resource",
                        resource=types.BlobResourceContents(
                            uri=target.with_query(start=window.start, end=window.end),
                            blob=base64.b64encode(window.data).decode("ascii"),
                            mime_type="application/octet-stream",
                        ),
                    ),
                ]
            )
        return render.text_result(f"{header}\n{redact_text(window.text)}")


def _fit_text(window: Any) -> Any:
    """A text window trimmed, at a line end, to what one reply carries, so the byte range the header
    names is the one shown and the next range continues where the text stops (a window cut later by
    the reply limit made a model page past bytes it never saw)."""
    from dataclasses import replace

    if window.text is None or len(window.text) <= FILE_TEXT_LIMIT:
        return window
    kept = window.text[:FILE_TEXT_LIMIT]
    if "\n" in kept:
        kept = kept[: kept.rindex("\n") + 1]
    data = window.data[: len(kept.encode("utf-8"))]
    return replace(window, data=data, end=window.start + len(data) - 1, text=kept)


IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
HEX_PREVIEW = 32  # bytes of a binary file shown, in hex, to say what it is


def _binary_summary(target: Any, window: Any) -> types.CallToolResult:
    """A binary file as a model can use it: what it is and where a client gets it whole. Base64 in a
    tool result costs a model about a token per 3 bytes and tells it nothing; an image that fits in
    one window is sent as an image, which a model can look at."""
    import mimetypes

    kind = mimetypes.guess_type(target.path)[0] or "application/octet-stream"
    if kind in IMAGE_TYPES and window.complete:
        return types.CallToolResult(
            content=[
                types.TextContent(text=f"{target.path}: {kind}, {window.size:,} bytes"),
                types.ImageContent(type="image", data=base64.b64encode(window.data).decode("ascii"), mime_type=kind),
            ]
        )
    head = window.data[:HEX_PREVIEW].hex(" ")
    where = target.with_query()
    text = (
        f"{target.path}: binary content ({kind}), {window.size:,} bytes; not shown (a model cannot read raw "
        f"bytes). First {min(HEX_PREVIEW, len(window.data))} bytes: {head}. A client can read it as the "
        f"resource {where} (blobs, a window at a time); pass range=bytes=START-END for those bytes as base64."
    )
    return render.text_result(text)


def _takes_select(tool: ToolDef) -> bool:
    return "select" in tool.input_schema.get("properties", {})


def _unselected(select: str, items: list[Any]) -> str:
    """A note naming the selected fields no item came back with: a typo, a nested path (Batch's
    select takes top-level fields) or a value that is unset; "" when each is in some item."""
    asked = [name.strip() for name in select.split(",") if name.strip()]
    present: set[str] = set()
    for item in items:
        if isinstance(item, Mapping):
            present.update(item)
    missing = [name for name in asked if name not in present]
    if not missing or not items:
        return ""
    tops = sorted({name.split("/")[0] for name in missing if "/" in name})
    why = f"select takes top-level fields, e.g. {', '.join(tops)}" if tops else "unset, or not a field here"
    return f"Not in the reply: {', '.join(missing)} ({why})."


def _entity_result(data: Any, *, selected: str, selectable: bool) -> types.CallToolResult:
    """One entity as the model reads it: lean unless the caller selected its fields."""
    if selected or not isinstance(data, Mapping):
        note = _unselected(selected, [data]) if selected else ""
        return render.json_result(note, data or {})
    slim, left_out = lean.lean(data)
    return render.json_result(lean.left_out_note(left_out, selectable=selectable), slim)


def _list_items(tool: ToolDef, items: list[dict[str, Any]], *, selected: bool) -> tuple[list[Any], list[str]]:
    """A page's items as the model reads them (the list's projection, lean), and what was left out.
    Selected fields come back as Batch sent them."""
    if selected:
        return items, []
    tree = lean.projection_tree(tool.projection)
    out: list[Any] = []
    left_out: dict[str, None] = {}
    for item in items:
        if tree:
            left_out.update(dict.fromkeys(key for key in item if key not in tree))
            item = lean.project(item, tree)
        slim, dropped = lean.lean(item)
        if not tree:
            left_out.update(dict.fromkeys(dropped))
        out.append(slim)
    return out, list(left_out)


def _scrub(result: types.CallToolResult, secrets: set[str]) -> None:
    for block in result.content:
        if isinstance(block, types.TextContent):
            for secret in secrets:
                block.text = block.text.replace(secret, MASK)


def _scrubbed(value: Any, secrets: set[str]) -> Any:
    """A copy of arguments with every secret value masked wherever it is quoted (a command line
    that echoes the DB_PASSWORD it was given, a template's values)."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, Mapping):
        return {key: _scrubbed(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrubbed(item, secrets) for item in value]
    return value


def parse_range(value: str | None) -> tuple[int, int | None] | None:
    if not value:
        return None
    first, _, last = value.removeprefix("bytes=").partition("-")
    return int(first), (int(last) if last else None)


def _target(args: Mapping[str, Any]) -> str:
    ids = [str(v) for k, v in args.items() if k.endswith("_id")]
    return "/".join(ids) or "It"


class _Outcome:
    """The last step of every call: the secrets the arguments carry (a `DB_PASSWORD` environment
    setting, a key) are scrubbed from the result, even where Batch quoted them back in an error, and
    a call that could change something is audited; reads are not."""

    def __init__(
        self,
        log: AuditLog,
        tool: AnyTool,
        args: Mapping[str, Any],
        principal: str | None,
        user: Mapping[str, Any] | None = None,
        *,
        found: set[str] | None = None,
    ) -> None:
        self.log, self.tool, self.args, self.principal, self.user = log, tool, args, principal, user
        self.secrets = secret_values(args)
        self.found = found if found is not None else set()  # filled in by the handler as it runs

    def done(
        self,
        outcome: str,
        result: types.CallToolResult,
        *,
        request_id: str | None = None,
        response: Mapping[str, Any] | None = None,
    ) -> types.CallToolResult:
        secrets = self.secrets | self.found
        if secrets:
            _scrub(result, secrets)
        if self.tool.guard != "read" and self.tool.name != "batch_call":
            detail = None
            if outcome != "ok" and result.content and isinstance(result.content[0], types.TextContent):
                detail = result.content[0].text
            self.log.record(
                tool=self.tool.name,
                arguments=_scrubbed(self.args, secrets) if secrets else self.args,
                outcome=outcome,
                request_id=request_id,
                principal=self.principal,
                user=self.user,
                detail=detail,
                response=response,
            )
        return result
