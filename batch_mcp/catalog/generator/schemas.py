"""Turning spec models into the JSON Schemas of the catalog.

Three shapes come out of one spec model:

* the *compact* input schema a client sees in `tools/list`: models inlined (no `$ref`, which
  several clients drop or reject), spec prose dropped, and rarely used deep subtrees replaced by
  a typed stub that names the model whose full schema `batch_schema` returns;
* the *full* model definitions (`models.json`), strict (`additionalProperties: false`), which the
  server validates every call against, so a collapsed stub never weakens validation;
* the *shallow* output schema: top-level fields typed, nested values left open, because clients
  reject results that do not match and the live service returns fields older specs lack.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from batch_mcp.catalog.bounds import field_bounds
from batch_mcp.catalog.generator.spec import Spec
from batch_mcp.catalog.schema_utils import escape_token, iter_refs, set_at_pointer

# JSON Schema formats that validators and clients understand; the spec's own (int32, double,
# date-time-rfc1123, byte, ...) say nothing a model needs and are dropped.
STANDARD_FORMATS = frozenset({"date-time", "duration", "uuid", "uri"})
COPIED_KEYWORDS = ("enum", "minimum", "maximum", "minItems", "maxItems", "minLength", "maxLength", "pattern")

# Subtrees that few calls need and that would double the size of the tools that carry them
# (networking, mounts, containers, disks, identities...). They stay fully validated and are one
# `batch_schema` call away. Anything else that still does not fit is collapsed by size.
ALWAYS_COLLAPSE = frozenset(
    {
        "AuthenticationTokenSettings",
        "AutoPoolSpecification",
        "AzureBlobFileSystemConfiguration",
        "AzureFileShareConfiguration",
        "BatchPoolIdentity",
        "CertificateReference",
        "CIFSMountConfiguration",
        "CloudServiceConfiguration",
        "ContainerConfiguration",
        "DataDisk",
        "DiskEncryptionConfiguration",
        "ExitConditions",
        "JobManagerTask",
        "JobNetworkConfiguration",
        "JobPreparationTask",
        "JobReleaseTask",
        "LinuxUserConfiguration",
        "MountConfiguration",
        "MultiInstanceSettings",
        "NetworkConfiguration",
        "NFSMountConfiguration",
        "NodePlacementConfiguration",
        "OSDisk",
        "OutputFile",
        "PoolEndpointConfiguration",
        "SecurityProfile",
        "ServiceArtifactReference",
        "TaskContainerSettings",
        "UpgradePolicy",
        "UserAccount",
        "VMExtension",
        "WindowsConfiguration",
        "WindowsUserConfiguration",
    }
)

# A 64-bit integer in a result: the service sends some as JSON strings of digits (its JSON writer keeps
# them exact), others as numbers, so output schemas accept both; the client turns the strings into
# numbers (Catalog.int64_fields), so what a caller receives is a number.
INT64: dict[str, Any] = {"type": ["integer", "string"], "pattern": "^-?[0-9]+$"}

# Fields results leave out unless `select`ed (see server/lean.py): not described in output schemas.
RESULT_BOOKKEEPING = frozenset({"url", "eTag", "lastModified"})

MODEL_MARK = "x-model"  # internal marker on inlined model objects; never written to the catalog
BOUNDS_MARK = "x-bounds"  # internal: bounds of an inlined field, moved to the tool's `bounds` overlay


def minified_size(schema: Any) -> int:
    return len(json.dumps(schema, separators=(",", ":"), ensure_ascii=False).encode())


def stub(model: str) -> dict[str, Any]:
    """The compact stand-in for a collapsed model."""
    return {"type": "object", "description": f"{model}; full schema: batch_schema"}


class SchemaBuilder:
    def __init__(self, spec: Spec, field_texts: dict[str, str]) -> None:
        self.spec = spec
        self.field_texts = field_texts

    # -- conversion -------------------------------------------------------------------------

    def _text(self, model: str | None, prop: str) -> str | None:
        return self.field_texts.get(f"{model}.{prop}") or self.field_texts.get(prop)

    def convert(
        self, schema: dict[str, Any], *, inline: bool, model: str | None = None, trail: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """Convert a spec schema. inline=True expands references (compact shape, marked with
        the model name); inline=False keeps them as `#/$defs/` references (full shape)."""
        if "$ref" in schema:
            name, target = self.spec.definition(schema["$ref"])
            is_model = target.get("type", "object") == "object" and "enum" not in target
            if not inline and is_model:
                return {"$ref": f"#/$defs/{name}"}
            if name in trail:  # a cycle: stop with a stub
                return stub(name)
            out = self.convert(target, inline=inline, model=name, trail=(*trail, name))
            if is_model and inline:
                out[MODEL_MARK] = name
            return out
        kind = schema.get("type") or ("object" if "properties" in schema else None)
        out: dict[str, Any] = {}
        if kind:
            out["type"] = kind
        if schema.get("format") in STANDARD_FORMATS:
            out["format"] = schema["format"]
        for key in COPIED_KEYWORDS:
            if key in schema:
                out[key] = schema[key]
        if kind == "array" and "items" in schema:
            out["items"] = self.convert(schema["items"], inline=inline, model=model, trail=trail)
        if "properties" in schema:
            props: dict[str, Any] = {}
            for name, prop in schema["properties"].items():
                if prop.get("readOnly"):
                    continue
                converted = self.convert(prop, inline=inline, model=model, trail=trail)
                extra = {**_int32_range(prop, converted), **field_bounds(model, name, converted)}
                _bound(converted, extra, inline=inline)
                text = self._text(model, name)
                if text:
                    converted["description"] = text
                props[name] = converted
            out["properties"] = props
            required = [r for r in schema.get("required", []) if r in props]
            if required:
                out["required"] = required
            if not inline:
                out["additionalProperties"] = False
        if isinstance(schema.get("additionalProperties"), dict):
            out["additionalProperties"] = self.convert(
                schema["additionalProperties"], inline=inline, model=model, trail=trail
            )
        return out

    def model_definitions(self, names: set[str]) -> dict[str, Any]:
        """Full, strict definitions of `names` and every model they reach."""
        defs: dict[str, Any] = {}
        pending = sorted(names)
        while pending:
            name = pending.pop()
            if name in defs:
                continue
            converted = self.convert(self.spec.definitions[name], inline=False, model=name)
            defs[name] = converted
            pending.extend(sorted(set(iter_refs(converted)) - defs.keys()))
        return dict(sorted(defs.items()))

    # -- output ---------------------------------------------------------------------------

    def shallow(self, model: str) -> dict[str, Any]:
        """Top-level fields typed, nested values open; bookkeeping the server leaves out of results
        unless selected is not described (the schema stays open to it)."""
        _, target = self.spec.definition(model)
        props: dict[str, Any] = {}
        for name, prop in target.get("properties", {}).items():
            if name in RESULT_BOOKKEEPING:
                continue
            if prop.get("format") == "int64":
                props[name] = dict(INT64)
                continue
            kind = prop.get("type")
            if "$ref" in prop:
                _, ref = self.spec.definition(prop["$ref"])
                kind = ref.get("type", "object")
            props[name] = {"type": kind or "object"}
        return {"type": "object", "properties": props}

    def projected(self, model: str, paths: list[str]) -> dict[str, Any]:
        """The schema of `paths` (`a/b/c`) of `model`: each level typed, objects listing only the
        projected fields (and still open, as `select` may return others). KeyError names a path
        segment the model lacks."""
        root: dict[str, Any] = {"type": "object", "properties": {}}
        for path in paths:
            node, target = root, self.spec.definition(model)[1]
            segments = path.split("/")
            for depth, segment in enumerate(segments):
                spec_prop = target.get("properties", {}).get(segment)
                if spec_prop is None:
                    raise KeyError(f"{path} ({segment})")
                kind, target = self._resolved(spec_prop)
                holder = node["items"] if node["type"] == "array" else node
                leaf = dict(INT64) if spec_prop.get("format") == "int64" else {"type": kind}
                child = holder.setdefault("properties", {}).setdefault(segment, leaf)
                if depth < len(segments) - 1 and kind == "array":
                    child.setdefault("items", {"type": "object"})
                node = child
        return root

    def int64_fields(self) -> list[str]:
        """Names of every int64 property of the spec's models. Results are converted by name, so the
        build fails if a name is also used for something else."""
        int64: set[str] = set()
        other: set[str] = set()
        for definition in self.spec.definitions.values():
            for name, prop in (definition.get("properties") or {}).items():
                (int64 if prop.get("format") == "int64" else other).add(name)
        clash = int64 & other
        if clash:
            raise ValueError(f"int64 fields that are not int64 elsewhere: {sorted(clash)}")
        return sorted(int64)

    def _resolved(self, prop: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(JSON type, the schema whose properties a deeper path segment looks in) of a spec property."""
        if "$ref" in prop:
            _, target = self.spec.definition(prop["$ref"])
            return target.get("type", "object"), target
        if prop.get("type") == "array" and "$ref" in prop.get("items", {}):
            return "array", self.spec.definition(prop["items"]["$ref"])[1]
        return prop.get("type", "object"), prop


