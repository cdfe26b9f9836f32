"""The HTTP file streaming endpoint: whole Batch files of any size, passed through in chunks.

    GET /files/jobs/{jobId}/tasks/{taskId}/files/{path}
    GET /files/pools/{poolId}/nodes/{nodeId}/files/{path}

The path after `/files/` is a file resource URI without its `batch://` (ids and path segments
percent-encoded the same way). It takes the same bearer token as `/mcp`, answers HEAD, and honours
one `Range: bytes=...` header (206 with Content-Range). The file's size comes from a HEAD, then
the body is streamed from Batch as an explicit byte range, so the Content-Length we announce is
exactly what is sent even if the file grows meanwhile. Nothing is held but one send of about
1 MiB (chunks are gathered to that size: fewer, larger writes pass a large file through faster).
"""

from __future__ import annotations

import json
import logging
import mimetypes
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import quote

from mcp.server.auth.middleware.bearer_auth import RequireAuthMiddleware
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from batch_mcp.batch.errors import BatchError, BatchServiceError
from batch_mcp.server.file_windows import CONTENT_TOOLS, PROPERTIES_TOOLS
from batch_mcp.server.runtime import BackendUnavailable
from batch_mcp.server.uris import BatchUri, UriError, not_served, parse_uri

logger = logging.getLogger(__name__)

FILES_PREFIX = "/files/"
SEND_SIZE = 1024 * 1024  # bytes per ASGI send: fewer, larger writes pass a large file through faster


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": code, "message": message}).encode()
    return Response(body, status, headers=headers, media_type="application/json")


def parse_byte_range(header: str, size: int) -> tuple[int, int] | None:
    """One `bytes=a-b` / `bytes=a-` / `bytes=-n` range within a file of `size` bytes, inclusive; None
    when it cannot be satisfied or is not a single byte range."""
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or (first and not first.isdigit()) or (last and not last.isdigit()) or not (first or last):
        return None
    if not first:
        count = int(last)
        if count == 0 or size == 0:
            return None
        return max(0, size - count), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return None
    return start, end


class FileStreamEndpoint:
    """The ASGI app behind the route; finds the live Batch client through the runtime reference."""

    def __init__(self, runtime_ref: Any, send_size: int = SEND_SIZE) -> None:
        self.runtime_ref = runtime_ref
        self.send_size = send_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            await _error(405, "MethodNotAllowed", "use GET or HEAD", {"Allow": "GET, HEAD"})(scope, receive, send)
            return
        runtime = getattr(self.runtime_ref, "runtime", None)
        try:
            if runtime is None:
                raise BackendUnavailable("the server is starting or stopping")
            live = await runtime.ready()
        except BackendUnavailable as exc:
            await _error(503, "BackendUnavailable", str(exc))(scope, receive, send)
            return
        try:
            target = _target(scope)
        except UriError as exc:
            await _error(404, "NotAFileResource", str(exc))(scope, receive, send)
            return
        if target.reader not in live.engine.selection.enabled:
            await _error(403, "ToolNotEnabled", not_served(target))(scope, receive, send)
            return
        client = live.engine.client
        async with AsyncExitStack() as stack:
            try:
                response = await self._respond(client, target, scope, method, stack)
            except BatchError as exc:
                response = _batch_error(exc)
            await response(scope, receive, send)

    async def _respond(
        self, client: Any, target: BatchUri, scope: Scope, method: str, stack: AsyncExitStack
    ) -> Response:
        properties = (await client.call(PROPERTIES_TOOLS[target.kind], target.args)).data or {}
        if properties.get("isDirectory"):
            return _error(400, "FileIsDirectory", f"{target.path} is a directory")
        size = properties.get("contentLength")
        if not isinstance(size, int):
            return _error(502, "NoFileSize", "the Batch service did not report the file's size")
        headers = {"Accept-Ranges": "bytes"}
        if properties.get("lastModified"):
            headers["Last-Modified"] = str(properties["lastModified"])
        content_type = mimetypes.guess_type(target.path or "")[0] or "application/octet-stream"
        wanted = _header(scope, b"range")
        status, start, end = 200, 0, size - 1
        if wanted is not None:
            span = parse_byte_range(wanted, size)
            if span is None:
                return _error(416, "InvalidRange", f"the file has {size} bytes", {"Content-Range": f"bytes */{size}"})
            status, (start, end) = 206, span
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(max(0, end - start + 1))
        if method == "HEAD" or end < start:
            return Response(b"", status, headers=headers, media_type=content_type)
        stream = await stack.enter_async_context(
            client.open_stream(CONTENT_TOOLS[target.kind], target.args, byte_range=(start, end))
        )
        return StreamingResponse(
            _coalesced(stream.aiter_bytes(self.send_size), self.send_size),
            status,
            headers=headers,
            media_type=content_type,
        )


async def _coalesced(chunks: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """The same bytes in pieces of about `size` (at most one piece is held)."""
    parts: list[bytes] = []
    held = 0
    async for chunk in chunks:
        parts.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(parts)
            parts.clear()
            held = 0
    if parts:
        yield b"".join(parts)


def _target(scope: Scope) -> BatchUri:
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else quote(scope.get("path", ""))
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    if not path.startswith(FILES_PREFIX):
        raise UriError("not under /files/")
    target = parse_uri("batch://" + path[len(FILES_PREFIX) :])
    if not target.is_file:
        raise UriError(
            "only files stream here: /files/jobs/{jobId}/tasks/{taskId}/files/{path} or "
            "/files/pools/{poolId}/nodes/{nodeId}/files/{path}"
        )
    return target


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _batch_error(exc: BatchError) -> Response:
    if isinstance(exc, BatchServiceError) and exc.status in (404, 409):
        return _error(exc.status, exc.code or "BatchError", exc.message)
    if exc.status == 403:  # Batch refused the caller (with Entra ID sign-in: this user): say so, not 502
        return _error(403, exc.code or "Forbidden", exc.message)
    logger.info("file stream failed: %s", exc.message)
    return _error(502, exc.code or type(exc).__name__, exc.message)


class HostCheck:
    """The same Host/Origin checks as `/mcp` (DNS-rebinding protection), in front of an endpoint."""

    def __init__(self, app: Any, security: TransportSecuritySettings) -> None:
        self.app = app
        self.guard = TransportSecurityMiddleware(security)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = await self.guard.validate_request(Request(scope, receive), is_post=False)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def file_routes(
    runtime_ref: Any,
    security: TransportSecuritySettings | None = None,
    *,
    required_scopes: list[str] | None = None,
    resource_metadata_url: Any = None,
) -> list[Route]:
    """The streaming endpoint's routes, behind the same bearer token (and, given the transport's
    settings, the same Host/Origin checks and, with Entra ID sign-in, the same scope) as `/mcp`."""
    app: Any = RequireAuthMiddleware(
        FileStreamEndpoint(runtime_ref),
        required_scopes=required_scopes or [],
        resource_metadata_url=resource_metadata_url,
    )
    if security is not None:
        app = HostCheck(app, security)
    return [Route(FILES_PREFIX + "{rest:path}", endpoint=app, methods=["GET", "HEAD"])]
