"""Job state machines: disable (requeue/terminate/wait) and enable, terminate, delete,
onAllTasksComplete, onTaskFailure with exit options, job manager, preparation and release tasks,
wall-clock limits and job schedules."""

from __future__ import annotations

import pytest

from tests.emulator.conftest import fast_config, make_pool, running

pytestmark = pytest.mark.anyio


async def test_disable_requeues_running_tasks_and_enable_resumes() -> None:
    async with running() as (_, api):
        await make_pool(api, "p")
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs/j/tasks", {"id": "long", "commandLine": "sleep 60"})
        await api.wait("/jobs/j/tasks/long", lambda t: t["state"] == "running")
        assert (await api.post("/jobs/j/disable", {"disableTasks": "requeue"})).status_code == 202
        job = await api.wait("/jobs/j", lambda j: j["state"] == "disabled")
        assert job["previousState"] == "disabling"
        task = (await api.get("/jobs/j/tasks/long")).json()
        assert task["state"] == "active" and task["executionInfo"]["requeueCount"] == 1
        assert (await api.post("/jobs/j/enable")).status_code == 202
        await api.wait("/jobs/j", lambda j: j["state"] == "active")
        await api.wait("/jobs/j/tasks/long", lambda t: t["state"] == "running")
        assert (await api.post("/jobs/j/terminate", {"terminateReason": "enough"})).status_code == 202
        job = await api.wait("/jobs/j", lambda j: j["state"] == "completed")
        assert job["executionInfo"]["terminateReason"] == "enough"
        assert (await api.get("/jobs/j/tasks/long")).json()["executionInfo"]["failureInfo"]["code"] == "TaskEnded"
        assert (await api.post("/jobs/j/terminate")).json()["code"] == "JobCompleted"


async def test_disable_with_wait_lets_running_tasks_finish() -> None:
    async with running() as (_, api):
        await make_pool(api, "p")
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs/j/tasks", {"id": "short", "commandLine": "sleep 0.3"})
        await api.wait("/jobs/j/tasks/short", lambda t: t["state"] == "running")
        await api.post("/jobs/j/disable", {"disableTasks": "wait"})
        assert (await api.get("/jobs/j")).json()["state"] == "disabling"
        await api.wait("/jobs/j", lambda j: j["state"] == "disabled")
        task = (await api.get("/jobs/j/tasks/short")).json()
        assert task["state"] == "completed" and task["executionInfo"]["result"] == "success"


async def test_on_all_tasks_complete_terminates_the_job() -> None:
    async with running() as (_, api):
        await make_pool(api, "p")
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        tasks = [{"id": f"t{i}", "commandLine": "/bin/true"} for i in range(4)] + [
            {"id": "last", "commandLine": "sleep 0.3"}
        ]
        await api.post("/jobs/j/addtaskcollection", {"value": tasks})
        await api.wait("/jobs/j/tasks/last", lambda t: t["state"] == "running")
        assert (await api.call("PATCH", "/jobs/j", json={"onAllTasksComplete": "terminatejob"})).status_code == 200
        assert (await api.get("/jobs/j")).json()["state"] == "active"
        job = await api.wait("/jobs/j", lambda j: j["state"] == "completed")
        assert job["executionInfo"]["terminateReason"] == "AllTasksComplete"
        counts = (await api.get("/jobs/j/taskcounts")).json()
        assert counts["taskCounts"] == {"active": 0, "running": 0, "completed": 5, "succeeded": 5, "failed": 0}


async def test_a_job_without_tasks_set_to_terminate_completes_at_once() -> None:
    async with running() as (_, api):
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}, "onAllTasksComplete": "terminatejob"})
        await api.wait("/jobs/j", lambda j: j["state"] == "completed")


async def test_a_failed_task_with_exit_options_terminates_its_job() -> None:
    async with running() as (_, api):
        await make_pool(api, "p")
        job = {"id": "j", "poolInfo": {"poolId": "p"}, "onTaskFailure": "performexitoptionsjobaction"}
        await api.post("/jobs", job)
        task = {
            "id": "bad",
            "commandLine": "/bin/sh -c 'exit 3'",
            "exitConditions": {"exitCodes": [{"code": 3, "exitOptions": {"jobAction": "terminate"}}]},
        }
        await api.post("/jobs/j/tasks", task)
        job = await api.wait("/jobs/j", lambda j: j["state"] == "completed")
        assert job["executionInfo"]["terminateReason"] == "TaskFailed"


async def test_a_job_manager_completing_ends_the_job() -> None:
    async with running() as (_, api):
        await make_pool(api, "p")
        manager = {"id": "jm", "commandLine": "/bin/sh -c 'echo managing'"}
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}, "jobManagerTask": manager})
        job = await api.wait("/jobs/j", lambda j: j["state"] == "completed")
        assert job["executionInfo"]["terminateReason"] == "JMComplete"
        assert (await api.get("/jobs/j/tasks/jm/files/stdout.txt")).text == "managing\n"


