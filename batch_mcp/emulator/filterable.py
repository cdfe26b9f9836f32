"""Which properties each list operation lets a `$filter` name, as the service documents them.

The service answers a filter on any other property with 400 InvalidQueryParameterValue; without
this check a filter on a property the resource does not have (`exitCode eq 3` on tasks instead of
`executionInfo/exitCode`) would silently match nothing. Operators are not restricted here: the
service's own lists of allowed operators have grown over versions. Keys are catalog tool names,
the same in every API version.
"""

from __future__ import annotations

import difflib

from batch_mcp.emulator import errors
from batch_mcp.emulator.odata_filter import field_paths

_TIMES = ("stateTransitionTime", "creationTime", "lastModified")
_NODE_START = tuple(f"startTaskInfo/{p}" for p in ("state", "result", "exitCode", "startTime", "endTime"))
_PREP = tuple(
    f"{task}TaskExecutionInfo/{p}"
    for task in ("jobPreparation", "jobRelease")
    for p in ("state", "startTime", "endTime", "exitCode", "result")
)
_JOB = ("state", *_TIMES, "executionInfo/startTime", "executionInfo/endTime", "executionInfo/poolId")

FILTERABLE: dict[str, frozenset[str]] = {
    "account_list_supported_images": frozenset({"osType", "verificationType", "nodeAgentSKUId"}),
    "account_list_node_agent_skus": frozenset({"osType"}),
    "certificate_list": frozenset({"state", "stateTransitionTime"}),
    "node_list": frozenset({"state", "stateTransitionTime", "lastBootTime", "allocationTime", *_NODE_START}),
    "pool_list_node_counts": frozenset({"poolId"}),
    "task_file_list": frozenset({"name"}),
    "node_file_list": frozenset({"name"}),
    "job_list_from_schedule": frozenset(_JOB),
    "job_list": frozenset({"id", *_JOB}),
    "job_schedule_list": frozenset(
        {"id", "state", *_TIMES, "executionInfo/endTime", "schedule/doNotRunUntil", "schedule/doNotRunAfter"}
    ),
    "pool_list": frozenset(
        {
            "id",
            "state",
            *_TIMES,
            "allocationState",
            "allocationStateTransitionTime",
            "enableAutoScale",
            "vmSize",
            "enableInterNodeCommunication",
        }
    ),
    "job_list_preparation_and_release_task_status": frozenset({"poolId", "nodeId", *_PREP}),
    "task_list": frozenset(
        {
            "id",
            "state",
            *_TIMES,
            "lastModifiedTime",
            "executionInfo/startTime",
            "executionInfo/endTime",
            "executionInfo/exitCode",
            "executionInfo/result",
        }
    ),
    "pool_list_usage_metrics": frozenset({"poolId"}),
}


def check_filter_properties(tool_name: str, text: str) -> None:
    """400 InvalidQueryParameterValue when the filter names a property this list cannot filter on."""
    allowed = FILTERABLE.get(tool_name)
    if allowed is None:
        return
    for path, position in field_paths(text):
        if path in allowed:
            continue
        close = difflib.get_close_matches(path, sorted(allowed), n=1, cutoff=0.6)
        close = close or [a for a in sorted(allowed) if a.lower() == path.lower() or a.endswith("/" + path)]
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise errors.invalid_query(
            "$filter",
            text,
            f"The property {path!r} (at position {position}) cannot be used in a filter here.{hint} "
            f"Filterable properties: {', '.join(sorted(allowed))}.",
        )
