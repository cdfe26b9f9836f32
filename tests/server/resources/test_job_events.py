"""Job-wide events: `batch://jobs/{jobId}/tasks` subscriptions tell of task completions or failures in
both protocol eras, at one Batch request per check however many tasks the job has; a read lists
what just changed; `wait_for` on a job names failures as they happen and can stop at the first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from batch_mcp.server.uris import UriError, parse_uri
from tests.server.conftest import text
from tests.server.resources.conftest import idle_pool, serve
from tests.server.workflows.conftest import ProgressLog, ok, workflow_client

pytestmark = pytest.mark.anyio

FAILED = "batch://jobs/j/tasks?state=failed"


async def test_a_failed_task_subscriber_hears_of_the_failure_and_reads_which_task(tmp_path: Path, era: str) -> None:
    async with serve(tmp_path, era) as served:
        client = served.client
        await ok(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        async with served.watch(FAILED) as next_update:
            await ok(client, "task_add", {"job_id": "j", "id": "fine", "commandLine": "/bin/true"})
            await ok(client, "task_add", {"job_id": "j", "id": "bad", "commandLine": "/bin/sh -c 'exit 7'"})
            with anyio.fail_after(30):
                assert await next_update() == FAILED
            contents = (await client.read_resource(FAILED)).contents[0]
            data = json.loads(contents.text)
            assert [t["id"] for t in data["tasks"]] == ["bad"] and data["tasks"][0]["exitCode"] == 7
            assert data["taskCounts"]["failed"] == 1


async def test_a_completion_subscriber_hears_of_each_finished_task(tmp_path: Path, era: str) -> None:
    uri = "batch://jobs/j/tasks"
    async with serve(tmp_path, era) as served:
        client = served.client
        await ok(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        async with served.watch(uri) as next_update:
            await ok(client, "task_add", {"job_id": "j", "id": "one", "commandLine": "/bin/true"})
            with anyio.fail_after(30):
                assert await next_update() == uri
            data = json.loads((await client.read_resource(uri)).contents[0].text)
            assert [t["id"] for t in data["tasks"]] == ["one"] and data["state"] == "completed"


async def test_watching_a_ten_thousand_task_job_costs_one_request_per_check(tmp_path: Path) -> None:
    async with serve(tmp_path, "2026-07-28") as served:
        client = served.client
        await idle_pool(client, "idle")
        await ok(client, "job_add", {"id": "big", "poolInfo": {"poolId": "idle"}})
        template = {"id": "t{value:05d}", "commandLine": "/bin/true"}
        await ok(client, "tasks_submit", {"job_id": "big", "template": template, "range": [1, 10_000]})
        sent: list[httpx2.Request] = []

        async def record(request: httpx2.Request) -> None:
            sent.append(request)

        hooks = served.events.client._http.event_hooks["request"]  # instrumentation: see every Batch request
        hooks.append(record)
        async with served.watch("batch://jobs/big/tasks?state=failed"):
            watcher = next(iter(served.events.pool.watchers.values()))
            first = watcher.probes
            with anyio.fail_after(30):
                while True:  # the watcher's own schedule decides when it checks; wait for three checks
                    if watcher.probes >= first + 3:
                        break
                    await anyio.sleep(0.1)
        watched = watcher.probes  # read with the hook's removal, no await between: a late check counts in both
        hooks.remove(record)
        lists = [r for r in sent if r.url.path == "/jobs/big/tasks"]
        assert len(sent) <= watched and len(lists) >= 3  # one request per check at most, none of them a scan
        for request in lists:
            assert "stateTransitionTime gt" in request.url.params["$filter"]
            assert "$skiptoken" not in request.url.params


def test_job_task_uris_take_a_state_filter_and_nothing_else() -> None:
    assert parse_uri("batch://jobs/j/tasks").state == "completed"
    assert parse_uri("batch://jobs/j/tasks?state=failed").key == FAILED
    for bad in ("batch://jobs/j/tasks?state=deleted", "batch://jobs/j/tasks?tail=3"):
        with pytest.raises(UriError):
            parse_uri(bad)


async def test_wait_for_names_failures_as_they_happen_and_can_stop_at_the_first(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await ok(client, "job_add", {"id": "sweep", "poolInfo": {"poolId": "local"}})
        tasks: list[dict[str, Any]] = [{"id": f"slow{i}", "commandLine": "/bin/sleep 30"} for i in range(2)]
        tasks.append({"id": "bad", "commandLine": "/bin/sh -c 'sleep 0.5; exit 2'"})
        await ok(client, "tasks_submit", {"job_id": "sweep", "tasks": tasks})
        progress = ProgressLog()
        result = await client.call_tool(
            "wait_for", {"job_id": "sweep", "stop_on_failure": True, "timeout": 60}, progress_callback=progress
        )
        data = result.structured_content or {}
        assert data["outcome"] == "stopped" and "bad (exit 2)" in data["reason"], text(result)
        assert data["state"]["tasks"]["running"] >= 1  # it did not wait for the rest
        assert any("failed now: bad (exit 2)" in (message or "") for _, _, message in progress.events)
        # the sleepers are killed when the emulator shuts down
