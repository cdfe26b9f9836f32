"""Shared pollers: one watcher per watched resource, however many subscribers it has.

A watcher asks its probe for the resource's current version (an ETag, a file size and time, or
"absent"), and when the version differs from the last one it tells every subscriber once. The
interval between probes starts short and backs off while nothing changes (`Backoff`, a pure policy
with an injected clock); a change or a new subscriber brings it back to the start. A watcher stops
when its last subscriber leaves, and `WatcherPool` caps how many run at once.

Nothing here knows Batch or MCP: probes and delivery channels are passed in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Protocol

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

logger = logging.getLogger(__name__)

Version = Hashable
Probe = Callable[[], Awaitable[Version]]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


SEND_SECONDS = 30.0  # how long a notice waits for a subscriber that is not reading before it is dropped


class TooManyWatchers(RuntimeError):
    """The cap on concurrent watchers is reached."""


@dataclass(frozen=True)
class Backoff:
    """How long to wait before the next probe: `initial` after a change (or a new subscriber), times
    `factor` after each probe that saw nothing new, never more than `maximum`."""

    initial: float = 1.0
    factor: float = 1.5
    maximum: float = 20.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum or self.factor < 1:
            raise ValueError("Backoff needs 0 < initial <= maximum and factor >= 1")

    def next_interval(self, interval: float | None, changed: bool) -> float:
        if interval is None or changed:
            return self.initial
        return min(self.maximum, interval * self.factor)


class Schedule:
    """When a watcher probes next, from its backoff and a clock (injected, so tests need no sleeps)."""

    def __init__(self, backoff: Backoff, clock: Clock = time.monotonic) -> None:
        self.backoff = backoff
        self.clock = clock
        self.interval = backoff.initial
        self.due = clock() + self.interval

    def observed(self, changed: bool) -> float:
        """Record a probe's outcome; returns the interval until the next one."""
        self.interval = self.backoff.next_interval(self.interval, changed)
        self.due = self.clock() + self.interval
        return self.interval

    def reset(self) -> None:
        """Probe soon again (a new subscriber wants prompt news)."""
        self.interval = self.backoff.initial
        self.due = min(self.due, self.clock() + self.interval)

    def remaining(self) -> float:
        return max(0.0, self.due - self.clock())


class Channel(Protocol):
    """Where a subscriber's notifications go (the subscription bus, or one client connection)."""

    async def send(self, uri: str) -> None: ...


@dataclass(eq=False)
class Lease:
    """One subscriber's hold on a watcher: `uri` is the URI exactly as the subscriber spelled it."""

    key: str
    uri: str
    channel: Channel
    released: bool = False


