"""The Batch wire conventions, apart from any one operation: the request context, JSON and error
envelopes, common headers, conditional requests, paging with `odata.nextLink`, `$select`,
`$expand`, `$filter`, byte ranges and streamed file bodies.

Handlers build their answers from these helpers, so every operation follows the same rules.
"""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from batch_mcp.emulator import errors, nodefs
from batch_mcp.emulator.backend import Backend
from batch_mcp.emulator.backend.base import BASE
from batch_mcp.emulator.filterable import check_filter_properties
from batch_mcp.emulator.odata_filter import FilterError, compile_filter
from batch_mcp.emulator.routing import Route
from batch_mcp.emulator.store import Entity
from batch_mcp.emulator.timefmt import iso, parse_rfc1123, rfc1123, utcnow
from batch_mcp.emulator.versions import ApiVersion

JSON_TYPE = "application/json;odata=minimalmetadata"
MAX_PAGE = 1000
CHUNK = 64 * 1024
SKIP_TOKEN = "$skiptoken"


@dataclass
class Ctx:
    """One request, parsed: what every handler needs and nothing it does not."""

    request: Request
    backend: Backend
    route: Route
    version: ApiVersion
    catalog_version: str
    path: dict[str, str]
    query: dict[str, str]  # lower-cased names
    body: Any
    request_id: str
    base: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names

    @property
    def operation_id(self) -> str:
        return self.route.operation_id

    @property
    def api_version(self) -> str:
        return self.version.name

    @property
    def response_model(self) -> str | None:
        """The label of this operation's response model in the request's api-version."""
        http = self.route.tool.http
        return self.version.root(http.method, http.path)

    def shape(self, body: Any) -> Any:
        """A response body (or a list of items) as the request's api-version shows it."""
        return self.version.shape(self.response_model, body)

    def q(self, name: str) -> str | None:
        return self.query.get(name.lower())

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def flag(self, name: str) -> bool:
        value = self.q(name)
        if value is None:
            return False
        if value.lower() not in ("true", "false"):
            raise errors.invalid_query(name, value, "Use true or false.")
        return value.lower() == "true"


def new_request_id() -> str:
    return str(uuid.uuid4())


# -- rendering ----------------------------------------------------------------------------------


def render(obj: Any, base: str) -> bytes:
    """JSON with stored base-URL placeholders replaced by the account URL the client used."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).replace(BASE, base).encode("utf-8")


def metadata(ctx: Ctx, name: str, element: bool = False) -> str:
    return f"{ctx.base}/$metadata#{name}" + ("/@Element" if element else "")


def entity_headers(ctx: Ctx, entity: Entity | None, *, data_service_id: bool = True) -> dict[str, str]:
    if entity is None:
        return {}
    out = {"ETag": entity.internal.get("etag", ""), "Last-Modified": rfc1123(entity.internal.get("modified", 0.0))}
    url = entity.body.get("url")
    if data_service_id and isinstance(url, str):
        out["DataServiceId"] = url.replace(BASE, ctx.base)
    return out


def json_response(
    ctx: Ctx,
    body: Any,
    status: int = 200,
    *,
    entity: Entity | None = None,
    meta: str | None = None,
    shaped: bool = False,
) -> Response:
    """A JSON answer; the body is shaped for the request's api-version unless `shaped` says it is."""
    if not shaped:
        body = ctx.shape(body)
    if meta and isinstance(body, dict):
        body = {"odata.metadata": metadata(ctx, meta, element=True), **body}
    return Response(render(body, ctx.base), status, headers=entity_headers(ctx, entity), media_type=JSON_TYPE)


def empty_response(ctx: Ctx, status: int, entity: Entity | None = None, *, location: bool = False) -> Response:
    headers = entity_headers(ctx, entity)
    if location and "DataServiceId" in headers:
        headers["Location"] = headers["DataServiceId"]
    return Response(b"", status, headers=headers)


def error_response(error: errors.BatchError, request_id: str, base: str) -> Response:
    text = f"{error.message}\nRequestId:{request_id}\nTime:{iso(utcnow())}"
    body = {
        "odata.metadata": f"{base}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
        "code": error.code,
        "message": {"lang": "en-US", "value": text},
    }
    if error.values:
        body["values"] = [{"key": k, "value": v} for k, v in error.values.items()]
    return Response(render(body, base), error.status, headers={"request-id": request_id}, media_type=JSON_TYPE)


