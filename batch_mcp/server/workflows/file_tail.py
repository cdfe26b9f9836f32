"""`file_tail`: the last lines of a task or node file, optionally watching it grow for a while.

Never reads a whole large file: HEAD gives the size, ranged reads walk back from the end (see
`tail.py`). Following polls the size and reads only the new bytes, for at most a minute, and stops
early when the task the file belongs to has completed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types

from batch_mcp.redaction import redact_text
from batch_mcp.server import render
from batch_mcp.server.server_tools import ServerTool, object_schema
from batch_mcp.server.workflows.common import ID, READ_ONLY_HINTS, Progress
from batch_mcp.server.workflows.tail import (
    MAX_TAIL_BYTES,
    TASK_FILE_TOOL,
    Tail,
    file_args,
    file_size,
    read_range,
    read_tail,
)

if TYPE_CHECKING:
    from batch_mcp.batch import BatchClient
    from batch_mcp.server.server_tools import CallContext

DEFAULT_LINES = 40
MAX_LINES = 500
MAX_FOLLOW = 60
FIRST_POLL = 0.25
MAX_POLL = 2.0


async def file_tail(ctx: CallContext, args: dict[str, Any]) -> types.CallToolResult:
    target = file_args(args)
    if target is None or not args.get("file_path"):
        return render.error_result(
            "Name the file's owner: job_id and task_id for a task file, or pool_id and "
            "node_id for a node file (e.g. startup/stderr.txt)."
        )
    tool, where = target
    client = ctx.engine.client
    lines = max(1, min(int(args.get("lines") or DEFAULT_LINES), MAX_LINES))
    tail = await read_tail(client, tool, where, lines)
    follow = max(0, min(int(args.get("follow") or 0), MAX_FOLLOW))
    followed = await _follow(ctx, client, tool, where, tail.size, follow) if follow else None
    return _reply(where, tail, followed)


class Followed:
    """What appeared while following: the new text (its last MAX_TAIL_BYTES), and why it stopped."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data = b""
        self.skipped = 0  # new bytes not read because they exceeded the budget
        self.seconds = 0.0
        self.stopped = "time is up"
        self.truncated = False  # the file shrank while followed, so it was read again from its start


async def _follow(
    ctx: CallContext, client: BatchClient, tool: str, where: dict[str, Any], size: int, seconds: int
) -> Followed:
    out = Followed(size)
    progress = Progress(ctx)
    started = anyio.current_time()
    deadline = started + seconds
    delay = FIRST_POLL
    while (remaining := deadline - anyio.current_time()) > 0:
        await anyio.sleep(min(delay, remaining))
        delay = min(delay * 2, MAX_POLL)
        finished = tool == TASK_FILE_TOOL and await _task_completed(client, where)
        new_size = await file_size(client, tool, where)
        if new_size < out.size:  # truncated or replaced: start over from its beginning
            out.size, out.truncated = 0, True
        if new_size > out.size:
            start = max(out.size, new_size - MAX_TAIL_BYTES)
            out.skipped += start - out.size
            out.data = (out.data + await read_range(client, tool, where, start, new_size - 1))[-MAX_TAIL_BYTES:]
            out.size = new_size
            delay = FIRST_POLL
        out.seconds = anyio.current_time() - started
        lines = out.data.count(b"\n")
        await progress(out.seconds, seconds, f"{lines} new line(s) after {out.seconds:.0f} s")
        if finished:
            out.stopped = "the task completed"
            break
    return out


async def _task_completed(client: BatchClient, where: dict[str, Any]) -> bool:
    task = await client.call("task_get", {"job_id": where["job_id"], "task_id": where["task_id"], "select": "state"})
    return task.data.get("state") == "completed"


def _reply(where: dict[str, Any], tail: Tail, followed: Followed | None) -> types.CallToolResult:
    owner = (
        f"task {where['job_id']}/{where['task_id']}"
        if "task_id" in where
        else f"node {where['pool_id']}/{where['node_id']}"
    )
    name = f"{where['file_path']} of {owner}"
    data: dict[str, Any] = {
        "file": where["file_path"],
        "size": tail.size,
        "start": tail.start,
        "lines": tail.lines,
        "more": tail.more,
        "text": tail.text,
    }
    if tail.binary:
        head = f"{name}: binary content, {tail.size} bytes; not shown."
    elif not tail.size:
        head = f"{name}: empty."
    else:
        scope = f"last {tail.lines} line(s)" if tail.more else f"all {tail.lines} line(s)"
        head = f"{name}: {scope}, bytes {tail.start}-{tail.size - 1} of {tail.size}.\n{tail.text}"
    if followed is None:
        return render.text_result(head, structured=data)
    new_text = redact_text(followed.data.decode("utf-8", errors="replace"))
    data.update(
        {
            "followedSeconds": round(followed.seconds, 1),
            "newText": new_text,
            "size": followed.size,
            "stopped": followed.stopped,
        }
    )
    if followed.skipped:
        data["skippedBytes"] = followed.skipped
    if followed.truncated:
        data["truncated"] = True
    new_lines = new_text.count("\n") + (1 if new_text and not new_text.endswith("\n") else 0)
    skipped = f" ({followed.skipped} earlier new bytes skipped)" if followed.skipped else ""
    skipped += "; the file shrank and was read again from its start" if followed.truncated else ""
    text = (
        f"{head}\n--- followed {followed.seconds:.0f} s ({followed.stopped}): {new_lines} new line(s), "
        f"size now {followed.size}{skipped} ---"
    )
    if new_text:
        text += "\n" + new_text.rstrip("\n")
    return render.text_result(text, structured=data)


TOOL = ServerTool(
    name="file_tail",
    title="Tail a file",
    description="Last lines of a task file (job_id+task_id) or node file (pool_id+node_id); follow watches up to 60 s.",
    toolset="workflows",
    guard="read",
    input_schema=object_schema(
        {
            "job_id": ID,
            "task_id": ID,
            "pool_id": ID,
            "node_id": ID,
            "file_path": {**ID, "description": "e.g. stdout.txt, startup/stderr.txt"},
            # clamped to 1..MAX_LINES and 0..MAX_FOLLOW: bounds in the schema cost bytes in every turn
            "lines": {"type": "integer", "description": f"Lines from the end ({DEFAULT_LINES}, max {MAX_LINES})"},
            "follow": {"type": "integer", "description": "Seconds to keep reading new lines (max 60)"},
        },
        ["file_path"],
    ),
    annotations=READ_ONLY_HINTS,
    handler=file_tail,
    uses=("task_file_get", "node_file_get"),
)
