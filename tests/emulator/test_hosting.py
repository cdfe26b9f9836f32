"""One account per state folder: the first process serves it on a private socket, later ones
attach, and one of them takes over when the owner leaves. Each `SharedEmulator` here stands for
one batch-mcp process (the lock is per open file, so two in one process contend like two processes)."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from batch_mcp.emulator import EmulatorConfig
from batch_mcp.emulator.clock import tick
from batch_mcp.emulator.embedded import EmbeddedEmulator
from batch_mcp.emulator.hosting import KEY_NAME, SOCKET_NAME, FolderError, SharedEmulator, StateFolder, sign
from tests.emulator.conftest import Api, fast_config, ready_pool, serving

pytestmark = pytest.mark.anyio


def folder_config(folder: Path | str, **overrides: Any) -> EmulatorConfig:
    values: dict[str, Any] = {"data_dir": folder, "transition_delay": 0.02, "tick_interval": 0.01}
    values.update(overrides)
    return EmulatorConfig(**values)


class SignedApi(Api):
    """The test client of the emulator tests, signing every request with the folder's key."""

    def __init__(self, host: SharedEmulator, http: httpx2.AsyncClient) -> None:
        super().__init__(http)
        self.host = host

    async def call(self, method: str, path: str, **kw: Any) -> httpx2.Response:
        query = {"api-version": self.version, **(kw.get("params") or {})}
        request = self.http.build_request(method, path, params=query, json=kw.get("json"), headers=kw.get("headers"))
        sign(request, self.host.key)
        with anyio.fail_after(30):
            return await self.http.send(request)


@asynccontextmanager
async def process(config: EmulatorConfig, **kwargs: Any) -> AsyncIterator[tuple[SharedEmulator, SignedApi]]:
    """What one batch-mcp process does with a state folder: serve it or attach, and talk to it."""
    async with (
        SharedEmulator(config, **kwargs) as host,
        httpx2.AsyncClient(transport=host.transport(), base_url=host.endpoint, timeout=30) as http,
    ):
        yield host, SignedApi(host, http)


async def test_the_first_process_serves_the_folder_and_the_next_attaches_to_the_same_account(tmp_path: Path) -> None:
    config = folder_config(tmp_path / "state")
    async with process(config) as (first, api1), process(config) as (second, api2):
        assert (first.role, second.role) == ("owner", "attached")
        assert second.owner_pid == os.getpid()
        assert (await api2.post("/jobs", {"id": "j1", "poolInfo": {"poolId": "p1"}})).status_code == 201
        seen = await api1.get("/jobs/j1")
        assert seen.status_code == 200, seen.text
        assert seen.json()["id"] == "j1"
        assert seen.json()["url"] == "http://emulator.localhost/jobs/j1"  # a name, not a port anyone listens on


async def test_the_folder_its_key_and_its_socket_are_private_to_the_user(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    async with process(folder_config(folder)):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / KEY_NAME).stat().st_mode) == 0o600
        assert stat.S_ISSOCK((folder / SOCKET_NAME).stat().st_mode)
        assert stat.S_IMODE((folder / SOCKET_NAME).stat().st_mode) == 0o600
    assert not (folder / SOCKET_NAME).exists()  # the owner removes its socket on the way out


async def test_the_folder_keeps_one_key_across_owners(tmp_path: Path) -> None:
    config = folder_config(tmp_path / "state")
    async with process(config) as (first, _):
        key = first.key
    async with process(config) as (again, _):
        assert again.key == key


def test_a_folder_of_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "state").mkdir()
    monkeypatch.setattr(os, "getuid", lambda: tmp_path.stat().st_uid + 1)
    with pytest.raises(FolderError, match="another user"):
        StateFolder(tmp_path / "state")


def test_a_link_in_place_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "state").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FolderError):
        StateFolder(tmp_path / "state")


async def test_a_folder_path_too_long_for_a_socket_address_still_works(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 6)
    async with process(folder_config(deep)) as _, process(folder_config(deep)) as (second, api):
        assert second.role == "attached"
        assert (await api.get("/pools")).status_code == 200


async def test_memory_state_gets_a_private_folder_that_is_gone_afterwards() -> None:
    async with process(folder_config(":memory:")) as (host, api):
        assert host.role == "owner"
        assert host.folder is not None
        private = host.folder.path
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        assert (await api.get("/pools")).status_code == 200
    assert not private.exists()


