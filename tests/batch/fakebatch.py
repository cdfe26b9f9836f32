"""A small stateful Batch stand-in for `httpx2.MockTransport`, with scripted faults.

It keeps just enough state (jobs, tasks, task files) to tell whether the client created something
twice, and it can be told to misbehave on the next matching requests: answer with a status (before
doing anything), time out before or after applying the request, cut the body off half-way, or return
malformed JSON. Tests use it the way httpx's own tests use stateful "apps".
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import anyio
import anyio.lowlevel
import httpx2

ACCOUNT = "fakeaccount"
_STATUS_CODES = {408: "OperationTimedOut", 429: "TooManyRequests", 500: "InternalError", 503: "ServerBusy"}
ENDPOINT = f"https://{ACCOUNT}.westeurope.batch.azure.com"


@dataclass
class Fault:
    """One scripted misbehaviour. `kind` is one of: status, connect_error, timeout_before, timeout_after,
    reset_mid_body, malformed_json, server_error_tasks."""

    kind: str
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    task_ids: frozenset[str] = frozenset()

    @classmethod
    def reply(cls, status: int, **headers: str) -> Fault:
        return cls("status", status=status, headers={k.replace("_", "-"): v for k, v in headers.items()})


def batch_error(status: int, code: str, message: str, values: list[dict[str, str]] | None = None) -> httpx2.Response:
    body: dict[str, Any] = {
        "odata.metadata": f"{ENDPOINT}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
        "code": code,
        "message": {"lang": "en-US", "value": message},
    }
    if values:
        body["values"] = values
    return httpx2.Response(status, json=body, headers={"request-id": f"req-{code}"})


class _CutStream(httpx2.AsyncByteStream):
    """Yields the first half of a body, then fails as a dropped connection does."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._body[: len(self._body) // 2]
        raise httpx2.ReadError("connection reset by peer")


