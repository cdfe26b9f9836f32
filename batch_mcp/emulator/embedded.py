"""The emulator served over HTTP inside the caller's event loop: on a free loopback port, or on a
socket the caller bound (the Unix domain socket of a state folder, see `hosting`).

The MCP server reaches its emulator through `hosting.SharedEmulator`, never a TCP port; tests
and benchmarks use the loopback port to drive it with real HTTP clients (the official SDK too)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from types import TracebackType

import anyio
import uvicorn
from anyio.abc import TaskGroup

from batch_mcp.emulator.app import create_app
from batch_mcp.emulator.backend import Backend
from batch_mcp.emulator.config import EmulatorConfig
from batch_mcp.emulator.runner import Runner


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EmbeddedEmulator:
    """`async with EmbeddedEmulator(config) as emu:` → `emu.url` is `http://127.0.0.1:PORT`.

    On exit the server stops, every task process is killed and the store is closed."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        runner: Runner | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        self.config = config or EmulatorConfig(seed_pool=True)
        self.host = host
        self.port = port
        self.app = create_app(self.config, runner=runner)
        self.url = ""
        self._server: _QuietServer | None = None
        self._socket: socket.socket | None = None
        self._given_socket = sock  # bound and listening; the caller closes it
        self._tg: TaskGroup | None = None

    @property
    def backend(self) -> Backend:
        """The running account model (for tests and the embedding server)."""
        return self.app.state.emulator.backend

    @property
    def isolation(self) -> str:
        """How task processes are isolated from this machine ("none": they run on the host)."""
        return self.app.state.emulator.isolation

    async def __aenter__(self) -> EmbeddedEmulator:
        if self._given_socket is not None:
            sock = self._given_socket
        else:
            # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so (else ~40 ms per request)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            sock.setblocking(False)
            self._socket = sock
            self.port = sock.getsockname()[1]
            self.url = f"http://{self.host}:{self.port}"
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="on", access_log=False, timeout_graceful_shutdown=5
        )
        self._server = _QuietServer(config)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._serve, sock)
        with anyio.fail_after(30):
            while not self._server.started and not self._server.should_exit:  # noqa: ASYNC110 - uvicorn has no event
                await anyio.sleep(0.01)
        if not self._server.started:
            await self._tg.__aexit__(None, None, None)
            self._tg = None
            error = getattr(self.app.state, "start_error", None)
            if error is not None:
                raise error
            raise RuntimeError("the emulator failed to start")
        return self

    async def _serve(self, sock: socket.socket) -> None:
        assert self._server is not None
        try:
            await self._server.serve([sock])
        except SystemExit:  # uvicorn's word for a failed start; __aenter__ reports the reason
            self._server.should_exit = True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        emulator = getattr(self.app.state, "emulator", None)
        if emulator is not None:
            emulator.leave()  # before the server drains its open requests: nothing starts from here on
        if self._server is not None:
            self._server.should_exit = True
        if self._tg is not None:
            await self._tg.__aexit__(None, None, None)
            self._tg = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
