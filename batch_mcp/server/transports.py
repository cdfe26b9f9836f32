"""Serving the MCP server over stdio or Streamable HTTP.

HTTP always requires a bearer token and always checks Host and Origin (DNS-rebinding
protection), whatever the bind address. The token is either one shared static token (generated
for loopback binds when none is given; a non-loopback bind without an explicit token is refused)
or, with `--http-auth entra`, each user's own Microsoft Entra ID access token (`server.entra`).
A wildcard bind needs an explicit list of allowed host names (or the public URL's).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp.server import Server
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
from pydantic import AnyHttpUrl
from starlette.routing import Route

if TYPE_CHECKING:
    import uvicorn

    from batch_mcp.server.entra import EntraAuthorization
    from batch_mcp.slow_clients import RequestTimeouts

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
MCP_PATH = "/mcp"
DEFAULT_MAX_SESSIONS = 1000  # the `http_max_sessions` setting's default; each open session costs about 40 KB


class TransportConfigError(ValueError):
    """An HTTP setup that would expose the server unsafely."""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::", "")


class StaticTokenVerifier:
    """Accepts exactly one bearer token, compared in constant time. The principal it reports is a
    fingerprint of the token, never the token."""

    def __init__(self, token: str) -> None:
        self._digest = hashlib.sha256(token.encode()).digest()
        self.fingerprint = hashlib.sha256(token.encode()).hexdigest()[:12]

    async def verify_token(self, token: str) -> AccessToken | None:
        if not hmac.compare_digest(hashlib.sha256(token.encode()).digest(), self._digest):
            return None
        return AccessToken(token=f"sha256:{self.fingerprint}", client_id="bearer", scopes=[], subject=self.fingerprint)


@dataclass
class HttpPlan:
    token: str | None  # None with Entra ID sign-in (--http-auth entra): each user brings their own
    generated: bool
    security: TransportSecuritySettings


def plan_http(
    host: str,
    port: int,
    token: str | None,
    allowed_hosts: list[str],
    *,
    static_token: bool = True,
    public_host: str | None = None,
) -> HttpPlan:
    """`static_token=False` for Entra ID sign-in: no shared token; `public_host` (from --public-url)
    is then also a Host clients may use."""
    loopback = is_loopback(host)
    if static_token and not loopback and not token:
        raise TransportConfigError(
            f"refusing to listen on {host} without a token: pass --token or set BATCH_MCP_TOKEN "
            "(a generated token is only offered on loopback addresses)"
        )
    if not static_token and not loopback and not public_host:
        raise TransportConfigError(
            f"listening on {host} with Entra ID sign-in needs --public-url, the https URL clients use "
            "(it is the resource their tokens are issued for)"
        )
    if is_wildcard(host) and not allowed_hosts and not public_host:
        raise TransportConfigError(
            f"listening on {host!r} needs --allowed-hosts naming the host names clients use (DNS-rebinding "
            "protection checks the Host header against them)"
        )
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"] if loopback else [f"{host}:{port}", host]
    for name in [*allowed_hosts, *([public_host] if public_host else [])]:
        hosts += [name] if ":" in name else [name, f"{name}:*"]
    origins = [f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )
    if not static_token:
        return HttpPlan(token=None, generated=False, security=security)
    generated = not token
    return HttpPlan(token=token or secrets.token_urlsafe(32), generated=generated, security=security)


def http_app(
    server: Server,
    host: str,
    port: int,
    plan: HttpPlan,
    extra_routes: list[Route] | None = None,
    entra: EntraAuthorization | None = None,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
) -> Any:
    """The Streamable HTTP app: behind the plan's static token, or Entra ID sign-in when `entra` is given.
    At `max_sessions` open sessions a new one is refused (503) until one ends or idles out."""
    if entra is None:
        assert plan.token is not None
        verifier: Any = StaticTokenVerifier(plan.token)
        auth = AuthSettings(
            issuer_url=AnyHttpUrl(f"http://{'127.0.0.1' if is_wildcard(host) else host}:{port}"),
            resource_server_url=None,
            required_scopes=[],
        )
    else:
        verifier, auth = entra.verifier, entra.auth_settings()
        extra_routes = [*entra.routes(), *(extra_routes or [])]
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        host=host,
        transport_security=plan.security,
        auth=auth,
        token_verifier=verifier,
        custom_starlette_routes=extra_routes,
        max_sessions=max_sessions,
    )
    return entra.wrap(app) if entra is not None else app


async def serve_stdio(server: Server) -> None:
    """Serve on stdin/stdout. A line that is not a valid JSON-RPC message is answered here (the SDK
    only logs it): a caller waiting on that request's id gets an error instead of waiting forever."""
    import anyio
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage

    async with stdio_server() as (read_stream, write_stream):
        relay_in, server_in = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def relay() -> None:
            async with relay_in:
                async for item in read_stream:
                    if isinstance(item, Exception):
                        reply = invalid_message_reply(item)
                        if reply is not None:
                            await write_stream.send(SessionMessage(reply))
                    await relay_in.send(item)

        async with anyio.create_task_group() as group:
            group.start_soon(relay)
            await server.run(server_in, write_stream, server.create_initialization_options())
            group.cancel_scope.cancel()


def invalid_message_reply(error: Exception) -> JSONRPCError | None:
    """The JSON-RPC error for a line the SDK could not read: a parse error (no id) for text that is not
    JSON; "invalid request" naming the id for a request (it has a method) that is malformed. Nothing for
    a malformed message without a method: it may be a reply, and its id is not ours to answer."""
    from pydantic import ValidationError

    if not isinstance(error, ValidationError):
        return None
    problems = error.errors(include_url=False)
    if any(problem["type"] == "json_invalid" for problem in problems):
        return JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=PARSE_ERROR, message="Parse error: not JSON"))
    message = next((p["input"] for p in problems if isinstance(p.get("input"), dict)), None)
    if message is None or not {"method", "result", "error"} & message.keys():  # [], {}, 5: no id to name
        return JSONRPCError(
            jsonrpc="2.0",
            id=None,
            error=ErrorData(code=INVALID_REQUEST, message="Invalid request: not a JSON-RPC message"),
        )
    if "method" not in message:
        return None
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, (int, str)):
        return None
    where = sorted(
        {".".join(str(part) for part in p["loc"][1:]) for p in problems if p["loc"][:1] == ("JSONRPCRequest",)}
    )
    detail = f": check {', '.join(w for w in where if w)}" if any(where) else ""
    return JSONRPCError(
        jsonrpc="2.0", id=request_id, error=ErrorData(code=INVALID_REQUEST, message=f"Invalid request{detail}")
    )


def http_server(app: Any, host: str, port: int, timeouts: RequestTimeouts | None = None) -> uvicorn.Server:
    """uvicorn with the slow-client guard: requests whose headers or body trickle in are dropped."""
    import uvicorn

    from batch_mcp.slow_clients import RequestTimeouts, uvicorn_options

    options = uvicorn_options(timeouts or RequestTimeouts())
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", **options)
    return uvicorn.Server(config)


async def serve_http(app: Any, host: str, port: int) -> None:
    await http_server(app, host, port).serve()
