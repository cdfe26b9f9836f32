"""Adding many tasks: chunking by count and size, concurrency, and exactly-once outcomes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batch_mcp.batch import BatchClient
from tests.batch.fakebatch import FakeBatch, Fault

pytestmark = pytest.mark.anyio


def _tasks(count: int, *, prefix: str = "t", padding: int = 0) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i:04d}", "commandLine": "/bin/true" + " " * padding} for i in range(count)]


def _collection_requests(fake: FakeBatch) -> list[list[str]]:
    return [
        [t["id"] for t in json.loads(r.content)["value"]]
        for r in fake.requests
        if r.url.path.endswith("addtaskcollection")
    ]


async def _with_job(client: BatchClient) -> None:
    await client.call("job_add", {"id": "j", "poolInfo": {"poolId": "p"}})


async def test_tasks_go_in_chunks_of_at_most_100_and_concurrently(client: BatchClient, fake: FakeBatch) -> None:
    await _with_job(client)
    result = await client.add_tasks("j", _tasks(250), concurrency=3)
    assert (result.added, result.failed, result.requests) == (250, [], 3)
    assert sorted(len(ids) for ids in _collection_requests(fake)) == [50, 100, 100]
    assert set(fake.tasks["j"]) == {t["id"] for t in _tasks(250)}
    assert 2 <= fake.max_in_flight <= 3


async def test_chunks_stay_under_one_megabyte(client: BatchClient, fake: FakeBatch) -> None:
    await _with_job(client)
    result = await client.add_tasks("j", _tasks(100, padding=30_000))
    assert result.added == 100 and not result.failed
    sizes = [len(r.content) for r in fake.requests if r.url.path.endswith("addtaskcollection")]
    assert len(sizes) >= 4 and max(sizes) < 1_000_000


async def test_a_too_large_request_halves_the_chunk_size(client: BatchClient, fake: FakeBatch) -> None:
    await _with_job(client)
    fake.body_limit = 60_000  # stricter than our estimate, as a service with a smaller limit would be
    result = await client.add_tasks("j", _tasks(100, padding=1000), concurrency=1)
    assert result.added == 100 and not result.failed
    assert [len(ids) for ids in _collection_requests(fake)][:3] == [100, 50, 50]
    assert all(count == 1 for count in fake.creates.values())


async def test_client_errors_are_reported_and_never_resent(client: BatchClient, fake: FakeBatch) -> None:
    await _with_job(client)
    fake.tasks["j"] = {"t0001": {"id": "t0001"}}  # someone else's task with the same id
    tasks = [*_tasks(3), {"id": "bad"}, {"id": "t0002", "commandLine": "again"}, {"commandLine": "no id"}]
    result = await client.add_tasks("j", tasks)
    assert result.added == 2  # t0000 and t0002
    failed = {(f["taskId"], f["error"]["code"]) for f in result.failed}
    assert failed == {
        ("t0001", "TaskExists"),
        ("bad", "InvalidPropertyValue"),
        ("t0002", "DuplicateTaskId"),
        (None, "MissingTaskId"),
    }
    assert len(_collection_requests(fake)) == 1


async def test_tasks_that_failed_with_server_errors_are_resent_alone(client: BatchClient, fake: FakeBatch) -> None:
    await _with_job(client)
    fake.inject(
        "POST", "/jobs/j/addtaskcollection", Fault("server_error_tasks", task_ids=frozenset({"t0003", "t0007"}))
    )
    result = await client.add_tasks("j", _tasks(10))
    assert result.added == 10 and not result.failed
    assert sorted(_collection_requests(fake)[1]) == ["t0003", "t0007"]
    assert all(count == 1 for count in fake.creates.values() if count)


async def test_a_missing_job_fails_every_task_without_retrying(client: BatchClient, fake: FakeBatch) -> None:
    result = await client.add_tasks("nojob", _tasks(300), concurrency=1)
    assert result.added == 0 and len(result.failed) == 300
    assert result.failed[0]["error"]["code"] == "JobNotFound"
    assert {f["status"] for f in result.failed} == {"clienterror", "notsubmitted"}
    assert len(_collection_requests(fake)) == 1


async def test_progress_is_reported_after_each_request(client: BatchClient) -> None:
    await _with_job(client)
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    await client.add_tasks("j", _tasks(250), concurrency=1, on_progress=progress)
    assert seen == [(100, 250), (200, 250), (250, 250)]
    sync_seen: list[int] = []
    await client.add_tasks("j", _tasks(5, prefix="s"), on_progress=lambda done, total: sync_seen.append(done))
    assert sync_seen == [5]
