"""Lists: following nextLink, bounded reads with a continuation, and continuations that cannot be forged."""

from __future__ import annotations

import base64
import json

import httpx2
import pytest

from batch_mcp.batch import BatchClient, BatchProtocolError, ContinuationError
from batch_mcp.batch.paging import Continuation
from batch_mcp.catalog import Catalog
from tests.batch.conftest import FakeTime
from tests.batch.fakebatch import ENDPOINT, FakeBatch

pytestmark = pytest.mark.anyio


def _tasks(fake: FakeBatch, count: int, job: str = "j") -> None:
    fake.tasks[job] = {f"t{i:05d}": {"id": f"t{i:05d}", "state": "active"} for i in range(count)}


def _page_sizes(fake: FakeBatch) -> list[int]:
    return [int(r.url.params["maxresults"]) for r in fake.requests if r.method == "GET"]


async def test_2500_items_in_pages_of_1000_with_a_bounded_max_items(client: BatchClient, fake: FakeBatch) -> None:
    _tasks(fake, 2500)
    first = await client.list("task_list", {"job_id": "j"}, max_items=1200)
    assert len(first.items) == 1200 and first.continuation
    assert _page_sizes(fake) == [1000, 1000]  # never asks for more than a page of 1000

    second = await client.list("task_list", {"job_id": "j"}, max_items=1200, continuation=first.continuation)
    third = await client.list("task_list", {"job_id": "j"}, max_items=1200, continuation=second.continuation)
    assert (len(second.items), len(third.items), third.continuation) == (1200, 100, None)
    ids = [t["id"] for t in first.items + second.items + third.items]
    assert ids == sorted(fake.tasks["j"]) and len(set(ids)) == 2500


async def test_a_small_max_items_asks_for_a_small_page(client: BatchClient, fake: FakeBatch) -> None:
    _tasks(fake, 30)
    page = await client.list("task_list", {"job_id": "j"}, max_items=10)
    assert [t["id"] for t in page.items] == [f"t{i:05d}" for i in range(10)]
    assert _page_sizes(fake) == [10]
    rest = await client.list("task_list", {"job_id": "j", "continuation": page.continuation}, max_items=100)
    assert [t["id"] for t in rest.items] == [f"t{i:05d}" for i in range(10, 30)] and rest.continuation is None


