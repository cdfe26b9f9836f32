"""What a destructive or scaling call would do, computed from live state before it runs.

These read-only lookups feed the confirmation question ("deleting job J deletes 1,200 tasks, 40
of them running") and the scale dry-run plan. They go through the same client and catalog as any
tool call; a lookup that fails degrades to a plainer question instead of blocking the call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from batch_mcp.batch.errors import BatchError, BatchServiceError
from batch_mcp.catalog import Catalog
from batch_mcp.server.execution import visible

if TYPE_CHECKING:
    from batch_mcp.batch import BatchClient

NODE_SCAN_LIMIT = 2000
TASK_EFFECT = {
    "requeue": "requeued: stopped now and run again from the start once a node has room",
    "terminate": "killed and marked failed",
    "taskcompletion": "allowed to finish before their node goes",
    "retaineddata": "allowed to finish; the node stays until task data retention ends",
}
STOPS_WORK = frozenset({"requeue", "terminate"})


class Missing(BatchError):
    """The entity the call targets does not exist (the call itself would answer 404)."""


class NothingToDo(BatchError):
    """The entity is already where the call would take it (a completed task to terminate, a pool
    that is not resizing to stop): there is no question to ask, and Batch would refuse the call."""


class Lookups:
    """Read-only reads by tool name, tolerant of tools a catalog version lacks."""

    def __init__(self, client: BatchClient, catalog: Catalog) -> None:
        self.client = client
        self.catalog = catalog

    async def get(self, tool: str, args: Mapping[str, Any]) -> dict[str, Any]:
        if tool not in self.catalog:
            return {}
        try:
            result = await self.client.call(tool, args)
        except BatchServiceError as exc:
            if exc.status == 404:
                raise Missing(str(exc)) from exc
            raise
        return dict(result.data or {})

    async def items(self, tool: str, args: Mapping[str, Any], limit: int = NODE_SCAN_LIMIT) -> list[dict[str, Any]]:
        if tool not in self.catalog:
            return []
        out: list[dict[str, Any]] = []
        try:
            async for item in self.client.iter_items(tool, args):
                out.append(item)
                if len(out) >= limit:
                    break
        except BatchServiceError as exc:
            if exc.status == 404:
                raise Missing(str(exc)) from exc
            raise
        return out

    async def task_counts(self, job_id: str) -> dict[str, int]:
        data = await self.get("job_get_task_counts", {"job_id": job_id})
        counts = data.get("taskCounts", data)  # 2018 returns the counts at the top level
        return {k: int(counts.get(k, 0)) for k in ("active", "running", "completed", "succeeded", "failed")}

    async def nodes(self, pool_id: str) -> list[dict[str, Any]]:
        return await self.items(
            "node_list", {"pool_id": pool_id, "select": "id,state,runningTasksCount,recentTasks,isDedicated"}
        )


def _running_on(node: Mapping[str, Any]) -> list[str]:
    tasks = [t for t in node.get("recentTasks") or [] if t.get("taskState") == "running"]
    return [f"{t.get('jobId')}/{t.get('taskId')}" for t in tasks]


def _running_count(node: Mapping[str, Any]) -> int:
    return int(node.get("runningTasksCount") or len(_running_on(node)))


# -- confirmation questions -----------------------------------------------------------------


async def describe_impact(look: Lookups, tool: str, args: Mapping[str, Any], title: str) -> str:
    """A one-paragraph question for the user. Raises Missing when there is nothing to affect."""
    try:
        return await _impact(look, tool, args, title)
    except (Missing, NothingToDo):
        raise
    except BatchError as exc:
        return f"{title} ({_ids(args)}). Its current state could not be read ({exc}); confirm anyway?"


def _ids(args: Mapping[str, Any]) -> str:
    parts = [
        f"{k}={visible(str(v))}"
        for k, v in args.items()
        if k.endswith("_id") or k in ("file_path", "user_name", "thumbprint")
    ]
    return ", ".join(parts) or "no ids"


async def _impact(look: Lookups, tool: str, args: Mapping[str, Any], title: str) -> str:
    # the schema has required each id these tools take, so none is None here
    pool: Any = args.get("pool_id")
    job: Any = args.get("job_id")
    node: Any = args.get("node_id")
    if tool == "pool_delete":
        info = await look.get(
            "pool_get", {"pool_id": pool, "select": "id,currentDedicatedNodes,currentLowPriorityNodes"}
        )
        nodes = await look.nodes(pool)
        running = sum(_running_count(n) for n in nodes)
        count = len(nodes) or int(info.get("currentDedicatedNodes", 0)) + int(info.get("currentLowPriorityNodes", 0))
        return (
            f"Delete pool {pool}? Its {count} node(s) are released, {running} running task(s) on them are "
            f"stopped, and every file on those nodes is lost."
        )
    if tool == "pool_stop_resize":
        info = await look.get("pool_get", {"pool_id": pool})
        if info.get("allocationState") in ("steady", "stopping"):
            raise NothingToDo(f"pool {pool} is not resizing (its allocation state is {info.get('allocationState')})")
        return (
            f"Stop resizing pool {pool}? It stays at {info.get('currentDedicatedNodes', 0)} dedicated and "
            f"{info.get('currentLowPriorityNodes', 0)} spot node(s) instead of the target "
            f"{info.get('targetDedicatedNodes', 0)}/{info.get('targetLowPriorityNodes', 0)}."
        )
    if tool == "pool_remove_nodes":
        wanted = set(args.get("nodeList") or [])
        nodes = [n for n in await look.nodes(pool) if n.get("id") in wanted]
        running = sum(_running_count(n) for n in nodes)
        option = args.get("nodeDeallocationOption", "requeue")
        return (
            f"Remove {len(wanted)} node(s) from pool {pool}? {running} running task(s) on them will be "
            f"{TASK_EFFECT.get(option, option)} (nodeDeallocationOption={option})."
        )
    if tool == "pool_upgrade_os":
        nodes = await look.nodes(pool)
        running = sum(_running_count(n) for n in nodes)
        return (
            f"Upgrade the OS of pool {pool}? All {len(nodes)} node(s) restart and {running} running task(s) "
            f"are interrupted."
        )
    if tool in ("job_delete", "job_terminate", "job_disable"):
        state = (await look.get("job_get", {"job_id": job, "select": "id,state"})).get("state")
        already = {
            "job_delete": {"deleting": "is already being deleted"},
            "job_terminate": {"completed": "has already completed", "terminating": "is already terminating"},
            "job_disable": {"disabled": "is already disabled", "disabling": "is already being disabled"},
        }[tool]
        if state in already:
            raise NothingToDo(f"job {job} {already[state]}")
        counts = await look.task_counts(job)
        if tool == "job_delete" and not sum(counts[k] for k in ("active", "running", "completed")):
            return f"Delete job {job}? It has no tasks. This cannot be undone."
        if tool == "job_delete":
            return (
                f"Delete job {job} and all its {sum(counts[k] for k in ('active', 'running', 'completed'))} "
                f"task(s) ({counts['running']} running, {counts['active']} waiting) together with their output "
                f"files on the nodes? This cannot be undone."
            )
        if tool == "job_terminate":
            ends = [f"{counts['running']} running task(s) are killed"] if counts["running"] else []
            ends += [f"{counts['active']} waiting task(s) never run"] if counts["active"] else []
            return (
                f"Terminate job {job}? {' and '.join(ends).capitalize() or 'No task is running or waiting'}. "
                "The job and its task records remain, marked completed."
            )
        option = args.get("disableTasks", "requeue")
        effect = {
            "requeue": "stopped and requeued",
            "terminate": "killed and marked failed",
            "wait": "left to finish",
        }.get(option, option)
        return f"Disable job {job}? No new tasks start, and its {counts['running']} running task(s) are {effect}."
    if tool in ("job_schedule_delete", "job_schedule_terminate"):
        schedule_id = args.get("job_schedule_id")
        info = await look.get("job_schedule_get", {"job_schedule_id": schedule_id})
        recent = ((info.get("executionInfo") or {}).get("recentJob") or {}).get("id")
        running = (await look.task_counts(recent))["running"] if recent else 0
        verb = "Delete" if tool == "job_schedule_delete" else "Terminate"
        what = "every job and task it created, with their files" if tool == "job_schedule_delete" else "its active job"
        current = f" The current job {recent} has {running} running task(s)." if recent else ""
        return f"{verb} job schedule {schedule_id} and {what}?{current}"
    if tool in ("task_delete", "task_terminate"):
        task = await look.get(
            "task_get", {"job_id": job, "task_id": args.get("task_id"), "select": "id,state,nodeInfo"}
        )
        if tool == "task_terminate" and task.get("state") == "completed":
            raise NothingToDo(f"task {args.get('task_id')} of job {job} has already completed")
        where = (task.get("nodeInfo") or {}).get("nodeId")
        place = f" on node {where}" if where else ""
        action = "killed and deleted with its files" if tool == "task_delete" else "killed and marked completed"
        return (
            f"{title}: task {args.get('task_id')} of job {job} is {task.get('state', 'unknown')}{place}; it will "
            f"be {action}. Continue?"
        )
    if tool in ("node_reboot", "node_reimage", "node_deallocate", "node_disable_scheduling"):
        info = await look.get(
            "node_get", {"pool_id": pool, "node_id": node, "select": "id,state,runningTasksCount,recentTasks"}
        )
        option_field = {
            "node_reboot": "nodeRebootOption",
            "node_reimage": "nodeReimageOption",
            "node_deallocate": "nodeDeallocateOption",
            "node_disable_scheduling": "nodeDisableSchedulingOption",
        }[tool]
        option = args.get(option_field, "requeue")
        effect = TASK_EFFECT.get(option, option)
        wipe = " Its disk is wiped." if tool == "node_reimage" else ""
        return (
            f"{title} {node} in pool {pool}? It is {info.get('state', 'unknown')} with "
            f"{_running_count(info)} running task(s), which will be {effect} ({option_field}={option}).{wipe}"
        )
    if tool in FILE_DELETES:
        return await _file_delete(look, tool, args)
    return f"{title} ({_ids(args)})? This cannot be undone."


# A file delete's reads: the file's properties (is it a folder?), then, for a recursive delete, the files below it.
FILE_DELETES = {
    "task_file_delete": ("task_file_get_properties", "task_file_list"),
    "node_file_delete": ("node_file_get_properties", "node_file_list"),
}


async def _file_delete(look: Lookups, tool: str, args: Mapping[str, Any]) -> str:
    """What a file delete removes: one file, an empty folder, or a folder with everything in it."""
    properties_tool, list_tool = FILE_DELETES[tool]
    owner = {k: args[k] for k in ("job_id", "task_id", "pool_id", "node_id") if k in args}
    path = str(args["file_path"]).strip("/")
    shown = visible(path)
    where = (
        f"task {args['task_id']} of job {args['job_id']}"
        if "task_id" in owner
        else f"node {args.get('node_id')} in pool {args.get('pool_id')}"
    )
    properties = await look.get(properties_tool, {**owner, "file_path": args["file_path"]})
    if not properties.get("isDirectory"):
        size = properties.get("contentLength")
        bytes_ = f" ({size:,} bytes)" if isinstance(size, int) else ""
        return f"Delete file {shown} of {where}{bytes_}? This cannot be undone."
    if not args.get("recursive"):
        return f"Delete folder {shown} of {where} (Batch deletes it only if it is empty)? This cannot be undone."
    listed = await look.items(list_tool, {**owner, "recursive": True})
    below = (
        [f for f in listed if str(f.get("name", "")).startswith(path + "/") and not f.get("isDirectory")]
        if path
        else [f for f in listed if not f.get("isDirectory")]
    )
    size = sum(int((f.get("properties") or {}).get("contentLength") or 0) for f in below)
    more = " or more" if len(listed) >= NODE_SCAN_LIMIT else ""
    return (
        f"Delete folder {shown} of {where} and everything in it: {len(below):,}{more} files, {size:,} bytes "
        "(recursive=true)? This cannot be undone."
    )


# -- scale plans -----------------------------------------------------------------------------


@dataclass
class ScalePlan:
    """What a scale call would do. `stops_work` asks for confirmation; `refusal` is our own
    refusal (e.g. over --max-nodes); `batch_would_refuse` is what the service will say."""

    plan: dict[str, Any] = field(default_factory=dict)
    stops_work: bool = False
    refusal: str | None = None
    batch_would_refuse: str | None = None

    def question(self, tool: str) -> str:
        p = self.plan
        affected = p.get("affectedTasks", {})
        return (
            f"{tool} on pool {p.get('poolId')}: {p.get('summary', '')} {affected.get('running', 0)} running "
            f"task(s) would be {affected.get('effect', 'affected')}. Continue?"
        )


_RESULT_PAIR = re.compile(r"\$(TargetDedicatedNodes|TargetLowPriorityNodes)=([0-9.]+)")


def formula_targets(results: str) -> tuple[int, int] | None:
    """(dedicated, spot) from an AutoScaleRun `results` string."""
    pairs = {name: int(float(value)) for name, value in _RESULT_PAIR.findall(results or "")}
    if not pairs:
        return None
    return pairs.get("TargetDedicatedNodes", 0), pairs.get("TargetLowPriorityNodes", 0)


async def scale_plan(look: Lookups, tool: str, args: Mapping[str, Any], max_nodes: int | None) -> ScalePlan:
    pool_id: Any = args.get("pool_id")  # required by every scale tool's schema
    pool = await look.get("pool_get", {"pool_id": pool_id})
    current = (int(pool.get("currentDedicatedNodes", 0)), int(pool.get("currentLowPriorityNodes", 0)))
    plan: dict[str, Any] = {
        "poolId": pool_id,
        "allocationState": pool.get("allocationState"),
        "autoScale": bool(pool.get("enableAutoScale")),
        "current": {"dedicated": current[0], "spot": current[1]},
        "target": {
            "dedicated": int(pool.get("targetDedicatedNodes", 0)),
            "spot": int(pool.get("targetLowPriorityNodes", 0)),
        },
    }
    result = ScalePlan(plan=plan)
    requested: tuple[int, int] | None = None
    option = args.get("nodeDeallocationOption", "requeue")
    nodes_going: list[dict[str, Any]] = []

    if tool == "pool_resize":
        target = plan["target"]
        requested = (
            int(args.get("targetDedicatedNodes", target["dedicated"])),
            int(args.get("targetLowPriorityNodes", target["spot"])),
        )
        missing = [name for name in ("targetDedicatedNodes", "targetLowPriorityNodes") if name not in args]
        if missing:
            plan["note"] = f"{' and '.join(missing)} not given: counted as the current target; pass both to be explicit"
        if pool.get("allocationState") != "steady":
            result.batch_would_refuse = f"the pool is {pool.get('allocationState')}; Batch answers 409 until steady"
        elif pool.get("enableAutoScale"):
            result.batch_would_refuse = "autoscale is on; Batch refuses a manual resize (409)"
        shrink_by = sum(current) - sum(requested)
        if shrink_by > 0:
            nodes = sorted(await look.nodes(pool_id), key=_running_count)
            nodes_going = nodes[:shrink_by]
            plan["nodeChoice"] = "Batch picks the nodes; estimated as the least busy"
    elif tool == "pool_remove_nodes":
        wanted = set(args.get("nodeList") or [])
        pool_nodes = await look.nodes(pool_id)
        nodes_going = [n for n in pool_nodes if n.get("id") in wanted]
        unknown = sorted(wanted - {n.get("id") for n in nodes_going})
        if unknown and len(pool_nodes) < NODE_SCAN_LIMIT:  # every node was read: they are not there
            result.refusal = (
                f"{tool}: pool {pool_id} has no node {', '.join(unknown)}; Batch would answer 404 NodeNotFound "
                "(node_list names its nodes)."
            )
        elif unknown:
            result.batch_would_refuse = f"not nodes of this pool: {', '.join(unknown)}"
        elif pool.get("allocationState") != "steady":
            result.batch_would_refuse = f"the pool is {pool.get('allocationState')}; Batch answers 409 until steady"
        requested = (
            max(current[0] - sum(1 for n in nodes_going if n.get("isDedicated", True)), 0),
            max(current[1] - sum(1 for n in nodes_going if n.get("isDedicated") is False), 0),
        )
    elif tool == "pool_enable_auto_scale":
        formula = args.get("autoScaleFormula") or pool.get("autoScaleFormula")
        if pool.get("enableAutoScale"):
            run = await look.get("pool_evaluate_auto_scale", {"pool_id": pool_id, "autoScaleFormula": formula})
            plan["evaluation"] = {k: run.get(k) for k in ("results", "error") if run.get(k)}
            requested = formula_targets(run.get("results", ""))
        else:
            plan["evaluation"] = (
                "not possible before autoscale is on; Batch evaluates the formula as soon as it is enabled"
            )
            if pool.get("allocationState") != "steady":
                result.batch_would_refuse = (
                    f"the pool is {pool.get('allocationState')}; Batch turns autoscale on only while it is steady (409)"
                )
    elif tool == "pool_disable_auto_scale":
        plan["summary"] = f"autoscale off; the pool keeps {sum(current)} node(s) until resized"

    if requested is not None:
        plan["requested"] = {"dedicated": requested[0], "spot": requested[1]}
        plan["summary"] = f"{sum(current)} -> {sum(requested)} node(s)."
        if max_nodes is not None and sum(requested) > max_nodes:
            result.refusal = (
                f"{tool} asks for {sum(requested)} nodes; this server allows at most {max_nodes} (--max-nodes)."
            )
    if nodes_going:
        running = [t for n in nodes_going for t in _running_on(n)]
        count = sum(_running_count(n) for n in nodes_going)
        plan["nodesRemoved"] = [n.get("id") for n in nodes_going]
        plan["affectedTasks"] = {
            "running": count,
            "tasks": running[:20],
            "nodeDeallocationOption": option,
            "effect": TASK_EFFECT.get(option, option),
        }
        if requested is not None and not sum(requested) and option == "requeue":
            plan["affectedTasks"]["effect"] += " (this leaves the pool no node: they wait until it grows)"
        result.stops_work = count > 0 and option in STOPS_WORK
    if result.batch_would_refuse:
        plan["batchWouldRefuse"] = result.batch_would_refuse
    if result.refusal:
        plan["refusedHere"] = result.refusal
    return result
