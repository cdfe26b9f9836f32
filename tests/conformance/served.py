"""The real batch-mcp HTTP server as a subprocess, and the token-adding proxy the conformance suite
talks through (conformance/auth_proxy.py: the suite cannot send an Authorization header)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parents[2]
AUTH_PROXY = ROOT / "conformance" / "auth_proxy.py"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Served:
    url: str  # http://127.0.0.1:PORT/mcp of batch-mcp itself (needs the token)
    token: str = field(repr=False)  # pytest prints fixture values in tracebacks
    suite_url: str  # the same endpoint through the proxy that adds the token
    stderr: Path


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open while choosing, so they differ)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def server_env(workdir: Path, token: str) -> dict[str, str]:
    """The caller's environment without any Batch account settings (so the embedded emulator is
    used, whatever the developer's shell has), plus the test settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_BATCH_", "BATCH_MCP_"))}
    return env | {
        "BATCH_MCP_EMULATOR_DATA_DIR": ":memory:",
        "BATCH_MCP_AUDIT_LOG": str(workdir / "audit.jsonl"),
        "BATCH_MCP_EMULATOR_TRANSITION_DELAY": "0.05",
        "BATCH_MCP_TOKEN": token,  # from the environment, so the token is not on a command line
    }


@contextmanager
def serve(workdir: Path, *server_args: str) -> Iterator[Served]:
    """batch-mcp over Streamable HTTP on a free loopback port, with its auth proxy."""
    workdir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    env = server_env(workdir, token)
    port, proxy_port = free_ports(2)
    url = f"http://127.0.0.1:{port}/mcp"
    server_log = workdir / "server.stderr"
    with ExitStack() as stack:
        command = [sys.executable, "-m", "batch_mcp", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)]
        stack.enter_context(_process([*command, *server_args], env, server_log, url, "batch-mcp"))
        proxy = [sys.executable, str(AUTH_PROXY), "--port", str(proxy_port), "--upstream", f"http://127.0.0.1:{port}"]
        suite_url = f"http://127.0.0.1:{proxy_port}/mcp"
        stack.enter_context(_process(proxy, env, workdir / "proxy.stderr", suite_url, "auth proxy"))
        yield Served(url=url, token=token, suite_url=suite_url, stderr=server_log)


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path, url: str, what: str) -> Iterator[None]:
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
        try:
            _wait_until_answering(process, url, log, what)
            yield
        finally:
            _stop(process)


def _wait_until_answering(process: subprocess.Popen[bytes], url: str, log: Path, what: str) -> None:
    """Poll until the endpoint answers HTTP at all (401 without a token is an answer), bounded."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before answering:\n{_tail(log)}")
        try:
            httpx2.get(url, timeout=2.0)
            return
        except httpx2.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{what} did not answer on {url} within {START_TIMEOUT_SECONDS}s:\n{_tail(log)}"
                ) from None
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly on SIGINT
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
