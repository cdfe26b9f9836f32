"""The one executor behind every tool: catalog tool + validated arguments → Batch request → result.

Layers, outermost first (as httpx's `send` and azure-core's pipeline order them):
  call / list / iter_items / open_stream   result shaping, paging, create read-back
  _exchange                                the retry loop: one client-request-id, a fresh ocp-date per attempt
  httpx2 auth flow                         signs (Shared Key) or adds a token (Entra ID) on every attempt
  httpx2 transport                         the network, or a MockTransport in tests
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2

from batch_mcp.batch.auth import describe_auth
from batch_mcp.batch.binding import Prepared, RequestPlan
from batch_mcp.batch.creates import Reader, created_since, find_reader, same_entity
from batch_mcp.batch.errors import (
    ArgumentError,
    BatchAuthError,
    BatchError,
    BatchProtocolError,
    BatchServiceError,
    BatchTimeoutError,
    BatchTransportError,
    BatchUnreachableError,
    ContinuationError,
)
from batch_mcp.batch.paging import Continuation, check_link
from batch_mcp.batch.retry import MAYBE_APPLIED_ERRORS, RetryMode, RetryPolicy, RetryState
from batch_mcp.batch.shaping import file_properties, int64_numbers, reported_headers, strip_odata
from batch_mcp.batch.streaming import FileStream, range_header
from batch_mcp.batch.tasks import AddTasksResult, add_tasks
from batch_mcp.catalog import Catalog, ToolDef
from batch_mcp.redaction import redact, redact_text

__all__ = ["MAX_ERROR_BODY", "MAX_JSON_BODY", "MAX_PAGE_SIZE", "BatchClient", "CallResult", "ListPage"]

_log = logging.getLogger("batch_mcp.batch")

MAX_PAGE_SIZE = 1000
# A JSON reply is read up to this, far above any Batch answer (a page of 1,000 full entities is a few
# MiB); an error body up to MAX_ERROR_BODY. A remote that sends more is lying, and is not believed.
MAX_JSON_BODY = 64 * 1024 * 1024
MAX_ERROR_BODY = 64 * 1024
MAX_REPLY_DEPTH = 64  # levels of nesting in a reply; Batch's deepest entities have about ten
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
ENDPOINT_HINT = "Check the endpoint setting: --endpoint or AZURE_BATCH_ENDPOINT (unset: the local emulator)"
# The error codes with which Batch (and the Azure front end before it) says the credential itself was
# refused; any other 403 is the service refusing the operation, reported with its code and values.
AUTHENTICATION_FAILURE_CODES = frozenset(
    {"AuthenticationFailed", "InvalidAuthenticationInfo", "InvalidAuthenticationToken", "ExpiredAuthenticationToken"}
)
_ACCEPT_DEFAULT = frozenset({304})
_ACCEPT_EXISTS = frozenset({304, 404})
_NOTHING: frozenset[int] = frozenset()


@dataclass(slots=True)
class CallResult:
    """A tool's result. `data` is JSON-ready: the parsed body without `odata.*` keys (json), the
    reported response headers (headers), `{"exists": bool}` (exists) or file properties."""

    kind: str
    data: Any
    status: int
    request_id: str | None
    headers: Mapping[str, str]
    not_modified: bool = False
    attempts: int = 1
    recovered: bool = False  # a retried create's 409 was resolved by reading back the entity we sent
    client_request_id: str | None = None


@dataclass(slots=True)
class ListPage:
    items: list[dict[str, Any]]
    continuation: str | None = None


@dataclass(slots=True)
class _Reply:
    response: httpx2.Response
    data: Any
    attempts: int
    client_request_id: str


class _HttpDate:
    """RFC 1123 date for `ocp-date`, formatted once per second."""

    __slots__ = ("_second", "_text")

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second, self._text = now, email.utils.formatdate(now, usegmt=True)
        return self._text


class BatchClient:
    """Sends catalog tools to one Batch account endpoint through one pooled `httpx2.AsyncClient`."""

    def __init__(
        self,
        catalog: Catalog,
        endpoint: str,
        *,
        auth: httpx2.Auth | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        user_agent: str | None = None,
        max_connections: int = 32,
        now: Callable[[], str] | None = None,
        endpoint_hint: str = ENDPOINT_HINT,
    ) -> None:
        self.catalog = catalog
        self.endpoint_hint = endpoint_hint
        self.api_version = catalog.api_version
        url = httpx2.URL(normalize_endpoint(endpoint))
        self.endpoint_url = url
        self.endpoint = str(url).rstrip("/")
        self._auth = auth
        self._credential_name, self._auth_hint = describe_auth(auth)
        self._retry = retry or RetryPolicy()
        self._timeout_total = timeout
        self._now = now or _HttpDate()
        self._http = httpx2.AsyncClient(
            auth=auth,
            transport=transport,
            timeout=httpx2.Timeout(timeout, connect=min(connect_timeout, timeout)),
            headers={"User-Agent": user_agent or _user_agent()},
            limits=httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
        )
        self._plans: dict[str, RequestPlan] = {}
        self._readers: dict[str, Reader | None] = {}

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> BatchClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        close = getattr(self._auth, "aclose", None)
        if close is not None:
            await close()

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry

    def plan(self, tool: str | ToolDef) -> RequestPlan:
        """The tool's precomputed request plan (built on first use)."""
        name = tool if isinstance(tool, str) else tool.name
        plan = self._plans.get(name)
        if plan is None:
            if isinstance(tool, str):
                if tool not in self.catalog:
                    raise ArgumentError(f"unknown tool {tool!r} for api-version {self.api_version}")
                tool = self.catalog[tool]
            plan = self._plans[name] = RequestPlan(tool)
        return plan

    # -- single calls ---------------------------------------------------------------------------

    async def call(
        self, tool: str | ToolDef, arguments: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> CallResult:
        """Run a tool whose result is not a list or file content. A 304 (for a conditional request the
        caller made with `headers`) is a result with `not_modified=True`, not an error."""
        plan = self.plan(tool)
        kind = plan.result
        if kind == "list":
            raise ArgumentError(f"{plan.name} returns a list: use list() or iter_items()")
        if kind == "bytes":
            raise ArgumentError(f"{plan.name} returns file content: use open_stream()")
        prepared = plan.prepare(arguments, headers)
        started = time.time()
        try:
            reply = await self._send(
                plan,
                prepared,
                accept=_ACCEPT_EXISTS if kind == "exists" else _ACCEPT_DEFAULT,
                parse_json=kind == "json",
            )
        except BatchServiceError as err:
            if plan.mode is RetryMode.CREATE and kind == "headers" and _is_exists_conflict(err):
                return await self._resolve_conflict(plan, arguments, prepared, err, started)
            if kind == "file_properties" and err.code is None:
                raise await self._explain_head_error(prepared, err) from None
            raise
        if kind == "json" and reply.data is not None and not isinstance(reply.data, dict):
            raise BatchProtocolError(
                f"{prepared.method} {prepared.path}: the reply is not a JSON object, as every Batch entity is",
                status=reply.response.status_code,
                request_id=reply.response.headers.get("request-id"),
            )
        return self._shape(plan.result, reply)

    def _shape(self, kind: str, reply: _Reply) -> CallResult:
        response = reply.response
        status = response.status_code
        headers = response.headers
        if status == 304:
            data: Any = {}
        elif kind == "json":
            body = reply.data
            data = redact(self._numbers(strip_odata(body))) if body is not None else {}
        elif kind == "exists":
            data = {"exists": status != 404}
        elif kind == "file_properties":
            data = file_properties(headers)
        else:
            data = reported_headers(headers)
        return CallResult(
            kind,
            data,
            status,
            headers.get("request-id"),
            headers,
            not_modified=status == 304,
            attempts=reply.attempts,
            client_request_id=reply.client_request_id,
        )

    async def file_properties(self, tool: str | ToolDef, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """A file's properties (HEAD). Accepts the properties tool or the matching content tool."""
        plan = self.plan(tool)
        if plan.result == "bytes":
            plan = self._sibling(plan, "HEAD")
        if plan.result != "file_properties":
            raise ArgumentError(f"{plan.name} does not describe a file")
        args = {k: v for k, v in arguments.items() if k in plan.tool.http.args}
        return (await self.call(plan.tool, args)).data

    async def emulator_info(self) -> dict[str, Any] | bool | None:
        """What a batch-mcp emulator serving this endpoint says about itself (a signed `GET /.emulator`:
        its process and task isolation). False when the endpoint answers but is not one (Azure Batch has
        no such path); None when it cannot say now (no answer, no credential for this request)."""
        try:
            with anyio.fail_after(min(5.0, self._timeout_total)):
                request = self._http.build_request(
                    "GET",
                    self.endpoint + "/.emulator",
                    params={"api-version": self.api_version},
                    headers={"ocp-date": self._now()},
                )
                response = await self._http.send(request, stream=True)
                try:
                    status, body = response.status_code, await _error_body(response)  # a few KiB at most
                finally:
                    await response.aclose()
        except Exception:  # a probe: whatever went wrong, it cannot say now
            return None
        try:
            info = json.loads(body) if status == 200 else None
        except ValueError:
            info = None
        if isinstance(info, dict) and isinstance(info.get("isolation"), str):
            return info
        return False

    # -- lists ----------------------------------------------------------------------------------

    async def list(
        self, tool: str | ToolDef, arguments: Mapping[str, Any], *, max_items: int, continuation: str | None = None
    ) -> ListPage:
        """Up to `max_items` items, following `odata.nextLink` across pages, and a continuation for the rest."""
        plan = self._list_plan(tool)
        if max_items < 1:
            raise ArgumentError("max_items must be at least 1")
        paging = plan.paging
        assert paging is not None
        token = continuation if continuation is not None else arguments.get("continuation")
        prepared = plan.prepare(arguments)
        label = f"GET {prepared.path}"
        url: str
        params: dict[str, str] | None
        if token:
            found = Continuation.decode(token, tool=plan.name, endpoint=self.endpoint_url, path=prepared.path)
            _same_query(found.link, prepared.params, paging.page_size)
            url, params, skip = found.link, None, found.skip
        else:
            url, skip = self.endpoint + prepared.path, 0
            params = self._params(prepared)
            params[paging.page_size] = str(min(max_items, MAX_PAGE_SIZE))
        items: list[Any] = []
        pages = _Pages(label)
        while True:
            reply = await self._exchange(
                "GET", url, params, prepared.headers, None, RetryMode.SAFE, label, parse_json=True
            )
            page_url = str(reply.response.request.url)
            values, next_link = self._page(reply, plan, label)
            if pages.empty_run(page_url, values) and next_link:
                # Batch may answer a filtered listing with empty pages; this many in a row end the call
                # with a continuation rather than paging on for as long as the remote keeps linking.
                link = str(check_link(next_link, self.endpoint_url, prepared.path))
                return ListPage(redact(self._numbers(items)), Continuation(plan.name, link, 0).encode())
            room = max_items - len(items)
            if len(values) - skip > room:
                items.extend(values[skip : skip + room])
                return ListPage(redact(self._numbers(items)), Continuation(plan.name, page_url, skip + room).encode())
            items.extend(values[skip:])
            skip = 0
            if not next_link:
                return ListPage(redact(self._numbers(items)), None)
            link = str(check_link(next_link, self.endpoint_url, prepared.path))
            pages.follow(page_url, link)
            if len(items) >= max_items:
                return ListPage(redact(self._numbers(items)), Continuation(plan.name, link, 0).encode())
            url, params = link, None

    async def iter_items(
        self, tool: str | ToolDef, arguments: Mapping[str, Any], *, page_size: int = MAX_PAGE_SIZE
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item across pages, with one page in memory at a time."""
        plan = self._list_plan(tool)
        paging = plan.paging
        assert paging is not None
        prepared = plan.prepare({k: v for k, v in arguments.items() if k != "continuation"})
        label = f"GET {prepared.path}"
        url = self.endpoint + prepared.path
        params: dict[str, str] | None = self._params(prepared)
        assert params is not None
        params[paging.page_size] = str(max(1, min(page_size, MAX_PAGE_SIZE)))
        pages = _Pages(label)
        while True:
            reply = await self._exchange(
                "GET", url, params, prepared.headers, None, RetryMode.SAFE, label, parse_json=True
            )
            page_url = str(reply.response.request.url)
            values, next_link = self._page(reply, plan, label)
            for item in values:
                yield redact(self._numbers(item))
            if not next_link:
                return
            if pages.empty_run(page_url, values):
                raise BatchProtocolError(f"{label}: the service sent {MAX_EMPTY_PAGES} empty pages in a row")
            url, params = str(check_link(next_link, self.endpoint_url, prepared.path)), None
            pages.follow(page_url, url)

    def _numbers(self, value: Any) -> Any:
        """64-bit integers the service sent as strings, as numbers (what the output schemas promise)."""
        return int64_numbers(value, getattr(self.catalog, "int64_fields", frozenset()))

    def _list_plan(self, tool: str | ToolDef) -> RequestPlan:
        plan = self.plan(tool)
        if plan.result != "list" or plan.paging is None:
            raise ArgumentError(f"{plan.name} does not return a list")
        return plan

    @staticmethod
    def _page(reply: _Reply, plan: RequestPlan, label: str) -> tuple[list[Any], str | None]:
        assert plan.paging is not None
        data = reply.data
        values = data.get(plan.paging.items) if isinstance(data, dict) else None
        problem = None
        if not isinstance(values, list):
            problem = f"the reply has no {plan.paging.items!r} list"
        elif not all(isinstance(item, dict) for item in values):
            problem = f"an item of the reply's {plan.paging.items!r} list is not an object"
        if problem:
            raise BatchProtocolError(
                f"{label}: {problem}",
                status=reply.response.status_code,
                request_id=reply.response.headers.get("request-id"),
            )
        assert isinstance(values, list)
        next_link = data.get(plan.paging.next_link)
        return values, next_link if isinstance(next_link, str) and next_link else None

    # -- file content ---------------------------------------------------------------------------

    @asynccontextmanager
    async def open_stream(
        self,
        tool: str | ToolDef,
        arguments: Mapping[str, Any],
        *,
        byte_range: tuple[int, int | None] | None = None,
    ) -> AsyncIterator[FileStream]:
        """File content as a stream; `byte_range=(first, last)` (inclusive, `last` None for the rest)."""
        plan = self.plan(tool)
        if plan.result != "bytes":
            raise ArgumentError(f"{plan.name} does not return file content")
        args = dict(arguments)
        if byte_range is None and isinstance(args.get("range"), str):
            byte_range = _parse_range(args["range"])
        if byte_range is not None:
            if "range" not in plan.tool.http.args:
                raise ArgumentError(f"{plan.name} does not take a byte range")
            args["range"] = range_header(*byte_range)
        prepared = plan.prepare(args, {"Accept-Encoding": "identity"})
        url = self.endpoint + prepared.path
        params = self._params(prepared)
        label = f"GET {prepared.path}"
        range_wire = plan.tool.http.args["range"].wire if "range" in plan.tool.http.args else None

        async def reopen(start: int, end: int | None) -> httpx2.Response:
            headers = dict(prepared.headers)
            if range_wire:
                headers[range_wire] = range_header(start, end)
            reply = await self._exchange("GET", url, params, headers, None, RetryMode.SAFE, label, stream=True)
            return reply.response

        reply = await self._exchange("GET", url, params, prepared.headers, None, RetryMode.SAFE, label, stream=True)
        stream = FileStream(
            reply.response,
            byte_range=byte_range,
            reopen=reopen,
            policy=self._retry,
            label=label,
            stall_timeout=self._timeout_total,
        )
        try:
            yield stream
        finally:
            await stream.aclose()

    @asynccontextmanager
    async def open_tail(
        self, tool: str | ToolDef, arguments: Mapping[str, Any], last_bytes: int
    ) -> AsyncIterator[FileStream]:
        """The last `last_bytes` bytes of a file: its size from HEAD, then a ranged GET."""
        if last_bytes < 1:
            raise ArgumentError("last_bytes must be at least 1")
        args = {k: v for k, v in arguments.items() if k != "range"}
        size = (await self.file_properties(tool, args)).get("contentLength")
        if not isinstance(size, int):
            raise BatchProtocolError("the service did not report the file's size, so its tail cannot be found")
        byte_range = (max(0, size - last_bytes), size - 1) if size else None
        async with self.open_stream(tool, args, byte_range=byte_range) as stream:
            yield stream

    def _sibling(self, plan: RequestPlan, method: str) -> RequestPlan:
        for tool in self.catalog:
            if tool.http.path == plan.tool.http.path and tool.http.method == method:
                return self.plan(tool)
        raise ArgumentError(f"{plan.name} has no {method} counterpart")

    # -- many tasks -----------------------------------------------------------------------------

    async def add_tasks(
        self,
        job_id: str,
        tasks: Sequence[Mapping[str, Any]],
        *,
        chunk_size: int = 100,
        concurrency: int = 8,
        on_progress: Callable[[int, int], Awaitable[None] | None] | None = None,
    ) -> AddTasksResult:
        """Add many tasks in concurrent chunks, each task exactly once (see `batch_mcp.batch.tasks`)."""
        return await add_tasks(
            self, job_id, tasks, chunk_size=chunk_size, concurrency=concurrency, on_progress=on_progress
        )

    # -- creates that may have happened ---------------------------------------------------------

    async def _resolve_conflict(
        self,
        plan: RequestPlan,
        arguments: Mapping[str, Any],
        prepared: Prepared,
        err: BatchServiceError,
        started: float,
    ) -> CallResult:
        if plan.name not in self._readers:
            self._readers[plan.name] = find_reader(self.catalog, plan.tool)
        reader = self._readers[plan.name]
        sent = prepared.body or {}
        reader_args = reader.arguments(arguments, sent) if reader else None
        if reader is None or reader_args is None:
            raise _amend(err, "An earlier attempt of this request may have made it; it cannot be read back to check.")
        reader_plan = self.plan(reader.tool)
        try:
            reply = await self._send(reader_plan, reader_plan.prepare(reader_args), parse_json=True)
        except BatchError:
            raise err from None
        found = reply.data if isinstance(reply.data, dict) else {}
        if not (same_entity(sent, found) and created_since(found, started)):
            raise _amend(err, "It differs from the one requested, so this call did not create it.")
        headers = reply.response.headers
        data = reported_headers(headers)
        data["dataServiceId"] = self.endpoint + reader_plan.render_path(reader_args)
        _log.info("%s: %s already existed after a retry and matches the request", plan.name, err.code)
        return CallResult(
            plan.result,
            data,
            201,
            headers.get("request-id"),
            headers,
            attempts=err.attempts,
            recovered=True,
        )

    async def _explain_head_error(self, prepared: Prepared, err: BatchServiceError) -> BatchServiceError:
        """A HEAD's error reply has no body, so no Batch code: the agent could not tell a missing job
        from a missing task, node or file. The same URL as a one-byte GET answers with the code."""
        headers = {**prepared.headers, "ocp-range": "bytes=0-0", "Accept-Encoding": "identity"}
        label = f"GET {prepared.path}"
        try:
            reply = await self._exchange(
                "GET", self.endpoint + prepared.path, self._params(prepared), headers, None, RetryMode.SAFE, label,
                stream=True,
            )
        except BatchServiceError as explained:
            if explained.code is not None:
                explained.method, explained.attempts = "HEAD", err.attempts + explained.attempts
                return explained
            return err
        except BatchError:
            return err
        await reply.response.aclose()  # it exists after all (created meanwhile): keep the HEAD's answer
        return err

    # -- the retry loop -------------------------------------------------------------------------

    def _params(self, prepared: Prepared) -> dict[str, str]:
        params = dict(prepared.params)
        params["api-version"] = self.api_version
        return params

    async def _send(
        self,
        plan: RequestPlan,
        prepared: Prepared,
        *,
        accept: frozenset[int] = _ACCEPT_DEFAULT,
        parse_json: bool = False,
    ) -> _Reply:
        return await self._exchange(
            prepared.method,
            self.endpoint + prepared.path,
            self._params(prepared),
            prepared.headers,
            prepared.content,
            plan.mode,
            f"{prepared.method} {prepared.path}",
            accept=accept,
            parse_json=parse_json,
        )

    async def _exchange(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        content: bytes | None,
        mode: RetryMode,
        label: str,
        *,
        stream: bool = False,
        accept: frozenset[int] = _NOTHING,
        parse_json: bool = False,
    ) -> _Reply:
        """Send until an answer we can use, a final error, or the end of the retry budget. Every attempt
        carries the same client-request-id and goes through auth again (fresh date, fresh signature)."""
        policy = self._retry
        state = policy.start()
        request_id = str(uuid.uuid4())
        base_headers = dict(headers)
        base_headers["client-request-id"] = request_id
        base_headers["return-client-request-id"] = "true"
        debug = _log.isEnabledFor(logging.DEBUG)
        while True:
            base_headers["ocp-date"] = self._now()
            try:
                request = self._http.build_request(
                    method,
                    url,
                    params=params,
                    headers=base_headers,
                    content=content,
                    timeout=self._attempt_timeout(state),
                )
            except (httpx2.InvalidURL, UnicodeError) as exc:  # e.g. an over-long URL, a non-ASCII header
                shown = redact_text(label if len(label) <= 200 else label[:200] + "...")
                raise ArgumentError(f"{shown}: the request cannot be sent as given ({str(exc)[:200]})") from None
            started = time.perf_counter() if debug else 0.0
            # One deadline over connect, headers and body: httpx's own timeouts are per read, so a
            # reply trickling in a byte at a time would reset them forever.
            limit = max(0.01, min(self._timeout_total, self._retry.remaining(state)))
            response: httpx2.Response | None = None
            body = b""
            try:
                with anyio.fail_after(limit):
                    response = await self._http.send(request, stream=True)
                    wanted = response.status_code < 300 or response.status_code in accept
                    if not (wanted and stream):
                        body = await (_read_capped(response, MAX_JSON_BODY) if wanted else _error_body(response))
            except _TooLarge:
                assert response is not None
                await response.aclose()
                raise BatchProtocolError(
                    f"{redact_text(label)}: the reply is larger than {MAX_JSON_BODY // (1024 * 1024)} MiB, which no "
                    "Batch reply is; stopped reading it",
                    status=response.status_code,
                    request_id=response.headers.get("request-id"),
                ) from None
            except (TimeoutError, httpx2.RequestError) as exc:
                if response is not None:
                    await response.aclose()
                failure = exc if isinstance(exc, httpx2.RequestError) else _no_reply(request, limit)
                await self._retry_or_raise(state, failure, mode, label)
                continue
            status = response.status_code
            if debug:
                _log.debug(
                    "%s -> %d in %.1f ms (attempt %d, request-id %s)",
                    redact_text(label),
                    status,
                    (time.perf_counter() - started) * 1000,
                    state.attempt,
                    response.headers.get("request-id"),
                )
            if status < 300 or status in accept:
                if stream:
                    return _Reply(response, None, state.attempt, request_id)
                try:
                    data = _parse_json(body, status, response, label) if parse_json else None
                except BatchProtocolError as exc:
                    await self._retry_or_raise(state, exc, mode, label)
                    continue
                return _Reply(response, data, state.attempt, request_id)
            await response.aclose()
            if status == 401 or (status == 403 and _says_authentication_failed(body)):
                raise self._auth_error(status, response.headers, body)
            decision = policy.on_status(state, status, response.headers, mode)
            if not decision.retry:
                error = BatchServiceError.from_reply(
                    status, response.headers, body, method=method, path=_path_of(label), attempts=state.attempt
                )
                if 300 <= status < 400:
                    raise _amend(error, _redirect_note(response.headers.get("location")))
                if "asked to wait" in decision.reason:
                    raise _amend(error, f"({decision.reason.partition('; ')[2]}.)")
                raise error
            _log.info("%s: %s", redact_text(label), decision.reason)
            await policy.wait(state, decision)

    async def _retry_or_raise(self, state: RetryState, exc: Exception, mode: RetryMode, label: str) -> None:
        decision = self._retry.on_error(state, exc, mode)
        if decision.retry:
            _log.info("%s: %s", redact_text(label), decision.reason)
            await self._retry.wait(state, decision)
            return
        if isinstance(exc, BatchProtocolError):
            raise exc
        if decision.lasting is not None:
            raise BatchUnreachableError(self.endpoint, decision.lasting, self.endpoint_hint, attempts=state.attempt)
        method = label.partition(" ")[0]
        maybe_applied = isinstance(exc, MAYBE_APPLIED_ERRORS) and method not in ("GET", "HEAD")
        detail = str(exc).strip()
        text = f"{label}: {type(exc).__name__}{': ' + detail if detail else ''} ({decision.reason})"
        if isinstance(exc, httpx2.TimeoutException):
            text = f"Batch is not answering: {text}"
        if maybe_applied and mode is not RetryMode.SAFE:
            text += ". The request may have been applied: check the resource before repeating it"
        error_type = BatchTimeoutError if isinstance(exc, httpx2.TimeoutException) else BatchTransportError
        raise error_type(text, attempts=state.attempt, maybe_applied=maybe_applied) from None

    def _attempt_timeout(self, state: RetryState) -> Any:
        remaining = self._retry.remaining(state)
        if remaining >= self._timeout_total:
            return httpx2.USE_CLIENT_DEFAULT
        return httpx2.Timeout(max(0.01, remaining))

    def _auth_error(self, status: int, headers: Mapping[str, str], body: bytes) -> BatchAuthError:
        reply = BatchServiceError.from_reply(status, headers, body)
        return BatchAuthError(
            self._credential_name,
            self._auth_hint,
            reply.message,  # the `values` are left out: they can echo the request's signature
            status=status,
            code=reply.code,
            request_id=reply.request_id,
        )


def normalize_endpoint(endpoint: str) -> str:
    """`https://` is assumed when no scheme is given; a trailing slash is dropped."""
    text = endpoint.strip()
    if not text:
        raise ArgumentError("the Batch endpoint is empty")
    if "://" not in text:
        text = "https://" + text
    return text.rstrip("/")


def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("batch-mcp")
    except PackageNotFoundError:
        ours = "0"
    return f"batch-mcp/{ours} httpx2/{httpx2.__version__}"


def _parse_json(body: bytes, status: int, response: httpx2.Response, label: str) -> Any:
    if not body or status in (204, 304):
        return None
    try:
        data = json.loads(body, parse_constant=_not_json, parse_float=_finite_float)
    except ValueError:
        problem = "is not valid JSON"
    except RecursionError:
        problem = "is nested deeper than any Batch reply"
    else:
        if _depth_within(data, MAX_REPLY_DEPTH):
            return data
        problem = "is nested deeper than any Batch reply"
    raise BatchProtocolError(
        f"{label}: the reply {problem}", status=status, request_id=response.headers.get("request-id")
    )


def _depth_within(data: Any, limit: int) -> bool:
    """Whether no value in `data` is nested more than `limit` levels deep. Batch replies nest a
    handful of levels; a deeper one would break every recursive step after this (masking, the
    result's serialization), so it is refused here, with one walk that never recurses."""
    pending: list[tuple[Any, int]] = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if depth > limit:
            return False
        if isinstance(value, dict):
            pending.extend((item, depth + 1) for item in value.values() if isinstance(item, dict | list))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value if isinstance(item, dict | list))
    return True


def _not_json(name: str) -> Any:
    """NaN and Infinity: Python's json reads them, JSON does not have them (and no schema admits them)."""
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999: a number past any double
        raise ValueError(f"{text[:20]} overflows a JSON number")
    return value


def _parse_range(text: str) -> tuple[int, int | None] | None:
    unit, _, span = text.partition("=")
    first, _, last = span.partition("-")
    if unit.strip().lower() != "bytes" or not first.strip().isdigit():
        return None
    return int(first), int(last) if last.strip().isdigit() else None


def _path_of(label: str) -> str:
    return label.partition(" ")[2]


MAX_EMPTY_PAGES = 100


class _Pages:
    """The pages one listing has fetched: a link back to any of them is a loop, not more items."""

    __slots__ = ("_empty", "_label", "_seen")

    def __init__(self, label: str) -> None:
        self._label, self._seen, self._empty = label, set[str](), 0

    def follow(self, page_url: str, link: str) -> None:
        self._seen.add(page_url)
        if link in self._seen:
            raise BatchProtocolError(f"{self._label}: the service linked back to a page already read")

    def empty_run(self, page_url: str, values: list[Any]) -> bool:
        """Whether this page ends a run of MAX_EMPTY_PAGES empty pages."""
        self._empty = self._empty + 1 if not values else 0
        return self._empty >= MAX_EMPTY_PAGES


class _TooLarge(Exception):
    """A reply body past its bound."""


async def _read_capped(response: httpx2.Response, cap: int) -> bytes:
    """The whole body, or _TooLarge as soon as it passes `cap` bytes (the rest is never read)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise _TooLarge
        parts.append(chunk)
    return b"".join(parts)


async def _error_body(response: httpx2.Response) -> bytes:
    """An error reply's body (its first MAX_ERROR_BODY bytes: an error says what it has to say in
    less), or nothing when the connection breaks while reading it."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size >= MAX_ERROR_BODY:
                break
    except httpx2.RequestError:
        return b""
    return b"".join(parts)[:MAX_ERROR_BODY]


def _no_reply(request: httpx2.Request, limit: float) -> httpx2.ReadTimeout:
    return httpx2.ReadTimeout(f"no complete reply within {limit:.3g} s", request=request)


def _says_authentication_failed(body: bytes) -> bool:
    """Batch answers 403 for refused credentials and for refused operations alike (`Forbidden`,
    `TVMCurrentOperationUnsupported`, ...); only its error code tells them apart."""
    return BatchServiceError.from_reply(403, {}, body).code in AUTHENTICATION_FAILURE_CODES


def _is_exists_conflict(err: BatchServiceError) -> bool:
    return err.status == 409 and err.attempts > 1 and (err.code or "").endswith("Exists")


def _redirect_note(location: str | None) -> str:
    """What a redirect pointed at (its origin only: the rest may carry a token), and why it is not
    followed: the credential would go with the request."""
    try:
        there = httpx2.URL(location or "")
        where = f"{there.scheme}://{there.host}{f':{there.port}' if there.port else ''}" if there.host else None
    except (httpx2.InvalidURL, TypeError):
        where = None
    return (
        f"The endpoint redirects{f' to {where}' if where else ''}; batch-mcp does not follow redirects (the "
        "credential would go with it): set the endpoint to the Batch account's own URL."
    )


def _amend(err: BatchServiceError, note: str) -> BatchServiceError:
    return BatchServiceError(
        err.status or 409,
        err.code,
        f"{err.message} {note}".strip(),
        err.values,
        err.request_id,
        method=err.method,
        path=err.path,
        attempts=err.attempts,
    )


def _same_query(link: str, asked: Mapping[str, str], page_size: str) -> None:
    """A continuation pages the query it came from: arguments that ask for another one are refused,
    rather than silently answered with pages of the first."""
    carried = httpx2.URL(link).params
    for name, value in asked.items():
        if name == page_size or carried.get(name) == value:
            continue
        was = carried.get(name)
        raise ContinuationError(
            f"the continuation pages the listing it came from ({name}={was!r}), not {name}={value!r}; "
            "list again without continuation to change it"
            if was is not None
            else f"the continuation pages a listing without {name}; list again without continuation to add it"
        )
