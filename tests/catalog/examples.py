"""Turning the spec's x-ms-examples into tool arguments and tool results.

Examples name parameters as the wire does (poolId, $filter, If-Match, and the body under the
spec's body parameter name); tools take snake_case request arguments with the body flattened.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_mcp.batch.shaping import file_properties, list_result, strip_odata
from batch_mcp.catalog.generator.spec import Operation, Spec
from batch_mcp.catalog.model import ToolDef

# Plumbing every example carries; "ocp-data" is a misspelling of ocp-date found in the examples.
IGNORED = {
    "batchUrl",
    "api-version",
    "client-request-id",
    "return-client-request-id",
    "ocp-date",
    "ocp-data",
    "timeout",
}


@dataclass
class Example:
    path: Path
    operation: Operation
    parameters: dict[str, Any]
    responses: dict[str, Any]


def examples(spec_path: Path) -> Iterator[Example]:
    spec = Spec(spec_path)
    for op in spec.operations():
        for ref in op.examples:
            path = (spec_path.parent / ref).resolve()
            data = json.loads(path.read_text(encoding="utf-8"))
            yield Example(path, op, data["parameters"], data["responses"])


def _decode_json_strings(value: Any, path: tuple[str, ...]) -> Any:
    """One upstream example (PoolAdd_VirtualMachineConfigurationWithExtensions) gives an
    extension's `settings`, typed `object` by its own spec, as a JSON-encoded string; decode it."""
    if isinstance(value, dict):
        return {k: _decode_json_strings(v, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_json_strings(v, path) for v in value]
    if path and path[-1] == "settings" and isinstance(value, str) and value.startswith("{"):
        return json.loads(value)
    return value


def to_arguments(tool: ToolDef, example: Example) -> dict[str, Any]:
    by_wire = {b.wire: name for name, b in tool.http.args.items() if b.wire}
    args: dict[str, Any] = {}
    for key, value in example.parameters.items():
        if key in IGNORED:
            continue
        if key == example.operation.body_param:
            args.update(_decode_json_strings(value, ()))
        elif key in by_wire:
            args[by_wire[key]] = value
        elif key == "maxresults" and tool.http.paging:
            args["max_results"] = value
        else:
            raise AssertionError(f"{example.path.name}: parameter {key!r} has no argument in {tool.name}")
    return args


def to_result(tool: ToolDef, response: dict[str, Any]) -> Any:
    """The structured result the server returns for this example response (None: no JSON result)."""
    kind = tool.http.result
    if kind == "file_properties":
        return file_properties({k: v for k, v in response.items() if k != "body"})
    if kind in ("json", "list") and "body" in response:
        body = strip_odata(response["body"])
        if kind == "list":
            return list_result(
                body["value"],
                continuation="opaque-token" if "odata.nextLink" in response["body"] else None,
                summary={"byState": {"active": 1}},
            )
        return body
    return None
