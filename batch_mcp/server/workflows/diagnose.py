"""`task_diagnose`: why a task failed (or is stuck), in one call.

Reads the task, the tails of its stderr and stdout, the node it ran on (and that node's start-task
log when the start task failed), or, for a task that never ran, its job and pool; then states a
one-sentence verdict. Reads that fail (a node that left its pool, files not yet written) become
notes, never errors: a diagnosis is most needed exactly when things are broken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import mcp_types as types

from batch_mcp.batch.errors import BatchError
from batch_mcp.redaction import redact
from batch_mcp.server import render
from batch_mcp.server.impact import Lookups, Missing
from batch_mcp.server.server_tools import ServerTool, object_schema
from batch_mcp.server.workflows.common import ID, READ_ONLY_HINTS, gather, nodes_by_state, short
from batch_mcp.server.workflows.tail import NODE_FILE_TOOL, TASK_FILE_TOOL, Tail, read_tail
from batch_mcp.server.workflows.verdict import Facts, verdict

if TYPE_CHECKING:
    from batch_mcp.server.server_tools import CallContext

TAIL_BYTES = 4 * 1024
STDERR_LINES = 20
STDOUT_LINES = 10
STARTUP_LINES = 15
NODE_SELECT = "id,state,schedulingState,startTaskInfo,errors"
POOL_SELECT = "id,allocationState,targetDedicatedNodes,targetLowPriorityNodes"
START_TASK_STDERR = "startup/stderr.txt"


async def diagnose(ctx: CallContext, args: dict[str, Any]) -> types.CallToolResult:
    client = ctx.engine.client
    look = Lookups(client, ctx.engine.catalog)
    job_id, task_id = args["job_id"], args["task_id"]
    if not (job_id and task_id):
        return render.error_result("task_diagnose needs a job_id and a task_id (see task_list).")
    task = (await client.call("task_get", {"job_id": job_id, "task_id": task_id})).data
    facts = Facts(task=task)
    notes: list[str] = []
    tails: dict[str, Tail | None] = {}
    where = task.get("nodeInfo") or {}
    pool_id, node_id = where.get("poolId"), where.get("nodeId")
    if node_id or (task.get("executionInfo") or {}).get("startTime"):
        file_args = {"job_id": job_id, "task_id": task_id}
        stderr, stdout, node = await gather(
            [
                lambda: _tail(client, TASK_FILE_TOOL, {**file_args, "file_path": "stderr.txt"}, STDERR_LINES, notes),
                lambda: _tail(client, TASK_FILE_TOOL, {**file_args, "file_path": "stdout.txt"}, STDOUT_LINES, notes),
                lambda: _node(look, pool_id, node_id, notes),
            ]
        )
        stderr, stdout = cast("Tail | None", stderr), cast("Tail | None", stdout)
        node = cast("dict[str, Any] | None", node)
        tails["stderr.txt"], tails["stdout.txt"], facts.node = stderr, stdout, node
        facts.stderr = stderr.text if stderr else ""
        facts.stdout = stdout.text if stdout else ""
        if node and _start_task_failed(node):
            startup = await _tail(
                client,
                NODE_FILE_TOOL,
                {"pool_id": pool_id, "node_id": node_id, "file_path": START_TASK_STDERR},
                STARTUP_LINES,
                notes,
            )
            tails[f"node {node_id} {START_TASK_STDERR}"] = startup
            facts.startup_stderr = startup.text if startup else ""
    elif task.get("state") == "active":
        await _why_waiting(look, job_id, facts, notes)
        facts.dependencies = await _dependencies(client, job_id, task)

    summary = _summary(task, facts.node)
    data: dict[str, Any] = {"verdict": verdict(facts), "task": summary}
    data["tails"] = {name: _tail_data(t) for name, t in tails.items() if t is not None}
    if notes:
        data["notes"] = notes
    return render.text_result(_text(data, tails), structured=redact(data))


async def _tail(client: Any, tool: str, args: Mapping[str, Any], lines: int, notes: list[str]) -> Tail | None:
    try:
        return await read_tail(client, tool, args, lines, max_bytes=TAIL_BYTES)
    except BatchError as exc:
        notes.append(f"{args['file_path']}: not readable ({short(exc, 140)})")
        return None


async def _node(look: Lookups, pool_id: str | None, node_id: str | None, notes: list[str]) -> dict[str, Any] | None:
    if not (pool_id and node_id):
        return None
    try:
        return await look.get("node_get", {"pool_id": pool_id, "node_id": node_id, "select": NODE_SELECT})
    except Missing:
        notes.append(f"node {node_id} is no longer in pool {pool_id}; its files are gone with it")
    except BatchError as exc:
        notes.append(f"node {node_id}: not readable ({short(exc, 140)})")
    return None


def _start_task_failed(node: Mapping[str, Any]) -> bool:
    return node.get("state") == "startTaskFailed" or (node.get("startTaskInfo") or {}).get("result") == "failure"


async def _why_waiting(look: Lookups, job_id: str, facts: Facts, notes: list[str]) -> None:
    try:
        job = await look.get("job_get", {"job_id": job_id, "select": "id,state,poolInfo,executionInfo"})
    except (BatchError, Missing) as exc:
        notes.append(f"job {job_id}: not readable ({short(exc, 140)})")
        return
    facts.job = job
    # An auto pool's id is known only from the job's execution info, once Batch has created it.
    pool_id = (job.get("poolInfo") or {}).get("poolId") or (job.get("executionInfo") or {}).get("poolId")
    if not pool_id:
        return
    try:
        facts.pool = await look.get("pool_get", {"pool_id": pool_id, "select": POOL_SELECT})
    except Missing:
        facts.pool_missing = True
        return
    except BatchError as exc:
        notes.append(f"pool {pool_id}: not readable ({short(exc, 140)})")
        return
    facts.pool_nodes = await nodes_by_state(look, pool_id)


DEPENDENCIES_READ = 10  # tasks a waiting task depends on, read to see whether one failed


async def _dependencies(client: Any, job_id: str, task: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The first tasks a waiting task depends on (by id), with their state and result."""
    ids = [str(i) for i in ((task.get("dependsOn") or {}).get("taskIds") or [])][:DEPENDENCIES_READ]
    if not ids:
        return []
    wanted = " or ".join(f"id eq '{i.replace(chr(39), chr(39) * 2)}'" for i in ids)
    try:
        page = await client.list(
            "task_list", {"job_id": job_id, "filter": wanted, "select": "id,state,executionInfo"}, max_items=len(ids)
        )
    except BatchError:
        return []  # a diagnosis reads what it can
    return list(page.items)