async def test_a_page_cut_short_resumes_inside_the_page(catalog: Catalog, fake_time: FakeTime) -> None:
    """A service may send more than asked (or a later page may be larger): the continuation skips what
    was already returned."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"value": [{"id": str(i)} for i in range(7)]})

    async with BatchClient(catalog, ENDPOINT, transport=httpx2.MockTransport(handler), retry=fake_time.policy()) as c:
        first = await c.list("pool_list", {}, max_items=5)
        rest = await c.list("pool_list", {}, max_items=5, continuation=first.continuation)
    assert [p["id"] for p in first.items] == ["0", "1", "2", "3", "4"]
    assert [p["id"] for p in rest.items] == ["5", "6"] and rest.continuation is None


async def test_iter_items_walks_every_page(client: BatchClient, fake: FakeBatch) -> None:
    _tasks(fake, 2500)
    count = 0
    async for task in client.iter_items("task_list", {"job_id": "j"}, page_size=1000):
        assert task["state"] == "active"
        count += 1
    assert count == 2500 and _page_sizes(fake) == [1000, 1000, 1000]


def _forge(link: str, tool: str = "task_list", skip: int = 0) -> str:
    return Continuation(tool, link, skip).encode()


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example.com/jobs/j/tasks?$skiptoken=1",
        "http://fakeaccount.westeurope.batch.azure.com/jobs/j/tasks",
        f"{ENDPOINT}:8443/jobs/j/tasks",
    ],
)
async def test_a_continuation_cannot_name_a_host_its_page_is_fetched_from_the_configured_endpoint(
    client: BatchClient, fake: FakeBatch, link: str
) -> None:
    await client.list("task_list", {"job_id": "j"}, max_items=10, continuation=_forge(link))
    assert fake.requests and all(str(r.url).startswith(f"{ENDPOINT}/jobs/j/tasks") for r in fake.requests)


@pytest.mark.parametrize(
    "token",
    [
        _forge(f"{ENDPOINT}/jobs/other/tasks?$skiptoken=1"),
        _forge(f"{ENDPOINT}/jobs/j/tasks", tool="job_list"),
        _forge(f"{ENDPOINT}/jobs/j/tasks", skip=-1),
        "not-a-continuation",
        base64.urlsafe_b64encode(json.dumps({"x": 1}).encode()).decode(),
    ],
)
async def test_continuations_for_another_host_tool_or_resource_are_refused(
    client: BatchClient, fake: FakeBatch, token: str
) -> None:
    with pytest.raises(ContinuationError):
        await client.list("task_list", {"job_id": "j"}, max_items=10, continuation=token)
    assert fake.requests == []  # nothing was sent anywhere


async def test_a_next_link_to_another_host_is_not_followed(catalog: Catalog, fake_time: FakeTime) -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(str(request.url))
        return httpx2.Response(200, json={"value": [{"id": "a"}], "odata.nextLink": "https://evil.example.com/pools"})

    async with BatchClient(catalog, ENDPOINT, transport=httpx2.MockTransport(handler), retry=fake_time.policy()) as c:
        with pytest.raises(BatchProtocolError):
            await c.list("pool_list", {}, max_items=10)
    assert len(seen) == 1


async def test_a_next_link_to_another_port_names_both_ports(catalog: Catalog, fake_time: FakeTime) -> None:
    """Behind a reverse proxy the links may carry the backend's port: the refusal must show the difference."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"value": [{"id": "a"}], "odata.nextLink": "http://127.0.0.1:9999/pools"})

    transport = httpx2.MockTransport(handler)
    async with BatchClient(catalog, "http://127.0.0.1:8080", transport=transport, retry=fake_time.policy()) as c:
        with pytest.raises(BatchProtocolError) as exc_info:
            await c.list("pool_list", {}, max_items=10)
    assert "http://127.0.0.1:9999, not the configured endpoint http://127.0.0.1:8080" in str(exc_info.value)


async def test_a_relative_next_link_is_resolved_against_the_endpoint(catalog: Catalog, fake_time: FakeTime) -> None:
    pages = {
        "0": {"value": [{"id": "a"}], "odata.nextLink": "/pools?api-version=2024-02-01.19.0&$skiptoken=1"},
        "1": {"value": [{"id": "b"}]},
    }

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=pages[request.url.params.get("$skiptoken", "0")])

    async with BatchClient(catalog, ENDPOINT, transport=httpx2.MockTransport(handler), retry=fake_time.policy()) as c:
        page = await c.list("pool_list", {}, max_items=10)
    assert [p["id"] for p in page.items] == ["a", "b"]


async def test_a_continuation_with_another_filter_is_refused_not_answered_with_the_first_query(
    client: BatchClient, fake: FakeBatch
) -> None:
    _tasks(fake, 30)
    asked = {"job_id": "j", "filter": "state eq 'active'"}
    page = await client.list("task_list", asked, max_items=10)
    sent = len(fake.requests)
    for changed in ({**asked, "filter": "state eq 'completed'"}, {**asked, "select": "id"}):
        with pytest.raises(ContinuationError, match="list again without continuation"):
            await client.list("task_list", changed, max_items=10, continuation=page.continuation)
    assert len(fake.requests) == sent  # refused before anything was sent
    same = await client.list("task_list", asked, max_items=10, continuation=page.continuation)
    bare = await client.list("task_list", {"job_id": "j"}, max_items=10, continuation=page.continuation)
    assert [t["id"] for t in same.items] == [t["id"] for t in bare.items] == [f"t{i:05d}" for i in range(10, 20)]
