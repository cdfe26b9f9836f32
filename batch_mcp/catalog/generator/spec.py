"""Reading a Batch Swagger 2.0 spec: operations with their parameters resolved.

The generator never looks at raw spec dictionaries outside this module and `schemas.py`, so a
change of spec layout (a newer BatchService.json) is absorbed here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head")


@dataclass(frozen=True)
class Parameter:
    """One non-body parameter of an operation, as the spec declares it."""

    name: str
    location: str  # path | query | header
    required: bool
    schema: dict[str, Any]  # type, format, enum, minimum, items, ... of the parameter


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str
    operation_id: str
    parameters: tuple[Parameter, ...]
    body_model: str | None  # definition name of the JSON body, if any
    body_param: str | None  # the spec's name for the body parameter (examples use it)
    body_required: bool
    pageable: bool
    next_link_name: str | None
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    examples: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The method+path identity used for names and texts; stable across API versions."""
        return f"{self.method} {self.path}"


class SpecError(ValueError):
    """A spec file that cannot be read or is not a Swagger spec."""


class Spec:
    """A loaded BatchService.json."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise SpecError(f"cannot read the spec {path}: {exc.strerror}") from None
        self.sha256 = hashlib.sha256(raw).hexdigest()
        try:
            self.doc: dict[str, Any] = json.loads(raw)
            self.api_version: str = self.doc["info"]["version"]
        except (ValueError, KeyError, TypeError):
            raise SpecError(f"{path} is not a Swagger 2.0 JSON spec (no info.version)") from None
        self.definitions: dict[str, dict[str, Any]] = self.doc.get("definitions", {})
        self._global_params: dict[str, dict[str, Any]] = self.doc.get("parameters", {})

    def definition(self, ref_or_name: str) -> tuple[str, dict[str, Any]]:
        """Return (name, schema) for a `#/definitions/X` reference or a bare name."""
        name = ref_or_name.rsplit("/", 1)[-1]
        return name, self.definitions[name]

    def _param(self, p: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in p:
            return self._global_params[p["$ref"].rsplit("/", 1)[-1]]
        return p

    def operations(self) -> list[Operation]:
        ops: list[Operation] = []
        paths = {**self.doc.get("paths", {}), **self.doc.get("x-ms-paths", {})}
        for path, item in paths.items():
            shared = [self._param(p) for p in item.get("parameters", [])]
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                op = item[method]
                params: list[Parameter] = []
                body_model: str | None = None
                body_param: str | None = None
                body_required = False
                for p in shared + [self._param(p) for p in op.get("parameters", [])]:
                    if p.get("x-ms-parameter-location") == "client" and p["in"] == "path":
                        continue  # the account URL (batchUrl), not an operation argument
                    if p["in"] == "body":
                        body_model = p["schema"]["$ref"].rsplit("/", 1)[-1]
                        body_param = p["name"]
                        body_required = bool(p.get("required"))
                        continue
                    schema = {k: v for k, v in p.items() if k not in ("name", "in", "required", "description")}
                    params.append(Parameter(p["name"], p["in"], bool(p.get("required")), schema))
                pageable = "x-ms-pageable" in op
                next_link = op["x-ms-pageable"].get("nextLinkName") if pageable else None
                examples = tuple(sorted(e["$ref"] for e in op.get("x-ms-examples", {}).values()))
                ops.append(
                    Operation(
                        method=method.upper(),
                        path=path,
                        operation_id=op["operationId"],
                        parameters=tuple(params),
                        body_model=body_model,
                        body_param=body_param,
                        body_required=body_required,
                        pageable=pageable,
                        next_link_name=next_link,
                        responses=op.get("responses", {}),
                        examples=examples,
                    )
                )
        return ops
