"""Batch state changes as MCP resource-update events, for both protocol eras, from one bus.

Every change a watcher sees goes out as `ResourceUpdated` on one `InMemorySubscriptionBus`
(2026-07-28 clients receive it on their `subscriptions/listen` stream) or as
`notifications/resources/updated` on the connection of a handshake-era client that called
`resources/subscribe`. Either way the subscriber holds a lease on the shared watcher of that
resource (see `watchers`): a listen stream holds its leases while it is open, a handshake-era
connection until it unsubscribes or closes (its leases are released with the connection, so a client
that vanishes leaks nothing).

Probes are cheap: entities are read with `If-None-Match` (a 304 carries no body), files with a
HEAD (size and last-modified), a job's tasks with one list of the tasks that changed since the last
check (`task_changes`), so watching a job of 10,000 tasks costs one request per check. Only
`batch://` URIs this server can parse are honoured, and only those Batch lets the subscriber read
(a 403 on the first probe refuses the subscription with Batch's reason); a listen request's other
URIs are left out of its acknowledgment.

With Entra ID sign-in every user is apart: a watcher belongs to one user and polls Batch as that
user (so it sees only what their roles allow), and a listen stream hears only its own user's
events. Without it, all callers share one principal (the stdio user, or the holder of the HTTP
bearer token) and share watchers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
import anyio.lowlevel
import mcp_types as types
from anyio.abc import TaskGroup
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import ListenHandler, ResourceUpdated, ServerEvent
from mcp.shared.exceptions import MCPError

from batch_mcp.batch.errors import BatchError, BatchServiceError
from batch_mcp.server.errors import batch_error_text
from batch_mcp.server.file_windows import DEFAULT_WINDOW, PROPERTIES_TOOLS
from batch_mcp.server.task_changes import DEFAULT_STATE, TaskChanges
from batch_mcp.server.uris import BatchUri, UriError, parse_uri
from batch_mcp.server.users import User, acting_as, current_user, current_user_key
from batch_mcp.server.watchers import Backoff, Lease, Probe, TooManyWatchers, WatcherPool

logger = logging.getLogger(__name__)

ENTITY_TOOLS = {"pool": "pool_get", "node": "node_get", "job": "job_get", "task": "task_get"}
ABSENT = "absent"
_STATE_KEY = "batch-mcp/subscriptions"


@dataclass(frozen=True)
class EventsConfig:
    """Limits and timings of resources and events (the server's defaults; see DEFAULT_CONFIG)."""

    backoff: Backoff = field(default_factory=Backoff)
    max_watchers: int = 100  # concurrent watched resources, across all clients
    max_watchers_per_user: int = 25  # of those, one signed-in user's (Entra ID sign-in only)
    max_uris_per_listen: int = 32  # resource URIs one subscriptions/listen request may ask for
    max_listen_streams: int = 256  # concurrent subscriptions/listen streams
    window: int = DEFAULT_WINDOW  # bytes a file resource read returns at most
    list_limit: int = 50  # pools, and active jobs, each, in resources/list


DEFAULT_CONFIG = EventsConfig()


class Forbidden(MCPError):
    """Batch refuses the subscriber the resource (403): subscribing is refused with Batch's reason."""

    def __init__(self, message: str) -> None:
        super().__init__(code=types.INVALID_PARAMS, message=message)


class UserScopedBus:
    """The `SubscriptionBus` behind listen streams, each stream hearing only its own user's events.

    A listener is registered from inside its listen request, so it is tagged with the user signed
    in there (None without Entra ID sign-in); `publish_to` reaches the listeners of one user only."""

    def __init__(self) -> None:
        self._listeners: dict[object, tuple[str | None, Callable[[ServerEvent], None]]] = {}

    async def publish(self, event: ServerEvent) -> None:
        await self._deliver(event, lambda _: True)

    async def publish_to(self, user_key: str | None, event: ServerEvent) -> None:
        await self._deliver(event, lambda key: key == user_key)

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        token = object()
        self._listeners[token] = (current_user_key(), listener)

        def unsubscribe() -> None:
            self._listeners.pop(token, None)

        return unsubscribe

    async def _deliver(self, event: ServerEvent, wanted: Callable[[str | None], bool]) -> None:
        for key, listener in list(self._listeners.values()):
            if not wanted(key):
                continue
            try:
                listener(event)
            except Exception:  # one broken listener must not starve the others
                logger.exception("subscription listener raised; continuing")
        await anyio.lowlevel.checkpoint()


class BusChannel:
    """Delivery to 2026-07-28 listen streams: the bus fans out to every stream of `user_key` (None:
    every stream) that asked for the URI."""

    def __init__(self, bus: UserScopedBus, user_key: str | None = None) -> None:
        self.bus = bus
        self.user_key = user_key

    async def send(self, uri: str) -> None:
        await self.bus.publish_to(self.user_key, ResourceUpdated(uri=uri))


class SessionChannel:
    """Delivery to one handshake-era connection, on its standalone channel."""

    def __init__(self, session: ServerSession) -> None:
        self.session = session

    async def send(self, uri: str) -> None:
        await self.session.send_resource_updated(uri)


@dataclass
class _ConnectionSubscriptions:
    channel: SessionChannel
    leases: dict[str, Lease] = field(default_factory=dict)


def entity_probe(client: Any, target: BatchUri) -> Probe:
    """A conditional GET: 304 while the entity's ETag stands; else a digest of the body, which changes
    when the entity does; ABSENT when it is gone."""
    tool = ENTITY_TOOLS[target.kind]
    args = target.args
    last: dict[str, Any] = {"etag": None, "version": None}

    async def probe() -> Any:
        headers = {"If-None-Match": last["etag"]} if last["etag"] else None
        try:
            result = await client.call(tool, args, headers=headers)
        except BatchServiceError as exc:
            if exc.status == 404:
                last["etag"] = None
                last["version"] = ABSENT
                return ABSENT
            raise
        if result.not_modified:
            return last["version"]
        last["etag"] = result.headers.get("etag")
        # What the entity says is its version: an ETag only spares the transfer (a remote handing out
        # a new one on every read of the same entity must not look like a change every poll).
        last["version"] = _digest(result.data)
        return last["version"]

    return probe


def file_probe(client: Any, target: BatchUri) -> Probe:
    """A HEAD: the version is (size, last-modified); ABSENT while the file (or its task) is not there."""
    tool = PROPERTIES_TOOLS[target.kind]
    args = target.args

    async def probe() -> Any:
        try:
            result = await client.call(tool, args)
        except BatchServiceError as exc:
            if exc.status in (404, 409):  # no such file yet; the task has not started (409)
                return ABSENT
            raise
        data = result.data or {}
        return (data.get("contentLength"), data.get("lastModified"))

    return probe


def job_tasks_probe(client: Any, target: BatchUri) -> Probe:
    """One filtered list per check, whatever the job's size: the version is the latest state change
    of a task of the watched kind (see `task_changes`); ABSENT when the job is gone."""
    changes = TaskChanges(client, target.ids[0], target.state or DEFAULT_STATE)

    async def probe() -> Any:
        try:
            await changes.poll()
        except BatchServiceError as exc:
            if exc.status == 404:
                changes.watermark = None  # a job made again later starts a fresh watch
                return ABSENT
            raise
        return changes.watermark

    return probe


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _connection(ctx: ServerRequestContext[Any, Any]) -> Any:
    # The SDK gives lowlevel handlers the connection only through the session; its `state` and
    # `exit_stack` are public and are what per-connection teardown is for.
    return ctx.session._connection


class Events:
    """Owns the subscription bus and the shared resource watchers for one server process."""

    def __init__(self, client: Any, catalog: Any, config: EventsConfig | None = None) -> None:
        self.client = client
        self.catalog = catalog
        self.config = config or DEFAULT_CONFIG
        self.bus = UserScopedBus()
        self.listener = ListenHandler(self.bus, max_subscriptions=self.config.max_listen_streams)
        self._group: TaskGroup | None = None
        self._pool: WatcherPool | None = None

    async def __aenter__(self) -> Events:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._pool = WatcherPool(
            self._group,
            limit=self.config.max_watchers,
            per_owner=self.config.max_watchers_per_user,
            backoff=self.config.backoff,
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.listener.close()
        if self._group is not None:
            self._group.cancel_scope.cancel()
            await self._group.__aexit__(None, None, None)
            self._group = None

    @property
    def pool(self) -> WatcherPool:
        if self._pool is None:
            raise RuntimeError("Events is not running (use it as an async context manager)")
        return self._pool

    def probe_for(self, target: BatchUri, user: User | None = None) -> Probe:
        if target.is_file:
            probe = file_probe(self.client, target)
        elif target.kind == "job_tasks":
            probe = job_tasks_probe(self.client, target)
        else:
            probe = entity_probe(self.client, target)
        if user is None:
            return probe

        async def as_user() -> Any:  # long after the subscribing request, still on its user's behalf
            with acting_as(user):
                return await probe()

        return as_user

    async def acquire(self, uri: str, channel: Any) -> Lease:
        """A lease on the watcher of `uri`'s resource (the subscriber's own, with Entra ID sign-in);
        MCPError for a URI we do not serve or at the cap."""
        try:
            target = parse_uri(uri)
        except UriError as exc:
            raise MCPError(code=types.INVALID_PARAMS, message=str(exc)) from None
        user = current_user()
        key = target.key if user is None else f"{user.key} {target.key}"
        try:
            owner = None if user is None else user.key
            lease = await self.pool.acquire(key, uri, channel, lambda: self.probe_for(target, user), owner)
        except TooManyWatchers as exc:
            raise MCPError(code=types.INVALID_REQUEST, message=f"{exc}; unsubscribe from something first") from None
        watcher = self.pool.watchers.get(key)
        refused = watcher.error if watcher is not None else None
        if isinstance(refused, BatchError) and refused.status == 403:  # polling would never see a thing
            self.pool.release(lease)
            raise Forbidden(batch_error_text(f"watching {uri}", refused)) from None
        return lease

    # -- handshake era: resources/subscribe and resources/unsubscribe ------------------------------

    async def subscribe(self, ctx: ServerRequestContext[Any, Any], uri: str) -> None:
        held = self._held(ctx)
        if uri in held.leases:
            return
        lease = await self.acquire(uri, held.channel)
        if uri in held.leases:  # a concurrent subscribe to the same URI won
            self.pool.release(lease)
            return
        held.leases[uri] = lease

    async def unsubscribe(self, ctx: ServerRequestContext[Any, Any], uri: str) -> None:
        lease = self._held(ctx).leases.pop(uri, None)
        if lease is not None:
            self.pool.release(lease)

    def _held(self, ctx: ServerRequestContext[Any, Any]) -> _ConnectionSubscriptions:
        connection = _connection(ctx)
        held = connection.state.get(_STATE_KEY)
        if held is None:
            held = connection.state[_STATE_KEY] = _ConnectionSubscriptions(SessionChannel(ctx.session))
            connection.exit_stack.callback(self._release_all, held)
        return held

    def _release_all(self, held: _ConnectionSubscriptions) -> None:
        for lease in held.leases.values():
            if self._pool is not None:
                self._pool.release(lease)
        held.leases.clear()

    # -- 2026-07-28: subscriptions/listen ------------------------------------------------------------

    async def listen(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        """Serve one listen stream, holding a watcher for each URI it asks for while it is open."""
        requested = list(dict.fromkeys(params.notifications.resource_subscriptions or ()))
        if len(requested) > self.config.max_uris_per_listen:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"one listen request may watch at most {self.config.max_uris_per_listen} URIs",
            )
        ours = [uri for uri in requested if _parses(uri)]
        channel = BusChannel(self.bus, current_user_key())
        async with AsyncExitStack() as held:
            leases: list[Lease] = []
            failure: list[BaseException] = []
            refused: list[str] = []

            async def take(uri: str) -> None:
                try:
                    leases.append(await self.acquire(uri, channel))
                except Forbidden as exc:  # left out of the acknowledgment, like a URI we do not serve
                    refused.append(uri)
                    logger.info("listen: %s", exc)
                except MCPError as exc:
                    failure.append(exc)

            try:
                async with anyio.create_task_group() as group:
                    for uri in ours:
                        group.start_soon(take, uri)
            finally:
                for lease in leases:
                    held.callback(self.pool.release, lease)
            if failure:
                raise failure[0]
            honored = [uri for uri in ours if uri not in refused]
            notifications = params.notifications.model_copy(update={"resource_subscriptions": honored or None})
            return await self.listener(ctx, params.model_copy(update={"notifications": notifications}))


def _parses(uri: str) -> bool:
    try:
        parse_uri(uri)
    except UriError:
        return False
    return True
