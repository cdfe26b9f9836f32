"""One handler per Batch operation: read the request, call the backend, shape the answer.

Handlers are named after operationIds (`Pool_Add` → `add_pool`) and listed in HANDLERS; a test
checks that every operation of every served catalog has one. They hold no state and no SQL.

Request bodies reach them in the emulator's one, current form, and answers leave in the request's
api-version's shape (`versions.py`, applied by `protocol.py`), so the backend never sees versions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

from batch_mcp.emulator import errors
from batch_mcp.emulator.protocol import (
    Ctx,
    check_entity,
    empty_response,
    entity_headers,
    file_properties_response,
    file_response,
    json_response,
    list_response,
    numbered,
    selected,
    skip_token,
    wants_stats,
)
from batch_mcp.emulator.store import Entity
from batch_mcp.emulator.timefmt import parse_iso
from batch_mcp.emulator.versions import INDEX

Handler = Callable[[Ctx], Awaitable[Response]]

VM_REIMAGE_FROM = "2024-07-01.20.0"  # the first version whose reimage is for virtual machine pools too


# -- shared ------------------------------------------------------------------------------------


def wire(ctx: Ctx, entity: Entity, *, stats: bool = False) -> dict[str, Any]:
    """The entity's stored body (current names; the response shaping gives the version's), without
    the user-account passwords a pool (or an auto pool) was created with: they are never read back."""
    # only pools, jobs and schedules can hold user accounts (a pool's, or an auto pool's): task and
    # node reads, the bulk of the traffic, stay a shallow copy
    body = _without_passwords(entity.body) if entity.kind in _WITH_USER_ACCOUNTS else dict(entity.body)
    if stats:
        b = ctx.backend
        body["stats"] = {
            "pool": b.pool_stats,
            "job": b.job_stats,
            "schedule": lambda e: b.job_stats(e, "schedule"),
            "task": b.task_stats,
        }[entity.kind](entity)
    return body


_WITH_USER_ACCOUNTS = frozenset({"pool", "job", "schedule"})


def _without_passwords(value: Any) -> Any:
    if isinstance(value, dict):
        out = {key: _without_passwords(item) for key, item in value.items()}
        accounts = out.get("userAccounts")
        if isinstance(accounts, list):
            out["userAccounts"] = [
                {k: v for k, v in account.items() if k != "password"} if isinstance(account, dict) else account
                for account in accounts
            ]
        return out
    if isinstance(value, list):
        return [_without_passwords(item) for item in value]
    return value


def is_read(ctx: Ctx) -> bool:
    return ctx.request.method in ("GET", "HEAD")


def status(ctx: Ctx) -> int:
    return ctx.route.tool.http.status[0]


def entities_page(ctx: Ctx, entities: list[Entity], meta: str, stats: bool = False) -> Response:
    return list_response(ctx, ((e.seq, wire(ctx, e, stats=stats)) for e in entities), meta)


def get_entity(ctx: Ctx, entity: Entity, meta: str, *, stats: bool = False) -> Response:
    check_entity(ctx, entity, read=True)
    body = selected(ctx.shape(wire(ctx, entity, stats=stats)), ctx.q("$select"))
    return json_response(ctx, body, entity=entity, meta=meta, shaped=True)


def act(ctx: Ctx, entity: Entity, action: Callable[[], Entity | None]) -> Response:
    """A write guarded by the conditional headers; answers with the entity's new headers."""
    check_entity(ctx, entity, read=False)
    result = action()
    return empty_response(ctx, status(ctx), result if isinstance(result, Entity) else entity)


def body_dict(ctx: Ctx) -> dict[str, Any]:
    return ctx.body if isinstance(ctx.body, dict) else {}


# -- pools --------------------------------------------------------------------------------------


async def add_pool(ctx: Ctx) -> Response:
    pool = ctx.backend.add_pool(body_dict(ctx))
    return empty_response(ctx, status(ctx), pool, location=True)


async def list_pools(ctx: Ctx) -> Response:
    return entities_page(ctx, ctx.backend.list_pools(), "pools", wants_stats(ctx))


async def get_pool(ctx: Ctx) -> Response:
    return get_entity(ctx, ctx.backend.get_pool(ctx.path["poolId"]), "pools", stats=wants_stats(ctx))


async def exists_pool(ctx: Ctx) -> Response:
    pool = ctx.backend.get_pool(ctx.path["poolId"])
    check_entity(ctx, pool, read=True)
    return empty_response(ctx, 200, pool)


