"""What `tools/list` would cost if each Batch operation were mapped one to one, for scale beside
the catalog's own size (bench/catalog_size.py).

    python bench/one_to_one_size.py ../shared/specs/2024-02-01.19.0/BatchService.json

One tool per spec operation: its operationId, the spec's own description, every parameter an
argument (api-version, timeout and the per-request headers included) and every model inlined with
its descriptions (no `$ref`; a model that contains itself is cut to a typed object). Printed: the
tool count and the bytes of the minified `tools/list` result, with and without output schemas
(the schema of the operation's 2xx response).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def inline(schema: Any, definitions: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    if isinstance(schema, list):
        return [inline(value, definitions, seen) for value in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return {"type": "object", "description": definitions[name].get("description", "")}
        return inline(definitions[name], definitions, (*seen, name))
    return {key: inline(value, definitions, seen) for key, value in schema.items() if not key.startswith("x-")}


def one_to_one(spec: dict[str, Any], *, outputs: bool) -> list[dict[str, Any]]:
    definitions, shared = spec.get("definitions", {}), spec.get("parameters", {})
    tools = []
    for item in spec["paths"].values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            properties: dict[str, Any] = {}
            required = []
            for parameter in item.get("parameters", []) + operation.get("parameters", []):
                if "$ref" in parameter:
                    parameter = shared[parameter["$ref"].rsplit("/", 1)[-1]]
                if "schema" in parameter:
                    schema = inline(parameter["schema"], definitions)
                else:
                    skip = ("name", "in", "required")
                    schema = {k: v for k, v in parameter.items() if k not in skip and not k.startswith("x-")}
                if "description" in parameter:
                    schema.setdefault("description", parameter["description"])
                properties[parameter["name"]] = schema
                if parameter.get("required"):
                    required.append(parameter["name"])
            tool = {
                "name": operation["operationId"],
                "description": operation.get("description") or operation.get("summary", ""),
                "inputSchema": {"type": "object", "properties": properties, "required": required},
            }
            responses = operation.get("responses", {})
            reply = next((r["schema"] for code, r in responses.items() if code.startswith("2") and "schema" in r), None)
            if outputs and reply is not None:
                tool["outputSchema"] = inline(reply, definitions)
            tools.append(tool)
    return tools


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("spec", type=Path, help="a Swagger 2.0 BatchService.json")
    spec = json.loads(parser.parse_args().spec.read_text(encoding="utf-8"))
    for outputs in (True, False):
        tools = one_to_one(spec, outputs=outputs)
        size = len(json.dumps({"tools": tools}, separators=(",", ":")).encode())
        print(f"{len(tools)} tools, {size:,} bytes {'with' if outputs else 'without'} output schemas")


if __name__ == "__main__":
    main()
