"""Running task processes in the sandbox, through one node agent per node.

A sandbox takes several milliseconds to build and every task of a node sees the same one (its
node folder writable, the rest read-only or hidden), so each node gets one sandbox, built the
first time the node runs something, with a small agent inside it (`node_agent.py`) that forks the
node's task processes on request. A task then costs what it costs on the host: a fork and an exec.

The agent is rebuilt when its node folder was replaced (a reimage, a node that left and came back)
or when it died; when the emulator stops, closing its socket ends the agent and, with the
sandbox's pid namespace, every process in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shlex
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch_mcp.emulator.runner import (
    KILLED_EXIT_CODE,
    FolderUnusable,
    RunResult,
    RunSpec,
    StartedHook,
    container_failure,
    empty_outputs,
    ended,
    failure,
    find_program,
    node_folder,
    open_outputs,
    prepare_folders,
    process_start_ticks,
    unusable_folder,
)
from batch_mcp.emulator.sandbox import Sandbox

AGENT_SOURCE = Path(__file__).with_name("node_agent.py").read_text(encoding="utf-8")
SEND_BUFFER = 4 * 1024 * 1024  # a run message carries the task's environment


def interpreter() -> tuple[str, list[Path]]:
    """The Python that runs agents, and the folder it lives in (bound read-only into a sandbox
    that would otherwise hide it, e.g. a pyenv under the home folder)."""
    executable = os.path.realpath(sys.executable)
    return executable, [Path(os.path.realpath(sys.base_prefix))]


@dataclass
class Run:
    started: asyncio.Future[int]
    exited: asyncio.Future[int]


@dataclass
class NodeAgent:
    """One node's sandbox and the agent in it."""

    sandbox: Sandbox
    node_dir: Path
    process: asyncio.subprocess.Process | None = None
    sock: socket.socket | None = None
    inode: int = -1
    runs: dict[str, Run] = field(default_factory=dict)
    reader: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None and self.sock is not None

    def current(self) -> bool:
        """Still the agent of this node folder (not of one that was removed and made again)."""
        try:
            return self.alive and self.node_dir.stat().st_ino == self.inode
        except OSError:
            return False

    async def start(self) -> None:
        python, expose = interpreter()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        argv = self.sandbox.wrap(
            [python, "-I", "-S", "-c", AGENT_SOURCE], writable=self.node_dir, cwd=self.node_dir, expose=expose
        )
        try:
            self.inode = self.node_dir.stat().st_ino
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=theirs.fileno(),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock = ours
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.sock is not None
        try:
            while True:
                data = await loop.sock_recv(self.sock, 1 << 16)
                if not data:
                    break
                message = json.loads(data)
                run = self.runs.get(message.get("id", ""))
                if run is None:
                    continue
                op = message.get("op")
                if op == "started" and not run.started.done():
                    run.started.set_result(int(message.get("pid", 0)))
                elif op == "failed" and not run.started.done():
                    run.started.set_exception(OSError(int(message.get("errno", 0)), "cannot start"))
                elif op == "exited" and not run.exited.done():
                    run.exited.set_result(int(message.get("code", KILLED_EXIT_CODE)))
        except (OSError, ValueError):
            pass
        finally:
            self._lost()

    def _lost(self) -> None:
        """The agent is gone: whatever it ran is gone with it."""
        for run in self.runs.values():
            if not run.started.done():
                run.started.set_exception(OSError(errno.ECHILD, "the node agent stopped"))
            if not run.exited.done():
                run.exited.set_result(-9)
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    async def send(self, message: dict[str, Any], fds: list[int] | None = None) -> None:
        loop = asyncio.get_running_loop()
        data = json.dumps(message).encode()
        while True:
            if self.sock is None:
                raise OSError(errno.EPIPE, "the node agent stopped")
            try:
                if fds:
                    socket.send_fds(self.sock, [data], fds)
                else:
                    self.sock.send(data)
                return
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_writer(self.sock.fileno(), ready.set_result, None)
                try:
                    await ready
                finally:
                    loop.remove_writer(self.sock.fileno())

    def kill(self, key: str) -> None:
        if key in self.runs and self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.send(json.dumps({"op": "kill", "id": key}).encode())

    async def aclose(self, grace: float = 5.0) -> None:
        """End the agent: its socket closes, so it ends every task it started and exits (on the
        host its tasks have sessions of their own: only the agent can end them all); killed if
        it does not within `grace` seconds (a sandbox's pid namespace then takes the rest)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.process is not None and self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), timeout=grace)
            except TimeoutError:
                self.close()
        if self.reader is not None:
            self.reader.cancel()

    def close(self) -> None:
        """End the agent at once (see aclose for the orderly way)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, 9)
        if self.reader is not None:
            self.reader.cancel()