async def delete_pool(ctx: Ctx) -> Response:
    b, pool_id = ctx.backend, ctx.path["poolId"]
    return act(ctx, b.get_pool(pool_id), lambda: b.delete_pool(pool_id))


async def patch_pool(ctx: Ctx) -> Response:
    b, pool_id = ctx.backend, ctx.path["poolId"]
    return act(ctx, b.get_pool(pool_id), lambda: b.patch_pool(pool_id, body_dict(ctx)))


async def update_properties_pool(ctx: Ctx) -> Response:
    b, pool_id = ctx.backend, ctx.path["poolId"]
    return act(ctx, b.get_pool(pool_id), lambda: b.update_properties_pool(pool_id, body_dict(ctx)))


async def resize_pool(ctx: Ctx) -> Response:
    b, pool_id = ctx.backend, ctx.path["poolId"]
    return act(ctx, b.get_pool(pool_id), lambda: b.resize_pool(pool_id, body_dict(ctx)))


async def stop_resize_pool(ctx: Ctx) -> Response:
    b, pool_id = ctx.backend, ctx.path["poolId"]
    return act(ctx, b.get_pool(pool_id), lambda: b.stop_resize_pool(pool_id))


async def remove_nodes_pool(ctx: Ctx) -> Response:
    b, pool_id = ctx.backend, ctx.path["poolId"]
    return act(ctx, b.get_pool(pool_id), lambda: b.remove_nodes_pool(pool_id, body_dict(ctx)))


async def upgrade_os_pool(ctx: Ctx) -> Response:
    b, pool_id = ctx.backend, ctx.path["poolId"]
    return act(ctx, b.get_pool(pool_id), lambda: b.upgrade_os_pool(pool_id, body_dict(ctx)))


async def enable_auto_scale_pool(ctx: Ctx) -> Response:
    b, pool_id = ctx.backend, ctx.path["poolId"]
    return act(ctx, b.get_pool(pool_id), lambda: b.enable_auto_scale_pool(pool_id, body_dict(ctx)))


async def disable_auto_scale_pool(ctx: Ctx) -> Response:
    b, pool_id = ctx.backend, ctx.path["poolId"]
    return act(ctx, b.get_pool(pool_id), lambda: b.disable_auto_scale_pool(pool_id))


async def evaluate_auto_scale_pool(ctx: Ctx) -> Response:
    run = ctx.backend.evaluate_auto_scale_pool(ctx.path["poolId"], body_dict(ctx))
    return json_response(ctx, run, entity=ctx.backend.get_pool(ctx.path["poolId"]), meta="autoscalerun")


async def list_pool_node_counts(ctx: Ctx) -> Response:
    return list_response(ctx, numbered(ctx.backend.node_counts()), "poolnodecounts")


async def list_usage_metrics_pool(ctx: Ctx) -> Response:
    def moment(name: str) -> float | None:
        text = ctx.q(name)
        if not text:
            return None
        try:
            return parse_iso(text).timestamp()
        except ValueError:
            raise errors.invalid_query(name, text, "Use an ISO 8601 date-time.") from None

    metrics = ctx.backend.usage_metrics(moment("starttime"), moment("endtime"))
    return list_response(ctx, numbered(metrics), "poolusagemetrics")


async def get_all_lifetime_statistics_pool(ctx: Ctx) -> Response:
    return json_response(ctx, ctx.backend.pool_lifetime_stats(), meta="poolstats")


# -- account ------------------------------------------------------------------------------------


async def list_supported_images(ctx: Ctx) -> Response:
    return list_response(ctx, numbered(ctx.backend.list_supported_images()), "supportedimages")


async def list_node_agent_skus(ctx: Ctx) -> Response:
    return list_response(ctx, numbered(ctx.backend.list_node_agent_skus()), "nodeagentskus")


async def list_applications(ctx: Ctx) -> Response:
    return list_response(ctx, numbered(ctx.backend.list_applications()), "applications", filterable=False)


async def get_application(ctx: Ctx) -> Response:
    return json_response(ctx, ctx.backend.get_application(ctx.path["applicationId"]), meta="applications")


async def add_certificate(ctx: Ctx) -> Response:
    return empty_response(ctx, status(ctx), ctx.backend.add_certificate(body_dict(ctx)), location=True)


async def list_certificates(ctx: Ctx) -> Response:
    return entities_page(ctx, ctx.backend.list_certificates(), "certificates")


