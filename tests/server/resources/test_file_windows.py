"""Windowed reads against a stubbed file service (`httpx2.MockTransport`): a read never asks Batch
for more than one window, a tail reads backwards only as far as it needs, and text is told from binary."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

from batch_mcp.batch import BatchClient
from batch_mcp.catalog import load_catalog
from batch_mcp.server.file_windows import WindowError, decode_window, mime_type, read_window
from batch_mcp.server.uris import parse_uri

pytestmark = pytest.mark.anyio
ENDPOINT = "https://acct.region.batch.azure.com"
STDOUT = "batch://jobs/j/tasks/t/files/stdout.txt"


class FileService:
    """Serves one file's HEAD and ranged GETs, and counts the bytes it sent."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.sent = 0
        self.ranges: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        size = len(self.content)
        if request.method == "HEAD":
            return httpx2.Response(200, headers={"content-length": str(size), "ocp-batch-file-isdirectory": "false"})
        wanted = request.headers.get("ocp-range", f"bytes=0-{size - 1}")
        self.ranges.append(wanted)
        first, _, last = wanted.removeprefix("bytes=").partition("-")
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
        body = self.content[start : end + 1]
        self.sent += len(body)
        return httpx2.Response(206, content=body, headers={"content-range": f"bytes {start}-{end}/{size}"})


@pytest.fixture
async def service_client(request: pytest.FixtureRequest) -> AsyncIterator[tuple[FileService, BatchClient]]:
    service = FileService(request.param)
    async with BatchClient(load_catalog("2024-02-01.19.0"), ENDPOINT, transport=httpx2.MockTransport(service)) as c:
        yield service, c


LINES = b"".join(b"line %05d\n" % i for i in range(100_000))  # 1,100,000 bytes


@pytest.mark.parametrize("service_client", [LINES], indirect=True)
async def test_a_read_without_a_range_returns_the_first_window_and_asks_for_no_more(service_client) -> None:
    service, client = service_client
    window = await read_window(client, parse_uri(STDOUT), window=64 * 1024)
    assert (window.start, window.end, window.size) == (0, 64 * 1024 - 1, len(LINES))
    assert window.text is not None and window.text.startswith("line 00000\n")
    assert service.sent == 64 * 1024 and not window.complete


@pytest.mark.parametrize("service_client", [LINES], indirect=True)
async def test_a_range_is_served_as_asked_and_capped_at_the_window(service_client) -> None:
    _, client = service_client
    window = await read_window(client, parse_uri(STDOUT + "?range=11-21"), window=1024)
    assert window.text == "line 00001\n"
    window = await read_window(client, parse_uri(STDOUT + "?range=0-"), window=1024)
    assert window.end == 1023
    window = await read_window(client, parse_uri(STDOUT + "?range=-11"), window=1024)
    assert window.text == "line 99999\n"
    with pytest.raises(WindowError):
        await read_window(client, parse_uri(STDOUT + f"?range={len(LINES)}-"), window=1024)


@pytest.mark.parametrize("service_client", [LINES], indirect=True)
async def test_a_short_tail_reads_only_the_end_of_a_large_file(service_client) -> None:
    service, client = service_client
    window = await read_window(client, parse_uri(STDOUT + "?tail=3"), window=256 * 1024)
    assert window.text == "line 99997\nline 99998\nline 99999\n"
    assert window.lines == 3
    assert window.end == len(LINES) - 1 and window.start == len(LINES) - 33
    assert service.sent <= 16 * 1024  # one small block from the end


@pytest.mark.parametrize("service_client", [LINES], indirect=True)
async def test_a_long_tail_grows_its_reads_and_stops_at_the_window_on_a_line_start(service_client) -> None:
    service, client = service_client
    window = await read_window(client, parse_uri(STDOUT + "?tail=50000"), window=100_000)
    assert service.sent == 100_000  # blocks of 16 KiB, 64 KiB, ... never past the window
    assert len(service.ranges) > 1
    assert window.text is not None and window.text.startswith("line ")  # the partial first line was dropped
    assert window.lines == 100_000 // 11 and window.end == len(LINES) - 1


@pytest.mark.parametrize("service_client", [b"no newline at all"], indirect=True)
async def test_a_tail_of_a_file_without_line_breaks_is_the_whole_small_file(service_client) -> None:
    _, client = service_client
    window = await read_window(client, parse_uri(STDOUT + "?tail=5"))
    assert (window.text, window.lines, window.complete) == ("no newline at all", 1, True)


@pytest.mark.parametrize("service_client", [b""], indirect=True)
async def test_an_empty_file_reads_as_empty_text_without_a_get(service_client) -> None:
    service, client = service_client
    for query in ("", "?tail=5", "?range=-10"):
        window = await read_window(client, parse_uri(STDOUT + query))
        assert (window.text, window.size, window.complete) == ("", 0, True)
    assert service.ranges == []


@pytest.mark.parametrize("service_client", [bytes(range(256)) * 100], indirect=True)
async def test_binary_content_has_no_text(service_client) -> None:
    _, client = service_client
    window = await read_window(client, parse_uri("batch://pools/p/nodes/n/files/data.bin?range=0-999"))
    assert window.text is None and len(window.data) == 1000
    window = await read_window(client, parse_uri("batch://pools/p/nodes/n/files/data.bin?tail=2"))
    assert window.text is None


def test_a_utf8_character_cut_at_either_edge_of_a_window_is_left_out() -> None:
    data = "é-ok-€".encode()  # é is 2 bytes, € is 3
    text, lead, cut = decode_window(data[1:-1], mid_start=True)
    assert (text, lead, cut) == ("-ok-", 1, 2)
    assert decode_window(b"\xff\xfe\xfa plain", mid_start=False) is None  # not UTF-8: binary
    assert decode_window(b"text\x00with nul", mid_start=False) is None


def test_mime_types_follow_the_extension_and_the_content() -> None:
    assert mime_type("stdout.txt", True) == "text/plain"
    assert mime_type("wd/result.json", True) == "application/json"
    assert mime_type("wd/run.log", True) == "text/plain"
    assert mime_type("wd/image.png", False) == "image/png"
    assert mime_type("wd/blob", False) == "application/octet-stream"
