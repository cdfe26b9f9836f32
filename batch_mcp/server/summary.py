"""Counts by state for list results, so "how many failed?" needs no reading of items.

When a list fits in one reply the counts come from its items for free. When there is more, one
extra scan pages through the rest with `$select` trimmed to the counted fields (up to
SCAN_LIMIT items) and says whether it saw everything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

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
SCAN_LIMIT = 10_000


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
        out: dict[str, Any] = {"counted": self.total, "complete": complete}
        for name, counter in self.counters.items():
            if counter:
                out[name] = dict(sorted(counter.items()))
        return out


async def summarize(
    client: BatchClient, tool: ToolDef, args: Mapping[str, Any], items: Sequence[Mapping[str, Any]], has_more: bool
) -> dict[str, Any] | None:
    fields = counted_fields(tool)
    if not fields:
        return None
    tally = Tally(fields)
    if not has_more:
        for item in items:
            tally.add(item)
        return tally.result(complete=True)
    scan_args = {
        k: v for k, v in args.items() if k in ("pool_id", "job_id", "job_schedule_id", "node_id", "task_id", "filter")
    }
    scan_args["select"] = ",".join(sorted({path[0] for _, path in fields} | {"id"}))
    async for item in client.iter_items(tool, scan_args):
        tally.add(item)
        if tally.total >= SCAN_LIMIT:
            return tally.result(complete=False)
    return tally.result(complete=True)