def _thumb(ctx: Ctx) -> tuple[str, str]:
    return ctx.path["thumbprintAlgorithm"], ctx.path["thumbprint"]


async def get_certificate(ctx: Ctx) -> Response:
    return get_entity(ctx, ctx.backend.get_certificate(*_thumb(ctx)), "certificates")


async def delete_certificate(ctx: Ctx) -> Response:
    return empty_response(ctx, status(ctx), ctx.backend.delete_certificate(*_thumb(ctx)))


async def cancel_deletion_certificate(ctx: Ctx) -> Response:
    return empty_response(ctx, status(ctx), ctx.backend.cancel_deletion_certificate(*_thumb(ctx)))


# -- nodes --------------------------------------------------------------------------------------


def _node(ctx: Ctx) -> tuple[str, str]:
    return ctx.path["poolId"], ctx.path["nodeId"]


async def list_nodes(ctx: Ctx) -> Response:
    return entities_page(ctx, ctx.backend.list_nodes(ctx.path["poolId"]), "nodes")


async def get_node(ctx: Ctx) -> Response:
    return get_entity(ctx, ctx.backend.get_node(*_node(ctx)), "nodes")


async def reboot_node(ctx: Ctx) -> Response:
    return empty_response(ctx, status(ctx), ctx.backend.reboot_node(*_node(ctx), ctx.body))


async def reimage_node(ctx: Ctx) -> Response:
    virtual_machines = ctx.version.index >= INDEX[VM_REIMAGE_FROM]
    return empty_response(
        ctx, status(ctx), ctx.backend.reimage_node(*_node(ctx), ctx.body, virtual_machines=virtual_machines)
    )


async def start_node(ctx: Ctx) -> Response:
    return empty_response(ctx, status(ctx), ctx.backend.start_node(*_node(ctx)))


async def deallocate_node(ctx: Ctx) -> Response:
    return empty_response(ctx, status(ctx), ctx.backend.deallocate_node(*_node(ctx), ctx.body))


async def disable_scheduling_node(ctx: Ctx) -> Response:
    return empty_response(ctx, status(ctx), ctx.backend.disable_scheduling_node(*_node(ctx), ctx.body))


async def enable_scheduling_node(ctx: Ctx) -> Response:
    return empty_response(ctx, status(ctx), ctx.backend.enable_scheduling_node(*_node(ctx)))


async def add_user_node(ctx: Ctx) -> Response:
    node = ctx.backend.add_user_node(*_node(ctx), body_dict(ctx))
    return empty_response(ctx, status(ctx), node, location=True)


async def update_user_node(ctx: Ctx) -> Response:
    node = ctx.backend.update_user_node(*_node(ctx), ctx.path["userName"], body_dict(ctx))
    return empty_response(ctx, status(ctx), node)


async def delete_user_node(ctx: Ctx) -> Response:
    return empty_response(ctx, status(ctx), ctx.backend.delete_user_node(*_node(ctx), ctx.path["userName"]))


async def get_remote_login_settings_node(ctx: Ctx) -> Response:
    node = ctx.backend.get_node(*_node(ctx))
    return json_response(
        ctx, ctx.backend.get_remote_login_settings_node(*_node(ctx)), entity=node, meta="remoteloginsettings"
    )


async def get_remote_desktop_node(ctx: Ctx) -> Response:
    node = ctx.backend.get_node(*_node(ctx))
    content = ctx.backend.get_remote_desktop_node(*_node(ctx))
    return Response(
        content, 200, headers=entity_headers(ctx, node, data_service_id=False), media_type="application/octet-stream"
    )


async def upload_batch_service_logs_node(ctx: Ctx) -> Response:
    result = ctx.backend.upload_batch_service_logs_node(*_node(ctx), body_dict(ctx))
    return json_response(ctx, result, meta="uploadbatchservicelogsresult")


async def list_node_extensions(ctx: Ctx) -> Response:
    extensions = ctx.backend.node_extensions(*_node(ctx))
    return list_response(ctx, numbered(extensions), "extensions", filterable=False)


async def get_node_extension(ctx: Ctx) -> Response:
    ext = ctx.backend.get_node_extension(*_node(ctx), ctx.path["extensionName"])
    return json_response(ctx, selected(ctx.shape(ext), ctx.q("$select")), meta="extensions", shaped=True)


# -- files --------------------------------------------------------------------------------------


async def get_from_task_file(ctx: Ctx) -> Response:
    path, url = ctx.backend.task_file(ctx.path["jobId"], ctx.path["taskId"], ctx.path["filePath"])
    return file_response(ctx, path, url)


