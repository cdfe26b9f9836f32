"""The server's connection to Batch, opened in the background.

`tools/list` is answered from the catalog alone, so a client sees the tools at once while the
backend (the embedded emulator's start, a credential, a client) gets ready. The backend opens
when a handler first needs it, or shortly after start-up, whichever comes first: opening it at
once would compete with the first replies for the same CPU. Handlers that need Batch
`await runtime.ready()`; a backend that failed to open reports its error to them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from batch_mcp.server.backend import Backend, Live
    from batch_mcp.server.engine import Engine
    from batch_mcp.server.events import Events


class BackendUnavailable(RuntimeError):
    """The backend could not be opened; the message says why (secrets already masked)."""


WARM_UP_DELAY = 1.0  # seconds after start-up before the backend opens unasked


class Runtime:
    def __init__(self, warm_up_delay: float = WARM_UP_DELAY) -> None:
        self._warm_up_delay = warm_up_delay
        self._wanted = anyio.Event()
        self._ready = anyio.Event()
        self._stop = anyio.Event()
        self._live: Live | None = None
        self._error: str | None = None

    async def serve(self, open_live: Callable[[], AbstractAsyncContextManager[Live]]) -> None:
        """Open the backend, publish it, and hold it open until `close()`."""
        from batch_mcp.redaction import redact_text

        with anyio.move_on_after(self._warm_up_delay):
            await self._wanted.wait()
        if self._stop.is_set():  # shut down before anything needed Batch
            self._ready.set()
            return
        try:
            async with open_live() as live:
                self._live = live
                self._ready.set()
                await self._stop.wait()
        except Exception as exc:  # reported to every handler instead of crashing the server
            self._error = redact_text(f"{type(exc).__name__}: {exc}")
        finally:
            self._live = None
            self._ready.set()

    def close(self) -> None:
        self._wanted.set()
        self._stop.set()

    async def ready(self) -> Live:
        self._wanted.set()
        await self._ready.wait()
        if self._live is None:
            raise BackendUnavailable(f"the Batch backend is not available ({self._error or 'shut down'})")
        return self._live

    @property
    def live(self) -> Live | None:
        """The backend if it is open now (for code that must not wait)."""
        return self._live

    @property
    def engine(self) -> Engine:
        return self._require().engine

    @property
    def backend(self) -> Backend:
        return self._require().backend

    @property
    def events(self) -> Events:
        return self._require().events

    def _require(self) -> Live:
        if self._live is None:
            raise BackendUnavailable(self._error or "the Batch backend is still starting")
        return self._live
