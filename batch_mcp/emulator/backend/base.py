"""What every part of the backend shares: the store, the clock, timers, ETags and state changes.

The backend is the emulator's model of a Batch account (moto's `models.py`): one mixin per area
(pools, nodes, jobs, schedules, tasks, files, account), with methods named after the operation
they serve (`Pool_Add` → `add_pool`). It raises `BatchError`s and returns entities or plain
dicts; it never sees HTTP.

Pending state changes are timers: `internal["timers"]` maps a timer name to its epoch time, and
the store's `due` column holds the earliest, so the clock loop finds due entities with one
indexed query and calls `on_timer(entity, name)`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from batch_mcp.emulator import errors
from batch_mcp.emulator.applications import Applications
from batch_mcp.emulator.config import EmulatorConfig
from batch_mcp.emulator.nodefs import NodeFiles
from batch_mcp.emulator.runner import Runner
from batch_mcp.emulator.store import DuplicateEntity, Entity, Store
from batch_mcp.emulator.timefmt import iso

if TYPE_CHECKING:
    from collections.abc import Iterator

BASE = "@@BATCH_BASE_URL@@"  # stands for the account URL in stored bodies; replaced when a response is written

# Entity kinds that show eTag/lastModified in their body (others keep them for headers only).
SHOWS_ETAG = frozenset({"pool", "job", "schedule", "task"})
# Kinds whose body records the previous state on each change.
SHOWS_PREVIOUS = frozenset({"job", "schedule", "task", "certificate"})


class BackendBase:
    """Shared helpers; the area mixins build on these."""

    def __init__(
        self,
        config: EmulatorConfig,
        store: Store,
        files: NodeFiles,
        runner: Runner,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.applications = Applications(config.applications_folder, config.applications)
        self.store = store
        self.files = files
        self.runner = runner
        self.clock = clock
        self._last_etag = 0
        self.wakeup = asyncio.Event()  # set when something may be schedulable or a timer moved earlier

    # -- time, ids, etags ---------------------------------------------------------------------

    def now(self) -> float:
        return self.clock()

    def delay(self, steps: float = 1.0) -> float:
        return self.config.transition_delay * steps

    def new_etag(self) -> str:
        """Shaped like the service's (`0x8DC1A2B3C4D5E6F`): increasing 100 ns ticks, never repeated."""
        ticks = max(int(self.now() * 10_000_000), self._last_etag + 1)
        self._last_etag = ticks
        return f"0x8D{ticks & 0xFFFFFFFFFFFFF:013X}"

    @staticmethod
    def url(path: str) -> str:
        return f"{BASE}{path}"

    def touch(self, entity: Entity, now: float | None = None) -> None:
        """Record a change: new ETag and last-modified time."""
        now = self.now() if now is None else now
        entity.internal["etag"] = self.new_etag()
        entity.internal["modified"] = now
        if entity.kind in SHOWS_ETAG:
            entity.body["eTag"] = entity.internal["etag"]
            entity.body["lastModified"] = iso(now)

    def set_state(self, entity: Entity, state: str, now: float | None = None, *, touch: bool = True) -> None:
        now = self.now() if now is None else now
        old = entity.body.get("state")
        if old == state:
            return
        if entity.kind in SHOWS_PREVIOUS and old is not None:
            entity.body["previousState"] = old
            entity.body["previousStateTransitionTime"] = entity.body.get("stateTransitionTime", iso(now))
        entity.body["state"] = state
        entity.body["stateTransitionTime"] = iso(now)
        if touch:
            self.touch(entity, now)

    # -- timers -------------------------------------------------------------------------------

    def set_timer(self, entity: Entity, name: str, at: float) -> None:
        entity.internal.setdefault("timers", {})[name] = at
        entity.due = min(entity.internal["timers"].values())
        self.wakeup.set()

    def clear_timer(self, entity: Entity, name: str) -> None:
        timers = entity.internal.get("timers", {})
        timers.pop(name, None)
        entity.due = min(timers.values()) if timers else None

    def due_timers(self, entity: Entity, now: float) -> list[str]:
        timers = entity.internal.get("timers", {})
        return sorted((n for n, t in timers.items() if t <= now), key=lambda n: timers[n])

    # -- store access -------------------------------------------------------------------------

    def get(self, kind: str, parent: str, ident: str) -> Entity:
        entity = self.store.get(kind, parent, ident)
        if entity is None:
            raise errors.not_found(kind, ident)
        return entity

    def find(self, kind: str, parent: str, ident: str) -> Entity | None:
        return self.store.get(kind, parent, ident)

    def insert(self, entity: Entity) -> None:
        try:
            self.store.insert(entity)
        except DuplicateEntity:
            raise errors.exists(entity.kind, entity.id) from None
        self.wakeup.set()

    def save(self, entity: Entity) -> None:
        self.store.update(entity)

    def new_entity(self, kind: str, parent: str, ident: str, body: dict[str, Any], now: float) -> Entity:
        entity = Entity(kind, parent, ident, body, {"created": now})
        self.touch(entity, now)
        return entity

    @staticmethod
    def random_suffix(n: int = 10) -> str:
        return "".join(secrets.choice("0123456789") for _ in range(n))

    def each(self, kind: str, parent: str | None = "") -> Iterator[Entity]:
        yield from self.store.list(kind, parent)

    # -- hooks the mixins provide (declared here for the type checker) ------------------------

    def on_timer(self, entity: Entity, name: str, now: float) -> None:  # pragma: no cover - overridden
        raise NotImplementedError
