"""Attacks from inside a task: the command line is code someone else wrote (a prompt-injected
model, say). In the sandbox it must not change any file outside its node's folder, read the
emulator's key, reach the emulator's socket or the network, or undo the sandbox, even as root.
Every test runs with each sandbox that works on this machine (bubblewrap, the emulator's own
namespace launcher)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from batch_mcp.emulator import sandbox
from batch_mcp.emulator.hosting import SharedEmulator
from tests.emulator.conftest import fast_config
from tests.emulator.test_hosting import SignedApi, process

pytestmark = pytest.mark.anyio
SYSTEM_PYTHON = "/usr/bin/python3"
PROBE = Path("/etc/batch-mcp-sandbox-probe")  # a system folder: read-only in the sandbox


def working_kinds() -> list[str]:
    return [kind for kind in ("bwrap", "unshare") if sandbox._probe(kind) is None]  # type: ignore[arg-type]


KINDS = working_kinds()


@pytest.fixture(params=KINDS or ["none"])
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "none":
        pytest.skip("no sandbox works on this machine")
    monkeypatch.setattr(sandbox, "detect", lambda: sandbox.Isolation(request.param, "under test"))
    return request.param


VM_POOL: dict[str, Any] = {
    "vmSize": "standard_d2s_v3",
    "virtualMachineConfiguration": {
        "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
    },
}
# Only nodes of cloud service pools reimage (the service refuses it for virtual machine pools).
CLOUD_SERVICE_POOL: dict[str, Any] = {"vmSize": "small", "cloudServiceConfiguration": {"osFamily": "5"}}


@asynccontextmanager
async def sandboxed(
    folder: Path, machines: dict[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[tuple[SharedEmulator, SignedApi]]:
    """The MCP server's way of hosting a folder, with the sandbox on."""
    config = fast_config(data_dir=folder, sandbox="on", **overrides)
    async with process(config) as (host, api):
        r = await api.post(
            "/pools", {"id": "p1", **(machines or VM_POOL), "targetDedicatedNodes": 1, "taskSlotsPerNode": 4}
        )
        assert r.status_code == 201, r.text
        await api.wait("/pools/p1/nodes", lambda b: bool(b["value"]) and b["value"][0]["state"] == "idle")
        assert (await api.post("/jobs", {"id": "j1", "poolInfo": {"poolId": "p1"}})).status_code == 201
        yield host, api


async def run(api: SignedApi, task_id: str, command: str, **extra: Any) -> dict[str, Any]:
    assert (await api.post("/jobs/j1/tasks", {"id": task_id, "commandLine": command, **extra})).status_code == 201
    return await api.wait(f"/jobs/j1/tasks/{task_id}", lambda t: t["state"] == "completed")


async def output(api: SignedApi, task_id: str, name: str = "stdout.txt") -> str:
    return (await api.get(f"/jobs/j1/tasks/{task_id}/files/{name}")).text


async def test_the_emulator_says_which_sandbox_runs_its_tasks(tmp_path: Path, kind: str) -> None:
    async with sandboxed(tmp_path / "emu") as (host, api):
        assert host.isolation() == kind
        task = await run(api, "t1", "/bin/sh -c 'exit 3'")
        assert task["executionInfo"]["exitCode"] == 3  # exit codes come through the sandbox


