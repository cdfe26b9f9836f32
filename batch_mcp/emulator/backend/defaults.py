"""The values the service fills in when a request leaves them out, so that entities read back with
every field the service returns (the spec's documented defaults and what live responses show).

Each function fills a spec in place (a copy the caller owns) and returns it. Fields a version does
not have are left out of its answers by the response shaping, so these use the current names.
"""

from __future__ import annotations

from typing import Any

UNLIMITED = "P10675199DT2H48M5.4775807S"  # TimeSpan.MaxValue: "no limit"
RETENTION = "P7D"


def auto_user() -> dict[str, Any]:
    return {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}}


def task_constraints(constraints: dict[str, Any] | None, retries: int = 0) -> dict[str, Any]:
    out = dict(constraints or {})
    out.setdefault("maxWallClockTime", UNLIMITED)
    out.setdefault("retentionTime", RETENTION)
    out.setdefault("maxTaskRetryCount", retries)
    return out


def start_task(spec: dict[str, Any]) -> dict[str, Any]:
    spec.setdefault("userIdentity", auto_user())
    spec.setdefault("maxTaskRetryCount", 0)
    spec.setdefault("waitForSuccess", True)
    return spec


def job_manager_task(spec: dict[str, Any]) -> dict[str, Any]:
    spec.setdefault("userIdentity", auto_user())
    spec["constraints"] = task_constraints(spec.get("constraints"))
    spec.setdefault("requiredSlots", 1)
    spec.setdefault("killJobOnCompletion", True)
    spec.setdefault("runExclusive", True)
    spec.setdefault("allowLowPriorityNode", True)
    return spec


def job_preparation_task(spec: dict[str, Any]) -> dict[str, Any]:
    spec.setdefault("id", "jobpreparation")
    spec.setdefault("userIdentity", auto_user())
    spec["constraints"] = task_constraints(spec.get("constraints"))
    spec.setdefault("waitForSuccess", True)
    spec.setdefault("rerunOnNodeRebootAfterSuccess", True)
    return spec


def job_release_task(spec: dict[str, Any]) -> dict[str, Any]:
    spec.setdefault("id", "jobrelease")
    spec.setdefault("userIdentity", auto_user())
    spec.setdefault("maxWallClockTime", "PT15M")
    spec.setdefault("retentionTime", RETENTION)
    return spec


def pool_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A pool (or an auto pool's specification): image version, start task."""
    image = (spec.get("virtualMachineConfiguration") or {}).get("imageReference")
    if isinstance(image, dict) and "virtualMachineImageId" not in image:
        image.setdefault("version", "latest")
    if isinstance(spec.get("startTask"), dict):
        start_task(spec["startTask"])
    return spec


def job_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A job, or a schedule's job specification: its settings and its special tasks."""
    spec.setdefault("priority", 0)
    spec.setdefault("maxParallelTasks", -1)
    spec.setdefault("allowTaskPreemption", False)
    spec.setdefault("usesTaskDependencies", False)
    spec.setdefault("onAllTasksComplete", "noaction")
    spec.setdefault("onTaskFailure", "noaction")
    constraints = spec.setdefault("constraints", {})
    constraints.setdefault("maxWallClockTime", UNLIMITED)
    constraints.setdefault("maxTaskRetryCount", 0)
    for name, fill in (
        ("jobManagerTask", job_manager_task),
        ("jobPreparationTask", job_preparation_task),
        ("jobReleaseTask", job_release_task),
    ):
        if isinstance(spec.get(name), dict):
            fill(spec[name])
    auto = (spec.get("poolInfo") or {}).get("autoPoolSpecification") or {}
    if isinstance(auto.get("pool"), dict):
        pool_spec(auto["pool"])
    return spec
