"""tasks_submit from a template: 10,000 tasks from a few hundred bytes of arguments, with today's
guarantees (full validation, chunks, exactly once, progress), a dry run, and `lines` read only
through the Batch file API."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import call, text, wait_until
from tests.server.workflows.conftest import ERA_VERSIONS, ProgressLog, ok, run_task, workflow_client
from tests.server.workflows.test_submit import active_count, idle_job, task_ids

pytestmark = pytest.mark.anyio

FRAMES = 10_000
TEMPLATE = {
    "id": "frame-{value:05d}",
    "commandLine": "/bin/sh -c 'render --frame {value} > frame-{value}.png'",
    "environmentSettings": [{"name": "FRAME", "value": "{value}"}],
}


@pytest.mark.parametrize(("era", "version"), ERA_VERSIONS)
async def test_ten_thousand_tasks_from_a_few_hundred_bytes_land_once_each_with_progress(
    tmp_path: Path, era: str, version: str
) -> None:
    args = {"job_id": "bulk", "template": TEMPLATE, "range": [1, FRAMES]}
    assert len(json.dumps(args, separators=(",", ":"))) <= 500
    async with workflow_client(tmp_path, era, api_version=version) as client:
        await idle_job(client)
        progress = ProgressLog()
        result = await client.call_tool("tasks_submit", args, progress_callback=progress)
        assert not result.is_error, text(result)
        data = result.structured_content or {}
        assert (data["submitted"], data["added"], data["failed"]) == (FRAMES, FRAMES, 0)
        assert text(result).startswith("Done: ")
        assert progress.events[-1][:2] == (FRAMES, FRAMES)
        ids = await task_ids(client, "bulk")
        assert len(ids) == FRAMES and len(set(ids)) == FRAMES
        assert {"frame-00001", "frame-10000"} <= set(ids)
        task = (await ok(client, "task_get", {"job_id": "bulk", "task_id": "frame-00042"})).structured_content or {}
        assert task["commandLine"] == "/bin/sh -c 'render --frame 42 > frame-42.png'"
        assert task["environmentSettings"] == [{"name": "FRAME", "value": "42"}]

        again = await ok(client, "tasks_submit", args)  # exactly once: a second call adds nothing
        assert (again.structured_content or {})["alreadyExisted"] == FRAMES
        assert await active_count(client, "bulk") == FRAMES


async def test_a_dry_run_counts_and_shows_the_first_tasks_and_sends_nothing(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await idle_job(client)
        values = [{"scene": "intro", "frame": 1}, {"scene": "intro", "frame": 2}, {"scene": "end", "frame": 9}]
        template = {"id": "{scene}-{frame}", "commandLine": "/bin/sh -c 'echo {scene} {frame} ${HOME}'"}
        result = await ok(
            client, "tasks_submit", {"job_id": "bulk", "template": template, "values": values, "dry_run": True}
        )
        data = result.structured_content or {}
        assert data["tasks"] == 3 and [t["id"] for t in data["first"]] == ["intro-1", "intro-2", "end-9"]
        assert text(result).startswith("Dry run: 3 valid task(s)")
        assert "{HOME}" in text(result)  # reported as left as written
        assert await active_count(client, "bulk") == 0
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["outcome"] for e in audit if e["tool"] == "tasks_submit"] == ["dry_run"]


async def test_every_expanded_task_is_checked_against_the_full_task_model(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await idle_job(client)
        bad = {"id": "t{value}", "commandLine": "/bin/true", "constraints": {"maxTaskRetryCount": "{value}"}}
        result = await call(client, "tasks_submit", {"job_id": "bulk", "template": bad, "range": [1, 3]})
        assert result.is_error and "$.tasks[0].constraints.maxTaskRetryCount" in text(result)
        assert "expanded from the template" in text(result)
        same_ids = {"id": "same", "commandLine": "/bin/true"}
        result = await call(client, "tasks_submit", {"job_id": "bulk", "template": same_ids, "range": [1, 2]})
        assert result.is_error and "same id" in text(result)
        assert await active_count(client, "bulk") == 0


@pytest.mark.parametrize(
    "args",
    [
        {"template": {"id": "t{i}", "commandLine": "/bin/true"}},  # no source
        {"template": {"id": "t{i}", "commandLine": "/bin/true"}, "range": [1, 2], "values": [1]},  # two sources
        {"tasks": [{"id": "a", "commandLine": "/bin/true"}], "range": [1, 2]},  # a source without a template
        {"template": {"id": "t{i}", "commandLine": "/bin/true"}, "range": [1, 200_000]},  # too many
        {"template": {"id": "t{value:>999}", "commandLine": "/bin/true"}, "range": [1, 2]},  # a huge width
        {"template": {"id": "t{i}", "commandLine": "/bin/true"}, "lines": "/etc/passwd"},  # a host path
        {"template": {"id": "t{i}", "commandLine": "/bin/true"}, "lines": "file:///etc/passwd"},
        {"template": {"id": "t{i}", "commandLine": "/bin/true"}, "lines": "batch://jobs/bulk"},  # not a file
    ],
)
async def test_arguments_that_make_no_tasks_are_refused_before_anything_is_sent(
    tmp_path: Path, args: dict[str, Any]
) -> None:
    async with workflow_client(tmp_path) as client:
        await idle_job(client)
        result = await call(client, "tasks_submit", {"job_id": "bulk", **args})
        assert result.is_error, text(result)
        assert "Nothing was sent" in text(result) or "nothing was sent" in text(result)
        assert re.search(r"[^.?!)] Nothing was sent", text(result)) is None, text(result)  # each sentence ends
        assert await active_count(client, "bulk") == 0


async def test_lines_of_a_task_file_make_one_task_each(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await ok(client, "job_add", {"id": "inputs", "poolInfo": {"poolId": "local"}})
        await run_task(client, "inputs", "list", "/bin/sh -c 'printf \"a.csv\\n\\nb.csv\\nc.csv\\n\"'")
        await idle_job(client)
        template = {"id": "load-{i}", "commandLine": "/bin/sh -c 'load {value}'"}
        uri = "batch://jobs/inputs/tasks/list/files/stdout.txt"
        result = await ok(client, "tasks_submit", {"job_id": "bulk", "template": template, "lines": uri})
        assert (result.structured_content or {})["added"] == 3
        task = (await ok(client, "task_get", {"job_id": "bulk", "task_id": "load-2"})).structured_content or {}
        assert task["commandLine"] == "/bin/sh -c 'load c.csv'"


async def test_a_range_filling_only_the_zero_based_position_is_refused_as_an_off_by_one(tmp_path: Path) -> None:
    """`{i}` is the 0-based position, `{value}` the range's number. A model asking for frames 1 to 5
    with `frame {i}` would render frames 0 to 4: refused before anything is sent, saying which to
    write. With the numbers used, or a range that starts at 0, `{i}` is fine."""
    async with workflow_client(tmp_path) as client:
        await idle_job(client)
        template = {"id": "f{i}", "commandLine": "/bin/echo frame {i}"}
        result = await call(client, "tasks_submit", {"job_id": "bulk", "template": template, "range": [1, 5]})
        assert result.is_error, text(result)
        assert "{value}" in text(result) and "[0, 4]" in text(result), text(result)
        assert await active_count(client, "bulk") == 0

        for args in (
            {"template": template, "range": [0, 4]},
            {"template": {"id": "f{i}", "commandLine": "/bin/echo frame {value}"}, "range": [1, 5]},
            {"template": template, "values": ["a", "b"]},
        ):
            result = await call(client, "tasks_submit", {"job_id": "bulk", **args, "dry_run": True})
            assert not result.is_error, text(result)


async def test_a_dry_run_says_when_the_job_cannot_take_the_tasks(tmp_path: Path) -> None:
    """A dry run that answers "500 valid tasks" for a job that does not exist, or has ended, would
    fail at the real submit: it says so instead."""
    async with workflow_client(tmp_path) as client:
        template = {"id": "t{value}", "commandLine": "/bin/true"}
        missing = await call(
            client, "tasks_submit", {"job_id": "nojob", "template": template, "range": [1, 3], "dry_run": True}
        )
        assert missing.is_error and "JobNotFound" in text(missing), text(missing)
        # an empty job set to end when its tasks are done ends at once (the trap job_add's text warns of)
        ending = {"id": "ended", "poolInfo": {"poolId": "local"}, "onAllTasksComplete": "terminatejob"}
        await ok(client, "job_add", ending)
        await wait_until(client, "job_get", {"job_id": "ended"}, lambda j: j.get("state") == "completed")
        ended = await call(
            client, "tasks_submit", {"job_id": "ended", "template": template, "range": [1, 3], "dry_run": True}
        )
        assert "takes no more tasks" in text(ended), text(ended)


async def test_a_misspelt_placeholder_is_refused_not_submitted_to_every_task(tmp_path: Path) -> None:
    """`{valu}` for `{value}` (or `{nme}` for an object value's `{name}`) would send thousands of tasks
    with the literal text, and exactly-once submission means they cannot simply be sent again: a
    placeholder that names no parameter but is close to one is refused before anything is sent. A
    shell's `${HOME}` and literal `{{braces}}` still go through as written."""
    async with workflow_client(tmp_path) as client:
        await idle_job(client)
        typo = {"id": "f{value}", "commandLine": "/bin/echo frame {valu}"}
        result = await call(client, "tasks_submit", {"job_id": "bulk", "template": typo, "range": [1, 5]})
        assert result.is_error, text(result)
        assert "{valu}" in text(result) and "{value}" in text(result), text(result)
        objects = {"id": "o{name}", "commandLine": "/bin/echo {nme}"}
        result = await call(client, "tasks_submit", {"job_id": "bulk", "template": objects, "values": [{"name": "a"}]})
        assert result.is_error and "{name}" in text(result), text(result)
        assert await active_count(client, "bulk") == 0

        shell = {"id": "s{value}", "commandLine": "/bin/sh -c 'echo ${HOME} {{valu}} {value}'"}
        result = await ok(client, "tasks_submit", {"job_id": "bulk", "template": shell, "range": [1, 2]})
        task = (await ok(client, "task_get", {"job_id": "bulk", "task_id": "s1"})).structured_content or {}
        assert task["commandLine"] == "/bin/sh -c 'echo ${HOME} {valu} 1'"
        assert "{HOME}" in text(result), text(result)  # still reported, as a shell variable may be a slip too


async def test_one_mistake_in_a_template_is_told_once_not_once_per_task(tmp_path: Path) -> None:
    """A field every expanded task shares fails the same way in each: 5,000 tasks gave 10 copies of the
    same error (with its list of allowed fields) and '4990 more'. It is one mistake, said once, with
    how many tasks it hits; different mistakes each keep their own line."""
    async with workflow_client(tmp_path) as client:
        await idle_job(client)
        template = {"id": "t{value}", "commandLine": "/bin/true", "bogus": 1}
        result = await call(client, "tasks_submit", {"job_id": "bulk", "template": template, "range": [1, 5000]})
        reply = text(result)
        assert result.is_error and reply.count("unknown field") == 1, reply
        assert "$.tasks[*].bogus" in reply and "all 5000 tasks" in reply and "more bad" not in reply, reply
        mixed = [{"id": f"m{n}", "commandLine": "/bin/true"} for n in range(6)]
        mixed[1]["bogus"] = mixed[4]["bogus"] = 1
        del mixed[5]["commandLine"]
        result = await call(client, "tasks_submit", {"job_id": "bulk", "tasks": mixed})
        reply = text(result)
        assert "3 of 6" in reply and "$.tasks[1,4].bogus" in reply and "$.tasks[5].commandLine" in reply, reply
        assert reply.count("unknown field") == 1, reply
        assert await active_count(client, "bulk") == 0


async def test_tasks_for_a_missing_job_fail_with_one_reason_and_what_to_try(tmp_path: Path) -> None:
    """5,000 tasks to a job that does not exist: the reply listed ten identical JobNotFound lines, one
    per task id, and no way forward. One line per distinct failure, its first task ids, and the hint."""
    async with workflow_client(tmp_path) as client:
        template = {"id": "t{value}", "commandLine": "/bin/true"}
        result = await call(client, "tasks_submit", {"job_id": "nojob", "template": template, "range": [1, 5000]})
        reply = text(result)
        assert result.is_error and reply.count("The specified job does not exist.") == 1, reply
        assert "what to try: Check the job id with job_list." in reply, reply
        data = result.structured_content or {}
        assert data["failed"] == 5000 and data["failures"][0]["count"] == 5000, data