async def test_a_task_changes_no_file_outside_its_node_folder(tmp_path: Path, kind: str) -> None:
    keep = tmp_path / "keep.txt"
    keep.write_text("keep", encoding="utf-8")
    home_probe = Path(os.environ.get("HOME", "/root")) / f".batch-mcp-sandbox-probe-{os.getpid()}"
    attacks = [
        f"echo pwned > {keep}",
        f"rm -f {keep}",
        f"touch {home_probe}",
        f"echo pwned > {tmp_path / 'new.txt'}",
        f"echo pwned > {PROBE}",
        "echo pwned > $AZ_BATCH_NODE_ROOT_DIR/../../../emulator.key",
    ]
    try:
        async with sandboxed(tmp_path / "emu") as (_, api):
            key = (tmp_path / "emu" / "emulator.key").read_text(encoding="utf-8")
            for i, attack in enumerate(attacks):
                await run(api, f"a{i}", f"/bin/sh -c '{attack}'")
            written = await run(
                api,
                "ok",
                "/bin/sh -c 'echo fine > $AZ_BATCH_TASK_WORKING_DIR/x && echo shared > $AZ_BATCH_NODE_SHARED_DIR/y'",
            )
            assert written["executionInfo"]["exitCode"] == 0  # the node's own folders stay writable
        assert keep.read_text(encoding="utf-8") == "keep"
        assert not home_probe.exists() and not (tmp_path / "new.txt").exists()
        assert not PROBE.exists()  # noqa: ASYNC240
        assert (tmp_path / "emu" / "emulator.key").read_text(encoding="utf-8") == key
    finally:
        home_probe.unlink(missing_ok=True)


async def test_a_task_cannot_read_the_emulators_key_or_its_database(tmp_path: Path, kind: str) -> None:
    async with sandboxed(tmp_path / "emu") as (host, api):
        state = tmp_path / "emu"
        await run(
            api, "t1", f"/bin/sh -c 'cat {state}/emulator.key; ls {state}; cat {state}/emulator.sqlite3 | head -c 64'"
        )
        seen = await output(api, "t1")
        assert host.key not in seen
        assert "emulator.sqlite3" not in seen and "emulator.sock" not in seen


@pytest.mark.skipif(not os.access(SYSTEM_PYTHON, os.X_OK), reason="needs a system python for socket calls")
async def test_a_task_reaches_neither_the_emulators_socket_nor_the_network(tmp_path: Path, kind: str) -> None:
    with listening() as port:
        async with sandboxed(tmp_path / "emu") as (host, api):
            assert host.folder is not None
            probe = (
                "import socket, sys\n"
                "targets = ((socket.AF_UNIX, sys.argv[1]), (socket.AF_INET, ('127.0.0.1', int(sys.argv[2]))))\n"
                "for family, address in targets:\n"
                "    s = socket.socket(family)\n"
                "    s.settimeout(5)\n"
                "    try:\n        s.connect(address)\n        print('reached', family)\n"
                "    except OSError as e:\n        print('refused', family, e.errno)\n"
            )
            command = f'{SYSTEM_PYTHON} -I -c "{probe}" {host.folder.socket_path} {port}'
            task = await run(api, "t1", command)
            seen = await output(api, "t1")
            assert task["executionInfo"]["exitCode"] == 0, seen + await output(api, "t1", "stderr.txt")
            assert "reached" not in seen and seen.count("refused") == 2, seen


async def test_a_root_task_cannot_undo_the_sandbox(tmp_path: Path, kind: str) -> None:
    state = tmp_path / "emu"
    async with sandboxed(state) as (host, api):
        attempt = f"umount {state}; umount /tmp; mount -o remount,rw /; cat {state}/emulator.key; echo x > {PROBE}"
        await run(api, "t1", f"/bin/sh -c '{attempt}'")
        assert host.key not in await output(api, "t1")
    assert not PROBE.exists()  # noqa: ASYNC240


async def test_a_program_the_sandbox_hides_is_reported_as_not_found(tmp_path: Path, kind: str) -> None:
    home = Path(os.environ.get("HOME", "/root"))
    program = home / f".batch-mcp-probe-{os.getpid()}.sh"
    program.write_text("#!/bin/sh\necho ran\n", encoding="utf-8")
    program.chmod(0o755)
    try:
        async with sandboxed(tmp_path / "emu") as (_, api):
            task = await run(api, "t1", str(program))
            failure = task["executionInfo"]["failureInfo"]
            assert failure["code"] == "CommandProgramNotFound"
            assert "sandbox hides" in failure["message"]
    finally:
        program.unlink(missing_ok=True)


