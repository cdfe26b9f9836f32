"""File content as a stream: byte ranges, flat memory on large files, tails, and resuming after a reset."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import AsyncIterator

import httpx2
import pytest

from batch_mcp.batch import BatchClient, BatchTransportError
from batch_mcp.catalog import Catalog
from tests.batch.conftest import FakeTime
from tests.batch.fakebatch import ENDPOINT, FakeBatch, Fault

pytestmark = pytest.mark.anyio

MB = 1024 * 1024
FILE = {"job_id": "j", "task_id": "t", "file_path": "wd/big log.txt"}


class LargeFile:
    """A file of `size` bytes that exists only as a pattern: byte i is i % 251. Serves ranges lazily."""

    def __init__(self, size: int, chunk: int = 256 * 1024) -> None:
        self.size = size
        self.chunk = chunk
        self.ranges: list[str | None] = []

    def byte(self, start: int, length: int) -> bytes:
        return bytes((start + i) % 251 for i in range(length))

    async def _body(self, start: int, end: int) -> AsyncIterator[bytes]:
        block = self.byte(0, 251 * (self.chunk // 251 + 2))  # one block, reused for every chunk
        position = start
        while position <= end:
            length = min(self.chunk, end - position + 1)
            offset = position % 251
            yield block[offset : offset + length]
            position += length

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        span = request.headers.get("ocp-range")
        self.ranges.append(span)
        headers = {"ocp-batch-file-isdirectory": "false", "Content-Type": "application/octet-stream"}
        if request.method == "HEAD":
            return httpx2.Response(200, headers={**headers, "Content-Length": str(self.size)})
        start, end = 0, self.size - 1
        status = 200
        if span:
            first, _, last = span.removeprefix("bytes=").partition("-")
            start, end = int(first), min(int(last), self.size - 1) if last else self.size - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{self.size}"
            status = 206
        headers["Content-Length"] = str(end - start + 1)
        return httpx2.Response(status, headers=headers, content=self._body(start, end))


def _client(catalog: Catalog, handler: object, fake_time: FakeTime) -> BatchClient:
    return BatchClient(catalog, ENDPOINT, transport=httpx2.MockTransport(handler), retry=fake_time.policy())  # type: ignore[arg-type]


async def test_a_100_mb_ranged_download_streams_with_flat_memory(catalog: Catalog, fake_time: FakeTime) -> None:
    """100 MB pass through in chunks while traced memory stays under 4 MB: nothing buffers the body."""
    source = LargeFile(150 * MB)
    start, end = 20 * MB, 120 * MB - 1
    digest = hashlib.sha256()
    received = 0
    async with _client(catalog, source.handle, fake_time) as client:
        tracemalloc.start()
        try:
            async with client.open_stream("task_file_get", FILE, byte_range=(start, end)) as stream:
                assert stream.status == 206
                assert stream.properties["fileSize"] == 150 * MB
                assert (stream.properties["rangeStart"], stream.properties["rangeEnd"]) == (start, end)
                async for chunk in stream.aiter_bytes(256 * 1024):
                    if received == 0:
                        assert chunk[:4] == source.byte(start, 4)
                    digest.update(chunk)
                    received += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert received == 100 * MB
    assert source.ranges == [f"bytes={start}-{end}"]
    assert peak < 4 * MB, f"peak traced memory {peak / MB:.1f} MB"


async def test_the_range_argument_and_an_open_ended_range_both_work(catalog: Catalog, fake_time: FakeTime) -> None:
    source = LargeFile(1000)
    async with _client(catalog, source.handle, fake_time) as client:
        async with client.open_stream("task_file_get", {**FILE, "range": "bytes=10-19"}) as stream:
            assert await stream.read() == source.byte(10, 10)
        async with client.open_stream("task_file_get", FILE, byte_range=(990, None)) as stream:
            assert await stream.read() == source.byte(990, 10)
    assert source.ranges == ["bytes=10-19", "bytes=990-"]


async def test_a_tail_is_a_head_then_a_ranged_get(catalog: Catalog, fake_time: FakeTime) -> None:
    source = LargeFile(5000)
    client = _client(catalog, source.handle, fake_time)
    async with client, client.open_tail("task_file_get", FILE, 100) as stream:
        assert await stream.read() == source.byte(4900, 100)
        assert stream.properties["fileSize"] == 5000
    assert source.ranges == [None, "bytes=4900-4999"]


async def test_a_download_cut_mid_body_resumes_from_where_it_stopped(
    catalog: Catalog, fake: FakeBatch, fake_time: FakeTime
) -> None:
    content = bytes(range(256)) * 400
    fake.files[("j", "t", "wd/big log.txt")] = content
    fake.inject("GET", "/jobs/j/tasks/t/files/wd/big log.txt", Fault("reset_mid_body"), Fault("reset_mid_body"))
    client = BatchClient(catalog, ENDPOINT, transport=fake.transport, retry=fake_time.policy())
    async with client, client.open_stream("task_file_get", FILE) as stream:
        assert await stream.read() == content
        assert stream.resumed == 2
    ranges = [r.headers.get("ocp-range") for r in fake.requests]
    half = len(content) // 2
    assert ranges == [None, f"bytes={half}-", f"bytes={half + (len(content) - half) // 2}-"]


async def test_a_download_that_keeps_breaking_ends_in_a_transport_error(
    catalog: Catalog, fake: FakeBatch, fake_time: FakeTime
) -> None:
    fake.files[("j", "t", "x")] = b"a" * 1000
    fake.inject("GET", "/jobs/j/tasks/t/files/x", *[Fault("reset_mid_body")] * 10)
    args = {**FILE, "file_path": "x"}
    client = BatchClient(catalog, ENDPOINT, transport=fake.transport, retry=fake_time.policy(max_attempts=3))
    async with client, client.open_stream("task_file_get", args) as stream:
        with pytest.raises(BatchTransportError) as caught:
            await stream.read()
    assert caught.value.attempts == 3 and "broke off" in str(caught.value)
