"""`batch-mcp emulator app ...`: register application packages with the emulator of a state folder.

    batch-mcp emulator app add APP_ID VERSION PATH [--display-name TEXT] [--default] [--data-dir DIR]
    batch-mcp emulator app list [--data-dir DIR]
    batch-mcp emulator app remove APP_ID [VERSION] [--data-dir DIR]

PATH is a zip file or a folder. The packages land in `<state folder>/applications/` (see
applications.py), which the emulator reads on every request, so a running emulator (standalone or
an MCP server's) sees them at once.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from batch_mcp.emulator.applications import Applications, add_package
from batch_mcp.emulator.config import default_data_dir


def folder(args: argparse.Namespace) -> Path:
    return Path(args.data_dir or default_data_dir()).expanduser() / "applications"


def run_add(args: argparse.Namespace) -> int:
    try:
        target = add_package(
            folder(args),
            args.application_id,
            args.version,
            Path(args.path).expanduser(),
            display_name=args.display_name,
            make_default=args.default,
        )
    except (ValueError, OSError) as exc:
        print(f"batch-mcp emulator app add: {exc}", file=sys.stderr)
        return 2
    print(f"{args.application_id} {args.version}: {target}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    print(json.dumps(Applications(folder(args)).list(), indent=2))
    return 0


def run_remove(args: argparse.Namespace) -> int:
    app_dir = folder(args) / args.application_id
    versioned = [app_dir / str(args.version), app_dir / f"{args.version}.zip"]
    targets = [app_dir] if args.version is None else versioned
    found = [t for t in targets if t.exists()]
    if not found:
        print(f"batch-mcp emulator app remove: no such package in {folder(args)}", file=sys.stderr)
        return 2
    for target in found:
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    return 0


def add_app_parser(emulator: argparse.ArgumentParser) -> None:
    commands = emulator.add_subparsers(dest="emulator_command", title="commands", metavar="{app}", required=False)
    app = commands.add_parser(
        "app",
        help="register application packages (zip files or folders)",
        description="Manage the application packages of a state folder's emulator, kept as files in its "
        "applications/ folder; a running emulator serves changes at once.",
    )
    actions = app.add_subparsers(dest="app_command", metavar="ACTION", required=True)

    def data_dir(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--data-dir", default=None, help=f"the emulator's state folder (default {default_data_dir()})"
        )

    add = actions.add_parser("add", help="add (or replace) a package version")
    add.add_argument("application_id", help="the application id (letters, digits, - and _)")
    add.add_argument("version", help="the version (letters, digits, -, _ and .)")
    add.add_argument("path", help="a zip file or a folder")
    add.add_argument("--display-name", default=None, help="the application's display name")
    add.add_argument("--default", action="store_true", help="make this the application's default version")
    data_dir(add)
    add.set_defaults(handler=run_add)
    listing = actions.add_parser("list", help="list applications and versions as the emulator serves them")
    data_dir(listing)
    listing.set_defaults(handler=run_list)
    remove = actions.add_parser("remove", help="remove an application, or one of its versions")
    remove.add_argument("application_id")
    remove.add_argument("version", nargs="?", default=None)
    data_dir(remove)
    remove.set_defaults(handler=run_remove)


__all__: list[Any] = ["add_app_parser"]
