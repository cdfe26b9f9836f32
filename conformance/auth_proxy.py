"""A loopback proxy that adds batch-mcp's bearer token to requests from the MCP conformance suite.

The suite (`@modelcontextprotocol/conformance`) has no option to send an Authorization header, and
batch-mcp's HTTP transport always requires one. Rather than loosen the server for tests, the suite
talks to this proxy, which adds `Authorization: Bearer <token>` when a request carries none and
forwards everything else as it came: method, path, body, and the Host and Origin headers, so the
server's own checks (DNS-rebinding protection, sessions, protocol headers, SSE streams) are what the
suite sees. Responses stream back unbuffered.

Usage (the token comes from the environment, never the command line):

    BATCH_MCP_TOKEN=... python conformance/auth_proxy.py --port 9001 --upstream http://127.0.0.1:9000

It binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx2
import uvicorn
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

# Hop-by-hop headers belong to one connection and are not forwarded (RFC 9110 §7.6.1).
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


def forwarded_request_headers(raw: list[tuple[bytes, bytes]], token: str) -> list[tuple[bytes, bytes]]:
    """The client's headers minus hop-by-hop ones, with the bearer token added if none was sent."""
    headers = [(k, v) for k, v in raw if k.decode("latin-1").lower() not in HOP_BY_HOP | {"content-length"}]
    if not any(k.lower() == b"authorization" for k, _ in headers):
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return headers


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def build_app(upstream: str, token: str) -> Callable[[dict[str, Any], Receive, Send], Awaitable[None]]:
    """An ASGI app forwarding every request to `upstream` (scheme://host:port, no path)."""
    # No read timeout: SSE streams stay open as long as the suite keeps them.
    client = httpx2.AsyncClient(base_url=upstream, timeout=httpx2.Timeout(30.0, read=None), follow_redirects=False)

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        query = scope["query_string"].decode("latin-1")
        upstream_request = client.build_request(
            scope["method"],
            scope["raw_path"].decode("latin-1") + (f"?{query}" if query else ""),
            headers=forwarded_request_headers(scope["headers"], token),
            content=await Request(scope, receive).body(),
        )
        try:
            upstream_response = await client.send(upstream_request, stream=True)
        except httpx2.HTTPError as exc:
            response: Response = Response(f"auth_proxy: upstream unreachable ({type(exc).__name__})", status_code=502)
            await response(scope, receive, send)
            return
        headers = [
            (k, v)
            for k, v in upstream_response.headers.raw
            if k.decode("latin-1").lower() not in HOP_BY_HOP | {"content-length"}
        ]
        response = StreamingResponse(_relay(upstream_response), status_code=upstream_response.status_code)
        response.raw_headers = headers
        await response(scope, receive, send)

    return app


async def _relay(upstream: httpx2.Response) -> AsyncIterator[bytes]:
    """The upstream body as it arrives; the upstream stream is closed however ours ends (the suite
    drops SSE streams early, which cancels this generator)."""
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx2.HTTPError:  # upstream closed mid-stream: end ours too
        return
    finally:
        with anyio.CancelScope(shield=True):
            await upstream.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="port to listen on (127.0.0.1)")
    parser.add_argument("--upstream", required=True, help="batch-mcp base URL, e.g. http://127.0.0.1:9000")
    parser.add_argument("--token-env", default="BATCH_MCP_TOKEN", help="environment variable holding the token")
    args = parser.parse_args(argv)
    token = os.environ.get(args.token_env)
    if not token:
        print(f"auth_proxy: set {args.token_env} to the server's bearer token", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        build_app(args.upstream.rstrip("/"), token),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        lifespan="on",
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=2,  # do not wait on SSE streams a client left open
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
