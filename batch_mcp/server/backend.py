"""Opening the Batch backend: a real account, or the embedded emulator when none is configured."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_mcp.batch import BatchClient, connect
from batch_mcp.catalog import Catalog
from batch_mcp.redaction import register_secret
from batch_mcp.server.audit import AuditLog
from batch_mcp.server.engine import Engine
from batch_mcp.server.events import Events, EventsConfig
from batch_mcp.server.execution import ExecPolicy, resolved
from batch_mcp.server.guardrails import Guardrails
from batch_mcp.server.impact import Lookups
from batch_mcp.server.selection import Selection
from batch_mcp.server.server_tools import ServerTool
from batch_mcp.server.watchers import Backoff
from batch_mcp.settings import Settings

logger = logging.getLogger(__name__)


def _no_isolation() -> str | None:
    return None


@dataclass
class Backend:
    endpoint: str
    kind: str  # "emulator" | "azure"
    client: BatchClient
    # How the emulator serving this backend isolates task processes: "bwrap", "unshare" or "none"
    # (they run on the host); None for Azure. Read it per call: when several batch-mcp processes
    # share a state folder, the folder's owner runs the tasks, and the owner can change.
    isolation: Callable[[], str | None] = _no_isolation
    emulator: Any = None  # the SharedEmulator (role, owner, state folder) when kind == "emulator"
    # Brings `isolation` up to date before a call that brings command lines (an endpoint that may be a
    # batch-mcp emulator run on its own); None when `isolation` is always current.
    refresh: Callable[[], Awaitable[None]] | None = None


class EndpointProbe:
    """Whether a configured Batch endpoint is a batch-mcp emulator run on its own (`batch-mcp
    emulator`), which runs command lines on that computer: it answers a signed `GET /.emulator` with
    its task isolation, read before every call that brings command lines (it may restart with another
    sandbox setting). An endpoint that answers anything else is Azure Batch, for good; one that cannot
    say now counts as Azure for this call and is asked again next time."""

    def __init__(self, client: BatchClient) -> None:
        self.client = client
        self.azure = False
        self.current: str | None = None

    def isolation(self) -> str | None:
        return self.current

    async def refresh(self) -> None:
        if self.azure:
            return
        info = await self.client.emulator_info()
        if info is False:
            self.azure = True
        self.current = str(info["isolation"]) if isinstance(info, dict) else None


@asynccontextmanager
async def open_client(settings: Settings, catalog: Catalog) -> AsyncIterator[Backend]:
    """A connected client; starts the embedded emulator first when no endpoint is set."""
    async with AsyncExitStack() as stack:
        if settings.uses_emulator:
            from batch_mcp.emulator import EmulatorConfig  # imported only when used
            from batch_mcp.emulator.hosting import SharedEmulator

            data_dir: Path | str = settings.emulator_data_dir
            config = EmulatorConfig(data_dir=":memory:" if str(data_dir) == ":memory:" else data_dir, seed_pool=True)
            if settings.emulator_transition_delay is not None:
                config.transition_delay = settings.emulator_transition_delay
            if resolved(settings.emulator_exec) == "sandbox":
                config.sandbox = "on"  # every task process isolated, or this process does not serve the folder
            # the first batch-mcp process on the folder serves it on a private socket; others attach
            emulator = await stack.enter_async_context(SharedEmulator(config))
            register_secret(emulator.key)
            client = connect(
                catalog,
                emulator.endpoint,
                account=emulator.account,
                key=emulator.key,
                auth_kind="shared_key",
                transport=emulator.transport(),
            )
            await stack.enter_async_context(client)
            yield Backend(emulator.endpoint, "emulator", client, isolation=emulator.isolation, emulator=emulator)
            return
        endpoint = str(settings.endpoint)
        if settings.http_auth == "entra" and settings.transport == "http":
            from batch_mcp.server.entra import on_behalf_of_auth  # each call as its signed-in user

            client = BatchClient(catalog, endpoint, auth=on_behalf_of_auth(settings))
        else:
            key = settings.access_key.get_secret_value() if settings.access_key else None
            register_secret(key)
            client = connect(
                catalog,
                endpoint,
                account=settings.account,
                key=key,
                auth_kind=settings.auth,
                credential=settings.credential,
            )
        await stack.enter_async_context(client)
        probe = EndpointProbe(client)
        yield Backend(endpoint=endpoint, kind="azure", client=client, isolation=probe.isolation, refresh=probe.refresh)


ClientOpener = Callable[[Settings, Catalog], AbstractAsyncContextManager[Backend]]


def _isolation(backend: Backend) -> Callable[[], str | None]:
    """The isolation in effect for the backend's tasks, read on every call (the emulator that runs
    them may be another process's). An emulator that cannot say has none; Azure is not ours to judge."""
    if backend.kind != "emulator":
        return backend.isolation  # None for Azure; what an endpoint that proved to be an emulator says
    return lambda: backend.isolation() or "none"


@dataclass
class Live:
    """A connected backend with the engine and event watchers over it."""

    engine: Engine
    backend: Backend
    events: Events


@asynccontextmanager
async def open_backend(
    settings: Settings,
    catalog: Catalog,
    selection: Selection,
    server_tools: dict[str, ServerTool],
    *,
    no_confirm: bool,
    opener: ClientOpener | None = None,
) -> AsyncIterator[Live]:
    """The engine and event watchers over a connected client (from `opener`, default `open_client`)."""
    async with (opener or open_client)(settings, catalog) as backend:
        guardrails = Guardrails(
            lookups=Lookups(backend.client, catalog),
            selection=selection,
            max_nodes=settings.max_nodes,
            no_confirm=no_confirm,
            read_only=settings.read_only,
            exec_policy=ExecPolicy(settings.emulator_exec, _isolation(backend), backend.refresh),
        )
        engine = Engine(
            catalog=catalog,
            client=backend.client,
            guardrails=guardrails,
            audit=AuditLog(settings.audit_log),
            server_tools=server_tools,
            page_size=settings.page_size,
        )
        config = EventsConfig(
            backoff=Backoff(maximum=settings.watch_max_interval),
            max_watchers=settings.max_watchers,
            max_watchers_per_user=settings.max_watchers_per_user,
            window=settings.resource_window,
        )
        async with Events(backend.client, catalog, config) as events:
            yield Live(engine=engine, backend=backend, events=events)
