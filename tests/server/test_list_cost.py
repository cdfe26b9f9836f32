"""What a list call costs in Batch requests does not grow with the account: on a 10,000-task job, a
first page, a continuation page and a filtered list each take at most two requests beyond the page,
and the summary is counted once per query, from the service's own counters where they exist."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.server.conftest import text
from tests.server.workflows.conftest import ERA_VERSIONS, add_pool, ok, workflow_client

pytestmark = pytest.mark.anyio

TASKS = 10_000
BEYOND_THE_PAGE = 2


@dataclass
class CountingTransport(httpx2.AsyncBaseTransport):
    """Sends every request to the emulator and counts them by (method, path)."""

    inner: httpx2.AsyncBaseTransport = field(default_factory=httpx2.AsyncHTTPTransport)
    seen: Counter[tuple[str, str]] = field(default_factory=Counter)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.seen[(request.method, request.url.path)] += 1
        return await self.inner.handle_async_request(request)

    def take(self) -> Counter[tuple[str, str]]:
        seen, self.seen = self.seen, Counter()
        return seen

    async def aclose(self) -> None:
        await self.inner.aclose()


async def big_job(client: Any, job_id: str = "big") -> None:
    """A job of TASKS tasks on a pool without nodes, so they all stay active."""
    await add_pool(client, "idle", 0)
    await ok(client, "job_add", {"id": job_id, "poolInfo": {"poolId": "idle"}})
    tasks = [{"id": f"t{i:05d}", "commandLine": "/bin/true"} for i in range(TASKS)]
    await ok(client, "tasks_submit", {"job_id": job_id, "tasks": tasks})


@pytest.mark.parametrize(("era", "version"), ERA_VERSIONS)
async def test_list_calls_on_a_ten_thousand_task_job_cost_at_most_two_requests_beyond_the_page(
    tmp_path: Path, era: str, version: str
) -> None:
    transport = CountingTransport()
    async with workflow_client(tmp_path, era, api_version=version, transport=transport) as client:
        await big_job(client)
        transport.take()

        first = await ok(client, "task_list", {"job_id": "big"})
        cost = transport.take()
        data = first.structured_content or {}
        assert len(data["items"]) == 25 and data["continuation"]
        assert data["summary"] == {"counted": TASKS, "complete": True, "state": {"active": TASKS}}
        assert cost[("GET", "/jobs/big/tasks")] == 1, cost
        assert sum(cost.values()) <= 1 + BEYOND_THE_PAGE, cost

        following = await ok(client, "task_list", {"job_id": "big", "continuation": data["continuation"]})
        cost = transport.take()
        page = following.structured_content or {}
        assert len(page["items"]) == 25 and "summary" not in page  # counted once, on the first page
        assert sum(cost.values()) <= 1 + BEYOND_THE_PAGE, cost

        filtered = await ok(client, "task_list", {"job_id": "big", "filter": "state eq 'active'", "max_results": 10})
        cost = transport.take()
        summary = (filtered.structured_content or {})["summary"]
        assert summary["complete"] is False and 0 < summary["counted"] < TASKS
        assert "count_all=true" in text(filtered)
        assert sum(cost.values()) <= 1 + BEYOND_THE_PAGE, cost


async def test_count_all_counts_every_match_when_asked(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await big_job(client)
        result = await ok(client, "task_list", {"job_id": "big", "filter": "startswith(id, 't0')", "count_all": True})
        summary = (result.structured_content or {})["summary"]
        assert summary == {"counted": TASKS, "complete": True, "state": {"active": TASKS}}


async def test_a_pools_nodes_are_counted_from_the_node_counts(tmp_path: Path) -> None:
    transport = CountingTransport()
    async with workflow_client(tmp_path, transport=transport) as client:
        await add_pool(client, "wide", 4)
        transport.take()
        result = await ok(client, "node_list", {"pool_id": "wide", "max_results": 1})
        cost = transport.take()
        summary = (result.structured_content or {})["summary"]
        assert summary["counted"] == 4 and summary["complete"] is True
        assert sum(summary["state"].values()) == 4  # nodes may still be starting
        assert all(state == state.lower() for state in summary["state"])  # spelled as node_list spells them
        assert cost[("GET", "/nodecounts")] == 1 and sum(cost.values()) == 2, cost


async def test_a_list_that_fits_in_one_reply_is_counted_from_its_items(tmp_path: Path) -> None:
    transport = CountingTransport()
    async with workflow_client(tmp_path, transport=transport) as client:
        await ok(client, "job_add", {"id": "small", "poolInfo": {"poolId": "local"}})
        await ok(client, "task_add", {"job_id": "small", "id": "only", "commandLine": "/bin/true"})
        transport.take()
        result = await ok(client, "task_list", {"job_id": "small", "select": "id,state"})
        assert sum(transport.take().values()) == 1
        assert (result.structured_content or {})["summary"]["counted"] == 1
