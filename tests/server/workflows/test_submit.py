"""tasks_submit: thousands of tasks land exactly once, through faults, and resubmitting is harmless."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mcp
import pytest

from tests.server.conftest import call, text
from tests.server.workflows.conftest import (
    ERA_VERSIONS,
    FaultyTransport,
    ProgressLog,
    add_pool,
    ok,
    workflow_client,
)

pytestmark = pytest.mark.anyio

MANY = 5000


def tasks(count: int, prefix: str = "t") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i:05d}", "commandLine": f"/bin/echo {i}"} for i in range(count)]


async def idle_job(client: mcp.Client, job_id: str = "bulk") -> None:
    """A job on a pool without nodes, so submitted tasks stay put and can be counted."""
    await add_pool(client, "empty", 0)
    await ok(client, "job_add", {"id": job_id, "poolInfo": {"poolId": "empty"}})


async def task_ids(client: mcp.Client, job_id: str) -> list[str]:
    ids: list[str] = []
    args: dict[str, Any] = {"job_id": job_id, "select": "id", "max_results": 1000}
    while True:
        page = (await ok(client, "task_list", args)).structured_content or {}
        ids += [item["id"] for item in page["items"]]
        if not page.get("continuation"):
            return ids
        args["continuation"] = page["continuation"]


async def active_count(client: mcp.Client, job_id: str) -> int:
    counts = (await ok(client, "job_get_task_counts", {"job_id": job_id})).structured_content or {}
    return counts.get("taskCounts", counts)["active"]


@pytest.mark.parametrize(("era", "version"), ERA_VERSIONS)
async def test_five_thousand_tasks_land_once_each_with_progress(tmp_path: Path, era: str, version: str) -> None:
    async with workflow_client(tmp_path, era, api_version=version) as client:
        await idle_job(client)
        progress = ProgressLog()
        result = await client.call_tool(
            "tasks_submit", {"job_id": "bulk", "tasks": tasks(MANY)}, progress_callback=progress
        )
        assert not result.is_error, text(result)
        data = result.structured_content or {}
        assert (data["added"], data["failed"], data["alreadyExisted"]) == (MANY, 0, 0)
        assert data["requests"] >= MANY // 100
        ids = await task_ids(client, "bulk")
        assert len(ids) == MANY and set(ids) == {t["id"] for t in tasks(MANY)}
        assert await active_count(client, "bulk") == MANY
        done = [event[0] for event in progress.events]
        assert done == sorted(set(done)) and done[-1] == MANY and progress.events[-1][1] == MANY


async def test_faults_before_and_after_the_service_still_add_each_task_exactly_once(tmp_path: Path) -> None:
    def plan(n: int) -> str | None:
        return {1: "500-after", 2: "servererror-after", 4: "503-before", 6: "timeout-after"}.get(n % 7)

    transport = FaultyTransport(plan)
    async with workflow_client(tmp_path, transport=transport) as client:
        await idle_job(client)
        result = await call(client, "tasks_submit", {"job_id": "bulk", "tasks": tasks(MANY)})
        assert not result.is_error, text(result)
        data = result.structured_content or {}
        assert (data["added"], data["failed"]) == (MANY, 0), text(result)
        assert set(transport.injected) == {"500-after", "servererror-after", "503-before", "timeout-after"}
        ids = await task_ids(client, "bulk")
        assert len(ids) == MANY and set(ids) == {t["id"] for t in tasks(MANY)}
        assert await active_count(client, "bulk") == MANY


async def test_resubmitting_leaves_existing_tasks_alone_and_adds_only_new_ones(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await idle_job(client)
        await ok(client, "tasks_submit", {"job_id": "bulk", "tasks": tasks(150)})
        again = await ok(client, "tasks_submit", {"job_id": "bulk", "tasks": tasks(200)})
        data = again.structured_content or {}
        assert (data["added"], data["alreadyExisted"], data["failed"]) == (50, 150, 0)
        assert await active_count(client, "bulk") == 200


async def test_invalid_tasks_are_named_by_index_and_path_and_nothing_is_sent(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await idle_job(client)
        batch = tasks(300)
        batch[7]["constraints"] = {"maxTaskRetryCount": "three"}
        batch[250]["comandLine"] = "typo"
        batch[299]["id"] = batch[3]["id"].upper()
        result = await call(client, "tasks_submit", {"job_id": "bulk", "tasks": batch})
        assert result.is_error
        message = text(result)
        assert "$.tasks[7].constraints.maxTaskRetryCount" in message
        assert "$.tasks[250].comandLine" in message
        assert "$.tasks[299].id" in message
        assert "3 of 300" in message
        assert await active_count(client, "bulk") == 0


async def test_a_missing_job_fails_every_task_with_one_reason(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        result = await call(client, "tasks_submit", {"job_id": "nosuchjob", "tasks": tasks(250)})
        assert result.is_error
        data = result.structured_content or {}
        assert data["added"] == 0 and data["failed"] == 250
        assert list(data["failuresByCode"]) == ["JobNotFound"]
        assert len(data["failures"]) <= 10
