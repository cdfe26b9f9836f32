"""What a model reads of a Batch entity: the fields it decides on, without what it cannot use.

Batch bodies carry a lot a model has no use for: the entity's own URL and the URLs of related
entities (every id is already there), bookkeeping (`eTag`, `lastModified`), and fields at the
value Batch gives them when nobody set them (an unlimited wall-clock time, no retries, one slot).
`lean` drops those and says which it dropped; `project` keeps only a list's default fields (the
catalog's `projection` of a list tool). Whatever is left out is one `select` away: a call that
names its fields gets them exactly as Batch sent them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Links the service adds; every entity they point to is reachable by its ids.
SERVICE_LINKS = frozenset({"url", "nodeUrl", "taskUrl", "taskRootDirectoryUrl", "affinityId"})
# Times that tell nothing new while they equal the entity's creation time (it never changed state).
SAME_AS_CREATION = ("stateTransitionTime", "allocationStateTransitionTime")
# Top-level fields that repeat a sibling whenever they equal it (slot counts match task counts while
# every task takes one slot), so the same numbers are not sent twice.
SAME_AS_SIBLING = {"taskSlotCounts": "taskCounts"}
ITEM_LINK = "location"  # the URL of each entity a collection call created
# Top-level bookkeeping of an entity (used for conditional requests, which `select` can still get).
BOOKKEEPING = ("eTag", "lastModified")
SHOWN_FIELDS = 8  # left-out fields a note names before it just counts them
UNLIMITED = "P10675199DT2H48M5.4775807S"  # what Batch reports for "no limit"
# Values Batch fills in when a field is not set, by path from the entity's root ("/"-separated).
# Strings compare case-insensitively (the service's casing of enum values varies by version).
DEFAULTS: Mapping[str, Any] = {
    "constraints/maxWallClockTime": UNLIMITED,
    "constraints/retentionTime": "P7D",
    "constraints/maxTaskRetryCount": 0,
    "executionInfo/retryCount": 0,
    "executionInfo/requeueCount": 0,
    "requiredSlots": 1,
    "priority": 0,
    "allowTaskPreemption": False,
    "maxParallelTasks": -1,
    "usesTaskDependencies": False,
    "onAllTasksComplete": "noaction",
    "onTaskFailure": "noaction",
    "taskSlotsPerNode": 1,
    "maxTasksPerNode": 1,
    "taskSchedulingPolicy/nodeFillType": "spread",
    "enableInterNodeCommunication": False,
    "enableAutoScale": False,
    "resizeTimeout": "PT15M",
    "currentLowPriorityNodes": 0,
    "targetLowPriorityNodes": 0,
    "virtualMachineConfiguration/imageReference/version": "latest",
    "isDirectory": False,
    "properties/contentType": "application/octet-stream",
}


def _is_default(path: str, value: Any) -> bool:
    if path not in DEFAULTS:
        return False
    default = DEFAULTS[path]
    if isinstance(default, str) and isinstance(value, str):
        return value.lower() == default.lower()
    return type(value) is type(default) and value == default


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def lean(entity: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The entity without service links, bookkeeping, defaults and empty values; and the paths left
    out (service links and bookkeeping by name, defaults by path), in order of first appearance."""
    left_out: dict[str, None] = {}
    out = _lean(entity, "", left_out)
    created = out.get("creationTime")
    for key in SAME_AS_CREATION:
        if created is not None and out.get(key) == created:
            del out[key]
            left_out[key] = None
    for key, sibling in SAME_AS_SIBLING.items():
        if key in out and out[key] == out.get(sibling):
            del out[key]
            left_out[key] = None
    for key in BOOKKEEPING:
        if key in out:
            del out[key]
            left_out[key] = None
    results = out.get("value")
    if isinstance(results, list):  # per-item results of a collection call (task_add_collection)
        for item in results:
            for key in (*BOOKKEEPING, ITEM_LINK):
                if isinstance(item, dict) and key in item:
                    del item[key]
                    left_out[key] = None
    return out, list(left_out)


def _lean(value: Any, path: str, left_out: dict[str, None]) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, child in value.items():
            here = f"{path}/{key}" if path else key
            if key in SERVICE_LINKS or key.startswith("odata."):
                left_out[key] = None
                continue
            if _is_default(here, child):
                left_out[here] = None
                continue
            child = _lean(child, here, left_out)
            if not _empty(child):
                out[key] = child
        return out
    if isinstance(value, list):
        return [_lean(item, path, left_out) for item in value]
    return value


# -- projections of list items -------------------------------------------------------------------

Tree = dict[str, "Tree"]


def projection_tree(paths: Iterable[str]) -> Tree:
    """`a/b` paths as a nested dict of the keys to keep; an empty dict keeps the whole value."""
    tree: Tree = {}
    for path in paths:
        node = tree
        for segment in path.split("/"):
            node = node.setdefault(segment, {})
    return tree


def project(value: Any, tree: Tree) -> Any:
    """Only the fields `tree` names (through lists, element by element)."""
    if not tree:
        return value
    if isinstance(value, Mapping):
        return {key: project(value[key], sub) for key, sub in tree.items() if key in value}
    if isinstance(value, list):
        return [project(item, tree) for item in value]
    return value


def left_out_note(names: Iterable[str], *, selectable: bool = True) -> str:
    """One line saying what a reply left out and how to get it ("" when nothing was): the fields a
    projection dropped by name (a few), else links, bookkeeping and defaults by kind. `select` is
    offered only by a tool that takes it; such a tool's reply mentions only fields it dropped
    (links, bookkeeping and defaults no call of it gets back are not worth the tokens)."""
    fields: list[str] = []
    links = defaults = 0
    bookkeeping: list[str] = []
    for name in dict.fromkeys(names):
        if name in SERVICE_LINKS or name == ITEM_LINK or name.startswith("odata."):
            links += 1
        elif name in BOOKKEEPING:
            bookkeeping.append(name)
        elif name in DEFAULTS or name in SAME_AS_CREATION or name in SAME_AS_SIBLING:
            defaults += 1
        else:
            fields.append(name)
    if fields:
        parts = fields[:SHOWN_FIELDS]
        if len(fields) > SHOWN_FIELDS:
            parts.append(f"+{len(fields) - SHOWN_FIELDS} more")
    else:
        parts = (["links"] if links else []) + bookkeeping
        if defaults:
            parts.append(f"{defaults} default value{'s' if defaults > 1 else ''}")
    if not parts or not (selectable or fields):
        return ""
    if not selectable:
        return f"Left out: {', '.join(parts)}."
    return f"Left out: {', '.join(parts)}; select=a,b gets any field as Batch sends it."
