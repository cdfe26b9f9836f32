"""A file delete asks with what it really removes: a recursive delete of a folder says so and how much.

The attacker is a prompt-injected model asking to "clean up a file" while passing `recursive`
on the task's whole working folder, or a path whose control characters make it read as another.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.conftest import answering, call, connect, make_settings, text, wait_until

pytestmark = pytest.mark.anyio

DISGUISED = "c\u202etxt.exe\u200b"  # shows as "cexe.txt" in a terminal, with an invisible end
MAKES_FILES = (
    f"/bin/sh -c 'mkdir -p out && echo a > out/a.txt && echo b > out/b.txt && echo c > c.txt && echo d > {DISGUISED}'"
)


async def ran(client: object) -> None:
    assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error  # type: ignore[arg-type]
    added = await call(client, "task_add", {"job_id": "j", "id": "t", "commandLine": MAKES_FILES})  # type: ignore[arg-type]
    assert not added.is_error, text(added)
    await wait_until(client, "task_get", {"job_id": "j", "task_id": "t"}, lambda t: t.get("state") == "completed")  # type: ignore[arg-type]


async def test_a_recursive_delete_says_it_removes_a_folder_and_how_many_files(tmp_path: Path) -> None:
    said_no = answering(False)
    async with connect(make_settings(tmp_path), "legacy", elicitation=said_no) as client:
        await ran(client)
        result = await call(
            client, "task_file_delete", {"job_id": "j", "task_id": "t", "file_path": "wd", "recursive": True}
        )
        kept = await call(client, "task_file_get_properties", {"job_id": "j", "task_id": "t", "file_path": "wd/c.txt"})
    assert "declined" in text(result) and not kept.is_error
    question = said_no.questions[0]
    assert "folder wd" in question and "4 files" in question, question


async def test_a_path_with_invisible_characters_is_shown_spelled_out(tmp_path: Path) -> None:
    said_no = answering(False)
    async with connect(make_settings(tmp_path), "legacy", elicitation=said_no) as client:
        await ran(client)
        result = await call(client, "task_file_delete", {"job_id": "j", "task_id": "t", "file_path": f"wd/{DISGUISED}"})
    assert len(said_no.questions) == 1, text(result)
    question = said_no.questions[0]
    assert "\u202e" not in question and "\u200b" not in question
    assert "c\\u202etxt.exe\\u200b" in question, question
