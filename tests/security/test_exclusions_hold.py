"""`--exclude-tools` holds on every route to the same effect, not only on the tool of that name.

An operator who excludes `task_add_collection` and `task_add` means "no tasks are added"; one who
excludes `task_file_get` and `node_file_get` means "the model does not read task or node files".
The workflows (`tasks_submit`, `file_tail`, `task_diagnose`), the `batch://` resources and the HTTP
`/files/` endpoint act through those same operations, so they must stop with them."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_mcp.server import assemble
from tests.server.conftest import call, connect, make_settings, text, wait_until
from tests.server.resources.conftest import http_serve

pytestmark = pytest.mark.anyio

LOCAL = {"poolId": "local"}


def test_workflows_that_act_through_an_excluded_tool_are_not_enabled(tmp_path: Path) -> None:
    adding = assemble(make_settings(tmp_path, exclude_tools=["task_add_collection"])).selection
    assert "tasks_submit" not in adding.enabled and "tasks_submit" not in adding.listed
    reading = assemble(make_settings(tmp_path, exclude_tools=["task_file_get"])).selection
    assert {"file_tail", "task_diagnose"}.isdisjoint(reading.enabled)
    assert {"tasks_submit", "wait_for", "batch_overview"} <= reading.enabled
    everything = assemble(make_settings(tmp_path)).selection
    assert {"tasks_submit", "file_tail", "task_diagnose"} <= everything.enabled


async def test_excluding_task_creation_stops_tasks_submit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, exclude_tools=["task_add", "task_add_collection"])
    async with connect(settings, "legacy") as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": LOCAL})).is_error
        result = await call(client, "tasks_submit", {"job_id": "j", "tasks": [{"id": "a", "commandLine": "true"}]})
        counts = await call(client, "job_get_task_counts", {"job_id": "j"})
    assert result.is_error and "not enabled" in text(result), text(result)
    assert (counts.structured_content or {})["taskCounts"]["active"] == 0


async def test_excluding_file_reads_stops_resources_and_workflows_reading_files(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, exclude_tools=["task_file_get", "node_file_get"])
    async with connect(settings, "legacy") as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": LOCAL})).is_error
        task = {"job_id": "j", "id": "t", "commandLine": "/bin/echo private-output"}
        assert not (await call(client, "task_add", task)).is_error
        await wait_until(client, "task_get", {"job_id": "j", "task_id": "t"}, lambda t: t.get("state") == "completed")
        where = {"job_id": "j", "task_id": "t", "file_path": "stdout.txt"}
        for tool, args in (("file_tail", where), ("task_diagnose", {"job_id": "j", "task_id": "t"})):
            result = await call(client, tool, args)
            assert result.is_error and "private-output" not in text(result), (tool, text(result))
        with pytest.raises(Exception) as refused:
            await client.read_resource("batch://jobs/j/tasks/t/files/stdout.txt")
        assert "task_file_get" in str(refused.value) and "private-output" not in str(refused.value)
        task_json = await client.read_resource("batch://jobs/j/tasks/t")  # task_get is still enabled
        assert '"id":"t"' in task_json.contents[0].text  # type: ignore[union-attr]


async def test_excluded_file_reads_are_refused_by_the_http_files_endpoint(tmp_path: Path) -> None:
    excluded = ["task_file_get", "node_file_get"]
    async with http_serve(tmp_path, exclude_tools=excluded) as served, served.http(served.token) as http:
        answer = await http.get("/files/jobs/j/tasks/t/files/stdout.txt")
    assert answer.status_code == 403 and "task_file_get" in answer.text, (answer.status_code, answer.text)


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")  # handshake-era subscribe
@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
async def test_resources_whose_reader_is_excluded_cannot_be_watched(tmp_path: Path, era: str) -> None:
    settings = make_settings(tmp_path, exclude_tools=["task_file_get", "node_file_get"])
    async with connect(settings, era) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": LOCAL})).is_error
        uri = "batch://jobs/j/tasks/t/files/stdout.txt"
        if era == "legacy":
            with pytest.raises(Exception) as refused:
                await client.subscribe_resource(uri)
            assert "task_file_get" in str(refused.value)
        else:
            async with client.listen(resource_subscriptions=[uri, "batch://jobs/j"]) as sub:
                assert sub.honored.resource_subscriptions == ["batch://jobs/j"]


@pytest.mark.parametrize("policy", ["unrestricted", "confirm"])
async def test_a_fan_out_cannot_read_a_file_whose_reading_is_excluded(tmp_path: Path, policy: str) -> None:
    """`tasks_submit lines=` reads a task or node file: excluded file reads exclude that too (the
    lines would come back in the tasks' command lines and the dry run)."""
    from tests.server.conftest import answering

    settings = make_settings(tmp_path, exclude_tools=["task_file_get", "node_file_get"], emulator_exec=policy)
    async with connect(settings, "legacy", elicitation=answering(True)) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": LOCAL})).is_error
        uri = "batch://jobs/j/tasks/t/files/stdout.txt"
        args = {"job_id": "j", "template": {"id": "l{i}", "commandLine": "{value}"}, "lines": uri}
        result = await call(client, "tasks_submit", args)
    assert result.is_error and "task_file_get is not enabled" in text(result), text(result)
