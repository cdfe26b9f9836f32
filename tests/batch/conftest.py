"""Fixtures for the Batch client tests: the catalog, a fake service, and a retry policy whose
sleeps and clock are recorded instead of real."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from batch_mcp.batch import BatchClient, RetryPolicy, RetrySettings
from batch_mcp.catalog import Catalog, load_catalog
from tests.batch.fakebatch import ENDPOINT, FakeBatch


@dataclass
class FakeTime:
    """A clock that moves only when the policy sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def policy(self, **settings: float) -> RetryPolicy:
        return RetryPolicy(RetrySettings(**settings), sleep=self.sleep, clock=self.clock, rand=lambda: 0.5)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog("2024-02-01.19.0")


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def fake() -> FakeBatch:
    return FakeBatch()


@pytest.fixture
async def client(catalog: Catalog, fake: FakeBatch, fake_time: FakeTime) -> AsyncIterator[BatchClient]:
    async with BatchClient(catalog, ENDPOINT, transport=fake.transport, retry=fake_time.policy()) as batch:
        yield batch
