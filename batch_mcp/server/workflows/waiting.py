"""`wait_for`: block until a pool has settled, a job's tasks have all finished, or a task has finished.

Polls with cheap reads (`select`ed fields, task counts) on a growing interval, reports progress
while it waits, and returns the final state. Running out of time is an answer, not an error: the
reply is the current state, and the model can simply call again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import mcp_types as types

from batch_mcp.batch.errors import BatchError
from batch_mcp.server import render
from batch_mcp.server.impact import Lookups, Missing
from batch_mcp.server.server_tools import ServerTool, object_schema
from batch_mcp.server.workflows.common import ID, READ_ONLY_HINTS, Progress, nodes_by_state, nonzero
from batch_mcp.server.workflows.verdict import WAITING_NODE_STATES

if TYPE_CHECKING:
    from batch_mcp.server.server_tools import CallContext

DEFAULT_TIMEOUT = 180
MAX_TIMEOUT = 900
FIRST_POLL = 0.5
POLL_GROWTH = 1.5
MAX_POLL = 10.0
MAX_FAILED_READS = 3  # consecutive failed polls before giving up with the error
POOL_SELECT = (
    "id,state,allocationState,currentDedicatedNodes,currentLowPriorityNodes,targetDedicatedNodes,"
    "targetLowPriorityNodes,resizeErrors"
)
TASK_SELECT = "id,state,executionInfo,nodeInfo"
TASK_STEPS = ("active", "preparing", "running", "completed")


@dataclass
class Reading:
    done: bool
    state: dict[str, Any]
    summary: str  # one line, for the progress message and the reply's headline
    progress: float
    total: float | None


class Target(Protocol):
    name: str

    async def read(self) -> Reading: ...


class PoolTarget:
    """Settled: allocation is steady and no node is still starting, rebooting or reimaging."""

    def __init__(self, look: Lookups, pool_id: str) -> None:
        self.look, self.pool_id, self.name = look, pool_id, f"pool {pool_id}"

    async def read(self) -> Reading:
        pool = await self.look.get("pool_get", {"pool_id": self.pool_id, "select": POOL_SELECT})
        nodes = await nodes_by_state(self.look, self.pool_id)
        target = int(pool.get("targetDedicatedNodes") or 0) + int(pool.get("targetLowPriorityNodes") or 0)
        settling = sum(n for state, n in nodes.items() if state in WAITING_NODE_STATES)
        ready = sum(nodes.values()) - settling
        allocation = pool.get("allocationState")
        state = {
            "allocationState": allocation,
            "state": pool.get("state"),
            "dedicated": f"{pool.get('currentDedicatedNodes', 0)}/{pool.get('targetDedicatedNodes', 0)}",
            "spot": f"{pool.get('currentLowPriorityNodes', 0)}/{pool.get('targetLowPriorityNodes', 0)}",
            "nodes": nonzero(nodes),
        }
        errors = [e.get("code") for e in pool.get("resizeErrors") or [] if isinstance(e, Mapping)]
        if errors:
            state["resizeErrors"] = errors
        states = ", ".join(f"{n} {s}" for s, n in sorted(nodes.items())) or "no nodes"
        summary = f"{allocation}, {states}"
        if errors:
            summary += f"; resize errors: {', '.join(map(str, errors))}"
        return Reading(allocation == "steady" and not settling, state, summary, ready, max(target, ready) or None)


class JobTarget:
    """Done: no task of the job is active or running (or the job itself has completed)."""

    def __init__(self, look: Lookups, job_id: str) -> None:
        self.look, self.job_id, self.name = look, job_id, f"job {job_id}"

    async def read(self) -> Reading:
        job = await self.look.get("job_get", {"job_id": self.job_id, "select": "id,state"})
        counts = await self.look.task_counts(self.job_id)
        total = counts["active"] + counts["running"] + counts["completed"]
        state = {"state": job.get("state"), "tasks": counts}
        summary = (
            f"{counts['completed']}/{total} tasks complete ({counts['running']} running, "
            f"{counts['succeeded']} succeeded, {counts['failed']} failed); job {job.get('state')}"
        )
        done = job.get("state") == "completed" or counts["active"] + counts["running"] == 0
        return Reading(done, state, summary, counts["completed"], total or None)


class TaskTarget:
    """Done: the task has completed (successfully or not)."""

    def __init__(self, look: Lookups, job_id: str, task_id: str) -> None:
        self.look, self.args, self.name = look, {"job_id": job_id, "task_id": task_id}, f"task {job_id}/{task_id}"

    async def read(self) -> Reading:
        task = await self.look.get("task_get", {**self.args, "select": TASK_SELECT})
        info = task.get("executionInfo") or {}
        status = task.get("state", "unknown")
        state: dict[str, Any] = {"state": status}
        for key in ("exitCode", "result", "startTime", "endTime", "retryCount"):
            if info.get(key) is not None:
                state[key] = info[key]
        if info.get("failureInfo"):
            state["failureCode"] = info["failureInfo"].get("code")
        node = task.get("nodeInfo") or {}
        if node.get("nodeId"):
            state["node"] = f"{node.get('poolId')}/{node.get('nodeId')}"
        summary = status
        if status == "completed":
            summary += f" with exit code {info.get('exitCode')}" if info.get("exitCode") is not None else ""
            summary += f" ({info['failureInfo'].get('code')})" if info.get("failureInfo") else ""
        step = TASK_STEPS.index(status) if status in TASK_STEPS else 0
        return Reading(status == "completed", state, summary, step, len(TASK_STEPS) - 1)


def choose_target(look: Lookups, args: Mapping[str, Any]) -> Target | None:
    pool_id, job_id, task_id = args.get("pool_id"), args.get("job_id"), args.get("task_id")
    if pool_id and not (job_id or task_id):
        return PoolTarget(look, pool_id)
    if job_id and not pool_id:
        return TaskTarget(look, job_id, task_id) if task_id else JobTarget(look, job_id)
    return None


async def wait_for(ctx: CallContext, args: dict[str, Any]) -> types.CallToolResult:
    target = choose_target(Lookups(ctx.engine.client, ctx.engine.catalog), args)
    if target is None:
        return render.error_result("Give pool_id (a pool), job_id (all its tasks) or job_id with task_id (one task).")
    timeout = max(1, min(int(args.get("timeout") or DEFAULT_TIMEOUT), MAX_TIMEOUT))
    progress = Progress(ctx)
    started = anyio.current_time()
    deadline = started + timeout
    delay = FIRST_POLL
    failed_reads = 0
    reading: Reading | None = None
    while True:
        try:
            reading = await target.read()
            failed_reads = 0
        except Missing:
            if reading is None:
                return render.error_result(f"wait_for: {target.name} does not exist.")
            return _reply(target, reading, started, gone=True)
        except BatchError:
            failed_reads += 1
            if reading is None or failed_reads >= MAX_FAILED_READS:
                raise
        if reading is not None and not failed_reads:
            await progress(reading.progress, reading.total, f"{target.name}: {reading.summary}")
            if reading.done:
                return _reply(target, reading, started)
        remaining = deadline - anyio.current_time()
        if remaining <= 0:
            assert reading is not None
            return _reply(target, reading, started, timed_out=True)
        await anyio.sleep(min(delay, remaining))
        delay = min(delay * POLL_GROWTH, MAX_POLL)


def _reply(
    target: Target, reading: Reading, started: float, *, timed_out: bool = False, gone: bool = False
) -> types.CallToolResult:
    """Headline plus the state as compact JSON in the text (the summary went out as progress already)."""
    waited = round(anyio.current_time() - started, 1)
    data = {
        "target": target.name,
        "done": reading.done or gone,
        "timedOut": timed_out,
        "waitedSeconds": waited,
        "state": reading.state,
    }
    if gone:
        data["deleted"] = True
        headline = f"{target.name} no longer exists (deleted while waiting); its last state:"
    elif timed_out:
        headline = f"Not done after {waited:g} s (timeout); call wait_for again to keep waiting. {target.name} now:"
    else:
        headline = f"Done after {waited:g} s: {target.name}"
    structured = render.json_result("", data).structured_content
    return render.text_result(
        f"{headline}\n{render.minified(render.compact(structured['state']))}", structured=structured
    )


TOOL = ServerTool(
    name="wait_for",
    title="Wait for pool, job or task",
    description="Wait until pool_id is steady, job_id's tasks all finish, or task_id (with job_id) finishes; "
    "returns the state, even on timeout.",
    toolset="workflows",
    guard="read",
    input_schema=object_schema(
        {
            "pool_id": ID,
            "job_id": ID,
            "task_id": ID,
            "timeout": {"type": "integer", "description": "Seconds (180, max 900)"},
        }
    ),
    annotations=READ_ONLY_HINTS,
    handler=wait_for,
)