# -- compaction ---------------------------------------------------------------------------


def _model_nodes(node: Any, pointer: str, depth: int) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Every inlined model object below the root: (JSON pointer, depth, node)."""
    if not isinstance(node, dict):
        return
    if MODEL_MARK in node and pointer:
        yield pointer, depth, node
        depth += 1
    for key in ("properties",):
        for name, child in node.get(key, {}).items():
            yield from _model_nodes(child, f"{pointer}/{key}/{escape_token(name)}", depth)
    if "items" in node:
        yield from _model_nodes(node["items"], f"{pointer}/items", depth)


def compact(root: dict[str, Any], budget: int) -> dict[str, str]:
    """Collapse inlined models in place; return {JSON pointer: model name} of the stubs.

    First every model in ALWAYS_COLLAPSE; then, while the schema is over `budget` bytes, the
    deepest model subtree (largest first at equal depth), so top-level structure survives
    longest. The order is fully determined by the schema, so rebuilds are identical.
    """
    collapsed: dict[str, str] = {}

    def collapse(pointer: str, model: str) -> None:
        set_at_pointer(root, pointer, stub(model))
        collapsed[pointer] = model

    for pointer, _depth, node in list(_model_nodes(root, "", 0)):
        if node[MODEL_MARK] in ALWAYS_COLLAPSE and not any(pointer.startswith(p + "/") for p in collapsed):
            collapse(pointer, node[MODEL_MARK])
    while minified_size(strip_marks(root)) > budget:
        candidates = [
            (depth, minified_size(_unbounded(node)), pointer, node[MODEL_MARK])
            for pointer, depth, node in _model_nodes(root, "", 0)
        ]
        if not candidates:
            break
        candidates.sort(key=lambda c: (-c[0], -c[1], c[2]))
        _, _, pointer, model = candidates[0]
        collapse(pointer, model)
    return dict(sorted(collapsed.items()))


INT32_RANGE = {"minimum": -(2**31), "maximum": 2**31 - 1}


def _int32_range(spec_prop: dict[str, Any], converted: dict[str, Any]) -> dict[str, Any]:
    """A 32-bit field's range, where the spec gives it no tighter one: the service refuses 2^31."""
    if spec_prop.get("format") != "int32" or converted.get("type") != "integer":
        return {}
    return {k: v for k, v in INT32_RANGE.items() if k not in converted}


