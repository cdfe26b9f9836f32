"""Invalid arguments, generated per tool: always a tool error naming the field by JSON path, never a
protocol error, never a request on the wire. Runs through a real MCP client against a server
whose Batch client goes to a transport that records every request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import mcp
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_mcp.batch import BatchClient
from batch_mcp.catalog.bounds import HEX_PATTERN
from batch_mcp.catalog.validation import make_validator
from batch_mcp.server import assemble, create_server
from batch_mcp.server.backend import Backend
from tests.conftest import API_VERSIONS
from tests.server.conftest import make_settings, text

SENT: list[httpx2.Request] = []


def recording_opener(settings: Any, catalog: Any) -> Any:
    @asynccontextmanager
    async def open_() -> AsyncIterator[Backend]:
        transport = httpx2.MockTransport(lambda request: SENT.append(request) or httpx2.Response(500))
        async with BatchClient(catalog, "https://acct.region.batch.azure.com", transport=transport) as client:
            yield Backend(endpoint="https://acct.region.batch.azure.com", kind="azure", client=client)

    return open_()


# -- valid values from a schema, then one mutation ------------------------------------------------


def resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].removeprefix("#/$defs/")]
    return schema


def valid_value(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    schema = resolve(schema, defs)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "string":
        if schema.get("pattern", "").startswith("^bytes="):
            return "bytes=0-9"
        if schema.get("pattern") == HEX_PATTERN:
            return "ab12"
        return {
            "date-time": "2026-01-01T00:00:00Z",
            "duration": "PT5M",
            "uuid": "00000000-0000-0000-0000-000000000000",
        }.get(schema.get("format", ""), "x")
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "array":
        return [valid_value(schema.get("items", {}), defs)] * schema.get("minItems", 1 if "items" in schema else 0)
    props = schema.get("properties", {})
    return {name: valid_value(props[name], defs) for name in schema.get("required", []) if name in props}


WRONG = {
    "string": 12345,
    "integer": "not-a-number",
    "number": "not-a-number",
    "boolean": "yes",
    "array": "not-a-list",
    "object": 7,
}


@st.composite
def invalid_call(draw: st.DrawFn, schema: dict[str, Any]) -> tuple[dict[str, Any], str]:
    defs = schema.get("$defs", {})
    args = valid_value(schema, defs)
    props = schema["properties"]
    kinds = ["unknown"] + (["wrong_type"] if props else []) + (["missing"] if schema.get("required") else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "unknown":
        name = draw(st.from_regex(r"[a-zA-Z][a-zA-Z0-9]{2,10}", fullmatch=True).filter(lambda n: n not in props))
        args[name] = draw(st.integers() | st.text(max_size=5))
        return args, f"$.{name}"
    if kind == "missing":
        name = draw(st.sampled_from(schema["required"]))
        del args[name]
        return args, f"$.{name}"
    name = draw(st.sampled_from(sorted(props)))
    target = resolve(props[name], defs)
    wrong = "no-such-value" if "enum" in target else WRONG[target.get("type", "object")]
    args[name] = wrong
    return args, f"$.{name}"


# -- one server for the whole module, driven from sync hypothesis tests through a portal --------


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as portal:
        yield portal


def cases() -> list[tuple[str, str]]:
    out = []
    for version in API_VERSIONS:
        parts = assemble(make_settings(Path("/nonexistent"), api_version=version, audit_log="off"))
        out += [(version, name) for name in [*parts.catalog.tools, *parts.server_tools]]
    return out


@pytest.fixture(scope="module")
def clients(portal: BlockingPortal, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, mcp.Client]]:
    with ExitStack() as stack:
        out = {}
        for version in API_VERSIONS:
            server_settings = make_settings(
                tmp_path_factory.mktemp("bad"), api_version=version, audit_log="off", toolsets=["default"]
            )
            server = create_server(server_settings, opener=recording_opener)
            out[version] = stack.enter_context(portal.wrap_async_context_manager(mcp.Client(server, mode="legacy")))
        yield out


def schema_of(version: str, name: str) -> dict[str, Any]:
    parts = assemble(make_settings(Path("/nonexistent"), api_version=version, audit_log="off"))
    if name in parts.catalog:
        return parts.catalog.validation_schema(name)
    return dict(parts.server_tools[name].input_schema)


@pytest.mark.parametrize(("version", "name"), cases())
def test_invalid_arguments_are_named_and_never_sent(
    version: str, name: str, clients: dict[str, mcp.Client], portal: BlockingPortal
) -> None:
    connected = clients[version]
    schema = schema_of(version, name)
    valid = valid_value(schema, schema.get("$defs", {}))
    assert not list(make_validator(schema).iter_errors(valid)), "the generated base arguments must be valid"

    @settings(
        max_examples=8,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(invalid_call(schema))
    def check(case: tuple[dict[str, Any], str]) -> None:
        args, path = case
        SENT.clear()
        result = portal.call(connected.call_tool, name, args)
        assert result.is_error, f"{name} accepted {args}"
        assert path in text(result), f"{name}: {path} not named in {text(result)!r}"
        assert SENT == [], f"{name} sent {SENT}"

    check()
