"""`batch-mcp catalog build`: spec → one JSON tool definition per operation.

Argument layout (the same for every tool): request-level arguments (path ids, query options,
conditional headers, our own `dry_run`/`continuation`) are snake_case; the fields of the request
body sit beside them at the top level under their wire names (camelCase), exactly as the Batch
REST docs and JSON show them. A model fills one flat object, and the executor can tell where
each argument goes from the tool's HTTP binding.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_mcp.catalog.bounds import ARG_BOUNDS
from batch_mcp.catalog.generator.effects import EffectError, derived_effects, text_effects
from batch_mcp.catalog.generator.schemas import INT64, SchemaBuilder, compact, strip_marks, take_bounds
from batch_mcp.catalog.generator.spec import Operation, Parameter, Spec

TEXTS_PATH = Path(__file__).resolve().parent.parent / "texts.toml"
TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
GUARDS = ("read", "write", "scale", "destructive")
TOOLSETS = (
    "pools",
    "nodes",
    "jobs",
    "job_schedules",
    "tasks",
    "files",
    "certificates",
    "applications",
    "account",
)

# Per-request plumbing the client fills in; never a tool argument.
BOILERPLATE = frozenset(
    {"api-version", "timeout", "timeOut", "client-request-id", "return-client-request-id", "ocp-date"}
)
# Wire query names → argument names (anything else: snake_case of the wire name).
QUERY_ARGS = {
    "$filter": "filter",
    "$select": "select",
    "$expand": "expand",
    "maxresults": "max_results",
    "starttime": "start_time",
    "endtime": "end_time",
}
# Headers worth exposing, and on which operations: If-Match guards writes against lost updates;
# the byte range makes big files readable. The rest (If-None-Match, If-Modified-Since, ...) stay
# available to internal callers through the binding's `headers` list.
HEADER_ARGS = {"If-Match": "if_match", "ocp-range": "range"}
HEADER_PATTERNS = {"ocp-range": {"pattern": "^bytes=[0-9]+-[0-9]*$"}}
INTERNAL_HEADERS = ("If-None-Match", "If-Modified-Since", "If-Unmodified-Since")

# Size budget (minified bytes) for one tool's input schema before size-driven collapsing starts.
INPUT_BUDGET = 5000
LIST_ITEM_CAP = 1000


@dataclass(frozen=True)
class OperationText:
    name: str
    title: str
    description: str
    guard: str
    toolset: str
    destructive: bool = False
    idempotent: bool = False
    review: str | None = None  # for write tools: why a plain write is right, or what the effects guard
    effects: tuple[dict[str, Any], ...] = ()  # hand-written effect rules (see catalog/effects.py)


def load_texts(path: Path = TEXTS_PATH) -> tuple[dict[str, OperationText], dict[str, str], dict[str, str]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    ops: dict[str, OperationText] = {}
    for toolset in TOOLSETS:
        for key, entry in data.get(toolset, {}).items():
            entry = {**entry, "effects": tuple(entry.get("effects", ()))}
            ops[key] = OperationText(toolset=toolset, **entry)
    unknown = set(data) - set(TOOLSETS) - {"args", "fields", "projections"}
    if unknown:
        raise CatalogError(f"texts.toml: unknown sections {sorted(unknown)}")
    return ops, data.get("args", {}), data.get("fields", {})


def load_projections(path: Path = TEXTS_PATH) -> dict[str, list[str]]:
    """The default fields of list items, by item model (the `[projections]` table)."""
    return tomllib.loads(path.read_text(encoding="utf-8")).get("projections", {})


class CatalogError(Exception):
    """The spec and the texts do not make a valid catalog."""


def snake(name: str) -> str:
    name = name.lstrip("$").replace("-", "_")
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _param_schema(p: Parameter) -> dict[str, Any]:
    s = p.schema
    out: dict[str, Any] = {"type": s.get("type", "string")}
    if s.get("format") in ("date-time", "uuid") or s.get("format") == "date-time-rfc1123":
        out["format"] = "date-time" if s["format"].startswith("date-time") else s["format"]
    for key in ("enum", "minimum", "maximum"):
        if key in s:
            out[key] = s[key]
    if out["type"] == "array":
        out["items"] = {"type": s.get("items", {}).get("type", "string")}
    return out


def _result_kind(op: Operation) -> tuple[str, list[int]]:
    codes = sorted(int(c) for c in op.responses if c.isdigit())
    ok = [c for c in codes if c < 300]
    if op.method == "HEAD":
        if 404 in codes:
            return "exists", ok
        return "file_properties", ok
    body = op.responses.get(str(ok[0]), {}).get("schema") if ok else None
    if body is None:
        return "headers", ok
    if "$ref" not in body:
        return "bytes", ok  # a file/stream body declared as a bare type
    return ("list" if op.pageable else "json"), ok


FILE_PROPERTIES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "contentLength": INT64,
        "contentType": {"type": "string"},
        "creationTime": {"type": "string"},
        "lastModified": {"type": "string"},
        "isDirectory": {"type": "boolean"},
        "url": {"type": "string"},
        "fileMode": {"type": "string"},
    },
}
EXISTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"exists": {"type": "boolean"}},
    "required": ["exists"],
}


def build_tool(
    op: Operation,
    text: OperationText,
    builder: SchemaBuilder,
    arg_texts: dict[str, str],
    projections: dict[str, list[str]] | None = None,
) -> tuple[dict[str, Any], set[str]]:
    """Return the tool definition and the models its collapsed stubs refer to."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    args: dict[str, dict[str, str]] = {}
    internal_headers: list[str] = []

    arg_bounds: dict[str, dict[str, Any]] = {}

    def add(arg: str, schema: dict[str, Any], binding: dict[str, str], is_required: bool) -> None:
        if arg in properties:
            raise CatalogError(f"{op.key}: argument {arg!r} would be bound twice")
        if binding["in"] != "body" and arg in ARG_BOUNDS:
            arg_bounds[f"/properties/{arg}"] = {k: v for k, v in ARG_BOUNDS[arg].items() if k not in schema}
        note = arg_texts.get(f"{text.name}.{arg}") or arg_texts.get(arg)
        if note and "description" not in schema:
            schema = {**schema, "description": note}
        properties[arg] = schema
        args[arg] = binding
        if is_required:
            required.append(arg)

    for p in op.parameters:
        if p.name in BOILERPLATE:
            continue
        if p.location == "path":
            add(snake(p.name), {**_param_schema(p), "minLength": 1}, {"in": "path", "name": p.name}, True)
        elif p.location == "query":
            arg = QUERY_ARGS.get(p.name, snake(p.name))
            if p.name == "maxresults" and op.pageable:
                continue  # the pager owns the wire page size; see max_results below
            add(arg, _param_schema(p), {"in": "query", "name": p.name}, p.required)
        elif p.location == "header":
            if p.name in HEADER_ARGS and (p.name != "If-Match" or op.method not in ("GET", "HEAD")):
                schema = _param_schema(p) | HEADER_PATTERNS.get(p.name, {})
                add(HEADER_ARGS[p.name], schema, {"in": "header", "name": p.name}, p.required)
            elif p.name in INTERNAL_HEADERS:
                internal_headers.append(p.name)
            elif p.required:
                raise CatalogError(f"{op.key}: required header {p.name!r} has no argument")

    result, status = _result_kind(op)
    if op.pageable:
        add("max_results", {"type": "integer", "minimum": 1, "maximum": LIST_ITEM_CAP}, {"in": "paging"}, False)
        add("continuation", {"type": "string"}, {"in": "paging"}, False)
        item = _list_item_model(op, builder)
        if item and "state" in builder.spec.definitions[item].get("properties", {}):
            add("count_all", {"type": "boolean"}, {"in": "paging"}, False)  # the summary counts by state
    if text.guard == "scale":
        add("dry_run", {"type": "boolean"}, {"in": "server"}, False)

    body_root: dict[str, Any] = {"type": "object", "properties": {}}
    if op.body_model:
        body_root = builder.convert({"$ref": f"#/definitions/{op.body_model}"}, inline=True)
        body_root.pop("x-model", None)
        body_required = body_root.get("required", []) if op.body_required else []
        if not op.body_required and body_root.get("required"):
            raise CatalogError(f"{op.key}: optional body {op.body_model} has required fields")
        for field, schema in body_root.get("properties", {}).items():
            add(field, schema, {"in": "body"}, field in body_required)

    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        input_schema["required"] = required
    collapsed = compact(input_schema, INPUT_BUDGET)
    bounds = {**arg_bounds, **take_bounds(input_schema)}
    input_schema = strip_marks(input_schema)

    annotations = {
        "readOnlyHint": text.guard == "read",
        "destructiveHint": text.guard == "destructive" or text.destructive,
        "idempotentHint": op.method != "POST" or text.idempotent,
        "openWorldHint": True,
    }
    http: dict[str, Any] = {
        "method": op.method,
        "path": op.path,
        "operationId": op.operation_id,
        "args": args,
        "result": result,
        "status": status,
    }
    if op.body_model:
        http["body"] = {"model": op.body_model, "required": op.body_required}
    if internal_headers:
        http["headers"] = internal_headers
    if op.pageable:
        http["paging"] = {"items": "value", "nextLink": op.next_link_name or "odata.nextLink", "pageSize": "maxresults"}

    try:
        effects = [*text_effects(builder.spec, op, list(text.effects)), *derived_effects(builder.spec, op)]
    except EffectError as exc:
        raise CatalogError(str(exc)) from None

    tool: dict[str, Any] = {
        "name": text.name,
        "title": text.title,
        "description": text.description,
        "toolset": text.toolset,
        "guard": text.guard,
        "annotations": annotations,
        "inputSchema": input_schema,
        "http": http,
    }
    projection = (projections or {}).get(_list_item_model(op, builder) or "") if result == "list" else None
    output = _output_schema(op, result, builder, projection)
    if output is not None:
        tool["outputSchema"] = output
    if projection:
        tool["projection"] = projection
    if collapsed:
        tool["collapsed"] = collapsed
    if bounds:
        tool["bounds"] = dict(sorted(bounds.items()))
    if effects:
        tool["effects"] = [e.to_json() for e in effects]
    if text.review:
        tool["review"] = text.review
    return tool, set(collapsed.values())