def _bound(node: dict[str, Any], extra: dict[str, Any], *, inline: bool) -> None:
    """Give a field its bounds: in a full model directly; in an inlined (sent) schema as a mark that
    `take_bounds` moves out, so that the bounds are checked but never sent."""
    items = extra.pop("items", None)
    if items and isinstance(node.get("items"), dict):
        _bound(node["items"], items, inline=inline)
    if not extra:
        return
    if inline:
        node[BOUNDS_MARK] = extra
    else:
        node.update(extra)


def take_bounds(node: Any, pointer: str = "") -> dict[str, dict[str, Any]]:
    """The bounds marked in an inlined schema, by JSON pointer; the marks are removed."""
    found: dict[str, dict[str, Any]] = {}
    if not isinstance(node, dict):
        return found
    extra = node.pop(BOUNDS_MARK, None)
    if extra:
        found[pointer or "/"] = extra
    for name, child in (node.get("properties") or {}).items():
        found.update(take_bounds(child, f"{pointer}/properties/{escape_token(name)}"))
    if isinstance(node.get("items"), dict):
        found.update(take_bounds(node["items"], f"{pointer}/items"))
    return found


def _unbounded(node: Any) -> Any:
    """`node` without bounds marks (which are never sent), for measuring what is."""
    if isinstance(node, dict):
        return {k: _unbounded(v) for k, v in node.items() if k != BOUNDS_MARK}
    if isinstance(node, list):
        return [_unbounded(v) for v in node]
    return node


def strip_marks(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip_marks(v) for k, v in node.items() if k not in (MODEL_MARK, BOUNDS_MARK)}
    if isinstance(node, list):
        return [strip_marks(v) for v in node]
    return node
