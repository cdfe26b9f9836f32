"""A killed emulator (kill -9 mid-run) restarts with all its state; tasks that were running are
requeued as the service does when a node fails, and every task completes: none lost, none run
more often than its requeue count allows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx2
import pytest

from tests.emulator.conftest import Api, ready_pool

TASKS = 200


@contextmanager
def emulator_process(data_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batch_mcp.emulator",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--transition-delay",
            "0.05",
            "--no-seed-pool",
            "--no-auth",  # loopback only: this test is about restarts, not authentication
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, line
        yield proc, line.split("listening on ", 1)[1].split()[0]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def wait_up(url: str) -> None:
    with anyio.fail_after(20):
        while True:
            try:
                async with httpx2.AsyncClient(base_url=url) as http:
                    if (await http.get("/pools", params={"api-version": "2024-02-01.19.0"})).status_code == 200:
                        return
            except httpx2.TransportError:
                pass
            await anyio.sleep(0.05)


async def completed(api: Api) -> int:
    return (await api.get("/jobs/job/taskcounts")).json()["taskCounts"]["completed"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_kill_9_during_a_run_then_restart_completes_every_task_once_or_requeued(tmp_path: Path) -> None:
    data = tmp_path / "state"
    log = tmp_path / "ran.txt"
    log.touch()
    command = f"/bin/sh -c 'sleep 0.05; echo $AZ_BATCH_TASK_ID >> {log}'"
    with emulator_process(data) as (proc, url):
        await wait_up(url)
        async with httpx2.AsyncClient(base_url=url, timeout=30) as http:
            api = Api(http)
            pool = ready_pool("pool", nodes=1, slots=4)
            assert (await api.post("/pools", pool)).status_code == 201
            assert (await api.post("/jobs", {"id": "job", "poolInfo": {"poolId": "pool"}})).status_code == 201
            for start in range(0, TASKS, 100):
                batch = [{"id": f"t{i:03d}", "commandLine": command} for i in range(start, start + 100)]
                r = await api.post("/jobs/job/addtaskcollection", {"value": batch})
                assert {x["status"] for x in r.json()["value"]} == {"success"}
            with anyio.fail_after(60):
                while await completed(api) < 40:  # noqa: ASYNC110 - polling a remote service
                    await anyio.sleep(0.02)
            running = (await api.get("/jobs/job/taskcounts")).json()["taskCounts"]["running"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert running > 0  # the kill landed while tasks were running

    with emulator_process(data) as (_proc, url):
        await wait_up(url)
        async with httpx2.AsyncClient(base_url=url, timeout=30) as http:
            api = Api(http)
            with anyio.fail_after(120):
                while await completed(api) < TASKS:  # noqa: ASYNC110 - polling a remote service
                    await anyio.sleep(0.05)
            tasks = (await api.get("/jobs/job/tasks", params={"$select": "id,state,executionInfo"})).json()["value"]

    assert len(tasks) == TASKS
    ran = Counter(log.read_text(encoding="utf-8").split())
    requeued = 0
    for task in tasks:
        info = task["executionInfo"]
        assert task["state"] == "completed" and info["result"] == "success", task
        runs = ran[task["id"]]
        assert 1 <= runs <= 1 + info["requeueCount"], (task["id"], runs, info)
        requeued += info["requeueCount"]
    assert requeued >= 1  # the tasks caught running were requeued, not lost
