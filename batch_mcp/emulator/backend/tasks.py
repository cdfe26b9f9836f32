"""Tasks: adding (one or a collection of up to 100 in one transaction), reading, updating,
terminating, reactivating and deleting; and what a finished run means for a task: retries, exit
conditions, dependencies, the job's onAllTasksComplete / onTaskFailure and the job manager.
"""

from __future__ import annotations

import copy
from typing import Any

from batch_mcp.emulator import errors
from batch_mcp.emulator.backend import defaults
from batch_mcp.emulator.backend.base import BackendBase
from batch_mcp.emulator.backend.pools import check_id
from batch_mcp.emulator.runner import KILLED_EXIT_CODE, RunResult, failure
from batch_mcp.emulator.store import Entity
from batch_mcp.emulator.timefmt import format_duration, iso

RETENTION_DEFAULT = "P7D"
UNLIMITED_TEXT = "P10675199DT2H48M5.4775807S"
RECENT_TASKS = 10


def ended_by_request() -> dict[str, Any]:
    return failure(
        "TaskEnded", "The task was ended by a request (terminate, job terminate, job disable or node removal)."
    )


class TaskOps(BackendBase):
    # -- add ----------------------------------------------------------------------------------

    def writable_job_for_tasks(self, job_id: str) -> Entity:
        job = self.get("job", "", job_id)
        state = job.body["state"]
        if state == "completed":
            raise errors.conflict("JobCompleted", "The specified job is already in a completed state.")
        if state == "terminating":
            raise errors.conflict("JobBeingTerminated", "The specified job is being terminated.")
        if state == "deleting":
            raise errors.conflict(
                "JobBeingDeleted", "The specified job has been marked for deletion and is being reclaimed."
            )
        return job

    def task_entity(self, job: Entity, spec: dict[str, Any], now: float) -> Entity:
        task_id = check_id(spec.get("id"))
        for special in ("jobPreparationTask", "jobReleaseTask"):
            if (job.body.get(special) or {}).get("id", "").lower() == task_id.lower():
                code = (
                    "TaskIdSameAsJobPreparationTask"
                    if special == "jobPreparationTask"
                    else "TaskIdSameAsJobReleaseTask"
                )
                raise errors.conflict(code, "The task id is used by the job's preparation or release task.")
        if spec.get("dependsOn") and not job.body.get("usesTaskDependencies"):
            raise errors.bad_request(
                "TaskDependenciesNotSpecifiedOnJob",
                "The task has dependencies but the job does not set usesTaskDependencies.",
            )
        body = copy.deepcopy(spec)
        job_constraints = job.body.get("constraints") or {}
        constraints = body.setdefault("constraints", {})
        constraints.setdefault("maxWallClockTime", UNLIMITED_TEXT)
        constraints.setdefault("retentionTime", RETENTION_DEFAULT)
        constraints.setdefault("maxTaskRetryCount", job_constraints.get("maxTaskRetryCount", 0))
        if "multiInstanceSettings" in body:
            body["multiInstanceSettings"].setdefault("numberOfInstances", 1)
        body.setdefault("requiredSlots", 1)
        body.setdefault("userIdentity", defaults.auto_user())
        if body["requiredSlots"] < 1:
            raise errors.invalid_property("requiredSlots", body["requiredSlots"])
        body.update(
            url=self.url(f"/jobs/{job.id}/tasks/{task_id}"),
            creationTime=iso(now),
            state="active",
            stateTransitionTime=iso(now),
            executionInfo={"retryCount": 0, "requeueCount": 0},
        )
        task = self.new_entity("task", job.id, task_id, body, now)
        task.ready = 0 if body.get("dependsOn") else 1
        return task

    def add_task(
        self, job_id: str, spec: dict[str, Any], *, job: Entity | None = None, manager: bool = False
    ) -> Entity:
        job = job or self.writable_job_for_tasks(job_id)
        task = self.task_entity(job, spec, self.now())
        if manager:
            task.internal["job_manager"] = True
            task.internal["kill_job"] = (job.body.get("jobManagerTask") or {}).get("killJobOnCompletion", True)
        self.insert(task)
        if task.ready == 0:
            self.dirty_jobs.add(job.id.lower())
        return task

    def add_collection_task(self, job_id: str, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add up to 100 tasks in one transaction; a result per task, in the order given."""
        job = self.writable_job_for_tasks(job_id)
        now = self.now()
        results: list[dict[str, Any] | None] = [None] * len(specs)
        entities: list[tuple[int, Entity]] = []
        seen: set[str] = set()
        for i, spec in enumerate(specs):
            try:
                task = self.task_entity(job, spec, now)
                if task.id.lower() in seen:
                    raise errors.exists("task", task.id)
                seen.add(task.id.lower())
                entities.append((i, task))
            except errors.BatchError as exc:
                results[i] = self.add_error(spec.get("id", ""), exc)
        inserted = self.store.insert_many([e for _, e in entities])
        for (i, task), ok in zip(entities, inserted, strict=True):
            if ok:
                results[i] = {
                    "status": "success",
                    "taskId": task.id,
                    "eTag": task.body["eTag"],
                    "lastModified": task.body["lastModified"],
                    "location": task.body["url"],
                }
                if task.ready == 0:
                    self.dirty_jobs.add(job.id.lower())
            else:
                results[i] = self.add_error(task.id, errors.exists("task", task.id))
        self.wakeup.set()
        return [r for r in results if r is not None]

    @staticmethod
    def add_error(task_id: str, exc: errors.BatchError) -> dict[str, Any]:
        return {
            "status": "clienterror" if exc.status < 500 else "servererror",
            "taskId": task_id,
            "error": {
                "code": exc.code,
                "message": {"lang": "en-US", "value": exc.message},
                "values": [{"key": k, "value": v} for k, v in exc.values.items()],
            },
        }

    # -- reads --------------------------------------------------------------------------------

    def get_task(self, job_id: str, task_id: str) -> Entity:
        self.get("job", "", job_id)
        return self.get("task", job_id, task_id)

    def list_tasks(self, job_id: str, after_seq: int = 0) -> list[Entity]:
        self.get("job", "", job_id)
        return self.store.list("task", job_id, after_seq=after_seq)

    def list_subtasks_task(self, job_id: str, task_id: str) -> list[dict[str, Any]]:
        task = self.get_task(job_id, task_id)
        return copy.deepcopy(task.internal.get("subtasks", []))

    # -- changes ------------------------------------------------------------------------------

    def update_task(self, job_id: str, task_id: str, params: dict[str, Any]) -> Entity:
        task = self.get_task(job_id, task_id)
        if task.body["state"] == "completed":
            raise errors.conflict("TaskCompleted", "The specified task is already completed.")
        constraints = task.body.setdefault("constraints", {})
        given = params.get("constraints") or {}
        constraints["maxWallClockTime"] = given.get("maxWallClockTime", UNLIMITED_TEXT)
        constraints["retentionTime"] = given.get("retentionTime", RETENTION_DEFAULT)
        constraints["maxTaskRetryCount"] = given.get("maxTaskRetryCount", 0)
        self.touch(task)
        self.save(task)
        return task

    def terminate_task(self, job_id: str, task_id: str) -> Entity:
        task = self.get_task(job_id, task_id)
        if task.body["state"] == "completed":
            raise errors.conflict("TaskCompleted", "The specified task is already completed.")
        now = self.now()
        if task.body["state"] in ("running", "preparing"):
            self.stop_task_run(task, "terminate", now)
        else:
            self.complete_task(task, RunResult(now, now, failure=ended_by_request()), now, retry=False)
            self.save(task)
        return task

    def reactivate_task(self, job_id: str, task_id: str) -> Entity:
        task = self.get_task(job_id, task_id)
        job = self.get("job", "", job_id)
        if job.body["state"] in ("completed", "terminating", "deleting"):
            raise errors.conflict(
                "JobCompleted", "Tasks of a completed, terminating or deleting job cannot be reactivated."
            )
        info = task.body.get("executionInfo") or {}
        if task.body["state"] != "completed" or info.get("result") != "failure":
            raise errors.conflict("TaskNotFailed", "Only a completed task that failed can be reactivated.")
        now = self.now()
        job.internal["failed"] = max(job.internal.get("failed", 0) - 1, 0)
        self.save(job)
        for key in ("endTime", "exitCode", "result", "failureInfo", "startTime"):
            info.pop(key, None)
        info["retryCount"] = 0
        task.internal.pop("dep", None)
        task.body.pop("nodeInfo", None)
        self.set_state(task, "active", now)
        task.ready = 0 if task.body.get("dependsOn") else 1
        if task.ready == 0:
            self.dirty_jobs.add(job.id.lower())
        self.save(task)
        self.wakeup.set()
        return task

    def delete_task(self, job_id: str, task_id: str) -> Entity:
        task = self.get_task(job_id, task_id)
        now = self.now()
        if task.body["state"] in ("running", "preparing"):
            self.stop_task_run(task, "terminate", now)
            task = self.get_task(job_id, task_id)
        run = task.internal.get("last_node")
        self.store.delete("task", job_id, task.id)
        if run:
            self.files.remove(self.files.task_dir(run["pool"], run["node"], job_id, task.id))
        self.check_job_done(job_id, now)
        return task

    # -- what a finished run means ------------------------------------------------------------

    def complete_task(self, task: Entity, result: RunResult, now: float, *, retry: bool = True) -> None:
        """Record a finished run: retry it, or complete the task and apply its consequences."""
        info = task.body.setdefault("executionInfo", {"retryCount": 0, "requeueCount": 0})
        info["endTime"] = iso(result.end)
        if result.exit_code is not None:
            info["exitCode"] = result.exit_code
        else:
            info.pop("exitCode", None)
        if result.failure:
            info["failureInfo"] = result.failure
        else:
            info.pop("failureInfo", None)
        task.internal.pop("run", None)
        job = self.find("job", "", task.parent)
        if job is not None and "startTime" in info:
            job.internal["wall"] = job.internal.get("wall", 0.0) + max(result.end - result.start, 0.0)
        failed = result.failure is not None or result.exit_code != 0
        exit_failure = result.failure is None and result.exit_code not in (None, 0)
        max_retries = (task.body.get("constraints") or {}).get("maxTaskRetryCount", 0)
        if retry and exit_failure and (max_retries == -1 or info.get("retryCount", 0) < max_retries):
            info["retryCount"] = info.get("retryCount", 0) + 1
            info["lastRetryTime"] = iso(now)
            for key in ("result",):
                info.pop(key, None)
            self.set_state(task, "active", now)
            task.ready = 1
            if job is not None:
                job.internal["retries"] = job.internal.get("retries", 0) + 1
                self.save(job)
            self.wakeup.set()
            return
        info["result"] = "failure" if failed else "success"
        self.set_state(task, "completed", now)
        task.ready = 0
        options = self.exit_options(task, result, failed)
        task.internal["dep"] = options.get("dependencyAction", "block" if failed else "satisfy")
        if job is None:
            return
        job.internal["failed" if failed else "succeeded"] = job.internal.get("failed" if failed else "succeeded", 0) + 1
        self.dirty_jobs.add(job.id.lower())
        self.save(task)
        action = options.get("jobAction", "terminate" if failed else "none")
        if failed and job.body.get("onTaskFailure") == "performexitoptionsjobaction" and job.body["state"] == "active":
            if action == "terminate":
                self.begin_termination(job, "TaskFailed", now)
            elif action == "disable":
                self.save(job)
                self.disable_job(job.id, {"disableTasks": "requeue"})
                job = self.get("job", "", job.id)
        if (
            task.internal.get("job_manager")
            and task.internal.get("kill_job")
            and job.body["state"] in ("active", "disabled")
        ):
            self.begin_termination(job, "JMComplete", now)
        self.save(job)
        self.check_job_done(job.id, now)

    @staticmethod
    def exit_options(task: Entity, result: RunResult, failed: bool) -> dict[str, Any]:
        conditions = task.body.get("exitConditions") or {}
        code = result.exit_code
        if result.failure is not None and result.failure.get("code", "").startswith(("Blob", "Resource")):
            return conditions.get("preProcessingError") or conditions.get("default") or {}
        if code is not None:
            for item in conditions.get("exitCodes") or []:
                if item.get("code") == code:
                    return item.get("exitOptions") or {}
            for item in conditions.get("exitCodeRanges") or []:
                if item.get("start", 0) <= code <= item.get("end", 0):
                    return item.get("exitOptions") or {}
        if not failed:
            return {}
        return conditions.get("default") or {}

    def check_job_done(self, job_id: str, now: float) -> None:
        """onAllTasksComplete=terminatejob: the job completes when no task is left unfinished."""
        job = self.find("job", "", job_id)
        if (
            job is None
            or job.body.get("onAllTasksComplete") != "terminatejob"
            or job.body["state"] not in ("active", "disabled")
        ):
            return
        row = self.store.db.execute(
            "SELECT COUNT(*) FROM entities WHERE kind='task' AND parent=? AND state!='completed'", (job.id,)
        ).fetchone()
        if row[0] == 0:
            self.begin_termination(job, "AllTasksComplete", now)
            self.save(job)

    def update_dependencies(self, job_id: str) -> None:
        """Let blocked tasks whose dependencies are now satisfied become schedulable."""
        job = self.find("job", "", job_id)
        if job is None:
            return
        blocked = self.store.list("task", job.id, states=["active"], ready=0)
        if not blocked:
            return
        done = {
            ident.lower(): dep
            for ident, dep in self.store.db.execute(
                "SELECT id, json_extract(internal, '$.dep') FROM entities "
                "WHERE kind='task' AND parent=? AND state='completed'",
                (job.id,),
            )
        }
        changed = False
        for task in blocked:
            if self.dependencies_met(task.body.get("dependsOn") or {}, done):
                task.ready = 1
                self.save(task)
                changed = True
        if changed:
            self.wakeup.set()

    @staticmethod
    def dependencies_met(depends: dict[str, Any], done: dict[str, str]) -> bool:
        for ident in depends.get("taskIds") or []:
            if done.get(ident.lower()) != "satisfy":
                return False
        for span in depends.get("taskIdRanges") or []:
            for n in range(span["start"], span["end"] + 1):
                if done.get(str(n)) != "satisfy":
                    return False
        return True

    def task_stats(self, task: Entity) -> dict[str, Any]:
        now = self.now()
        wall = task.internal.get("wall", 0.0)
        return {
            "url": self.url(f"/jobs/{task.parent}/tasks/{task.id}/stats"),
            "startTime": iso(task.internal.get("created", now)),
            "lastUpdateTime": iso(now),
            "userCPUTime": format_duration(wall),
            "kernelCPUTime": format_duration(0.0),
            "wallClockTime": format_duration(wall),
            "readIOps": 0,
            "writeIOps": 0,
            "readIOGiB": 0.0,
            "writeIOGiB": 0.0,
            "waitTime": format_duration(task.internal.get("wait", 0.0)),
        }

    def terminated_result(self, now: float) -> RunResult:
        return RunResult(now, now, exit_code=KILLED_EXIT_CODE, failure=ended_by_request())
