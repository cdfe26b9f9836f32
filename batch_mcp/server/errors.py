"""Batch failures as text a model can act on: status, Batch code, message, what to try.

Never a traceback, never a secret: every text passes through `redact_text`.
"""

from __future__ import annotations

from batch_mcp.batch.errors import BatchError, BatchServiceError
from batch_mcp.batch.rbac import required_permission
from batch_mcp.catalog.model import HttpBinding
from batch_mcp.redaction import redact_text
from batch_mcp.server.users import current_user

# What to try, by Batch error code; codes not listed fall back to the HTTP status.
HINTS_BY_CODE = {
    "PoolNotFound": "Check the pool id with pool_list.",
    "JobNotFound": "Check the job id with job_list.",
    "TaskNotFound": "Check the task id with task_list.",
    "NodeNotFound": "Check the node id with node_list.",
    "JobScheduleNotFound": "Check the schedule id (job_schedule_list, through batch_tools).",
    "FileNotFound": "List the folder with task_file_list or node_file_list to see what exists.",
    "PoolExists": "The id is taken: choose another id, or use the existing pool (pool_get).",
    "JobExists": "The id is taken: choose another id, or use the existing job (job_get).",
    "TaskExists": "The id is taken in this job: choose another id, or read the task (task_get).",
    "JobScheduleExists": "The id is taken: choose another id, or use the existing schedule.",
    "PoolBeingDeleted": "The pool is being deleted; reuse the id once pool_get answers PoolNotFound.",
    "JobBeingDeleted": "The job is being deleted; nothing more can be done with it.",
    "PoolIsResizing": "Wait for the resize to finish (wait_for with pool_id) or stop it (pool_stop_resize, "
    "through batch_call).",
    "PoolNotSteady": "Wait for the resize to finish (wait_for with pool_id) or stop it (pool_stop_resize, "
    "through batch_call), then resize again.",
    "JobCompleted": "The job has ended (job_terminate, or onAllTasksComplete once its tasks were done) and takes "
    "no more tasks: add them to a new job.",
    "JobBeingTerminated": "The job is ending (job_terminate, or onAllTasksComplete) and takes no more tasks: add "
    "them to a new job.",
    "TaskCompleted": "The task has already finished; task_diagnose says how it ended, task_reactivate reruns it "
    "if it failed.",
    "TaskNotStarted": "The task has not run yet, so it has no files: task_diagnose says why it waits; wait_for "
    "with job_id and task_id returns when it ends.",
    "TaskNotFailed": "Only a task that failed can be rerun; to run a succeeded one again, add a new task.",
    "TaskDependenciesNotSpecifiedOnJob": "Only a job created with usesTaskDependencies true takes tasks with "
    "dependsOn, and it cannot be turned on later: add the tasks to a new job created so, or drop dependsOn.",
    "AutoScaleEnabled": "This pool sizes itself; change the formula with pool_enable_auto_scale or disable "
    "autoscale first.",
    "AutoScaleNotEnabled": "Enable autoscale on the pool first (pool_enable_auto_scale).",
    "InvalidAutoScaleFormula": "Fix the formula; the details say where. Test it with pool_evaluate_auto_scale.",
    "AutoScalingFormulaSyntaxError": "Fix the formula; the details say where. Test it with pool_evaluate_auto_scale.",
    "AutoScaleFormulaTooLong": "Shorten the formula: fewer or shorter statements.",
    "RequestBodyTooLarge": "Send less per call (one add-collection request takes at most 100 tasks and 1 MB); "
    "tasks_submit splits any number of tasks for you.",
    "InvalidPropertyValue": "Fix the field named in the details.",
    "MissingRequiredProperty": "Add the field named in the details.",
    "ConditionNotMet": "The entity changed since you read it: read it again and retry with the new ETag.",
    "AuthorizationFailure": "The credential works but may not do this: check its role on the Batch account.",
    "InsufficientAccountPermissions": "The account may not do this: check the Batch account's configuration.",
    "AccountIsDisabled": "The Batch account is disabled; an administrator must enable it.",
}
HINTS_BY_STATUS = {
    400: "Fix the arguments named in the details.",
    401: "The credential was refused; check the account key or Entra ID login.",
    403: "Batch refused this operation; the code, message and details say why.",
    404: "Check the id; list the parent collection to see what exists.",
    409: "The entity is in a state that does not allow this; read it and retry when its state changes.",
    412: "The entity changed since you read it (ETag); read it again and retry.",
    413: "The request is too large; send less per call.",
    429: "Batch is throttling; wait a little and retry.",
    500: "A Batch service fault; retry, and report the request-id if it persists.",
    503: "Batch is busy; retry shortly.",
}


def batch_error_text(tool_name: str, error: BatchError, *, binding: HttpBinding | None = None) -> str:
    """`binding` (the tool's HTTP binding) names the request when the error does not."""
    refusal = _refused_user(tool_name, error, binding)
    if refusal is not None:
        return refusal
    if isinstance(error, BatchServiceError):
        lines = [f"{tool_name} failed: Batch answered {error.status} {error.code or ''}".rstrip()]
        if error.message:
            lines.append(error.message.strip())
        details = [f"{d.get('key')}: {d.get('value')}" for d in (error.values or []) if isinstance(d, dict)]
        if details:
            lines.append("details: " + "; ".join(details))
        hint = HINTS_BY_CODE.get(error.code or "") or HINTS_BY_STATUS.get(error.status or 0)
        if hint:
            lines.append("what to try: " + hint)
        if error.request_id:
            lines.append(f"request-id: {error.request_id}")
        return redact_text("\n".join(lines))
    return redact_text(f"{tool_name} failed: {error}")


def _refused_user(tool_name: str, error: BatchError, binding: HttpBinding | None) -> str | None:
    """Batch's 403 for a signed-in Entra ID user: who was refused, and the permission to ask for."""
    user = current_user()
    if user is None or error.status != 403:
        return None
    method = getattr(error, "method", None) or (binding.method if binding else None)
    path = getattr(error, "path", None) or (binding.path if binding else None)
    said = getattr(error, "detail", None) or getattr(error, "message", "")
    lines = [f"{tool_name} failed: Batch refused {user.display} (HTTP 403{' ' + error.code if error.code else ''})"]
    if said:
        lines.append(str(said).strip())
    if method and path:
        permission = required_permission(method, path)
        lines.append(
            f"what to try: {user.display} needs the permission {permission.action} on this Batch account, "
            f"e.g. through the built-in role {permission.role}; an Azure administrator assigns it under the "
            "account's Access control (IAM). Nothing was changed."
        )
    else:
        lines.append(
            f"what to try: {user.display} needs an Azure role on this Batch account that allows this call "
            "(e.g. Azure Batch Data Contributor); an Azure administrator assigns it under Access control (IAM)."
        )
    if error.request_id:
        lines.append(f"request-id: {error.request_id}")
    return redact_text("\n".join(lines))
