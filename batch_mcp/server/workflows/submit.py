"""`tasks_submit`: any number of tasks into one job, each exactly once.

Every task is checked against the full task model first, and nothing is sent if any is wrong: the
reply names each bad task by index and JSON path. Then the client's `add_tasks` sends them in
add-collection chunks (≤ 100 tasks, < 1 MB), several at a time, resending only the tasks that
failed for server reasons. Submitting the same tasks again is harmless: a task whose id already
exists in the job is left as it is and counted as existing.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import mcp_types as types

from batch_mcp.catalog import Catalog
from batch_mcp.redaction import redact
from batch_mcp.server import render
from batch_mcp.server.server_tools import ServerTool, object_schema
from batch_mcp.server.workflows.common import ID, Progress, short

if TYPE_CHECKING:
    from batch_mcp.server.server_tools import CallContext
    from batch_mcp.server.workflows.task_check import TaskChecker

MAX_TASKS = 100_000  # per call; a larger batch is better split across calls
SHOWN_INVALID = 10  # bad tasks named in a refusal
SHOWN_FAILURES = 10  # failed tasks listed in a reply
CONCURRENCY = 8
SINGLE_TASK_TOOL = "task_add"
# A task is listed as just an object: the handler checks each one against the full task model
# anyway, and typing its fields here would make the engine's generic check walk every task twice
# (for 10,000 tasks that pass costs three times the rest of our overhead together).
TASK_ITEM = {"type": "object"}


@cache
def task_checker(catalog: Catalog) -> TaskChecker:
    """The full task model: `task_add`'s validation schema without its `job_id` argument."""
    schema = copy.deepcopy(catalog.validation_schema(SINGLE_TASK_TOOL))
    schema["properties"].pop("job_id", None)
    schema["required"] = [name for name in schema.get("required", []) if name != "job_id"]
    from batch_mcp.server.workflows.task_check import TaskChecker  # jsonschema loads on first submission

    return TaskChecker.for_schema(schema)


def invalid_tasks(catalog: Catalog, tasks: Sequence[Mapping[str, Any]]) -> tuple[list[str], int]:
    """Problems of the first few bad tasks (`$.tasks[i].path: ...`) and how many tasks are bad."""
    checker = task_checker(catalog)
    memo: dict[tuple[str, str], bool] = {}
    problems: list[str] = []
    bad = 0
    seen: dict[str, int] = {}
    for index, task in enumerate(tasks):
        found = checker.problems(task, memo)
        key = str(task.get("id", "")).casefold() if isinstance(task, Mapping) else ""
        if key in seen:
            found.append(f"$.id: the same id as tasks[{seen[key]}] (ids are case-insensitive)")
        elif key:
            seen[key] = index
        if not found:
            continue
        bad += 1
        if bad <= SHOWN_INVALID:
            problems.extend(
                f"$.tasks[{index}]{p[1:]}" if p.startswith("$") else f"$.tasks[{index}]: {p}" for p in found
            )
    return problems, bad


async def submit(ctx: CallContext, args: dict[str, Any]) -> types.CallToolResult:
    job_id: str = args["job_id"]
    tasks: list[dict[str, Any]] = args["tasks"]
    if not (job_id and tasks):
        return render.error_result("tasks_submit needs a job_id and at least one task.")
    if len(tasks) > MAX_TASKS:
        return render.error_result(
            f"{len(tasks)} tasks is more than {MAX_TASKS} per call; split them into "
            "several calls (resubmitting a task is harmless)."
        )
    problems, bad = invalid_tasks(ctx.engine.catalog, tasks)
    if problems:
        more = f"\n(and {bad - SHOWN_INVALID} more bad task(s))" if bad > SHOWN_INVALID else ""
        return render.error_result(
            f"{bad} of {len(tasks)} task(s) are invalid; nothing was sent to Batch.\n- " + "\n- ".join(problems) + more
        )
    progress = Progress(ctx)
    await progress(0, len(tasks), f"submitting {len(tasks)} task(s) to job {job_id}")

    async def on_progress(done: int, total: int) -> None:
        await progress(done, total, f"{done}/{total} task(s) submitted")

    result = await ctx.engine.client.add_tasks(job_id, tasks, concurrency=CONCURRENCY, on_progress=on_progress)
    existing = [f for f in result.failed if (f.get("error") or {}).get("code") == "TaskExists"]
    failed = [f for f in result.failed if (f.get("error") or {}).get("code") != "TaskExists"]
    data: dict[str, Any] = {
        "jobId": job_id,
        "submitted": len(tasks),
        "added": result.added,
        "alreadyExisted": len(existing),
        "failed": len(failed),
        "requests": result.requests,
    }
    if failed:
        data["failuresByCode"] = dict(Counter(str((f.get("error") or {}).get("code")) for f in failed))
        data["failures"] = [_failure(f) for f in failed[:SHOWN_FAILURES]]
    if existing:
        data["existingIds"] = [f.get("taskId") for f in existing[:SHOWN_FAILURES]]
    headline = (
        f"Job {job_id}: {result.added} of {len(tasks)} task(s) added in {result.requests} request(s)"
        f"{f', {len(existing)} already existed' if existing else ''}"
        f"{f', {len(failed)} failed' if failed else ''}."
    )
    lines = [headline]
    if failed:
        lines.append("failures by code: " + render.minified(data["failuresByCode"]))
        lines.extend(render.minified(render.compact(f)) for f in data["failures"])
    if existing:
        lines.append("already there (first ones): " + ", ".join(map(str, data["existingIds"])))
    out = render.text_result("\n".join(lines), structured=redact(data))
    out.is_error = bool(failed) and not (result.added or existing)
    return out


def _failure(failure: Mapping[str, Any]) -> dict[str, Any]:
    error = failure.get("error") or {}
    out = {"taskId": failure.get("taskId"), "code": error.get("code"), "message": short(error.get("message"), 200)}
    values = error.get("values")
    if isinstance(values, list) and values:
        out["details"] = [f"{v.get('key')}: {short(v.get('value'), 100)}" for v in values[:3] if isinstance(v, Mapping)]
    return out


TOOL = ServerTool(
    name="tasks_submit",
    title="Submit many tasks",
    description="Add many tasks (each: id, commandLine, any task_add field) to a job in parallel chunks, once "
    "each; existing ids are left alone.",
    toolset="workflows",
    guard="write",
    input_schema=object_schema(
        {
            "job_id": ID,
            "tasks": {"type": "array", "items": TASK_ITEM},
        },
        ["job_id", "tasks"],
    ),
    annotations={"readOnlyHint": False, "destructiveHint": False, "idempotentHint": True},
    handler=submit,
)
