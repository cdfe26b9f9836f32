"""`batch-mcp catalog build`: regenerate a catalog from a Batch spec (the tests check the committed one)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    catalog = subparsers.add_parser(
        "catalog",
        help="build the tool catalog from a Batch spec",
        description="Generate tool_schemas/<api-version>/ (one JSON tool definition per operation) from a "
        "Batch Swagger spec; review the diff like code.",
    )
    actions = catalog.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="generate tool_schemas/<api-version>/ from a BatchService.json")
    build.add_argument("--spec", required=True, type=Path, help="path to a Swagger 2.0 BatchService.json")
    build.add_argument("--out", type=Path, default=None, help="output root (default: the catalog in use)")
    build.set_defaults(handler=run_build)


def run_build(args: argparse.Namespace) -> int:
    from batch_mcp.catalog.generator.build import CatalogError, build_catalog, write_catalog
    from batch_mcp.catalog.generator.spec import SpecError
    from batch_mcp.catalog.loader import catalog_root

    try:
        catalog = build_catalog(args.spec)
    except SpecError as exc:
        print(f"batch-mcp catalog build: {exc}", file=sys.stderr)
        return 2
    except CatalogError as exc:
        print(f"catalog build failed: {exc}", file=sys.stderr)
        return 1
    out_root = args.out or catalog_root()
    folder = write_catalog(catalog, out_root)
    index = catalog["index"]
    print(f"{index['apiVersion']}: {len(index['tools'])} tools -> {folder}")
    return 0
