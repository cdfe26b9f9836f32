"""The emulator's heartbeat: fire due transitions, place ready tasks, sample pool metrics.

It wakes every `tick_interval`, earlier when the backend signals work (a task added, a slot
freed, a timer set), and never later than the next due timer. Task runs are started inside its
task group, so stopping the clock stops (and kills) every run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
from anyio.abc import TaskStatus

from batch_mcp.emulator.backend import Backend

log = logging.getLogger("batch_mcp.emulator")


async def _guarded(fn: Callable[[], Awaitable[None]]) -> None:
    try:
        await fn()
    except anyio.get_cancelled_exc_class():
        raise
    except Exception:
        log.exception("emulator background run failed")


def tick(backend: Backend) -> None:
    if backend.leaving:
        return  # the next emulator on this state picks up from here
    now = backend.now()
    backend.advance_timers(now)
    backend.schedule_tasks()
    backend.sample_metrics(now)


async def run_clock(backend: Backend, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    async with anyio.create_task_group() as tg:
        backend.spawn = lambda fn: tg.start_soon(_guarded, fn)
        task_status.started()
        interval = backend.config.tick_interval
        last_failure = ""
        while True:
            backend.wakeup.clear()
            try:
                tick(backend)
            except Exception as exc:
                if repr(exc) != last_failure:  # one log line per distinct failure, not one per tick
                    log.exception("emulator clock tick failed")
                    last_failure = repr(exc)
            wait = interval
            next_due = backend.store.next_due()
            if next_due is not None:
                wait = min(wait, max(next_due - backend.now(), 0.0))
            if wait > 0:
                with anyio.move_on_after(wait):
                    await backend.wakeup.wait()
            else:
                await anyio.lowlevel.checkpoint()