async def test_terminating_a_sandboxed_task_ends_it(tmp_path: Path, kind: str) -> None:
    async with sandboxed(tmp_path / "emu") as (_, api):
        assert (await api.post("/jobs/j1/tasks", {"id": "t1", "commandLine": "/bin/sleep 60"})).status_code == 201
        await api.wait("/jobs/j1/tasks/t1", lambda t: t["state"] == "running")
        assert (await api.post("/jobs/j1/tasks/t1/terminate")).status_code == 204
        task = await api.wait("/jobs/j1/tasks/t1", lambda t: t["state"] == "completed")
        assert task["executionInfo"]["exitCode"] == 137


async def test_a_required_sandbox_that_cannot_be_built_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "detect", lambda: sandbox.Isolation("none", "nothing works in this test"))
    with pytest.raises(sandbox.SandboxUnavailable):
        async with process(fast_config(data_dir=tmp_path / "emu", sandbox="on")):
            pass


# -- helpers -----------------------------------------------------------------------------------


class listening:
    """A TCP listener on loopback in this (the host's) network namespace."""

    def __enter__(self) -> int:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self.sock.getsockname()[1]

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
                conn.close()
            except OSError:
                continue

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


async def test_the_servers_emulator_runs_tasks_in_the_sandbox_its_policy_asks_for(tmp_path: Path, kind: str) -> None:
    """`emulator_exec=sandbox` (and `auto` where one works): the backend reports the isolation it uses."""
    from batch_mcp.catalog import load_catalog
    from batch_mcp.server.backend import open_client
    from tests.server.conftest import make_settings

    for setting in ("sandbox", "auto"):
        settings = make_settings(tmp_path, emulator_data_dir=tmp_path / f"emu-{setting}", emulator_exec=setting)
        async with open_client(settings, load_catalog(settings.api_version)) as backend:
            assert backend.isolation() == kind
    settings = make_settings(tmp_path, emulator_data_dir=tmp_path / "emu-confirm", emulator_exec="confirm")
    async with open_client(settings, load_catalog(settings.api_version)) as backend:
        assert backend.isolation() == "none"


async def test_resource_files_come_only_from_where_the_task_could_read(tmp_path: Path, kind: str) -> None:
    """The emulator copies `file://` resource files itself: for a sandboxed task it must not fetch
    what the sandbox hides (the home folder, /tmp), nor download from loopback without network."""
    home = Path(os.environ.get("HOME", "/root"))
    secret = home / f".batch-mcp-resource-probe-{os.getpid()}"
    secret.write_text("private", encoding="utf-8")
    in_tmp = tmp_path / "in-tmp.txt"
    in_tmp.write_text("private too", encoding="utf-8")
    try:
        async with sandboxed(tmp_path / "emu") as (_, api):
            for i, source in enumerate((secret, in_tmp)):
                task = await run(
                    api, f"r{i}", "/bin/true", resourceFiles=[{"httpUrl": source.as_uri(), "filePath": "x"}]
                )
                assert task["executionInfo"]["failureInfo"]["code"] == "BlobAccessDenied", task
                assert (await api.get(f"/jobs/j1/tasks/r{i}/files/wd/x")).status_code == 404
            task = await run(
                api, "net", "/bin/true", resourceFiles=[{"httpUrl": "http://127.0.0.1:9/x", "filePath": "x"}]
            )
            assert "no network" in task["executionInfo"]["failureInfo"]["message"]
            visible = await run(
                api, "ok", "/bin/true", resourceFiles=[{"httpUrl": "file:///etc/passwd", "filePath": "h"}]
            )
            assert visible["executionInfo"]["exitCode"] == 0, visible
    finally:
        secret.unlink(missing_ok=True)


