"""task_diagnose on real tasks: a failing command, a broken start task, and a task with nowhere to run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.conftest import call, text
from tests.server.workflows.conftest import ERA_VERSIONS, add_pool, ok, run_task, workflow_client

pytestmark = pytest.mark.anyio

FAILING = "/bin/sh -c 'echo starting; echo warming up >&2; echo boom >&2; exit 3'"
BROKEN_START = {"commandLine": "/bin/sh -c 'echo setup broke >&2; exit 5'", "waitForSuccess": False}


@pytest.mark.parametrize(("era", "version"), ERA_VERSIONS)
async def test_a_failed_command_is_diagnosed_with_its_exit_code_and_stderr_tail(
    tmp_path: Path, era: str, version: str
) -> None:
    async with workflow_client(tmp_path, era, api_version=version) as client:
        await ok(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        await run_task(client, "j", "bad", FAILING)
        result = await ok(client, "task_diagnose", {"job_id": "j", "task_id": "bad"})
        data = result.structured_content or {}
        assert "exit code 3" in data["verdict"] and "boom" in data["verdict"]
        assert data["task"]["exitCode"] == 3 and data["task"]["state"] == "completed"
        assert data["task"]["node"].startswith("local/")
        assert data["tails"]["stderr.txt"]["text"] == "warming up\nboom"
        assert data["tails"]["stdout.txt"]["text"] == "starting"
        message = text(result)
        assert message.startswith(data["verdict"])
        assert "quoted above) ---\nwarming up" in message and '"text"' not in message  # the tail as lines, not JSON
        assert message.count("boom") == 2  # command line and verdict: the stderr tail stops before the quoted line


async def test_a_success_says_so(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await ok(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        await run_task(client, "j", "good", "/bin/echo fine")
        data = (await ok(client, "task_diagnose", {"job_id": "j", "task_id": "good"})).structured_content or {}
        assert data["verdict"].startswith("Succeeded")
        assert data["tails"]["stdout.txt"]["text"] == "fine"


async def test_a_failed_start_task_on_the_node_is_named_with_its_log(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await add_pool(client, "shaky", 1, startTask=BROKEN_START)
        await ok(client, "job_add", {"id": "j", "poolInfo": {"poolId": "shaky"}})
        await run_task(client, "j", "needs-setup", "/bin/sh -c 'exit 127'")
        data = (await ok(client, "task_diagnose", {"job_id": "j", "task_id": "needs-setup"})).structured_content or {}
        assert "exit code 127" in data["verdict"] and "command not found" in data["verdict"]
        assert "start task" in data["verdict"] and "setup broke" in data["verdict"]
        startup = next(v for k, v in data["tails"].items() if k.endswith("startup/stderr.txt"))
        assert startup["text"] == "setup broke"


async def test_a_task_waiting_on_a_pool_without_nodes_is_explained(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await add_pool(client, "empty", 0)
        await ok(client, "job_add", {"id": "j", "poolInfo": {"poolId": "empty"}})
        await ok(client, "task_add", {"job_id": "j", "id": "stuck", "commandLine": "/bin/true"})
        data = (await ok(client, "task_diagnose", {"job_id": "j", "task_id": "stuck"})).structured_content or {}
        assert data["task"]["state"] == "active"
        assert "pool empty has no nodes" in data["verdict"]
        assert not data["tails"]


async def test_an_unknown_task_is_a_tool_error_with_a_hint(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await ok(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        result = await call(client, "task_diagnose", {"job_id": "j", "task_id": "ghost"})
        assert result.is_error
        assert "404" in text(result) and "task_list" in text(result)


async def test_batch_ended_tasks_and_programs_that_never_ran_are_told_plainly(tmp_path: Path) -> None:
    """A task over its maxWallClockTime is named as such (not "out of memory" from exit code 137);
    a program that was never found has no exit code, and no verdict says "exit code None"."""
    async with workflow_client(tmp_path) as client:
        await ok(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        await run_task(client, "j", "slow", "/bin/sleep 30", constraints={"maxWallClockTime": "PT1S"})
        data = (await ok(client, "task_diagnose", {"job_id": "j", "task_id": "slow"})).structured_content or {}
        assert data["verdict"].startswith("Batch ended it: MaxWallClockTimeExceeded"), data["verdict"]
        assert "stderr and stdout are empty" in data["verdict"]

        await ok(client, "task_add", {"job_id": "j", "id": "nothere", "commandLine": "/no/such/program"})
        waited = await ok(client, "wait_for", {"job_id": "j", "task_id": "nothere", "timeout": 30})
        assert "CommandProgramNotFound" in text(waited) and "None" not in text(waited), text(waited)

        await ok(client, "job_add", {"id": "orphan", "poolInfo": {"poolId": "gone"}})
        await ok(client, "task_add", {"job_id": "orphan", "id": "w", "commandLine": "/bin/true"})
        data = (await ok(client, "task_diagnose", {"job_id": "orphan", "task_id": "w"})).structured_content or {}
        assert data["verdict"].startswith("Waiting: the job's pool gone does not exist"), data["verdict"]


async def test_a_task_blocked_by_a_failed_dependency_is_said_to_be_blocked(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await ok(client, "job_add", {"id": "d", "poolInfo": {"poolId": "local"}, "usesTaskDependencies": True})
        await run_task(client, "d", "a", "/bin/false")
        after_a = {"job_id": "d", "id": "b", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["a"]}}
        await ok(client, "task_add", after_a)
        data = (await ok(client, "task_diagnose", {"job_id": "d", "task_id": "b"})).structured_content or {}
        assert data["verdict"].startswith("Blocked: it depends on a, which failed"), data["verdict"]
