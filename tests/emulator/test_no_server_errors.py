"""Property: whatever valid request a client sends, the emulator never answers 500.

Requests are drawn from the full validation schema of every tool in both committed catalogs
(2018-08-01.7.0 and 2024-02-01.19.0), turned into HTTP by the client's own request binding, and
sent to one running emulator per catalog, seeded with a pool, node, job, task and schedule that
path arguments often name. Every answer must be below 500, and no request or background
transition may log a failure. The number of examples is kept small for CI and derandomized so a
run is repeatable; set BATCH_MCP_PROPERTY_EXAMPLES to explore more locally.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_mcp.batch.binding import RequestPlan
from batch_mcp.catalog import load_catalog
from tests.emulator.conftest import V2018, V2024, Api, fast_config, make_pool, running
from tests.emulator.schema_strategies import IDENTIFIERS, SchemaStrategies

EXAMPLES = int(os.environ.get("BATCH_MCP_PROPERTY_EXAMPLES", "150"))


class FailureLog(logging.Handler):
    """Collects every warning or error the emulator logs (failed requests, failed transitions)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Seeded:
    """A running emulator with a pool, node, job, task and schedule for path arguments to name.

    Drawn requests delete and terminate things too; before each one, whatever seeded entity is
    gone or finished is replaced by a fresh one under a new id, so most requests keep meeting
    live entities rather than answering 404."""

    def __init__(self, portal: BlockingPortal, api: Api, version: str) -> None:
        self.portal = portal
        self.api = api
        self.version = version
        self.catalog = load_catalog(version)
        self.seeder = api.at(V2024)
        self.serial = 0
        self.current = {"pool_id": "", "job_id": "", "task_id": "t", "job_schedule_id": "", "node_id": ""}
        fixed = {
            "file_path": ["stdout.txt", "wd", "startup/stdout.txt", "workitems"],
            "user_name": ["someone"],
            "application_id": ["app"],
            "extension_name": ["ext"],
            "thumbprint_algorithm": ["sha1"],
            "thumbprint": ["0123456789abcdef"],
        }
        self.overrides: dict[str, Any] = {name: self.mostly(st.sampled_from(known)) for name, known in fixed.items()}
        for name in self.current:
            self.overrides[name] = self.mostly(st.builds(lambda n=name: self.current[n]))
        # pools the service would accept, half the time, so requests get past request-time validation
        valid_vm = {
            "imageReference": {"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
            "nodeAgentSKUId": "batch.node.ubuntu 24.04",
        }
        self.overrides["virtualMachineConfiguration"] = lambda drawn: st.just(valid_vm) | drawn
        self.overrides["vmSize"] = lambda drawn: st.sampled_from(["standard_d2s_v3", "STANDARD_D8S_V5"]) | drawn
        self.overrides["id"] = lambda drawn: IDENTIFIERS | drawn
        for count in ("targetDedicatedNodes", "targetLowPriorityNodes", "taskSlotsPerNode"):
            self.overrides[count] = lambda drawn: st.integers(0, 3) | drawn
        header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)  # HTTP: ASCII
        self.overrides["if_match"] = st.just("*") | header_text

    @staticmethod
    def mostly(known: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        """A known id nine times in ten, any identifier otherwise."""
        return st.integers(0, 9).flatmap(lambda i: IDENTIFIERS if i == 0 else known)

    def ensure(self) -> None:
        self.portal.call(self._ensure)

    async def _ensure(self) -> None:
        api = self.seeder

        async def usable(path: str, bad: tuple[str, ...] = ("deleting", "completed", "terminating")) -> bool:
            response = await api.get(path)
            return response.status_code == 200 and response.json().get("state") not in bad

        if not self.current["pool_id"] or not await usable(f"/pools/{self.current['pool_id']}"):
            self.serial += 1
            pool_id = f"p{self.serial}"
            nodes = await make_pool(api, pool_id, nodes=1)
            self.current.update(pool_id=pool_id, node_id=nodes[0]["id"])
        if not self.current["job_id"] or not await usable(f"/jobs/{self.current['job_id']}"):
            self.serial += 1
            self.current["job_id"] = f"j{self.serial}"
            await api.post("/jobs", {"id": self.current["job_id"], "poolInfo": {"poolId": self.current["pool_id"]}})
        job_id = self.current["job_id"]
        if (await api.get(f"/jobs/{job_id}/tasks/t")).status_code == 404:
            await api.post(f"/jobs/{job_id}/tasks", {"id": "t", "commandLine": "/bin/true"})
        if not self.current["job_schedule_id"] or not await usable(f"/jobschedules/{self.current['job_schedule_id']}"):
            self.serial += 1
            self.current["job_schedule_id"] = f"s{self.serial}"
            schedule = {"recurrenceInterval": "PT1H"}
            spec = {"poolInfo": {"poolId": self.current["pool_id"]}}
            await api.post(
                "/jobschedules", {"id": self.current["job_schedule_id"], "schedule": schedule, "jobSpecification": spec}
            )

    def requests(self) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
        tools = sorted(self.catalog.tools)
        return st.sampled_from(tools).flatmap(
            lambda name: st.tuples(
                st.just(name), SchemaStrategies(self.catalog.validation_schema(name), self.overrides).arguments()
            )
        )

    def send(self, name: str, arguments: dict[str, Any]) -> int:
        tool = self.catalog[name]
        prepared = RequestPlan(tool).prepare(arguments)
        params = {"api-version": self.version, **prepared.params}
        if "max_results" in arguments:
            params["maxresults"] = str(arguments["max_results"])

        async def call() -> int:
            with anyio.fail_after(30):
                response = await self.api.http.request(
                    prepared.method, prepared.path, params=params, headers=prepared.headers, content=prepared.content
                )
            if os.environ.get("BATCH_MCP_PROPERTY_TRACE"):
                print(name, response.status_code, response.text[-200:] if response.status_code >= 400 else "")
            return response.status_code

        return self.portal.call(call)


@pytest.fixture(scope="module")
def failure_log() -> Iterator[FailureLog]:
    handler = FailureLog()
    logger = logging.getLogger("batch_mcp.emulator")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def seeded_emulator(version: str) -> Iterator[Seeded]:
    config = fast_config(runner="instant", seed_pool=True)
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(running(config)) as (_, api):
        yield Seeded(portal, api.at(version), version)


@pytest.fixture(scope="module")
def emulator_2018() -> Iterator[Seeded]:
    yield from seeded_emulator(V2018)


@pytest.fixture(scope="module")
def emulator_2024() -> Iterator[Seeded]:
    yield from seeded_emulator(V2024)


def check_never_500(emulator: Seeded, failure_log: FailureLog, data: st.DataObject) -> None:
    emulator.ensure()
    name, arguments = data.draw(emulator.requests(), label="request")
    status = emulator.send(name, arguments)
    assert status < 500, f"{name} answered {status}"
    assert not failure_log.records, failure_log.records[0].getMessage()


PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


@PROPERTY
@given(data=st.data())
def test_no_valid_2018_request_gets_a_500(emulator_2018: Seeded, failure_log: FailureLog, data: st.DataObject) -> None:
    check_never_500(emulator_2018, failure_log, data)


@PROPERTY
@given(data=st.data())
def test_no_valid_2024_request_gets_a_500(emulator_2024: Seeded, failure_log: FailureLog, data: st.DataObject) -> None:
    check_never_500(emulator_2024, failure_log, data)