async def get_properties_from_task_file(ctx: Ctx) -> Response:
    path, url = ctx.backend.task_file(ctx.path["jobId"], ctx.path["taskId"], ctx.path["filePath"])
    return file_properties_response(ctx, path, url)


async def delete_from_task_file(ctx: Ctx) -> Response:
    ctx.backend.delete_from_task_file(
        ctx.path["jobId"], ctx.path["taskId"], ctx.path["filePath"], ctx.flag("recursive")
    )
    return empty_response(ctx, status(ctx))


async def list_from_task_file(ctx: Ctx) -> Response:
    files = ctx.backend.list_from_task_file(ctx.path["jobId"], ctx.path["taskId"], ctx.flag("recursive"))
    return list_response(ctx, numbered(files), "files")


async def get_from_compute_node_file(ctx: Ctx) -> Response:
    path, url = ctx.backend.node_file(*_node(ctx), ctx.path["filePath"])
    return file_response(ctx, path, url)


async def get_properties_from_compute_node_file(ctx: Ctx) -> Response:
    path, url = ctx.backend.node_file(*_node(ctx), ctx.path["filePath"])
    return file_properties_response(ctx, path, url)


async def delete_from_compute_node_file(ctx: Ctx) -> Response:
    ctx.backend.delete_from_compute_node_file(*_node(ctx), ctx.path["filePath"], ctx.flag("recursive"))
    return empty_response(ctx, status(ctx))


async def list_from_compute_node_file(ctx: Ctx) -> Response:
    files = ctx.backend.list_from_compute_node_file(*_node(ctx), ctx.flag("recursive"))
    return list_response(ctx, numbered(files), "files")


# -- jobs ---------------------------------------------------------------------------------------


async def add_job(ctx: Ctx) -> Response:
    job = ctx.backend.add_job(body_dict(ctx))
    return empty_response(ctx, status(ctx), job, location=True)


async def list_jobs(ctx: Ctx) -> Response:
    return entities_page(ctx, ctx.backend.list_jobs(), "jobs", wants_stats(ctx))


async def list_from_job_schedule_job(ctx: Ctx) -> Response:
    jobs = ctx.backend.list_from_job_schedule_job(ctx.path["jobScheduleId"])
    return entities_page(ctx, jobs, "jobs", wants_stats(ctx))


async def get_job(ctx: Ctx) -> Response:
    return get_entity(ctx, ctx.backend.get_job(ctx.path["jobId"]), "jobs", stats=wants_stats(ctx))


async def delete_job(ctx: Ctx) -> Response:
    b, job_id = ctx.backend, ctx.path["jobId"]
    return act(ctx, b.get_job(job_id), lambda: b.delete_job(job_id))


async def patch_job(ctx: Ctx) -> Response:
    b, job_id = ctx.backend, ctx.path["jobId"]
    return act(ctx, b.get_job(job_id), lambda: b.patch_job(job_id, body_dict(ctx)))


async def update_job(ctx: Ctx) -> Response:
    b, job_id = ctx.backend, ctx.path["jobId"]
    return act(ctx, b.get_job(job_id), lambda: b.update_job(job_id, body_dict(ctx)))


async def disable_job(ctx: Ctx) -> Response:
    b, job_id = ctx.backend, ctx.path["jobId"]
    return act(ctx, b.get_job(job_id), lambda: b.disable_job(job_id, body_dict(ctx)))


async def enable_job(ctx: Ctx) -> Response:
    b, job_id = ctx.backend, ctx.path["jobId"]
    return act(ctx, b.get_job(job_id), lambda: b.enable_job(job_id))


async def terminate_job(ctx: Ctx) -> Response:
    b, job_id = ctx.backend, ctx.path["jobId"]
    return act(
        ctx, b.get_job(job_id), lambda: b.terminate_job(job_id, ctx.body if isinstance(ctx.body, dict) else None)
    )


async def get_task_counts_job(ctx: Ctx) -> Response:
    counts = ctx.backend.get_task_counts_job(ctx.path["jobId"])
    if ctx.response_model == "TaskCounts":  # before 2020-09-01.12.0: the counts alone, no slot counts
        return json_response(ctx, counts["taskCounts"], meta="taskcounts")
    return json_response(ctx, counts, meta="taskcountsresult")


async def list_preparation_and_release_task_status_job(ctx: Ctx) -> Response:
    items = ctx.backend.list_preparation_and_release_task_status_job(ctx.path["jobId"])
    return list_response(ctx, numbered(items), "jobpreparationandreleasetaskstatuslist")


