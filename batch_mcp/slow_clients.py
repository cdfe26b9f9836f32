"""Dropping HTTP clients that send their request too slowly (slowloris and friends).

uvicorn's h11 server has a keep-alive timeout between requests, but nothing bounds how long a
request's headers or body may take: each byte that arrives resets the idle timer, so a client
sending one byte every few seconds holds a connection (and, once its headers are in, a running
request) forever. This protocol adds the two deadlines uvicorn lacks, in the manner of Apache's
mod_reqtimeout:

- headers: from the moment the connection waits for a request (it opened, or the previous
  response ended) to the end of the request's headers, at most `headers` seconds, however the
  bytes trickle in;
- body: `body` seconds from the end of the headers, extended by one second for every `min_rate`
  bytes received (a large upload on a slow link keeps going), never beyond `body_max` seconds.

A request that misses its deadline has its connection closed; an application already handling it
sees the client disconnect. The response phase is the application's time and is not bounded here.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestTimeouts:
    headers: float = 10.0
    body: float = 20.0
    min_rate: int = 16 * 1024  # bytes per extra second of body time
    body_max: float = 300.0


def guarded_protocol(timeouts: RequestTimeouts) -> type[H11Protocol]:
    """An h11 protocol class for `uvicorn.Config(http=...)` that enforces `timeouts`."""
    import h11  # imported when a server starts, not when a command line is parsed
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._phase: str | None = None
            self._deadline = 0.0
            self._body_started = 0.0
            self._body_received = 0
            self._timer: asyncio.TimerHandle | None = None
            super().connection_made(transport)
            self._watch()

        def data_received(self, data: bytes) -> None:
            if self._phase == "body":
                self._body_received += len(data)
            super().data_received(data)
            self._watch()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop()
            super().connection_lost(exc)

        def _watch(self) -> None:
            if self.transport.is_closing():
                self._stop()
                return
            state = self.conn.their_state
            phase = "headers" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
            now = self.loop.time()
            if phase == self._phase:
                if phase == "body":  # the body moved on: its deadline moves with it
                    earned = self._body_received / timeouts.min_rate
                    self._deadline = self._body_started + min(timeouts.body + earned, timeouts.body_max)
                return
            self._stop()
            self._phase = phase
            if phase == "headers":
                self._deadline = now + timeouts.headers
            elif phase == "body":
                self._body_started, self._body_received = now, 0
                self._deadline = now + timeouts.body
            if phase is not None:
                self._timer = self.loop.call_at(self._deadline, self._expire)

        def _expire(self) -> None:
            self._timer = None
            if self._phase is None or self.transport.is_closing():
                return
            if self.loop.time() < self._deadline:  # extended meanwhile: wait for the new deadline
                self._timer = self.loop.call_at(self._deadline, self._expire)
                return
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            logger.warning("closed the connection of %s: request %s too slow", client, self._phase)
            self._phase = None
            self.transport.close()

        def _stop(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    return GuardedH11Protocol


def uvicorn_options(timeouts: RequestTimeouts) -> dict[str, Any]:
    """The `uvicorn.Config` options that put the guard in place (h11, never httptools)."""
    return {"http": guarded_protocol(timeouts)}
