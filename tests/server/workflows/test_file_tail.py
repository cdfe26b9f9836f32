"""file_tail: the end of a long file by ranged reads, node files, and following a file as it grows."""

from __future__ import annotations

from pathlib import Path

import anyio
import mcp
import pytest

from tests.server.conftest import call, text
from tests.server.workflows.conftest import (
    ERA_VERSIONS,
    ProgressLog,
    RecordingTransport,
    add_pool,
    ok,
    run_task,
    workflow_client,
)

pytestmark = pytest.mark.anyio


def ranged_bytes(requests: list[tuple[str, str, str | None]]) -> int:
    total = 0
    for method, _, span in requests:
        if method == "GET":
            assert span is not None, "a content read without a range"
            first, _, last = span.removeprefix("bytes=").partition("-")
            total += int(last) - int(first) + 1
    return total


@pytest.mark.parametrize(("era", "version"), ERA_VERSIONS)
async def test_the_last_lines_of_a_long_stdout_come_from_ranged_reads_at_its_end(
    tmp_path: Path, era: str, version: str
) -> None:
    transport = RecordingTransport()
    async with workflow_client(tmp_path, era, api_version=version, transport=transport) as client:
        await ok(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        await run_task(client, "j", "counter", "seq 1 20000")
        transport.file_requests.clear()
        result = await ok(
            client, "file_tail", {"job_id": "j", "task_id": "counter", "file_path": "stdout.txt", "lines": 5}
        )
        data = result.structured_content or {}
        assert data["text"] == "19996\n19997\n19998\n19999\n20000"
        assert data["lines"] == 5 and data["more"] is True
        size = data["size"]
        assert size == sum(len(f"{i}\n") for i in range(1, 20001))
        assert data["start"] == size - len("19996\n19997\n19998\n19999\n20000\n")
        assert ("HEAD", "/jobs/j/tasks/counter/files/stdout.txt", None) in transport.file_requests
        assert 0 < ranged_bytes(transport.file_requests) < size // 10
        assert text(result).endswith("19999\n20000")


async def test_more_lines_than_the_file_has_returns_all_of_it(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await ok(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        await run_task(client, "j", "short", "seq 1 3")
        data = (
            await ok(client, "file_tail", {"job_id": "j", "task_id": "short", "file_path": "stdout.txt", "lines": 100})
        ).structured_content or {}
        assert (data["text"], data["start"], data["more"]) == ("1\n2\n3", 0, False)


async def test_a_node_file_is_tailed_by_pool_and_node(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await add_pool(client, "setup", 1, startTask={"commandLine": "seq 1 50", "waitForSuccess": True})
        nodes = (await ok(client, "node_list", {"pool_id": "setup"})).structured_content or {}
        node_id = nodes["items"][0]["id"]
        await ok(client, "wait_for", {"pool_id": "setup", "timeout": 30})
        data = (
            await ok(
                client,
                "file_tail",
                {"pool_id": "setup", "node_id": node_id, "file_path": "startup/stdout.txt", "lines": 2},
            )
        ).structured_content
        assert data is not None and data["text"] == "49\n50"


async def test_following_returns_the_lines_appended_while_watching(tmp_path: Path) -> None:
    gate = tmp_path / "go"
    command = f"/bin/sh -c 'echo first; while [ ! -e {gate} ]; do sleep 0.05; done; echo second; echo third'"
    async with workflow_client(tmp_path) as client:
        await ok(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        await ok(client, "task_add", {"job_id": "j", "id": "talker", "commandLine": command})
        args = {"job_id": "j", "task_id": "talker", "file_path": "stdout.txt"}
        await wait_for_text(client, args, "first")

        progress = ProgressLog()

        async def open_gate_once_following() -> None:
            with anyio.fail_after(30):
                await progress.first.wait()  # the follow loop's first poll: the tail has been read
            gate.touch()

        async with anyio.create_task_group() as group:
            group.start_soon(open_gate_once_following)
            with anyio.fail_after(60):
                result = await client.call_tool("file_tail", {**args, "follow": 30}, progress_callback=progress)
        data = result.structured_content or {}
        assert not result.is_error, text(result)
        assert data["text"] == "first"
        assert data["newText"] == "second\nthird\n"
        assert data["stopped"] == "the task completed"
        assert "second\nthird" in text(result)


async def wait_for_text(client: mcp.Client, args: dict[str, str], wanted: str) -> None:
    with anyio.fail_after(30):
        while True:
            result = await call(client, "file_tail", args)
            if not result.is_error and wanted in (result.structured_content or {}).get("text", ""):
                return
            await anyio.sleep(0.05)


async def test_a_file_needs_one_owner(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        for args in ({"file_path": "stdout.txt"}, {"file_path": "x", "job_id": "j", "task_id": "t", "pool_id": "p"}):
            result = await call(client, "file_tail", args)
            assert result.is_error and "job_id and task_id" in text(result)
