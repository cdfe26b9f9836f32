"""README tables generated from the code: settings (from `Settings` and its flags) and the
default tool set (from the catalog and the selection). A test fails when the README is stale.

    python -m batch_mcp.docs_gen            # rewrite the marked sections of README.md
    python -m batch_mcp.docs_gen --check    # exit 1 if README.md is not current
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _flags() -> dict[str, str]:
    from batch_mcp.flags import setting_flags

    return {spec.name: spec.flag for spec in setting_flags()}


def settings_table() -> str:
    flags = _flags()
    saved = {k: os.environ.pop(k) for k in ("XDG_STATE_HOME", "XDG_DATA_HOME") if k in os.environ}
    try:  # per-user defaults shown as ~/..., whoever generates the table
        return _settings_rows(flags)
    finally:
        os.environ.update(saved)


def _settings_rows(flags: dict[str, str]) -> str:
    from pydantic import AliasChoices

    from batch_mcp.settings import Settings

    rows = ["| flag | environment | default | what it does |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        envs = [f"BATCH_MCP_{name.upper()}"]
        if isinstance(field.validation_alias, AliasChoices):
            envs = [a for a in field.validation_alias.choices if isinstance(a, str) and a.isupper()]
            envs.sort(key=lambda e: not e.startswith("AZURE"))
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list):
            default = ",".join(default)
        if isinstance(default, Path):
            default = str(default).replace(str(Path.home()), "~", 1)
        shown = "" if default in (None, "", False) else f"`{default}`"
        flag = f"`{flags[name]}`" if name in flags else ""
        rows.append(f"| {flag} | {' '.join(f'`{e}`' for e in envs)} | {shown} | {field.description or ''} |")
    rows.append(
        "| `--no-confirm` | (none, on purpose) | | run destructive and scale-down calls without asking "
        "the user; for unattended automation |"
    )
    return "\n".join(rows)


def default_tools_table() -> str:
    from batch_mcp.catalog.listing import minified, tool_listing
    from batch_mcp.server import assemble
    from batch_mcp.settings import Settings

    parts = assemble(Settings())
    tools = {**parts.catalog.tools, **parts.server_tools}
    rows = ["| tool | toolset | guard | what it does |", "|---|---|---|---|"]
    total = 0
    for name in parts.selection.listed:
        tool = tools[name]
        total += len(minified(tool_listing(tool)).encode())
        rows.append(f"| `{name}` | {tool.toolset} | {tool.guard} | {tool.description} |")
    rows.append("")
    rows.append(
        f"{len(parts.selection.listed)} tools, {total:,} bytes of `tools/list` (minified JSON); "
        f"{len(parts.selection.enabled) - len(parts.selection.listed)} more reachable through "
        "`batch_tools` and `batch_call`."
    )
    return "\n".join(rows)


SECTIONS = {"settings": settings_table, "default-tools": default_tools_table}


def render(readme: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        if not pattern.search(readme):
            raise SystemExit(f"README.md has no <!-- {name}:start/end --> markers")
        readme = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    current = README.read_text(encoding="utf-8")
    wanted = render(current)
    if args.check:
        if wanted != current:
            print("README.md is stale: run python -m batch_mcp.docs_gen", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