async def test_preparation_runs_once_per_node_and_release_runs_at_the_end() -> None:
    async with running() as (_, api):
        node = (await make_pool(api, "p", nodes=1))[0]["id"]
        job = {
            "id": "j",
            "poolInfo": {"poolId": "p"},
            "jobPreparationTask": {"commandLine": "/bin/sh -c 'echo prep >> $AZ_BATCH_NODE_SHARED_DIR/prep.txt'"},
            "jobReleaseTask": {"commandLine": "/bin/sh -c 'echo release >> $AZ_BATCH_NODE_SHARED_DIR/prep.txt'"},
        }
        await api.post("/jobs", job)
        await api.post(
            "/jobs/j/addtaskcollection", {"value": [{"id": f"t{i}", "commandLine": "/bin/true"} for i in range(4)]}
        )
        await api.wait("/jobs/j/taskcounts", lambda c: c["taskCounts"]["completed"] == 4)
        status = (await api.get("/jobs/j/jobpreparationandreleasetaskstatus")).json()["value"]
        assert len(status) == 1 and status[0]["nodeId"] == node
        assert status[0]["jobPreparationTaskExecutionInfo"]["result"] == "success"
        await api.post("/jobs/j/terminate")
        await api.wait(
            "/jobs/j/jobpreparationandreleasetaskstatus",
            lambda b: b["value"][0].get("jobReleaseTaskExecutionInfo", {}).get("state") == "completed",
        )
        shared = (await api.get(f"/pools/p/nodes/{node}/files/shared/prep.txt")).text
        assert shared == "prep\nrelease\n"


async def test_a_job_past_its_wall_clock_limit_is_terminated() -> None:
    async with running() as (_, api):
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}, "constraints": {"maxWallClockTime": "PT0.2S"}})
        job = await api.wait("/jobs/j", lambda j: j["state"] == "completed")
        assert job["executionInfo"]["terminateReason"] == "MaxWallClockTimeExpiry"


async def test_deleting_a_job_removes_it_and_its_tasks() -> None:
    async with running(fast_config(runner="instant")) as (_, api):
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs/j/tasks", {"id": "t", "commandLine": "x"})
        assert (await api.call("DELETE", "/jobs/j")).status_code == 202
        assert (await api.post("/jobs/j/tasks", {"id": "u", "commandLine": "x"})).json()["code"] == "JobBeingDeleted"
        await api.wait_gone("/jobs/j")
        assert (await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})).status_code == 201
        assert (await api.get("/jobs/j/tasks")).json()["value"] == []


async def test_a_schedule_creates_jobs_on_its_recurrence_one_at_a_time() -> None:
    async with running(fast_config(runner="instant")) as (_, api):
        await make_pool(api, "p")
        spec = {"poolInfo": {"poolId": "p"}, "onAllTasksComplete": "terminatejob"}
        schedule = {"id": "s", "schedule": {"recurrenceInterval": "PT0.3S"}, "jobSpecification": spec}
        assert (await api.post("/jobschedules", schedule)).status_code == 201
        body = await api.wait("/jobschedules/s/jobs", lambda b: len(b["value"]) >= 2)
        assert [j["id"] for j in body["value"][:2]] == ["s:job-1", "s:job-2"]
        got = (await api.get("/jobschedules/s")).json()
        assert got["executionInfo"]["recentJob"]["id"].startswith("s:job-") and "nextRunTime" in got["executionInfo"]
        assert (await api.post("/jobschedules/s/disable")).status_code == 204
        assert (await api.get("/jobschedules/s")).json()["state"] == "disabled"
        assert (await api.post("/jobschedules/s/enable")).status_code == 204
        assert (await api.post("/jobschedules/s/terminate")).status_code == 202
        await api.wait("/jobschedules/s", lambda s: s["state"] == "completed")
        assert (await api.call("DELETE", "/jobschedules/s")).status_code == 202
        await api.wait_gone("/jobschedules/s")
        assert (await api.get("/jobs")).json()["value"] == []


async def test_a_schedule_without_recurrence_completes_with_its_job() -> None:
    async with running(fast_config(runner="instant")) as (_, api):
        spec = {"poolInfo": {"poolId": "p"}, "onAllTasksComplete": "terminatejob"}
        await api.post("/jobschedules", {"id": "once", "schedule": {}, "jobSpecification": spec})
        await api.wait("/jobschedules/once", lambda s: s["state"] == "completed")
        assert [j["id"] for j in (await api.get("/jobschedules/once/jobs")).json()["value"]] == ["once:job-1"]
