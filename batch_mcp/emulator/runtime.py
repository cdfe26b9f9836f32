"""One running emulator: its store, node folders, runner, backend and clock, started and stopped
together. `create_app` runs one per ASGI app (in the app's lifespan)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup

from batch_mcp.emulator import sandbox
from batch_mcp.emulator.backend import Backend
from batch_mcp.emulator.clock import run_clock
from batch_mcp.emulator.config import EmulatorConfig
from batch_mcp.emulator.nodefs import NodeFiles
from batch_mcp.emulator.runner import InstantRunner, ProcessRunner, Runner
from batch_mcp.emulator.sandbox_runner import SandboxRunner
from batch_mcp.emulator.store import Store

log = logging.getLogger("batch_mcp.emulator")
DB_NAME = "emulator.sqlite3"


def make_runner(config: EmulatorConfig) -> Runner:
    if config.runner == "instant":
        return InstantRunner(exit_code=config.instant_exit_code)
    return SandboxRunner(sandbox.Sandbox("none"))  # one agent per node forks its tasks (on the host)


def isolation_of(runner: Runner) -> str:
    return str(getattr(runner, "isolation", "none"))


PROMISE_KEY = "sandbox_promise"
WAITING_TASK_STATES = ("active", "preparing", "running")
FINISHED = frozenset({"completed", "deleting"})


class SandboxPromised(sandbox.SandboxUnavailable):
    """The state folder holds command lines accepted to run in a sandbox, and this process has none."""


def has_command_line(value: Any) -> bool:
    """Whether a wire body carries a command line anywhere (start, job manager, preparation, release
    tasks, job specifications of schedules, multi-instance coordination commands)."""
    if isinstance(value, dict):
        return any(
            (k.lower().endswith("commandline") and isinstance(v, str) and v) or has_command_line(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return any(has_command_line(v) for v in value)
    return False


def pending_command_lines(store: Store) -> str | None:
    """What in the store could still run a command line (a task not completed, a pool with a start
    task, a job or schedule not finished that carries one), named for a message; None if nothing."""
    for task in store.list("task", None, states=WAITING_TASK_STATES, limit=1):
        return f"task {task.id} of job {task.parent}"
    for kind in ("pool", "job", "schedule"):
        for entity in store.list(kind, None):
            if entity.body.get("state") not in FINISHED and has_command_line(entity.body):
                return f"{kind} {entity.id}"
    return None


def keep_sandbox_promise(store: Store, isolation: str, *, runs_processes: bool) -> None:
    """Command lines accepted while a sandbox ran the folder's tasks were never asked about: they
    must never run without one. A sandboxed owner marks the folder; an owner without a sandbox
    refuses the folder while anything accepted then could still run, and lifts the mark otherwise."""
    if isolation != "none":
        store.meta_set(PROMISE_KEY, isolation)
        return
    if not runs_processes or not store.meta_get(PROMISE_KEY):
        return
    pending = pending_command_lines(store)
    if pending is not None:
        raise SandboxPromised(
            f"this state folder holds command lines accepted to run in a task sandbox ({pending}, ...), and this "
            "process has no sandbox (emulator_exec unrestricted or confirm, or none works here): it will not run "
            "them on this computer. Start batch-mcp with a working sandbox, finish or delete that work, or use "
            "another state folder."
        )
    store.meta_set(PROMISE_KEY, "")


class Emulator:
    def __init__(self, config: EmulatorConfig, runner: Runner | None = None) -> None:
        self.config = config
        self.runner = runner or make_runner(config)
        self._tmp: Path | None = None
        self._tg: TaskGroup | None = None
        self.store: Store | None = None
        self.backend: Backend | None = None
        self.recovered: dict[str, int] = {}
        self.isolation = "none"  # how task processes are isolated from this machine

    @property
    def data_root(self) -> Path:
        return self._tmp if self._tmp is not None else Path(self.config.data_dir)

    def _open(self) -> Backend:
        """Open the store and node folders (":memory:" → a temporary folder for node files)."""
        if self.config.in_memory:
            if self._tmp is None:
                self._tmp = Path(tempfile.mkdtemp(prefix="batch-emulator-"))
            db: str | Path = ":memory:"
        else:
            root = Path(self.config.data_dir).expanduser()
            root.mkdir(parents=True, exist_ok=True)
            db = root / DB_NAME
        self.store = Store(db)
        return Backend(self.config, self.store, NodeFiles(self.data_root / "nodes"), self.runner)

    async def start(self) -> Backend:
        # a sandbox that is asked for but cannot be built stops the start before anything opens
        kind = sandbox.require() if self.config.sandbox == "on" else None
        if self.config.in_memory and self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="batch-emulator-"))
        if kind is not None and isinstance(self.runner, (ProcessRunner, SandboxRunner)):
            # the state folder (database, key, socket) is hidden from tasks; their node folder is bound back
            box = sandbox.Sandbox(kind, hide=(self.data_root,), network=self.config.sandbox_network)
            self.runner = SandboxRunner(box)
        self.backend = self._open()
        self.isolation = isolation_of(self.runner)
        store = self.backend.store
        try:
            keep_sandbox_promise(store, self.isolation, runs_processes=self.config.runner != "instant")
        except SandboxPromised:
            store.close()
            self.store = None
            raise
        self.recovered = self.backend.recover()
        if self.recovered.get("requeued"):
            log.info("emulator restarted: requeued %(requeued)d running task(s)", self.recovered)
        self.backend.seed()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        await self._tg.start(run_clock, self.backend)
        return self.backend

    def leave(self) -> None:
        """Stop advancing and starting anything, at once, while the host still winds down (its
        server drains open requests first). A task placed now would be started only to be killed
        and requeued by the next owner of the state."""
        if self.backend is not None:
            self.backend.leaving = True

    async def stop(self) -> None:
        self.leave()
        # Cancel the runs first: each ends its process and records nothing, so a task that was
        # running stays `running` in the store and the next start requeues it (as after kill -9),
        # instead of completing with the exit code of a kill it never asked for.
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
            await self._tg.__aexit__(None, None, None)
            self._tg = None
        self.runner.kill_all()
        if isinstance(self.runner, SandboxRunner):
            await self.runner.aclose()  # node agents end their tasks, and their sandboxes end with them
        if self.store is not None:
            self.store.close()
            self.store = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    async def __aenter__(self) -> Backend:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
