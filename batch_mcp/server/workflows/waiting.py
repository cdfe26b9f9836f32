"""`wait_for`: block until a pool has settled, a job's tasks have all finished, or a task has finished.

Polls with cheap reads (`select`ed fields, task counts) on a growing interval, reports progress
while it waits, and returns the final state. Running out of time is an answer, not an error: the
reply is the current state, and the model can simply call again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import mcp_types as types

from batch_mcp.batch.errors import BatchError, BatchServiceError
from batch_mcp.server import render
from batch_mcp.server.impact import Lookups, Missing
from batch_mcp.server.server_tools import ServerTool, object_schema
from batch_mcp.server.task_changes import CHANGED_SELECT, STATE_FILTERS, TaskChanges, key_of, service_time, task_line
from batch_mcp.server.workflows.common import ID, READ_ONLY_HINTS, Progress, nodes_by_state, nonzero, short
from batch_mcp.server.workflows.verdict import BROKEN_NODE_STATES, WAITING_NODE_STATES

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
JOB_READ_EVERY = 10  # polls between reads of a waited job's own state
SHOWN_FAILED = 10  # failed tasks a wait names
BLOCKED_SAMPLE = 100  # active tasks read for failed dependencies when a job's wait times out
NODE_SAMPLE = 100  # nodes read, when a job's wait times out with nothing running, to see if any can run tasks
FAILED_SAMPLE = 1000  # failed task ids read alongside (one page)
BROKEN = {state.lower() for state in BROKEN_NODE_STATES}  # node counts and node lists spell states differently
SETTLING = {state.lower() for state in WAITING_NODE_STATES}


@dataclass
class Reading:
    done: bool  # an end state: waiting longer would change nothing
    state: dict[str, Any]
    summary: str  # one line, for the progress message and the reply's headline
    progress: float
    total: float | None
    problem: str | None = None  # why that end state is not the one asked for (errors, failures, no work)


class Target(Protocol):
    name: str

    async def read(self) -> Reading: ...

    async def stuck(self, reading: Reading) -> str | None:
        """Read once when the wait times out: why waiting longer would change nothing, if that is so."""
        ...


class PoolTarget:
    """Settled: allocation is steady and no node is still starting, rebooting or reimaging."""

    def __init__(self, look: Lookups, pool_id: str) -> None:
        self.look, self.pool_id, self.name = look, pool_id, f"pool {pool_id}"

    async def read(self) -> Reading:
        pool = await self.look.get("pool_get", {"pool_id": self.pool_id, "select": POOL_SELECT})
        nodes = await nodes_by_state(self.look, self.pool_id)
        target = int(pool.get("targetDedicatedNodes") or 0) + int(pool.get("targetLowPriorityNodes") or 0)
        settling = sum(n for state, n in nodes.items() if state.lower() in SETTLING)
        ready = sum(nodes.values()) - settling
        allocation = pool.get("allocationState")
        state = {
            "allocationState": allocation,
            "state": pool.get("state"),
            "dedicated": f"{pool.get('currentDedicatedNodes', 0)}/{pool.get('targetDedicatedNodes', 0)}",
            "spot": f"{pool.get('currentLowPriorityNodes', 0)}/{pool.get('targetLowPriorityNodes', 0)}",
            "nodes": nonzero(nodes),
        }
        errors = [e for e in pool.get("resizeErrors") or [] if isinstance(e, Mapping)]
        if errors:
            state["resizeErrors"] = [e.get("code") for e in errors]
        states = ", ".join(f"{n} {s}" for s, n in sorted(nodes.items())) or "no nodes"
        summary = f"{allocation}, {states}"
        if errors:
            summary += f"; resize errors: {', '.join(str(e.get('code')) for e in errors)}"
        if pool.get("state") == "deleting":
            return Reading(True, state, summary, ready, None, "the pool is being deleted")
        done = allocation == "steady" and not settling
        return Reading(done, state, summary, ready, max(target, ready) or None, _pool_problem(pool, nodes, errors))

    async def stuck(self, reading: Reading) -> str | None:
        return None


class JobTarget:
    """Done: no task of the job is active or running (or the job itself has completed).

    Each poll reads the job's task counts (one request, whatever the job's size); when the failed
    count grows, one more request lists the tasks that failed since the last look (`TaskChanges`),
    so each failure is named in the progress messages as it happens. The job's own state is read
    at the start, every JOB_READ_EVERY polls and before calling it done."""

    def __init__(self, look: Lookups, job_id: str, *, stop_on_failure: bool = False) -> None:
        self.look, self.job_id, self.name = look, job_id, f"job {job_id}"
        self.stop_on_failure = stop_on_failure
        self.failures = TaskChanges(look.client, job_id, "failed")
        self.failed: dict[str, dict[str, Any]] = {}  # failed tasks named so far, by id
        self.known_failed: int | None = None  # the failed count at the last poll
        self.job_state: str | None = None
        self.polls = 0

    async def _read_job(self) -> None:
        try:
            reply = await self.look.client.call("job_get", {"job_id": self.job_id, "select": "id,state"})
        except BatchServiceError as exc:
            if exc.status == 404:
                raise Missing(str(exc)) from exc
            raise
        self.job_state = (reply.data or {}).get("state")
        if self.failures.watermark is None:
            self.failures.watermark = key_of(service_time(reply.headers))

    async def read(self) -> Reading:
        if self.polls % JOB_READ_EVERY == 0:
            await self._read_job()
        self.polls += 1
        counts = await self.look.task_counts(self.job_id)
        unfinished = counts["active"] + counts["running"]
        if unfinished == 0 and self.polls > 1:
            await self._read_job()  # confirm the end with the job's own state
        fresh = await self._new_failures(counts["failed"])
        total = counts["active"] + counts["running"] + counts["completed"]
        job_state = self.job_state
        state: dict[str, Any] = {"state": job_state, "tasks": counts}
        if self.failed:
            state["failedTasks"] = list(self.failed.values())[:SHOWN_FAILED]
        summary = (
            f"{counts['completed']}/{total} tasks complete ({counts['running']} running, "
            f"{counts['succeeded']} succeeded, {counts['failed']} failed); job {job_state}"
        )
        if fresh:
            summary += "; failed now: " + ", ".join(_failed_text(t) for t in fresh[:SHOWN_FAILED])
        progress, whole = counts["completed"], total or None
        if unfinished == 0 and counts["failed"] and job_state == "active":
            await self._read_job()  # a job being deleted ends its tasks as failed: say which it is
            job_state = state["state"] = self.job_state
        if job_state == "deleting":
            return Reading(True, state, summary, progress, whole, "the job is being deleted (its tasks ended with it)")
        if job_state in ("disabling", "disabled"):
            return Reading(True, state, summary, progress, whole, "the job is disabled")
        if self.stop_on_failure and counts["failed"]:
            named = ", ".join(_failed_text(t) for t in list(self.failed.values())[:SHOWN_FAILED])
            return Reading(True, state, summary, progress, whole, f"{counts['failed']} task(s) failed: {named}")
        done = job_state == "completed" or unfinished == 0
        problem = None
        if not total:
            ended = " and has ended (was onAllTasksComplete set before tasks were added?)"
            problem = "the job has no tasks" + (ended if job_state == "completed" else "")
        elif counts["failed"]:
            named = ", ".join(_failed_text(t) for t in list(self.failed.values())[:SHOWN_FAILED])
            problem = f"{counts['failed']} of {total} task(s) failed" + (f": {named}" if named else "")
        elif job_state == "completed" and unfinished:
            problem = f"the job ended with {unfinished} task(s) unfinished"
        return Reading(done, state, summary, progress, whole, problem)

    async def _new_failures(self, failed: int) -> list[dict[str, Any]]:
        """Name the tasks behind a grown failed count (those that failed before the wait, once)."""
        before, self.known_failed = self.known_failed, failed
        if not failed or (before is not None and failed <= before):
            return []
        if before is None:  # failures from before the wait: name a few, once
            page = await self.look.client.list(
                "task_list",
                {"job_id": self.job_id, "filter": STATE_FILTERS["failed"], "select": CHANGED_SELECT},
                max_items=SHOWN_FAILED,
            )
            found = page.items
        else:
            found = await self.failures.poll()
        fresh = [task_line(t) for t in found if t.get("id") not in self.failed]
        for line in fresh:
            self.failed[str(line["id"])] = line
        return fresh

    async def stuck(self, reading: Reading) -> str | None:
        """Active tasks that wait on failed tasks never run as things stand, so a job with failures,
        active tasks and nothing running is checked: two reads, once, when the wait times out."""
        counts = reading.state.get("tasks") or {}
        if not counts.get("active") or counts.get("running"):
            return None
        if not counts.get("failed"):
            return await self._poolless()
        waiting = await self.look.client.list(
            "task_list",
            {"job_id": self.job_id, "filter": "state eq 'active'", "select": "id,dependsOn"},
            max_items=BLOCKED_SAMPLE,
        )
        failed = await self.look.client.list(
            "task_list",
            {"job_id": self.job_id, "filter": STATE_FILTERS["failed"], "select": "id"},
            max_items=FAILED_SAMPLE,
        )
        failed_ids = {str(t.get("id")) for t in failed.items}
        blocked = [
            (str(task.get("id")), behind)
            for task in waiting.items
            if (behind := _failed_dependency(task.get("dependsOn") or {}, failed_ids)) is not None
        ]
        if not blocked:
            return None
        named = ", ".join(f"{task} on {behind}" for task, behind in blocked[:3])
        return (
            f"active tasks wait on failed ones and never run as things stand ({named}"
            f"{', ...' if len(blocked) > 3 else ''}): rerun the failed tasks (task_reactivate) or end the job"
        )

    async def _poolless(self) -> str | None:
        """Active tasks and nothing running: a pool with no nodes that asks for none never starts
        them (two reads, once, when the wait times out)."""
        job = await self.look.client.call("job_get", {"job_id": self.job_id, "select": "id,poolInfo"})
        pool_id = ((job.data or {}).get("poolInfo") or {}).get("poolId")
        if not pool_id:
            return None  # an auto pool: Batch makes it
        sizes = ("currentDedicatedNodes", "currentLowPriorityNodes", "targetDedicatedNodes", "targetLowPriorityNodes")
        fields = ",".join(("id", "enableAutoScale", *sizes))
        try:
            pool = (await self.look.client.call("pool_get", {"pool_id": pool_id, "select": fields})).data or {}
        except BatchServiceError as exc:
            if exc.status == 404:
                return f"its pool {pool_id} does not exist, so the tasks never start: create it (pool_add)"
            raise
        if pool.get("enableAutoScale"):
            return None
        if not any(int(pool.get(size) or 0) for size in sizes):
            return (
                f"pool {pool_id} has no nodes and asks for none, so the tasks never start: grow it (pool_resize) "
                "or enable autoscale"
            )
        return await self._unusable_nodes(pool_id)

    async def _unusable_nodes(self, pool_id: str) -> str | None:
        """Every node of the pool in a state that runs no task (a failed start task, unusable): one
        more read, of up to NODE_SAMPLE nodes."""
        page = await self.look.client.list(
            "node_list", {"pool_id": pool_id, "select": "id,state"}, max_items=NODE_SAMPLE
        )
        nodes = page.items
        if not nodes or page.continuation or any(str(n.get("state", "")).lower() not in BROKEN for n in nodes):
            return None
        states = Counter(str(n.get("state")) for n in nodes)
        counted = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
        first = next((n for n in nodes if str(n.get("state", "")).lower() == "starttaskfailed"), None)
        why = (
            f": a start task failed; its log says why (file_tail with pool_id={pool_id}, node_id={first.get('id')}, "
            "file_path=startup/stderr.txt)"
            if first
            else ""
        )
        return f"no node of pool {pool_id} can run tasks ({counted}), so the tasks never start{why}"


def _failed_dependency(depends_on: Mapping[str, Any], failed_ids: set[str]) -> str | None:
    """The first failed task among a task's dependencies (ids, then numeric id ranges), if any."""
    for task_id in depends_on.get("taskIds") or ():
        if str(task_id) in failed_ids:
            return str(task_id)
    for span in depends_on.get("taskIdRanges") or ():
        start, end = int(span.get("start", 0)), int(span.get("end", -1))
        for task_id in sorted(failed_ids):
            if task_id.isdigit() and start <= int(task_id) <= end:
                return task_id
    return None


