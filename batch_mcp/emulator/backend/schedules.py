"""Job schedules: a recurrence that creates jobs, at most one active at a time.

A schedule's `run` timer fires at its next run time. If the previous job is still active, the run
waits for it until the start window closes; then that run is skipped. Without a recurrence
interval the schedule runs once and completes with its job; after `doNotRunAfter` it completes.
"""

from __future__ import annotations

import copy
from typing import Any

from batch_mcp.emulator import errors
from batch_mcp.emulator.backend import defaults
from batch_mcp.emulator.backend.base import BackendBase
from batch_mcp.emulator.backend.pools import check_id
from batch_mcp.emulator.store import Entity
from batch_mcp.emulator.timefmt import duration_seconds, iso, parse_iso


class ScheduleOps(BackendBase):
    def add_job_schedule(self, spec: dict[str, Any]) -> Entity:
        schedule_id = check_id(spec.get("id"))
        if self.find("job", "", schedule_id) is not None:
            raise errors.conflict("JobWithSameIdExists", "A job with the same id exists.")
        now = self.now()
        self.check_job_specification(spec.get("jobSpecification") or {}, now)
        body = copy.deepcopy(spec)
        body.update(
            id=schedule_id,
            url=self.url(f"/jobschedules/{schedule_id}"),
            creationTime=iso(now),
            state="active",
            stateTransitionTime=iso(now),
            executionInfo={},
        )
        body.setdefault("schedule", {})
        if isinstance(body.get("jobSpecification"), dict):
            defaults.job_spec(body["jobSpecification"])
        entity = self.new_entity("schedule", "", schedule_id, body, now)
        entity.internal.update(runs=0, succeeded=0, failed=0, retries=0, wall=0.0, wait=0.0)
        self.plan_next_run(entity, now, first=True)
        self.insert(entity)
        return entity

    def check_job_specification(self, spec: dict[str, Any], now: float) -> None:
        """Refuse at request time what would make every job of the schedule fail to be created."""
        self.job_body({**copy.deepcopy(spec), "id": "check"}, "check", now)

    def plan_next_run(self, schedule: Entity, now: float, *, first: bool = False) -> None:
        spec = schedule.body.get("schedule") or {}
        info = schedule.body.setdefault("executionInfo", {})
        if first:
            start = parse_iso(spec["doNotRunUntil"]).timestamp() if spec.get("doNotRunUntil") else now
        else:
            interval = duration_seconds(spec.get("recurrenceInterval"))
            if interval is None:
                info.pop("nextRunTime", None)
                self.clear_timer(schedule, "run")
                return
            start = schedule.internal.get("last_run", now) + interval
            while start < now - interval:  # missed runs while disabled or stopped are skipped
                start += interval
        if spec.get("doNotRunAfter") and start > parse_iso(spec["doNotRunAfter"]).timestamp():
            info.pop("nextRunTime", None)
            self.clear_timer(schedule, "run")
            self.set_timer(schedule, "ended", max(now, parse_iso(spec["doNotRunAfter"]).timestamp()))
            return
        info["nextRunTime"] = iso(start)
        schedule.internal["window_start"] = start
        self.set_timer(schedule, "run", start)

    def fire_schedule(self, schedule: Entity, now: float) -> None:
        """The run timer: create the next job unless the previous one is still active."""
        if schedule.body["state"] != "active":
            return
        spec = schedule.body.get("schedule") or {}
        recent = self.active_schedule_job(schedule)
        if recent is not None:
            window = duration_seconds(spec.get("startWindow"))
            started = schedule.internal.get("window_start", now)
            if window is not None and now > started + window:
                schedule.internal["last_run"] = started
                self.plan_next_run(schedule, now)
            else:
                self.set_timer(schedule, "run", now + max(self.delay(), self.config.tick_interval))
            return
        schedule.internal["runs"] = schedule.internal.get("runs", 0) + 1
        job_spec = copy.deepcopy(schedule.body.get("jobSpecification") or {})
        job_spec["id"] = f"{schedule.id}:job-{schedule.internal['runs']}"
        job = self.add_job(job_spec, schedule_id=schedule.id)
        schedule.body["executionInfo"]["recentJob"] = {"id": job.id, "url": job.body["url"]}
        schedule.internal["last_run"] = schedule.internal.get("window_start", now)
        self.plan_next_run(schedule, now)
        if job.body["state"] == "completed" and "nextRunTime" not in schedule.body["executionInfo"]:
            self.complete_schedule(schedule, now)  # its only job could not start (a scheduling error)
        self.touch(schedule, now)

    def active_schedule_job(self, schedule: Entity) -> Entity | None:
        recent = (schedule.body.get("executionInfo") or {}).get("recentJob")
        if not recent:
            return None
        job = self.find("job", "", recent["id"])
        if job is None or job.body["state"] in ("completed", "deleting"):
            return None
        return job

    def on_job_completed(self, job: Entity, now: float) -> None:
        """A schedule without recurrence completes with its only job."""
        schedule_id = job.internal.get("schedule")
        if not schedule_id:
            return
        schedule = self.find("schedule", "", schedule_id)
        if schedule is None or schedule.body["state"] != "active":
            return
        info = schedule.body.get("executionInfo") or {}
        if "nextRunTime" not in info and "run" not in schedule.internal.get("timers", {}):
            self.complete_schedule(schedule, now)
            self.save(schedule)

    def complete_schedule(self, schedule: Entity, now: float) -> None:
        self.clear_timer(schedule, "run")
        self.clear_timer(schedule, "ended")
        schedule.body.setdefault("executionInfo", {})["endTime"] = iso(now)
        schedule.body["executionInfo"].pop("nextRunTime", None)
        self.set_state(schedule, "completed", now)

    # -- operations ---------------------------------------------------------------------------

    def get_job_schedule(self, schedule_id: str) -> Entity:
        return self.get("schedule", "", schedule_id)

    def exists_job_schedule(self, schedule_id: str) -> Entity:
        return self.get_job_schedule(schedule_id)

    def list_job_schedules(self) -> list[Entity]:
        return self.store.list("schedule")

    def open_schedule(self, schedule_id: str) -> Entity:
        schedule = self.get_job_schedule(schedule_id)
        state = schedule.body["state"]
        if state == "deleting":
            raise errors.conflict("JobScheduleBeingDeleted", "The job schedule is being deleted.")
        if state == "terminating":
            raise errors.conflict("JobScheduleBeingTerminated", "The job schedule is being terminated.")
        if state == "completed":
            raise errors.conflict("JobScheduleCompleted", "The job schedule has completed.")
        return schedule

    def patch_job_schedule(self, schedule_id: str, params: dict[str, Any], *, replace: bool = False) -> Entity:
        schedule = self.open_schedule(schedule_id)
        now = self.now()
        if "jobSpecification" in params:
            self.check_job_specification(params["jobSpecification"], now)
        keys = ("schedule", "jobSpecification", "metadata")
        for key in keys:
            if key in params:
                schedule.body[key] = copy.deepcopy(params[key])
                if key == "jobSpecification" and isinstance(schedule.body[key], dict):
                    defaults.job_spec(schedule.body[key])
            elif replace and key == "metadata":
                schedule.body[key] = []
        if "schedule" in params:
            self.clear_timer(schedule, "run")
            self.clear_timer(schedule, "ended")
            if schedule.internal.get("runs"):
                self.plan_next_run(schedule, now)
            else:
                self.plan_next_run(schedule, now, first=True)
        self.touch(schedule, now)
        self.save(schedule)
        return schedule

    def update_job_schedule(self, schedule_id: str, params: dict[str, Any]) -> Entity:
        return self.patch_job_schedule(schedule_id, params, replace=True)

    def disable_job_schedule(self, schedule_id: str) -> Entity:
        schedule = self.open_schedule(schedule_id)
        now = self.now()
        self.set_state(schedule, "disabled", now)
        self.clear_timer(schedule, "run")
        self.save(schedule)
        return schedule

    def enable_job_schedule(self, schedule_id: str) -> Entity:
        schedule = self.open_schedule(schedule_id)
        if schedule.body["state"] != "disabled":
            raise errors.conflict("JobScheduleNotDisabled", "Only a disabled job schedule can be enabled.")
        now = self.now()
        self.set_state(schedule, "active", now)
        if schedule.internal.get("runs"):
            self.plan_next_run(schedule, now)
        else:
            self.plan_next_run(schedule, now, first=True)
        self.save(schedule)
        return schedule

    def terminate_job_schedule(self, schedule_id: str) -> Entity:
        schedule = self.open_schedule(schedule_id)
        now = self.now()
        self.set_state(schedule, "terminating", now)
        self.clear_timer(schedule, "run")
        job = self.active_schedule_job(schedule)
        if job is not None and job.body["state"] not in ("terminating",):
            self.begin_termination(job, "UserTerminate", now)
            self.save(job)
        self.set_timer(schedule, "terminated", now + self.delay())
        self.save(schedule)
        return schedule

    def delete_job_schedule(self, schedule_id: str) -> Entity:
        schedule = self.get_job_schedule(schedule_id)
        if schedule.body["state"] == "deleting":
            raise errors.conflict("JobScheduleBeingDeleted", "The job schedule is being deleted.")
        now = self.now()
        for timer in list(schedule.internal.get("timers", {})):
            self.clear_timer(schedule, timer)
        self.set_state(schedule, "deleting", now)
        for job in self.list_from_job_schedule_job(schedule.id):
            if job.body["state"] != "deleting":
                self.delete_job(job.id)
        self.set_timer(schedule, "deleted", now + self.delay())
        self.save(schedule)
        return schedule
