"""The end of a task or node file without reading the whole file: its size from HEAD, then ranged
reads backwards from the end until enough lines are in hand or the byte budget is spent.

Shared by `file_tail` and `task_diagnose` (stderr/stdout and start-task log tails).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batch_mcp.batch.errors import BatchProtocolError
from batch_mcp.redaction import redact_text

if TYPE_CHECKING:
    from batch_mcp.batch import BatchClient

FIRST_WINDOW = 4 * 1024  # bytes read first; most tails fit
MAX_TAIL_BYTES = 8 * 1024  # never read (or reply with) more than this from one file
TASK_FILE_TOOL = "task_file_get"
NODE_FILE_TOOL = "node_file_get"


@dataclass
class Tail:
    """The last lines of a file. `start` is the offset of the first byte shown; `more` says whether
    the file has lines before them."""

    text: str
    lines: int
    size: int
    start: int
    more: bool
    binary: bool = False


def file_args(args: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(content tool, its arguments) for a task file (job_id+task_id) or a node file (pool_id+node_id)."""
    path = args.get("file_path")
    if args.get("job_id") and args.get("task_id") and not (args.get("pool_id") or args.get("node_id")):
        return TASK_FILE_TOOL, {"job_id": args["job_id"], "task_id": args["task_id"], "file_path": path}
    if args.get("pool_id") and args.get("node_id") and not (args.get("job_id") or args.get("task_id")):
        return NODE_FILE_TOOL, {"pool_id": args["pool_id"], "node_id": args["node_id"], "file_path": path}
    return None


async def file_size(client: BatchClient, tool: str, args: Mapping[str, Any]) -> int:
    props = await client.file_properties(tool, args)
    size = props.get("contentLength")
    if props.get("isDirectory"):
        raise BatchProtocolError(f"{args.get('file_path')} is a folder, not a file")
    if not isinstance(size, int):
        raise BatchProtocolError("the service did not report the file's size")
    return size


async def read_range(client: BatchClient, tool: str, args: Mapping[str, Any], start: int, end: int) -> bytes:
    """Bytes `start`..`end` (inclusive) of the file."""
    if end < start:
        return b""
    async with client.open_stream(tool, args, byte_range=(start, end)) as stream:
        return await stream.read(limit=end - start + 1)


async def read_tail(
    client: BatchClient,
    tool: str,
    args: Mapping[str, Any],
    lines: int,
    *,
    max_bytes: int = MAX_TAIL_BYTES,
    size: int | None = None,
) -> Tail:
    """The last `lines` lines, reading at most `max_bytes` from the end."""
    if size is None:
        size = await file_size(client, tool, args)
    data = b""
    start = size
    window = min(FIRST_WINDOW, max_bytes)
    while start > 0:
        new_start = max(0, size - window)
        data = await read_range(client, tool, args, new_start, start - 1) + data
        start = new_start
        if start == 0 or _count_lines(data, partial_first=True) >= lines or window >= max_bytes:
            break
        window = min(window * 4, max_bytes)
    return cut_lines(data, start=start, size=size, lines=lines)


def cut_lines(data: bytes, *, start: int, size: int, lines: int) -> Tail:
    """The last `lines` complete lines of `data` (the bytes from `start` to the end of the file)."""
    if b"\x00" in data:
        return Tail(text="", lines=0, size=size, start=start, more=start > 0, binary=True)
    body = data.removesuffix(b"\n")
    parts = body.split(b"\n") if body else []
    partial = start > 0 and len(parts) > 1  # the first piece may start mid-line: drop it when there is more
    if partial:
        start += len(parts[0]) + 1
        parts = parts[1:]
    if len(parts) > lines:
        dropped = parts[: len(parts) - lines]
        start += sum(len(p) + 1 for p in dropped)
        parts = parts[len(parts) - lines :]
    text = redact_text(b"\n".join(parts).decode("utf-8", errors="replace"))
    return Tail(text=text, lines=len(parts), size=size, start=start, more=start > 0)


def _count_lines(data: bytes, *, partial_first: bool) -> int:
    count = data.removesuffix(b"\n").count(b"\n") + (1 if data else 0)
    return count - 1 if partial_first and count else count
