"""MCP resources for Batch entities and files, with subscriptions and completion of their ids.

Entities (`batch://pools/{poolId}`, `.../nodes/{nodeId}`, `batch://jobs/{jobId}`,
`.../tasks/{taskId}`) read as JSON in the get tools' lean shape (`lean`), their eTag and the fields
left out in `_meta`. Files (`.../files/{+path}`) read one window at a time (see
`file_windows`): the content item's `_meta["batch-mcp/file"]` gives the file's size, the byte range
served and, when there is more, the URI of the next window. `?tail=N` and `?range=...` select
what to read (see `uris`). Text comes as text, anything else as a base64 blob.

Subscriptions (both eras) and their watchers live in `events.Events`; the HTTP streaming endpoint
for whole files lives in `http_files`.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from batch_mcp.batch.errors import BatchError, BatchServiceError
from batch_mcp.server import completion, lean
from batch_mcp.server.errors import batch_error_text
from batch_mcp.server.events import ENTITY_TOOLS
from batch_mcp.server.file_windows import Window, WindowError, mime_type, read_window
from batch_mcp.server.http_files import file_routes
from batch_mcp.server.runtime import BackendUnavailable
from batch_mcp.server.task_changes import DEFAULT_STATE, recent_task_changes
from batch_mcp.server.uris import TEMPLATES, BatchUri, UriError, format_uri, not_served, parse_uri

if TYPE_CHECKING:
    from batch_mcp.server.backend import Live

__all__ = ["ENTITY_META_KEY", "FILE_META_KEY", "file_routes", "resource_handlers"]

FILE_META_KEY = "batch-mcp/file"
ENTITY_META_KEY = "batch-mcp/entity"  # {"leftOut": [...]}: what an entity read left out (pool_get select=... gets it)
TEMPLATE_TTL_MS = 3_600_000  # the templates never change while the server runs
_TEMPLATES = types.ListResourceTemplatesResult(
    resource_templates=[
        types.ResourceTemplate(
            uri_template=t.uri_template, name=t.name, title=t.title, description=t.description, mime_type=t.mime_type
        )
        for t in TEMPLATES
    ],
    ttl_ms=TEMPLATE_TTL_MS,
)


async def _live(ctx: ServerRequestContext[Any, Any]) -> Live:
    """The connected backend (waiting while it starts); a protocol error if it could not open."""
    try:
        return await ctx.lifespan_context.ready()
    except BackendUnavailable as exc:
        raise MCPError(code=types.INTERNAL_ERROR, message=str(exc)) from None


async def list_resource_templates(
    ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
) -> types.ListResourceTemplatesResult:
    return _TEMPLATES


async def list_resources(
    ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
) -> types.ListResourcesResult:
    """A bounded sample for resource pickers: pools, then active jobs (each capped)."""
    live = await _live(ctx)
    client, limit = live.engine.client, live.events.config.list_limit
    resources: list[types.Resource] = []
    try:
        pools = await client.list("pool_list", {"select": "id,displayName,state,allocationState"}, max_items=limit)
        jobs = await client.list(
            "job_list", {"select": "id,displayName,state,poolInfo", "filter": "state eq 'active'"}, max_items=limit
        )
    except BatchError as exc:
        raise _mcp_error("resources/list", exc) from None
    for pool in pools.items:
        state = "/".join(str(pool[k]) for k in ("state", "allocationState") if pool.get(k))
        resources.append(
            types.Resource(
                uri=format_uri("pool", (pool["id"],)),
                name=pool["id"],
                title=pool.get("displayName"),
                description=f"Pool ({state})",
                mime_type="application/json",
            )
        )
    for job in jobs.items:
        pool_id = (job.get("poolInfo") or {}).get("poolId")
        where = f" on pool {pool_id}" if pool_id else ""
        resources.append(
            types.Resource(
                uri=format_uri("job", (job["id"],)),
                name=job["id"],
                title=job.get("displayName"),
                description=f"Active job{where}",
                mime_type="application/json",
            )
        )
    return types.ListResourcesResult(resources=resources)


async def read_resource(
    ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
) -> types.ReadResourceResult:
    try:
        target = parse_uri(params.uri)
    except UriError as exc:
        raise MCPError(code=types.INVALID_PARAMS, message=str(exc), data={"uri": params.uri}) from None
    live = await _live(ctx)
    if target.reader not in live.engine.selection.enabled:
        raise MCPError(code=types.INVALID_PARAMS, message=not_served(target), data={"uri": params.uri})
    client = live.engine.client
    try:
        if target.is_file:
            window = await read_window(client, target, live.events.config.window)
            return types.ReadResourceResult(contents=[file_contents(params.uri, target, window)])
        if target.kind == "job_tasks":
            data = await recent_task_changes(client, target.ids[0], target.state or DEFAULT_STATE)
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            return types.ReadResourceResult(
                contents=[types.TextResourceContents(uri=params.uri, text=text, mime_type="application/json")]
            )
        result = await client.call(ENTITY_TOOLS[target.kind], target.args)
    except WindowError as exc:
        raise MCPError(code=types.INVALID_PARAMS, message=str(exc), data={"uri": params.uri}) from None
    except BatchError as exc:
        raise _mcp_error(params.uri, exc, uri=params.uri) from None
    return types.ReadResourceResult(contents=[entity_contents(params.uri, result.data, result.headers.get("etag"))])


def entity_contents(uri: str, entity: Any, etag: str | None) -> types.TextResourceContents:
    """An entity as the get tools show it (lean: no links, bookkeeping or defaults; agents read
    resources too), its eTag in `_meta` for conditional updates and what was left out named there."""
    slim, left_out = lean.lean(entity) if isinstance(entity, dict) else (entity, [])
    meta: dict[str, Any] = {}
    if etag or (isinstance(entity, dict) and entity.get("eTag")):
        meta["eTag"] = etag or entity["eTag"]
    if left_out:
        meta[ENTITY_META_KEY] = {"leftOut": left_out}
    text = json.dumps(slim, ensure_ascii=False, separators=(",", ":"))
    return types.TextResourceContents(uri=uri, text=text, mime_type="application/json", _meta=meta or None)


def file_contents(
    uri: str, target: BatchUri, window: Window
) -> types.TextResourceContents | types.BlobResourceContents:
    """One window of a file as resource contents, its place in the file in `_meta`."""
    info: dict[str, Any] = {
        "size": window.size,
        "start": window.start,
        "end": window.end,
        "complete": window.complete,
        "binary": not window.is_text,
    }
    if window.lines is not None:
        info["lines"] = window.lines
    if window.end + 1 < window.size:
        info["next"] = target.with_query(start=window.end + 1)
    if window.start > 0:
        info["previous"] = target.with_query(
            start=max(0, window.start - (window.end - window.start + 1)), end=window.start - 1
        )
    meta = {FILE_META_KEY: info}
    path = target.path or ""
    if window.text is not None:
        return types.TextResourceContents(uri=uri, text=window.text, mime_type=mime_type(path, True), _meta=meta)
    return types.BlobResourceContents(
        uri=uri, blob=base64.b64encode(window.data).decode("ascii"), mime_type=mime_type(path, False), _meta=meta
    )


def _mcp_error(what: str, exc: BatchError, *, uri: str | None = None) -> MCPError:
    """Batch's answer as a protocol error the client can show: not found and bad requests are the
    caller's (invalid params, with the URI as `data.uri`), the rest is ours (internal error), both with
    Batch's message."""
    text = batch_error_text(what, exc)
    caller = isinstance(exc, BatchServiceError) and exc.status is not None and 400 <= exc.status < 500
    data = {"uri": uri} if uri is not None else None
    return MCPError(code=types.INVALID_PARAMS if caller else types.INTERNAL_ERROR, message=text, data=data)


