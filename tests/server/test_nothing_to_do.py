"""A destructive call with nothing left to do says so instead of asking the user a question that
cannot be answered sensibly ("task a is completed; it will be killed. Continue?")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.conftest import answering, call, connect, make_settings, text, wait_until

pytestmark = pytest.mark.anyio


async def test_ending_what_has_already_ended_asks_nothing_and_says_so(tmp_path: Path, era: str) -> None:
    asker = answering(True)
    async with connect(make_settings(tmp_path), era, elicitation=asker) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        assert not (await call(client, "task_add", {"job_id": "j", "id": "a", "commandLine": "/bin/true"})).is_error
        await wait_until(client, "task_get", {"job_id": "j", "task_id": "a"}, lambda t: t.get("state") == "completed")
        asked_before = len(asker.questions)

        done = await call(client, "task_terminate", {"job_id": "j", "task_id": "a"})
        assert done.is_error and "already completed" in text(done), text(done)
        assert len(asker.questions) == asked_before

        assert not (await call(client, "job_terminate", {"job_id": "j"})).is_error  # asked once, fine
        await wait_until(client, "job_get", {"job_id": "j"}, lambda j: j.get("state") == "completed")
        asked_before = len(asker.questions)
        again = await call(client, "job_terminate", {"job_id": "j"})
        assert again.is_error and "already completed" in text(again), text(again)
        stop = await call(client, "pool_stop_resize", {"pool_id": "local"})
        assert stop.is_error and "not resizing" in text(stop), text(stop)
        assert len(asker.questions) == asked_before, asker.questions[asked_before:]
