"""`tasks_submit`: any number of tasks into one job, each exactly once.

The tasks are spelled out (`tasks`), or made from one `template` whose `{placeholders}` are filled
from a `range`, a list of `values` or the `lines` of a Batch file (see `fanout`): 10,000 tasks
cost the model a few hundred bytes instead of megabytes. Every task is checked against the full
task model first, and nothing is sent if any is wrong: the reply names each bad task by index and
JSON path. `dry_run` stops there and shows the count and the first tasks. Then the client's
`add_tasks` sends them in add-collection chunks (≤ 100 tasks, < 1 MB), several at a time,
resending only the tasks that failed for server reasons. Submitting the same tasks again is
harmless: a task whose id already exists in the job is left as it is and counted as existing.

A `lines` file is read through the Batch file API only (a task's or a node's file, which on the
local emulator is a file in a node's folder), never from an arbitrary path on this machine: the
arguments may come from a model that read something hostile.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from functools import cache
from typing import TYPE_CHECKING, Any

import mcp_types as types

from batch_mcp.catalog import Catalog
from batch_mcp.redaction import redact, secret_values
from batch_mcp.server import render
from batch_mcp.server.errors import HINTS_BY_CODE
from batch_mcp.server.server_tools import ServerTool, object_schema
from batch_mcp.server.workflows.common import ID, Progress, short
from batch_mcp.server.workflows.fanout import TemplateError, expand, line_values, placeholder_names, range_values

if TYPE_CHECKING:
    from batch_mcp.batch import BatchClient
    from batch_mcp.server.server_tools import CallContext
    from batch_mcp.server.workflows.task_check import TaskChecker

MAX_TASKS = 100_000  # per call; a larger batch is better split across calls
MAX_LINES_FILE = 16 * 1024 * 1024  # bytes of a `lines` file
SHOWN_INVALID = 10  # distinct problems named in a refusal
SHOWN_INDICES = 5  # task indexes a shared problem names
SHOWN_FAILURES = 10  # failed tasks listed in a reply
SHOWN_PREVIEW = 3  # expanded tasks a dry run shows (and the last one)
CONCURRENCY = 8
SINGLE_TASK_TOOL = "task_add"
SOURCES = ("range", "values", "lines")
ENDED = frozenset({"terminating", "completed", "deleting"})  # job states that take no more tasks
# A task is listed as just an object: the handler checks each one against the full task model
# anyway, and typing its fields here would make the engine's generic check walk every task twice
# (for 10,000 tasks that pass costs three times the rest of our overhead together).
TASK_ITEM = {"type": "object"}


class SubmitError(ValueError):
    """Arguments that make no tasks; the message says what to change."""


@cache
def task_checker(catalog: Catalog) -> TaskChecker:
    """The full task model: `task_add`'s validation schema without its `job_id` argument."""
    schema = copy.deepcopy(catalog.validation_schema(SINGLE_TASK_TOOL))
    schema["properties"].pop("job_id", None)
    schema["required"] = [name for name in schema.get("required", []) if name != "job_id"]
    from batch_mcp.server.workflows.task_check import TaskChecker  # jsonschema loads on first submission

    return TaskChecker.for_schema(schema)


def invalid_tasks(catalog: Catalog, tasks: Sequence[Mapping[str, Any]]) -> tuple[list[str], int, int]:
    """Problems of the bad tasks (`$.tasks[i].path: ...`), how many tasks are bad, and how many bad
    tasks no shown problem names. A problem shared by several tasks (a template's mistake is in every
    task it expands to) is one line naming them all: `$.tasks[1,4].path` or `$.tasks[*].path`."""
    checker = task_checker(catalog)
    memo: dict[tuple[str, str], bool] = {}
    groups: dict[str, list[int]] = {}  # a problem, its path relative to the task -> the tasks that have it
    shown: set[int] = set()
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
        for problem in found:
            relative = problem[1:] if problem.startswith("$") else f": {problem}"
            if relative in groups or len(groups) < SHOWN_INVALID:
                groups.setdefault(relative, []).append(index)
                shown.add(index)
    total = len(tasks)
    lines = [_where(indices, total) + relative + _how_many(indices, total) for relative, indices in groups.items()]
    return lines, bad, bad - len(shown)


def _how_many(indices: list[int], total: int) -> str:
    if len(indices) == 1:
        return ""
    return f" (all {total} tasks)" if len(indices) == total else f" ({len(indices)} tasks)"


def _where(indices: list[int], total: int) -> str:
    if len(indices) == 1:
        return f"$.tasks[{indices[0]}]"
    if len(indices) == total:
        return "$.tasks[*]"
    named = ",".join(map(str, indices[:SHOWN_INDICES])) + (",..." if len(indices) > SHOWN_INDICES else "")
    return f"$.tasks[{named}]"


