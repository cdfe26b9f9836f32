"""Shared watchers: the backoff policy on an injected clock, the poll loop with a fake sleep (no real
waiting), sharing, the cap, and one notification per subscriber channel and URI."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import anyio.lowlevel
import pytest

from batch_mcp.server.watchers import Backoff, Schedule, TooManyWatchers, WatcherPool

pytestmark = pytest.mark.anyio


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds
        await anyio.lowlevel.checkpoint()


class Recorder:
    """A delivery channel that records what it was told."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, uri: str) -> None:
        self.sent.append(uri)


class ScriptedProbe:
    """Answers versions from a script; after the script, the last version, and `done` is set."""

    def __init__(self, versions: list[object], fail_at: frozenset[int] = frozenset()) -> None:
        self.versions: Iterator[object] = iter(versions)
        self.last: object = None
        self.calls = 0
        self.fail_at = fail_at
        self.done = anyio.Event()

    async def __call__(self) -> object:
        self.calls += 1
        if self.calls in self.fail_at:
            raise ConnectionError("Batch is unreachable")
        try:
            self.last = next(self.versions)
        except StopIteration:
            self.done.set()
        return self.last


def test_backoff_grows_by_its_factor_up_to_the_maximum_and_a_change_resets_it() -> None:
    policy = Backoff(initial=1.0, factor=2.0, maximum=5.0)
    interval = policy.next_interval(None, changed=False)
    seen = [interval]
    for _ in range(4):
        interval = policy.next_interval(interval, changed=False)
        seen.append(interval)
    assert seen == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.next_interval(5.0, changed=True) == 1.0


def test_backoff_rejects_settings_that_would_poll_in_a_tight_loop_or_shrink() -> None:
    with pytest.raises(ValueError):
        Backoff(initial=0)
    with pytest.raises(ValueError):
        Backoff(initial=2.0, maximum=1.0)
    with pytest.raises(ValueError):
        Backoff(factor=0.5)


def test_schedule_sets_the_next_probe_on_the_injected_clock() -> None:
    time = FakeTime()
    schedule = Schedule(Backoff(initial=1.0, factor=1.5, maximum=20.0), time.clock)
    assert schedule.remaining() == 1.0
    time.now = 1.0
    assert schedule.observed(changed=False) == 1.5
    assert schedule.due == 2.5
    time.now = 2.0
    assert schedule.remaining() == 0.5
    time.now = 2.5
    schedule.observed(changed=False)  # 2.25
    schedule.observed(changed=False)  # 3.375
    assert schedule.interval == 3.375
    schedule.reset()  # a new subscriber: poll soon again
    assert schedule.interval == 1.0
    assert schedule.due == 3.5


async def test_an_idle_watcher_backs_off_and_a_change_is_published_once_and_resets_the_interval() -> None:
    time = FakeTime()
    probe = ScriptedProbe(["v1", "v1", "v1", "v1", "v2", "v2", "v2"])
    channel = Recorder()
    async with anyio.create_task_group() as group:
        pool = WatcherPool(group, limit=4, backoff=Backoff(1.0, 2.0, 8.0), clock=time.clock, sleep=time.sleep)
        lease = await pool.acquire("batch://jobs/j", "batch://jobs/j", channel, lambda: probe)
        with anyio.fail_after(5):
            await probe.done.wait()
        pool.release(lease)
    # baseline v1, then three idle probes (1, 2, 4 s apart), the change to v2 after 8 s, then back to 1 s
    assert time.slept[:6] == [1.0, 2.0, 4.0, 8.0, 1.0, 2.0]
    assert channel.sent == ["batch://jobs/j"]
    assert len(pool) == 0


async def test_a_failing_probe_is_not_a_change_and_the_watcher_keeps_going() -> None:
    time = FakeTime()
    probe = ScriptedProbe(["v1", "v1", "v1", "v1"], fail_at=frozenset({2, 3}))
    channel = Recorder()
    async with anyio.create_task_group() as group:
        pool = WatcherPool(group, limit=4, backoff=Backoff(1.0, 2.0, 8.0), clock=time.clock, sleep=time.sleep)
        lease = await pool.acquire("k", "batch://jobs/j", channel, lambda: probe)
        with anyio.fail_after(5):
            await probe.done.wait()
        pool.release(lease)
    assert channel.sent == []
    assert time.slept[:4] == [1.0, 2.0, 4.0, 8.0]


async def test_a_change_before_the_baseline_is_not_reported_but_every_later_one_is() -> None:
    time = FakeTime()
    probe = ScriptedProbe(["absent", "v1", "v1", "v2"])
    channel = Recorder()
    async with anyio.create_task_group() as group:
        pool = WatcherPool(group, limit=4, backoff=Backoff(), clock=time.clock, sleep=time.sleep)
        lease = await pool.acquire("k", "batch://jobs/j", channel, lambda: probe)
        assert channel.sent == []  # the baseline itself is not news
        with anyio.fail_after(5):
            await probe.done.wait()
        pool.release(lease)
    assert channel.sent == ["batch://jobs/j", "batch://jobs/j"]  # absent→v1, v1→v2


async def test_subscribers_of_one_resource_share_one_watcher_and_it_stops_with_the_last() -> None:
    time = FakeTime()
    probes: list[ScriptedProbe] = []

    def make_probe() -> ScriptedProbe:
        probes.append(ScriptedProbe(["v1"] * 1000))
        return probes[-1]

    async with anyio.create_task_group() as group:
        pool = WatcherPool(group, limit=4, backoff=Backoff(), clock=time.clock, sleep=time.sleep)
        first = await pool.acquire("k", "batch://jobs/j", Recorder(), make_probe)
        second = await pool.acquire("k", "batch://jobs/j?x", Recorder(), make_probe)
        assert len(probes) == 1 and len(pool) == 1
        watcher = pool.watchers["k"]
        pool.release(first)
        assert len(pool) == 1 and not watcher.scope.cancel_called
        pool.release(second)
        pool.release(second)  # idempotent
        assert len(pool) == 0 and watcher.scope.cancel_called


