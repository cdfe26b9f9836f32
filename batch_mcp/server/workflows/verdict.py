"""A one-sentence reading of why a task is where it is, from facts `task_diagnose` gathered.

Pure functions over plain dicts (task, node, pool, file tails), so each rule is easy to test and
the wording stays in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batch_mcp.server.workflows.common import short

# Exit codes with a well-known meaning on Linux nodes (128 + n is "killed by signal n").
EXIT_MEANINGS = {
    126: "the program is not executable",
    127: "command not found; Batch runs no shell, so use /bin/sh -c '...' for pipes, variables or builtins",
    134: "aborted (SIGABRT)",
    137: "killed (SIGKILL): out of memory, or terminated",
    139: "segmentation fault",
    143: "terminated (SIGTERM)",
}
# Failure codes that only restate the command's own exit code (the service's, and older names).
OWN_EXIT_CODES = frozenset({"FailureExitCode", "TaskFailedExitCode", "NonZeroExitCode"})
WAITING_NODE_STATES = frozenset({"creating", "starting", "waitingForStartTask", "rebooting", "reimaging"})
BROKEN_NODE_STATES = frozenset({"startTaskFailed", "unusable", "offline", "unknown"})


@dataclass
class Facts:
    task: Mapping[str, Any]
    node: Mapping[str, Any] | None = None  # the node the task ran on (or runs on), if still there
    job: Mapping[str, Any] | None = None  # read only when the task has not run yet
    pool: Mapping[str, Any] | None = None
    pool_nodes: dict[str, int] = field(default_factory=dict)  # nodes by state, for a waiting task
    stderr: str = ""
    stdout: str = ""
    startup_stderr: str = ""
    pool_missing: bool = False  # the job's pool was read and Batch said it does not exist
    dependencies: list[Mapping[str, Any]] = field(default_factory=list)  # tasks it depends on, as read


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return short(lines[-1], 200) if lines else ""


def verdict(facts: Facts) -> str:
    task = facts.task
    info = task.get("executionInfo") or {}
    state = task.get("state")
    retries = int(info.get("retryCount") or 0)
    again = f" It was retried {retries} time(s)." if retries else ""
    if state == "completed":
        return _completed(info, facts) + again
    if state in ("running", "preparing"):
        node = (task.get("nodeInfo") or {}).get("nodeId", "a node")
        doing = "Running" if state == "running" else "Preparing to run (job preparation, resource files)"
        since = f" since {info['startTime']}" if info.get("startTime") and state == "running" else ""
        return f"{doing} on {node}{since}.{again}"
    return _waiting(facts, retries) + again


def _completed(info: Mapping[str, Any], facts: Facts) -> str:
    failure = info.get("failureInfo") or {}
    code = info.get("exitCode")
    if info.get("result") == "success" or (code == 0 and not failure):
        return "Succeeded (exit code 0)."
    if failure.get("category") == "servererror":
        return (
            f"A Batch service fault ended it ({failure.get('code')}: {short(failure.get('message'), 160)}); "
            "reactivate the task to run it again."
        )
    node_note = _node_note(facts)
    if failure.get("code") and failure.get("code") not in OWN_EXIT_CODES and isinstance(code, int) and code != 0:
        # Batch ended the process (a time limit, a terminate): its exit code is the kill, not the cause.
        return (
            f"Batch ended it: {failure.get('code')}: {short(failure.get('message'), 200)} "
            f"(exit code {code})." + _output(facts) + node_note
        )
    if isinstance(code, int) and code != 0:
        text = f"The command failed with exit code {code}"
        meaning = EXIT_MEANINGS.get(code)
        if meaning:
            text += f" ({meaning})"
        return text + "." + _output(facts) + node_note
    if failure:
        return (
            f"Batch could not run the command: {failure.get('code')}: {short(failure.get('message'), 200)}" + node_note
        )
    return "Completed without a recorded result." + node_note


def _output(facts: Facts) -> str:
    """What the task's own output says: the last line of stderr, else of stdout."""
    line = last_line(facts.stderr)
    if line:
        return f" Its stderr ends with: {line}."
    out = last_line(facts.stdout)
    return f" Its stderr is empty; stdout ends with: {out}." if out else " Its stderr and stdout are empty."


