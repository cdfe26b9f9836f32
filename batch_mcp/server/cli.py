"""`batch-mcp` (serve), `batch-mcp tools` and `batch-mcp call`.

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
from typing import Any


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Batch account and tools (flags override BATCH_MCP_* / AZURE_BATCH_*)")
    group.add_argument("--endpoint", help="Batch account URL (AZURE_BATCH_ENDPOINT); unset: local emulator")
    group.add_argument("--account", help="account name for Shared Key (AZURE_BATCH_ACCOUNT)")
    group.add_argument("--auth", choices=["auto", "shared_key", "entra", "none"])
    group.add_argument(
        "--credential",
        choices=["default", "cli", "managed_identity", "environment", "workload_identity"],
        help="Entra ID credential to use",
    )
    group.add_argument("--api-version", help="catalog to serve (default 2024-02-01.19.0)")
    group.add_argument(
        "--toolsets",
        help="comma-separated: default, all, pools, nodes, jobs, job_schedules, tasks, "
        "files, certificates, applications, account, meta, workflows",
    )
    group.add_argument("--tools", help="comma-separated allow-list of tool names (ignores --toolsets)")
    group.add_argument("--exclude-tools", help="comma-separated tool names to disable")
    group.add_argument("--read-only", action="store_true", default=None, help="only tools that change nothing")
    group.add_argument("--max-nodes", type=int, help="refuse any pool size above this")
    group.add_argument("--audit-log", type=Path, help="JSON-lines audit log of calls that can change things")
    group.add_argument("--page-size", type=int, help="list items per reply by default (25)")
    group.add_argument("--resource-window", type=int, help="bytes a file resource read returns at most")
    group.add_argument("--max-watchers", type=int, help="resources watched for subscribers at once")
    group.add_argument("--watch-max-interval", type=float, help="seconds between checks of an unchanging resource")
    group.add_argument("--emulator-data-dir", type=Path, help="state of the embedded emulator")
    group.add_argument("--emulator-transition-delay", type=float, help="seconds per emulated state change")
    parser.add_argument(
        "--no-confirm",
        action="store_true",
        help="DANGER: run destructive and scale-down calls without asking the user (automation)",
    )


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("transport")
    group.add_argument("--transport", choices=["stdio", "http"])
    group.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    group.add_argument("--port", type=int, help="HTTP port (default 8000)")
    group.add_argument("--token", help="HTTP bearer token (BATCH_MCP_TOKEN); generated on loopback if unset")
    group.add_argument("--allowed-hosts", help="comma-separated Host names clients use on a non-loopback bind")
    entra = parser.add_argument_group("sign-in with Microsoft Entra ID (HTTP; each user calls Batch as themselves)")
    entra.add_argument("--http-auth", choices=["token", "entra"], help="token (shared bearer token) or entra")
    entra.add_argument("--public-url", help="https URL clients reach the server at (the OAuth resource)")
    entra.add_argument("--entra-tenant-id", help="directory (tenant) id of the app registration")
    entra.add_argument("--entra-client-id", help="application (client) id of the app registration")
    entra.add_argument("--entra-client-certificate", type=Path, help="PEM certificate + key (else the secret)")
    entra.add_argument("--entra-app-id-uri", help="Application ID URI (default api://CLIENT_ID)")
    entra.add_argument("--entra-scope", help="delegated scope name (default user_impersonation)")
    entra.add_argument("--entra-authority", help="Entra ID sign-in host (default https://login.microsoftonline.com)")


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    tools = subparsers.add_parser("tools", help="print the tools this configuration serves")
    add_common_arguments(tools)
    tools.add_argument("--all", action="store_true", help="also list enabled tools outside tools/list")
    tools.set_defaults(handler=run_tools)
    call = subparsers.add_parser("call", help="run one tool from the shell, with the server's checks")
    call.add_argument("tool")
    call.add_argument("--args", default="{}", help="tool arguments as a JSON object")
    add_common_arguments(call)
    call.set_defaults(handler=run_call)


def settings_from(args: argparse.Namespace):
    from batch_mcp.settings import Settings

    given = {name: getattr(args, name) for name in Settings.model_fields if getattr(args, name, None) is not None}
    return Settings(**given)


def _configure_logging() -> None:
    """Warnings and errors to stderr (stdout carries JSON-RPC on stdio), secrets masked."""
    from batch_mcp.redaction import RedactingFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


# -- serve ---------------------------------------------------------------------------------------


def run_serve(args: argparse.Namespace) -> int:
    import anyio

    from batch_mcp.redaction import register_secret
    from batch_mcp.server import assemble
    from batch_mcp.server.app import RuntimeRef, build_server
    from batch_mcp.server.banner import banner
    from batch_mcp.server.resources import file_routes
    from batch_mcp.server.selection import SelectionError
    from batch_mcp.server.transports import TransportConfigError, http_app, plan_http, serve_http, serve_stdio

    _configure_logging()
    settings = settings_from(args)
    try:
        parts = assemble(settings)
    except (SelectionError, LookupError) as exc:
        print(f"batch-mcp: {exc}", file=sys.stderr)
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
        anyio.run(serve_stdio, server)
        return 0
    entra = None
    try:
        if settings.http_auth == "entra":
            from batch_mcp.server.entra import EntraAuthorization, check_entra_settings
            from batch_mcp.server.entra.config import public_host

            entra = EntraAuthorization.create(check_entra_settings(settings))
        plan = plan_http(
            settings.host,
            settings.port,
            settings.token.get_secret_value() if settings.token else None,
            settings.allowed_hosts,
            static_token=entra is None,
            public_host=public_host(settings) if entra is not None else None,
        )
    except (TransportConfigError, ValueError) as exc:  # EntraConfigError is a ValueError
        print(f"batch-mcp: {exc}", file=sys.stderr)
        return 2
    register_secret(plan.token)  # masked in every log line, error and result from here on
    files = (
        file_routes(ref, plan.security)
        if entra is None
        else file_routes(
            ref, plan.security, required_scopes=entra.required_scopes, resource_metadata_url=entra.resource_metadata_url
        )
    )
    app = http_app(server, settings.host, settings.port, plan, extra_routes=files, entra=entra)
    print(banner(parts, no_confirm=args.no_confirm, http_plan=plan), file=sys.stderr)
    anyio.run(serve_http, app, settings.host, settings.port)
    return 0


# -- tools -----------------------------------------------------------------------------------------


def run_tools(args: argparse.Namespace) -> int:
    from batch_mcp.catalog.listing import minified, tool_listing
    from batch_mcp.server import assemble

    parts = assemble(settings_from(args))
    tools = {**parts.catalog.tools, **parts.server_tools}
    names = [n for n in tools if n in parts.selection.enabled] if args.all else list(parts.selection.listed)
    print(f"{'tool':<46} {'toolset':<13} {'guard':<11} {'listed':<6} {'bytes':>6}")
    total = 0
    for name in names:
        size = len(minified(tool_listing(tools[name])).encode())
        listed = parts.selection.is_listed(name)
        total += size if listed else 0
        print(f"{name:<46} {tools[name].toolset:<13} {tools[name].guard:<11} {'yes' if listed else 'no':<6} {size:>6,}")
    print(
        f"{len(parts.selection.listed)} tools listed ({total:,} bytes of tools/list), "
        f"{len(parts.selection.enabled)} enabled, api-version {parts.catalog.api_version}"
    )
    return 0


# -- call ------------------------------------------------------------------------------------------


async def terminal_ask(question: str) -> str:
    """Ask on the controlling terminal (not stdin, which may carry data)."""
    import anyio

    def ask() -> str:
        try:  # a terminal is not seekable: one handle to write the question, one to read the answer
            with Path("/dev/tty").open("w", encoding="utf-8") as out, Path("/dev/tty").open(encoding="utf-8") as tty:
                out.write(f"\n{question}\nType 'yes' to go ahead: ")
                out.flush()
                return tty.readline().strip().lower() or "no"
        except OSError:
            return ""

    reply = await anyio.to_thread.run_sync(ask)
    if reply == "":
        return "cannot"
    return "accept" if reply in ("y", "yes") else "decline"


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
    from batch_mcp.server import assemble
    from batch_mcp.server.backend import open_backend
    from batch_mcp.server.engine import CallContext, UnknownTool

    parts = assemble(settings_from(args))
    async with open_backend(
        parts.settings, parts.catalog, parts.selection, parts.server_tools, no_confirm=args.no_confirm
    ) as live:
        try:
            result = await live.engine.call(args.tool, arguments, CallContext(engine=live.engine, asker=terminal_ask))
        except UnknownTool:
            print(f"batch-mcp call: no tool {args.tool!r} (see batch-mcp tools --all)", file=sys.stderr)
            return 2
    for block in result.content:
        text = getattr(block, "text", None)
        print(text if text is not None else block.model_dump_json(by_alias=True, exclude_none=True))
    return 1 if result.is_error else 0
