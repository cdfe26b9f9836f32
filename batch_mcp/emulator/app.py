"""The ASGI app: every request goes through one dispatcher that matches it to a catalog operation
(api-version first), checks Shared Key, reads and validates the body, then calls the operation's
handler. Errors of any kind leave as the service's error envelope, with a request id."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from batch_mcp.emulator import errors, gate, routing
from batch_mcp.emulator.auth import verify_request
from batch_mcp.emulator.config import EmulatorConfig
from batch_mcp.emulator.handlers import HANDLERS
from batch_mcp.emulator.protocol import Ctx, NotModified, entity_headers, error_response, new_request_id
from batch_mcp.emulator.runner import Runner
from batch_mcp.emulator.runtime import Emulator
from batch_mcp.emulator.timefmt import rfc1123
from batch_mcp.emulator.validation import validate_body
from batch_mcp.emulator.versions import ApiVersion

log = logging.getLogger("batch_mcp.emulator")
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def read_body(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.request_body_too_large(limit)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise errors.request_body_too_large(limit)
    if not raw.strip():
        return None
    return gate.parse_json(bytes(raw))


def check_body(version: ApiVersion, catalog_version: str, route: routing.Route, body: Any) -> Any:
    """The request body validated as the version's service would, in the emulator's current form.

    A version with a catalog of its own is checked strictly against it; any other version has its
    field names checked against the version table, then the values against the 2024 catalog."""
    http = route.tool.http
    if body is None:
        if http.body_model and http.body_required:
            raise errors.invalid_body("This operation needs a request body.")
        return body
    own_catalog = version.name == catalog_version
    if http.body_model and own_catalog:
        validate_body(catalog_version, route.tool.name, body)
    if not isinstance(body, dict):
        raise errors.invalid_body("The request body must be a JSON object.")
    label = version.root(http.method, http.path, "request")
    body = version.accept(label, body)
    if http.body_model and not own_catalog:
        newer = version.index > ApiVersion(catalog_version).index
        # a field the 2024 model requires is not asked of a version without it (2025-06-01 pools
        # have no certificateReferences)
        validate_body(
            catalog_version, route.tool.name, body, strict=False, enums=not newer, absent=version.missing(label)
        )
    return body


async def dispatch(request: Request) -> Response:
    emulator: Emulator = request.app.state.emulator
    backend = emulator.backend
    assert backend is not None
    request_id = new_request_id()
    base = base_url(request)
    query = {k.lower(): v for k, v in request.query_params.items()}
    headers = {k.lower(): v for k, v in request.headers.items()}
    ctx: Ctx | None = None
    try:
        gate.check_request(request, headers, emulator.config)
        if backend.public_url is None:
            backend.public_url = base
        if request.method == "OPTIONS" and "origin" in headers:
            preflight = gate.preflight(headers)  # an allowed origin's: any other was refused above
            gate.allow_origin(preflight, headers, emulator.config)
            return preflight
        verify_request(emulator.config, request)
        api_version = query.get("api-version")
        version = routing.version_of(api_version)
        catalog_version = routing.catalog_for(api_version)
        route, path = routing.match(version.name, request.method, request.scope["path"])
        body = await read_body(request, emulator.config.max_request_body)
        body = check_body(version, catalog_version, route, body)
        ctx = Ctx(request, backend, route, version, catalog_version, path, query, body, request_id, base, headers)
        response = await HANDLERS[route.operation_id](ctx)
    except NotModified:
        response = Response(b"", 304)
    except errors.BatchError as exc:
        response = error_response(exc, request_id, base)
    except Exception:
        log.exception("emulator request failed: %s %s", request.method, request.url.path)
        response = error_response(
            errors.BatchError(500, "InternalError", "The local emulator hit an internal error processing the request."),
            request_id,
            base,
        )
    response.headers["request-id"] = request_id
    response.headers[ISOLATION_HEADER] = emulator.isolation
    gate.allow_origin(response, headers, emulator.config)
    if response.status_code < 300 and "etag" not in response.headers:
        # lists and computed results change with every read: a fresh validator, as the service sends
        response.headers["ETag"] = backend.new_etag()
        response.headers["Last-Modified"] = rfc1123(backend.now())
    client_id = headers.get("client-request-id")
    if (
        client_id
        and query.get("return-client-request-id", headers.get("return-client-request-id", "")).lower() == "true"
    ):
        response.headers["client-request-id"] = client_id
    return response


INFO_PATH = "/.emulator"  # not a Batch path: which process serves this emulator, and how tasks run
# on every answer: how this emulator isolates task processes, so a client sharing a state folder
# learns of a new owner's isolation with its next response
ISOLATION_HEADER = "x-batch-mcp-isolation"


async def emulator_info(request: Request) -> Response:
    """Who serves this emulator and with which task isolation (for processes sharing a state folder)."""
    emulator: Emulator = request.app.state.emulator
    try:
        gate.check_request(request, {k.lower(): v for k, v in request.headers.items()}, emulator.config)
        verify_request(emulator.config, request)
    except errors.BatchError as exc:
        return error_response(exc, new_request_id(), base_url(request))
    return JSONResponse({"pid": os.getpid(), "isolation": emulator.isolation})


def create_app(config: EmulatorConfig | None = None, *, runner: Runner | None = None) -> Starlette:
    """A Starlette app serving the Batch REST API; its lifespan runs the emulator."""
    config = config or EmulatorConfig()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        emulator = Emulator(config, runner)
        app.state.emulator = emulator
        try:
            await emulator.start()
        except Exception as exc:
            app.state.start_error = exc  # for whoever hosts the app to report the real reason
            await emulator.stop()
            raise
        try:
            yield
        finally:
            await emulator.stop()

    routes = [Route(INFO_PATH, emulator_info, methods=["GET"]), Route("/{path:path}", dispatch, methods=METHODS)]
    return Starlette(routes=routes, lifespan=lifespan)


__all__ = ["create_app", "entity_headers"]
