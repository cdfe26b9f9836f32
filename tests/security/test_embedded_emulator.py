"""Attacks on the emulator the MCP server starts for itself: another local process (or a web page)
must not be able to run commands through it. It opens no TCP port; its Unix socket sits in a
folder only this user can enter; and a request there needs the folder's Shared Key, freshly dated."""

from __future__ import annotations

import base64
import functools
import json
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from batch_mcp.catalog import load_catalog
from batch_mcp.server.backend import Backend, open_client
from tests.security.rawhttp import API, signed_headers, unix_request
from tests.server.conftest import make_settings

pytestmark = pytest.mark.anyio

JOB = json.dumps({"id": "evil", "poolInfo": {"poolId": "local"}}).encode()
POST_JOBS = f"/jobs?{API}"


@asynccontextmanager
async def embedded(folder: Path, tmp_path: Path) -> AsyncIterator[Backend]:
    settings = make_settings(tmp_path, emulator_data_dir=folder)
    async with open_client(settings, load_catalog(settings.api_version)) as backend:
        yield backend


def socket_of(backend: Backend) -> str:
    return backend.emulator.folder.socket_path


async def raw(path: str, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
    """A raw request from a worker thread (the emulator answers on this thread's event loop)."""
    status, _, reply = await anyio.to_thread.run_sync(
        functools.partial(unix_request, path, method, target, headers, body)
    )
    return status, reply


async def job_exists(backend: Backend) -> bool:
    target = f"/jobs/evil?{API}"
    status, _ = await raw(
        socket_of(backend), "GET", target, signed_headers("GET", target, "local", backend.emulator.key)
    )
    return status == 200


def listening_tcp_inodes() -> set[str]:
    """Inodes of TCP sockets in LISTEN state that this process holds open."""
    mine = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    found = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text(encoding="utf-8").splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in mine:  # 0A: LISTEN
                found.add(fields[9])
    return found


async def test_the_servers_emulator_opens_no_tcp_port(tmp_path: Path) -> None:
    before = listening_tcp_inodes()
    async with embedded(tmp_path / "emu", tmp_path) as backend:
        assert not backend.endpoint.startswith(("http://127.", "http://localhost:", "http://[::1]"))
        assert listening_tcp_inodes() == before


async def test_a_request_without_a_signature_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    async with embedded(tmp_path / "emu", tmp_path) as backend:
        status, body = await raw(socket_of(backend), "POST", POST_JOBS, {"Content-Type": "application/json"}, JOB)
        assert status in (401, 403), body
        assert not await job_exists(backend)


async def test_a_request_signed_with_another_key_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    guessed = base64.b64encode(os.urandom(32)).decode()
    async with embedded(tmp_path / "emu", tmp_path) as backend:
        headers = signed_headers("POST", POST_JOBS, "local", guessed, JOB)
        status, body = await raw(socket_of(backend), "POST", POST_JOBS, headers, JOB)
        assert status in (401, 403), body
        assert not await job_exists(backend)


async def test_a_signed_request_replayed_after_fifteen_minutes_is_refused(tmp_path: Path) -> None:
    """A captured request (say, from a log) is worthless once its date is 15 minutes old."""
    async with embedded(tmp_path / "emu", tmp_path) as backend:
        captured = signed_headers("POST", POST_JOBS, "local", backend.emulator.key, JOB, age=16 * 60)
        status, body = await raw(socket_of(backend), "POST", POST_JOBS, captured, JOB)
        assert status == 403, body
        assert not await job_exists(backend)
        fresh = signed_headers("POST", POST_JOBS, "local", backend.emulator.key, JOB)
        status, body = await raw(socket_of(backend), "POST", POST_JOBS, fresh, JOB)
        assert status == 201, body  # the same request, signed now, is what the key holder may send
        assert await job_exists(backend)


def open_parent() -> Path:
    """A folder anyone may pass through: the state folder inside it must stop other users itself."""
    parent = Path(tempfile.mkdtemp(prefix="emu-shared-parent-"))
    parent.chmod(0o755)
    return parent


SYSTEM_PYTHON = "/usr/bin/python3"  # one another user may run (a venv under a private home may not be)


@pytest.mark.skipif(
    os.getuid() != 0 or not os.access(SYSTEM_PYTHON, os.X_OK),
    reason="needs root and a system python to act as another user",
)
async def test_another_user_cannot_reach_the_socket_or_read_the_key(tmp_path: Path) -> None:
    parent = open_parent()
    try:
        async with embedded(parent / "emu", tmp_path) as backend:
            probe = (
                "import socket, sys\n"
                "s = socket.socket(socket.AF_UNIX)\n"
                "try:\n    s.connect(sys.argv[1])\nexcept OSError as e:\n    print('refused', e.errno)\n"
                "else:\n    print('connected')\n"
                "try:\n    open(sys.argv[2]).read()\nexcept OSError as e:\n    print('unreadable', e.errno)\n"
                "else:\n    print('read')\n"
            )
            result = await anyio.run_process(
                [
                    SYSTEM_PYTHON,
                    "-I",
                    "-c",
                    probe,
                    str(parent / "emu" / "emulator.sock"),
                    str(parent / "emu" / "emulator.key"),
                ],
                user=65534,
                group=65534,
                check=False,
            )
            lines = result.stdout.decode().split("\n")
            assert lines[0].startswith("refused"), result.stdout + result.stderr
            assert lines[1].startswith("unreadable"), result.stdout + result.stderr
            assert backend.emulator.role == "owner"
    finally:
        import shutil

        shutil.rmtree(parent, ignore_errors=True)


async def test_web_page_shaped_requests_are_refused_even_with_the_key(tmp_path: Path) -> None:
    """Each browser-side rule holds on its own, on the socket too: a foreign Origin, a DNS-rebinding
    Host and a text/plain body are refused even when correctly signed."""
    async with embedded(tmp_path / "emu", tmp_path) as backend:
        key = backend.emulator.key
        attempts = {
            "origin": signed_headers("POST", POST_JOBS, "local", key, JOB, Origin="http://evil.example"),
            "host": signed_headers("POST", POST_JOBS, "local", key, JOB, Host="evil.example"),
            "text/plain": signed_headers("POST", POST_JOBS, "local", key, JOB, **{"Content-Type": "text/plain"}),
        }
        for name, headers in attempts.items():
            status, body = await raw(socket_of(backend), "POST", POST_JOBS, headers, JOB)
            assert status in (400, 403, 421), (name, body)
            assert not await job_exists(backend)


async def test_a_deep_body_is_a_client_error_on_the_socket(tmp_path: Path) -> None:
    deep = b"[" * 50_000 + b"]" * 50_000
    async with embedded(tmp_path / "emu", tmp_path) as backend:
        headers = signed_headers("POST", POST_JOBS, "local", backend.emulator.key, deep)
        status, body = await raw(socket_of(backend), "POST", POST_JOBS, headers, deep)
        assert status == 400, body
