"""Reading the end of a file: only ranged reads near the end, and lines cut at the right places."""

from __future__ import annotations

import itertools

import httpx2
import pytest

from batch_mcp.batch import BatchClient
from batch_mcp.catalog import load_catalog
from batch_mcp.server.workflows.tail import MAX_TAIL_BYTES, read_tail

ENDPOINT = "https://acct.region.batch.azure.com"
ARGS = {"job_id": "j", "task_id": "t", "file_path": "stdout.txt"}


class FileServer:
    """Serves one task file: HEAD with its size, GET with `ocp-range`; remembers the byte ranges asked for."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.ranges: list[tuple[int, int]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "HEAD":
            return httpx2.Response(200, headers={"content-length": str(len(self.content))})
        first, _, last = request.headers["ocp-range"].removeprefix("bytes=").partition("-")
        start, end = int(first), min(int(last), len(self.content) - 1)
        self.ranges.append((start, end))
        headers = {"content-range": f"bytes {start}-{end}/{len(self.content)}"}
        return httpx2.Response(206, headers=headers, content=self.content[start : end + 1])


async def tail_of(content: bytes, lines: int, **kwargs: int) -> tuple[object, FileServer]:
    server = FileServer(content)
    async with BatchClient(load_catalog(), ENDPOINT, transport=httpx2.MockTransport(server)) as client:
        return await read_tail(client, "task_file_get", ARGS, lines, **kwargs), server


@pytest.mark.anyio
async def test_a_few_lines_of_a_large_file_take_one_small_read_at_its_end() -> None:
    content = b"".join(b"line %d\n" % i for i in range(200_000))
    tail, server = await tail_of(content, 3)
    assert tail.text == "line 199997\nline 199998\nline 199999"
    assert tail.start == len(content) - len(b"line 199997\nline 199998\nline 199999\n")
    assert tail.more and tail.size == len(content)
    assert len(server.ranges) == 1
    start, end = server.ranges[0]
    assert end == len(content) - 1 and end - start + 1 <= MAX_TAIL_BYTES


@pytest.mark.anyio
async def test_more_lines_than_the_budget_holds_read_no_byte_twice_and_show_whole_lines() -> None:
    content = b"".join(b"%06d\n" % i for i in range(100_000))
    tail, server = await tail_of(content, 2000)
    covered = sorted(server.ranges)
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(covered))  # adjacent, no overlap
    assert sum(end - start + 1 for start, end in covered) <= MAX_TAIL_BYTES
    assert tail.lines == len(tail.text.split("\n")) and all(len(line) == 6 for line in tail.text.split("\n"))
    assert tail.start == len(content) - 7 * tail.lines
    assert tail.text.endswith("099999") and tail.more


@pytest.mark.anyio
async def test_an_empty_file_is_not_read() -> None:
    tail, server = await tail_of(b"", 10)
    assert (tail.text, tail.size, tail.more) == ("", 0, False)
    assert server.ranges == []


@pytest.mark.anyio
async def test_a_short_file_is_shown_whole_with_its_missing_final_newline() -> None:
    tail, _ = await tail_of(b"a\nb\nc", 2)
    assert (tail.text, tail.start, tail.more) == ("b\nc", 2, True)


@pytest.mark.anyio
async def test_binary_content_is_flagged_not_decoded() -> None:
    tail, _ = await tail_of(b"\x00\x01\x02", 5)
    assert tail.binary and tail.text == ""


@pytest.mark.anyio
async def test_secrets_in_a_log_are_masked() -> None:
    tail, _ = await tail_of(b"GET https://x.blob.core.windows.net/c/f?sv=1&sig=abcdef123\n", 5)
    assert "abcdef123" not in tail.text and "sig=***" in tail.text
