"""Fault injection: a service that throttles, fails, times out, resets connections and garbles JSON.

Reads must always succeed within the retry budget; a create that reached the service before its reply
was lost must never produce a duplicate; add-task-collection must end with every task added exactly
once. Run with `pytest tests/batch/test_faults.py -s` to print the table of faults and outcomes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest

from batch_mcp.batch import BatchClient, BatchServiceError, BatchTransportError
from batch_mcp.catalog import Catalog, load_catalog
from tests.batch.conftest import FakeTime
from tests.batch.fakebatch import ENDPOINT, FakeBatch, Fault

pytestmark = pytest.mark.anyio

BUDGET = 120.0
ROWS: list[tuple[str, str, str, str, str]] = []


@pytest.fixture(scope="module", autouse=True)
def fault_table() -> Iterator[None]:
    yield
    if not ROWS:
        return
    header = ("fault", "operation", "outcome", "requests", "waited")
    widths = [max(len(row[i]) for row in [header, *ROWS]) for i in range(len(header))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *ROWS]]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    table = "\n".join(lines)
    print(f"\n\nFault injection (fake clock; retry budget {BUDGET:.0f} s)\n{table}")


@dataclass
class Scenario:
    fault: str
    operation: str
    run: Callable[[BatchClient, FakeBatch], Awaitable[str]]


async def _setup(fake: FakeBatch) -> None:
    fake.jobs["j"] = {"id": "j", "poolInfo": {"poolId": "p"}, "state": "active", "eTag": "0x1"}
    fake.tasks["j"] = {f"t{i:04d}": {"id": f"t{i:04d}"} for i in range(2500)}
    fake.files[("j", "t0001", "wd/out.txt")] = bytes(range(256)) * 1000


def _read_job(*faults: Fault) -> Callable[[BatchClient, FakeBatch], Awaitable[str]]:
    async def run(client: BatchClient, fake: FakeBatch) -> str:
        fake.inject("GET", "/jobs/j", *faults)
        result = await client.call("job_get", {"job_id": "j"})
        assert result.data["id"] == "j"
        return "read ok"

    return run


def _list_tasks(*faults: Fault) -> Callable[[BatchClient, FakeBatch], Awaitable[str]]:
    async def run(client: BatchClient, fake: FakeBatch) -> str:
        fake.inject("GET", "/jobs/j/tasks", *faults)
        count = 0
        async for _ in client.iter_items("task_list", {"job_id": "j"}):
            count += 1
        assert count == 2500
        return "all 2500 items"

    return run


def _download(*faults: Fault) -> Callable[[BatchClient, FakeBatch], Awaitable[str]]:
    async def run(client: BatchClient, fake: FakeBatch) -> str:
        fake.inject("GET", "/jobs/j/tasks/t0001/files/wd/out.txt", *faults)
        async with client.open_stream(
            "task_file_get", {"job_id": "j", "task_id": "t0001", "file_path": "wd/out.txt"}
        ) as s:
            assert await s.read() == fake.files[("j", "t0001", "wd/out.txt")]
        return "content intact"

    return run


def _create_job(*faults: Fault) -> Callable[[BatchClient, FakeBatch], Awaitable[str]]:
    async def run(client: BatchClient, fake: FakeBatch) -> str:
        fake.inject("POST", "/jobs", *faults)
        result = await client.call("job_add", {"id": "new", "poolInfo": {"poolId": "p"}, "priority": 3})
        assert result.status == 201 and fake.creates == {"job:new": 1}
        return "created once" + (" (read back)" if result.recovered else "")

    return run


def _add_tasks(*faults: Fault) -> Callable[[BatchClient, FakeBatch], Awaitable[str]]:
    async def run(client: BatchClient, fake: FakeBatch) -> str:
        fake.jobs["k"] = {"id": "k", "eTag": "0x2"}
        fake.inject("POST", "/jobs/k/addtaskcollection", *faults)
        tasks = [{"id": f"a{i:03d}", "commandLine": "/bin/true"} for i in range(250)]
        result = await client.add_tasks("k", tasks, concurrency=1)
        assert (result.added, result.failed) == (250, [])
        assert set(fake.tasks["k"]) == {t["id"] for t in tasks}
        assert sorted(fake.creates.values()) == [1] * 250
        return "250/250 added exactly once"

    return run


SLOW = Fault.reply(429, Retry_After="2")
BUSY = Fault.reply(503)
SCENARIOS = [
    Scenario("429 + Retry-After: 2", "job_get", _read_job(SLOW)),
    Scenario("503 x3", "job_get", _read_job(BUSY, BUSY, BUSY)),
    Scenario("500, 502, 504, 408", "job_get", _read_job(*(Fault.reply(s) for s in (500, 502, 504, 408)))),
    Scenario("connection refused", "job_get", _read_job(Fault("connect_error"))),
    Scenario("connect timeout", "job_get", _read_job(Fault("timeout_before"))),
    Scenario("read timeout", "job_get", _read_job(Fault("timeout_after"))),
    Scenario("reset mid-body", "job_get", _read_job(Fault("reset_mid_body"))),
    Scenario("malformed JSON", "job_get", _read_job(Fault("malformed_json"))),
    Scenario(
        "every fault, in turn",
        "job_get",
        _read_job(
            SLOW, BUSY, Fault("connect_error"), Fault("timeout_after"), Fault("reset_mid_body"), Fault("malformed_json")
        ),
    ),
    Scenario(
        "reset, malformed, 503 across pages",
        "task_list (3 pages)",
        _list_tasks(Fault("reset_mid_body"), Fault("malformed_json"), BUSY),
    ),
    Scenario(
        "reset mid-body x2", "task_file_get (stream)", _download(Fault("reset_mid_body"), Fault("reset_mid_body"))
    ),
    Scenario("503 then 429", "task_file_get (stream)", _download(BUSY, SLOW)),
    Scenario("read timeout after the create", "job_add", _create_job(Fault("timeout_after"))),
    Scenario("reset after the create", "job_add", _create_job(Fault("reset_mid_body"))),
    Scenario("503 before the create", "job_add", _create_job(BUSY)),
    Scenario("timeout after, then 503", "job_add", _create_job(Fault("timeout_after"), BUSY)),
    Scenario(
        "servererror for 40 tasks",
        "add_tasks (250)",
        _add_tasks(Fault("server_error_tasks", task_ids=frozenset(f"a{i:03d}" for i in range(0, 250, 6)))),
    ),
    Scenario("read timeout after adding", "add_tasks (250)", _add_tasks(Fault("timeout_after"))),
    Scenario("malformed JSON after adding", "add_tasks (250)", _add_tasks(Fault("malformed_json"))),
    Scenario("429, 503, reset after adding", "add_tasks (250)", _add_tasks(SLOW, BUSY, Fault("reset_mid_body"))),
]


def _record(fault: str, operation: str, outcome: str, fake: FakeBatch, fake_time: FakeTime) -> None:
    ROWS.append((fault, operation, outcome, str(len(fake.requests)), f"{sum(fake_time.sleeps):.1f} s"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[f"{s.operation}: {s.fault}" for s in SCENARIOS])
async def test_faults_are_survived(scenario: Scenario, fake: FakeBatch, fake_time: FakeTime) -> None:
    await _setup(fake)
    async with BatchClient(
        _catalog(), ENDPOINT, transport=fake.transport, retry=fake_time.policy(budget=BUDGET)
    ) as client:
        outcome = await scenario.run(client, fake)
    assert fake.faults == []  # every scripted fault was met
    assert sum(fake_time.sleeps) < BUDGET
    _record(scenario.fault, scenario.operation, outcome, fake, fake_time)


async def test_a_service_that_stays_down_ends_in_a_readable_error_within_budget(
    fake: FakeBatch, fake_time: FakeTime
) -> None:
    await _setup(fake)
    fake.inject("GET", "/jobs/j", *[BUSY] * 50)
    async with BatchClient(_catalog(), ENDPOINT, transport=fake.transport, retry=fake_time.policy(budget=BUDGET)) as c:
        with pytest.raises(BatchServiceError) as caught:
            await c.call("job_get", {"job_id": "j"})
    assert caught.value.status == 503 and caught.value.attempts == len(fake.requests) <= 10
    assert sum(fake_time.sleeps) < BUDGET
    _record("503 forever", "job_get", f"error after {caught.value.attempts} attempts", fake, fake_time)


async def test_a_retry_after_beyond_the_budget_fails_at_once(fake: FakeBatch, fake_time: FakeTime) -> None:
    await _setup(fake)
    fake.inject("GET", "/jobs/j", Fault.reply(429, Retry_After="600"))
    async with BatchClient(_catalog(), ENDPOINT, transport=fake.transport, retry=fake_time.policy(budget=BUDGET)) as c:
        with pytest.raises(BatchServiceError) as caught:
            await c.call("job_get", {"job_id": "j"})
    assert caught.value.status == 429 and fake_time.sleeps == []
    _record("429 + Retry-After: 600", "job_get", "error at once (no wait)", fake, fake_time)


async def test_an_unsafe_action_whose_reply_was_lost_is_not_repeated(fake: FakeBatch, fake_time: FakeTime) -> None:
    fake.inject("POST", "/pools/p/nodes/n/reboot", Fault("timeout_after"))
    async with BatchClient(_catalog(), ENDPOINT, transport=fake.transport, retry=fake_time.policy(budget=BUDGET)) as c:
        with pytest.raises(BatchTransportError) as caught:
            await c.call("node_reboot", {"pool_id": "p", "node_id": "n"})
    assert caught.value.maybe_applied and len(fake.requests) == 1
    assert "may have been applied" in str(caught.value)
    _record("read timeout", "node_reboot", "error, not repeated", fake, fake_time)


def _catalog() -> Catalog:
    return load_catalog("2024-02-01.19.0")
