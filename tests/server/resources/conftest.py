"""A real server on the embedded emulator with a handle on its runtime, and one way to watch a
resource in either protocol era (`resources/subscribe` or `subscriptions/listen`)."""

from __future__ import annotations

import contextlib
import secrets
import socket
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp
import mcp_types as types
import uvicorn
from mcp.client.subscriptions import ResourceUpdated
from mcp.shared.exceptions import MCPDeprecationWarning

from batch_mcp.server import assemble
from batch_mcp.server.app import RuntimeRef, build_server
from batch_mcp.server.events import Events
from batch_mcp.server.resources import file_routes
from batch_mcp.server.transports import http_app, plan_http
from tests.server.conftest import call, make_settings, text, wait_until

VM = {
    "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
    "nodeAgentSKUId": "batch.node.ubuntu 22.04",
}


class Updates:
    """`notifications/resources/updated` a handshake-era client received, in order."""

    def __init__(self) -> None:
        self.send, self.receive = anyio.create_memory_object_stream[str](1000)

    async def __call__(self, message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            self.send.send_nowait(message.params.uri)


@dataclass
class Served:
    client: mcp.Client
    ref: RuntimeRef
    updates: Updates
    era: str

    @property
    def events(self) -> Events:
        assert self.ref.runtime is not None and self.ref.runtime.live is not None
        return self.ref.runtime.live.events

    @asynccontextmanager
    async def watch(self, uri: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
        """Subscribe the era's way; yields `next_update()` → the URI of the next update received."""
        if self.era == "legacy":
            with warnings.catch_warnings():  # deprecated for 2026-07-28, the way to subscribe before it
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await self.client.subscribe_resource(uri)

            async def next_legacy() -> str:
                return await self.updates.receive.receive()

            yield next_legacy
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await self.client.unsubscribe_resource(uri)
            return
        async with self.client.listen(resource_subscriptions=[uri]) as subscription:
            assert subscription.honored.resource_subscriptions == [uri]

            async def next_modern() -> str:
                event = await subscription.__anext__()
                assert isinstance(event, ResourceUpdated)
                return event.uri

            yield next_modern


@asynccontextmanager
async def serve(tmp_path: Path, era: str, **overrides: Any) -> AsyncIterator[Served]:
    settings = make_settings(tmp_path, **overrides)
    parts = assemble(settings)
    ref = RuntimeRef()
    server = build_server(settings, parts.catalog, parts.selection, parts.server_tools, runtime_ref=ref)
    updates = Updates()
    async with mcp.Client(server, mode=era, message_handler=updates) as client:
        assert ref.runtime is not None
        await ref.runtime.ready()
        yield Served(client, ref, updates, era)


async def run_task(client: mcp.Client, job_id: str, task_id: str, command: str, *, pool_id: str = "local") -> None:
    """Add a job (if needed) and a task, and wait until the task completes."""
    await call(client, "job_add", {"id": job_id, "poolInfo": {"poolId": pool_id}})
    result = await call(client, "task_add", {"job_id": job_id, "id": task_id, "commandLine": command})
    assert not result.is_error, text(result)
    await wait_until(
        client, "task_get", {"job_id": job_id, "task_id": task_id}, lambda t: t.get("state") == "completed"
    )


async def idle_pool(client: mcp.Client, pool_id: str) -> None:
    """A pool with no nodes: tasks on it stay active until it is resized, so a test decides when they run."""
    result = await call(
        client,
        "pool_add",
        {"id": pool_id, "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 0, "virtualMachineConfiguration": VM},
    )
    assert not result.is_error, text(result)
    await wait_until(client, "pool_get", {"pool_id": pool_id}, lambda p: p.get("allocationState") == "steady")


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers (the test process keeps its own)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class HttpServed:
    base: str  # http://127.0.0.1:PORT
    token: str
    ref: RuntimeRef

    @property
    def events(self) -> Events:
        assert self.ref.runtime is not None and self.ref.runtime.live is not None
        return self.ref.runtime.live.events

    def http(self, token: str | None = None) -> httpx2.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx2.AsyncClient(base_url=self.base, headers=headers, timeout=30)


@asynccontextmanager
async def http_serve(tmp_path: Path, **overrides: Any) -> AsyncIterator[HttpServed]:
    """The server over Streamable HTTP on a free loopback port, built the way `batch-mcp --transport http` builds
    it (bearer token, file routes), in this process so tests can look at its runtime."""
    settings = make_settings(tmp_path, **overrides)
    parts = assemble(settings)
    ref = RuntimeRef()
    server = build_server(settings, parts.catalog, parts.selection, parts.server_tools, runtime_ref=ref)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(16)
    plan = plan_http("127.0.0.1", port, token, [])
    routes = file_routes(ref, plan.security)
    app = http_app(server, "127.0.0.1", port, plan, extra_routes=routes, max_sessions=settings.http_max_sessions)
    web = _QuietServer(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(web.serve, [sock])
            with anyio.fail_after(30):
                while not web.started or ref.runtime is None:  # noqa: ASYNC110 (uvicorn has no started event)
                    await anyio.sleep(0.01)
                await ref.runtime.ready()
            try:
                yield HttpServed(f"http://127.0.0.1:{port}", token, ref)
            finally:
                web.should_exit = True
    finally:
        sock.close()


async def watchers_settle(events: Events, count: int = 0) -> None:
    """Wait until `count` watchers run: a closed listen stream or session reaches the server on its own time."""
    with anyio.fail_after(10):
        while len(events.pool) != count:  # noqa: ASYNC110 (nothing to wait on but the count itself)
            await anyio.sleep(0.01)
