"""The HTTP file streaming endpoint on a real uvicorn: whole files and byte ranges with the bearer
token, nothing without it."""

from __future__ import annotations

from pathlib import Path

import mcp
import pytest
from mcp.client.streamable_http import streamable_http_client

from batch_mcp.server.http_files import parse_byte_range
from tests.server.resources.conftest import HttpServed, http_serve, run_task

pytestmark = pytest.mark.anyio

SIZE = 3_000_000
CONTENT = (b"0123456789\n" * (SIZE // 11 + 1))[:SIZE]
URL = "/files/jobs/j1/tasks/t1/files/wd/big.txt"


async def make_big_file(served: HttpServed) -> None:
    async with (
        served.http(served.token) as http,
        mcp.Client(streamable_http_client(served.base + "/mcp", http_client=http)) as client,
    ):
        await run_task(client, "j1", "t1", f"/bin/sh -c 'yes 0123456789 | head -c {SIZE} > big.txt'")


async def test_a_whole_file_streams_through_with_the_token(tmp_path: Path) -> None:
    async with http_serve(tmp_path) as served:
        await make_big_file(served)
        async with served.http(served.token) as http:
            received = bytearray()
            async with http.stream("GET", URL) as response:
                assert response.status_code == 200
                assert response.headers["content-length"] == str(SIZE)
                assert response.headers["accept-ranges"] == "bytes"
                async for chunk in response.aiter_bytes():
                    received += chunk
            assert bytes(received) == CONTENT

            head = await http.head(URL)
            assert (head.status_code, head.headers["content-length"], head.content) == (200, str(SIZE), b"")

            stdout = await http.get("/files/pools/local/nodes/nope/files/startup/stdout.txt")
            assert stdout.status_code == 404


async def test_a_byte_range_is_answered_206_and_a_bad_one_416(tmp_path: Path) -> None:
    async with http_serve(tmp_path) as served:
        await make_big_file(served)
        async with served.http(served.token) as http:
            part = await http.get(URL, headers={"Range": "bytes=1000-1010"})
            assert part.status_code == 206
            assert part.headers["content-range"] == f"bytes 1000-1010/{SIZE}"
            assert part.content == CONTENT[1000:1011]
            last = await http.get(URL, headers={"Range": "bytes=-5"})
            assert last.content == CONTENT[-5:]
            bad = await http.get(URL, headers={"Range": f"bytes={SIZE}-"})
            assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{SIZE}"


async def test_without_the_right_token_nothing_is_served(tmp_path: Path) -> None:
    async with http_serve(tmp_path) as served:
        await make_big_file(served)
        for token in (None, "not-the-token"):
            async with served.http(token) as http:
                refused = await http.get(URL)
                assert refused.status_code == 401
                assert b"0123456789" not in refused.content
                assert served.token not in refused.text


async def test_a_foreign_host_header_is_refused_even_with_the_token(tmp_path: Path) -> None:
    async with http_serve(tmp_path) as served, served.http(served.token) as http:
        await make_big_file(served)
        refused = await http.get(URL, headers={"Host": "attacker.example"})
        assert refused.status_code == 421
        assert b"0123456789" not in refused.content


async def test_paths_that_are_not_file_resources_are_not_found(tmp_path: Path) -> None:
    async with http_serve(tmp_path) as served, served.http(served.token) as http:
        for path in ("/files/jobs/j1", "/files/jobs/j1/tasks/t1", "/files/nothing/here"):
            assert (await http.get(path)).status_code == 404
        assert (await http.get("/files/jobs/nope/tasks/t1/files/stdout.txt")).status_code == 404


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", (0, 9)),
        ("bytes=5-", (5, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=90-500", (90, 99)),
        ("bytes=100-", None),
        ("bytes=9-3", None),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=-0", None),
    ],
)
def test_range_headers_are_parsed_against_the_file_size(header: str, expected: tuple[int, int] | None) -> None:
    assert parse_byte_range(header, 100) == expected


async def test_a_path_outside_batchs_bounds_is_a_client_error_not_a_bad_gateway(tmp_path: Path) -> None:
    async with http_serve(tmp_path) as served, served.http(served.token) as http:
        for path in ("/files/jobs/j1/tasks/t1/files/stdout.txt%00", "/files/jobs/" + "j" * 100 + "/tasks/t1/files/a"):
            answer = await http.get(path)
            assert answer.status_code in (400, 404), (path, answer.status_code, answer.text)
            assert "NotAFileResource" in answer.text, answer.text
