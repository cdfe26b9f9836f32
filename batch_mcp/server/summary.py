"""Counts by state for list results, so "how many failed?" needs no reading of items.

A summary describes the whole query, not the page, and is computed once: on the first page of a
list (a continuation page carries none). Its cost does not grow with the account:

* a list that fits in one reply is counted from its items, for free;
* a job's tasks and a pool's nodes (unfiltered) are counted by the service's own counters, in one
  request (`job_get_task_counts`, `pool_list_node_counts`);
* anything else is counted by a scan with `$select` trimmed to the counted fields, at most
  SCAN_REQUESTS requests unless the caller asks for every match (`count_all`), and the summary
  says whether it saw everything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from batch_mcp.batch.errors import BatchError
from batch_mcp.catalog import ToolDef

if TYPE_CHECKING:
    from batch_mcp.batch import BatchClient

# (output field, path in the item); the path's first segment must be a field of the item schema.
COUNTED = (
    ("state", ("state",)),
    ("allocationState", ("allocationState",)),
    ("schedulingState", ("schedulingState",)),
    ("result", ("executionInfo", "result")),
)
SCAN_PAGE = 1000  # items per scan request (the service's maximum page)
SCAN_REQUESTS = 2  # scan requests a list call makes unless asked to count everything
COUNT_ALL_LIMIT = 1_000_000  # items `count_all` counts at most
SCANNED_ARGS = ("pool_id", "job_id", "job_schedule_id", "node_id", "task_id", "filter")
COUNT_ALL = "count_all"


def counted_fields(tool: ToolDef) -> list[tuple[str, tuple[str, ...]]]:
    try:
        item_props = tool.output_schema["properties"]["items"]["items"]["properties"]  # type: ignore[index]
    except (KeyError, TypeError):
        return []
    return [(name, path) for name, path in COUNTED if path[0] in item_props]


def _value(item: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = item
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


class Tally:
    """Running counts by the counted fields; items are not kept."""

    def __init__(self, fields: list[tuple[str, tuple[str, ...]]]) -> None:
        self.fields = fields
        self.counters: dict[str, Counter[str]] = {name: Counter() for name, _ in fields}
        self.total = 0

    def add(self, item: Mapping[str, Any]) -> None:
        self.total += 1
        for name, path in self.fields:
            value = _value(item, path)
            if value is not None:
                self.counters[name][str(value)] += 1

    def result(self, complete: bool) -> dict[str, Any]:
        return summary(self.total, complete, self.counters)


def summary(total: int, complete: bool, counts: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """The one shape of a summary: how many matched, whether that is all of them, counts by field."""
    out: dict[str, Any] = {"counted": total, "complete": complete}
    for name, counter in counts.items():
        nonzero = {k: v for k, v in sorted(counter.items()) if v}
        if nonzero:
            out[name] = nonzero
    return out


async def summarize(
    client: BatchClient, tool: ToolDef, args: Mapping[str, Any], items: Sequence[Mapping[str, Any]], has_more: bool
) -> dict[str, Any] | None:
    """The query's summary, or None (a list without counted fields, or a continuation page)."""
    fields = counted_fields(tool)
    if not fields or args.get("continuation"):
        return None
    tally = Tally(fields)
    if not has_more:
        for item in items:
            tally.add(item)
        return tally.result(complete=True)
    if not args.get("filter"):
        counted = await from_counters(client, tool.name, args)
        if counted is not None:
            return counted
    scan_args = {k: v for k, v in args.items() if k in SCANNED_ARGS}
    scan_args["select"] = ",".join(sorted({path[0] for _, path in fields} | {"id"}))
    limit = COUNT_ALL_LIMIT if args.get(COUNT_ALL) else SCAN_PAGE * SCAN_REQUESTS
    async for item in client.iter_items(tool, scan_args, page_size=SCAN_PAGE):
        tally.add(item)
        if tally.total >= limit:
            return tally.result(complete=False)
    return tally.result(complete=True)


async def from_counters(client: BatchClient, tool: str, args: Mapping[str, Any]) -> dict[str, Any] | None:
    """Counts of all of a job's tasks or a pool's nodes from the service's counters (one request), or
    None when the tool has no counters or they cannot be read (the caller scans instead)."""
    try:
        if tool == "task_list" and "job_get_task_counts" in client.catalog:
            return await _task_counts(client, str(args["job_id"]))
        if tool == "node_list" and "pool_list_node_counts" in client.catalog:
            return await _node_counts(client, str(args["pool_id"]))
    except BatchError:
        return None
    return None


async def _task_counts(client: BatchClient, job_id: str) -> dict[str, Any]:
    data = (await client.call("job_get_task_counts", {"job_id": job_id})).data or {}
    counts = data.get("taskCounts", data)  # 2018 returns the counts at the top level
    state = {name: int(counts.get(name) or 0) for name in ("active", "running", "completed")}
    result = {"success": int(counts.get("succeeded") or 0), "failure": int(counts.get("failed") or 0)}
    return summary(sum(state.values()), True, {"state": state, "result": result})


async def _node_counts(client: BatchClient, pool_id: str) -> dict[str, Any] | None:
    quoted = pool_id.replace("'", "''")
    page = await client.list("pool_list_node_counts", {"filter": f"poolId eq '{quoted}'"}, max_items=10)
    for row in page.items:
        if str(row.get("poolId", "")).lower() != pool_id.lower():
            continue
        state: Counter[str] = Counter()
        total = 0
        for kind in ("dedicated", "lowPriority"):
            for name, count in (row.get(kind) or {}).items():
                if not isinstance(count, int):
                    continue
                if name == "total":
                    total += count
                else:
                    state[name.lower()] += count  # node lists spell states in lower case
        return summary(total, True, {"state": state})
    return None
