"""A file read that fails says what is missing: the job, the task, the pool, the node or the file.

Every file route starts with a HEAD for the file's size, and a HEAD's 404 has no body to carry
Batch's error code. The agent must still learn, in one call, which of the ids was wrong, on every
route: the file tools, the properties tools (through the router), file_tail, resources, and the
HTTP /files/ endpoint's error message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import mcp
import pytest

from tests.server.conftest import call, connect, make_settings, text, wait_until

pytestmark = pytest.mark.anyio

MISSING = [
    ("task_file_get", {"job_id": "nojob", "task_id": "t1", "file_path": "stdout.txt"}, "JobNotFound"),
    ("task_file_get", {"job_id": "j1", "task_id": "notask", "file_path": "stdout.txt"}, "TaskNotFound"),
    ("task_file_get", {"job_id": "j1", "task_id": "t1", "file_path": "nofile.txt"}, "FileNotFound"),
    ("node_file_get", {"pool_id": "nopool", "node_id": "n1", "file_path": "startup/stdout.txt"}, "PoolNotFound"),
    ("node_file_get", {"pool_id": "local", "node_id": "nonode", "file_path": "startup/stdout.txt"}, "NodeNotFound"),
]


async def _job_with_a_done_task(client: mcp.Client) -> None:
    assert not (await call(client, "job_add", {"id": "j1", "poolInfo": {"poolId": "local"}})).is_error
    assert not (await call(client, "task_add", {"job_id": "j1", "id": "t1", "commandLine": "/bin/true"})).is_error
    await wait_until(client, "task_get", {"job_id": "j1", "task_id": "t1"}, lambda t: t.get("state") == "completed")


@pytest.mark.parametrize(("tool", "args", "code"), MISSING, ids=[m[2] for m in MISSING])
async def test_file_reads_name_what_is_missing(
    tmp_path: Path, era: str, tool: str, args: dict[str, Any], code: str
) -> None:
    async with connect(make_settings(tmp_path), era) as client:
        await _job_with_a_done_task(client)
        result = await call(client, tool, args)
        assert result.is_error
        assert code in text(result), text(result)

        # The properties tool (a HEAD of its own) says the same.
        properties = tool.replace("_get", "_get_properties")
        result = await call(client, properties, args)
        assert result.is_error
        assert code in text(result), text(result)

        # So does the last-lines workflow.
        result = await call(client, "file_tail", {k: v for k, v in args.items()})
        assert result.is_error
        assert code in text(result), text(result)


async def test_a_file_resource_names_what_is_missing(tmp_path: Path, era: str) -> None:
    async with connect(make_settings(tmp_path), era) as client:
        await _job_with_a_done_task(client)
        for uri, code in (
            ("batch://jobs/nojob/tasks/t1/files/stdout.txt", "JobNotFound"),
            ("batch://jobs/j1/tasks/notask/files/stdout.txt", "TaskNotFound"),
            ("batch://pools/local/nodes/nonode/files/startup/stdout.txt", "NodeNotFound"),
        ):
            with anyio.fail_after(30), pytest.raises(Exception) as caught:
                await client.read_resource(uri)
            assert code in str(caught.value), (uri, str(caught.value))