def _summary(task: Mapping[str, Any], node: Mapping[str, Any] | None) -> dict[str, Any]:
    info = task.get("executionInfo") or {}
    where = task.get("nodeInfo") or {}
    failure = info.get("failureInfo") or {}
    out: dict[str, Any] = {
        "id": task.get("id"),
        "state": task.get("state"),
        "commandLine": short(task.get("commandLine"), 300),
        "exitCode": info.get("exitCode"),
        "result": info.get("result"),
    }
    if failure:
        out["failureInfo"] = {
            "category": failure.get("category"),
            "code": failure.get("code"),
            "message": short(failure.get("message"), 300),
            "details": [
                f"{d.get('name')}={short(d.get('value'), 120)}"
                for d in (failure.get("details") or [])[:5]
                if isinstance(d, Mapping)
            ],
        }
    limit = (task.get("constraints") or {}).get("maxTaskRetryCount")
    if info.get("retryCount") or info.get("requeueCount"):
        out["retries"] = {
            "count": info.get("retryCount", 0),
            "max": limit,
            "lastRetryTime": info.get("lastRetryTime"),
            "requeues": info.get("requeueCount", 0),
            "lastRequeueTime": info.get("lastRequeueTime"),
        }
    out["startTime"], out["endTime"] = info.get("startTime"), info.get("endTime")
    if where:
        out["node"] = f"{where.get('poolId')}/{where.get('nodeId')}"
    if node:
        out["nodeState"] = node.get("state")
        start = node.get("startTaskInfo") or {}
        if start.get("result") == "failure":
            out["nodeStartTask"] = {
                "exitCode": start.get("exitCode"),
                "failure": (start.get("failureInfo") or {}).get("code"),
            }
        errors = [e.get("code") for e in node.get("errors") or [] if isinstance(e, Mapping)]
        if errors:
            out["nodeErrors"] = errors
    return out


