"""Derive the emulator's API-version table (`batch_mcp/emulator/api_versions.json`) from the
published definition of each Batch data-plane version.

Each version is read from one local source, whichever the developer has:

- the version's Swagger 2.0 spec (`BatchService.json`, as in Azure/azure-rest-api-specs
  `specification/batch/data-plane/...`), or
- the official Python SDK release generated from that spec (`azure-batch` wheels:
  `pip download --no-deps azure-batch==X`): AutoRest (msrest) releases up to 14.2.0 and
  TypeSpec releases from 15.0.0b2. Only names are read from them: operations (method, path,
  query parameters, request and response models) and each model's wire field names.

    python scripts/derive_api_versions.py SOURCE... [--out batch_mcp/emulator/api_versions.json]
    python scripts/derive_api_versions.py --check SOURCE...   # fail if the committed table differs

SOURCE is a BatchService.json, an azure-batch wheel, or a folder holding either. The sources used for
the committed table are listed in it (`sources`). `tests/emulator/test_versions.py` re-derives the two
versions whose specs are in ../shared/specs and checks they agree with the table.

The committed table was built from ../shared/specs (2018-08-01.7.0, 2024-02-01.19.0) and the wheels
of azure-batch 6.0.0, 7.0.0, 8.0.0, 9.0.0, 10.0.0, 11.0.0, 12.0.0, 13.0.0, 14.0.0, 14.1.0, 15.0.0b2
and 15.1.0 (one per other version; 5.1.1 and 14.2.0 give the same table as the two specs).

The table names, for each version range, the operations (method and path), their query
parameters, the request and response model of each, and every model's fields. A range is a list
of runs `[first, last]` (`last` null while still present); `1` stands for "wherever its operation
or model is", and a string names the model a field holds. Models carry one label across versions:
the TypeSpec era (2024-07-01.20.0 on) renamed most of them, never their wire field names.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "batch_mcp" / "emulator" / "api_versions.json"

VERSIONS = (
    "2018-08-01.7.0",
    "2018-12-01.8.0",
    "2019-06-01.9.0",
    "2019-08-01.10.0",
    "2020-03-01.11.0",
    "2020-09-01.12.0",
    "2021-06-01.14.0",
    "2022-01-01.15.0",
    "2022-10-01.16.0",
    "2023-05-01.17.0",
    "2023-11-01.18.0",
    "2024-02-01.19.0",
    "2024-07-01.20.0",
    "2025-06-01",
)
# The 2025-06-01 SDK leaves out parts that its spec keeps: the account certificate operations
# (deprecated) and a few fields (checked against the 2025-06-01 BatchService.json: CloudPool and
# PoolAddParameter keep targetNodeCommunicationMode/currentNodeCommunicationMode, TaskAddParameter
# keeps authenticationTokenSettings; certificateReferences and resourceTags are gone from it).
# Restored, as the version before had them, only when that version is read from its SDK release.
SDK_HIDDEN = {
    "2025-06-01": {
        "operations": (
            "GET /certificates",
            "POST /certificates",
            "GET /certificates(thumbprintAlgorithm={thumbprintAlgorithm},thumbprint={thumbprint})",
            "DELETE /certificates(thumbprintAlgorithm={thumbprintAlgorithm},thumbprint={thumbprint})",
            "POST /certificates(thumbprintAlgorithm={thumbprintAlgorithm},thumbprint={thumbprint})/canceldelete",
        ),
        "fields": ("authenticationTokenSettings", "targetNodeCommunicationMode", "currentNodeCommunicationMode"),
        "like": "2024-07-01.20.0",
    }
}
PLUMBING = {"api-version", "timeout", "timeOut", "client-request-id", "return-client-request-id", "ocp-date"}
LEAF = None  # a field whose value is not a model


@dataclass
class Operation:
    method: str
    path: str
    query: set[str] = field(default_factory=set)
    request: str | None = None  # body model
    response: str | None = None  # result model (list items for lists)


@dataclass
class Definition:
    """One API version as a set of operations and models (model → {wire name → model or LEAF})."""

    version: str
    source: str
    operations: dict[str, Operation] = field(default_factory=dict)
    models: dict[str, dict[str, str | None]] = field(default_factory=dict)
    int64: dict[str, set[str]] = field(default_factory=dict)  # model → fields that are 64-bit integers

    def add(self, op: Operation) -> None:
        self.operations[f"{op.method} {op.path}"] = op


# -- Swagger 2.0 ----------------------------------------------------------------------------------


def _ref_name(schema: dict) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def _swagger_target(schema: dict) -> str | None:
    """The model a property holds (through arrays and maps), or None for plain values."""
    while True:
        if "$ref" in schema:
            return _ref_name(schema)
        if schema.get("type") == "array":
            schema = schema.get("items", {})
        elif isinstance(schema.get("additionalProperties"), dict):
            schema = schema["additionalProperties"]
        else:
            return None


def read_swagger(path: Path) -> Definition:
    spec = json.loads(path.read_text(encoding="utf-8"))
    definition = Definition(spec["info"]["version"], f"{path.parent.name}/{path.name}")
    for name, model in spec.get("definitions", {}).items():
        props: dict[str, str | None] = {}
        for part in [model, *model.get("allOf", [])]:
            if "$ref" in part:
                base = spec["definitions"][_ref_name(part)]
                for p, s in base.get("properties", {}).items():
                    props[p] = _swagger_target(s)
            for p, s in part.get("properties", {}).items():
                props[p] = _swagger_target(s)
                if s.get("format") == "int64":
                    definition.int64.setdefault(name, set()).add(p)
        definition.models[name] = props
    for props in definition.models.values():  # enums are definitions too, but plain values on the wire
        for p, target in props.items():
            if target and not definition.models.get(target) and "enum" in spec["definitions"].get(target, {}):
                props[p] = LEAF
    parameters = spec.get("parameters", {})
    for section in ("paths", "x-ms-paths"):
        for url, item in spec.get(section, {}).items():
            for method, op in item.items():
                if method == "parameters":
                    continue
                entry = Operation(method.upper(), url.split("?")[0])
                for prm in op.get("parameters", []):
                    if "$ref" in prm:
                        prm = parameters[_ref_name(prm)]
                    if prm.get("in") == "query" and (
                        prm["name"] not in PLUMBING or prm["name"] in ("timeout", "timeOut")
                    ):
                        entry.query.add(prm["name"])
                    if prm.get("in") == "body":
                        entry.request = _swagger_target(prm.get("schema", {}))
                for status in ("200", "201"):
                    schema = op.get("responses", {}).get(status, {}).get("schema")
                    if schema and schema.get("format") != "file":
                        entry.response = _swagger_target(schema)
                definition.add(entry)
    return definition


# -- AutoRest (msrest) SDK releases ---------------------------------------------------------------

MSREST_TYPE = re.compile(r"^[\[{]?(\w+)[\]}]?$")


def _msrest_models(files: dict[str, str]) -> tuple[dict[str, dict[str, str | None]], dict[str, set[str]], set[str]]:
    raw: dict[str, dict[str, str]] = {}
    for name, text in files.items():
        if "/models/" not in name or not name.endswith("_py3.py"):
            continue
        for node in ast.parse(text).body:
            if not isinstance(node, ast.ClassDef):
                continue
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "_attribute_map" for t in stmt.targets)
                    and isinstance(stmt.value, ast.Dict)
                ):
                    mapping = ast.literal_eval(stmt.value)
                    raw[node.name] = {v["key"]: v["type"] for v in mapping.values()}
    models: dict[str, dict[str, str | None]] = {}
    int64: dict[str, set[str]] = {}
    for name, props in raw.items():
        models[name] = {}
        for key, typ in props.items():
            m = MSREST_TYPE.match(typ)
            inner = m.group(1) if m else None
            models[name][key] = inner if inner in raw else LEAF
            if typ == "long":
                int64.setdefault(name, set()).add(key)
    paged = set()
    for name, props in raw.items():
        if name.endswith("Paged") and set(props) == {"odata.nextLink", "value"}:
            paged.add(name)
    return models, int64, paged


def _functions(text: str) -> Iterator[tuple[str, str]]:
    """(name, source) of each function or method in a module."""
    lines = text.splitlines()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.name, "\n".join(lines[node.lineno - 1 : node.end_lineno])


def read_msrest(version: str, source: str, files: dict[str, str]) -> Definition:
    definition = Definition(version, source)
    models, int64, _ = _msrest_models(files)
    paged_items: dict[str, str] = {}
    for name, text in files.items():
        if name.endswith("_paged_models.py") or re.search(r"models/\w+_paged\.py$", name):
            for cls, item in re.findall(r"class (\w+)\(Paged\).*?'type': '\[(\w+)\]'", text, re.S):
                paged_items[cls] = item
    for name, text in files.items():
        if "/operations/" not in name or not name.endswith("_operations.py"):
            continue
        urls = dict(re.findall(r"^\s+(\w+)\.metadata = \{'url': '([^']+)'\}", text, re.M))
        for func, body in _functions(text):
            if func not in urls:
                continue
            method = re.search(r"self\._client\.(get|put|post|patch|delete|head)\(", body)
            assert method, (version, func)
            op = Operation(method.group(1).upper(), urls[func])
            op.query = {q for q in re.findall(r"query_parameters\['([^']+)'\]", body) if q != "api-version"}
            body_model = re.search(r"self\._serialize\.body\(\w+, '(\w+)'\)", body)
            op.request = body_model.group(1) if body_model else None
            result = re.search(r"self\._deserialize\('(\w+)', response\)", body)
            paged = re.search(r"models\.(\w+Paged)\(", body)
            if paged:
                op.response = paged_items[paged.group(1)]
            elif result:
                op.response = result.group(1)
            definition.add(op)
    definition.models = models
    definition.int64 = int64
    return definition


# -- TypeSpec SDK releases -------------------------------------------------------------------------

TSP_MODEL = re.compile(r"_models\.(?:_models\.)?(\w+)")


def _tsp_models(text: str) -> tuple[dict[str, dict[str, str | None]], dict[str, set[str]]]:
    tree = ast.parse(text)
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    raw: dict[str, dict[str, str | None]] = {}
    int64: dict[str, set[str]] = {}
    for cname, node in classes.items():
        props: dict[str, str | None] = {}
        for base in node.bases:  # models may extend another model
            if isinstance(base, ast.Name) and base.id in raw:
                props.update(raw[base.id])
        for stmt in node.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.value, ast.Call)):
                continue
            call = stmt.value
            if not (isinstance(call.func, ast.Name) and call.func.id in ("rest_field", "rest_discriminator")):
                continue
            assert isinstance(stmt.target, ast.Name)
            kw = {k.arg: k.value for k in call.keywords}
            wire = ast.literal_eval(kw["name"]) if "name" in kw else stmt.target.id
            annotation = ast.unparse(stmt.annotation)
            targets = [m for m in TSP_MODEL.findall(annotation) if m in classes and _is_model(classes[m])]
            props[wire] = targets[0] if targets else LEAF
            if "format" in kw and ast.literal_eval(kw["format"]) == "str":
                int64.setdefault(cname, set()).add(wire)
        if _is_model(node):
            raw[cname] = props
    return raw, int64


def _is_model(node: ast.ClassDef) -> bool:
    """A model class (not an enum): its bases are `_Model`/`_model_base.Model` or another model."""
    names = [b.attr if isinstance(b, ast.Attribute) else b.id if isinstance(b, ast.Name) else "" for b in node.bases]
    return bool(names) and not any(n in ("str", "Enum") or n.endswith("Meta") for n in names)


def read_typespec(version: str, source: str, files: dict[str, str]) -> Definition:
    definition = Definition(version, source)
    text = next(t for n, t in files.items() if n.endswith("azure/batch/models/_models.py"))
    definition.models, definition.int64 = _tsp_models(text)
    ops_text = next(t for n, t in files.items() if n.endswith("azure/batch/_operations/_operations.py"))
    builders: dict[str, Operation] = {}
    for func, body in _functions(ops_text):
        if not func.startswith("build_"):
            continue
        url = re.search(r'_url = "([^"]+)"', body)
        method = re.search(r'HttpRequest\(method="(\w+)"', body)
        if not (url and method):
            continue
        op = Operation(method.group(1), url.group(1))
        op.query = {q for q in re.findall(r'_params\["([^"]+)"\]', body) if q != "api-version"}
        builders[func] = op
    for func, body in _functions(ops_text):
        if func.startswith("build_"):
            continue
        called = re.search(r"(build_\w+)\(", body)
        if not called or called.group(1) not in builders:
            continue
        op = builders[called.group(1)]
        sig = body.split(") ->")[0]
        request = re.search(r"_models\.(?:_models\.)?(\w+)", sig)
        op.request = request.group(1) if request else op.request
        listed = re.search(r"_deserialize\(\s*(?:List|list)\[_models\.(\w+)\]", body)
        found = re.findall(r"_deserialize\(_models\.(\w+), response\.json\(\)\)", body)
        single = [m for m in found if m != "BatchError"]
        if listed:
            op.response = listed.group(1)
        elif single:
            op.response = single[0]
    for op in builders.values():
        definition.add(op)
    return definition


# -- sources --------------------------------------------------------------------------------------


def read_wheel(path: Path) -> Definition:
    with zipfile.ZipFile(path) as wheel:
        files = {n: wheel.read(n).decode("utf-8") for n in wheel.namelist() if n.endswith(".py")}
    version = None
    for name, text in files.items():
        if name.endswith(("batch_service_client.py", "_configuration.py")):
            found = re.search(r"""api_version(?:: str)? = (?:kwargs\.pop\("api_version", )?['"](20[\d.-]+)['"]""", text)
            version = version or (found.group(1) if found else None)
    if version is None:
        raise SystemExit(f"{path}: no api-version found")
    if any(n.endswith("azure/batch/_operations/_operations.py") for n in files):
        return read_typespec(version, path.name, files)
    return read_msrest(version, path.name, files)


def read_source(path: Path) -> Iterator[Definition]:
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.suffix == ".whl" or child.name == "BatchService.json":
                yield from read_source(child)
    elif path.suffix == ".whl":
        yield read_wheel(path)
    else:
        yield read_swagger(path)


# -- the table ------------------------------------------------------------------------------------


def unwrap(definition: Definition, model: str | None) -> str | None:
    """A result that only wraps a list (`{value: [...]}`) stands for its items."""
    props = definition.models.get(model or "", {})
    if props and set(props) <= {"value", "odata.nextLink", "odata.metadata"} and props.get("value"):
        return props["value"]
    return model


def apply_sdk_hidden(definitions: dict[str, Definition]) -> None:
    for version, hidden in SDK_HIDDEN.items():
        d = definitions.get(version)
        like = definitions.get(hidden["like"])
        if d is None or like is None or not d.source.endswith(".whl"):
            continue
        for key in hidden["operations"]:
            if key not in d.operations and key in like.operations:
                d.operations[key] = like.operations[key]
                for model in (like.operations[key].request, unwrap(like, like.operations[key].response)):
                    _copy_model(like, d, model)


def restore_hidden_fields(definitions: dict[str, Definition], labels: dict[str, dict[str, str]]) -> None:
    """Put back the fields an SDK release hides (see SDK_HIDDEN), model by model (by label)."""
    for version, hidden in SDK_HIDDEN.items():
        d, like = definitions[version], definitions[hidden["like"]]
        if not d.source.endswith(".whl"):
            continue
        like_models = {label: model for model, label in labels[like.version].items()}
        for model, label in list(labels[version].items()):
            source = like.models.get(like_models.get(label, ""), {})
            for name in hidden["fields"]:
                if name in source and name not in d.models[model]:
                    target = source[name]
                    d.models[model][name] = target
                    if target:
                        _copy_model(like, d, target)
                        labels[version].setdefault(target, labels[like.version].get(target, target))


def _copy_model(src: Definition, dst: Definition, model: str | None) -> None:
    if not model or model in dst.models:
        return
    dst.models[model] = dict(src.models.get(model, {}))
    for target in dst.models[model].values():
        _copy_model(src, dst, target)


def runs(present: list[str]) -> list[list[str | None]]:
    """Versions (in order) → runs `[first, last]`, `last` None while present in the newest version."""
    out: list[list[str | None]] = []
    previous = -2
    for version in sorted(present, key=VERSIONS.index):
        i = VERSIONS.index(version)
        if i == previous + 1 and out:
            out[-1][1] = version
        else:
            out.append([version, version])
        previous = i
    for run in out:
        if run[1] == VERSIONS[-1]:
            run[1] = None
    return out


def label_models(definitions: dict[str, Definition]) -> dict[str, dict[str, str]]:
    """version → {model name → label}. A label names one model in every version: AutoRest-era
    names are kept; a TypeSpec-era model (most were renamed) takes the label of the model found at
    the same place (operation, then field by field) in the newest version before it."""
    labels: dict[str, dict[str, str]] = {}
    at: dict[tuple[str, ...], str] = {}  # place → label

    def walk(d: Definition, model: str, place: tuple[str, ...], seen: set[str], typespec: bool) -> None:
        names = labels[d.version]
        if not typespec:
            names[model] = at[place] = model
        else:
            names.setdefault(model, at.get(place) or model)
            at.setdefault(place, names[model])
        if model in seen:
            return
        seen.add(model)
        for name, target in sorted(d.models.get(model, {}).items()):
            if target:
                walk(d, target, (names[model], name), seen, typespec)

    for version in VERSIONS:
        d = definitions[version]
        typespec = d.source.startswith("azure_batch-15")
        labels[version] = {}
        seen: set[str] = set()
        for key, op in sorted(d.operations.items()):
            for role, model in (("request", op.request), ("response", unwrap(d, op.response))):
                if model:
                    walk(d, model, (key, role), seen, typespec)
    return labels


def build_table(definitions: dict[str, Definition]) -> dict:
    missing = [v for v in VERSIONS if v not in definitions]
    if missing:
        raise SystemExit(f"no source for {', '.join(missing)}")
    apply_sdk_hidden(definitions)
    labels = label_models(definitions)
    restore_hidden_fields(definitions, labels)
    op_versions: dict[str, list[str]] = {}
    query_versions: dict[str, dict[str, list[str]]] = {}
    op_roots: dict[str, dict[str, dict[str, list[str]]]] = {}
    model_versions: dict[str, list[str]] = {}
    field_versions: dict[str, dict[str, list[str]]] = {}
    targets: dict[str, dict[str, str]] = {}
    int64: dict[str, set[str]] = {}
    for version in VERSIONS:
        d = definitions[version]
        names = labels[version]
        for key, op in d.operations.items():
            op_versions.setdefault(key, []).append(version)
            for q in op.query:
                query_versions.setdefault(key, {}).setdefault(q, []).append(version)
            for role, model in (("request", op.request), ("response", unwrap(d, op.response))):
                if model:
                    op_roots.setdefault(key, {}).setdefault(role, {}).setdefault(names[model], []).append(version)
        for model, label in names.items():
            model_versions.setdefault(label, []).append(version)
            for name, target in d.models.get(model, {}).items():
                if name.startswith("odata."):
                    continue
                field_versions.setdefault(label, {}).setdefault(name, []).append(version)
                if target:
                    targets.setdefault(label, {})[name] = names[target]
            int64.setdefault(label, set()).update(d.int64.get(model, ()))
    models: dict[str, dict[str, object]] = {}
    for label, fields in sorted(field_versions.items()):
        span = runs(model_versions[label])
        out: dict[str, object] = {}
        for name, present in sorted(fields.items()):
            r = runs(present)
            target = targets.get(label, {}).get(name)
            if r == span:
                out[name] = target or 1
            else:
                out[name] = [*r, target] if target else r
        models[label] = out
    queries: dict[str, dict[str, object]] = {}
    for key, params in sorted(query_versions.items()):
        span = runs(op_versions[key])
        queries[key] = {q: 1 if runs(v) == span else runs(v) for q, v in sorted(params.items())}
    return {
        "versions": list(VERSIONS),
        "sources": {v: definitions[v].source for v in VERSIONS},
        "operations": {k: runs(v) for k, v in sorted(op_versions.items())},
        "roots": {
            key: {
                role: next(iter(by_label)) if len(by_label) == 1 else {m: runs(v) for m, v in by_label.items()}
                for role, by_label in sorted(roles.items())
            }
            for key, roles in sorted(op_roots.items())
        },
        "query": queries,
        "models": models,
        "int64": {k: sorted(v) for k, v in sorted(int64.items()) if v},
    }


def dump(table: dict) -> str:
    """One entry per line, so a change in the table reads as a small diff."""
    lines = []
    for name, value in table.items():
        if isinstance(value, list):
            lines.append(f"  {json.dumps(name)}: {json.dumps(value)}")
        else:
            entries = [f"    {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in value.items()]
            lines.append(f"  {json.dumps(name)}: {{\n" + ",\n".join(entries) + "\n  }")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def load(paths: Iterable[Path]) -> dict[str, Definition]:
    definitions: dict[str, Definition] = {}
    for path in paths:
        for d in read_source(path):
            # a spec wins over an SDK release of the same version
            if d.version in VERSIONS and (d.version not in definitions or not d.source.endswith(".whl")):
                definitions[d.version] = d
    return definitions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=TABLE)
    parser.add_argument("--check", action="store_true", help="compare with the committed table instead of writing")
    args = parser.parse_args(argv)
    text = dump(build_table(load(args.sources)))
    if args.check:
        if args.out.read_text(encoding="utf-8") != text:
            print(f"{args.out} differs from what the sources give", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