def _node_note(facts: Facts) -> str:
    node = facts.node or {}
    start = node.get("startTaskInfo") or {}
    if start.get("result") == "failure" or node.get("state") == "startTaskFailed":
        line = last_line(facts.startup_stderr)
        said = f", its stderr ends with: {line}" if line else ""
        return (
            f" The start task of its node {node.get('id')} failed too (exit code {start.get('exitCode')}{said}); "
            "the node may lack what the command needs."
        )
    if node.get("state") in BROKEN_NODE_STATES:
        return f" Its node {node.get('id')} is {node.get('state')}."
    return ""


def _waiting(facts: Facts, retries: int) -> str:
    task = facts.task
    if retries:
        limit = (task.get("constraints") or {}).get("maxTaskRetryCount")
        of = f" of {limit}" if isinstance(limit, int) and limit >= 0 else ""
        return f"Waiting to be retried (retry {retries}{of} done); the last attempt failed."
    depends = task.get("dependsOn") or {}
    if depends.get("taskIds") or depends.get("taskIdRanges"):
        failed = [d for d in facts.dependencies if (d.get("executionInfo") or {}).get("result") == "failure"]
        if failed:
            first = failed[0]
            code = (first.get("executionInfo") or {}).get("exitCode")
            why = f" (exit code {code})" if code is not None else ""
            more = f" and {len(failed) - 1} more" if len(failed) > 1 else ""
            return (
                f"Blocked: it depends on {first.get('id')}, which failed{why}{more}; it runs only once that "
                "task is rerun (task_reactivate) and succeeds, unless the failed task's exitConditions let "
                "dependent tasks run."
            )
        return "Waiting for the tasks it depends on to succeed (dependsOn)."
    job = facts.job or {}
    if job.get("state") and job.get("state") != "active":
        return f"Not scheduled: its job is {job.get('state')}."
    pool = facts.pool
    if pool is None:
        pool_id = (job.get("poolInfo") or {}).get("poolId")
        if facts.pool_missing and pool_id:
            return (
                f"Waiting: the job's pool {pool_id} does not exist; create it, or point the job at an existing "
                "pool (job_update poolInfo, while the job is disabled)."
            )
        return "Waiting to be scheduled; its pool could not be read (an auto pool, or deleted?)."
    nodes = facts.pool_nodes
    pool_id = pool.get("id")
    if not sum(nodes.values()):
        target = int(pool.get("targetDedicatedNodes") or 0) + int(pool.get("targetLowPriorityNodes") or 0)
        if pool.get("allocationState") == "resizing" and target:
            return f"Waiting for pool {pool_id} to get nodes (resizing to {target})."
        return f"Waiting: pool {pool_id} has no nodes; resize it or enable autoscale."
    usable = nodes.get("idle", 0) + nodes.get("running", 0)
    if not usable:
        if any(state in BROKEN_NODE_STATES for state in nodes):
            log = (
                "; a failed start task's log is startup/stderr.txt on its node (file_tail with pool_id, node_id)"
                if nodes.get("startTaskFailed")
                else ""
            )
            return f"Waiting: no node of pool {pool_id} can run tasks ({_states(nodes)}){log}."
        return f"Waiting for pool {pool_id}'s nodes to become ready ({_states(nodes)})."
    if not nodes.get("idle"):
        return f"Waiting for a free slot: all usable nodes of pool {pool_id} are busy ({_states(nodes)})."
    return "Waiting to be scheduled; pool has idle nodes, so it should start shortly."


def _states(nodes: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(nodes.items()))
