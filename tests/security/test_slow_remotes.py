"""Every Batch call ends within its budget, whatever the other side does; slow HTTP clients are dropped.

The attacker controls the network path to "Batch" (a hostile proxy, a compromised endpoint, a
broken load balancer): it answers the headers and then trickles the body a byte at a time, or
never answers at all. httpx's read timeout is per read, so a byte every so often resets it
forever. And on the other side, a client of our HTTP transport trickles its request headers or
body to hold connections and requests open (slowloris).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from batch_mcp.batch import BatchClient, BatchTimeoutError, RetryPolicy, RetrySettings
from batch_mcp.catalog import load_catalog
from batch_mcp.server.backend import Backend
from batch_mcp.server.transports import http_server
from batch_mcp.slow_clients import RequestTimeouts
from tests.server.conftest import call, make_settings, text

pytestmark = pytest.mark.anyio

ENDPOINT = "https://acct.westeurope.batch.azure.com"
TRICKLE_EVERY = 0.05  # seconds between bytes: far below any per-read timeout


def short_client(transport: httpx2.AsyncBaseTransport | None = None, endpoint: str = ENDPOINT) -> BatchClient:
    """A client whose budget is a second or so, so the test ends quickly; the mechanism is the real one."""
    retry = RetryPolicy(RetrySettings(budget=1.5, backoff_factor=0.01, backoff_max=0.05, max_attempts=3))
    return BatchClient(load_catalog(), endpoint, transport=transport, retry=retry, timeout=0.5)


async def trickle(first: bytes = b'{"id": "') -> AsyncIterator[bytes]:
    yield first
    while True:
        await anyio.sleep(TRICKLE_EVERY)
        yield b"x"


async def test_a_trickling_reply_ends_in_a_clear_error() -> None:
    def batch(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"Content-Type": "application/json"}, content=trickle())

    async with short_client(httpx2.MockTransport(batch)) as client:
        with anyio.fail_after(10), pytest.raises(BatchTimeoutError) as caught:
            await client.call("pool_get", {"pool_id": "p"})
    assert "Batch is not answering" in str(caught.value)


async def test_headers_that_never_come_end_in_a_clear_error() -> None:
    async def batch(request: httpx2.Request) -> httpx2.Response:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async with short_client(httpx2.MockTransport(batch)) as client:
        with anyio.fail_after(10), pytest.raises(BatchTimeoutError) as caught:
            await client.call("job_get", {"job_id": "j"})
    assert "Batch is not answering" in str(caught.value)


async def test_a_trickling_file_download_ends_in_a_clear_error() -> None:
    def batch(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"Content-Type": "application/octet-stream"}, content=trickle(b"x"))

    async with short_client(httpx2.MockTransport(batch)) as client:
        args = {"job_id": "j", "task_id": "t", "file_path": "stdout.txt"}
        with anyio.fail_after(10), pytest.raises(BatchTimeoutError) as caught:
            async with client.open_stream("task_file_get", args) as stream:
                await stream.read()
    assert "Batch is not answering" in str(caught.value)


@asynccontextmanager
async def trickling_batch() -> AsyncIterator[str]:
    """A real HTTP server on loopback that sends headers, then one body byte every TRICKLE_EVERY s."""

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                await stream.receive()
                await stream.send(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                )
                while True:
                    await stream.send(b" ")
                    await anyio.sleep(TRICKLE_EVERY)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                return

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, serve)
        yield f"http://127.0.0.1:{port}"
        tasks.cancel_scope.cancel()


async def test_a_tool_call_against_a_trickling_batch_says_batch_is_not_answering(tmp_path: Path) -> None:
    import mcp

    from batch_mcp.server import create_server

    async with trickling_batch() as endpoint:

        def opener(settings: Any, catalog: Any) -> Any:
            @asynccontextmanager
            async def open_() -> AsyncIterator[Backend]:
                async with short_client(endpoint=endpoint) as client:
                    yield Backend(endpoint=endpoint, kind="azure", client=client)

            return open_()

        server = create_server(make_settings(tmp_path, endpoint=endpoint), opener=opener)
        async with mcp.Client(server) as client:
            with anyio.fail_after(15):
                result = await call(client, "pool_get", {"pool_id": "p"})
    assert result.is_error and "Batch is not answering" in text(result)


# -- the HTTP transport's side ------------------------------------------------------------------

FAST = RequestTimeouts(headers=0.5, body=0.5, min_rate=1_000_000, body_max=1.0)


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"size": len(body)})


@asynccontextmanager
async def guarded_server() -> AsyncIterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
    server = http_server(app, "127.0.0.1", port, FAST)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve)
        for _ in range(1000):  # up to 10 s for uvicorn to listen
            if server.started:
                break
            await anyio.sleep(0.01)
        try:
            yield port
        finally:
            server.should_exit = True


async def closed_while_trickling(port: int, opening: bytes, drip: bytes) -> bool:
    """Send `opening`, then `drip` every TRICKLE_EVERY s; True once the server closes the connection."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(opening)
        with anyio.move_on_after(8):
            while True:
                try:
                    await stream.send(drip)
                    with anyio.move_on_after(TRICKLE_EVERY):
                        if await stream.receive() == b"":
                            return True
                except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
                    return True
    return False


async def test_the_http_transport_drops_a_client_that_trickles_its_headers() -> None:
    async with guarded_server() as port:
        assert await closed_while_trickling(port, b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Drip: 1\r\n")


async def test_the_http_transport_drops_a_client_that_trickles_its_body() -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
    async with guarded_server() as port:
        assert await closed_while_trickling(port, head, b"x")
        # A client that sends its request promptly is served as ever.
        async with httpx2.AsyncClient() as http:
            reply = await http.post(f"http://127.0.0.1:{port}/echo", content=b"y" * 50_000)
        assert reply.json() == {"size": 50_000}
