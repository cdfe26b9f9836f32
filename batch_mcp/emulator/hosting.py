"""One emulated account per state folder, shared by every batch-mcp process of this user.

Every MCP client starts its own `batch-mcp`, and a shell may run `batch-mcp call` beside them,
all on the same default folder. Exactly one process may run the emulator on a folder (its store,
its clock, its task processes); the others must reach that one, and nothing else may reach it:

- The first process to take an exclusive lock (`flock`) on `<folder>/emulator.lock` owns the
  folder. It serves the emulator on a Unix domain socket, `<folder>/emulator.sock`, and opens the
  SQLite store; no TCP port is opened.
- Later processes find the lock taken and attach: they talk to the owner over that socket.
- The folder is mode 0700 and must belong to this user, so no other user can reach the socket;
  every request must also carry a Shared Key signature made with the folder's key
  (`<folder>/emulator.key`, 32 random bytes, mode 0600, created once per folder). A request
  without one gets 403 and changes nothing.
- When the owner exits (or is killed), the kernel drops its lock. An attached process notices
  (it polls the lock, and any request that cannot connect asks at once), takes the lock, opens the
  store and recovers as after `kill -9`: tasks that were running are requeued. Its clients' next
  requests go to the new owner through the same socket path.

`:memory:` uses a private temporary folder instead, so nothing attaches to it.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import email.utils
import fcntl
import json
import logging
import os
import secrets
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import anyio
import httpx2
from anyio.abc import TaskGroup, TaskStatus

from batch_mcp import sharedkey
from batch_mcp.emulator.app import INFO_PATH, ISOLATION_HEADER
from batch_mcp.emulator.config import LOCAL_ACCOUNT_NAME as ACCOUNT_NAME
from batch_mcp.emulator.config import EmulatorConfig
from batch_mcp.emulator.runner import Runner

log = logging.getLogger("batch_mcp.emulator")

LOCK_NAME = "emulator.lock"
SOCKET_NAME = "emulator.sock"
KEY_NAME = "emulator.key"
# What clients put in the Host header and what the emulator writes into URLs it returns. The
# `.localhost` name says "this machine" without being a port anything listens on: the emulator is
# reachable only through the socket.
ENDPOINT = "http://emulator.localhost"
SUN_PATH_MAX = 100  # sockaddr_un.sun_path holds 108 bytes on Linux, 104 on macOS

Role = Literal["owner", "attached"]


class FolderError(RuntimeError):
    """The state folder cannot be used safely (not ours, not a folder, unreadable key, ...)."""


class StateFolder:
    """The lock, the key and the socket path of one state folder.

    The folder is opened once (no symlink as its last component, owned by this user, mode 0700)
    and every file in it is reached relative to that open folder, so a folder swapped for a link
    later cannot redirect the key or the socket elsewhere."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise FolderError(f"the emulator's state folder {path} cannot be opened: {exc.strerror}") from None
        info = os.fstat(self._fd)
        if info.st_uid != os.getuid():
            os.close(self._fd)
            raise FolderError(f"the emulator's state folder {path} belongs to another user; use a folder of your own")
        if info.st_mode & 0o077:
            os.fchmod(self._fd, 0o700)  # other users must not reach the socket, the key or the files
        self._lock_fd = os.open(
            LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=self._fd
        )
        self.locked = False

    # -- ownership ------------------------------------------------------------------------------

    def try_lock(self) -> bool:
        """Take the folder if nobody holds it; the kernel releases it when this process ends."""
        if self.locked:
            return True
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, f"{os.getpid()}\n".encode(), 0)
        self.locked = True
        return True

    def unlock(self) -> None:
        if self.locked:
            os.ftruncate(self._lock_fd, 0)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            self.locked = False

    def owner_pid(self) -> int | None:
        """The pid the current owner wrote into the lock file (for messages only)."""
        text = os.pread(self._lock_fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None

    # -- the key ------------------------------------------------------------------------------

    def key(self) -> str:
        """The folder's Shared Key (base64), created on first use: written under a private name,
        then linked into place, so readers never see a half-written key and two processes that
        race to create it end up with the same one."""
        try:
            return self._read_key()
        except FileNotFoundError:
            pass
        temp = f".{KEY_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=self._fd)
        try:
            os.write(fd, base64.b64encode(secrets.token_bytes(32)) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            with contextlib.suppress(FileExistsError):
                os.link(temp, KEY_NAME, src_dir_fd=self._fd, dst_dir_fd=self._fd, follow_symlinks=False)
        finally:
            os.unlink(temp, dir_fd=self._fd)
        return self._read_key()

    def _read_key(self) -> str:
        fd = os.open(KEY_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._fd)
        try:
            info = os.fstat(fd)
            if info.st_uid != os.getuid():
                raise FolderError(f"{self.path / KEY_NAME} belongs to another user")
            if info.st_mode & 0o077:
                os.fchmod(fd, 0o600)
            text = os.read(fd, 256).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
        try:
            if len(base64.b64decode(text, validate=True)) < 32:
                raise ValueError("too short")
        except ValueError:
            raise FolderError(
                f"{self.path / KEY_NAME} does not hold a valid key; delete it to make a new one"
            ) from None
        return text

    # -- the socket ---------------------------------------------------------------------------

    @property
    def socket_path(self) -> str:
        """The socket's path as bind/connect take it. A long folder path is reached through this
        process's open handle on the folder (`/proc/self/fd/N/...`), within sun_path's limit."""
        direct = str(self.path / SOCKET_NAME)
        if len(os.fsencode(direct)) <= SUN_PATH_MAX:
            return direct
        if not sys.platform.startswith("linux"):
            raise FolderError(f"the state folder path {self.path} is too long for a local socket; choose a shorter one")
        return f"/proc/self/fd/{self._fd}/{SOCKET_NAME}"

    def bind_socket(self) -> socket.socket:
        """A listening socket at the socket path; only the lock holder may call this."""
        assert self.locked, "only the folder's owner serves it"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(SOCKET_NAME, dir_fd=self._fd)  # left behind by an owner that was killed
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(self.socket_path)
            os.chmod(SOCKET_NAME, 0o600, dir_fd=self._fd, follow_symlinks=False)
            sock.listen(128)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def remove_socket(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(SOCKET_NAME, dir_fd=self._fd)

    def close(self) -> None:
        self.unlock()
        os.close(self._lock_fd)
        os.close(self._fd)


def sign(request: httpx2.Request, key: str) -> None:
    """Add `ocp-date` and a Shared Key signature for the folder's account to a request."""
    request.headers.setdefault("ocp-date", email.utils.formatdate(usegmt=True))
    request.headers["authorization"] = sharedkey.authorization(
        request.method, str(request.url.raw_path.decode("latin-1")), dict(request.headers), ACCOUNT_NAME, key
    )


class SharedEmulator:
    """`async with SharedEmulator(config) as emu:` → the folder's emulator, served here or elsewhere.

    Use `emu.endpoint`, `emu.transport()`, `ACCOUNT_NAME` and `emu.key` to build a Batch client.
    `emu.role` says whether this process serves the folder; `emu.isolation()` which isolation the
    serving emulator runs tasks with. Both can change when an owner exits and this process takes over."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        runner: Runner | None = None,
        start_timeout: float = 60.0,
        poll_interval: float = 0.5,
    ) -> None:
        self.config = config
        self.runner = runner
        self.start_timeout = start_timeout
        self.poll_interval = poll_interval
        self.endpoint = ENDPOINT
        self.account = ACCOUNT_NAME
        self.key = ""
        self.role: Role = "attached"
        self.folder: StateFolder | None = None
        self.server: Any = None  # the EmbeddedEmulator while this process owns the folder
        self._info: dict[str, Any] = {}
        self._tmp: Path | None = None
        self._tg: TaskGroup | None = None
        self._stop_serving = anyio.Event()
        self._settling = anyio.Lock()
        self._watching = anyio.CancelScope()
        self._closing = False

    # -- what clients need --------------------------------------------------------------------

    def transport(self) -> FolderTransport:
        """An HTTP transport to the folder's socket that follows the folder to its next owner."""
        return FolderTransport(self)

    def isolation(self) -> str:
        """How the serving emulator isolates task processes ("none" when they run on the host)."""
        if self.role == "owner" and self.server is not None:
            return str(self.server.isolation)
        return str(self._info.get("isolation", "none"))

    def heard(self, isolation: str | None) -> None:
        """The isolation the serving emulator named in its latest answer (it changes with the owner)."""
        if isolation and self.role == "attached":
            self._info["isolation"] = isolation

    @property
    def owner_pid(self) -> int | None:
        if self.role == "owner":
            return os.getpid()
        pid = self._info.get("pid")
        return pid if isinstance(pid, int) else None

    @property
    def closing(self) -> bool:
        return self._closing

    # -- lifecycle ----------------------------------------------------------------------------

    def _open_folder(self) -> StateFolder:
        if self.config.in_memory:
            self._tmp = Path(tempfile.mkdtemp(prefix="batch-mcp-emulator-"))
            return StateFolder(self._tmp)
        return StateFolder(Path(self.config.data_dir).expanduser().resolve())

    async def __aenter__(self) -> SharedEmulator:
        try:
            self.folder = self._open_folder()
            self.key = self.folder.key()
            self._tg = anyio.create_task_group()
            await self._tg.__aenter__()
        except BaseException:
            self._cleanup_folder()
            raise
        try:
            await self.settle()
            self._tg.start_soon(self._watch)
        except BaseException:
            await self.__aexit__(*sys.exc_info())
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing = True
        self._watching.cancel()
        self._stop_serving.set()  # the server stops gracefully: task processes ended, store closed
        try:
            if self._tg is not None:
                await self._tg.__aexit__(None, None, None)
        finally:
            self._tg = None
            self._cleanup_folder()

    def _cleanup_folder(self) -> None:
        if self.folder is not None:
            if self.folder.locked:
                self.folder.remove_socket()
            self.folder.close()
            self.folder = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # -- owning or attaching ------------------------------------------------------------------

    async def settle(self) -> None:
        """Serve the folder if nobody does, else attach to its owner once it answers."""
        async with self._settling:
            if self._closing or (self.role == "owner" and self.server is not None):
                return
            folder = self.folder
            assert folder is not None
            with anyio.fail_after(self.start_timeout):
                while True:
                    if folder.try_lock():
                        await self._start_serving()
                        return
                    info = await self._probe()
                    if info is not None:
                        self._info, self.role = info, "attached"
                        return
                    await anyio.sleep(0.05)

    async def _start_serving(self) -> None:
        assert self._tg is not None and self.folder is not None
        try:
            await self._tg.start(self._serve)
        except BaseException:
            self.folder.remove_socket()
            self.folder.unlock()  # let another process try
            raise

    async def _serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run the emulator on the folder's socket until this process closes."""
        from batch_mcp.emulator.embedded import EmbeddedEmulator

        assert self.folder is not None
        config = dataclasses.replace(self.config, local_key=self.key, allowed_hosts=self.config.allowed_hosts or [])
        sock = self.folder.bind_socket()
        try:
            async with EmbeddedEmulator(config, sock=sock, runner=self.runner) as server:
                self.server, self.role = server, "owner"
                log.info("serving the emulator of %s (pid %d)", self.folder.path, os.getpid())
                task_status.started()
                await self._stop_serving.wait()
        finally:
            self.server = None
            sock.close()

    async def _watch(self) -> None:
        """While attached, take the folder over as soon as its owner lets go of it."""
        with self._watching:
            while True:
                await anyio.sleep(self.poll_interval)
                if self.role != "attached" or self.folder is None or self.folder.locked:
                    continue
                async with self._settling:
                    # A request that found no server may have brought the folder up while this
                    # waited its turn (try_lock says yes to a lock this process already holds).
                    if self._closing or self.folder is None or self.folder.locked:
                        continue
                    if self.folder.try_lock():
                        log.info("the emulator's owner left; taking over %s", self.folder.path)
                        try:
                            await self._start_serving()
                        except Exception as exc:  # e.g. a required sandbox that does not work here
                            log.warning("could not take over %s: %s", self.folder.path, exc)

    async def _probe(self) -> dict[str, Any] | None:
        """The owner's answer on the socket, or None while nobody answers there."""
        assert self.folder is not None
        request = httpx2.Request("GET", ENDPOINT + INFO_PATH)
        sign(request, self.key)
        try:
            async with httpx2.AsyncHTTPTransport(uds=self.folder.socket_path) as transport:
                with anyio.fail_after(5):
                    response = await transport.handle_async_request(request)
                    body = await response.aread()
        except (httpx2.TransportError, TimeoutError, OSError):
            return None
        if response.status_code != 200:
            raise FolderError(
                f"the process serving {self.folder.path} refused this one ({response.status_code}); "
                f"delete {KEY_NAME} there only if no batch-mcp uses the folder"
            )
        try:
            info = json.loads(body)
        except ValueError:
            return None
        return info if isinstance(info, dict) else None


class FolderTransport(httpx2.AsyncBaseTransport):
    """HTTP over the folder's Unix socket. A request that cannot connect (the owner just exited)
    waits for the folder to be served again, by this process or another, and is sent once more;
    it never reached a server, so sending it again is safe."""

    def __init__(self, host: SharedEmulator, max_connections: int = 32) -> None:
        assert host.folder is not None
        self._host = host
        limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._inner = httpx2.AsyncHTTPTransport(uds=host.folder.socket_path, limits=limits)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            response = await self._inner.handle_async_request(request)
        except httpx2.ConnectError:
            if self._host.closing:
                raise
            await self._host.settle()
            response = await self._inner.handle_async_request(request)
        self._host.heard(response.headers.get(ISOLATION_HEADER))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
