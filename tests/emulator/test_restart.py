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
def emulator_process(data_dir: Path, sandbox: str = "off") -> Iterator[tuple[subprocess.Popen[str], str]]:
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
            "--sandbox",
            sandbox,
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


def sandbox_works() -> bool:
    from batch_mcp.emulator.sandbox import detect

    return detect().available


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("sandbox", ["off", pytest.param("on", marks=pytest.mark.skipif("not sandbox_works()"))])
async def test_kill_9_during_a_run_then_restart_completes_every_task_once_or_requeued(
    tmp_path: Path, sandbox: str
) -> None:
    """With the sandbox too: its processes die with the killed emulator, and the node folder
    (where the tasks log, the one place a sandboxed task may write) keeps what they wrote."""
    data = tmp_path / "state"
    command = "/bin/sh -c 'sleep 0.05; echo $AZ_BATCH_TASK_ID >> $AZ_BATCH_NODE_SHARED_DIR/ran.txt'"
    with emulator_process(data, sandbox) as (proc, url):
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

    with emulator_process(data, sandbox) as (_proc, url):
        await wait_up(url)
        async with httpx2.AsyncClient(base_url=url, timeout=30) as http:
            api = Api(http)
            with anyio.fail_after(120):
                while await completed(api) < TASKS:  # noqa: ASYNC110 - polling a remote service
                    await anyio.sleep(0.05)
            tasks = (await api.get("/jobs/job/tasks", params={"$select": "id,state,executionInfo"})).json()["value"]

    assert len(tasks) == TASKS
    (log,) = data.glob("nodes/pool/*/shared/ran.txt")
    ran = Counter(log.read_text(encoding="utf-8").split())
    requeued = 0
    for task in tasks:
        info = task["executionInfo"]
        assert task["state"] == "completed" and info["result"] == "success", task
        runs = ran[task["id"]]
        assert 1 <= runs <= 1 + info["requeueCount"], (task["id"], runs, info)
        requeued += info["requeueCount"]
    assert requeued >= 1  # the tasks caught running were requeued, not lost
