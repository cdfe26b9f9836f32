"""The server end to end, in memory, in both protocol eras, against the embedded emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest

from tests.server.conftest import answering, call, connect, make_settings, text, wait_until

pytestmark = pytest.mark.anyio


async def test_a_pool_job_and_task_run_and_their_output_is_readable(tmp_path: Path, era: str) -> None:
    async with connect(make_settings(tmp_path), era) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"pool_add", "job_add", "task_add", "task_file_get"} <= names

        result = await call(
            client,
            "pool_add",
            {
                "id": "p1",
                "vmSize": "standard_d2s_v3",
                "targetDedicatedNodes": 1,
                "virtualMachineConfiguration": {
                    "imageReference": {
                        "publisher": "canonical",
                        "offer": "0001-com-ubuntu-server-jammy",
                        "sku": "22_04-lts",
                    },
                    "nodeAgentSKUId": "batch.node.ubuntu 22.04",
                },
            },
        )
        assert not result.is_error, text(result)
        await wait_until(client, "pool_get", {"pool_id": "p1"}, lambda p: p.get("allocationState") == "steady")

        assert not (await call(client, "job_add", {"id": "j1", "poolInfo": {"poolId": "p1"}})).is_error
        result = await call(
            client, "task_add", {"job_id": "j1", "id": "t1", "commandLine": "/bin/sh -c 'echo hello from t1'"}
        )
        assert not result.is_error, text(result)
        task = await wait_until(
            client, "task_get", {"job_id": "j1", "task_id": "t1"}, lambda t: t.get("state") == "completed"
        )
        assert task["executionInfo"]["exitCode"] == 0

        listing = await call(client, "task_list", {"job_id": "j1"})
        assert listing.structured_content["items"][0]["id"] == "t1"
        assert listing.structured_content["summary"]["state"] == {"completed": 1}

        stdout = await call(client, "task_file_get", {"job_id": "j1", "task_id": "t1", "file_path": "stdout.txt"})
        assert "hello from t1" in text(stdout)


async def test_delete_asks_the_user_and_acts_only_on_yes(tmp_path: Path, era: str) -> None:
    for accept in (False, True):
        asker = answering(accept)
        async with connect(make_settings(tmp_path), era, elicitation=asker) as client:
            await call(client, "job_add", {"id": "doomed", "poolInfo": {"poolId": "local"}})
            await call(client, "task_add", {"job_id": "doomed", "id": "a", "commandLine": "/bin/true"})
            result = await call(client, "job_delete", {"job_id": "doomed"})
            assert len(asker.questions) == 1
            assert "doomed" in asker.questions[0] and "task" in asker.questions[0]
            exists = await call(client, "job_get", {"job_id": "doomed"})
            if accept:
                assert not result.is_error, text(result)
                state = (exists.structured_content or {}).get("state")
                assert exists.is_error or state == "deleting"
            else:
                assert "declined" in text(result)
                assert exists.structured_content["state"] == "active"
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    outcomes = [(entry["tool"], entry["outcome"]) for entry in audit if entry["tool"] == "job_delete"]
    assert outcomes == [("job_delete", "declined"), ("job_delete", "ok")]


async def test_a_dismissed_question_is_recorded_as_cancelled_not_declined(tmp_path: Path, era: str) -> None:
    """The audit log tells a user who said no from one who closed the question unanswered."""

    async def dismiss(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="cancel")

    async def refuse(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    replies = []
    for callback in (dismiss, refuse):
        async with connect(make_settings(tmp_path), era, elicitation=callback) as client:
            await call(client, "job_add", {"id": "kept", "poolInfo": {"poolId": "local"}})
            replies.append(text(await call(client, "job_delete", {"job_id": "kept"})))
            assert (await call(client, "job_get", {"job_id": "kept"})).structured_content["state"] == "active"
    assert "dismissed" in replies[0] and "declined" in replies[1]
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    outcomes = [entry["outcome"] for entry in audit if entry["tool"] == "job_delete"]
    assert outcomes == ["cancelled", "declined"]


async def test_a_client_that_cannot_ask_gets_a_refusal_that_says_how_to_allow_it(tmp_path: Path, era: str) -> None:
    async with connect(make_settings(tmp_path), era) as client:
        result = await call(client, "pool_delete", {"pool_id": "local"})
        assert result.is_error
        assert "--no-confirm" in text(result)
        pool = await call(client, "pool_get", {"pool_id": "local"})
        assert pool.structured_content["state"] == "active"


async def test_no_confirm_lets_automation_delete(tmp_path: Path, era: str) -> None:
    async with connect(make_settings(tmp_path), era, no_confirm=True) as client:
        await call(client, "job_add", {"id": "ci", "poolInfo": {"poolId": "local"}})
        result = await call(client, "job_delete", {"job_id": "ci"})
        assert not result.is_error, text(result)


async def test_invalid_arguments_name_the_field_and_send_nothing(tmp_path: Path, era: str) -> None:
    async with connect(make_settings(tmp_path), era) as client:
        result = await call(client, "pool_resize", {"pool_id": "local", "targetDedicatedNodes": "many"})
        assert result.is_error
        assert "$.targetDedicatedNodes" in text(result) and "integer" in text(result)
        pool = await call(client, "pool_get", {"pool_id": "local"})
        assert pool.structured_content["allocationState"] == "steady"


async def test_dry_run_plans_a_resize_without_acting(tmp_path: Path, era: str) -> None:
    async with connect(make_settings(tmp_path), era) as client:
        result = await call(client, "pool_resize", {"pool_id": "local", "targetDedicatedNodes": 3, "dry_run": True})
        assert not result.is_error, text(result)
        plan = result.structured_content
        assert plan["current"]["dedicated"] == 1 and plan["requested"]["dedicated"] == 3
        pool = await call(client, "pool_get", {"pool_id": "local"})
        assert pool.structured_content["targetDedicatedNodes"] == 1


async def test_max_nodes_refuses_a_large_resize(tmp_path: Path, era: str) -> None:
    async with connect(make_settings(tmp_path, max_nodes=4), era) as client:
        result = await call(client, "pool_resize", {"pool_id": "local", "targetDedicatedNodes": 500})
        assert result.is_error and "--max-nodes" in text(result)


async def test_hidden_tools_are_reachable_through_the_router(tmp_path: Path, era: str) -> None:
    async with connect(make_settings(tmp_path, toolsets=["default"]), era) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "job_schedule_list" not in names and "batch_call" in names
        found = await call(client, "batch_tools", {"query": "schedule"})
        assert "job_schedule_list" in text(found)
        result = await call(client, "batch_tools", {"name": "job_schedule_list", "arguments": {}})
        assert not result.is_error, text(result)
        assert result.structured_content["items"] == []
        schedule = {
            "id": "nightly",
            "schedule": {"recurrenceInterval": "P1D"},
            "jobSpecification": {"poolInfo": {"poolId": "local"}},
        }
        changed = await call(client, "batch_call", {"name": "job_schedule_add", "arguments": schedule})
        assert not changed.is_error, text(changed)
        # each router runs only the calls its annotations describe
        wrong_way = [
            await call(client, "batch_call", {"name": "job_schedule_list", "arguments": {}}),
            await call(client, "batch_tools", {"name": "job_schedule_add", "arguments": schedule}),
        ]
        assert all(r.is_error for r in wrong_way)
        assert "batch_tools" in text(wrong_way[0]) and "batch_call" in text(wrong_way[1])
