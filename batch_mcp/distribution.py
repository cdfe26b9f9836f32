"""The install metadata other tools read, generated from `Settings` so it cannot drift from the
server: `server.json` for the MCP Registry (the PyPI package, run with `uvx`) and `manifest.json`
for an MCP Bundle (Claude Desktop and other MCPB hosts; `npx @anthropic-ai/mcpb pack .`).

`python -m batch_mcp.docs_gen` writes both; its `--check` (run by a test) fails when they are stale.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from batch_mcp import __version__
from batch_mcp.flags import base_type
from batch_mcp.settings import Settings, environment_names

ROOT = Path(__file__).resolve().parents[1]
# The registry name must be under a namespace its publisher proves (io.github.<owner>/ for a GitHub
# login); the README carries the same `mcp-name:` line, which the registry reads from PyPI.
REGISTRY_NAME = "io.github.batch-mcp/batch-mcp"
PYPI_NAME = "batch-mcp"
SUMMARY = "Azure Batch for agents: every Batch operation as a tool, guardrails, and a local emulator"
SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"

# What an installer asks for: the account, then the guardrails a first-time user most needs.
REGISTRY_SETTINGS = (
    "endpoint",
    "account",
    "access_key",
    "auth",
    "credential",
    "api_version",
    "toolsets",
    "read_only",
    "max_nodes",
    "emulator_exec",
    "audit_log",
)


def _default_text(name: str) -> str | None:
    default = Settings.model_fields[name].get_default(call_default_factory=True)
    if default is None or default == [] or isinstance(default, Path):
        return None  # a per-user path is the server's to choose on the user's machine
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, list):
        return ",".join(default)
    return str(default)


def registry_variable(name: str) -> dict[str, Any]:
    """One `environmentVariables` entry of server.json, from a Settings field."""
    field = Settings.model_fields[name]
    base = base_type(field.annotation)
    entry: dict[str, Any] = {
        "name": environment_names(name)[0],
        "description": field.description or "",
        "isRequired": False,
        "isSecret": base is SecretStr,
    }
    if base is bool:
        entry["format"] = "boolean"
    elif base in (int, float):
        entry["format"] = "number"
    elif base is Path:
        entry["format"] = "filepath"
    if typing.get_origin(base) is Literal:
        entry["choices"] = [str(c) for c in typing.get_args(base)]
    if name == "api_version":
        from batch_mcp.catalog.loader import available_versions

        entry["choices"] = available_versions()
    if (default := _default_text(name)) is not None:
        entry["default"] = default
    return entry


def server_json() -> dict[str, Any]:
    return {
        "$schema": SCHEMA_URL,
        "name": REGISTRY_NAME,
        "title": "Azure Batch",
        "description": SUMMARY,
        "version": __version__,
        "packages": [
            {
                "registryType": "pypi",
                "registryBaseUrl": "https://pypi.org",
                "identifier": PYPI_NAME,
                "version": __version__,
                "runtimeHint": "uvx",
                "transport": {"type": "stdio"},
                "environmentVariables": [registry_variable(name) for name in REGISTRY_SETTINGS],
            }
        ],
    }


# The MCP Bundle asks for fewer things, in a form: the account, the key (stored by the host as a
# secret), and the two guardrails a desktop user sets once.
BUNDLE_CONFIG: dict[str, tuple[str, dict[str, Any]]] = {
    "endpoint": ("Batch account URL", {"type": "string"}),
    "account": ("Batch account name", {"type": "string"}),
    "access_key": ("Shared Key", {"type": "string", "sensitive": True}),
    "read_only": ("Read-only", {"type": "boolean", "default": False}),
    "max_nodes": ("Largest pool size allowed", {"type": "number", "min": 0}),
}
BUNDLE_ENTRY = "batch_mcp/__main__.py"


def manifest_json() -> dict[str, Any]:
    user_config = {}
    env = {}
    for name, (title, kind) in BUNDLE_CONFIG.items():
        description = Settings.model_fields[name].description or ""
        user_config[name] = {"title": title, "description": description, "required": False, **kind}
        env[environment_names(name)[0]] = f"${{user_config.{name}}}"
    return {
        "manifest_version": "0.4",
        "name": PYPI_NAME,
        "display_name": "Azure Batch",
        "version": __version__,
        "description": SUMMARY,
        "author": {"name": "batch-mcp"},
        "license": "MIT",
        "keywords": ["azure", "batch", "hpc", "mcp"],
        "server": {
            "type": "uv",
            "entry_point": BUNDLE_ENTRY,
            "mcp_config": {
                "command": "uv",
                "args": ["run", "--directory", "${__dirname}", "batch-mcp"],
                "env": env,
            },
        },
        "tools_generated": True,
        "prompts_generated": True,
        "compatibility": {"platforms": ["darwin", "linux"], "runtimes": {"python": ">=3.11"}},
        "user_config": user_config,
    }


GENERATED = {
    ROOT / "server.json": server_json,
    ROOT / "manifest.json": manifest_json,
}


def rendered(make: Any) -> str:
    return json.dumps(make(), indent=2, ensure_ascii=False) + "\n"