async def tasks_from(
    client: BatchClient, args: Mapping[str, Any], enabled: AbstractSet[str] | None = None
) -> tuple[list[dict[str, Any]], set[str]]:
    """The tasks the arguments describe, and placeholders the template left unfilled. `enabled`: the
    operations this server may use; a `lines` file is read only if its reading operation is one."""
    tasks, template = args.get("tasks"), args.get("template")
    sources = [name for name in SOURCES if args.get(name) is not None]
    if (tasks is None) == (template is None):
        raise SubmitError("Give either tasks (each task spelled out) or a template with range, values or lines.")
    if tasks is not None:
        if sources:
            raise SubmitError(f"{sources[0]} fills a template; with tasks, leave it out.")
        if len(tasks) > MAX_TASKS:
            raise SubmitError(f"{len(tasks)} tasks is more than {MAX_TASKS} per call; split them across calls.")
        return list(tasks), set()
    if len(sources) != 1:
        raise SubmitError("A template takes exactly one of range, values or lines.")
    values: Iterable[Any]
    if sources[0] == "range":
        values = range_values(args["range"])
        _refuse_position_for_numbers(args["template"], values)
    elif sources[0] == "values":
        values = args["values"]
    else:
        values = line_values(await read_lines_file(client, args["lines"], enabled))
    expansion = expand(args["template"], values, limit=MAX_TASKS)
    return expansion.tasks, expansion.unknown


async def spelled_out(
    client: BatchClient, args: Mapping[str, Any], enabled: AbstractSet[str]
) -> Mapping[str, Any] | None:
    """The call as the execution policy shows it: a template filled from `values` or `lines` becomes
    the tasks it makes (so the user sees, and Batch gets, the command lines as read now). A range
    fills in numbers only, so its template says all there is; a dry run runs nothing."""
    if args.get("dry_run"):
        return None
    if args.get("template") is None or args.get("range") is not None:
        return args
    tasks, _ = await tasks_from(client, args, enabled)
    kept = {key: value for key, value in args.items() if key not in ("template", *SOURCES)}
    return {**kept, "tasks": tasks}


def _refuse_position_for_numbers(template: Any, numbers: range) -> None:
    """`{i}` is the 0-based position and `{value}` the range's number. A template that fills only
    `{i}` from a range not starting at 0 would run frames 0..N-1 for a range 1..N: refused."""
    names = placeholder_names(template)
    if "i" in names and "value" not in names and numbers != range(len(numbers)):
        raise SubmitError(
            f"The template fills {{i}}, the 0-based position ({0}..{len(numbers) - 1}), and never {{value}}, "
            f"the range's numbers ({numbers[0]}..{numbers[-1]}): write {{value}} for the numbers, "
            f"or give range [0, {len(numbers) - 1}] if positions are meant."
        )


async def read_lines_file(client: BatchClient, uri: str, enabled: AbstractSet[str] | None = None) -> str:
    """A task or node file named by its batch:// URI, whole (up to MAX_LINES_FILE), as text."""
    from batch_mcp.server.file_windows import read_window
    from batch_mcp.server.uris import UriError, not_served, parse_uri

    try:
        target = parse_uri(uri)
    except UriError as exc:
        raise SubmitError(f"lines: {exc}") from None
    if enabled is not None and target.is_file and target.reader not in enabled:
        raise SubmitError(f"lines: {not_served(target)}")
    if not target.is_file or not target.query.is_default:
        raise SubmitError(
            "lines names a file as batch://jobs/{jobId}/tasks/{taskId}/files/{path} or "
            "batch://pools/{poolId}/nodes/{nodeId}/files/{path}, without a query."
        )
    window = await read_window(client, target, MAX_LINES_FILE)
    if not window.complete:
        raise SubmitError(f"lines: {uri} is {window.size} bytes; at most {MAX_LINES_FILE} can be read.")
    if window.text is None:
        raise SubmitError(f"lines: {uri} is not UTF-8 text.")
    return window.text