def _failed_text(task: Mapping[str, Any]) -> str:
    code = task.get("exitCode")
    return f"{task.get('id')} (exit {code})" if code is not None else f"{task.get('id')} ({task.get('failure')})"


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
        problem = None
        failure = info.get("failureInfo") or {}
        if status == "completed" and (
            info.get("result") == "failure" or failure or info.get("exitCode") not in (0, None)
        ):
            code = info.get("exitCode")
            problem = "the task failed" + (f" with exit code {code}" if code is not None else "")
            if failure:
                problem += f" ({failure.get('code')}: {short(failure.get('message'), 160)})"
        return Reading(status == "completed", state, summary, step, len(TASK_STEPS) - 1, problem)

    async def stuck(self, reading: Reading) -> str | None:
        return None


def _pool_problem(pool: Mapping[str, Any], nodes: Mapping[str, int], errors: list[Mapping[str, Any]]) -> str | None:
    """Why a settled pool is not what was asked for: resize errors, nodes that cannot run tasks, or
    fewer nodes than its targets."""
    if errors:
        first = errors[0]
        return f"resize error {first.get('code')}: {short(first.get('message'), 160)}"
    broken = {state: n for state, n in nodes.items() if state.lower() in BROKEN}
    if broken:
        said = "node(s) that cannot run tasks: " + ", ".join(f"{n} {state}" for state, n in sorted(broken.items()))
        if any(state.lower() == "starttaskfailed" for state in broken):
            said += "; a failed start task's log is startup/stderr.txt on its node (file_tail with pool_id, node_id)"
        return said
    for kind, current, target in (
        ("dedicated", "currentDedicatedNodes", "targetDedicatedNodes"),
        ("spot", "currentLowPriorityNodes", "targetLowPriorityNodes"),
    ):
        have, want = int(pool.get(current) or 0), int(pool.get(target) or 0)
        if have < want:
            return f"it has {have} of {want} {kind} node(s)"
    return None


