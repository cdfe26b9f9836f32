"""Durations on the wire: every ISO 8601 form the service accepts is accepted (years, months and
weeks included) and acted on; a malformed one is the service's 400, never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest

from batch_mcp.emulator.timefmt import parse_iso
from tests.emulator.conftest import make_pool, ready_pool, running

pytestmark = pytest.mark.anyio


async def test_durations_with_years_months_and_weeks_are_accepted_and_used() -> None:
    async with running() as (_, api):
        await make_pool(api, "p")
        assert (await api.post("/pools", ready_pool("q", nodes=0, resizeTimeout="P1W"))).status_code == 201
        job = {"id": "j", "poolInfo": {"poolId": "p"}, "constraints": {"maxWallClockTime": "P3Y6M4DT12H30M5S"}}
        assert (await api.post("/jobs", job)).status_code == 201
        task = {
            "id": "t",
            "commandLine": "/bin/true",
            "constraints": {"maxWallClockTime": "P1M", "retentionTime": "P2W"},
        }
        assert (await api.post("/jobs/j/tasks", task)).status_code == 201
        done = await api.wait("/jobs/j/tasks/t", lambda t: t["state"] == "completed")
        assert done["executionInfo"]["result"] == "success"

        schedule = {
            "id": "monthly",
            "schedule": {"recurrenceInterval": "P1M"},
            "jobSpecification": {"poolInfo": {"poolId": "p"}},
        }
        assert (await api.post("/jobschedules", schedule)).status_code == 201
        got = await api.wait("/jobschedules/monthly", lambda s: "recentJob" in s["executionInfo"])
        first = parse_iso((await api.get(f"/jobs/{got['executionInfo']['recentJob']['id']}")).json()["creationTime"])
        next_run = parse_iso(got["executionInfo"]["nextRunTime"])
        assert timedelta(days=29, hours=23) < next_run - first <= timedelta(days=30)


@pytest.mark.parametrize("bad", ["PT", "P1DT", "-PT1H", "P0003-06-04T12:30:05", "PT1X"])
async def test_a_malformed_duration_is_refused_with_the_services_400(bad: str) -> None:
    async with running() as (_, api):
        response = await api.post("/pools", ready_pool("p", nodes=0, resizeTimeout=bad))
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "InvalidPropertyValue"
        assert {"key": "PropertyName", "value": "resizeTimeout"} in body["values"]
