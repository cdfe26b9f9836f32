"""Reading a binary file with task_file_get costs the model a few lines, not 350 KB of base64.

A model cannot read raw bytes: without a range, the tool says what the file is (size, type, its
first bytes in hex) and where a client can fetch it whole; an image small enough to fit a window
comes back as an image a model can look at; an explicit range still returns those bytes."""

from __future__ import annotations

import base64
from pathlib import Path

import mcp_types as types
import pytest

from tests.server.conftest import call, connect, make_settings, text, wait_until

pytestmark = pytest.mark.anyio

WRITE = (
    "/bin/sh -c 'head -c 300000 /dev/urandom > blob.bin; "
    "printf \"\\211PNG\\r\\n\\032\\n0000\" > pic.png'"
)


async def test_binary_content_is_summarised_unless_a_range_asks_for_bytes(tmp_path: Path, era: str) -> None:
    async with connect(make_settings(tmp_path), era) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        assert not (await call(client, "task_add", {"job_id": "j", "id": "t", "commandLine": WRITE})).is_error
        task = await wait_until(
            client, "task_get", {"job_id": "j", "task_id": "t"}, lambda t: t.get("state") == "completed"
        )
        assert task["executionInfo"]["exitCode"] == 0, task

        where = {"job_id": "j", "task_id": "t"}
        whole = await call(client, "task_file_get", {**where, "file_path": "wd/blob.bin"})
        assert not whole.is_error, text(whole)
        assert all(isinstance(block, types.TextContent) for block in whole.content)
        said = text(whole)
        assert len(said) < 1_000 and "binary" in said and "300000" in said.replace(",", ""), said
        assert "batch://jobs/j/tasks/t/files/wd/blob.bin" in said

        part = await call(client, "task_file_get", {**where, "file_path": "wd/blob.bin", "range": "bytes=0-15"})
        blobs = [b for b in part.content if isinstance(b, types.EmbeddedResource)]
        assert len(blobs) == 1 and len(base64.b64decode(blobs[0].resource.blob)) == 16  # type: ignore[union-attr]

        picture = await call(client, "task_file_get", {**where, "file_path": "wd/pic.png"})
        images = [b for b in picture.content if isinstance(b, types.ImageContent)]
        assert len(images) == 1 and images[0].mime_type == "image/png", picture.content
        assert base64.b64decode(images[0].data).startswith(b"\x89PNG")
