"""The node agent: one small process per emulated node, started inside the node's sandbox, that
starts the node's task processes on the emulator's behalf.

Building a sandbox (namespaces, a read-only view with the node folder writable) costs several
milliseconds; a node's tasks all share the same view, so the emulator builds it once per node and
asks this agent to fork each task inside it (about a millisecond). The agent is run as
`python -I -S -c <this file's source>` (standard library only: nothing of the project or the
user's site is importable in the sandbox), with its standard input a SOCK_SEQPACKET socket:

    emulator → agent   {"op": "run", "id": ..., "argv": [...], "cwd": ..., "env": {...}}
                       with two file descriptors attached (the task's stdout.txt and stderr.txt,
                       opened by the emulator inside the node folder)
                       {"op": "kill", "id": ...}
    agent → emulator   {"op": "started", "id": ..., "pid": ...}
                       {"op": "failed", "id": ..., "errno": ...}    (the program could not start)
                       {"op": "exited", "id": ..., "code": ...}     (negative: ended by that signal)

Each task gets its own session (so a kill takes its whole process tree) and the environment it
was given. When the emulator goes away (the socket closes), the agent ends every task and exits;
the sandbox's pid namespace then takes anything left with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket

MAX_MESSAGE = 1 << 20


def send(sock: socket.socket, message: dict) -> None:
    with contextlib.suppress(OSError):  # the emulator is gone: the read loop ends on EOF
        sock.send(json.dumps(message).encode())


def start(sock: socket.socket, request: dict, fds: list[int], running: dict[int, str]) -> None:
    ident = request.get("id", "")
    if len(fds) != 2:
        for fd in fds:
            os.close(fd)
        send(sock, {"op": "failed", "id": ident, "errno": 22})
        return
    err_read, err_write = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the task: its own session, its files, its folder, its environment
        try:
            os.setsid()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(fds[0], 1)
            os.dup2(fds[1], 2)
            os.chdir(request["cwd"])
            argv = request["argv"]
            os.execvpe(argv[0], argv, request["env"])
        except OSError as exc:
            os.write(err_write, str(exc.errno or 0).encode())
        except BaseException:
            os.write(err_write, b"0")
        os._exit(127)
    os.close(err_write)
    for fd in fds:
        os.close(fd)
    failure = os.read(err_read, 32)  # empty: the exec happened (the pipe closed on exec)
    os.close(err_read)
    if failure:
        os.waitpid(pid, 0)
        send(sock, {"op": "failed", "id": ident, "errno": int(failure or b"0")})
        return
    running[pid] = ident
    send(sock, {"op": "started", "id": ident, "pid": pid})


def reap(sock: socket.socket, running: dict[int, str]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        ident = running.pop(pid, None)
        if ident is None:
            continue  # a task's orphan, adopted by this process: nothing to report
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        send(sock, {"op": "exited", "id": ident, "code": code})


def kill(ident: str, running: dict[int, str]) -> None:
    for pid, known in list(running.items()):
        if known == ident:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)


def main() -> None:
    sock = socket.socket(fileno=0)
    wake_read, wake_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    running: dict[int, str] = {}
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is sock:
                try:
                    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 2)
                except InterruptedError:
                    continue
                if not data:
                    for pid in list(running):
                        with contextlib.suppress(OSError):
                            os.killpg(pid, signal.SIGKILL)
                    return
                request = json.loads(data)
                if request.get("op") == "run":
                    start(sock, request, fds, running)
                elif request.get("op") == "kill":
                    kill(request.get("id", ""), running)
            else:
                try:
                    while os.read(wake_read, 512):
                        pass
                except BlockingIOError:
                    pass
            reap(sock, running)


if __name__ == "__main__":
    main()