def choose_target(look: Lookups, args: Mapping[str, Any]) -> Target | None:
    pool_id, job_id, task_id = args.get("pool_id"), args.get("job_id"), args.get("task_id")
    if pool_id and not (job_id or task_id):
        return PoolTarget(look, pool_id)
    if job_id and not pool_id:
        if task_id:
            return TaskTarget(look, job_id, task_id)
        return JobTarget(look, job_id, stop_on_failure=bool(args.get("stop_on_failure")))
    return None


def _misfit(args: Mapping[str, Any]) -> str:
    """What is wrong with the ids given, for the refusal ('' when none was given)."""
    if args.get("pool_id"):
        other = "job_id" if args.get("job_id") else "task_id"
        return f": one target, not pool_id with {other}"
    if args.get("task_id"):
        return ": task_id needs its job_id"
    return ""


async def wait_for(ctx: CallContext, args: dict[str, Any]) -> types.CallToolResult:
    target = choose_target(Lookups(ctx.engine.client, ctx.engine.catalog), args)
    if target is None:
        return render.error_result(
            f"Give pool_id (a pool), job_id (all its tasks) or job_id with task_id (one task){_misfit(args)}."
        )
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
            try:
                blocked = await target.stuck(reading)
            except BatchError:
                blocked = None  # a hint, not the answer: the wait's own reading stands
            return _reply(target, reading, started, timed_out=True, blocked=blocked)
        await anyio.sleep(min(delay, remaining))
        delay = min(delay * POLL_GROWTH, MAX_POLL)


