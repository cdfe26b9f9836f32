"""Fault isolation: a failure while advancing one entity is recorded on that entity, the way the
service reports such failures, and every other entity of the account keeps moving.

Failures are injected by replacing one backend transition on the running emulator with one that
raises for a chosen entity only; the rest of the account is then watched making progress."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from batch_mcp.emulator.store import Entity
from tests.emulator.conftest import make_pool, ready_pool, running

pytestmark = pytest.mark.anyio

MISSING_CERTIFICATE = [{"thumbprint": "0123456789abcdef", "thumbprintAlgorithm": "sha1"}]


def auto_pool_spec(**pool: Any) -> dict[str, Any]:
    spec = ready_pool("ignored", nodes=1, **pool)
    del spec["id"]
    return {"autoPoolSpecification": {"poolLifetimeOption": "job", "pool": spec}}


async def test_a_schedule_whose_auto_pool_names_a_missing_certificate_does_not_stall_the_account() -> None:
    """The scenario replayed from real traffic: the service creates the job and completes it with
    the scheduling error InvalidCertificatesInAutoPool; nothing else is held up."""
    async with running() as (_, api):
        job_spec = {"poolInfo": auto_pool_spec(certificateReferences=MISSING_CERTIFICATE)}
        schedule = {"id": "nightly", "schedule": {}, "jobSpecification": job_spec}
        assert (await api.post("/jobschedules", schedule)).status_code == 201
        job = await api.wait("/jobs/nightly:job-1", lambda j: j["state"] == "completed")
        error = job["executionInfo"]["schedulingError"]
        assert error["category"] == "usererror"
        assert error["code"] == "InvalidCertificatesInAutoPool"
        assert {"name": "PoolErrorCode", "value": "InvalidCertificateReferences"} in error["details"]
        await api.wait("/jobschedules/nightly", lambda s: s["state"] == "completed")

        await make_pool(api, "p", nodes=2)  # new pools still allocate and start their nodes
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs/j/tasks", {"id": "t", "commandLine": "/bin/true"})
        task = await api.wait("/jobs/j/tasks/t", lambda t: t["state"] == "completed")
        assert task["executionInfo"]["result"] == "success"
        assert (await api.get("/pools")).json()["value"][0]["id"] == "p"  # no auto pool was left behind


async def test_a_recurring_schedule_keeps_running_after_a_job_that_could_not_start() -> None:
    async with running() as (_, api):
        job_spec = {"poolInfo": auto_pool_spec(certificateReferences=MISSING_CERTIFICATE)}
        schedule = {"id": "s", "schedule": {"recurrenceInterval": "PT0.2S"}, "jobSpecification": job_spec}
        await api.post("/jobschedules", schedule)
        jobs = await api.wait("/jobschedules/s/jobs", lambda b: len(b["value"]) >= 2)
        assert all(
            j["executionInfo"]["schedulingError"]["code"] == "InvalidCertificatesInAutoPool" for j in jobs["value"]
        )
        assert (await api.get("/jobschedules/s")).json()["state"] == "active"


async def test_a_job_added_with_an_invalid_auto_pool_is_created_and_completed_with_the_error() -> None:
    async with running() as (_, api):
        job = {"id": "j", "poolInfo": auto_pool_spec(certificateReferences=MISSING_CERTIFICATE)}
        assert (await api.post("/jobs", job)).status_code == 201
        got = (await api.get("/jobs/j")).json()
        assert got["state"] == "completed"
        assert got["executionInfo"]["schedulingError"]["code"] == "InvalidCertificatesInAutoPool"
        refused = await api.post("/jobs/j/tasks", {"id": "t", "commandLine": "/bin/true"})
        assert (refused.status_code, refused.json()["code"]) == (409, "JobCompleted")


async def test_a_failing_allocation_is_a_resize_error_on_that_pool_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with running() as (backend, api):
        real = backend.finish_allocation

        def finish_allocation(pool: Entity, now: float) -> None:
            if pool.id == "broken":
                raise RuntimeError("allocation exploded")
            real(pool, now)

        monkeypatch.setattr(backend, "finish_allocation", finish_allocation)
        with caplog.at_level(logging.WARNING, logger="batch_mcp.emulator"):
            assert (await api.post("/pools", ready_pool("broken", nodes=2))).status_code == 201
            await make_pool(api, "fine", nodes=2)
            broken = await api.wait("/pools/broken", lambda p: p["allocationState"] == "steady")
        assert broken["currentDedicatedNodes"] == 0
        [error] = broken["resizeErrors"]
        assert error["code"] == "InternalError" and "allocation exploded" in error["message"]
        assert [r.levelno for r in caplog.records if "'broken'" in r.getMessage()] == [logging.WARNING]

        monkeypatch.setattr(backend, "finish_allocation", real)  # once the fault is gone, the pool can resize
        assert (await api.post("/pools/broken/resize", {"targetDedicatedNodes": 1})).status_code == 202
        healed = await api.wait(
            "/pools/broken", lambda p: p["allocationState"] == "steady" and p["currentDedicatedNodes"] == 1
        )
        assert "resizeErrors" not in healed


async def test_a_node_that_fails_to_start_is_unusable_and_its_pool_mates_run_tasks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running() as (backend, api):
        real = backend.finish_start
        victims: list[str] = []

        def finish_start(node: Entity, now: float) -> None:
            if not victims:
                victims.append(node.id)
            if node.id == victims[0]:
                raise OSError(28, "No space left on device")
            real(node, now)

        monkeypatch.setattr(backend, "finish_start", finish_start)
        assert (await api.post("/pools", ready_pool("p", nodes=3))).status_code == 201
        nodes = await api.wait(
            "/pools/p/nodes",
            lambda b: len(b["value"]) == 3 and all(n["state"] in ("idle", "unusable") for n in b["value"]),
        )
        states = {n["id"]: n for n in nodes["value"]}
        assert states[victims[0]]["state"] == "unusable"
        assert states[victims[0]]["errors"][0]["code"] == "DiskFull"
        assert sorted(n["state"] for n in nodes["value"]) == ["idle", "idle", "unusable"]

        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        tasks = [{"id": f"t{i}", "commandLine": "/bin/true"} for i in range(6)]
        await api.post("/jobs/j/addtaskcollection", {"value": tasks})
        listed = await api.wait("/jobs/j/tasks", lambda b: all(t["state"] == "completed" for t in b["value"]))
        assert {t["nodeInfo"]["nodeId"] for t in listed["value"]}.isdisjoint({victims[0]})


async def test_a_task_whose_run_fails_to_start_completes_with_failure_info_and_frees_its_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running() as (backend, api):
        await make_pool(api, "p", nodes=1, slots=1)
        real = backend.task_spec

        def task_spec(task: Entity, *args: Any, **kwargs: Any) -> Any:
            if task.id == "boom":
                raise PermissionError(13, "Permission denied", "/nodes/p/workitems")
            return real(task, *args, **kwargs)

        monkeypatch.setattr(backend, "task_spec", task_spec)
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        tasks = [{"id": "boom", "commandLine": "/bin/true"}] + [
            {"id": f"ok{i}", "commandLine": "/bin/true"} for i in range(3)
        ]
        await api.post("/jobs/j/addtaskcollection", {"value": tasks})
        listed = await api.wait("/jobs/j/tasks", lambda b: all(t["state"] == "completed" for t in b["value"]))
        by_id = {t["id"]: t["executionInfo"] for t in listed["value"]}
        assert by_id["boom"]["result"] == "failure"
        assert by_id["boom"]["failureInfo"]["category"] == "servererror"
        assert "Permission denied" in by_id["boom"]["failureInfo"]["message"]
        assert all(by_id[f"ok{i}"]["result"] == "success" for i in range(3))  # the single slot was freed
        node = (await api.get("/pools/p/nodes")).json()["value"][0]
        assert node["runningTaskSlotsCount"] == 0


async def test_a_task_that_cannot_be_placed_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    async with running() as (backend, api):
        await make_pool(api, "p", nodes=1, slots=2)
        real = backend.assign

        def assign(task: Entity, *args: Any) -> None:
            if task.id == "unplaceable":
                raise KeyError("lost node")
            real(task, *args)

        monkeypatch.setattr(backend, "assign", assign)
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        tasks = [{"id": "unplaceable", "commandLine": "/bin/true"}, {"id": "fine", "commandLine": "/bin/true"}]
        await api.post("/jobs/j/addtaskcollection", {"value": tasks})
        listed = await api.wait("/jobs/j/tasks", lambda b: all(t["state"] == "completed" for t in b["value"]))
        results = {t["id"]: t["executionInfo"] for t in listed["value"]}
        assert results["unplaceable"]["failureInfo"]["code"] == "InternalError"
        assert results["fine"]["result"] == "success"


async def test_a_transition_with_nowhere_to_report_is_retried_until_it_succeeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running() as (backend, api):
        real = backend.finish_termination
        failures = {"left": 2}

        def finish_termination(job: Entity, now: float) -> None:
            if job.id == "j" and failures["left"]:
                failures["left"] -= 1
                raise RuntimeError("transient")
            real(job, now)

        monkeypatch.setattr(backend, "finish_termination", finish_termination)
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs", {"id": "other", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs/j/terminate")
        await api.post("/jobs/other/terminate")
        await api.wait("/jobs/other", lambda j: j["state"] == "completed")
        assert (await api.get("/jobs/j")).json()["state"] == "terminating"
        await api.wait("/jobs/j", lambda j: j["state"] == "completed")
        assert failures["left"] == 0
        stored = backend.get_job("j")
        assert "faults" not in stored.internal


async def test_a_failing_autoscale_evaluation_is_reported_in_the_pools_autoscale_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running() as (backend, api):
        real = backend.evaluate_and_apply
        armed = {"on": False}

        def evaluate_and_apply(pool: Entity, now: float) -> None:
            if armed["on"]:
                raise ValueError("metrics store unreadable")
            real(pool, now)

        monkeypatch.setattr(backend, "evaluate_and_apply", evaluate_and_apply)
        pool = ready_pool("auto", nodes=0, enableAutoScale=True, autoScaleFormula="$TargetDedicatedNodes = 1;")
        del pool["targetDedicatedNodes"]
        await api.post("/pools", pool)
        armed["on"] = True
        stored = backend.get_pool("auto")
        backend.set_timer(stored, "autoscale", backend.now())
        backend.save(stored)
        got = await api.wait("/pools/auto", lambda p: "error" in p.get("autoScaleRun", {}))
        assert got["autoScaleRun"]["error"]["code"] == "InternalError"
        assert "autoscale" in backend.get_pool("auto").internal["timers"]  # the next evaluation is still planned


async def test_a_schedule_run_that_fails_is_skipped_and_the_next_run_is_planned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running() as (backend, api):
        real = backend.add_job
        failures = {"left": 1}

        def add_job(spec: dict[str, Any], **kwargs: Any) -> Entity:
            if kwargs.get("schedule_id") == "s" and failures["left"]:
                failures["left"] -= 1
                raise RuntimeError("job store unavailable")
            return real(spec, **kwargs)

        monkeypatch.setattr(backend, "add_job", add_job)
        schedule = {
            "id": "s",
            "schedule": {"recurrenceInterval": "PT0.2S"},
            "jobSpecification": {"poolInfo": {"poolId": "p"}},
        }
        await api.post("/jobschedules", schedule)
        got = await api.wait("/jobschedules/s", lambda s: "recentJob" in s["executionInfo"])
        assert failures["left"] == 0
        assert got["state"] == "active" and "nextRunTime" in got["executionInfo"]


async def test_a_job_schedule_whose_jobs_could_never_be_created_is_refused_at_once() -> None:
    async with running() as (_, api):
        spec = {"poolInfo": {"poolId": "p"}, "priority": 5000}
        response = await api.post("/jobschedules", {"id": "s", "schedule": {}, "jobSpecification": spec})
        assert (response.status_code, response.json()["code"]) == (400, "InvalidPropertyValue")
        manager = {"id": "bad id!", "commandLine": "/bin/true"}
        spec = {"poolInfo": {"poolId": "p"}, "jobManagerTask": manager}
        response = await api.post("/jobschedules", {"id": "s", "schedule": {}, "jobSpecification": spec})
        assert (response.status_code, response.json()["code"]) == (400, "InvalidPropertyValue")