def _list_item_model(op: Operation, builder: SchemaBuilder) -> str | None:
    """The model of a pageable operation's items."""
    ok = min(c for c in op.responses if c.isdigit() and int(c) < 300)
    ref = (op.responses[ok].get("schema") or {}).get("$ref")
    if not ref:
        return None
    _, listing = builder.spec.definition(ref.rsplit("/", 1)[-1])
    return listing["properties"]["value"]["items"]["$ref"].rsplit("/", 1)[-1]


def _output_schema(
    op: Operation, result: str, builder: SchemaBuilder, projection: list[str] | None = None
) -> dict[str, Any] | None:
    if result == "exists":
        return EXISTS_SCHEMA
    if result == "file_properties":
        return FILE_PROPERTIES_SCHEMA
    if result not in ("json", "list"):
        return None
    ok = min(c for c in op.responses if c.isdigit() and int(c) < 300)
    model = op.responses[ok]["schema"]["$ref"].rsplit("/", 1)[-1]
    if result == "json":
        return builder.shallow(model)
    _, listing = builder.spec.definition(model)
    item_model = listing["properties"]["value"]["items"]["$ref"].rsplit("/", 1)[-1]
    try:
        item = builder.projected(item_model, projection) if projection else builder.shallow(item_model)
    except KeyError as exc:
        raise CatalogError(f"{op.key}: projection of {item_model} names a field it lacks: {exc}") from None
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": item},
            "summary": {"type": "object"},
            "continuation": {"type": "string"},
        },
        "required": ["items"],
    }


