"""Completion of resource template arguments (pool, node, job and task ids, and file paths) and of
the prompts' job and pool ids.

Ids come from list calls that select only `id`; a prefix is sent to Batch as `startswith(id, ...)`
where Batch supports it (pools, jobs, tasks) and applied here for nodes. File paths list the
folder with `startswith(name, ...)`; directories end with `/` so the next completion goes inside.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Any

import mcp_types as types

from batch_mcp.batch.errors import BatchError, BatchServiceError
from batch_mcp.server.uris import TEMPLATE_BY_URI

MAX_VALUES = 100  # what the protocol allows in one completion
SCAN_LIMIT = 1000  # items read from Batch for one completion
PROMPT_ARGUMENTS = {"job_id": "jobId", "pool_id": "poolId"}  # a prompt argument -> the id it names


def _odata_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def complete(
    client: Any, params: types.CompleteRequestParams, enabled: AbstractSet[str] | None = None
) -> types.CompleteResult:
    """Values for a template variable; `enabled`: the operations this server may use (a listing
    that is excluded offers nothing, as its tool would not)."""
    ref = params.ref
    if isinstance(ref, types.PromptReference):  # the prompts take a job_id or a pool_id
        variable = PROMPT_ARGUMENTS.get(params.argument.name)
        if variable is None:
            return _result([])
        try:
            return _result(await _values(_Gated(client, enabled), "", variable, params.argument.value, {}))
        except BatchError:
            return _result([])
    if not isinstance(ref, types.ResourceTemplateReference) or ref.uri not in TEMPLATE_BY_URI:
        return _result([])
    template = TEMPLATE_BY_URI[ref.uri]
    name, prefix = params.argument.name, params.argument.value
    if name not in template.variables:
        return _result([])
    context = (params.context.arguments if params.context else None) or {}
    try:
        values = await _values(_Gated(client, enabled), template.kind, name, prefix, context)
    except BatchError:
        values = []  # completion is a convenience: an unreachable account just offers nothing
    return _result(values)


async def _values(client: Any, kind: str, name: str, prefix: str, context: dict[str, str]) -> list[str]:
    if name == "poolId":
        return await _ids(client, "pool_list", {}, prefix, server_filter=True)
    if name == "jobId":
        return await _ids(client, "job_list", {}, prefix, server_filter=True)
    if name == "nodeId" and context.get("poolId"):
        return await _ids(client, "node_list", {"pool_id": context["poolId"]}, prefix, server_filter=False)
    if name == "taskId" and context.get("jobId"):
        return await _ids(client, "task_list", {"job_id": context["jobId"]}, prefix, server_filter=True)
    if name == "path":
        if kind == "task_file" and context.get("jobId") and context.get("taskId"):
            return await _paths(
                client, "task_file_list", {"job_id": context["jobId"], "task_id": context["taskId"]}, prefix
            )
        if kind == "node_file" and context.get("poolId") and context.get("nodeId"):
            return await _paths(
                client, "node_file_list", {"pool_id": context["poolId"], "node_id": context["nodeId"]}, prefix
            )
    return []


async def _ids(client: Any, tool: str, args: dict[str, Any], prefix: str, *, server_filter: bool) -> list[str]:
    query = {**args, "select": "id"}
    if prefix and server_filter:
        query["filter"] = f"startswith(id,{_odata_text(prefix)})"
    try:
        page = await client.list(tool, query, max_items=SCAN_LIMIT)
    except BatchServiceError as exc:
        if exc.status != 400 or "filter" not in query:
            raise
        query.pop("filter")  # a service that does not take startswith here: filter on our side
        page = await client.list(tool, query, max_items=SCAN_LIMIT)
    wanted = prefix.lower()
    return sorted(str(item["id"]) for item in page.items if str(item.get("id", "")).lower().startswith(wanted))


async def _paths(client: Any, tool: str, args: dict[str, Any], prefix: str) -> list[str]:
    query: dict[str, Any] = {**args, "recursive": bool(prefix)}
    if prefix:
        query["filter"] = f"startswith(name,{_odata_text(prefix)})"
    page = await client.list(tool, query, max_items=SCAN_LIMIT)
    out = []
    for item in page.items:
        path = str(item.get("name", "")).replace("\\", "/")
        if not path.startswith(prefix):
            continue
        if (item.get("isDirectory") or (item.get("properties") or {}).get("isDirectory")) and not path.endswith("/"):
            path += "/"
        if "/" not in path.removeprefix(prefix).rstrip("/"):  # one level at a time
            out.append(path)
    return sorted(set(out))


class _Gated:
    """The client, for listings this server may use; an excluded one lists nothing."""

    def __init__(self, client: Any, enabled: AbstractSet[str] | None) -> None:
        self.client, self.enabled = client, enabled

    async def list(self, tool: str, query: dict[str, Any], *, max_items: int) -> Any:
        if self.enabled is not None and tool not in self.enabled:
            return _NOTHING
        return await self.client.list(tool, query, max_items=max_items)


class _Nothing:
    """An empty page."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []


_NOTHING = _Nothing()


def _result(values: list[str]) -> types.CompleteResult:
    return types.CompleteResult(
        completion=types.Completion(values=values[:MAX_VALUES], total=len(values), has_more=len(values) > MAX_VALUES)
    )