async def test_a_reimaged_node_gets_a_fresh_sandbox_over_its_new_folder(tmp_path: Path, kind: str) -> None:
    """One sandbox serves all of a node's tasks; a reimage makes a new node folder, and the next
    task must run (and write) in that one, not in the folder that was removed."""
    async with sandboxed(tmp_path / "emu", CLOUD_SERVICE_POOL) as (_, api):
        first = await run(api, "t1", "/bin/sh -c 'echo one > out.txt'")
        node = first["nodeInfo"]["nodeId"]
        assert (await api.post(f"/pools/p1/nodes/{node}/reimage")).status_code == 202
        await api.wait(f"/pools/p1/nodes/{node}", lambda n: n["state"] == "idle")
        second = await run(api, "t2", "/bin/sh -c 'echo two > out.txt'")
        assert second["executionInfo"]["exitCode"] == 0, second
        assert (await api.get("/jobs/j1/tasks/t2/files/wd/out.txt")).text == "two\n"


async def test_an_attached_process_learns_at_once_that_a_new_owner_has_no_sandbox(tmp_path: Path, kind: str) -> None:
    """The isolation a guardrail relies on is the serving emulator's: when a sandboxed owner leaves
    and a process without the sandbox takes over, the others' next answer says so."""
    import anyio

    folder = tmp_path / "emu"
    sandboxed_config = fast_config(data_dir=folder, sandbox="on")
    plain_config = fast_config(data_dir=folder)
    owner_ready, owner_may_leave, owner_left = anyio.Event(), anyio.Event(), anyio.Event()

    async def owner() -> None:
        async with process(sandboxed_config) as (host, _):
            assert host.role == "owner" and host.isolation() == kind
            owner_ready.set()
            await owner_may_leave.wait()
        owner_left.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(owner)
        await owner_ready.wait()
        async with process(plain_config, poll_interval=3600) as (watcher, watcher_api):
            assert watcher.isolation() == kind
            async with process(plain_config, poll_interval=0.02) as (successor, _):
                owner_may_leave.set()
                await owner_left.wait()
                with anyio.fail_after(10):
                    while successor.role != "owner":  # noqa: ASYNC110 - it polls the lock
                        await anyio.sleep(0.02)
                assert (await watcher_api.get("/pools")).status_code == 200
                assert watcher.role == "attached" and watcher.isolation() == "none"


async def test_work_accepted_in_a_sandbox_never_runs_without_one(tmp_path: Path, kind: str) -> None:
    """Nobody was asked about command lines a sandboxed emulator accepted. If its owner leaves and a
    process without a sandbox would take the folder over, that process refuses, naming what is
    pending, instead of running them on the host; once nothing accepted then can run, it may."""
    folder = tmp_path / "emu"
    marker = tmp_path / "ran-on-the-host"
    async with process(fast_config(data_dir=folder, sandbox="on")) as (_, api):
        empty_pool = {
            "id": "later",
            "vmSize": "standard_d2s_v3",
            "virtualMachineConfiguration": {
                "imageReference": {
                    "publisher": "canonical",
                    "offer": "0001-com-ubuntu-server-jammy",
                    "sku": "22_04-lts",
                },
                "nodeAgentSKUId": "batch.node.ubuntu 22.04",
            },
            "targetDedicatedNodes": 0,
        }
        assert (await api.post("/pools", empty_pool)).status_code == 201
        assert (await api.post("/jobs", {"id": "j1", "poolInfo": {"poolId": "later"}})).status_code == 201
        task = {"id": "t1", "commandLine": f"/bin/sh -c 'touch {marker}'"}
        assert (await api.post("/jobs/j1/tasks", task)).status_code == 201
    with pytest.raises(sandbox.SandboxUnavailable, match="task t1 of job j1"):
        async with process(fast_config(data_dir=folder)):
            pass
    assert not marker.exists()
    async with process(fast_config(data_dir=folder, sandbox="on")) as (_, api):
        assert (await api.call("DELETE", "/jobs/j1")).status_code == 202
        await api.wait_gone("/jobs/j1")
    async with process(fast_config(data_dir=folder)) as (host, api):
        assert host.isolation() == "none"
        assert (await api.get("/pools")).status_code == 200
