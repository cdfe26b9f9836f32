"""A server on the embedded emulator whose Batch client can be given a fault-injecting transport,
plus small helpers to set up pools, jobs and tasks through the MCP tools themselves."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp
import mcp_types as types

from batch_mcp.batch import BatchClient, RetryPolicy, RetrySettings
from batch_mcp.catalog import DEFAULT_API_VERSION, Catalog
from batch_mcp.emulator import EmbeddedEmulator, EmulatorConfig
from batch_mcp.server import create_server
from batch_mcp.server.backend import Backend
from batch_mcp.settings import Settings
from tests.server.conftest import call, make_settings, text, wait_until

# (era, api-version) pairs: both protocol eras and both catalogs, without running every pair.
ERA_VERSIONS = [("legacy", "2018-08-01.7.0"), ("2026-07-28", DEFAULT_API_VERSION)]
IMAGE = {
    "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
    "nodeAgentSKUId": "batch.node.ubuntu 22.04",
}
FAST_RETRIES = RetryPolicy(RetrySettings(backoff_factor=0.01, backoff_max=0.05, jitter=0.0))
Fault = str | None  # "503-before", "500-after", "timeout-after", "servererror-after", or None


@dataclass
class FaultyTransport(httpx2.AsyncBaseTransport):
    """Sends every request to the emulator, but answers some add-task-collection requests with a
    fault: refused before they reach the service (503), or lost after the service applied them
    (500, a read timeout, or per-task server errors for tasks that were in fact added)."""

    plan: Callable[[int], Fault]
    inner: httpx2.AsyncBaseTransport = field(default_factory=httpx2.AsyncHTTPTransport)
    requests: int = 0
    injected: Counter[str] = field(default_factory=Counter)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if not (request.method == "POST" and request.url.path.endswith("/addtaskcollection")):
            return await self.inner.handle_async_request(request)
        fault = self.plan(self.requests)
        self.requests += 1
        if fault:
            self.injected[fault] += 1
        if fault == "503-before":
            return _error(503, "ServerBusy")
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        await response.aclose()
        if fault == "500-after":
            return _error(500, "InternalError")
        if fault == "timeout-after":
            raise httpx2.ReadTimeout("injected: the reply was lost", request=request)
        if fault == "servererror-after":
            data = json.loads(body)
            for item in data["value"][:3]:
                item["status"] = "servererror"
                item["error"] = {"code": "ServerError", "message": {"value": "injected"}}
            body = json.dumps(data).encode()
        return httpx2.Response(response.status_code, headers={"content-type": "application/json"}, content=body)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class RecordingTransport(httpx2.AsyncBaseTransport):
    """Sends every request to the emulator and remembers each file request: (method, path, range)."""

    inner: httpx2.AsyncBaseTransport = field(default_factory=httpx2.AsyncHTTPTransport)
    file_requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if "/files/" in request.url.path:
            self.file_requests.append((request.method, request.url.path, request.headers.get("ocp-range")))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _error(status: int, code: str) -> httpx2.Response:
    body = {"odata.metadata": "x", "code": code, "message": {"lang": "en-US", "value": "injected fault"}}
    return httpx2.Response(status, json=body)


@asynccontextmanager
async def workflow_client(
    tmp_path: Path,
    era: str = "2026-07-28",
    *,
    api_version: str = DEFAULT_API_VERSION,
    transport: httpx2.AsyncBaseTransport | None = None,
    **emulator: Any,
) -> AsyncIterator[mcp.Client]:
    """An MCP client connected to a server whose backend is an embedded emulator (real processes)."""
    settings = make_settings(tmp_path, api_version=api_version)
    config = EmulatorConfig(seed_pool=True, transition_delay=0.05, **emulator)

    def opener(_: Settings, catalog: Catalog) -> Any:
        @asynccontextmanager
        async def open_() -> AsyncIterator[Backend]:
            async with (
                EmbeddedEmulator(config) as emu,
                BatchClient(catalog, emu.url, transport=transport, retry=FAST_RETRIES) as client,
            ):
                yield Backend(endpoint=emu.url, kind="emulator", client=client)

        return open_()

    server = create_server(settings, opener=opener)
    async with mcp.Client(server, mode=era) as client:
        yield client


async def ok(client: mcp.Client, name: str, args: dict[str, Any] | None = None) -> types.CallToolResult:
    result = await call(client, name, args)
    assert not result.is_error, text(result)
    return result


async def add_pool(client: mcp.Client, pool_id: str, nodes: int, *, steady: bool = True, **extra: Any) -> None:
    await ok(
        client,
        "pool_add",
        {
            "id": pool_id,
            "vmSize": "standard_d2s_v3",
            "targetDedicatedNodes": nodes,
            "virtualMachineConfiguration": IMAGE,
            **extra,
        },
    )
    if steady:
        await wait_until(client, "pool_get", {"pool_id": pool_id}, lambda p: p.get("allocationState") == "steady")


async def run_task(client: mcp.Client, job_id: str, task_id: str, command: str, **extra: Any) -> dict[str, Any]:
    """Add a task and wait until it completes; returns the task."""
    await ok(client, "task_add", {"job_id": job_id, "id": task_id, "commandLine": command, **extra})
    return await wait_until(
        client, "task_get", {"job_id": job_id, "task_id": task_id}, lambda t: t.get("state") == "completed"
    )


class ProgressLog:
    """A `progress_callback` that records what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[float, float | None, str | None]] = []
        self.first = anyio.Event()  # set at the first notification

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.events.append((progress, total, message))
        self.first.set()
