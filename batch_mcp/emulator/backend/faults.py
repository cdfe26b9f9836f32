"""When advancing one entity fails: record the failure on that entity, as the service would, and
let every other entity move on.

The clock advances many entities per tick. An exception from one of them (a bug, a full disk, a
node folder that cannot be created) is caught where it happens and written where a client looks
for it: a pool's `resizeErrors` or `autoScaleRun.error`, a node's `errors` (state `unusable`), a
task's `failureInfo`, a job's `schedulingError`. A transition with no such place to report (a job
completing, an entity being removed) is tried again later, with a growing delay. Each failure is
logged once with its traceback; repeats of the same failure are logged at debug level.
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass, field
from typing import Any

from batch_mcp.emulator import errors
from batch_mcp.emulator.backend.base import BackendBase
from batch_mcp.emulator.backend.pools import DEFAULT_AUTOSCALE_INTERVAL
from batch_mcp.emulator.runner import RunResult
from batch_mcp.emulator.store import Entity
from batch_mcp.emulator.timefmt import iso, parse_duration

log = logging.getLogger("batch_mcp.emulator")

RETRY_CEILING = 60.0  # seconds: the longest wait before a failed transition is tried again

# Job scheduling error codes for a job whose auto pool could not be created, by the pool error.
AUTO_POOL_CODES = {
    "InvalidCertificateReferences": "InvalidCertificatesInAutoPool",
    "InvalidApplicationPackageReferences": "InvalidApplicationPackageReferencesInAutoPool",
    "PoolQuotaReached": "AutoPoolCreationFailedWithQuotaReached",
    "AccountCoreQuotaReached": "AutoPoolCreationFailedWithQuotaReached",
}
AUTO_POOL_MESSAGES = {
    "InvalidCertificatesInAutoPool": "The specified certificate references in the auto pool specification are not "
    "valid.",
    "InvalidApplicationPackageReferencesInAutoPool": "One or more application packages specified for the auto pool "
    "are invalid.",
    "AutoPoolCreationFailedWithQuotaReached": "The pool quota for the account is reached.",
    "InvalidAutoScaleFormulaInAutoPool": "The specified auto-scaling settings are not valid.",
    "InvalidAutoPoolSettings": "The specified auto pool settings are not valid.",
}


@dataclass
class Fault:
    """An exception described the way the service describes errors: code, message, name/values."""

    code: str
    message: str
    category: str = "servererror"
    values: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, exc: BaseException) -> Fault:
        if isinstance(exc, errors.BatchError):
            category = "usererror" if 400 <= exc.status < 500 else "servererror"
            return cls(exc.code, exc.message, category, dict(exc.values))
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return cls("DiskFull", "There is not enough disk space on this machine for the emulator's node folders.")
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return cls("InternalError", f"The local Batch emulator failed while advancing this entity ({detail}).")

    def name_values(self, key: str = "name") -> list[dict[str, str]]:
        return [{key: k, "value": v} for k, v in self.values.items()]

    def failure_info(self) -> dict[str, Any]:
        """As TaskFailureInformation / JobSchedulingError."""
        out: dict[str, Any] = {"category": self.category, "code": self.code, "message": self.message}
        if self.values:
            out["details"] = self.name_values()
        return out

    def error(self) -> dict[str, Any]:
        """As ResizeError / AutoScaleRunError."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.values:
            out["values"] = self.name_values()
        return out


def auto_pool_error(exc: errors.BatchError) -> Fault:
    """The job scheduling error for an auto pool the service could not create."""
    code = AUTO_POOL_CODES.get(exc.code)
    if code is None:
        code = "InvalidAutoScaleFormulaInAutoPool" if "AutoScal" in exc.code else "InvalidAutoPoolSettings"
    values = {"PoolErrorCode": exc.code, "PoolErrorMessage": exc.message, **exc.values}
    return Fault(code, AUTO_POOL_MESSAGES[code], "usererror", values)


