"""A Batch endpoint that lies about what it says: the agent gets a clear tool error, never a crash.

The attacker controls "Batch" (a hostile proxy, a compromised or mistyped endpoint) and answers with
replies that are well-formed HTTP but not what the service sends: numbers JSON does not have, fields
of the wrong type, bodies nested past any parser, list items that are not objects, error texts with
terminal escape sequences, paging links that go round in circles or never end. Each reply must end
in a readable tool error or a bounded result, and whatever the server does return must match the
tool's published output schema (an MCP client rejects a result that does not)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from batch_mcp.batch import RetryPolicy, RetrySettings
from tests.security.conftest import ENDPOINT, scripted_server
from tests.server.conftest import call, text

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}


def short_retries() -> dict[str, Any]:
    return {"retry": RetryPolicy(RetrySettings(budget=5, backoff_factor=0.01, backoff_max=0.02, max_attempts=2))}


async def answer(tmp_path: Path, reply: Any, tool: str = "pool_get", args: dict[str, Any] | None = None) -> Any:
    """The tool result the MCP client gets when Batch always answers `reply(request)`."""
    with anyio.fail_after(30):
        async with scripted_server(tmp_path, reply, client_options=short_retries()) as client:
            return await call(client, tool, args if args is not None else {"pool_id": "p"})


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "p", "currentDedicatedNodes": 1e999}',
        b'{"id": "p", "currentDedicatedNodes": NaN}',
        b'{"id": "p", "currentDedicatedNodes": -Infinity}',
    ],
    ids=["overflowing-float", "nan", "infinity"],
)
async def test_numbers_json_does_not_have_are_a_clear_error(tmp_path: Path, body: bytes) -> None:
    result = await answer(tmp_path, lambda request: httpx2.Response(200, content=body, headers=JSON))
    assert result.is_error, text(result)
    assert "not valid JSON" in text(result)


async def test_fields_of_the_wrong_type_are_a_clear_error_not_a_rejected_result(tmp_path: Path) -> None:
    body = {"id": "p", "state": 5, "currentDedicatedNodes": "many", "vmSize": "standard_d2s_v3"}
    result = await answer(tmp_path, lambda request: httpx2.Response(200, json=body))
    assert result.is_error, text(result)
    shown = text(result)
    assert "does not match" in shown and ("$.state" in shown or "$.currentDedicatedNodes" in shown), shown


async def test_a_list_whose_items_are_not_objects_is_a_clear_error(tmp_path: Path) -> None:
    result = await answer(
        tmp_path, lambda request: httpx2.Response(200, json={"value": [1, "a", None]}), "pool_list", {}
    )
    assert result.is_error
    assert "failed inside batch-mcp" not in text(result) and "not an object" in text(result), text(result)


@pytest.mark.parametrize("body", [[1, 2, 3], "pool p", True], ids=["list", "string", "boolean"])
async def test_an_entity_that_is_not_an_object_is_a_clear_error(tmp_path: Path, body: Any) -> None:
    result = await answer(tmp_path, lambda request: httpx2.Response(200, json=body))
    assert result.is_error
    assert "failed inside batch-mcp" not in text(result) and "not a JSON object" in text(result), text(result)


@pytest.mark.parametrize("depth", [400, 900, 200_000])
async def test_a_body_nested_past_any_batch_reply_is_a_clear_error(tmp_path: Path, depth: int) -> None:
    body = b'{"id": "p", "metadata": ' + b"[" * depth + b"]" * depth + b"}"
    result = await answer(tmp_path, lambda request: httpx2.Response(200, content=body, headers=JSON))
    assert result.is_error
    assert "failed inside batch-mcp" not in text(result) and "nested" in text(result), text(result)


async def test_control_characters_in_an_error_reply_are_not_passed_on(tmp_path: Path) -> None:
    body = {"code": "Bad\x1b[31mRequest", "message": {"value": "line\x1b]0;owned\x07 two\r\nthree\x9b2J"}}

    def batch(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(400, json=body, headers={"request-id": "rid\x7f-1"})

    result = await answer(tmp_path, batch)
    shown = text(result)
    assert result.is_error and "Request" in shown and "owned" in shown and "three" in shown
    for bad in ("\x1b", "\x07", "\r", "\x7f", "\x9b"):
        assert bad not in shown, repr(shown)


async def test_paging_links_that_go_round_in_circles_end(tmp_path: Path) -> None:
    asked: list[str] = []

    def batch(request: httpx2.Request) -> httpx2.Response:
        asked.append(str(request.url))
        here = request.url.params.get("page", "a")
        there = "b" if here == "a" else "a"
        link = f"{ENDPOINT}/pools?api-version=2024-02-01.19.0&page={there}"
        return httpx2.Response(200, json={"value": [], "odata.nextLink": link})

    result = await answer(tmp_path, batch, "pool_list", {})
    assert len(asked) < 10, len(asked)
    assert result.is_error and "page" in text(result), text(result)


async def test_a_listing_of_endless_empty_pages_ends(tmp_path: Path) -> None:
    asked: list[str] = []

    def batch(request: httpx2.Request) -> httpx2.Response:
        asked.append(str(request.url))
        link = f"{ENDPOINT}/pools?api-version=2024-02-01.19.0&page={len(asked)}"
        return httpx2.Response(200, json={"value": [], "odata.nextLink": link})

    result = await answer(tmp_path, batch, "pool_list", {})
    assert len(asked) <= 300, len(asked)
    shown = text(result)
    assert "more available" in shown or (result.is_error and "empty pages in a row" in shown), shown


@pytest.fixture
def alarm() -> Any:
    """A hard stop for code that never yields to the event loop (anyio's deadlines cannot end it)."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise TimeoutError("the call spun without end")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 20)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("size", ["100000", "99999999999999999999"])
async def test_a_file_shorter_than_its_stated_size_does_not_make_a_tail_spin(
    tmp_path: Path, alarm: Any, size: str
) -> None:
    """HEAD says one size, the ranged GETs bring back a few bytes (a lie, or a file that changed
    between the two): the tail ends with what it got or an error, instead of asking forever."""
    asked: list[str] = []

    def batch(request: httpx2.Request) -> httpx2.Response:
        asked.append(request.method)
        if request.method == "HEAD":
            return httpx2.Response(200, headers={"content-length": size, "ocp-batch-file-isdirectory": "False"})
        return httpx2.Response(206, content=b"hello\n", headers={"content-range": f"bytes 0-5/{size}"})

    args = {"job_id": "j", "task_id": "t", "file_path": "stdout.txt"}
    result = await answer(tmp_path, batch, "file_tail", args)
    assert len(asked) < 50, len(asked)
    assert "failed inside batch-mcp" not in text(result), text(result)


async def test_a_file_size_that_is_not_a_number_is_not_passed_on(tmp_path: Path) -> None:
    def batch(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-length": "lots", "ocp-batch-file-isdirectory": "False"})

    args = {"job_id": "j", "task_id": "t", "file_path": "stdout.txt"}
    result = await answer(tmp_path, batch, "task_file_get_properties", args)
    assert "failed inside batch-mcp" not in text(result) and "lots" not in text(result), text(result)
    tail = await answer(tmp_path, batch, "file_tail", args)
    assert tail.is_error and "size" in text(tail) and "failed inside batch-mcp" not in text(tail), text(tail)


async def test_an_etag_that_changes_on_every_read_is_not_a_change() -> None:
    """A watcher's version is what the entity says, not the ETag: a remote that hands out a new ETag
    on every read of the same pool must not make subscribers hear of a change every poll."""
    from batch_mcp.batch import BatchClient
    from batch_mcp.catalog import load_catalog
    from batch_mcp.server.events import entity_probe
    from batch_mcp.server.uris import parse_uri

    reads: list[int] = []

    def batch(request: httpx2.Request) -> httpx2.Response:
        reads.append(1)
        return httpx2.Response(200, json={"id": "p", "state": "active"}, headers={"etag": f'"0x{len(reads)}"'})

    async with BatchClient(load_catalog(), ENDPOINT, transport=httpx2.MockTransport(batch)) as client:
        probe = entity_probe(client, parse_uri("batch://pools/p"))
        versions = {await probe() for _ in range(5)}
    assert len(reads) == 5 and len(versions) == 1, versions


async def test_a_resumed_download_whose_range_lies_is_not_stitched_together() -> None:
    """The connection drops mid-file; the retry asks for the rest from byte n, and a lying remote
    answers with another range (here the file from byte 0 again). The bytes must not be joined
    into a file that never existed."""
    from batch_mcp.batch import BatchClient, BatchError
    from batch_mcp.catalog import load_catalog

    content = bytes(range(256)) * 64
    half = len(content) // 2
    gets: list[str | None] = []

    async def broken() -> Any:
        yield content[:half]
        raise httpx2.ReadError("connection reset")

    def batch(request: httpx2.Request) -> httpx2.Response:
        gets.append(request.headers.get("ocp-range"))
        if len(gets) == 1:
            return httpx2.Response(200, content=broken())
        total = len(content)
        return httpx2.Response(206, content=content, headers={"content-range": f"bytes 0-{total - 1}/{total}"})

    client = BatchClient(load_catalog(), ENDPOINT, transport=httpx2.MockTransport(batch), **short_retries())
    args = {"job_id": "j", "task_id": "t", "file_path": "big.bin"}
    async with client, client.open_stream("task_file_get", args) as stream:
        try:
            got = await stream.read()
        except BatchError as exc:
            assert "range" in str(exc), exc
        else:
            assert got == content, (len(got), len(content))
    assert gets[1] == f"bytes={half}-", gets


async def test_a_file_that_changes_size_mid_download_is_not_stitched_together() -> None:
    from batch_mcp.batch import BatchClient, BatchError
    from batch_mcp.catalog import load_catalog

    before, after = b"a" * 8000, b"b" * 12000
    gets: list[str | None] = []

    async def broken() -> Any:
        yield before[:4000]
        raise httpx2.ReadError("connection reset")

    def batch(request: httpx2.Request) -> httpx2.Response:
        gets.append(request.headers.get("ocp-range"))
        if len(gets) == 1:
            return httpx2.Response(200, content=broken(), headers={"content-length": str(len(before))})
        return httpx2.Response(206, content=after[4000:], headers={"content-range": f"bytes 4000-11999/{len(after)}"})

    client = BatchClient(load_catalog(), ENDPOINT, transport=httpx2.MockTransport(batch), **short_retries())
    args = {"job_id": "j", "task_id": "t", "file_path": "grows.log"}
    async with client, client.open_stream("task_file_get", args) as stream:
        with pytest.raises(BatchError, match="changed"):
            await stream.read()


async def test_a_redirect_is_not_followed_and_says_where_it_pointed(tmp_path: Path) -> None:
    asked: list[str] = []

    def batch(request: httpx2.Request) -> httpx2.Response:
        asked.append(str(request.url.host))
        return httpx2.Response(307, headers={"location": "https://collector.example:8443/steal?sig=c2VjcmV0c2ln"})

    result = await answer(tmp_path, batch)
    shown = text(result)
    assert asked == ["acct.westeurope.batch.azure.com"], asked
    assert result.is_error and "collector.example:8443" in shown and "not follow" in shown, shown
    assert "c2VjcmV0c2ln" not in shown and "steal" not in shown


async def test_a_wait_of_a_year_is_not_called_busy_for_a_moment(tmp_path: Path) -> None:
    calls: list[int] = []

    def batch(request: httpx2.Request) -> httpx2.Response:
        calls.append(1)
        return httpx2.Response(503, headers={"retry-after": "31536000"})

    result = await answer(tmp_path, batch)
    assert len(calls) == 1
    assert result.is_error and "31536000" in text(result), text(result)
