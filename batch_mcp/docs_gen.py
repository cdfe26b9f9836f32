"""Doc tables generated from the code: README's settings (from `Settings` and its flags) and
default tool set (from the catalog and the selection), and docs/guards.md's review of every tool
that can change something (from both catalogs' guard classes and effect rules). A test fails
when either is stale.

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

    parts = assemble(Settings.model_validate({}))  # the defaults, whatever this shell's environment says
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


def guard_review_table() -> str:
    """Every tool that can change something, in both catalogs, with what guards each effect."""
    from batch_mcp.catalog import load_catalog
    from batch_mcp.catalog.effects import CONDITIONS

    versions = ("2024-02-01.19.0", "2018-08-01.7.0")
    rows: dict[str, dict[tuple[str, str, str], set[str]]] = {}
    order: dict[str, tuple[str, str]] = {}
    whole = {
        "destructive": "asks, with the impact read from live state",
        "scale": "dry_run plan; asks when running work would stop",
    }
    for version in versions:
        for tool in load_catalog(version):
            if tool.guard == "read":
                continue
            order[tool.name] = (tool.toolset, tool.name)
            found = rows.setdefault(tool.name, {})
            first = tool.review if tool.guard == "write" else tool.description
            found.setdefault(("—", first or "", whole.get(tool.guard, "write")), set()).add(version)
            derived: dict[str, list[str]] = {}
            for effect in tool.effects:
                name = effect.field.strip("/").replace("/", ".")
                if effect.guard == "asks":
                    when = "asks" if effect.when == "always" else f"asks when {CONDITIONS[effect.when or 'always']}"
                    if effect.equals:
                        name += f" = {effect.equals}"
                    found.setdefault((f"`{name}`", effect.effect, when), set()).add(version)
                else:
                    derived.setdefault(effect.guard, []).append(f"`{name}`")
            for guard, names in derived.items():
                label = {"exec": "execution policy (local emulator)", "max_nodes": "--max-nodes"}[guard]
                what = {"exec": "runs code", "max_nodes": "sizes a pool"}[guard]
                found.setdefault((", ".join(names), what, label), set()).add(version)
    lines = ["| tool | field | effect | guard |", "|---|---|---|---|"]
    for name in sorted(rows, key=lambda n: order[n]):
        for (field, effect, guard), seen in rows[name].items():
            only = f" ({next(iter(seen))} only)" if len(seen) < len(versions) else ""
            lines.append(f"| `{name}` | {field} | {effect}{only} | {guard} |")
    return "\n".join(lines)


SECTIONS = {"settings": settings_table, "default-tools": default_tools_table}
DOC_SECTIONS = {
    README: SECTIONS,
    README.parent / "docs" / "guards.md": {"guard-review": guard_review_table},
}


def render(readme: str, sections: dict | None = None) -> str:
    for name, make in (SECTIONS if sections is None else sections).items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        if not pattern.search(readme):
            raise SystemExit(f"no <!-- {name}:start/end --> markers")
        readme = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = False
    from batch_mcp.distribution import GENERATED, rendered

    for path, make in GENERATED.items():  # install metadata: server.json, manifest.json
        wanted = rendered(make)
        if path.is_file() and path.read_text(encoding="utf-8") == wanted:
            continue
        if args.check:
            print(f"{path.name} is stale: run python -m batch_mcp.docs_gen", file=sys.stderr)
            stale = True
        else:
            path.write_text(wanted, encoding="utf-8")
    for path, sections in DOC_SECTIONS.items():
        current = path.read_text(encoding="utf-8")
        wanted = render(current, sections)
        if wanted == current:
            continue
        if args.check:
            print(f"{path.name} is stale: run python -m batch_mcp.docs_gen", file=sys.stderr)
            stale = True
        else:
            path.write_text(wanted, encoding="utf-8")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