def build_catalog(spec_path: Path, texts_path: Path = TEXTS_PATH) -> dict[str, Any]:
    """Build the whole catalog in memory: {"index": ..., "tools": {name: def}, "models": ...}."""
    spec = Spec(spec_path)
    op_texts, arg_texts, field_texts = load_texts(texts_path)
    projections = load_projections(texts_path)
    builder = SchemaBuilder(spec, field_texts)
    tools: dict[str, dict[str, Any]] = {}
    referenced: set[str] = set()
    missing = [op.key for op in spec.operations() if op.key not in op_texts]
    if missing:
        raise CatalogError("operations without an entry in texts.toml: " + "; ".join(sorted(missing)))
    for op in spec.operations():
        text = op_texts[op.key]
        if not TOOL_NAME.match(text.name):
            raise CatalogError(f"{op.key}: invalid tool name {text.name!r}")
        if text.guard not in GUARDS:
            raise CatalogError(f"{op.key}: unknown guard {text.guard!r}")
        if text.name in tools:
            raise CatalogError(f"{op.key}: tool name {text.name!r} used twice")
        if text.guard == "write" and not text.review:
            raise CatalogError(f"{op.key}: a write tool needs a `review` note in texts.toml (see its header)")
        tool, models = build_tool(op, text, builder, arg_texts, projections)
        tools[text.name] = tool
        referenced |= models
    tools = dict(sorted(tools.items()))
    index = {
        "apiVersion": spec.api_version,
        "specSha256": spec.sha256,
        "int64Fields": builder.int64_fields(),
        "tools": [{"name": t["name"], "toolset": t["toolset"], "guard": t["guard"]} for t in tools.values()],
    }
    return {"index": index, "tools": tools, "models": {"$defs": builder.model_definitions(referenced)}}


def dump(obj: Any) -> str:
    """The one serialisation of catalog files: sorted keys, two-space indent, trailing newline."""
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_catalog(catalog: dict[str, Any], out_root: Path) -> Path:
    """Write tool_schemas/<api-version>/ and remove files of tools that no longer exist."""
    out = out_root / catalog["index"]["apiVersion"]
    out.mkdir(parents=True, exist_ok=True)
    wanted = {f"{name}.json" for name in catalog["tools"]} | {"index.json", "models.json"}
    for stale in out.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    for name, tool in catalog["tools"].items():
        (out / f"{name}.json").write_text(dump(tool), encoding="utf-8")
    (out / "index.json").write_text(dump(catalog["index"]), encoding="utf-8")
    (out / "models.json").write_text(dump(catalog["models"]), encoding="utf-8")
    return out
