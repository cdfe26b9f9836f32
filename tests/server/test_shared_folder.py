"""Several batch-mcp processes on one emulator state folder, as when two MCP clients and a shell
all use the default folder: one consistent account, nobody disturbs anybody's tasks, and the
owner's exit (even `kill -9`) is survived by the others."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp
import pytest
from mcp.client.stdio import StdioServerParameters

from batch_mcp.server import create_server
from tests.server.conftest import call, make_settings, text, wait_until
from tests.server.test_transports import server_env

pytestmark = pytest.mark.anyio


def folder_env(tmp_path: Path) -> dict[str, str]:
    return server_env(tmp_path) | {
        "BATCH_MCP_EMULATOR_DATA_DIR": str(tmp_path / "emu"),
        "BATCH_MCP_TOOLSETS": "all",
        "BATCH_MCP_EMULATOR_EXEC": "unrestricted",  # these tests are about hosting, not the task sandbox
    }


def waiting_command(release: Path, pid_file: Path | None = None) -> str:
    """A task that runs until the test creates `release` (optionally writing its pid first)."""
    record = f"echo $$ > {pid_file}; " if pid_file else ""
    return f"/bin/sh -c '{record}while [ ! -f {release} ]; do sleep 0.05; done'"


def task_args(**extra: Any) -> dict[str, Any]:
    return {"job_id": "j1", "task_id": "t1", **extra}


async def test_two_servers_and_a_shell_call_share_one_account_and_leave_running_tasks_alone(tmp_path: Path) -> None:
    """The reported failure: a read-only `batch-mcp call task_get` from a shell requeued a task an
    MCP session was running. Here it reads the task, which runs on undisturbed and completes once."""
    env = folder_env(tmp_path)
    release = tmp_path / "release"
    params = StdioServerParameters(command=sys.executable, args=["-m", "batch_mcp"], env=env)
    with anyio.fail_after(120):
        async with mcp.Client(params) as first:
            added = await call(first, "job_add", {"id": "j1", "poolInfo": {"poolId": "local"}})
            assert not added.is_error, text(added)
            added = await call(first, "task_add", {"job_id": "j1", "id": "t1", "commandLine": waiting_command(release)})
            assert not added.is_error, text(added)
            await wait_until(first, "task_get", task_args(), lambda t: t.get("state") == "running")
            async with mcp.Client(params) as second:
                job = await call(second, "job_get", {"job_id": "j1"})
                assert not job.is_error, text(job)
                assert job.structured_content["id"] == "j1"
                shell = await anyio.run_process(
                    [sys.executable, "-m", "batch_mcp", "call", "task_get", "--args", json.dumps(task_args())],
                    env=env,
                    check=False,
                )
                assert shell.returncode == 0, shell.stderr.decode()
                assert '"state":"running"' in shell.stdout.decode()
                seen = await call(second, "task_get", task_args())
                assert seen.structured_content["state"] == "running"
                release.touch()
                done = await wait_until(second, "task_get", task_args(), lambda t: t.get("state") == "completed")
                assert done["executionInfo"]["exitCode"] == 0
                assert done["executionInfo"].get("requeueCount", 0) == 0  # results leave out values at their default


def owner_pid(folder: Path) -> int | None:
    text = (folder / "emulator.lock").read_text(encoding="utf-8").strip() if (folder / "emulator.lock").exists() else ""
    return int(text) if text.isdigit() else None


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


async def test_a_server_survives_the_owner_being_killed_and_recovers_its_tasks(tmp_path: Path) -> None:
    """kill -9 of the process serving the folder: another server takes the folder over, ends the
    task process the dead owner left behind, and reruns the task (requeued, as after a node failure)."""
    env = folder_env(tmp_path)
    folder = tmp_path / "emu"
    release, pid_file = tmp_path / "release", tmp_path / "task.pid"
    # an idle stdio server: its stdin stays open, and it opens the backend shortly after start-up
    owner = await anyio.open_process([sys.executable, "-m", "batch_mcp"], env=env, stderr=subprocess.DEVNULL)
    try:
        with anyio.fail_after(60):
            while owner_pid(folder) != owner.pid:
                assert owner.returncode is None
                await anyio.sleep(0.05)
        settings = make_settings(tmp_path, emulator_data_dir=folder, emulator_transition_delay=0.05)
        async with mcp.Client(create_server(settings)) as client:
            await call(client, "job_add", {"id": "j1", "poolInfo": {"poolId": "local"}})
            command = waiting_command(release, pid_file)
            added = await call(client, "task_add", {"job_id": "j1", "id": "t1", "commandLine": command})
            assert not added.is_error, text(added)
            await wait_until(client, "task_get", task_args(), lambda t: t.get("state") == "running")
            with anyio.fail_after(10):
                while not pid_file.exists() or not pid_file.read_text(encoding="utf-8").strip():  # noqa: ASYNC110
                    await anyio.sleep(0.02)
            leftover = int(pid_file.read_text(encoding="utf-8"))
            os.kill(owner.pid, signal.SIGKILL)
            await owner.wait()
            seen = await call(client, "task_get", task_args())  # finds nobody serving: takes over
            assert not seen.is_error, text(seen)
            assert owner_pid(folder) == os.getpid()
            with anyio.fail_after(10):  # the dead owner's task process ends (its node agent or the new owner ends it)
                while is_running(leftover):  # noqa: ASYNC110 - polling another process
                    await anyio.sleep(0.02)
            release.touch()
            done = await wait_until(client, "task_get", task_args(), lambda t: t.get("state") == "completed")
            assert done["executionInfo"]["requeueCount"] == 1
            assert done["executionInfo"]["exitCode"] == 0
    finally:
        if owner.returncode is None:
            owner.kill()
        await owner.wait()
