"""`batch_overview`: the account at a glance in one call, sized for a model's context.

Pools with their nodes by state, the newest jobs (unfinished first) with task counts, and the
latest failed tasks of those jobs. Each part is capped, and the reply says when more exist, so
the size stays a few KB however large the account is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import mcp_types as types

from batch_mcp.batch.errors import BatchError
from batch_mcp.server import render
from batch_mcp.server.impact import Lookups, Missing
from batch_mcp.server.server_tools import ServerTool, object_schema
from batch_mcp.server.workflows.common import READ_ONLY_HINTS, gather, listed_node_states, merged_node_counts, short

if TYPE_CHECKING:
    from batch_mcp.server.server_tools import CallContext

POOLS_SHOWN = 15
JOBS_SHOWN = 15
FAILURES_SHOWN = 8
FAILURES_PER_JOB = 3
SCAN_LIMIT = 1000  # entities read to choose what to show
POOL_SELECT = (
    "id,state,allocationState,vmSize,enableAutoScale,currentDedicatedNodes,currentLowPriorityNodes,"
    "targetDedicatedNodes,targetLowPriorityNodes,resizeErrors"
)
JOB_SELECT = "id,state,creationTime,poolInfo"
FAILURE_FILTER = "executionInfo/result eq 'failure'"
FAILURE_SELECT = "id,executionInfo,nodeInfo"


async def overview(ctx: CallContext, args: dict[str, Any]) -> types.CallToolResult:
    look = Lookups(ctx.engine.client, ctx.engine.catalog)
    pools, active, listed = await gather(
        [
            lambda: look.items("pool_list", {"select": POOL_SELECT}, limit=SCAN_LIMIT),
            # Active jobs on their own too: in an account with thousands of old jobs, one scan may miss them.
            lambda: look.items("job_list", {"select": JOB_SELECT, "filter": "state eq 'active'"}, limit=SCAN_LIMIT),
            lambda: look.items("job_list", {"select": JOB_SELECT}, limit=SCAN_LIMIT),
        ]
    )
    jobs = list({str(j.get("id")).lower(): j for j in [*listed, *active]}.values())
    pools.sort(key=lambda p: str(p.get("id", "")).lower())
    jobs.sort(key=lambda j: str(j.get("creationTime") or ""), reverse=True)
    jobs.sort(key=lambda j: j.get("state") == "completed")  # stable: unfinished first, newest first within
    shown_pools, shown_jobs = pools[:POOLS_SHOWN], jobs[:JOBS_SHOWN]

    node_states = await _node_states(look, [p["id"] for p in shown_pools])
    counts = await gather(lambda job=job: _task_counts(look, job["id"]) for job in shown_jobs)
    failing = [job["id"] for job, c in zip(shown_jobs, counts, strict=True) if c and c.get("failed")]
    failures = await _failures(look, failing)

    data: dict[str, Any] = {
        "pools": [_pool(p, node_states.get(str(p["id"]).lower())) for p in shown_pools],
        "jobs": [_job(j, c) for j, c in zip(shown_jobs, counts, strict=True)],
        "recentFailures": failures,
    }
    more = {
        k: n - s for k, n, s in (("pools", len(pools), len(shown_pools)), ("jobs", len(jobs), len(shown_jobs))) if n > s
    }
    if more:
        data["notShown"] = more  # a lower bound when SCAN_LIMIT was reached
    nodes = sum(sum(states.values()) for states in node_states.values())
    headline = (
        f"{len(pools)} pool(s) with {nodes} node(s), {len(jobs)} job(s), "
        f"{sum(int(c.get('failed', 0)) for c in counts if c)} failed task(s) in the jobs shown."
    )
    return render.json_result(headline, data)


async def _node_states(look: Lookups, pool_ids: list[str]) -> dict[str, dict[str, int]]:
    """Nodes by state per pool (lower-cased id) from one account-wide node-counts listing."""
    wanted = {pid.lower() for pid in pool_ids}
    try:
        rows = await look.items("pool_list_node_counts", {}, limit=SCAN_LIMIT)
    except (BatchError, Missing):
        rows = []
    out = {str(row.get("poolId", "")).lower(): merged_node_counts(row) for row in rows}
    out = {pid: states for pid, states in out.items() if pid in wanted}
    missing = [pid for pid in pool_ids if pid.lower() not in out]
    if missing:  # node counts unavailable (or lagging): list those pools' nodes
        listed = await gather(lambda pid=pid: listed_node_states(look, pid, SCAN_LIMIT) for pid in missing)
        out.update({pid.lower(): states for pid, states in zip(missing, listed, strict=True)})
    return out


async def _task_counts(look: Lookups, job_id: str) -> dict[str, int] | None:
    try:
        return await look.task_counts(job_id)
    except (BatchError, Missing):
        return None


async def _failures(look: Lookups, job_ids: list[str]) -> list[dict[str, Any]]:
    async def of_job(job_id: str) -> list[dict[str, Any]]:
        try:
            page = await look.client.list(
                "task_list",
                {"job_id": job_id, "filter": FAILURE_FILTER, "select": FAILURE_SELECT},
                max_items=FAILURES_PER_JOB,
            )
        except BatchError:
            return []
        return [_failure(job_id, task) for task in page.items]

    found = [f for per_job in await gather(lambda j=j: of_job(j) for j in job_ids) for f in per_job]
    found.sort(key=lambda f: str(f.get("ended") or ""), reverse=True)
    return found[:FAILURES_SHOWN]


def _failure(job_id: str, task: Mapping[str, Any]) -> dict[str, Any]:
    info = task.get("executionInfo") or {}
    failure = info.get("failureInfo") or {}
    out: dict[str, Any] = {"job": job_id, "task": task.get("id"), "exitCode": info.get("exitCode")}
    if failure:
        out["failure"] = short(f"{failure.get('code', '')}: {failure.get('message', '')}", 120)
    out["node"] = (task.get("nodeInfo") or {}).get("nodeId")
    out["ended"] = info.get("endTime")
    return out


def _pool(pool: Mapping[str, Any], states: dict[str, int] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": pool.get("id"), "vmSize": pool.get("vmSize")}
    if pool.get("state") not in (None, "active"):
        out["state"] = pool.get("state")
    out["allocationState"] = pool.get("allocationState")
    dedicated = (int(pool.get("currentDedicatedNodes") or 0), int(pool.get("targetDedicatedNodes") or 0))
    spot = (int(pool.get("currentLowPriorityNodes") or 0), int(pool.get("targetLowPriorityNodes") or 0))
    out["dedicated"] = f"{dedicated[0]}/{dedicated[1]}"
    if any(spot):
        out["spot"] = f"{spot[0]}/{spot[1]}"
    if pool.get("enableAutoScale"):
        out["autoScale"] = True
    out["nodes"] = states or {}
    errors = [e.get("code") for e in pool.get("resizeErrors") or [] if isinstance(e, Mapping)]
    if errors:
        out["resizeErrors"] = errors
    return out


def _job(job: Mapping[str, Any], counts: dict[str, int] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": job.get("id"),
        "state": job.get("state"),
        "pool": (job.get("poolInfo") or {}).get("poolId") or ("auto" if job.get("poolInfo") else None),
    }
    if counts is not None:
        out["tasks"] = {k: counts[k] for k in ("active", "running", "succeeded", "failed") if counts.get(k)}
    return out


TOOL = ServerTool(
    name="batch_overview",
    title="Account overview",
    description="Pools with nodes by state, newest jobs with task counts and recent failed tasks, in one short reply.",
    toolset="workflows",
    guard="read",
    input_schema=object_schema({}),
    annotations=READ_ONLY_HINTS,
    handler=overview,
    uses=("pool_list", "job_list"),
)
