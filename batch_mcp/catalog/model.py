"""Typed view of one catalog tool: what the client needs to send it and the server to serve it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from batch_mcp.catalog.effects import Effect

ArgLocation = Literal["path", "query", "header", "body", "paging", "server"]
ResultKind = Literal["json", "list", "bytes", "headers", "exists", "file_properties"]
Guard = Literal["read", "write", "scale", "destructive"]


@dataclass(frozen=True, slots=True)
class ArgBinding:
    """Where a tool argument goes on the wire. `wire` is the parameter name for path, query and
    header arguments; body fields keep their own name; paging/server arguments never reach Batch."""

    location: ArgLocation
    wire: str | None = None


@dataclass(frozen=True, slots=True)
class Paging:
    items: str
    next_link: str
    page_size: str


@dataclass(frozen=True, slots=True)
class HttpBinding:
    method: str
    path: str
    operation_id: str
    args: Mapping[str, ArgBinding]
    result: ResultKind
    status: tuple[int, ...]
    body_model: str | None = None
    body_required: bool = False
    paging: Paging | None = None
    internal_headers: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HttpBinding:
        body = data.get("body") or {}
        paging = data.get("paging")
        return cls(
            method=data["method"],
            path=data["path"],
            operation_id=data["operationId"],
            args={name: ArgBinding(b["in"], b.get("name")) for name, b in data["args"].items()},
            result=data["result"],
            status=tuple(data["status"]),
            body_model=body.get("model"),
            body_required=bool(body.get("required")),
            paging=Paging(paging["items"], paging["nextLink"], paging["pageSize"]) if paging else None,
            internal_headers=tuple(data.get("headers", ())),
        )

    def args_in(self, location: ArgLocation) -> list[str]:
        return [name for name, b in self.args.items() if b.location == location]

    @property
    def is_create(self) -> bool:
        """A POST to a collection that makes a new entity (pool, job, schedule, task, ...): the
        client must not blindly repeat it after a timeout."""
        return self.method == "POST" and 201 in self.status


@dataclass(frozen=True, slots=True)
class ToolDef:
    name: str
    title: str
    description: str
    toolset: str
    guard: Guard
    annotations: Mapping[str, bool]
    input_schema: Mapping[str, Any]
    http: HttpBinding
    output_schema: Mapping[str, Any] | None = None
    collapsed: Mapping[str, str] = field(default_factory=dict)
    effects: tuple[Effect, ...] = ()
    review: str | None = None
    bounds: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # checked, never sent
    projection: tuple[str, ...] = ()  # a list's default item fields (`a/b` paths); empty: whole items

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToolDef:
        return cls(
            name=data["name"],
            title=data["title"],
            description=data["description"],
            toolset=data["toolset"],
            guard=data["guard"],
            annotations=data["annotations"],
            input_schema=data["inputSchema"],
            http=HttpBinding.from_json(data["http"]),
            output_schema=data.get("outputSchema"),
            collapsed=data.get("collapsed", {}),
            effects=tuple(Effect.from_json(e) for e in data.get("effects", ())),
            review=data.get("review"),
            bounds=data.get("bounds", {}),
            projection=tuple(data.get("projection", ())),
        )

    @property
    def read_only(self) -> bool:
        return bool(self.annotations.get("readOnlyHint"))

    @property
    def destructive(self) -> bool:
        return bool(self.annotations.get("destructiveHint"))