async def test_when_the_owner_leaves_an_attached_process_takes_over_and_requeues_what_ran(tmp_path: Path) -> None:
    """The owner's exit ends its task processes; the next owner recovers as after kill -9."""
    config = folder_config(tmp_path / "state")
    release = tmp_path / "release"
    owner_ready, owner_may_leave, owner_left = anyio.Event(), anyio.Event(), anyio.Event()

    async def owner() -> None:
        async with process(config) as (host, api):
            assert host.role == "owner"
            assert (await api.post("/pools", ready_pool("p1"))).status_code == 201
            await api.wait("/pools/p1/nodes", lambda b: bool(b["value"]) and b["value"][0]["state"] == "idle")
            assert (await api.post("/jobs", {"id": "j1", "poolInfo": {"poolId": "p1"}})).status_code == 201
            task = {"id": "t1", "commandLine": f"/bin/sh -c 'test -f {release} || exec sleep 60'"}
            assert (await api.post("/jobs/j1/tasks", task)).status_code == 201
            await api.wait("/jobs/j1/tasks/t1", lambda t: t["state"] == "running")
            owner_ready.set()
            await owner_may_leave.wait()
        owner_left.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(owner)
        await owner_ready.wait()
        async with process(config, poll_interval=0.02) as (second, api):
            assert second.role == "attached"
            release.touch()  # the rerun finishes at once
            owner_may_leave.set()
            await owner_left.wait()
            task = await api.wait("/jobs/j1/tasks/t1", lambda t: t["state"] == "completed")
            assert second.role == "owner"
            assert task["executionInfo"]["requeueCount"] == 1
            assert task["executionInfo"]["exitCode"] == 0


async def test_a_request_that_finds_no_server_brings_up_the_folder_at_once(tmp_path: Path) -> None:
    """No waiting for the next poll: a client whose owner left serves the folder on its own request."""
    config = folder_config(tmp_path / "state")
    owner_ready, owner_may_leave, owner_left = anyio.Event(), anyio.Event(), anyio.Event()

    async def owner() -> None:
        async with process(config):
            owner_ready.set()
            await owner_may_leave.wait()
        owner_left.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(owner)
        await owner_ready.wait()
        async with process(config, poll_interval=3600) as (second, api):
            owner_may_leave.set()
            await owner_left.wait()
            assert (await api.get("/pools", params={"maxresults": 1})).status_code == 200
            assert second.role == "owner"


async def test_a_request_and_the_watcher_that_both_find_the_owner_gone_bring_up_one_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An owner on its way out has stopped answering but still holds the lock. A request that finds
    no server waits for the lock, while the watcher also sees the folder free and queues behind it:
    exactly one of them may serve the folder. (A second server over the same store would requeue
    what the first had just restarted.)"""
    path = tmp_path / "state"
    leaving = StateFolder(path)  # the leaving owner: holds the lock, serves until told to stop
    assert leaving.try_lock()
    config = folder_config(path)
    served = dataclasses.replace(config, local_key=leaving.key(), allowed_hosts=[])
    serving, may_stop, stopped = anyio.Event(), anyio.Event(), anyio.Event()

    async def owner() -> None:
        async with EmbeddedEmulator(served, sock=leaving.bind_socket()):
            serving.set()
            await may_stop.wait()
        stopped.set()  # no longer answering; the lock is still held

    async with anyio.create_task_group() as owner_group:
        owner_group.start_soon(owner)
        await serving.wait()
        async with process(config, poll_interval=0.01) as (second, api):
            assert second.role == "attached"
            may_stop.set()
            await stopped.wait()
            caplog.set_level(logging.INFO, logger="batch_mcp.emulator")
            answered = anyio.Event()

            async def ask() -> None:
                assert (await api.get("/pools")).status_code == 200  # waits for a server: this process's own
                answered.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(ask)
                await anyio.sleep(0.2)  # the request waits for the lock; the watcher has seen the folder free
                assert not answered.is_set()
                leaving.close()  # the owner is gone
            assert second.role == "owner"
            socket_inode = (path / SOCKET_NAME).stat().st_ino
            await anyio.sleep(0.2)  # time for a second server to show up, were one started
            servers = [r.getMessage() for r in caplog.records if r.getMessage().startswith("serving the emulator")]
            assert len(servers) == 1, servers
            assert (path / SOCKET_NAME).stat().st_ino == socket_inode


async def test_an_emulator_on_its_way_out_starts_nothing_and_the_next_one_runs_it_once(tmp_path: Path) -> None:
    """Between `leave` (the host is stopping; its server still drains requests) and the end, a task
    accepted is left in the queue: started now, it would only be killed and requeued by the next
    owner. The next emulator on the folder runs it, once, without a requeue."""
    config = fast_config(data_dir=tmp_path / "state")
    async with serving(config) as (emu, api):
        assert (await api.post("/pools", ready_pool("p1"))).status_code == 201
        await api.wait("/pools/p1/nodes", lambda b: bool(b["value"]) and b["value"][0]["state"] == "idle")
        assert (await api.post("/jobs", {"id": "j1", "poolInfo": {"poolId": "p1"}})).status_code == 201
        emu.app.state.emulator.leave()
        assert (await api.post("/jobs/j1/tasks", {"id": "t1", "commandLine": "/bin/true"})).status_code == 201
        tick(emu.backend)  # what the clock does next: nothing is placed
        assert (await api.get("/jobs/j1/tasks/t1")).json()["state"] == "active"
        assert emu.backend.running_slots() == 0
    async with serving(config) as (_, api):
        task = await api.wait("/jobs/j1/tasks/t1", lambda t: t["state"] == "completed")
        assert task["executionInfo"]["requeueCount"] == 0
        assert task["executionInfo"]["exitCode"] == 0
