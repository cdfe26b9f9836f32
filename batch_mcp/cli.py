"""The `batch-mcp` command. Each subcommand lives beside the code it drives and is imported only
when used, so `batch-mcp` (serve) starts without loading the generator, emulator or test tools."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from batch_mcp.catalog.cli import add_parser as add_catalog
    from batch_mcp.emulator.cli import add_parser as add_emulator
    from batch_mcp.server.cli import add_common_arguments, add_parsers, add_serve_arguments, run_serve

    parser = argparse.ArgumentParser(
        prog="batch-mcp",
        description="MCP server for Azure Batch. Without a subcommand it serves MCP (stdio by default); with "
        "no Batch endpoint configured it runs a local Batch emulator in-process.",
    )
    add_common_arguments(parser)
    add_serve_arguments(parser)
    parser.set_defaults(handler=run_serve)
    subparsers = parser.add_subparsers(dest="command", metavar="{catalog,tools,call,emulator}")
    add_catalog(subparsers)
    add_parsers(subparsers)
    add_emulator(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
