"""batch_overview: pools, jobs and failures at a glance, and a reply that stays small."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.conftest import text
from tests.server.workflows.conftest import ERA_VERSIONS, add_pool, ok, workflow_client

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("era", "version"), ERA_VERSIONS)
async def test_the_overview_shows_nodes_by_state_task_counts_and_recent_failures(
    tmp_path: Path, era: str, version: str
) -> None:
    async with workflow_client(tmp_path, era, api_version=version) as client:
        await add_pool(client, "empty", 0)
        await ok(client, "job_add", {"id": "fine", "poolInfo": {"poolId": "local"}})
        await ok(client, "job_add", {"id": "broken", "poolInfo": {"poolId": "local"}})
        await ok(client, "job_add", {"id": "queued", "poolInfo": {"poolId": "empty"}})
        await ok(
            client,
            "tasks_submit",
            {"job_id": "fine", "tasks": [{"id": f"ok{i}", "commandLine": "/bin/true"} for i in range(3)]},
        )
        await ok(
            client,
            "tasks_submit",
            {
                "job_id": "broken",
                "tasks": [{"id": f"bad{i}", "commandLine": f"/bin/sh -c 'exit {10 + i}'"} for i in range(2)],
            },
        )
        await ok(client, "task_add", {"job_id": "queued", "id": "waiting", "commandLine": "/bin/true"})
        for job in ("fine", "broken"):
            await ok(client, "wait_for", {"job_id": job, "timeout": 60})

        result = await ok(client, "batch_overview")
        data = result.structured_content or {}
        pools = {p["id"]: p for p in data["pools"]}
        assert pools["local"]["nodes"] == {"idle": 1} and pools["local"]["dedicated"] == "1/1"
        assert pools["empty"]["nodes"] == {} and pools["empty"]["dedicated"] == "0/0"
        jobs = {j["id"]: j for j in data["jobs"]}
        assert jobs["fine"]["tasks"] == {"succeeded": 3}
        assert jobs["broken"]["tasks"] == {"failed": 2}
        assert jobs["queued"]["tasks"] == {"active": 1} and jobs["queued"]["pool"] == "empty"
        failures = {(f["job"], f["task"]): f["exitCode"] for f in data["recentFailures"]}
        assert failures == {("broken", "bad0"): 10, ("broken", "bad1"): 11}
        assert text(result).startswith("2 pool(s) with 1 node(s), 3 job(s), 2 failed task(s)")


async def test_a_large_account_is_summarised_within_a_few_kilobytes(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        for i in range(25):
            await add_pool(client, f"pool-with-a-long-name-{i:02d}", 0, steady=False)
            await ok(client, "job_add", {"id": f"job-with-a-long-name-{i:02d}", "poolInfo": {"poolId": "local"}})
        result = await ok(client, "batch_overview")
        data = result.structured_content or {}
        assert len(data["pools"]) < 26 and len(data["jobs"]) < 25
        assert data["notShown"] == {"pools": 26 - len(data["pools"]), "jobs": 25 - len(data["jobs"])}
        assert len(text(result).encode()) < 4096
