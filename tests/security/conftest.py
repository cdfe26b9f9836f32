"""Helpers for attacks on the server side: a real MCP client and server whose Batch client talks to
a scripted stand-in (`httpx2.MockTransport`), so a test controls exactly what "Batch" answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import mcp

from batch_mcp.batch import BatchClient
from batch_mcp.server import create_server
from batch_mcp.server.backend import Backend
from tests.server.conftest import make_settings

ENDPOINT = "https://acct.westeurope.batch.azure.com"
Handler = Callable[[httpx2.Request], httpx2.Response]


def batch_reply(status: int, code: str, message: str, values: list[dict[str, str]] | None = None) -> httpx2.Response:
    body: dict[str, Any] = {"code": code, "message": {"lang": "en-US", "value": message}}
    if values is not None:
        body["values"] = values
    return httpx2.Response(status, json=body, headers={"request-id": "rid-1"})


@asynccontextmanager
async def scripted_server(
    tmp_path: Path,
    handler: Handler,
    *,
    era: str = "legacy",
    elicitation: Any = None,
    client_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[mcp.Client]:
    """An MCP client connected to a server whose Batch is `handler` (`client_options` go to its
    BatchClient: a short retry policy, ...)."""

    def opener(settings: Any, catalog: Any) -> Any:
        @asynccontextmanager
        async def open_() -> AsyncIterator[Backend]:
            transport = httpx2.MockTransport(handler)
            async with BatchClient(catalog, ENDPOINT, transport=transport, **(client_options or {})) as client:
                yield Backend(endpoint=ENDPOINT, kind="azure", client=client)

        return open_()

    settings = make_settings(tmp_path, endpoint=ENDPOINT, **overrides)
    server = create_server(settings, opener=opener)
    async with mcp.Client(server, mode=era, elicitation_callback=elicitation) as client:
        yield client
