"""Which operation a request is: matched against the catalogs' HTTP bindings, then checked
against the API version's own operations (`versions.py`).

Paths and methods come from the committed catalogs (`tool_schemas/<version>`): 2018-08-01.7.0
requests are routed by its catalog, every later version by the 2024-02-01.19.0 catalog plus the
operations it lacks (those retired before it, and the node start/deallocate of 2024-07-01.20.0).
An operation the request's version does not have answers as an unknown path does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from batch_mcp.catalog import ToolDef, load_catalog
from batch_mcp.catalog.model import HttpBinding
from batch_mcp.emulator import errors, versions

SERVED_CATALOGS = ("2018-08-01.7.0", "2024-02-01.19.0")
V2018, V2024 = SERVED_CATALOGS
LATEST = V2024
# Operations no catalog has: (tool name, method, path, operationId, status)
NEWER_OPERATIONS = (
    ("node_start", "POST", "/pools/{poolId}/nodes/{nodeId}/start", "Nodes_StartNode", 202),
    ("node_deallocate", "POST", "/pools/{poolId}/nodes/{nodeId}/deallocate", "Nodes_DeallocateNode", 202),
)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    tool: ToolDef

    @property
    def operation_id(self) -> str:
        return self.tool.http.operation_id


def compile_template(template: str) -> re.Pattern[str]:
    """`/pools/{poolId}/nodes/{nodeId}/files/{filePath}` → a regex; filePath may hold slashes."""
    out = ""
    pos = 0
    for match in re.finditer(r"\{(\w+)\}", template):
        out += re.escape(template[pos : match.start()])
        name = match.group(1)
        out += f"(?P<{name}>.+)" if name == "filePath" else f"(?P<{name}>[^/]+)"
        pos = match.end()
    out += re.escape(template[pos:])
    return re.compile(f"^{out}/?$")


def _newer_tool(name: str, method: str, path: str, operation_id: str, status: int) -> ToolDef:
    """A route for an operation no catalog has (its body is checked against the version table)."""
    http = HttpBinding(method, path, operation_id, {}, "json", (status,))
    return ToolDef(name, name, "", "nodes", "write", {}, {"type": "object"}, http)


@cache
def routes(catalog_version: str) -> tuple[Route, ...]:
    """The routes a catalog's requests are matched against (for 2024-02-01.19.0: also the
    operations of other versions that it lacks)."""
    tools = list(load_catalog(catalog_version))
    if catalog_version == V2024:
        known = {(t.http.method, t.http.path) for t in tools}
        tools += [t for t in load_catalog(V2018) if (t.http.method, t.http.path) not in known]
        tools += [_newer_tool(*op) for op in NEWER_OPERATIONS]
    found = [Route(t.http.method, compile_template(t.http.path), t) for t in tools]
    # literal paths before templated ones, longer templates first, so /pools/{id}/nodes wins over /pools/{id}
    found.sort(key=lambda r: (r.pattern.pattern.count("(?P<"), -len(r.pattern.pattern)))
    return tuple(found)


def version_of(api_version: str | None) -> versions.ApiVersion:
    if not api_version:
        raise errors.missing_api_version()
    version = versions.get(api_version)
    if version is None:
        raise errors.unsupported_api_version(api_version)
    return version


def catalog_for(api_version: str | None) -> str:
    """The catalog whose routes and request schemas serve an api-version."""
    return V2018 if version_of(api_version).name == V2018 else V2024


def match(api_version: str, method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route and path parameters for a request; errors like the service's for no match
    (an operation the version does not have is an unknown path)."""
    version = version_of(api_version)
    path_matched = False
    for route in routes(catalog_for(api_version)):
        m = route.pattern.match(path)
        if not m or not version.has(route.method, route.tool.http.path):
            continue
        path_matched = True
        if route.method == method:
            return route, m.groupdict()
    if path_matched:
        raise errors.unsupported_verb(method)
    raise errors.invalid_uri(path)


def all_operation_ids() -> dict[str, set[str]]:
    """operationId sets per served catalog (for the coverage check)."""
    return {v: {t.http.operation_id for t in load_catalog(v)} for v in SERVED_CATALOGS}
