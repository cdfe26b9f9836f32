"""`batch-mcp emulator`: run the local Batch service standalone, for the official SDKs, the Azure
CLI or any HTTP client.

It is safe to leave running on a laptop: every request must carry a Shared Key signature (the
published development account unless another key is given; `--no-auth` lifts that, on loopback
binds only), dated within 15 minutes, from a client that is not a web page (see `gate.py`).
It owns its state folder like an MCP server's emulator does (see `hosting.py`): batch-mcp
processes started on the same folder attach to it through the folder's socket."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from dataclasses import replace
from typing import Any, Literal

from batch_mcp.emulator.config import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME, EmulatorConfig, default_data_dir
from batch_mcp.slow_clients import RequestTimeouts, uvicorn_options

ENV_ACCOUNT_NAME = "BATCH_MCP_EMULATOR_ACCOUNT_NAME"
ENV_ACCOUNT_KEY = "BATCH_MCP_EMULATOR_ACCOUNT_KEY"  # a key in the environment stays out of `ps`


class UsageError(ValueError):
    """Options that cannot be served safely together; the message says which and why."""


def positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text}")
    return value


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port to listen on (default 8089; 0 picks a free one)")
    parser.add_argument(
        "--data-dir",
        default=None,
        help=f"where state and node files live (default {default_data_dir()}; ':memory:' keeps nothing)",
    )
    parser.add_argument("--account-name", default=None, help=f"account name clients sign with (or {ENV_ACCOUNT_NAME})")
    parser.add_argument(
        "--account-key", default=None, help=f"its key, base64 (better: {ENV_ACCOUNT_KEY}, kept out of ps)"
    )
    parser.add_argument(
        "--dev-account",
        action="store_true",
        help=f"accept the published development account {DEV_ACCOUNT_NAME} (the default without a key)",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="DANGER: accept unsigned requests (loopback binds only; any local process can then run commands)",
    )
    parser.add_argument(
        "--allowed-hosts",
        type=_csv,
        default=[],
        help="comma-separated Host names clients use besides localhost and loopback addresses "
        "(required on a non-loopback bind)",
    )
    parser.add_argument(
        "--allowed-origins",
        type=_csv,
        default=[],
        help="comma-separated browser origins allowed to call (default none: web pages are refused)",
    )
    parser.add_argument(
        "--sandbox",
        choices=("off", "on", "auto"),
        default="off",
        help="run task processes in a sandbox (node folder the only writable place, no network): "
        "on (refuse to start without one), auto (when one works here), off (default)",
    )
    parser.add_argument(
        "--sandbox-network", action="store_true", help="let sandboxed tasks use the network (default: none)"
    )
    parser.add_argument("--transition-delay", type=float, default=1.0, help="seconds per state transition (default 1)")
    parser.add_argument(
        "--runner",
        choices=("process", "instant"),
        default="process",
        help="run tasks as processes, or finish them at once",
    )
    parser.add_argument(
        "--no-seed-pool", action="store_true", help="do not create the small ready pool 'local' at first start"
    )
    parser.add_argument(
        "--max-nodes-per-pool", type=int, default=8, help="cap on nodes per pool (each is a set of slots here)"
    )
    parser.add_argument(
        "--header-timeout",
        type=positive_seconds,
        default=RequestTimeouts.headers,
        help=f"seconds a client may take to send a request's headers (default {RequestTimeouts.headers:g}; "
        "slower ones are dropped)",
    )


def is_loopback_bind(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def config_from(args: argparse.Namespace, environ: dict[str, str] | None = None) -> EmulatorConfig:
    """The emulator's settings from the command line; UsageError for what cannot be served safely."""
    env = os.environ if environ is None else environ
    name = args.account_name or env.get(ENV_ACCOUNT_NAME) or None
    key = args.account_key or env.get(ENV_ACCOUNT_KEY) or None
    loopback = is_loopback_bind(args.host)
    if args.no_auth:
        if name or key or args.dev_account:
            raise UsageError("--no-auth cannot be combined with an account or key")
        if not loopback:
            raise UsageError(
                f"--no-auth is refused on a non-loopback bind ({args.host}): anyone who reaches the port could "
                "run commands as you; bind to 127.0.0.1 or keep Shared Key"
            )
    elif args.dev_account or not (name or key):
        if (name or key) and args.dev_account:
            raise UsageError("--dev-account cannot be combined with another account or key")
        name, key = DEV_ACCOUNT_NAME, DEV_ACCOUNT_KEY
    elif not (name and key):
        raise UsageError("give both an account name and its key (--account-name and " + ENV_ACCOUNT_KEY + ")")
    if not loopback and not args.allowed_hosts:
        raise UsageError(
            f"on a non-loopback bind ({args.host}), name the Host names clients use with --allowed-hosts "
            "(requests naming any other host are refused, against DNS rebinding)"
        )
    return EmulatorConfig(
        data_dir=args.data_dir or default_data_dir(),
        account_name=name,
        account_key=key,
        allowed_hosts=list(args.allowed_hosts),
        allowed_origins=list(args.allowed_origins),
        sandbox=sandbox_setting(args.sandbox),
        sandbox_network=args.sandbox_network,
        transition_delay=args.transition_delay,
        runner=args.runner,
        seed_pool=not args.no_seed_pool,
        max_nodes_per_pool=args.max_nodes_per_pool,
    )