# -- conditional requests -----------------------------------------------------------------------


class NotModified(Exception):
    """A conditional read whose condition says the client's copy is current (304)."""


def _etag_matches(header: str, etag: str) -> bool:
    wanted = [t.strip().strip('"') for t in header.split(",")]
    return "*" in wanted or etag.strip('"') in wanted


def _date(ctx: Ctx, name: str) -> float | None:
    value = ctx.header(name)
    if value is None:
        return None
    try:
        return parse_rfc1123(value).timestamp()
    except (TypeError, ValueError):
        raise errors.invalid_header(name, value) from None


def check_conditions(ctx: Ctx, etag: str | None, modified: float, *, read: bool) -> None:
    """Apply If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since.

    Reads answer 304 when the client's copy is current; writes answer 412."""
    modified_s = math.floor(modified)
    if_match = ctx.header("if-match")
    if if_match is not None and not _etag_matches(if_match, etag or ""):
        raise errors.condition_not_met()
    unmodified_since = _date(ctx, "if-unmodified-since")
    if unmodified_since is not None and modified_s > unmodified_since:
        raise errors.condition_not_met()
    if_none_match = ctx.header("if-none-match")
    if if_none_match is not None and _etag_matches(if_none_match, etag or ""):
        if read:
            raise NotModified
        raise errors.condition_not_met()
    modified_since = _date(ctx, "if-modified-since")
    if modified_since is not None and modified_s <= modified_since:
        if read:
            raise NotModified
        raise errors.condition_not_met()


def check_entity(ctx: Ctx, entity: Entity, *, read: bool = False) -> None:
    check_conditions(ctx, entity.internal.get("etag"), entity.internal.get("modified", 0.0), read=read)


# -- $select / $expand / $filter ----------------------------------------------------------------


def selected(item: dict[str, Any], select: str | None) -> dict[str, Any]:
    if not select:
        return item
    names = [n.strip() for n in select.split(",") if n.strip()]
    return {k: item[k] for k in names if k in item}


def wants_stats(ctx: Ctx) -> bool:
    expand = ctx.q("$expand")
    if not expand:
        return False
    names = {n.strip().lower() for n in expand.split(",") if n.strip()}
    if names - {"stats"}:
        raise errors.invalid_query("$expand", expand, "Only stats can be expanded.")
    return "stats" in names


@lru_cache(maxsize=256)
def _compiled(text: str) -> Callable[[Any], bool]:
    return compile_filter(text)


def filter_of(ctx: Ctx) -> Callable[[Any], bool] | None:
    text = ctx.q("$filter")
    if not text:
        return None
    try:
        predicate = _compiled(text)
    except FilterError as exc:
        raise errors.invalid_query("$filter", text, str(exc)) from None
    check_filter_properties(ctx.route.tool.name, text)
    return predicate


# -- paging -------------------------------------------------------------------------------------


def page_size(ctx: Ctx) -> int:
    text = ctx.q("maxresults")
    if text is None:
        return MAX_PAGE
    try:
        value = int(text)
    except ValueError:
        raise errors.invalid_query("maxresults", text, "Use a whole number from 1 to 1000.") from None
    if not 1 <= value <= MAX_PAGE:
        raise errors.invalid_query("maxresults", text, "Use a whole number from 1 to 1000.")
    return value


def skip_token(ctx: Ctx) -> int:
    text = ctx.q(SKIP_TOKEN)
    if not text:
        return 0
    if not _ISSUED_TOKEN.fullmatch(text):  # int() would also take -3, 1_0, " 1" and non-ASCII digits
        raise errors.invalid_query(SKIP_TOKEN, text, "The continuation token is not one this service issued.")
    return int(text)


_ISSUED_TOKEN = re.compile(r"[0-9]{1,18}")


