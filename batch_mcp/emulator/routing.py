"""Which operation a request is: matched against the catalog's HTTP bindings.

Every served path and method comes from the committed catalogs (`tool_schemas/<version>`), so the
emulator serves exactly the operations of each API version. `2025-06-01`, the default of today's
official SDKs, has the paths of 2024-02-01.19.0 and is served from that catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from batch_mcp.catalog import ToolDef, load_catalog
from batch_mcp.emulator import errors

SERVED_CATALOGS = ("2018-08-01.7.0", "2024-02-01.19.0")
# api-version → the catalog that describes it
API_VERSIONS = {
    "2018-08-01.7.0": "2018-08-01.7.0",
    "2024-02-01.19.0": "2024-02-01.19.0",
    "2025-06-01": "2024-02-01.19.0",
}
LATEST = "2024-02-01.19.0"


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


@cache
def routes(catalog_version: str) -> tuple[Route, ...]:
    catalog = load_catalog(catalog_version)
    found = [Route(t.http.method, compile_template(t.http.path), t) for t in catalog]
    # literal paths before templated ones, longer templates first, so /pools/{id}/nodes wins over /pools/{id}
    found.sort(key=lambda r: (r.pattern.pattern.count("(?P<"), -len(r.pattern.pattern)))
    return tuple(found)


def catalog_for(api_version: str | None) -> str:
    if not api_version:
        raise errors.missing_api_version()
    version = API_VERSIONS.get(api_version)
    if version is None:
        raise errors.unsupported_api_version(api_version)
    return version


def match(api_version: str, method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route and path parameters for a request; errors like the service's for no match."""
    path_matched = False
    for route in routes(catalog_for(api_version)):
        m = route.pattern.match(path)
        if not m:
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
