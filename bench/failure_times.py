"""How long `batch-mcp doctor` takes on a good and on each kind of bad configuration, and how long
`batch-mcp call pool_list` takes to fail on an endpoint that cannot be reached.

    python bench/failure_times.py [--rounds 5]

Every command runs as a fresh process (what a user waits for at a terminal), in rounds that visit
each configuration in turn, so machine noise spreads over all of them. A standalone emulator
(`batch-mcp emulator --dev-account`) stands in for a Batch account with Shared Key; a tiny
plain-HTTP server stands in for an endpoint written without `http://`. Printed: the median and the
range of wall time per configuration, with the exit code; `--version` is the floor (starting
Python and parsing the command line).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEV_ACCOUNT = "devbatchaccount1"
DEV_KEY = "ZGV2YmF0Y2hhY2NvdW50MS1sb2NhbC1lbXVsYXRvci1rZXktbm90LWEtc2VjcmV0IQ=="


@contextmanager
def standalone_emulator() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "batch_mcp", "emulator", "--port", "0", "--data-dir", ":memory:", "--dev-account"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        yield line.split("listening on ", 1)[1].split()[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


@contextmanager
def plain_http() -> Iterator[int]:
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "batch_mcp", *argv], env=env, capture_output=True, timeout=300, stdin=subprocess.DEVNULL
    )
    return time.perf_counter() - started, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BATCH_MCP_", "AZURE_BATCH_"))}
    base |= {"BATCH_MCP_AUDIT_LOG": "off", "BATCH_MCP_EMULATOR_DATA_DIR": ":memory:"}
    keyed = base | {"AZURE_BATCH_ACCOUNT": DEV_ACCOUNT, "AZURE_BATCH_ACCESS_KEY": DEV_KEY}
    wrong = keyed | {"AZURE_BATCH_ACCESS_KEY": "d3Jvbmcta2V5LXdyb25nLWtleQ=="}
    with standalone_emulator() as emulator, plain_http() as plain:
        closed = f"http://127.0.0.1:{closed_port()}"
        cases: list[tuple[str, list[str], dict[str, str]]] = [
            ("--version (floor)", ["--version"], base),
            ("doctor: embedded emulator (good)", ["doctor"], base),
            ("doctor: standalone emulator, Shared Key (good)", ["doctor", "--endpoint", emulator], keyed),
            ("doctor: wrong key", ["doctor", "--endpoint", emulator], wrong),
            ("doctor: no such host", ["doctor", "--endpoint", "https://no-such-host.invalid"], base),
            ("doctor: connection refused", ["doctor", "--endpoint", closed], base),
            ("doctor: plain HTTP written as https", ["doctor", "--endpoint", f"127.0.0.1:{plain}"], base),
            ("doctor: not an http(s) URL", ["doctor", "--endpoint", "ftp://acct"], base),
            ("call: no such host", ["call", "pool_list", "--endpoint", "https://no-such-host.invalid"], base),
            ("call: connection refused", ["call", "pool_list", "--endpoint", closed], base),
            ("call: plain HTTP written as https", ["call", "pool_list", "--endpoint", f"127.0.0.1:{plain}"], base),
            ("call: good (standalone emulator)", ["call", "pool_list", "--endpoint", emulator], keyed),
        ]
        times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        codes: dict[str, int] = {}
        for _ in range(rounds):
            for name, argv, env in cases:
                seconds, code = timed(argv, env)
                times[name].append(seconds)
                codes[name] = code
    width = max(len(name) for name in times)
    print(f"{'configuration':<{width}}  exit  median s  range s")
    for name, values in times.items():
        low, high = min(values), max(values)
        print(f"{name:<{width}}  {codes[name]:>4}  {statistics.median(values):>8.2f}  {low:.2f}-{high:.2f}")


if __name__ == "__main__":
    main()