async def subscribe_resource(
    ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
) -> types.EmptyResult:
    live = await _live(ctx)
    target = _served(params.uri)
    if target is not None and target.reader not in live.engine.selection.enabled:
        raise MCPError(code=types.INVALID_PARAMS, message=not_served(target), data={"uri": params.uri})
    await live.events.subscribe(ctx, params.uri)
    return types.EmptyResult()


def _served(uri: str) -> BatchUri | None:
    try:
        return parse_uri(uri)
    except UriError:
        return None  # the watcher answers a URI it does not serve itself


async def unsubscribe_resource(
    ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
) -> types.EmptyResult:
    await (await _live(ctx)).events.unsubscribe(ctx, params.uri)
    return types.EmptyResult()


async def subscriptions_listen(
    ctx: ServerRequestContext[Any, Any], params: types.SubscriptionsListenRequestParams
) -> types.SubscriptionsListenResult:
    live = await _live(ctx)
    wanted = params.notifications.resource_subscriptions
    if wanted:  # a resource whose reading operation is not enabled is left out of the acknowledgment
        enabled = live.engine.selection.enabled
        kept = [uri for uri in wanted if (target := _served(uri)) is None or target.reader in enabled]
        if len(kept) != len(wanted):
            notifications = params.notifications.model_copy(update={"resource_subscriptions": kept or None})
            params = params.model_copy(update={"notifications": notifications})
    return await live.events.listen(ctx, params)


async def complete(ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams) -> types.CompleteResult:
    live = await _live(ctx)
    return await completion.complete(live.engine.client, params, live.engine.selection.enabled)


def resource_handlers() -> dict[str, Any]:
    """The `on_*` keyword arguments for `mcp.server.Server` that serve resources."""
    return {
        "on_list_resources": list_resources,
        "on_list_resource_templates": list_resource_templates,
        "on_read_resource": read_resource,
        "on_subscribe_resource": subscribe_resource,
        "on_unsubscribe_resource": unsubscribe_resource,
        "on_subscriptions_listen": subscriptions_listen,
        "on_completion": complete,
    }
