"""Loading a generated catalog at run time: plain JSON reads, no spec parsing.

Validators are built on first use of a tool, so server start pays only for reading the files.
"""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from batch_mcp.catalog.model import ToolDef
from batch_mcp.catalog.schema_utils import iter_refs, node_at_pointer, set_at_pointer

DEFAULT_API_VERSION = "2024-02-01.19.0"
CATALOG_DIR_ENV = "BATCH_MCP_CATALOG_DIR"


def catalog_root() -> Path:
    """tool_schemas/ inside an installed wheel, else at the top of a source checkout."""
    override = os.environ.get(CATALOG_DIR_ENV)
    if override:
        return Path(override)
    here = Path(__file__).resolve()
    for candidate in (here.parent.parent / "tool_schemas", here.parents[2] / "tool_schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("no tool_schemas directory found; run `batch-mcp catalog build`")


def available_versions(root: Path | None = None) -> list[str]:
    root = root or catalog_root()
    return sorted(p.name for p in root.iterdir() if (p / "index.json").is_file())


class Catalog:
    """All tools of one API version, in the catalog's stable order."""

    def __init__(
        self,
        api_version: str,
        spec_sha256: str,
        tools: dict[str, ToolDef],
        models: dict[str, Any],
        int64_fields: frozenset[str] = frozenset(),
    ) -> None:
        self.api_version = api_version
        self.spec_sha256 = spec_sha256
        self.tools = tools
        self.models = models  # {"ModelName": full strict JSON schema with #/$defs/ refs}
        self.int64_fields = int64_fields  # response fields the service may send as strings of digits
        self._validators: dict[str, Any] = {}

    def __getitem__(self, name: str) -> ToolDef:
        return self.tools[name]

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    def __iter__(self):
        return iter(self.tools.values())

    def __len__(self) -> int:
        return len(self.tools)

    def validation_schema(self, name: str) -> dict[str, Any]:
        """The schema every call is checked against: the tool's input schema with its bounds (which
        are not sent to clients), each collapsed stub replaced by its full model, and every object
        strict about unknown fields."""
        tool = self.tools[name]
        schema = _strict(copy.deepcopy(dict(tool.input_schema)))
        for pointer, keywords in tool.bounds.items():
            node_at_pointer(schema, pointer).update(keywords)
        for pointer, model in tool.collapsed.items():
            set_at_pointer(schema, pointer, {"$ref": f"#/$defs/{model}"})
        if tool.collapsed:
            schema["$defs"] = self.model_closure(set(tool.collapsed.values()))
        return schema

    def model_closure(self, names: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        pending = list(names)
        while pending:
            name = pending.pop()
            if name in out:
                continue
            out[name] = self.models[name]
            pending.extend(iter_refs(self.models[name]))
        return out

    def validator(self, name: str) -> Any:
        """A cached jsonschema validator for the tool's arguments (imported on first use)."""
        validator = self._validators.get(name)
        if validator is None:
            from batch_mcp.catalog.validation import make_validator

            validator = make_validator(self.validation_schema(name))
            self._validators[name] = validator
        return validator


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _strict(value)
    elif isinstance(node, list):
        for value in node:
            _strict(value)
    return node


@cache
def load_catalog(api_version: str = DEFAULT_API_VERSION, root: Path | None = None) -> Catalog:
    root = root or catalog_root()
    folder = root / api_version
    if not (folder / "index.json").is_file():
        versions = ", ".join(available_versions(root)) or "none"
        raise LookupError(f"no catalog for api-version {api_version!r} in {root} (available: {versions})")
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    tools = {}
    for entry in index["tools"]:
        data = json.loads((folder / f"{entry['name']}.json").read_text(encoding="utf-8"))
        tools[entry["name"]] = ToolDef.from_json(data)
    models = json.loads((folder / "models.json").read_text(encoding="utf-8"))["$defs"]
    return Catalog(index["apiVersion"], index["specSha256"], tools, models, frozenset(index.get("int64Fields", ())))
