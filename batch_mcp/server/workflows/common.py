"""Small pieces the workflow tools share: bounded concurrent reads, short texts, monotonic progress."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from batch_mcp.batch.errors import BatchError
from batch_mcp.server.impact import Lookups, Missing

if TYPE_CHECKING:
    from batch_mcp.server.server_tools import CallContext

T = TypeVar("T")
READ_CONCURRENCY = 8  # concurrent reads one workflow call may have in flight
NODE_SCAN_LIMIT = 1000
NODE_COUNT_KINDS = ("dedicated", "lowPriority")


async def gather(calls: Iterable[Callable[[], Awaitable[T]]], limit: int = READ_CONCURRENCY) -> list[T]:
    """Run the calls concurrently, at most `limit` at a time; results in the calls' order."""
    calls = list(calls)
    results: list[Any] = [None] * len(calls)
    limiter = anyio.CapacityLimiter(limit)

    async def run(index: int, call: Callable[[], Awaitable[T]]) -> None:
        async with limiter:
            results[index] = await call()

    async with anyio.create_task_group() as group:
        for index, call in enumerate(calls):
            group.start_soon(run, index, call)
    return results


async def nodes_by_state(look: Lookups, pool_id: str) -> dict[str, int]:
    """How many of the pool's nodes are in each state, dedicated and spot together (zero states left
    out; empty when nothing can be read). One small node-counts read whatever the pool's size;
    listing the nodes is the fallback."""
    try:
        rows = await look.items("pool_list_node_counts", {"filter": f"poolId eq '{_quoted(pool_id)}'"}, limit=10)
    except (BatchError, Missing):
        rows = []
    for row in rows:
        if str(row.get("poolId", "")).lower() == pool_id.lower():
            return merged_node_counts(row)
    return await listed_node_states(look, pool_id)


def merged_node_counts(row: Mapping[str, Any]) -> dict[str, int]:
    """A PoolNodeCounts row as {state: count}, dedicated and spot added up, zeros and totals left out."""
    merged: dict[str, int] = {}
    for kind in NODE_COUNT_KINDS:
        for state, count in (row.get(kind) or {}).items():
            if state != "total" and isinstance(count, int) and count:
                merged[state] = merged.get(state, 0) + count
    return merged


async def listed_node_states(look: Lookups, pool_id: str, limit: int = NODE_SCAN_LIMIT) -> dict[str, int]:
    try:
        nodes = await look.items("node_list", {"pool_id": pool_id, "select": "id,state"}, limit=limit)
    except (BatchError, Missing):
        return {}
    states: dict[str, int] = {}
    for node in nodes:
        state = str(node.get("state", "unknown"))
        states[state] = states.get(state, 0) + 1
    return states


def _quoted(text: str) -> str:
    return text.replace("'", "''")


def short(text: Any, limit: int = 160) -> str:
    """One line of at most `limit` characters."""
    line = " ".join(str(text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


# For a read-only tool MCP gives the other hints no meaning (and openWorldHint defaults to true),
# so the listing carries only this one: every byte of tools/list rides along in every turn.
READ_ONLY_HINTS = {"readOnlyHint": True}
ID = {"type": "string"}  # emptiness is checked by the handlers: minLength on every id costs 14 bytes each


class Progress:
    """Progress notifications whose value only ever increases, as MCP requires; a value that did not
    grow is not sent (its message would be lost anyway by clients that drop stale values)."""

    def __init__(self, ctx: CallContext) -> None:
        self._ctx = ctx
        self._last: float | None = None

    async def __call__(self, value: float, total: float | None, message: str) -> None:
        if self._last is not None and value <= self._last:
            return
        self._last = value
        await self._ctx.progress(value, total, message)
