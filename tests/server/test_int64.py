"""64-bit integers the way the service sends them: as strings of digits in places (job statistics'
`readIOps`, `numSucceededTasks`, file `contentLength`, ...). Output schemas accept numbers or numeric
strings, so a validating client takes the result, and results present them as numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from batch_mcp.batch.shaping import int64_numbers
from batch_mcp.catalog import load_catalog
from batch_mcp.catalog.validation import make_validator
from tests.conftest import API_VERSIONS
from tests.server.workflows.conftest import ERA_VERSIONS, ok, run_task, workflow_client

pytestmark = pytest.mark.anyio

JOB_STATS = {
    "url": "https://acct.region.batch.azure.com/lifetimejobstats",
    "startTime": "2026-11-01T00:00:00Z",
    "lastUpdateTime": "2026-11-29T00:00:00Z",
    "userCPUTime": "PT1H",
    "kernelCPUTime": "PT5M",
    "wallClockTime": "PT2H",
    "readIOps": "9223372036854775807",
    "writeIOps": "12",
    "readIOGiB": 1.5,
    "writeIOGiB": 0.25,
    "numSucceededTasks": "1000",
    "numFailedTasks": "3",
    "numTaskRetries": "0",
    "waitTime": "PT1M",
}


class StringsLikeTheService(httpx2.AsyncBaseTransport):
    """The emulator, except that 64-bit integers come back as strings, as the service sends them, and
    job lifetime statistics (which the emulator may not keep) are a fixed body."""

    def __init__(self, fields: frozenset[str]) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.fields = fields

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/lifetimejobstats":
            return httpx2.Response(200, json=JOB_STATS)
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        if not response.headers.get("content-type", "").startswith("application/json"):
            return httpx2.Response(response.status_code, headers=response.headers, content=body)
        data = _as_strings(json.loads(body), self.fields) if body else None
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx2.Response(response.status_code, headers=headers, json=data)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _as_strings(value: Any, fields: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: str(v) if k in fields and isinstance(v, int) else _as_strings(v, fields) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_strings(v, fields) for v in value]
    return value


async def test_job_lifetime_statistics_with_string_counts_validate_and_come_back_as_numbers(tmp_path: Path) -> None:
    version = "2018-08-01.7.0"  # lifetime statistics were retired after it
    transport = StringsLikeTheService(load_catalog(version).int64_fields)
    async with workflow_client(tmp_path, "legacy", api_version=version, transport=transport) as client:
        result = await ok(client, "job_get_lifetime_statistics")
        data = result.structured_content or {}
        assert data["readIOps"] == 9223372036854775807 and data["numSucceededTasks"] == 1000
        assert '"numFailedTasks":3' in result.content[0].text


@pytest.mark.parametrize(("era", "version"), ERA_VERSIONS)
async def test_file_sizes_sent_as_strings_come_back_as_numbers(tmp_path: Path, era: str, version: str) -> None:
    transport = StringsLikeTheService(load_catalog(version).int64_fields)
    async with workflow_client(tmp_path, era, api_version=version, transport=transport) as client:
        await ok(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        await run_task(client, "j", "t", "/bin/sh -c 'echo twelve bytes'")
        listing = await ok(client, "task_file_list", {"job_id": "j", "task_id": "t"})
        sizes = {f["name"]: f.get("properties", {}).get("contentLength") for f in listing.structured_content["items"]}
        assert sizes["stdout.txt"] == 13


@pytest.mark.parametrize("version", API_VERSIONS)
def test_every_int64_field_of_every_output_schema_takes_a_number_or_a_numeric_string(version: str) -> None:
    catalog = load_catalog(version)
    assert {"contentLength", "readIOps", "numSucceededTasks"} <= catalog.int64_fields
    seen = 0
    for tool in catalog:
        for name, schema in _properties(tool.output_schema or {}):
            if name not in catalog.int64_fields:
                continue
            seen += 1
            check = make_validator(schema)
            assert not list(check.iter_errors("9223372036854775807")) and not list(check.iter_errors(42)), tool.name
            assert list(check.iter_errors("12 GB")), tool.name
    assert seen >= 3


def _properties(schema: dict[str, Any]) -> Any:
    for name, sub in (schema.get("properties") or {}).items():
        yield name, sub
        yield from _properties(sub)
    if isinstance(schema.get("items"), dict):
        yield from _properties(schema["items"])


def test_numbers_are_read_only_from_digits_and_only_under_int64_names() -> None:
    fields = frozenset({"readIOps", "contentLength"})
    data = {"readIOps": "12", "id": "12", "nested": [{"contentLength": "-3", "readIOps": "1e3"}]}
    assert int64_numbers(data, fields) == {
        "readIOps": 12,
        "id": "12",
        "nested": [{"contentLength": -3, "readIOps": "1e3"}],
    }