async def get_all_lifetime_statistics_job(ctx: Ctx) -> Response:
    return json_response(ctx, ctx.backend.job_lifetime_stats(), meta="jobstats")


# -- job schedules ------------------------------------------------------------------------------


async def add_job_schedule(ctx: Ctx) -> Response:
    return empty_response(ctx, status(ctx), ctx.backend.add_job_schedule(body_dict(ctx)), location=True)


async def list_job_schedules(ctx: Ctx) -> Response:
    return entities_page(ctx, ctx.backend.list_job_schedules(), "jobschedules", wants_stats(ctx))


async def get_job_schedule(ctx: Ctx) -> Response:
    schedule = ctx.backend.get_job_schedule(ctx.path["jobScheduleId"])
    return get_entity(ctx, schedule, "jobschedules", stats=wants_stats(ctx))


async def exists_job_schedule(ctx: Ctx) -> Response:
    schedule = ctx.backend.get_job_schedule(ctx.path["jobScheduleId"])
    check_entity(ctx, schedule, read=True)
    return empty_response(ctx, 200, schedule)


def _schedule_action(name: str) -> Handler:
    async def handler(ctx: Ctx) -> Response:
        b, sid = ctx.backend, ctx.path["jobScheduleId"]
        method = getattr(b, name)
        if name in ("patch_job_schedule", "update_job_schedule"):
            return act(ctx, b.get_job_schedule(sid), lambda: method(sid, body_dict(ctx)))
        return act(ctx, b.get_job_schedule(sid), lambda: method(sid))

    handler.__name__ = name
    return handler


patch_job_schedule = _schedule_action("patch_job_schedule")
update_job_schedule = _schedule_action("update_job_schedule")
disable_job_schedule = _schedule_action("disable_job_schedule")
enable_job_schedule = _schedule_action("enable_job_schedule")
terminate_job_schedule = _schedule_action("terminate_job_schedule")
delete_job_schedule = _schedule_action("delete_job_schedule")


# -- tasks --------------------------------------------------------------------------------------


async def add_task(ctx: Ctx) -> Response:
    task = ctx.backend.add_task(ctx.path["jobId"], body_dict(ctx))
    return empty_response(ctx, status(ctx), task, location=True)


async def add_collection_task(ctx: Ctx) -> Response:
    results = ctx.backend.add_collection_task(ctx.path["jobId"], body_dict(ctx).get("value", []))
    return json_response(ctx, {"value": ctx.shape(results)}, meta="taskaddresult", shaped=True)


async def list_tasks(ctx: Ctx) -> Response:
    tasks = ctx.backend.list_tasks(ctx.path["jobId"], after_seq=skip_token(ctx))
    return entities_page(ctx, tasks, "tasks", wants_stats(ctx))


async def get_task(ctx: Ctx) -> Response:
    task = ctx.backend.get_task(ctx.path["jobId"], ctx.path["taskId"])
    return get_entity(ctx, task, "tasks", stats=wants_stats(ctx))


def _task(ctx: Ctx) -> tuple[str, str]:
    return ctx.path["jobId"], ctx.path["taskId"]


async def update_task(ctx: Ctx) -> Response:
    b = ctx.backend
    return act(ctx, b.get_task(*_task(ctx)), lambda: b.update_task(*_task(ctx), body_dict(ctx)))


async def delete_task(ctx: Ctx) -> Response:
    b = ctx.backend
    return act(ctx, b.get_task(*_task(ctx)), lambda: b.delete_task(*_task(ctx)))


async def terminate_task(ctx: Ctx) -> Response:
    b = ctx.backend
    return act(ctx, b.get_task(*_task(ctx)), lambda: b.terminate_task(*_task(ctx)))


async def reactivate_task(ctx: Ctx) -> Response:
    b = ctx.backend
    return act(ctx, b.get_task(*_task(ctx)), lambda: b.reactivate_task(*_task(ctx)))


async def list_subtasks_task(ctx: Ctx) -> Response:
    subtasks = ctx.shape(ctx.backend.list_subtasks_task(*_task(ctx)))
    select = ctx.q("$select")
    return json_response(
        ctx, {"value": [selected(s, select) for s in subtasks]}, meta="subtaskinformations", shaped=True
    )


# -- the table ----------------------------------------------------------------------------------

