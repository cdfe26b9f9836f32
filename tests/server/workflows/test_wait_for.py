"""wait_for: progress while waiting, the final state when done, the current state on timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.conftest import call, text
from tests.server.workflows.conftest import ERA_VERSIONS, ProgressLog, add_pool, ok, run_task, workflow_client

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("era", "version"), ERA_VERSIONS)
async def test_waiting_for_a_pool_reports_progress_and_returns_it_steady_with_nodes_idle(
    tmp_path: Path, era: str, version: str
) -> None:
    async with workflow_client(tmp_path, era, api_version=version) as client:
        await add_pool(client, "grow", 2, steady=False)
        progress = ProgressLog()
        result = await client.call_tool("wait_for", {"pool_id": "grow", "timeout": 60}, progress_callback=progress)
        assert not result.is_error, text(result)
        data = result.structured_content or {}
        assert data["done"] is True and data["timedOut"] is False
        assert data["state"]["allocationState"] == "steady"
        assert data["state"]["nodes"] == {"idle": 2}
        assert progress.events and all("pool grow" in (message or "") for _, _, message in progress.events)


@pytest.mark.parametrize(("era", "version"), ERA_VERSIONS)
async def test_waiting_for_a_job_returns_when_all_its_tasks_have_completed(
    tmp_path: Path, era: str, version: str
) -> None:
    async with workflow_client(tmp_path, era, api_version=version) as client:
        await ok(client, "job_add", {"id": "work", "poolInfo": {"poolId": "local"}})
        batch = [{"id": f"t{i}", "commandLine": f"/bin/sh -c 'exit {i % 2}'"} for i in range(6)]
        await ok(client, "tasks_submit", {"job_id": "work", "tasks": batch})
        progress = ProgressLog()
        result = await client.call_tool("wait_for", {"job_id": "work", "timeout": 60}, progress_callback=progress)
        data = result.structured_content or {}
        assert data["outcome"] == "stopped" and data["done"] is False, text(result)
        assert text(result).startswith("Stopped after ") and "3 of 6 task(s) failed" in text(result)
        counts = data["state"]["tasks"]
        assert (counts["completed"], counts["succeeded"], counts["failed"]) == (6, 3, 3)
        assert progress.events[-1][:2] == (6, 6)
        assert "6/6 tasks complete" in (progress.events[-1][2] or "")


async def test_waiting_for_a_task_returns_its_exit_code(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await ok(client, "job_add", {"id": "one", "poolInfo": {"poolId": "local"}})
        await ok(client, "task_add", {"job_id": "one", "id": "t", "commandLine": "/bin/sh -c 'exit 4'"})
        result = await ok(client, "wait_for", {"job_id": "one", "task_id": "t", "timeout": 60})
        data = result.structured_content or {}
        assert data["outcome"] == "stopped" and "exit code 4" in data["reason"]
        assert data["state"]["state"] == "completed" and data["state"]["exitCode"] == 4


async def test_a_timeout_returns_the_current_state_not_an_error(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await ok(client, "job_add", {"id": "slow", "poolInfo": {"poolId": "local"}})
        await ok(client, "task_add", {"job_id": "slow", "id": "sleeper", "commandLine": "/bin/sleep 60"})
        progress = ProgressLog()
        result = await client.call_tool(
            "wait_for", {"job_id": "slow", "task_id": "sleeper", "timeout": 1}, progress_callback=progress
        )
        assert not result.is_error, text(result)
        data = result.structured_content or {}
        assert data["timedOut"] is True and data["done"] is False and data["outcome"] == "timedOut"
        assert data["state"]["state"] in ("active", "preparing", "running")
        assert text(result).startswith("Timed out after ") and "call wait_for again" in text(result)
        assert progress.events  # the sleeper is killed when the emulator shuts down


async def test_wrong_target_combinations_and_unknown_ids_are_tool_errors(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        for args in ({}, {"pool_id": "local", "job_id": "x"}, {"task_id": "t"}):
            result = await call(client, "wait_for", args)
            assert result.is_error and "pool_id" in text(result), args
        result = await call(client, "wait_for", {"pool_id": "nosuchpool", "timeout": 5})
        assert result.is_error and "nosuchpool" in text(result)


async def test_done_only_when_a_job_has_tasks_and_none_failed(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await ok(client, "job_add", {"id": "empty", "poolInfo": {"poolId": "local"}})
        result = await ok(client, "wait_for", {"job_id": "empty", "timeout": 30})
        assert text(result).startswith("Stopped after ") and "no tasks" in text(result)
        await ok(client, "job_add", {"id": "good", "poolInfo": {"poolId": "local"}})
        batch = [{"id": f"t{i}", "commandLine": "/bin/true"} for i in range(3)]
        await ok(client, "tasks_submit", {"job_id": "good", "tasks": batch})
        result = await ok(client, "wait_for", {"job_id": "good", "timeout": 60})
        assert text(result).startswith("Done after ") and (result.structured_content or {})["outcome"] == "done"


async def test_a_pool_whose_resize_stopped_short_is_not_done(tmp_path: Path) -> None:
    async with workflow_client(tmp_path, max_nodes_per_pool=2) as client:
        await add_pool(client, "short", 5, steady=False)
        result = await ok(client, "wait_for", {"pool_id": "short", "timeout": 60})
        data = result.structured_content or {}
        assert data["outcome"] == "stopped" and text(result).startswith("Stopped after "), text(result)


async def test_a_timeout_on_a_job_says_which_tasks_wait_on_failed_ones(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await ok(client, "job_add", {"id": "d", "poolInfo": {"poolId": "local"}, "usesTaskDependencies": True})
        await run_task(client, "d", "1", "/bin/false")
        await run_task(client, "d", "ok", "/bin/true")
        after = [
            {"id": "b", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["ok", "1"]}},
            {"id": "c", "commandLine": "/bin/true", "dependsOn": {"taskIdRanges": [{"start": 1, "end": 3}]}},
            {"id": "e", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["ok"]}},
        ]
        await ok(client, "tasks_submit", {"job_id": "d", "tasks": after})
        result = await ok(client, "wait_for", {"job_id": "d", "timeout": 3})
        data = result.structured_content or {}
        assert data["outcome"] == "timedOut" and data["state"]["tasks"]["active"] == 2, text(result)
        assert "never run as things stand (b on 1, c on 1)" in data["reason"]
        assert "task_reactivate" in text(result).splitlines()[0]
        assert "call wait_for again" not in text(result)