def list_response(
    ctx: Ctx,
    items: Iterable[tuple[int, dict[str, Any]]],
    meta: str,
    *,
    filterable: bool = True,
) -> Response:
    """A page of `(position, wire item)` pairs (positions increase), after the skip token, shaped
    for the api-version, filtered and selected, with an absolute `odata.nextLink` when more remain."""
    limit = page_size(ctx)
    after = skip_token(ctx)
    predicate = filter_of(ctx) if filterable else None
    select = ctx.q("$select")
    out: list[dict[str, Any]] = []
    last = after
    more = False
    label = ctx.response_model
    for position, item in items:
        if position <= after:
            continue
        item = ctx.version.shape(label, item)
        if predicate is not None and not predicate(item):
            continue
        if len(out) == limit:
            more = True
            break
        out.append(selected(item, select))
        last = position
    body: dict[str, Any] = {"odata.metadata": metadata(ctx, meta), "value": out}
    if more:
        params = [(k, v) for k, v in ctx.request.query_params.multi_items() if k.lower() != SKIP_TOKEN]
        params.append((SKIP_TOKEN, str(last)))
        body["odata.nextLink"] = f"{ctx.base}{ctx.request.url.path}?{urlencode(params)}"
    return Response(render(body, ctx.base), 200, media_type=JSON_TYPE)


def numbered(items: Iterable[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    yield from enumerate(items, start=1)


# -- files --------------------------------------------------------------------------------------


def parse_range(text: str, size: int) -> tuple[int, int]:
    """`bytes=a-b`, `bytes=a-` or `bytes=-n` → inclusive (start, end) within the file."""
    value = text.strip()
    if not value.lower().startswith("bytes="):
        raise errors.invalid_range(text)
    spec = value[6:].strip()
    if "," in spec or "-" not in spec:
        raise errors.invalid_range(text)
    first, _, last = spec.partition("-")
    try:
        if first == "":
            count = int(last)
            start, end = max(size - count, 0), size - 1
        else:
            start = int(first)
            end = int(last) if last else size - 1
    except ValueError:
        raise errors.invalid_range(text) from None
    end = min(end, size - 1)
    if start < 0 or start > end:
        raise errors.invalid_range(text)
    return start, end


def _header_safe(url: str) -> str:
    """A header holds Latin-1 only: characters outside printable ASCII (a file name in any script,
    a space) are percent-encoded as UTF-8; the rest stays as it is."""
    return "".join(c if " " < c < "\x7f" else quote(c, safe="") for c in url)


def file_headers(fi: nodefs.FileInfo, url: str) -> dict[str, str]:
    return {
        "ocp-creation-time": rfc1123(fi.created),
        "ocp-batch-file-isdirectory": "true" if fi.is_dir else "false",
        "ocp-batch-file-url": _header_safe(url),
        "ocp-batch-file-mode": fi.mode_text,
        "Last-Modified": rfc1123(fi.modified),
        "ETag": f"0x{int(fi.modified * 1e7):X}{fi.size:X}",
        "Content-Type": "application/octet-stream",
    }


def file_properties_response(ctx: Ctx, ref: nodefs.FileRef, url: str) -> Response:
    fi = ref.info()
    check_conditions(ctx, None, fi.modified, read=True)
    headers = file_headers(fi, url.replace(BASE, ctx.base))
    headers["Content-Length"] = str(fi.size)
    return Response(b"", 200, headers=headers)


def _chunks(handle: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    with handle:  # the handle nodefs opened: the file checked is the file sent
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def file_response(ctx: Ctx, ref: nodefs.FileRef, url: str) -> Response:
    """Stream a file (or the byte range asked with ocp-range) in chunks: memory stays flat."""
    fd, fi = ref.open()
    try:
        check_conditions(ctx, None, fi.modified, read=True)
        start, length = 0, fi.size
        wanted = ctx.header("ocp-range") or ctx.header("range")
        if wanted and fi.size > 0:
            start, end = parse_range(wanted, fi.size)
            length = end - start + 1
    except BaseException:
        os.close(fd)
        raise
    headers = file_headers(fi, url.replace(BASE, ctx.base))
    headers["Content-Length"] = str(length)
    handle = os.fdopen(fd, "rb")
    return StreamingResponse(
        _chunks(handle, start, length),
        200,
        headers=headers,
        media_type="application/octet-stream",
        background=BackgroundTask(handle.close),  # also when the client left before the first chunk
    )
