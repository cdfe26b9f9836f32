"""Jobs: creation (with job manager and auto pools), disable/enable, terminate, delete, updates,
task counts and the job preparation/release status.

States: active → disabling → disabled → enabling → active; active/disabled → terminating →
completed; any → deleting → gone. Each arrow that the service takes time over is a timer.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from batch_mcp.emulator import errors
from batch_mcp.emulator.backend import defaults
from batch_mcp.emulator.backend.base import BackendBase
from batch_mcp.emulator.backend.faults import auto_pool_error
from batch_mcp.emulator.backend.pools import check_id
from batch_mcp.emulator.store import Entity
from batch_mcp.emulator.timefmt import duration_seconds, format_duration, iso

UNLIMITED_TEXT = "P10675199DT2H48M5.4775807S"
JOB_PATCHABLE = (
    "priority",
    "maxParallelTasks",
    "allowTaskPreemption",
    "onAllTasksComplete",
    "constraints",
    "poolInfo",
    "metadata",
    "networkConfiguration",
)


class JobOps(BackendBase):
    def job_body(self, spec: dict[str, Any], job_id: str, now: float) -> dict[str, Any]:
        body = copy.deepcopy(spec)
        body.update(
            id=job_id,
            url=self.url(f"/jobs/{job_id}"),
            creationTime=iso(now),
            state="active",
            stateTransitionTime=iso(now),
        )
        defaults.job_spec(body)
        if not -1000 <= body["priority"] <= 1000:
            raise errors.invalid_property("priority", body["priority"], "Priority ranges from -1000 to 1000.")
        if body["maxParallelTasks"] == 0 or body["maxParallelTasks"] < -1:
            raise errors.invalid_property("maxParallelTasks", body["maxParallelTasks"])
        for name in ("jobManagerTask", "jobPreparationTask", "jobReleaseTask"):
            if (body.get(name) or {}).get("id") is not None:
                check_id(body[name]["id"], f"{name}.id")
        return body

    def add_job(self, spec: dict[str, Any], *, schedule_id: str | None = None) -> Entity:
        # jobs a schedule creates are named "<scheduleId>:job-<n>", beyond what clients may choose
        job_id = spec["id"] if schedule_id else check_id(spec.get("id"))
        if schedule_id is None and self.find("schedule", "", job_id) is not None:
            raise errors.conflict("JobScheduleWithSameIdExists", "A job schedule with the same id exists.")
        now = self.now()
        body = self.job_body(spec, job_id, now)
        manager = body.get("jobManagerTask")
        for name in ("jobPreparationTask", "jobReleaseTask"):
            task = body.get(name)
            if task:
                task.setdefault("id", "jobpreparation" if name == "jobPreparationTask" else "jobrelease")
        if manager and body.get("jobPreparationTask", {}).get("id") == manager["id"]:
            raise errors.conflict(
                "TaskIdSameAsJobPreparationTask", "The job manager task id is the job preparation task's."
            )
        job = self.new_entity("job", "", job_id, body, now)
        job.internal.update(succeeded=0, failed=0, retries=0, wall=0.0, wait=0.0, prep={}, release={})
        if schedule_id:
            job.internal["schedule"] = schedule_id
        pool_info = body.get("poolInfo") or {}
        if pool_info.get("poolId"):
            pool_id = pool_info["poolId"]
        else:
            auto = pool_info.get("autoPoolSpecification") or {}
            prefix = auto.get("autoPoolIdPrefix", "")
            pool_id = f"{prefix}{uuid.uuid4()}"[:64]
            job.internal["auto_pool"] = {
                "id": pool_id,
                "keepAlive": auto.get("keepAlive", False),
                "lifetime": auto.get("poolLifetimeOption"),
            }
        body["executionInfo"] = {"startTime": iso(now), "poolId": pool_id}
        job.ref = pool_id
        wall = duration_seconds(body["constraints"].get("maxWallClockTime"))
        if wall is not None:
            self.set_timer(job, "wallclock", now + wall)
        with self.store.transaction():
            self.insert(job)
            if "auto_pool" in job.internal:
                spec_pool = copy.deepcopy((pool_info.get("autoPoolSpecification") or {}).get("pool") or {})
                spec_pool["id"] = pool_id
                try:
                    self.add_pool(spec_pool, owner_job=job_id)
                except errors.BatchError as exc:
                    # the service accepts the job, then completes it with a scheduling error
                    self.fail_job_start(job, auto_pool_error(exc), now)
                    self.save(job)
                    return self.get_job(job_id)
            if manager:
                self.add_task(job_id, self.manager_task_spec(manager), job=job, manager=True)
            self.save(job)
            # a job with no tasks has all its tasks complete: terminatejob ends it at once
            self.check_job_done(job_id, now)
        return self.get_job(job_id)

    @staticmethod
    def manager_task_spec(manager: dict[str, Any]) -> dict[str, Any]:
        keep = (
            "id",
            "displayName",
            "commandLine",
            "containerSettings",
            "resourceFiles",
            "outputFiles",
            "environmentSettings",
            "constraints",
            "requiredSlots",
            "userIdentity",
            "applicationPackageReferences",
            "authenticationTokenSettings",
        )
        return {k: copy.deepcopy(v) for k, v in manager.items() if k in keep}

    # -- reads --------------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Entity:
        return self.get("job", "", job_id)

    def list_jobs(self) -> list[Entity]:
        return self.store.list("job")

    def list_from_job_schedule_job(self, schedule_id: str) -> list[Entity]:
        self.get("schedule", "", schedule_id)
        return [j for j in self.store.list("job") if (j.internal.get("schedule") or "").lower() == schedule_id.lower()]

    def open_job(self, job_id: str) -> Entity:
        """A job that may still change (not deleting, terminating or completed)."""
        job = self.get_job(job_id)
        state = job.body["state"]
        if state == "deleting":
            raise errors.conflict(
                "JobBeingDeleted", "The specified job has been marked for deletion and is being reclaimed."
            )
        if state == "terminating":
            raise errors.conflict("JobBeingTerminated", "The specified job is being terminated.")
        if state == "completed":
            raise errors.conflict("JobCompleted", "The specified job is already in a completed state.")
        return job

    # -- changes ------------------------------------------------------------------------------

    def patch_job(self, job_id: str, params: dict[str, Any], *, replace: bool = False) -> Entity:
        job = self.open_job(job_id)
        if "poolInfo" in params and params["poolInfo"] != job.body.get("poolInfo") and job.body["state"] != "disabled":
            raise errors.conflict("JobNotDisabled", "A job's pool can be changed only while the job is disabled.")
        if replace:
            defaults = {
                "priority": 0,
                "maxParallelTasks": -1,
                "constraints": {},
                "metadata": [],
                "onAllTasksComplete": "noaction",
            }
            for key, default in defaults.items():
                job.body[key] = copy.deepcopy(params.get(key, default))
            if "poolInfo" in params:
                job.body["poolInfo"] = params["poolInfo"]
        else:
            for key in JOB_PATCHABLE:
                if key in params:
                    job.body[key] = copy.deepcopy(params[key])
        if "poolInfo" in params and params["poolInfo"].get("poolId"):
            job.ref = params["poolInfo"]["poolId"]
            job.body["executionInfo"]["poolId"] = job.ref
        constraints = job.body.setdefault("constraints", {})
        constraints.setdefault("maxWallClockTime", UNLIMITED_TEXT)
        constraints.setdefault("maxTaskRetryCount", 0)
        wall = duration_seconds(constraints.get("maxWallClockTime"))
        if wall is None:
            self.clear_timer(job, "wallclock")
        else:
            self.set_timer(job, "wallclock", job.internal["created"] + wall)
        self.touch(job)
        self.save(job)
        self.check_job_done(job.id, self.now())
        self.wakeup.set()
        return self.get_job(job_id)

    def update_job(self, job_id: str, params: dict[str, Any]) -> Entity:
        return self.patch_job(job_id, params, replace=True)

    def disable_job(self, job_id: str, params: dict[str, Any]) -> Entity:
        job = self.open_job(job_id)
        if job.body["state"] != "active":
            raise errors.conflict("JobNotActive", "Only an active job can be disabled.")
        now = self.now()
        option = params["disableTasks"]
        self.set_state(job, "disabling", now)
        job.internal["disable_option"] = option
        for task in self.store.list("task", job.id, states=["running", "preparing"]):
            if option == "requeue":
                self.stop_task_run(task, "requeue", now)
            elif option == "terminate":
                self.stop_task_run(task, "terminate", now)
        self.set_timer(job, "disabled", now + self.delay())
        self.save(job)
        return job

    def finish_disable(self, job: Entity, now: float) -> None:
        if job.internal.get("disable_option") == "wait" and self.store.list(
            "task", job.id, states=["running", "preparing"], limit=1
        ):
            self.set_timer(job, "disabled", now + self.delay())
            return
        self.set_state(job, "disabled", now)

    def enable_job(self, job_id: str) -> Entity:
        job = self.open_job(job_id)
        if job.body["state"] not in ("disabled", "disabling"):
            raise errors.conflict("JobNotDisabled", "Only a disabled job can be enabled.")
        now = self.now()
        self.clear_timer(job, "disabled")
        self.set_state(job, "enabling", now)
        self.set_timer(job, "enabled", now + self.delay())
        self.save(job)
        return job

    def terminate_job(self, job_id: str, params: dict[str, Any] | None, *, reason: str | None = None) -> Entity:
        job = self.open_job(job_id)
        self.begin_termination(job, (params or {}).get("terminateReason") or reason or "UserTerminate", self.now())
        self.save(job)
        return job

    def begin_termination(self, job: Entity, reason: str, now: float) -> None:
        if job.body["state"] in ("terminating", "completed", "deleting"):
            return
        for timer in ("disabled", "enabled", "wallclock"):
            self.clear_timer(job, timer)
        self.set_state(job, "terminating", now)
        job.internal["terminate_reason"] = reason
        for task in self.store.list("task", job.id, states=["running", "preparing"]):
            self.stop_task_run(task, "terminate", now)
        self.run_release_tasks(job)
        self.set_timer(job, "completed", now + self.delay())

    def finish_termination(self, job: Entity, now: float) -> None:
        self.set_state(job, "completed", now)
        info = job.body.setdefault("executionInfo", {"startTime": iso(job.internal.get("created", now))})
        info["endTime"] = iso(now)
        info["terminateReason"] = job.internal.pop("terminate_reason", "UserTerminate")
        self.release_auto_pool(job, "job")
        self.on_job_completed(job, now)

    def release_auto_pool(self, job: Entity, lifetime: str) -> None:
        auto = job.internal.get("auto_pool")
        if auto and auto.get("lifetime") == lifetime and not auto.get("keepAlive"):
            pool = self.find("pool", "", auto["id"])
            if pool is not None and pool.body["state"] != "deleting":
                self.delete_pool(pool.id)

    def delete_job(self, job_id: str) -> Entity:
        job = self.get_job(job_id)
        if job.body["state"] == "deleting":
            raise errors.conflict(
                "JobBeingDeleted", "The specified job has been marked for deletion and is being reclaimed."
            )
        now = self.now()
        for timer in list(job.internal.get("timers", {})):
            self.clear_timer(job, timer)
        for task in self.store.list("task", job.id, states=["running", "preparing"]):
            self.stop_task_run(task, "terminate", now)
        if job.body["state"] not in ("completed", "terminating"):
            self.run_release_tasks(job)
        self.set_state(job, "deleting", now)
        self.set_timer(job, "deleted", now + self.delay())
        self.save(job)
        return job

    def finish_delete_job(self, job: Entity) -> None:
        with self.store.transaction():
            self.store.delete_children("task", job.id)
            self.store.delete("job", "", job.id)
        for pool in self.store.list("pool"):
            for node in self.store.list("node", pool.id):
                self.files.remove(self.files.job_dir(pool.id, node.id, job.id).parent)
        self.release_auto_pool(job, "job")
        self.dirty_jobs.discard(job.id.lower())

    # -- views --------------------------------------------------------------------------------

    def get_task_counts_job(self, job_id: str) -> dict[str, Any]:
        self.get_job(job_id)
        counts = {"active": 0, "running": 0, "completed": 0, "succeeded": 0, "failed": 0}
        slots = dict(counts)
        for state, result, n, n_slots in self.store.db.execute(
            "SELECT state, json_extract(body, '$.executionInfo.result'), COUNT(*), "
            "SUM(COALESCE(json_extract(body, '$.requiredSlots'), 1)) FROM entities "
            "WHERE kind='task' AND parent=? GROUP BY 1, 2",
            (job_id,),
        ):
            bucket = "running" if state == "preparing" else state
            counts[bucket] += n
            slots[bucket] += n_slots
            if state == "completed":
                key = "succeeded" if result == "success" else "failed"
                counts[key] += n
                slots[key] += n_slots
        return {"taskCounts": counts, "taskSlotCounts": slots}

    def list_preparation_and_release_task_status_job(self, job_id: str) -> list[dict[str, Any]]:
        job = self.get_job(job_id)
        if not job.body.get("jobPreparationTask") and not job.body.get("jobReleaseTask"):
            raise errors.conflict(
                "JobPreparationTaskOrReleaseTaskNotSpecified", "The job has neither a preparation nor a release task."
            )
        out = []
        for key, info in job.internal.get("prep", {}).items():
            pool_id, node_id = key.split("/", 1)
            item: dict[str, Any] = {
                "poolId": pool_id,
                "nodeId": node_id,
                "nodeUrl": self.url(f"/pools/{pool_id}/nodes/{node_id}"),
                "jobPreparationTaskExecutionInfo": info,
            }
            release = job.internal.get("release", {}).get(key)
            if release:
                item["jobReleaseTaskExecutionInfo"] = release
            out.append(item)
        return out

    def job_stats(self, job: Entity, kind: str = "job") -> dict[str, Any]:
        now = self.now()
        i = job.internal
        base = f"/jobs/{job.id}" if kind == "job" else f"/jobschedules/{job.id}"
        return {
            "url": self.url(f"{base}/stats"),
            "startTime": iso(i.get("created", now)),
            "lastUpdateTime": iso(now),
            "userCPUTime": format_duration(i.get("wall", 0.0)),
            "kernelCPUTime": format_duration(0.0),
            "wallClockTime": format_duration(i.get("wall", 0.0)),
            "readIOps": 0,
            "writeIOps": 0,
            "readIOGiB": 0.0,
            "writeIOGiB": 0.0,
            "numSucceededTasks": i.get("succeeded", 0),
            "numFailedTasks": i.get("failed", 0),
            "numTaskRetries": i.get("retries", 0),
            "waitTime": format_duration(i.get("wait", 0.0)),
        }
