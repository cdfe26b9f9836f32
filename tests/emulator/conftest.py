"""Fixtures for the emulator's tests: a running emulator on a loopback port and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2

from batch_mcp.emulator import EmbeddedEmulator, EmulatorConfig, create_app

V2024 = "2024-02-01.19.0"
V2018 = "2018-08-01.7.0"


def fast_config(**overrides: Any) -> EmulatorConfig:
    values: dict[str, Any] = {"transition_delay": 0.02, "tick_interval": 0.01}
    values.update(overrides)
    return EmulatorConfig(**values)


@asynccontextmanager
async def serving(config: EmulatorConfig | None = None, **kwargs: Any) -> AsyncIterator[tuple[EmbeddedEmulator, Api]]:
    """The emulator over real HTTP on a loopback port."""
    async with (
        EmbeddedEmulator(config or fast_config(), **kwargs) as emu,
        httpx2.AsyncClient(base_url=emu.url, timeout=30) as http,
    ):
        yield emu, Api(http)


@asynccontextmanager
async def running(config: EmulatorConfig | None = None, **kwargs: Any) -> AsyncIterator[tuple[Any, Api]]:
    """The emulator in-process (ASGI, no socket): its backend and a client for it."""
    app = create_app(config or fast_config(), **kwargs)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(
            transport=transport, base_url="https://test.local.batch.azure.com", timeout=30
        ) as http:
            yield app.state.emulator.backend, Api(http)


class Api:
    """A thin client: every call carries an api-version; JSON in, httpx2 responses out."""

    def __init__(self, http: httpx2.AsyncClient, version: str = V2024) -> None:
        self.http = http
        self.version = version

    def at(self, version: str) -> Api:
        return Api(self.http, version)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx2.Response:
        query = {"api-version": self.version, **(params or {})}
        with anyio.fail_after(30):
            return await self.http.request(method, path, params=query, json=json, headers=headers)

    async def get(self, path: str, **kw: Any) -> httpx2.Response:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> httpx2.Response:
        return await self.call("POST", path, json=json, **kw)

    async def wait(
        self,
        path: str,
        done: Callable[[dict[str, Any]], bool],
        *,
        within: float = 20,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Poll GET `path` until `done(body)`; fail after `within` seconds. Polling is how a
        client observes a remote state machine; every wait is bounded."""
        with anyio.fail_after(within):
            while True:
                response = await self.get(path, params=params)
                if response.status_code == 200 and done(response.json()):
                    return response.json()
                await anyio.sleep(0.02)

    async def wait_gone(self, path: str, *, within: float = 20) -> None:
        with anyio.fail_after(within):
            while (await self.get(path)).status_code != 404:  # noqa: ASYNC110 - polling a remote service
                await anyio.sleep(0.02)


async def until(check: Callable[[], Awaitable[bool]], within: float = 20) -> None:
    with anyio.fail_after(within):
        while not await check():  # noqa: ASYNC110 - polling a remote service
            await anyio.sleep(0.02)


def ready_pool(pool_id: str = "p1", nodes: int = 1, slots: int = 4, **extra: Any) -> dict[str, Any]:
    body = {
        "id": pool_id,
        "vmSize": "standard_d2s_v3",
        "virtualMachineConfiguration": {
            "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
            "nodeAgentSKUId": "batch.node.ubuntu 22.04",
        },
        "targetDedicatedNodes": nodes,
        "taskSlotsPerNode": slots,
    }
    body.update(extra)
    return body


async def make_pool(
    api: Api, pool_id: str = "p1", nodes: int = 1, slots: int = 4, **extra: Any
) -> list[dict[str, Any]]:
    """Create a pool and wait until all its nodes are idle; returns the nodes."""
    r = await api.post("/pools", ready_pool(pool_id, nodes, slots, **extra))
    assert r.status_code == 201, r.text
    await api.wait(f"/pools/{pool_id}", lambda p: p["allocationState"] == "steady")
    body = await api.wait(
        f"/pools/{pool_id}/nodes", lambda b: len(b["value"]) == nodes and all(n["state"] == "idle" for n in b["value"])
    )
    return body["value"]