@dataclass
class FakeBatch:
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    files: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    creates: dict[str, int] = field(default_factory=dict)  # entity key → times it was created
    requests: list[httpx2.Request] = field(default_factory=list)
    faults: list[tuple[str, re.Pattern[str], Fault]] = field(default_factory=list)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    body_limit: int = 1_000_000  # add-task-collection bodies above this are refused as too large
    in_flight: int = 0
    max_in_flight: int = 0

    # -- scripting ------------------------------------------------------------------------------

    def inject(self, method: str, path: str, *faults: Fault) -> None:
        """Apply `faults`, in order, to the next requests whose method and path (a regex) match."""
        for fault in faults:
            self.faults.append((method, re.compile(path), fault))

    def _next_fault(self, request: httpx2.Request) -> Fault | None:
        path = unquote(request.url.path)
        for index, (method, pattern, fault) in enumerate(self.faults):
            if method == request.method and pattern.fullmatch(path):
                del self.faults[index]
                return fault
        return None

    @property
    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self.handle)

    # -- the service ----------------------------------------------------------------------------

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(3):  # let concurrent requests overlap, as they would on a network
                await anyio.lowlevel.checkpoint()
            return self._respond(request)
        finally:
            self.in_flight -= 1

    def _respond(self, request: httpx2.Request) -> httpx2.Response:
        fault = self._next_fault(request)
        if fault is not None and fault.kind == "status":
            reply = batch_error(fault.status, _STATUS_CODES.get(fault.status, "ServerBusy"), "Please retry.")
            reply.headers.update(fault.headers)
            return reply
        if fault is not None and fault.kind == "connect_error":
            raise httpx2.ConnectError("connection refused", request=request)
        if fault is not None and fault.kind == "timeout_before":
            raise httpx2.ConnectTimeout("timed out connecting", request=request)
        response = self._route(request, fault)
        if fault is None:
            return response
        if fault.kind == "timeout_after":
            raise httpx2.ReadTimeout("timed out waiting for the reply", request=request)
        body = response.content
        if fault.kind == "reset_mid_body":
            return httpx2.Response(
                response.status_code, headers=_without_length(response.headers), stream=_CutStream(body)
            )
        if fault.kind == "malformed_json":
            return httpx2.Response(response.status_code, headers=_without_length(response.headers), content=body[:-7])
        return response

    def _route(self, request: httpx2.Request, fault: Fault | None) -> httpx2.Response:
        path = unquote(request.url.path)
        method = request.method
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["jobs"]:
            return self._add_job(json.loads(request.content))
        if method == "GET" and parts == ["jobs"]:
            return self._page(request, sorted(self.jobs.values(), key=lambda j: j["id"]))
        if len(parts) == 2 and parts[0] == "jobs":
            job = self.jobs.get(parts[1])
            if job is None:
                return batch_error(404, "JobNotFound", "The specified job does not exist.")
            if method == "GET":
                return httpx2.Response(200, json=job, headers={"ETag": job["eTag"], "request-id": "req-get"})
            if method == "HEAD":
                return httpx2.Response(200)
        if len(parts) == 3 and parts[0] == "jobs" and parts[2] == "addtaskcollection" and method == "POST":
            return self._add_tasks(parts[1], json.loads(request.content)["value"], fault)
        if len(parts) == 3 and parts[0] == "jobs" and parts[2] == "tasks" and method == "GET":
            return self._page(request, list(self.tasks.get(parts[1], {}).values()))
        if len(parts) >= 6 and parts[0] == "jobs" and parts[2] == "tasks" and parts[4] == "files":
            key = (parts[1], parts[3], "/".join(parts[5:]))
            return self._file(request, key)
        return batch_error(404, "ResourceNotFound", f"no route for {method} {path}")

    def _add_job(self, body: dict[str, Any]) -> httpx2.Response:
        job_id = body["id"]
        if job_id in self.jobs:
            return batch_error(409, "JobExists", "The specified job already exists.")
        job = {**body, "state": "active", "creationTime": self.now().isoformat(), "eTag": f"0x{len(self.jobs) + 1:X}"}
        self.jobs[job_id] = job
        self.creates[f"job:{job_id}"] = self.creates.get(f"job:{job_id}", 0) + 1
        return httpx2.Response(
            201,
            headers={"ETag": job["eTag"], "DataServiceId": f"{ENDPOINT}/jobs/{job_id}", "request-id": "req-add"},
        )

    def _add_tasks(self, job_id: str, tasks: list[dict[str, Any]], fault: Fault | None) -> httpx2.Response:
        if job_id not in self.jobs:
            return batch_error(404, "JobNotFound", "The specified job does not exist.")
        if len(json.dumps({"value": tasks})) > self.body_limit or len(tasks) > 100:
            return batch_error(413, "RequestBodyTooLarge", "The request body is too large.")
        existing = self.tasks.setdefault(job_id, {})
        results = []
        for task in tasks:
            task_id = task["id"]
            if fault is not None and fault.kind == "server_error_tasks" and task_id in fault.task_ids:
                results.append({"status": "servererror", "taskId": task_id, "error": _error("ServerBusy")})
            elif task_id in existing:
                results.append({"status": "clienterror", "taskId": task_id, "error": _error("TaskExists")})
            elif not task.get("commandLine"):
                results.append({"status": "clienterror", "taskId": task_id, "error": _error("InvalidPropertyValue")})
            else:
                existing[task_id] = {**task, "state": "active"}
                self.creates[f"task:{job_id}/{task_id}"] = self.creates.get(f"task:{job_id}/{task_id}", 0) + 1
                results.append({"status": "success", "taskId": task_id, "eTag": "0x1"})
        return httpx2.Response(200, json={"value": results[::-1]})  # the service answers in any order

    def _page(self, request: httpx2.Request, items: list[dict[str, Any]]) -> httpx2.Response:
        size = min(int(request.url.params.get("maxresults", "1000")), 1000)
        start = int(request.url.params.get("$skiptoken", "0"))
        body: dict[str, Any] = {"odata.metadata": "meta", "value": items[start : start + size]}
        if start + size < len(items):
            link = request.url.copy_set_param("$skiptoken", str(start + size))
            body["odata.nextLink"] = str(link)
        return httpx2.Response(200, json=body)

    def _file(self, request: httpx2.Request, key: tuple[str, str, str]) -> httpx2.Response:
        content = self.files.get(key)
        if content is None:
            return batch_error(404, "FileNotFound", "The specified file does not exist.")
        headers = {"ocp-batch-file-isdirectory": "false", "Content-Type": "application/octet-stream"}
        if request.method == "HEAD":
            return httpx2.Response(200, headers={**headers, "Content-Length": str(len(content))})
        span = request.headers.get("ocp-range")
        if span:
            first, _, last = span.removeprefix("bytes=").partition("-")
            start, end = int(first), int(last) if last else len(content) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
            return httpx2.Response(206, headers=headers, content=content[start : end + 1])
        return httpx2.Response(200, headers=headers, content=content)


def _error(code: str) -> dict[str, Any]:
    return {"code": code, "message": {"lang": "en-US", "value": f"{code} for this task."}}


def _without_length(headers: httpx2.Headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != "content-length"}
