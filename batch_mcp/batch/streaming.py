"""File content as an async byte stream: nothing is held but the chunk in hand.

If the connection drops mid-body, the stream asks for the rest with a byte range from where it
stopped (within the retry policy's budget), so a long download or a tail survives a reset.

A download may take as long as its size needs, but it must keep moving: every `chunk_size` bytes
must arrive within `stall_timeout` seconds. httpx's read timeout is per read, so a body trickling
in a byte at a time would never trip it; this deadline does, and the stall is handled like a
dropped connection (resumed if the budget allows, else "Batch is not answering").
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, cast

import anyio
import httpx2

from batch_mcp.batch.errors import ArgumentError, BatchProtocolError, BatchTimeoutError, BatchTransportError
from batch_mcp.batch.retry import MAYBE_APPLIED_ERRORS, RetryMode, RetryPolicy
from batch_mcp.batch.shaping import content_range, stream_properties

__all__ = ["DEFAULT_CHUNK_SIZE", "FileStream", "range_header"]

DEFAULT_CHUNK_SIZE = 64 * 1024
Reopen = Callable[[int, int | None], Awaitable[httpx2.Response]]


def range_header(start: int, end: int | None) -> str:
    if start < 0 or (end is not None and end < start):
        raise ArgumentError(f"invalid byte range {start}-{end}: first <= last, both from 0")
    return f"bytes={start}-{'' if end is None else end}"


class FileStream:
    """An open file download. `properties` are the file properties from the reply headers."""

    def __init__(
        self,
        response: httpx2.Response,
        *,
        byte_range: tuple[int, int | None] | None,
        reopen: Reopen,
        policy: RetryPolicy,
        label: str,
        stall_timeout: float = 30.0,
    ) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = response.headers
        self.request_id: str | None = response.headers.get("request-id")
        self.properties: dict[str, Any] = stream_properties(response.headers, ranged=byte_range is not None)
        self._start, self._end = byte_range if byte_range else (0, None)
        self._reopen = reopen
        self._policy = policy
        self._label = label
        self._stall_timeout = stall_timeout
        self._skip = 0
        self.delivered = 0  # bytes handed to the caller so far
        self.resumed = 0  # how many times the body was resumed after a dropped connection

    async def aiter_bytes(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncGenerator[bytes, None]:
        state = self._policy.start()
        while True:
            try:
                # Chunks are taken as they arrive (not re-buffered by httpx), so what was delivered is
                # exactly what was received, and a resume starts at the right byte.
                async with aclosing(self._arrivals(chunk_size)) as arrivals:
                    async for received in arrivals:
                        if self._skip:
                            if len(received) <= self._skip:
                                self._skip -= len(received)
                                continue
                            received = received[self._skip :]
                            self._skip = 0
                        for offset in range(0, len(received), chunk_size):
                            chunk = received[offset : offset + chunk_size]
                            self.delivered += len(chunk)
                            yield chunk
                return
            except MAYBE_APPLIED_ERRORS as exc:
                await self._response.aclose()
                decision = self._policy.on_error(state, exc, RetryMode.SAFE)
                if not decision.retry:
                    if isinstance(exc, httpx2.TimeoutException):
                        raise BatchTimeoutError(
                            f"Batch is not answering: {self._label}: the download stalled after {self.delivered} "
                            f"bytes ({exc}; {decision.reason})",
                            attempts=state.attempt,
                        ) from None
                    raise BatchTransportError(
                        f"{self._label}: the download broke off after {self.delivered} bytes ({decision.reason})",
                        attempts=state.attempt,
                    ) from None
                await self._policy.wait(state, decision)
                position = self._start + self.delivered
                if self._end is not None and position > self._end:
                    return
                self._response = await self._reopen(position, self._end)
                self.resumed += 1
                self._skip = await self._align(position)

    async def _align(self, position: int) -> int:
        """How many bytes of a resumed reply to drop so it continues at `position`. The reply's range
        is believed only when it fits: one starting past `position`, or a file whose total size
        changed since the download began, cannot be joined to what was delivered."""
        stated = content_range(self._response.headers)
        if stated is None:
            return position if self._response.status_code == 200 else 0  # the whole file again
        first, _, total = stated
        known = self.properties.get("fileSize")
        if first > position or (total is not None and isinstance(known, int) and total != known):
            await self._response.aclose()
            raise BatchProtocolError(
                f"{self._label}: the resumed reply's range (bytes {first}-, of {total}) does not continue the "
                f"download at byte {position} (of {known}); the file may have changed: read it again"
            )
        return position - first

    async def _arrivals(self, chunk_size: int) -> AsyncGenerator[bytes, None]:
        """The body as it arrives, failing with ReadTimeout when `chunk_size` bytes take longer than
        the stall timeout (the deadline moves on with every `chunk_size` bytes received)."""
        source = cast(AsyncGenerator[bytes, None], self._response.aiter_bytes())  # httpx's is a generator
        try:
            deadline = anyio.current_time() + self._stall_timeout
            pending = 0
            while True:
                try:
                    with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                        received = await source.__anext__()
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise httpx2.ReadTimeout(
                        f"less than {chunk_size} bytes in {self._stall_timeout:.3g} s", request=self._response.request
                    ) from None
                pending += len(received)
                if pending >= chunk_size:
                    deadline, pending = anyio.current_time() + self._stall_timeout, 0
                yield received
        finally:
            await source.aclose()

    async def read(self, limit: int | None = None) -> bytes:
        """The rest of the content (at most `limit` bytes): for small files only."""
        parts: list[bytes] = []
        size = 0
        async with aclosing(self.aiter_bytes()) as chunks:
            async for chunk in chunks:
                if limit is not None and size + len(chunk) >= limit:
                    parts.append(chunk[: limit - size])
                    break
                parts.append(chunk)
                size += len(chunk)
        return b"".join(parts)

    async def aclose(self) -> None:
        await self._response.aclose()