def _tail_data(tail: Tail) -> dict[str, Any]:
    return {"text": tail.text, "lines": tail.lines, "size": tail.size, "more": tail.more, "binary": tail.binary}


def _text(data: Mapping[str, Any], tails: Mapping[str, Tail | None]) -> str:
    task = dict(data["task"])
    failure = task.get("failureInfo")
    if isinstance(failure, Mapping) and failure.get("message") and str(failure["message"]) in data["verdict"]:
        task["failureInfo"] = {k: v for k, v in failure.items() if k != "message"}  # the verdict quotes it
    lines = [data["verdict"], render.minified(render.compact(redact(task)))]
    for note in data.get("notes", []):
        lines.append(f"note: {note}")
    for name, tail in tails.items():
        if tail is None:
            continue
        if tail.binary:
            lines.append(f"--- {name}: binary, {tail.size} bytes ---")
        elif not tail.size:
            if not _said_empty(name, data["verdict"]):
                lines.append(f"--- {name}: empty ---")
        else:
            scope = f"last {tail.lines} lines" if tail.more else f"all {tail.lines} lines"
            shown = _unquoted(tail.text, QUOTED_AS.get(name.rsplit(" ", 1)[-1], ""), data["verdict"])
            if shown is None:
                lines.append(f"--- {name} ({scope}, {tail.size} bytes) ---")
                lines.append(tail.text)
            elif shown:
                lines.append(f"--- {name} ({scope}, {tail.size} bytes; the last one is quoted above) ---")
                lines.append(shown)
            else:
                lines.append(f"--- {name} ({tail.size} bytes): quoted above ---")
    return "\n".join(lines)


# How the verdict quotes the last line of each tail (see verdict._output and verdict._node_note).
QUOTED_AS = {"stderr.txt": "Its stderr ends with: ", "stdout.txt": "stdout ends with: "}
QUOTED_AS[START_TASK_STDERR] = "its stderr ends with: "


def _said_empty(name: str, said: str) -> bool:
    """Whether the verdict already says this tail is empty (see verdict._output)."""
    if name == "stderr.txt":
        return "Its stderr is empty" in said or "Its stderr and stdout are empty" in said
    return name == "stdout.txt" and "Its stderr and stdout are empty" in said


def _unquoted(text: str, prefix: str, said: str) -> str | None:
    """The tail without its last line when the verdict already quotes that line whole (so the model
    does not read it twice); None when the verdict does not quote it."""
    body = text.rstrip()
    last = body.rsplit("\n", 1)[-1].strip()
    if not (prefix and last) or f"{prefix}{last}" not in said:
        return None
    rest = body.rsplit("\n", 1)[0] if "\n" in body else ""
    return rest if rest.strip() else ""


TOOL = ServerTool(
    name="task_diagnose",
    title="Diagnose a task",
    description="Why a task failed or waits: exit code, failure, retries, node, output tails and a verdict.",
    toolset="workflows",
    guard="read",
    input_schema=object_schema({"job_id": ID, "task_id": ID}, ["job_id", "task_id"]),
    annotations=READ_ONLY_HINTS,
    handler=diagnose,
    uses=("task_get", "task_file_get", "node_get", "node_file_get"),
)