class FaultOps(BackendBase):
    def report_fault(self, what: str, exc: BaseException, *, repeat: bool) -> None:
        if repeat:
            log.debug("emulator: %s failed again: %r", what, exc)
        else:
            log.warning("emulator: %s failed; recorded on it, the rest of the account moves on", what, exc_info=exc)

    # -- timers -------------------------------------------------------------------------------

    def timer_failed(self, key: tuple[str, str, str], name: str, exc: BaseException, now: float) -> None:
        """A due transition raised (its transaction was rolled back): record it on the entity."""
        kind, parent, ident = key
        fault = Fault.of(exc)
        with self.store.transaction():
            entity = self.find(kind, parent, ident)
            if entity is None:
                return
            tries = entity.internal.setdefault("faults", {}).get(name, 0)
            self.report_fault(f"{kind} {ident!r} transition {name!r}", exc, repeat=tries > 0)
            self.clear_timer(entity, name)
            recorders = {
                ("pool", "allocate"): self.pool_allocation_failed,
                ("pool", "stopped"): self.pool_allocation_failed,
                ("pool", "autoscale"): self.pool_autoscale_failed,
                ("node", "started"): self.node_failed,
                ("node", "rebooted"): self.node_failed,
                ("node", "reimaged"): self.node_failed,
                ("schedule", "run"): self.schedule_run_failed,
            }
            recorder = recorders.get((kind, name))
            if recorder is not None:
                recorder(entity, fault, now)
                entity.internal["faults"].pop(name, None)
            else:
                # nowhere on the entity to report it: try again later, waiting longer each time
                entity.internal["faults"][name] = tries + 1
                wait = min(max(self.delay(), 0.5) * 2**tries, RETRY_CEILING)
                self.set_timer(entity, name, now + wait)
            if not entity.internal["faults"]:
                entity.internal.pop("faults")
            self.touch(entity, now)
            self.save(entity)
        self.wakeup.set()

    def pool_allocation_failed(self, pool: Entity, fault: Fault, now: float) -> None:
        pool.internal.pop("remove", None)
        pool.internal.pop("dealloc", None)
        pool.body["allocationState"] = "steady"
        pool.body["allocationStateTransitionTime"] = iso(now)
        pool.body["resizeErrors"] = [fault.error()]

    def pool_autoscale_failed(self, pool: Entity, fault: Fault, now: float) -> None:
        pool.body["autoScaleRun"] = {"timestamp": iso(now), "error": fault.error()}
        interval = parse_duration(pool.body.get("autoScaleEvaluationInterval") or DEFAULT_AUTOSCALE_INTERVAL)
        self.set_timer(pool, "autoscale", now + interval.total_seconds())

    def node_failed(self, node: Entity, fault: Fault, now: float) -> None:
        node.internal["slots"] = {}
        node.body["state"] = "unusable"
        node.body["stateTransitionTime"] = iso(now)
        node.body["errors"] = [
            {"code": fault.code, "message": fault.message, "errorDetails": fault.name_values()}
            if fault.values
            else {"code": fault.code, "message": fault.message}
        ]
        self.refresh_occupancy(node, now)

    def schedule_run_failed(self, schedule: Entity, fault: Fault, now: float) -> None:
        """This run is skipped (as a run is when its start window closes); the next one is planned."""
        schedule.internal["last_run"] = schedule.internal.get("window_start", now)
        self.plan_next_run(schedule, now)

    # -- tasks --------------------------------------------------------------------------------

    def task_failed(self, job_id: str, task_id: str, run_id: str | None, exc: BaseException) -> None:
        """Starting or finishing a task's run raised: the task completes with the failure, its slots
        are freed. `run_id` None: the run was never handed out (the placement itself failed)."""
        self.report_fault(f"task {job_id}/{task_id}", exc, repeat=False)
        now = self.now()
        with self.store.transaction():
            task = self.find("task", job_id, task_id)
            if task is None:
                return
            if run_id is not None and (task.internal.get("run") or {}).get("id") != run_id:
                return  # that run already ended another way
            fault = Fault.of(exc)
            self.release_run(task, now)
            info = task.body.setdefault("executionInfo", {"retryCount": 0, "requeueCount": 0})
            info.setdefault("startTime", iso(now))
            self.complete_task(task, RunResult(now, now, failure=fault.failure_info()), now, retry=False)
            self.save(task)
        self.wakeup.set()

    # -- jobs ---------------------------------------------------------------------------------

    def fail_job_start(self, job: Entity, fault: Fault, now: float) -> None:
        """The service could not start the job (its auto pool, say): it completes with the error."""
        info = job.body.setdefault("executionInfo", {"startTime": iso(now)})
        info["schedulingError"] = fault.failure_info()
        info["endTime"] = iso(now)
        for timer in list(job.internal.get("timers", {})):
            self.clear_timer(job, timer)
        self.set_state(job, "completed", now)