@dataclass(eq=False)
class Watcher:
    key: str
    probe: Probe
    schedule: Schedule
    sleep: Sleep = anyio.sleep
    owner: str | None = None  # the signed-in user it polls for (None: the server's one principal)
    leases: list[Lease] = field(default_factory=list)
    version: Version | None = None
    known: bool = False  # a probe has answered at least once
    error: Exception | None = None  # why the last probe failed, if it did
    probes: int = 0
    changes: int = 0
    ready: anyio.Event = field(default_factory=anyio.Event)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    _wake: anyio.Event = field(default_factory=anyio.Event)

    async def check(self) -> bool:
        """Probe once; True when the resource changed since the last answer. A failing probe counts as
        no change (it is retried on the schedule) and is logged, never raised."""
        self.probes += 1
        try:
            version = await self.probe()
        except Exception as exc:  # a watcher outlives Batch hiccups: log and keep the last version
            logger.info("watch %s: probe failed: %s", self.key, exc)
            self.error = exc
            return False
        self.error = None
        changed = self.known and version != self.version
        self.version, self.known = version, True
        if changed:
            self.changes += 1
        return changed

    async def run(self, publish: Callable[[Watcher], Awaitable[None]]) -> None:
        """Probe on the schedule until cancelled; `publish` is awaited after each change."""
        with self.scope:
            while True:
                await self._pause(self.schedule.remaining())
                changed = await self.check()
                self.schedule.observed(changed)
                if changed:
                    await publish(self)

    def nudge(self) -> None:
        self.schedule.reset()
        self._wake.set()

    async def _pause(self, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        wake = self._wake = anyio.Event()
        async with anyio.create_task_group() as group:

            async def sleeper() -> None:
                await self.sleep(seconds)
                group.cancel_scope.cancel()

            async def waker() -> None:
                await wake.wait()
                group.cancel_scope.cancel()

            group.start_soon(sleeper)
            group.start_soon(waker)
        if wake.is_set():  # woken early: wait out whatever the reset schedule still asks for
            await self._pause(self.schedule.remaining())


class WatcherPool:
    """The running watchers, keyed by resource, shared by all subscribers, at most `limit` of them,
    and at most `per_owner` of one owner's (so one signed-in user cannot take every watcher)."""

    def __init__(
        self,
        group: TaskGroup,
        *,
        limit: int,
        backoff: Backoff,
        per_owner: int | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        self._group = group
        self.limit = limit
        self.per_owner = per_owner
        self.backoff = backoff
        self._clock = clock
        self._sleep = sleep
        self.watchers: dict[str, Watcher] = {}
        self._pending: set[tuple[int, str]] = set()  # (channel, URI) notices not yet taken

    def __len__(self) -> int:
        return len(self.watchers)

    async def acquire(
        self, key: str, uri: str, channel: Channel, probe: Callable[[], Probe], owner: str | None = None
    ) -> Lease:
        """Hold the watcher for `key` (starting it, with a first probe as the baseline, if none runs).
        Raises TooManyWatchers at the cap. `probe` builds the probe only when a watcher is started."""
        watcher = self.watchers.get(key)
        starting = watcher is None
        if watcher is None:
            if len(self.watchers) >= self.limit:
                raise TooManyWatchers(f"at most {self.limit} resources can be watched at once")
            if owner is not None and self.per_owner is not None and self.owned(owner) >= self.per_owner:
                raise TooManyWatchers(f"at most {self.per_owner} resources can be watched at once by one user")
            watcher = Watcher(key, probe(), Schedule(self.backoff, self._clock), self._sleep, owner=owner)
            self.watchers[key] = watcher
        lease = Lease(key, uri, channel)
        watcher.leases.append(lease)
        try:
            if starting:
                await watcher.check()  # the baseline: changes after this call are seen
            else:
                await watcher.ready.wait()
        except BaseException:  # cancelled while waiting: the caller never gets the lease, so drop it here
            self.release(lease)
            raise
        finally:
            if starting:
                watcher.ready.set()
                if self.watchers.get(key) is watcher:  # someone still wants it, maybe not this caller
                    watcher.schedule.reset()
                    self._group.start_soon(watcher.run, self._publish)
        if not starting:
            watcher.nudge()
        return lease

    def owned(self, owner: str) -> int:
        return sum(1 for watcher in self.watchers.values() if watcher.owner == owner)

    def release(self, lease: Lease) -> None:
        """Drop a subscriber's hold; the watcher stops with its last subscriber. Idempotent."""
        if lease.released:
            return
        lease.released = True
        watcher = self.watchers.get(lease.key)
        if watcher is None:
            return
        if lease in watcher.leases:
            watcher.leases.remove(lease)
        if not watcher.leases:
            watcher.scope.cancel()
            del self.watchers[lease.key]

    async def _publish(self, watcher: Watcher) -> None:
        """Tell each (channel, URI) once, however many leases share it. Each notice is sent on its own
        task, so a subscriber that stops reading its stream (a send that never returns) holds up neither
        the other subscribers nor the watcher; while a notice to a (channel, URI) is still pending, later
        changes add none (the pending one already says "updated"), and it is dropped after
        `SEND_SECONDS`."""
        sent: set[tuple[int, str]] = set()
        for lease in list(watcher.leases):
            target = (id(lease.channel), lease.uri)
            if lease.released or target in sent:
                continue
            sent.add(target)
            if target in self._pending:
                continue
            self._pending.add(target)
            self._group.start_soon(self._notify, watcher.key, lease, target)
        await anyio.lowlevel.checkpoint()

    async def _notify(self, key: str, lease: Lease, target: tuple[int, str]) -> None:
        try:
            with anyio.move_on_after(SEND_SECONDS) as scope:
                await lease.channel.send(lease.uri)
            if scope.cancelled_caught:
                logger.info("watch %s: a subscriber did not take a notice within %s s; dropped", key, SEND_SECONDS)
        except Exception as exc:  # one broken subscriber must not silence the others
            logger.info("watch %s: could not notify a subscriber: %s", key, exc)
        finally:
            self._pending.discard(target)