HANDLERS: dict[str, Handler] = {
    "Account_ListNodeAgentSkus": list_node_agent_skus,
    "Account_ListSupportedImages": list_supported_images,
    "Account_ListPoolNodeCounts": list_pool_node_counts,
    "Application_Get": get_application,
    "Application_List": list_applications,
    "Certificate_Add": add_certificate,
    "Certificate_CancelDeletion": cancel_deletion_certificate,
    "Certificate_Delete": delete_certificate,
    "Certificate_Get": get_certificate,
    "Certificate_List": list_certificates,
    "ComputeNode_AddUser": add_user_node,
    "ComputeNode_DeleteUser": delete_user_node,
    "ComputeNode_DisableScheduling": disable_scheduling_node,
    "ComputeNode_EnableScheduling": enable_scheduling_node,
    "ComputeNode_Get": get_node,
    "ComputeNode_GetRemoteDesktop": get_remote_desktop_node,
    "ComputeNode_GetRemoteLoginSettings": get_remote_login_settings_node,
    "ComputeNode_List": list_nodes,
    "ComputeNode_Reboot": reboot_node,
    "ComputeNode_Reimage": reimage_node,
    "ComputeNode_UpdateUser": update_user_node,
    "ComputeNode_UploadBatchServiceLogs": upload_batch_service_logs_node,
    "ComputeNodeExtension_Get": get_node_extension,
    "Nodes_DeallocateNode": deallocate_node,
    "Nodes_StartNode": start_node,
    "ComputeNodeExtension_List": list_node_extensions,
    "File_DeleteFromComputeNode": delete_from_compute_node_file,
    "File_DeleteFromTask": delete_from_task_file,
    "File_GetFromComputeNode": get_from_compute_node_file,
    "File_GetFromTask": get_from_task_file,
    "File_GetPropertiesFromComputeNode": get_properties_from_compute_node_file,
    "File_GetPropertiesFromTask": get_properties_from_task_file,
    "File_ListFromComputeNode": list_from_compute_node_file,
    "File_ListFromTask": list_from_task_file,
    "Job_Add": add_job,
    "Job_Delete": delete_job,
    "Job_Disable": disable_job,
    "Job_Enable": enable_job,
    "Job_Get": get_job,
    "Job_GetAllLifetimeStatistics": get_all_lifetime_statistics_job,
    "Job_GetTaskCounts": get_task_counts_job,
    "Job_List": list_jobs,
    "Job_ListFromJobSchedule": list_from_job_schedule_job,
    "Job_ListPreparationAndReleaseTaskStatus": list_preparation_and_release_task_status_job,
    "Job_Patch": patch_job,
    "Job_Terminate": terminate_job,
    "Job_Update": update_job,
    "JobSchedule_Add": add_job_schedule,
    "JobSchedule_Delete": delete_job_schedule,
    "JobSchedule_Disable": disable_job_schedule,
    "JobSchedule_Enable": enable_job_schedule,
    "JobSchedule_Exists": exists_job_schedule,
    "JobSchedule_Get": get_job_schedule,
    "JobSchedule_List": list_job_schedules,
    "JobSchedule_Patch": patch_job_schedule,
    "JobSchedule_Terminate": terminate_job_schedule,
    "JobSchedule_Update": update_job_schedule,
    "Pool_Add": add_pool,
    "Pool_Delete": delete_pool,
    "Pool_DisableAutoScale": disable_auto_scale_pool,
    "Pool_EnableAutoScale": enable_auto_scale_pool,
    "Pool_EvaluateAutoScale": evaluate_auto_scale_pool,
    "Pool_Exists": exists_pool,
    "Pool_Get": get_pool,
    "Pool_GetAllLifetimeStatistics": get_all_lifetime_statistics_pool,
    "Pool_List": list_pools,
    "Pool_ListUsageMetrics": list_usage_metrics_pool,
    "Pool_Patch": patch_pool,
    "Pool_RemoveNodes": remove_nodes_pool,
    "Pool_Resize": resize_pool,
    "Pool_StopResize": stop_resize_pool,
    "Pool_UpdateProperties": update_properties_pool,
    "Pool_UpgradeOS": upgrade_os_pool,
    "Task_Add": add_task,
    "Task_AddCollection": add_collection_task,
    "Task_Delete": delete_task,
    "Task_Get": get_task,
    "Task_List": list_tasks,
    "Task_ListSubtasks": list_subtasks_task,
    "Task_Reactivate": reactivate_task,
    "Task_Terminate": terminate_task,
    "Task_Update": update_task,
}
