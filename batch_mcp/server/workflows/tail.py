"""Tails for the workflow tools, through the one file reader the resources use (`file_windows`).

Workflows name a file by tool arguments (job_id + task_id, or pool_id + node_id, and file_path);
this turns them into a file target, reads the last lines within a small byte budget (a reply for
a model, not a download), and masks secrets in what it shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batch_mcp.redaction import redact_text
from batch_mcp.server import file_windows
from batch_mcp.server.uris import BatchUri, FileQuery

if TYPE_CHECKING:
    from batch_mcp.batch import BatchClient

MAX_TAIL_BYTES = 8 * 1024  # never read (or reply with) more than this from one file
TASK_FILE_TOOL = "task_file_get"
NODE_FILE_TOOL = "node_file_get"


@dataclass
class Tail:
    """The last lines of a file. `start` is the offset of the first byte shown; `more` says whether
    the file has bytes before them."""

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


def target_of(tool: str, args: Mapping[str, Any], query: FileQuery | None = None) -> BatchUri:
    target = file_windows.target_for(tool, args, query)
    if target is None:
        raise ValueError(f"{tool} does not read a file")
    return target


async def file_size(client: BatchClient, tool: str, args: Mapping[str, Any]) -> int:
    return await file_windows.file_size(client, target_of(tool, args))


async def read_range(client: BatchClient, tool: str, args: Mapping[str, Any], start: int, end: int) -> bytes:
    """Bytes `start`..`end` (inclusive) of the file."""
    if end < start:
        return b""
    return await file_windows.read_range(client, target_of(tool, args), start, end)


async def read_tail(
    client: BatchClient, tool: str, args: Mapping[str, Any], lines: int, *, max_bytes: int = MAX_TAIL_BYTES
) -> Tail:
    """The last `lines` whole lines, reading at most `max_bytes` from the end."""
    window = await file_windows.read_window(client, target_of(tool, args, FileQuery(tail=lines)), window=max_bytes)
    if window.text is None:
        return Tail(text="", lines=0, size=window.size, start=window.start, more=window.start > 0, binary=True)
    text = redact_text(window.text.removesuffix("\n"))
    return Tail(text=text, lines=window.lines or 0, size=window.size, start=window.start, more=window.start > 0)