class SandboxRunner:
    """Runs command lines in the sandbox, through each node's agent (see the module docstring)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._agents: dict[Path, NodeAgent] = {}
        self._locks: dict[Path, asyncio.Lock] = {}
        self._where: dict[str, NodeAgent] = {}
        self._killed: set[str] = set()

    @property
    def isolation(self) -> str:
        return self.sandbox.kind  # "none": the agents run on the host

    @property
    def confinement(self) -> Sandbox | None:
        """What limits resource files fetched for these tasks (None: nothing, on the host)."""
        return None if self.sandbox.kind == "none" else self.sandbox

    async def _agent(self, node_dir: Path) -> NodeAgent:
        lock = self._locks.setdefault(node_dir, asyncio.Lock())
        async with lock:
            agent = self._agents.get(node_dir)
            if agent is None or not agent.current():
                if agent is not None:
                    agent.close()
                agent = NodeAgent(self.sandbox, node_dir)
                await agent.start()
                self._agents[node_dir] = agent
            return agent

    def _check(self, spec: RunSpec) -> list[str] | dict[str, Any]:
        try:
            argv = shlex.split(spec.command_line)
        except ValueError as exc:
            return failure("CommandLaunchFailed", f"The command line cannot be parsed: {exc}.")
        if not argv:
            return failure("CommandLaunchFailed", "The command line is empty.")
        program = find_program(argv[0], spec)
        if program is None:
            return failure("CommandProgramNotFound", f"The program {argv[0]!r} was not found.")
        if self.sandbox.hides(program):
            return failure(
                "CommandProgramNotFound",
                f"The program {argv[0]!r} ({program}) lies in a folder the task sandbox hides (the home folder, "
                "/tmp, /run or the emulator's state); install it system-wide or ship it with the task's files.",
            )
        return argv

    async def run(self, spec: RunSpec, started: StartedHook | None = None) -> RunResult:
        begin = time.time()
        try:
            prepare_folders(spec)
            if spec.container:
                empty_outputs(spec)
                return RunResult(begin, time.time(), failure=container_failure())
            checked = self._check(spec)
            if isinstance(checked, dict):
                empty_outputs(spec)
                return RunResult(begin, time.time(), failure=checked)
            out, err = open_outputs(spec)
        except FolderUnusable:
            return unusable_folder(begin)
        agent = await self._agent(node_folder(spec))
        loop = asyncio.get_running_loop()
        run = Run(loop.create_future(), loop.create_future())
        agent.runs[spec.key] = run
        self._where[spec.key] = agent
        try:
            with out, err:
                message = {"op": "run", "id": spec.key, "argv": checked, "cwd": str(spec.wd), "env": spec.env}
                await agent.send(message, [out.fileno(), err.fileno()])
            try:
                pid = await run.started
            except OSError as exc:
                code = "CommandProgramNotFound" if exc.errno == errno.ENOENT else "CommandLaunchFailed"
                return RunResult(begin, time.time(), failure=failure(code, f"The command could not start: {exc}."))
            if started is not None:
                if self.sandbox.kind == "none":
                    started(pid, process_start_ticks(pid))  # recorded, so a restart can end it if left behind
                else:
                    started(0, 0.0)  # a pid of the sandbox's own; the sandbox ends with the emulator
            timed_out = False
            if spec.timeout is not None:
                try:
                    code = await asyncio.wait_for(
                        asyncio.shield(run.exited), timeout=max(spec.timeout - (time.time() - begin), 0.0)
                    )
                except TimeoutError:
                    timed_out = True
                    agent.kill(spec.key)
                    code = await run.exited
            else:
                code = await run.exited
        except BaseException:
            agent.kill(spec.key)
            raise
        finally:
            agent.runs.pop(spec.key, None)
            self._where.pop(spec.key, None)
        killed = spec.key in self._killed
        self._killed.discard(spec.key)
        return ended(begin, code, killed=killed, timed_out=timed_out)

    def kill(self, key: str) -> bool:
        agent = self._where.get(key)
        if agent is None:
            return False
        self._killed.add(key)
        agent.kill(key)
        return True

    def kill_all(self) -> None:
        for key in list(self._where):
            self.kill(key)

    async def aclose(self) -> None:
        agents = list(self._agents.values())
        self._agents.clear()
        await asyncio.gather(*(agent.aclose() for agent in agents))
