"""Running a task's command line: real subprocesses, or an instant stand-in for fast tests.

Runners take a `RunSpec` (command line, folders, environment, wall-clock limit) and return a
`RunResult` (exit code or a failure as the service reports it). The backend decides what a run
means for the task; a runner only runs. The emulator runs real processes through
`sandbox_runner.SandboxRunner` (one agent per node forks them, on the host or in the node's
sandbox); `ProcessRunner` here starts each one from the emulator itself (optionally wrapped in a
sandbox of its own), the simple way, kept for comparison and for embedding.

Command lines follow the service on Linux: split into argv like a shell would split words
(`shlex.split`), with no expansion, redirection or pipes unless the command itself starts a shell
(`/bin/sh -c "..."`). Each run gets its own process group, so a kill (terminate, wall-clock
limit, node reboot, shutdown) takes the whole process tree. Its stdout.txt, stderr.txt and wd/
are made inside the node folder without following any link (`contained.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from batch_mcp.emulator.contained import Folder, Unreachable
from batch_mcp.emulator.sandbox import Sandbox

KILLED_EXIT_CODE = 137  # what Linux reports for a process ended with SIGKILL (128 + 9)


@dataclass
class RunSpec:
    key: str  # unique per run, used to kill it
    command_line: str
    task_dir: Path  # holds stdout.txt, stderr.txt and wd/
    env: dict[str, str]
    timeout: float | None = None  # wall-clock seconds; None = unlimited
    container: bool = False  # container settings cannot be honoured locally
    root: Path | None = None  # the folder whose paths the run's own files may use (the nodes root); None: task_dir

    @property
    def wd(self) -> Path:
        return self.task_dir / "wd"

    @property
    def stdout(self) -> Path:
        return self.task_dir / "stdout.txt"

    @property
    def stderr(self) -> Path:
        return self.task_dir / "stderr.txt"


@dataclass
class RunResult:
    start: float
    end: float
    exit_code: int | None = None
    failure: dict[str, Any] | None = None  # TaskFailureInformation
    killed: bool = False  # ended by kill() (terminate, requeue, shutdown)
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        return self.failure is None and self.exit_code == 0


def ended(begin: float, code: int | None, *, killed: bool, timed_out: bool) -> RunResult:
    """The result of a task process that has exited with `code` (negative: ended by that signal,
    reported as a shell would, 128 + signal)."""
    if code is not None and code < 0:
        code = 128 - code
    result = RunResult(begin, time.time(), exit_code=code, killed=killed, timed_out=timed_out)
    if timed_out:
        result.failure = failure(
            "MaxWallClockTimeExceeded", "The task ran longer than its maxWallClockTime and was ended."
        )
    return result


def failure(code: str, message: str, category: str = "usererror", **details: str) -> dict[str, Any]:
    out: dict[str, Any] = {"category": category, "code": code, "message": message}
    if details:
        out["details"] = [{"name": k, "value": v} for k, v in details.items()]
    return out


StartedHook = Callable[[int, float], None]  # (pid, process start time on /proc clock or 0)


class Runner(Protocol):
    async def run(self, spec: RunSpec, started: StartedHook | None = None) -> RunResult: ...

    def kill(self, key: str) -> bool: ...

    def kill_all(self) -> None: ...


class FolderUnusable(Exception):
    """The run's folder cannot be prepared inside its root (a link where a folder should be)."""


def _own_folder(spec: RunSpec) -> tuple[Folder, list[str]]:
    root = spec.root or spec.task_dir
    return Folder(root, follow=False), list(spec.task_dir.relative_to(root).parts)


def prepare_folders(spec: RunSpec) -> None:
    """The task folder and its wd/, created without following any link on the way."""
    try:
        folder, parts = _own_folder(spec)
        with folder:
            folder.make_dirs([*parts, "wd"])
    except (Unreachable, OSError) as exc:
        raise FolderUnusable(str(spec.task_dir)) from exc


def open_outputs(spec: RunSpec) -> tuple[BinaryIO, BinaryIO]:
    """New stdout.txt and stderr.txt in the task folder: a link an earlier run left in their
    place is replaced, never written through."""
    try:
        folder, parts = _own_folder(spec)
        with folder:
            out = os.fdopen(folder.open_write([*parts, "stdout.txt"]), "wb")
            try:
                err = os.fdopen(folder.open_write([*parts, "stderr.txt"]), "wb")
            except BaseException:
                out.close()
                raise
    except (Unreachable, IsADirectoryError, OSError) as exc:
        raise FolderUnusable(str(spec.task_dir)) from exc
    return out, err


def empty_outputs(spec: RunSpec) -> None:
    out, err = open_outputs(spec)
    out.close()
    err.close()


def unusable_folder(begin: float) -> RunResult:
    return RunResult(
        begin,
        time.time(),
        failure=failure(
            "TaskFolderUnusable",
            "The task's folder on the node cannot be used: something other than a folder stands in its place.",
        ),
    )


def container_failure() -> dict[str, Any]:
    return failure(
        "ContainerNotSupported",
        "Container settings are accepted, but the local Batch emulator cannot run containers; run the command "
        "without containerSettings.",
    )


def node_folder(spec: RunSpec) -> Path:
    """The node's folder a run belongs to (`<root>/<pool>/<node>`), the one place its sandbox may write."""
    if spec.root is None:
        return spec.task_dir
    parts = spec.task_dir.relative_to(spec.root).parts
    return spec.root.joinpath(*parts[:2]) if len(parts) >= 2 else spec.task_dir


