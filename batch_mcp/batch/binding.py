"""From a catalog tool and its validated arguments to the parts of one HTTP request.

A `RequestPlan` is built once per tool (path template split, argument locations looked up, retry
mode chosen) so a call only joins strings and copies values. Nothing here knows any particular
operation: the catalog's `HttpBinding` says where every argument goes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from batch_mcp.batch.errors import ArgumentError
from batch_mcp.batch.retry import RetryMode
from batch_mcp.catalog import ToolDef

__all__ = ["JSON_CONTENT_TYPE", "Prepared", "RequestPlan", "encode_file_path", "wire_value"]

JSON_CONTENT_TYPE = "application/json; odata=minimalmetadata"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
# Add-task-collection is not a 201 create, but resubmitting it is safe in the same way: a task that
# already exists comes back as a per-task `TaskExists`, which `add_tasks` resolves.
CREATE_LIKE_OPERATIONS = frozenset({"Task_AddCollection"})
FILE_PATH_PARAMS = frozenset({"filePath"})
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_SEPARATORS = re.compile(r"[\\/]")


@dataclass(slots=True)
class Prepared:
    """One request, ready to send (again): the client adds api-version, dates, ids and auth per attempt."""

    method: str
    path: str  # percent-encoded, relative to the endpoint's base path
    params: dict[str, str]
    headers: dict[str, str]
    content: bytes | None
    body: dict[str, Any] | None  # the JSON body, kept for reading a create back


class RequestPlan:
    """Everything about a tool's request that does not depend on the arguments."""

    __slots__ = (
        "_locations",
        "_path_args",
        "_pieces",
        "body_required",
        "method",
        "mode",
        "name",
        "paging",
        "result",
        "tool",
    )

    def __init__(self, tool: ToolDef) -> None:
        http = tool.http
        self.tool = tool
        self.name = tool.name
        self.method = http.method.upper()
        self.result = http.result
        self.paging = http.paging
        self.body_required = http.body_required
        by_wire = {b.wire: name for name, b in http.args.items() if b.location == "path"}
        pieces: list[str | tuple[str, bool]] = []
        for index, part in enumerate(_PLACEHOLDER.split(http.path)):
            if index % 2 == 0:
                if part:
                    pieces.append(part)
            else:
                if part not in by_wire:
                    raise ValueError(f"{tool.name}: path parameter {part!r} has no argument")
                pieces.append((by_wire[part], part in FILE_PATH_PARAMS))
        self._pieces = tuple(pieces)
        self._path_args = tuple(by_wire.values())
        self._locations = {name: (b.location, b.wire or name) for name, b in http.args.items()}
        if http.is_create or http.operation_id in CREATE_LIKE_OPERATIONS:
            self.mode = RetryMode.CREATE
        elif self.method in IDEMPOTENT_METHODS or tool.annotations.get("idempotentHint"):
            self.mode = RetryMode.SAFE
        else:
            self.mode = RetryMode.UNSAFE

    def render_path(self, arguments: Mapping[str, Any]) -> str:
        out = []
        for piece in self._pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            name, is_file_path = piece
            value = arguments.get(name)
            if value is None or value == "":
                raise ArgumentError(f"{self.name}: the path argument {name!r} is required")
            out.append(encode_file_path(str(value)) if is_file_path else quote(str(value), safe=""))
        return "".join(out)

    def prepare(self, arguments: Mapping[str, Any], extra_headers: Mapping[str, str] | None = None) -> Prepared:
        params: dict[str, str] = {}
        headers: dict[str, str] = {}
        body: dict[str, Any] = {}
        locations = self._locations
        for name, value in arguments.items():
            where = locations.get(name)
            if where is None:
                raise ArgumentError(f"{self.name}: unknown argument {name!r}")
            location, wire = where
            if value is None or location == "path":
                continue
            if location == "body":
                body[name] = value
            elif location == "query":
                params[wire] = wire_value(value)
            elif location == "header":
                headers[wire] = wire_value(value)
            # paging and server arguments never go on the wire
        if extra_headers:
            headers.update(extra_headers)
        if body or self.body_required:
            content: bytes | None = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = JSON_CONTENT_TYPE
        else:
            content = None
        return Prepared(self.method, self.render_path(arguments), params, headers, content, body if content else None)


def wire_value(value: Any) -> str:
    """A query or header value: booleans as `true`/`false`, lists comma-separated."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list | tuple):
        return ",".join(wire_value(v) for v in value)
    return str(value)


def encode_file_path(value: str) -> str:
    """A node or task file path keeps `/` as a path separator (the form the service's own file URLs
    use) with every segment percent-encoded (a space becomes %20). `.` and `..` segments are refused:
    an HTTP client would resolve them and the request would reach another resource."""
    text = value.lstrip("/")
    if not text:
        raise ArgumentError("file_path must name a file, relative to the task or node root")
    if any(part in (".", "..") for part in _SEPARATORS.split(text)):
        raise ArgumentError(f"file_path {value!r} must not contain '.' or '..' segments")
    return "/".join(quote(part, safe="") for part in text.split("/"))
