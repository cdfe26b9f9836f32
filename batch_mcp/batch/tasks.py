"""Adding many tasks to a job, exactly once each.

Tasks go out in add-task-collection requests of at most 100 tasks and under 1 MB, several at a time.
The service answers per task: `success`, `clienterror` (reported, never resent) or `servererror`
(resent, alone with the other failures, in a later round). A request that is too large is halved.
A task that was already sent once (its request timed out, or it failed with a server error) and
then comes back as `TaskExists` was added by that earlier request, so it counts as added.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from batch_mcp.batch.errors import BatchError, BatchServiceError, BatchTransportError
from batch_mcp.batch.retry import RetryPolicy

__all__ = ["MAX_CHUNK_BYTES", "MAX_CHUNK_TASKS", "AddTasksResult", "add_tasks"]

MAX_CHUNK_TASKS = 100
MAX_CHUNK_BYTES = 1_000_000  # the service's limit is 1 MB per request; stay under it with room for the envelope
MAX_RESUBMISSIONS = 5
ADD_COLLECTION_TOOL = "task_add_collection"
Progress = Callable[[int, int], Awaitable[None] | None]


class Answer(Protocol):
    @property
    def data(self) -> Any: ...
    @property
    def attempts(self) -> int: ...


class Sender(Protocol):
    """What submitting needs of a client: one catalog call with its retries, and the retry pacing
    (`BatchClient` is one; the client calls in here, so this module never imports it)."""

    @property
    def retry_policy(self) -> RetryPolicy: ...
    async def call(self, tool: str, arguments: Mapping[str, Any], /) -> Answer: ...


@dataclass(slots=True)
class AddTasksResult:
    added: int
    failed: list[dict[str, Any]] = field(default_factory=list)  # {taskId, status, error: {code, message, ...}}
    requests: int = 0  # add-collection requests that got an answer

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(slots=True)
class _Run:
    job_id: str
    total: int
    sizes: dict[str, int]
    added: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    sent: set[str] = field(default_factory=set)  # task ids sent before with an outcome that may have added them
    resubmits: dict[str, int] = field(default_factory=dict)
    next_round: list[Mapping[str, Any]] = field(default_factory=list)
    chunk_size: int = MAX_CHUNK_TASKS
    pause: bool = False  # whether the next round resends failures (and so should back off first)
    fatal: BatchError | None = None


async def add_tasks(
    client: Sender,
    job_id: str,
    tasks: Sequence[Mapping[str, Any]],
    *,
    chunk_size: int = MAX_CHUNK_TASKS,
    concurrency: int = 8,
    on_progress: Progress | None = None,
) -> AddTasksResult:
    """Add `tasks` (Batch task objects, each with an `id`) to `job_id`. `on_progress(done, total)` is
    called after each request, where done counts tasks added or failed for good."""
    run = _Run(job_id, len(tasks), {}, chunk_size=max(1, min(chunk_size, MAX_CHUNK_TASKS)))
    pending: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    for task in tasks:
        task_id = task.get("id")
        if not isinstance(task_id, str) or not task_id:
            run.failed.append(_failure(None, "clienterror", "MissingTaskId", "every task needs an id"))
        elif task_id.casefold() in seen:
            run.failed.append(_failure(task_id, "clienterror", "DuplicateTaskId", "the same id appears twice"))
        else:
            seen.add(task_id.casefold())
            run.sizes[task_id] = len(json.dumps(task, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
            pending.append(task)
    limiter = anyio.CapacityLimiter(max(1, concurrency))
    round_number = 0
    while pending and run.fatal is None:
        if run.pause:
            await client.retry_policy.sleep(client.retry_policy.backoff(round_number))
        round_number += 1
        chunks = _chunks(pending, run.sizes, run.chunk_size)
        run.next_round, run.pause = [], False
        async with anyio.create_task_group() as group:
            for chunk in chunks:
                group.start_soon(_submit, client, run, chunk, limiter, on_progress)
        pending = run.next_round
    if run.fatal is not None:
        for task in pending:
            run.failed.append(_not_submitted(str(task.get("id")), run.fatal))
    return AddTasksResult(run.added, run.failed, run.requests)


def _chunks(tasks: list[Mapping[str, Any]], sizes: dict[str, int], chunk_size: int) -> list[list[Mapping[str, Any]]]:
    chunks: list[list[Mapping[str, Any]]] = []
    current: list[Mapping[str, Any]] = []
    current_bytes = len('{"value":[]}')
    for task in tasks:
        size = sizes[str(task["id"])] + 1
        if current and (len(current) >= chunk_size or current_bytes + size > MAX_CHUNK_BYTES):
            chunks.append(current)
            current, current_bytes = [], len('{"value":[]}')
        current.append(task)
        current_bytes += size
    if current:
        chunks.append(current)
    return chunks


async def _submit(
    client: Sender,
    run: _Run,
    chunk: list[Mapping[str, Any]],
    limiter: anyio.CapacityLimiter,
    on_progress: Progress | None,
) -> None:
    async with limiter:
        if run.fatal is not None:
            run.next_round.extend(chunk)  # reported as not submitted
            return
        ids = [str(task["id"]) for task in chunk]
        resent = {task_id for task_id in ids if task_id in run.sent}
        try:
            result = await client.call(ADD_COLLECTION_TOOL, {"job_id": run.job_id, "value": list(chunk)})
        except BatchServiceError as err:
            await _request_failed(run, chunk, err)
        except BatchTransportError as err:
            _requeue_or_fail(run, chunk, "unknown", err, "the request's outcome is unknown; the task may exist")
        except BatchError as err:  # authentication, arguments: nothing more can succeed
            run.fatal = run.fatal or err
            run.failed.extend(_not_submitted(task_id, err) for task_id in ids)
        else:
            run.requests += 1
            _record(run, chunk, result.data.get("value"), resent, retried=result.attempts > 1)
        if on_progress is not None:
            outcome = on_progress(run.added + len(run.failed), run.total)
            if inspect.isawaitable(outcome):
                await outcome


async def _request_failed(run: _Run, chunk: list[Mapping[str, Any]], err: BatchServiceError) -> None:
    run.requests += 1
    if err.code == "RequestBodyTooLarge" or err.status == 413:
        if len(chunk) > 1:  # as the official SDK does: halve the chunk size for the rest of the run
            run.chunk_size = min(run.chunk_size, len(chunk) // 2)
            run.next_round.extend(chunk)
            return
        run.failed.append(_failure(str(chunk[0]["id"]), "clienterror", err.code or "RequestBodyTooLarge", err.message))
        return
    if err.status is not None and err.status >= 500:
        _requeue_or_fail(run, chunk, "servererror", err, err.message)
        return
    run.fatal = run.fatal or err
    run.failed.extend(_failure(str(t["id"]), "clienterror", err.code, err.message, err.values) for t in chunk)


def _requeue_or_fail(run: _Run, chunk: list[Mapping[str, Any]], status: str, err: BatchError, message: str) -> None:
    for task in chunk:
        task_id = str(task["id"])
        run.sent.add(task_id)
        count = run.resubmits.get(task_id, 0) + 1
        run.resubmits[task_id] = count
        if count > MAX_RESUBMISSIONS:
            run.failed.append(_failure(task_id, status, err.code or type(err).__name__, message))
        else:
            run.next_round.append(task)
            run.pause = True


def _record(run: _Run, chunk: list[Mapping[str, Any]], results: Any, resent: set[str], *, retried: bool) -> None:
    by_id = {str(task["id"]).casefold(): task for task in chunk}
    answered: set[str] = set()
    for item in results if isinstance(results, list) else []:
        if not isinstance(item, Mapping):
            continue
        task_id = str(item.get("taskId", ""))
        key = task_id.casefold()
        if key not in by_id or key in answered:
            continue
        answered.add(key)
        status = str(item.get("status", "")).lower()
        raw_error = item.get("error")
        error: Mapping[str, Any] = raw_error if isinstance(raw_error, Mapping) else {}
        code = error.get("code")
        if status == "success":
            run.added += 1
        elif status == "clienterror" and code == "TaskExists" and (retried or task_id in resent):
            run.added += 1  # our earlier, unanswered request added it
        elif status == "servererror":
            _requeue_or_fail(run, [by_id[key]], "servererror", BatchError(_message(error)), _message(error))
        else:
            run.failed.append(_failure(task_id, status or "unknown", code, _message(error), error.get("values")))
    for key, task in by_id.items():
        if key not in answered:  # no verdict for this task: treat it like a server error
            _requeue_or_fail(run, [task], "servererror", BatchError("no result"), "the service gave no result")


def _message(error: Mapping[str, Any]) -> str:
    message = error.get("message")
    if isinstance(message, Mapping):
        return str(message.get("value") or "")
    return str(message or "")


def _failure(task_id: str | None, status: str, code: str | None, message: str, values: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if values:
        error["values"] = values
    return {"taskId": task_id, "status": status, "error": error}


def _not_submitted(task_id: str, err: BatchError) -> dict[str, Any]:
    """A task left unsent because an earlier request failed for good: Batch's own words for that
    failure (the tasks it refused and those never sent fail for the same reason, and read alike)."""
    if isinstance(err, BatchServiceError):
        return _failure(task_id, "notsubmitted", err.code, err.message, err.values)
    return _failure(task_id, "notsubmitted", err.code or type(err).__name__, f"not submitted: {err}")