def find_program(name: str, spec: RunSpec) -> Path | None:
    """Where the program of a command line is, as the process would find it (PATH, or wd-relative)."""
    if "/" in name:
        path = spec.wd / name
        return path if path.exists() else None
    found = shutil.which(name, path=spec.env.get("PATH", ""))
    return Path(found) if found else None


class ProcessRunner:
    """Runs command lines as local processes, one process group each; in a sandbox when given one."""

    def __init__(self, sandbox: Sandbox | None = None) -> None:
        self._running: dict[str, asyncio.subprocess.Process] = {}
        self._killed: set[str] = set()
        self.sandbox = sandbox

    @property
    def isolation(self) -> str:
        return self.sandbox.kind if self.sandbox is not None else "none"

    @property
    def confinement(self) -> Sandbox | None:
        return self.sandbox

    def _in_sandbox(self, argv: list[str], spec: RunSpec) -> list[str] | dict[str, Any]:
        """The argv to start, or the failure to report when the program cannot run in the sandbox."""
        if self.sandbox is None:
            return argv
        program = find_program(argv[0], spec)
        if program is None:
            return failure("CommandProgramNotFound", f"The program {argv[0]!r} was not found.")
        if self.sandbox.hides(program):
            return failure(
                "CommandProgramNotFound",
                f"The program {argv[0]!r} ({program}) lies in a folder the task sandbox hides (the home folder, "
                "/tmp, /run or the emulator's state); install it system-wide or ship it with the task's files.",
            )
        return self.sandbox.wrap(argv, writable=node_folder(spec), cwd=spec.wd)

    async def run(self, spec: RunSpec, started: StartedHook | None = None) -> RunResult:
        begin = time.time()
        try:
            prepare_folders(spec)
            if spec.container:
                empty_outputs(spec)
                return RunResult(begin, time.time(), failure=container_failure())
            out, err = open_outputs(spec)
        except FolderUnusable:
            return unusable_folder(begin)
        try:
            argv = shlex.split(spec.command_line)
        except ValueError as exc:
            out.close()
            err.close()
            return RunResult(
                begin, time.time(), failure=failure("CommandLaunchFailed", f"The command line cannot be parsed: {exc}.")
            )
        if not argv:
            out.close()
            err.close()
            return RunResult(begin, time.time(), failure=failure("CommandLaunchFailed", "The command line is empty."))
        wrapped = self._in_sandbox(argv, spec)
        if isinstance(wrapped, dict):
            out.close()
            err.close()
            return RunResult(begin, time.time(), failure=wrapped)
        argv = wrapped
        with out, err:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=spec.wd,
                    env=spec.env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            except FileNotFoundError:
                return RunResult(
                    begin,
                    time.time(),
                    failure=failure("CommandProgramNotFound", f"The program {argv[0]!r} was not found."),
                )
            except OSError as exc:
                return RunResult(
                    begin,
                    time.time(),
                    failure=failure("CommandLaunchFailed", f"The command could not start: {exc.strerror}."),
                )
        self._running[spec.key] = proc
        if started is not None:
            started(proc.pid, process_start_ticks(proc.pid))
        timed_out = False
        try:
            if spec.timeout is not None:
                try:
                    await asyncio.wait_for(proc.wait(), timeout=max(spec.timeout - (time.time() - begin), 0.0))
                except TimeoutError:
                    timed_out = True
                    kill_group(proc.pid)
                    await proc.wait()
            else:
                await proc.wait()
        except BaseException:
            kill_group(proc.pid)
            with contextlib.suppress(BaseException):
                await asyncio.shield(proc.wait())
            raise
        finally:
            self._running.pop(spec.key, None)
        killed = spec.key in self._killed
        self._killed.discard(spec.key)
        return ended(begin, proc.returncode, killed=killed, timed_out=timed_out)

    def kill(self, key: str) -> bool:
        proc = self._running.get(key)
        if proc is None:
            return False
        self._killed.add(key)
        kill_group(proc.pid)
        return True

    def kill_all(self) -> None:
        for key in list(self._running):
            self.kill(key)


@dataclass
class InstantRunner:
    """Finishes every run at once without starting a process: for fast tests of state machines.

    `script`, if given, decides each run's exit code from its spec."""

    exit_code: int = 0
    script: Callable[[RunSpec], int] | None = None
    _killed: set[str] = field(default_factory=set)

    async def run(self, spec: RunSpec, started: StartedHook | None = None) -> RunResult:
        begin = time.time()
        try:
            prepare_folders(spec)
            empty_outputs(spec)
        except FolderUnusable:
            return unusable_folder(begin)
        if spec.container:
            return RunResult(begin, time.time(), failure=container_failure())
        if started is not None:
            started(0, 0.0)
        await asyncio.sleep(0)
        code = self.script(spec) if self.script else self.exit_code
        return RunResult(begin, time.time(), exit_code=code)

    def kill(self, key: str) -> bool:
        return False

    def kill_all(self) -> None:
        return None


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def process_start_ticks(pid: int) -> float:
    """The process's start time from /proc (clock ticks since boot), to recognise it after a restart."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[-1].split()
    return float(fields[19]) if len(fields) > 19 else 0.0


def kill_leftover(pid: int, start_ticks: float) -> bool:
    """After a restart: end the process group of a run the previous emulator left behind, if that
    process is still the same one (same start time), so a requeued task never runs twice at once."""
    if pid <= 0 or not start_ticks:
        return False
    if process_start_ticks(pid) != start_ticks:
        return False
    kill_group(pid)
    return True
