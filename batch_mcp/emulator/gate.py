"""What every request must pass before authentication and routing, whoever serves the emulator.

A listening emulator runs command lines as its user, so it is a target for web pages (a
cross-origin "simple" POST needs no preflight; DNS rebinding turns a foreign site into a
same-origin one) and for hostile bodies. Each rule closes one route:

- **Host** must name this machine (`localhost`, `*.localhost`, a loopback address) or a host the
  operator allowed: a DNS-rebinding page sends its own name and gets 421.
- **Origin**: browsers send it on cross-origin requests (and on any same-origin POST); no Batch
  client does. A request carrying one is refused with 403 unless the origin was allowed, and no
  answer ever carries `Access-Control-Allow-Origin: *`.
- **Preflights** (OPTIONS) get 403 without CORS headers, unless the origin was allowed.
- **Bodies are JSON**: a declared Content-Type other than JSON is refused (the "simple" request
  types: `text/plain`, forms), as is a non-empty body without one.
- **Paths and queries** with NUL or other control characters are refused with 400.
- **JSON nesting** is bounded (the service's bodies are shallow), so a 50,000-deep body is a 400,
  never a recursion error.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from batch_mcp.emulator import errors
from batch_mcp.emulator.config import EmulatorConfig

MAX_JSON_DEPTH = 64  # Batch's deepest request bodies nest about a dozen levels
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
LOCAL_NAMES = ("localhost",)
EXPOSED_HEADERS = "request-id, client-request-id, ETag, Last-Modified, DataServiceId, Location, Content-Range"


class Refused(errors.BatchError):
    """A request turned away before it reached authentication or a handler."""


def host_name(host_header: str) -> str:
    """`Example.com:8089` → `example.com`; `[::1]:8089` → `::1`."""
    text = host_header.strip().lower()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    if text.count(":") == 1:
        return text.split(":", 1)[0]
    return text


def is_local_host(name: str) -> bool:
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_host(headers: dict[str, str], allowed: Iterable[str] | None) -> None:
    if allowed is None:
        return
    name = host_name(headers.get("host", ""))
    if not name:
        raise Refused(400, "MissingRequiredHeader", "The request carries no Host header.", {"HeaderName": "Host"})
    if is_local_host(name) or name in {h.lower() for h in allowed}:
        return
    raise Refused(
        421,
        "MisdirectedRequest",
        "The Host header names a host this emulator does not serve; allow it with --allowed-hosts.",
        {"HeaderName": "Host", "HeaderValue": headers.get("host", "")[:200]},
    )


def check_origin(headers: dict[str, str], allowed: Iterable[str]) -> None:
    origin = headers.get("origin")
    if origin is None or origin in set(allowed):
        return
    raise Refused(
        403,
        "OriginNotAllowed",
        "Requests from web pages are refused; Batch clients send no Origin header (allow one with --allowed-origins).",
        {"HeaderName": "Origin", "HeaderValue": origin[:200]},
    )


def is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def check_content_type(method: str, headers: dict[str, str]) -> None:
    if method not in BODY_METHODS:
        return
    declared = headers.get("content-type")
    if declared is not None and not is_json_type(declared):
        raise errors.invalid_header("Content-Type", declared[:200])
    length = headers.get("content-length", "")
    if declared is None and (headers.get("transfer-encoding") or (length.isdigit() and int(length) > 0)):
        raise errors.invalid_header("Content-Type", "")


def check_target(raw_path: bytes, query: bytes) -> None:
    """No NUL or control characters in the path or query, raw or percent-encoded."""
    for part, name in ((raw_path, "path"), (query, "query")):
        text = unquote(part.decode("latin-1"), errors="replace")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            raise errors.bad_request(
                "InvalidUri",
                f"The request {name} holds a control character.",
                {"UriPath": part.decode("latin-1")[:200]},
            )


def check_request(request: Request, headers: dict[str, str], config: EmulatorConfig) -> None:
    """Every rule that needs only the request line and headers, in the order an attacker meets them."""
    check_host(headers, config.allowed_hosts)
    check_origin(headers, config.allowed_origins)
    check_target(request.scope.get("raw_path") or request.url.path.encode(), request.scope.get("query_string", b""))
    check_content_type(request.method, headers)


def preflight(headers: dict[str, str]) -> Response:
    """The answer to a CORS preflight from an allowed origin (others were refused by check_origin)."""
    return Response(
        b"",
        204,
        headers={
            "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
            "Access-Control-Allow-Headers": headers.get("access-control-request-headers", "")[:1000],
            "Access-Control-Max-Age": "600",
        },
    )


def allow_origin(response: Response, headers: dict[str, str], config: EmulatorConfig) -> None:
    """Name an allowed origin on its responses (never `*`: every other origin was refused)."""
    origin = headers.get("origin")
    if origin is not None and origin in config.allowed_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        response.headers["Vary"] = "Origin"


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests deeper than `limit` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def parse_json(raw: bytes) -> Any:
    """A request body as JSON: 400 for anything that is not UTF-8 JSON of reasonable depth."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_constant=_not_json)
    except UnicodeDecodeError:
        raise errors.invalid_body("The body is not UTF-8 text.") from None
    except RecursionError:
        raise errors.invalid_body(f"The body nests deeper than {MAX_JSON_DEPTH} levels.") from None
    except ValueError as exc:
        raise errors.invalid_body(f"The body is not valid JSON: {exc}.") from None
    if depth_exceeds(value, MAX_JSON_DEPTH):
        raise errors.invalid_body(f"The body nests deeper than {MAX_JSON_DEPTH} levels.")
    if b"\\" in raw and _has_lone_surrogate(value):
        # `"\ud800"` parses, but is no character: stored, it could never be written out again
        raise errors.invalid_body("The body holds a \\u escape of half a UTF-16 surrogate pair, which is no character.")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
