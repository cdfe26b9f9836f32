"""Reading one window of a Batch file: a byte range or the last N lines, never the whole file.

A window is at most `window` bytes (256 KiB unless configured). The file's size comes from a HEAD
first, so a tail or a suffix range asks Batch for exactly the bytes it needs; a tail reads backwards
in growing blocks until it has its lines or fills the window. Text is UTF-8 (a character cut at
either edge of the window is left out, and the range reported says so); anything else is binary.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batch_mcp.batch.errors import BatchError, BatchProtocolError
from batch_mcp.server.uris import BatchUri, FileQuery

if TYPE_CHECKING:
    from batch_mcp.batch import BatchClient

DEFAULT_WINDOW = 256 * 1024
TAIL_FIRST_BLOCK = 16 * 1024
SNIFF_BYTES = 8192
CONTENT_TOOLS = {"task_file": "task_file_get", "node_file": "node_file_get"}
PROPERTIES_TOOLS = {"task_file": "task_file_get_properties", "node_file": "node_file_get_properties"}


def target_for(tool: str, args: Mapping[str, Any], query: FileQuery | None = None) -> BatchUri | None:
    """The file that a content tool's arguments name (task_file_get, node_file_get), else None."""
    if tool == CONTENT_TOOLS["task_file"]:
        return BatchUri("task_file", (args["job_id"], args["task_id"]), args["file_path"], query or FileQuery())
    if tool == CONTENT_TOOLS["node_file"]:
        return BatchUri("node_file", (args["pool_id"], args["node_id"]), args["file_path"], query or FileQuery())
    return None


class WindowError(BatchError):
    """A request the file cannot satisfy (a range past its end, a directory)."""


@dataclass
class Window:
    """`data` holds bytes `start`..`end` (inclusive; `end` is `start - 1` when empty) of a file of
    `size` bytes. `text` is set for text; `lines` counts the lines of a tail."""

    data: bytes
    start: int
    end: int
    size: int
    text: str | None
    lines: int | None = None

    @property
    def is_text(self) -> bool:
        return self.text is not None

    @property
    def complete(self) -> bool:
        return self.start == 0 and self.end >= self.size - 1


def mime_type(path: str, is_text: bool) -> str:
    guessed, _ = mimetypes.guess_type(path)
    if is_text:
        if guessed and (guessed.startswith("text/") or guessed in ("application/json", "application/xml")):
            return guessed
        return "text/plain"
    return guessed or "application/octet-stream"


def looks_binary(data: bytes) -> bool:
    return b"\x00" in data[:SNIFF_BYTES]


def decode_window(data: bytes, *, mid_start: bool) -> tuple[str, int, int] | None:
    """UTF-8 text of a window and how many bytes were dropped at its start and end (a character cut by
    the window's edges); None when the bytes are not text."""
    if looks_binary(data):
        return None
    lead = 0
    if mid_start:
        while lead < min(3, len(data)) and 0x80 <= data[lead] <= 0xBF:
            lead += 1
    body = data[lead:]
    for cut in range(4):
        if cut > len(body):
            break
        try:
            return body[: len(body) - cut].decode("utf-8"), lead, cut
        except UnicodeDecodeError:
            continue
    return None


async def file_size(client: BatchClient, target: BatchUri) -> int:
    properties = await client.call(PROPERTIES_TOOLS[target.kind], target.args)
    data = properties.data or {}
    if data.get("isDirectory"):
        raise WindowError(f"{target.path} is a directory: list it with {target.kind}_list instead of reading it")
    size = data.get("contentLength")
    if not isinstance(size, int):
        raise BatchProtocolError("the service did not report the file's size")
    return size


async def read_range(client: BatchClient, target: BatchUri, start: int, end: int) -> bytes:
    """Bytes start..end (inclusive) of the file, in one ranged GET."""
    parts: list[bytes] = []
    want = end - start + 1
    async with client.open_stream(CONTENT_TOOLS[target.kind], target.args, byte_range=(start, end)) as stream:
        got = 0
        async for chunk in stream.aiter_bytes():
            parts.append(chunk)
            got += len(chunk)
            if got >= want:
                break
    return b"".join(parts)[:want]


async def read_window(client: BatchClient, target: BatchUri, window: int = DEFAULT_WINDOW) -> Window:
    """The part of the file `target.query` asks for, at most `window` bytes of it."""
    size = await file_size(client, target)
    query = target.query
    if query.tail is not None:
        return await _tail(client, target, size, query.tail, window)
    if query.suffix is not None:
        start, end = max(0, size - query.suffix), size - 1
    else:
        start = query.start or 0
        end = size - 1 if query.end is None else min(query.end, size - 1)
        if start >= size and size > 0:
            raise WindowError(f"the range starts at byte {start} but the file has {size} bytes")
    end = min(end, start + window - 1)
    if size == 0 or end < start:
        return Window(b"", start if size else 0, (start if size else 0) - 1, size, "")
    data = await read_range(client, target, start, end)
    return _shape(data, start, size, mid_start=start > 0)


def _shape(data: bytes, start: int, size: int, *, mid_start: bool, lines: int | None = None) -> Window:
    decoded = decode_window(data, mid_start=mid_start)
    if decoded is None:
        return Window(data, start, start + len(data) - 1, size, None, lines)
    text, lead, cut = decoded
    kept = data[lead : len(data) - cut]
    return Window(kept, start + lead, start + lead + len(kept) - 1, size, text, lines)


async def _tail(client: BatchClient, target: BatchUri, size: int, lines: int, window: int) -> Window:
    if size == 0:
        return Window(b"", 0, -1, 0, "", 0)
    block = min(TAIL_FIRST_BLOCK, window)
    start = size
    data = b""
    while True:
        new_start = max(0, size - min(window, len(data) + block))
        if new_start >= start:
            break  # nothing more to read within the window
        got = await read_range(client, target, new_start, start - 1)
        if len(got) < start - new_start:  # fewer bytes than the stated size promised
            raise WindowError(
                f"the file is shorter than its stated size ({size} bytes: bytes {new_start}-{start - 1} gave "
                f"{len(got)}); it may have changed while it was read: try again"
            )
        data, start = got + data, new_start
        if looks_binary(data):
            return _shape(data, start, size, mid_start=start > 0)
        body = data[:-1] if data.endswith(b"\n") else data
        if body.count(b"\n") >= lines or start == 0 or len(data) >= window:
            break
        block *= 4
    body = data[:-1] if data.endswith(b"\n") else data
    cut = _last_lines_start(body, lines)
    if cut is None:
        first_break = body.find(b"\n")
        cut = first_break + 1 if start > 0 and first_break >= 0 else 0  # a full window: drop the partial line
    kept = data[cut:]
    count = kept.count(b"\n") + (0 if kept.endswith(b"\n") or not kept else 1)
    return _shape(kept, start + cut, size, mid_start=start + cut > 0, lines=count)


def _last_lines_start(body: bytes, lines: int) -> int | None:
    """Where the last `lines` lines of `body` begin; None when it holds fewer line breaks than that."""
    position = len(body)
    for _ in range(lines):
        position = body.rfind(b"\n", 0, position)
        if position < 0:
            return None
    return position + 1
