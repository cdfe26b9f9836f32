"""The `batch-mcp` command. Each subcommand lives beside the code it drives and is imported only
when used, so `batch-mcp` (serve) starts without loading the generator, emulator or test tools."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batch-mcp",
        description="MCP server for Azure Batch. Without a subcommand, serves MCP (stdio by default).",
    )
    subparsers = parser.add_subparsers(dest="command")
    from batch_mcp.catalog.cli import add_parser as add_catalog

    add_catalog(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return int(handler(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