async def submit(ctx: CallContext, args: dict[str, Any]) -> types.CallToolResult:
    job_id: str = args["job_id"]
    if not job_id:
        return render.error_result("tasks_submit needs a job_id.")
    try:
        tasks, unknown = await tasks_from(ctx.engine.client, args, ctx.engine.selection.enabled)
    except (SubmitError, TemplateError) as exc:
        said = str(exc).rstrip()
        stop = "" if said.endswith((".", "?", "!", ")")) else "."
        return render.error_result(f"{said}{stop} Nothing was sent to Batch.")
    if args.get("template") is not None:  # values that filled a DB_PASSWORD entry are secrets too
        ctx.secrets |= secret_values(tasks)
    if not tasks:
        return render.error_result("No tasks to submit (the range, values or lines are empty).")
    problems, bad, unshown = invalid_tasks(ctx.engine.catalog, tasks)
    if problems:
        more = f"\n(and {unshown} more bad task(s))" if unshown else ""
        origin = " expanded from the template" if args.get("template") is not None else ""
        return render.error_result(
            f"{bad} of {len(tasks)} task(s){origin} are invalid; nothing was sent to Batch.\n- "
            + "\n- ".join(problems)
            + more
        )
    unfilled = f"placeholders left as written: {', '.join('{' + n + '}' for n in sorted(unknown))}" if unknown else ""
    if args.get("dry_run"):
        state = (await ctx.engine.client.call("job_get", {"job_id": job_id, "select": "id,state"})).data.get("state")
        ended = f"job {job_id} is {state} and takes no more tasks: submit to a new job." if state in ENDED else ""
        return _preview(job_id, tasks, "\n".join(filter(None, (unfilled, ended))))
    progress = Progress(ctx)
    await progress(0, len(tasks), f"submitting {len(tasks)} task(s) to job {job_id}")

    async def on_progress(done: int, total: int) -> None:
        ctx.partial = f"{done} of {total} task(s) acknowledged by Batch, each sent once"
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
        data["failures"] = _failure_groups(failed)
    if existing:
        data["existingIds"] = [f.get("taskId") for f in existing[:SHOWN_FAILURES]]
    counts = (
        f"{result.added} of {len(tasks)} task(s) added to job {job_id} in {result.requests} request(s)"
        f"{f', {len(existing)} already existed' if existing else ''}"
        f"{f', {len(failed)} failed' if failed else ''}."
    )
    if not failed:
        headline = f"Done: {counts}"
    elif result.added or existing:
        headline = f"Partly done: {counts}"
    else:
        headline = f"Failed: {counts}"
    lines = [headline]
    if failed:
        groups = data["failures"]
        if len(groups) != len(data["failuresByCode"]) or sum(g["count"] for g in groups) != len(failed):
            lines.append("failures by code: " + render.minified(data["failuresByCode"]))
        lines.extend(render.minified(render.compact(g)) for g in groups)
        hints = dict.fromkeys(HINTS_BY_CODE[g["code"]] for g in groups if g.get("code") in HINTS_BY_CODE)
        lines.extend(f"what to try: {hint}" for hint in hints)
    if existing:
        lines.append("already there (first ones): " + ", ".join(map(str, data["existingIds"])))
    if unfilled:
        lines.append(unfilled)
    out = render.text_result("\n".join(lines), structured=redact(data))
    out.is_error = bool(failed) and not (result.added or existing)
    return out


def _preview(job_id: str, tasks: list[dict[str, Any]], unfilled: str) -> types.CallToolResult:
    shown = tasks[:SHOWN_PREVIEW]
    data: dict[str, Any] = {"jobId": job_id, "tasks": len(tasks), "first": shown}
    if len(tasks) > SHOWN_PREVIEW:
        data["last"] = tasks[-1]
    lines = [f"Dry run: {len(tasks)} valid task(s) for job {job_id}; nothing was sent. First ones:"]
    lines.extend(render.minified(redact(task)) for task in shown)
    if "last" in data:
        lines.append("last: " + render.minified(redact(data["last"])))
    if unfilled:
        lines.append(unfilled)
    return render.text_result("\n".join(lines), structured=redact(data))


def _failure_groups(failed: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Failed tasks by what Batch said (code, message, details): each group once, with how many tasks
    it hit and the first of their ids. A job-wide failure (JobNotFound) is one line, not one per task."""
    groups: dict[str, dict[str, Any]] = {}
    for failure in failed:
        error = failure.get("error") or {}
        said: dict[str, Any] = {"code": error.get("code"), "message": short(error.get("message"), 200)}
        values = error.get("values")
        if isinstance(values, list) and values:
            said["details"] = [
                f"{v.get('key')}: {short(v.get('value'), 100)}" for v in values[:3] if isinstance(v, Mapping)
            ]
        key = render.minified(said)
        group = groups.get(key)
        if group is None:
            if len(groups) >= SHOWN_FAILURES:
                continue
            group = groups[key] = {**said, "count": 0, "taskIds": []}
        group["count"] += 1
        if len(group["taskIds"]) < SHOWN_INDICES:
            group["taskIds"].append(failure.get("taskId"))
    return list(groups.values())


TOOL = ServerTool(
    name="tasks_submit",
    title="Submit many tasks",
    description="Add many tasks to a job, each once (existing ids stay): listed in tasks, or a template filled "
    "from range, values or lines. dry_run previews.",
    toolset="workflows",
    guard="write",
    input_schema=object_schema(
        {
            "job_id": ID,
            "tasks": {"type": "array", "items": TASK_ITEM, "description": "Each: id, commandLine, any task_add field"},
            "template": {
                "type": "object",
                "description": "A task with {i} (0-based), {value} or an object value's {key} in its strings; "
                "{value:04d} pads",
            },
            "range": {"type": "array", "items": {"type": "integer"}, "description": "[first, last(, step)], inclusive"},
            "values": {"type": "array"},
            "lines": {"type": "string", "description": "batch:// URI of a task or node file: a task per line"},
            "dry_run": {"type": "boolean"},
        },
        ["job_id"],
    ),
    annotations={"readOnlyHint": False, "destructiveHint": False, "idempotentHint": True},
    handler=submit,
    spell_out=spelled_out,
    uses=("task_add_collection",),
)
