"""State lives in SQLite under the data directory: a stopped emulator starts again with every
pool, job and task; the embedded default starts with one small ready pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_mcp.emulator import EmulatorConfig
from tests.emulator.conftest import fast_config, make_pool, running, until

pytestmark = pytest.mark.anyio


async def test_state_survives_a_restart_on_the_same_data_dir(tmp_path: Path) -> None:
    config = fast_config(data_dir=tmp_path / "state", runner="instant")
    async with running(config) as (_, api):
        await make_pool(api, "p", nodes=2)
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs/j/addtaskcollection", {"value": [{"id": f"t{i}", "commandLine": "x"} for i in range(10)]})
        await api.wait("/jobs/j/taskcounts", lambda c: c["taskCounts"]["completed"] == 10)
        before = (await api.get("/jobs/j/tasks/t3")).json()
    assert (tmp_path / "state" / "emulator.sqlite3").is_file()
    async with running(config) as (_, api):
        assert [p["id"] for p in (await api.get("/pools")).json()["value"]] == ["p"]
        assert len((await api.get("/pools/p/nodes")).json()["value"]) == 2
        after = (await api.get("/jobs/j/tasks/t3")).json()
        assert after == before
        assert (await api.get("/jobs/j/taskcounts")).json()["taskCounts"]["succeeded"] == 10


async def test_the_seed_pool_is_ready_for_a_first_task_at_once() -> None:
    async with running(EmulatorConfig(seed_pool=True, tick_interval=0.01)) as (_, api):
        pool = (await api.get("/pools/local")).json()
        assert (pool["allocationState"], pool["currentDedicatedNodes"], pool["taskSlotsPerNode"]) == ("steady", 1, 4)
        assert [n["state"] for n in (await api.get("/pools/local/nodes")).json()["value"]] == ["idle"]
        await api.post("/jobs", {"id": "first", "poolInfo": {"poolId": "local"}})
        await api.post("/jobs/first/tasks", {"id": "hello", "commandLine": "echo hello"})
        await api.wait("/jobs/first/tasks/hello", lambda t: t["state"] == "completed")
        assert (await api.get("/jobs/first/tasks/hello/files/stdout.txt")).text == "hello\n"


async def test_stopping_the_emulator_kills_every_task_process() -> None:
    from tests.emulator.test_tasks import _gone

    async with running() as (_, api):
        await make_pool(api, "p")
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs/j/tasks", {"id": "long", "commandLine": "/bin/sh -c 'echo $$; exec sleep 60'"})

        async def printed() -> bool:
            return (await api.get("/jobs/j/tasks/long/files/stdout.txt")).text.strip().isdigit()

        await until(printed)
        pid = int((await api.get("/jobs/j/tasks/long/files/stdout.txt")).text)
    await _gone(pid)