def sandbox_setting(choice: str) -> Literal["off", "on"]:
    if choice == "auto":
        from batch_mcp.emulator.sandbox import detect

        return "on" if detect().available else "off"
    return "on" if choice == "on" else "off"


def describe_auth(config: EmulatorConfig) -> str:
    if not config.account_name:
        return "NO AUTHENTICATION: any local process can run commands"
    if config.account_key == DEV_ACCOUNT_KEY:
        return f"Shared Key, the published development account {config.account_name}"
    return f"Shared Key for account {config.account_name}"


def run(args: argparse.Namespace) -> int:
    import socket
    from pathlib import Path

    import uvicorn

    from batch_mcp.emulator.app import create_app
    from batch_mcp.emulator.hosting import FolderError, StateFolder

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from batch_mcp.emulator.sandbox import SandboxUnavailable, require

    try:
        config = config_from(args)
        if config.sandbox == "on":
            require()  # say so now, not from inside the server's start-up
    except (UsageError, SandboxUnavailable) as exc:
        print(f"batch-mcp emulator: {exc}", file=sys.stderr)
        return 2
    folder: StateFolder | None = None
    sockets = []
    if not config.in_memory:
        # own the state folder like an MCP server's emulator does; batch-mcp processes attach via its socket
        try:
            folder = StateFolder(Path(config.data_dir).expanduser().resolve())
        except FolderError as exc:
            print(f"batch-mcp emulator: {exc}", file=sys.stderr)
            return 2
        if not folder.try_lock():
            pid = folder.owner_pid()
            print(
                f"batch-mcp emulator: {config.data_dir} is served by another batch-mcp process"
                f"{f' (pid {pid})' if pid else ''}; stop it, or give this one another --data-dir",
                file=sys.stderr,
            )
            folder.close()
            return 2
        if config.verifies_shared_key:
            config.local_key = folder.key()
        sockets.append(folder.bind_socket())
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so (else ~40 ms per request)
    sock = socket.socket(
        socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)  # before the line below: a client that read it can connect at once
    sockets.insert(0, sock)
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    # the one line a script waits for: where the service is (printed before serving, flushed)
    sandbox = "tasks sandboxed" if config.sandbox == "on" else "tasks run on this computer"
    print(
        f"batch-mcp emulator listening on http://{shown}:{port} "
        f"({describe_auth(config)}; {sandbox}; data: {config.data_dir})",
        flush=True,
    )
    # clients that trickle their headers or body are dropped, as on the MCP server's HTTP transport
    guard = uvicorn_options(replace(RequestTimeouts(), headers=args.header_timeout))
    uvicorn_config = uvicorn.Config(
        create_app(config), log_level="warning", lifespan="on", access_log=False, timeout_graceful_shutdown=5, **guard
    )
    try:
        uvicorn.Server(uvicorn_config).run(sockets=sockets)
    finally:
        if folder is not None:
            folder.remove_socket()
            folder.close()
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "emulator",
        help="run the local Azure Batch emulator",
        description="Serve the Azure Batch REST API locally; tasks run as local processes.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)
    from batch_mcp.emulator.applications_cli import add_app_parser

    add_app_parser(parser)  # batch-mcp emulator app add|list|remove
    return parser
