"""`batch-mcp emulator`: run the local Batch service standalone, for the official SDKs, the Azure
CLI or any HTTP client."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from batch_mcp.emulator.config import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME, EmulatorConfig, default_data_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port to listen on (default 8089; 0 picks a free one)")
    parser.add_argument(
        "--data-dir",
        default=None,
        help=f"where state and node files live (default {default_data_dir()}; ':memory:' keeps nothing)",
    )
    parser.add_argument("--account-name", default=None, help="verify Shared Key signatures for this account name")
    parser.add_argument("--account-key", default=None, help="the account key (base64) to verify signatures with")
    parser.add_argument(
        "--dev-account",
        action="store_true",
        help=f"verify Shared Key with the well-known dev account {DEV_ACCOUNT_NAME} and its published key",
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


def config_from(args: argparse.Namespace) -> EmulatorConfig:
    name, key = args.account_name, args.account_key
    if args.dev_account:
        name, key = DEV_ACCOUNT_NAME, DEV_ACCOUNT_KEY
    return EmulatorConfig(
        data_dir=args.data_dir or default_data_dir(),
        account_name=name,
        account_key=key,
        transition_delay=args.transition_delay,
        runner=args.runner,
        seed_pool=not args.no_seed_pool,
        max_nodes_per_pool=args.max_nodes_per_pool,
    )


def run(args: argparse.Namespace) -> int:
    import socket

    import uvicorn

    from batch_mcp.emulator.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = config_from(args)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so (else ~40 ms per request)
    sock = socket.socket(
        socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)  # connections queue from the moment the line below is printed
    port = sock.getsockname()[1]
    auth = f"Shared Key for account {config.account_name}" if config.verifies_shared_key else "no authentication"
    # the one line a script waits for: where the service is (printed before serving, flushed)
    print(f"batch-mcp emulator listening on http://{args.host}:{port} ({auth}; data: {config.data_dir})", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", lifespan="on", access_log=False))
    server.run(sockets=[sock])
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "emulator",
        help="run the local Azure Batch emulator",
        description="Serve the Azure Batch REST API locally; tasks run as local processes.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)
    return parser
