"""`batch-mcp` (serve), `batch-mcp tools` and `batch-mcp call`: what they do once `batch_mcp/cli.py`
has parsed the command line (settings in `args.settings`, the flags given in `args.given`).

Serving keeps stdout for JSON-RPC: everything human goes to stderr, starting with a one-screen
banner. `call` runs one tool through the same validation, guardrails and audit as an MCP client,
asking for confirmation on the terminal.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from batch_mcp.server import Assembly
    from batch_mcp.server.server_tools import Answer
    from batch_mcp.settings import Settings


def _configure_logging() -> None:
    """Warnings and errors to stderr (stdout carries JSON-RPC on stdio), secrets masked."""
    from batch_mcp.redaction import RedactingFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    # azure-identity logs each credential it fails to use; the error that matters reaches the user anyway
    logging.getLogger("azure").setLevel(logging.ERROR)


# -- serve ---------------------------------------------------------------------------------------


def run_serve(args: argparse.Namespace) -> int:
    import anyio

    from batch_mcp.server import assemble
    from batch_mcp.server.app import RuntimeRef, build_server
    from batch_mcp.server.banner import banner
    from batch_mcp.server.checks import local_problems
    from batch_mcp.server.http_app import http_application
    from batch_mcp.server.transports import serve_http, serve_stdio

    _configure_logging()
    settings: Settings = args.settings
    parts = assemble(settings)
    if problems := local_problems(settings, args.given):
        print(f"batch-mcp: {'; '.join(problems)}", file=sys.stderr)
        return 2
    ref = RuntimeRef()
    try:
        server = build_server(
            settings, parts.catalog, parts.selection, parts.server_tools, no_confirm=args.no_confirm, runtime_ref=ref
        )
    except ValueError as exc:  # e.g. request-state keys too short
        print(f"batch-mcp: {exc}", file=sys.stderr)
        return 2
    if settings.transport == "stdio":
        print(banner(parts, no_confirm=args.no_confirm), file=sys.stderr)
        anyio.run(_with_startup_check, serve_stdio(server), parts)
        return 0
    try:
        app, plan = http_application(settings, server, ref)
    except ValueError as exc:  # TransportConfigError, EntraConfigError: the message names the setting
        print(f"batch-mcp: {exc}", file=sys.stderr)
        return 2
    _check_free(settings.host, settings.port)  # before the banner: a port in use is a one-line error
    print(banner(parts, no_confirm=args.no_confirm, http_plan=plan), file=sys.stderr)
    anyio.run(_with_startup_check, serve_http(app, settings.host, settings.port), parts)
    return 0


STARTUP_CHECK_DELAY = 1.0  # seconds: the first replies to a client come first


async def _with_startup_check(serving: Coroutine[Any, Any, None], parts: Assembly) -> None:
    """Serve, and meanwhile check the Batch account once (the doctor's checks) and warn on one line."""
    import anyio

    async def check() -> None:
        from batch_mcp.redaction import redact_text
        from batch_mcp.server.checks import startup_warning

        await anyio.sleep(STARTUP_CHECK_DELAY)
        try:
            warning = await startup_warning(parts.settings, parts.catalog)
        except Exception as exc:  # a check must never take the server down
            warning = f"the start-up check failed: {type(exc).__name__}: {exc}"
        if warning:
            print(f"batch-mcp: warning: {redact_text(warning)}", file=sys.stderr, flush=True)

    async with anyio.create_task_group() as group:
        group.start_soon(check)
        await serving
        group.cancel_scope.cancel()


def _check_free(host: str, port: int) -> None:
    """Raise EADDRINUSE now if the address is taken (bound the way uvicorn binds it, then released)."""
    import socket

    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


# -- tools -----------------------------------------------------------------------------------------


def run_tools(args: argparse.Namespace) -> int:
    from batch_mcp.catalog.listing import minified, tool_listing
    from batch_mcp.server import assemble
    from batch_mcp.server.execution import describe as describe_execution

    parts = assemble(args.settings)
    tools = {**parts.catalog.tools, **parts.server_tools}
    names = [n for n in tools if n in parts.selection.enabled] if args.all else list(parts.selection.listed)
    print(f"{'tool':<46} {'toolset':<13} {'guard':<11} {'listed':<6} {'bytes':>6}")
    total = 0
    for name in names:
        size = len(minified(tool_listing(tools[name])).encode())
        listed = parts.selection.is_listed(name)
        total += size if listed else 0
        print(f"{name:<46} {tools[name].toolset:<13} {tools[name].guard:<11} {'yes' if listed else 'no':<6} {size:>6,}")
    settings = parts.settings  # the execution policy first: the last line is the summary
    print(f"execution: {describe_execution(settings.emulator_exec, uses_emulator=settings.uses_emulator)}")
    print(
        f"{len(parts.selection.listed)} tools listed ({total:,} bytes of tools/list), "
        f"{len(parts.selection.enabled)} enabled, api-version {parts.catalog.api_version}"
    )
    return 0


# -- call ------------------------------------------------------------------------------------------


async def terminal_ask(question: str, *, bound: str = "") -> Answer:
    """Ask on the controlling terminal (not stdin, which may carry data). End of input (Ctrl-D)
    cancels; any line but yes declines; no terminal at all means the question cannot be asked."""
    import anyio

    def ask() -> Answer:
        try:  # a terminal is not seekable: one handle to write the question, one to read the answer
            with Path("/dev/tty").open("w", encoding="utf-8") as out, Path("/dev/tty").open(encoding="utf-8") as tty:
                out.write(f"\n{question}\nType 'yes' to go ahead: ")
                out.flush()
                line = tty.readline()
        except OSError:
            return "cannot"
        if not line.endswith("\n"):
            return "cancel"
        return "accept" if line.strip().lower() in ("y", "yes") else "decline"

    return await anyio.to_thread.run_sync(ask)


def run_call(args: argparse.Namespace) -> int:
    import anyio

    _configure_logging()
    try:
        arguments = json.loads(args.args)
        if not isinstance(arguments, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        print(f"batch-mcp call: --args must be a JSON object ({exc})", file=sys.stderr)
        return 2
    return anyio.run(_call, args, arguments)


async def _call(args: argparse.Namespace, arguments: dict[str, Any]) -> int:
    from batch_mcp.batch.errors import BatchAuthError, BatchUnreachableError
    from batch_mcp.server import assemble
    from batch_mcp.server.backend import open_backend
    from batch_mcp.server.checks import local_problems
    from batch_mcp.server.engine import UnknownTool
    from batch_mcp.server.server_tools import CallContext

    parts = assemble(args.settings)
    if problems := local_problems(args.settings, args.given):
        print(f"batch-mcp call: {'; '.join(problems)}", file=sys.stderr)
        return 2
    async with open_backend(
        parts.settings, parts.catalog, parts.selection, parts.server_tools, no_confirm=args.no_confirm
    ) as live:
        ctx = CallContext(engine=live.engine, asker=terminal_ask)
        try:
            result = await live.engine.call(args.tool, arguments, ctx)
        except UnknownTool:
            print(f"batch-mcp call: no tool {args.tool!r} (see batch-mcp tools --all)", file=sys.stderr)
            return 2
    if isinstance(ctx.failure, BatchAuthError | BatchUnreachableError):  # the configuration, not the call
        print(f"batch-mcp call: {ctx.failure}", file=sys.stderr)
        return 2
    for block in result.content:
        text = getattr(block, "text", None)
        print(text if text is not None else block.model_dump_json(by_alias=True, exclude_none=True))
    return 1 if result.is_error else 0