async def test_the_cap_refuses_a_new_resource_but_not_another_subscriber_of_a_watched_one() -> None:
    time = FakeTime()
    async with anyio.create_task_group() as group:
        pool = WatcherPool(group, limit=2, backoff=Backoff(), clock=time.clock, sleep=time.sleep)
        leases = [await pool.acquire(k, k, Recorder(), lambda: ScriptedProbe(["v"] * 1000)) for k in ("a", "b")]
        with pytest.raises(TooManyWatchers):
            await pool.acquire("c", "c", Recorder(), lambda: ScriptedProbe(["v"]))
        leases.append(await pool.acquire("a", "a", Recorder(), lambda: ScriptedProbe(["v"])))
        assert sorted(pool.watchers) == ["a", "b"]
        pool.release(leases[1])
        leases.append(await pool.acquire("c", "c", Recorder(), lambda: ScriptedProbe(["v"] * 1000)))
        assert sorted(pool.watchers) == ["a", "c"]
        for lease in leases:
            pool.release(lease)


async def test_each_channel_hears_each_uri_spelling_once_per_change() -> None:
    time = FakeTime()
    probe = ScriptedProbe(["v1", "v2", "v2"])
    bus, connection = Recorder(), Recorder()
    async with anyio.create_task_group() as group:
        pool = WatcherPool(group, limit=4, backoff=Backoff(), clock=time.clock, sleep=time.sleep)
        leases = [
            await pool.acquire("k", "batch://jobs/j", bus, lambda: probe),
            await pool.acquire("k", "batch://jobs/j", bus, lambda: probe),  # a second listen stream, same URI
            await pool.acquire("k", "batch://jobs/j/", bus, lambda: probe),  # another spelling
            await pool.acquire("k", "batch://jobs/j", connection, lambda: probe),
        ]
        with anyio.fail_after(5):
            await probe.done.wait()
        for lease in leases:
            pool.release(lease)
    assert sorted(bus.sent) == ["batch://jobs/j", "batch://jobs/j/"]
    assert connection.sent == ["batch://jobs/j"]


async def test_a_subscriber_cancelled_during_the_baseline_leaves_nothing_behind_but_others_keep_the_watcher() -> None:
    time = FakeTime()
    release_probe = anyio.Event()
    calls = 0

    async def slow_probe() -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release_probe.wait()  # the baseline takes a while
        return "v1"

    async with anyio.create_task_group() as group:
        pool = WatcherPool(group, limit=4, backoff=Backoff(), clock=time.clock, sleep=time.sleep)
        alone = anyio.CancelScope()

        async def lone_subscriber() -> None:
            with alone:
                await pool.acquire("alone", "alone", Recorder(), lambda: slow_probe)

        group.start_soon(lone_subscriber)
        await anyio.wait_all_tasks_blocked()
        alone.cancel()
        await anyio.wait_all_tasks_blocked()
        assert len(pool) == 0  # the only subscriber gave up during the baseline: no watcher, no lease

        calls = 0
        first = anyio.CancelScope()
        joined: list[object] = []

        async def first_subscriber() -> None:
            with first:
                await pool.acquire("k", "k", Recorder(), lambda: slow_probe)

        async def second_subscriber() -> None:
            joined.append(await pool.acquire("k", "k", Recorder(), lambda: slow_probe))

        group.start_soon(first_subscriber)
        await anyio.wait_all_tasks_blocked()
        group.start_soon(second_subscriber)
        await anyio.wait_all_tasks_blocked()
        first.cancel()  # the subscriber that started the watcher leaves during its baseline
        await anyio.wait_all_tasks_blocked()
        release_probe.set()
        with anyio.fail_after(5):
            while not joined:
                await anyio.lowlevel.checkpoint()
        watcher = pool.watchers["k"]
        assert len(watcher.leases) == 1 and watcher.ready.is_set()
        with anyio.fail_after(5):
            while watcher.probes < 3:
                await anyio.lowlevel.checkpoint()
        pool.release(joined[0])
        assert len(pool) == 0


class NeverReads:
    """A connection whose client stopped reading its stream: a send waits forever."""

    def __init__(self) -> None:
        self.started = 0

    async def send(self, uri: str) -> None:
        self.started += 1
        await anyio.Event().wait()


async def test_a_subscriber_that_never_reads_does_not_silence_the_others_or_stop_the_watcher() -> None:
    time = FakeTime()
    probe = ScriptedProbe(["v1", "v2", "v3", "v4", "v4"])
    stuck, listening = NeverReads(), Recorder()
    async with anyio.create_task_group() as group:
        pool = WatcherPool(group, limit=4, backoff=Backoff(), clock=time.clock, sleep=time.sleep)
        leases = [
            await pool.acquire("k", "batch://jobs/j", stuck, lambda: probe),
            await pool.acquire("k", "batch://jobs/j", listening, lambda: probe),
        ]
        with anyio.fail_after(5):
            await probe.done.wait()
        await anyio.wait_all_tasks_blocked()
        for lease in leases:
            pool.release(lease)
        group.cancel_scope.cancel()
    assert listening.sent == ["batch://jobs/j"] * 3  # every change, although the other subscriber is stuck
    assert stuck.started == 1  # one pending notice per subscriber and URI, never a growing pile