def _reply(
    target: Target,
    reading: Reading,
    started: float,
    *,
    timed_out: bool = False,
    gone: bool = False,
    blocked: str | None = None,
) -> types.CallToolResult:
    """A headline that leads with the outcome ("Done" only when the target reached the asked-for end
    state without errors), then the state as compact JSON."""
    waited = round(anyio.current_time() - started, 1)
    if gone:
        outcome, reason = "stopped", f"{target.name} was deleted while waiting"
        headline = f"Stopped after {waited:g} s: {reason}; its last state:"
    elif timed_out and blocked:
        outcome, reason = "timedOut", blocked
        headline = f"Timed out after {waited:g} s: {target.name}: {reading.summary}; {blocked}."
    elif timed_out:
        outcome, reason = "timedOut", None
        headline = (
            f"Timed out after {waited:g} s: {target.name}: {reading.summary}; call wait_for again to keep waiting."
        )
    elif reading.problem:
        outcome, reason = "stopped", reading.problem
        headline = f"Stopped after {waited:g} s: {target.name}: {reason}."
    else:
        outcome, reason = "done", None
        headline = f"Done after {waited:g} s: {target.name}: {reading.summary}"
    data: dict[str, Any] = {
        "target": target.name,
        "outcome": outcome,
        "done": outcome == "done",
        "timedOut": timed_out,
        "waitedSeconds": waited,
        "state": reading.state,
    }
    if reason:
        data["reason"] = reason
    if gone:
        data["deleted"] = True
    structured = render.json_result("", data).structured_content
    shown = dict(structured["state"])
    failed = shown.get("failedTasks")
    if isinstance(failed, list) and failed and all(_failed_text(t) in headline for t in failed):
        del shown["failedTasks"]  # the headline names each one; structuredContent keeps them whole
    return render.text_result(f"{headline}\n{render.minified(render.compact(shown))}", structured=structured)


TOOL = ServerTool(
    name="wait_for",
    title="Wait for pool, job or task",
    description="Wait until pool_id is steady, job_id's tasks all finish, or task_id (with job_id) finishes. "
    "Replies Done, Stopped (and why) or Timed out, with the state.",
    toolset="workflows",
    guard="read",
    input_schema=object_schema(
        {
            "pool_id": ID,
            "job_id": ID,
            "task_id": ID,
            "timeout": {"type": "integer", "description": "Seconds (180, max 900)"},
            "stop_on_failure": {"type": "boolean", "description": "With job_id: return at the first failed task"},
        }
    ),
    annotations=READ_ONLY_HINTS,
    handler=wait_for,
    uses=("pool_get", "job_get", "task_get"),
)
