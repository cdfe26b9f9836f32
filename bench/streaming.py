"""A large node file through the MCP server: the HTTP streaming endpoint and ranged resource reads,
against a direct download from the same emulator, with the server's peak memory growth.

    python bench/streaming.py [--size-mib 1024] [--runs 3] [--reads 20]

Three processes: the emulator (`python -m batch_mcp.emulator`), the server over HTTP
(`python -m batch_mcp --transport http --endpoint <emulator>`), and this script as the client. A
task writes the file on the emulator's node; the script then, per run and in alternating order,
downloads it directly from the emulator's node-file API and through `/files/...` on the server,
and reads `--reads` windows of it as `batch://pools/.../files/...?range=...` resources. Peak RSS
growth of the server is measured per transfer (Linux: /proc/PID/clear_refs resets VmHWM). Printed:
medians over the runs (target: growth at most 64 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

MIB = 1024 * 1024
API_VERSION = "2024-02-01.19.0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class PeakMemory:
    """Peak RSS growth and CPU time of a process over a block (VmHWM is reset to the current RSS on entry)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.growth_mib = 0.0
        self.cpu = 0.0

    def __enter__(self) -> PeakMemory:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5", encoding="utf-8")
        self.start = memory_kib(self.pid, "VmRSS")
        self.cpu_start = cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.growth_mib = (memory_kib(self.pid, "VmHWM") - self.start) / 1024
        self.cpu = cpu_seconds(self.pid) - self.cpu_start


def start_emulator(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batch_mcp.emulator",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--transition-delay",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        raise RuntimeError(f"the emulator did not start: {line!r}")
    return proc, line.split("listening on ")[1].split()[0]


def start_server(endpoint: str, port: int, token: str, tmp: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATCH_MCP_", "AZURE_BATCH_"))}
    env["BATCH_MCP_AUDIT_LOG"] = str(tmp / "audit.jsonl")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batch_mcp",
            "--transport",
            "http",
            "--port",
            str(port),
            "--token",
            token,
            "--endpoint",
            endpoint,
            "--auth",
            "none",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx2.get(f"http://127.0.0.1:{port}/mcp", timeout=0.5)
            return proc
        except httpx2.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")


async def make_file(endpoint: str, size: int) -> tuple[str, str]:
    """A task on the seed pool writes `size` random bytes to wd/big.bin; returns (node id, task folder)."""
    from batch_mcp.batch import connect
    from batch_mcp.catalog import load_catalog

    async with connect(load_catalog(API_VERSION), endpoint, auth_kind="none", timeout=120) as client:
        await client.call("job_add", {"id": "bench", "poolInfo": {"poolId": "local"}})
        command = f"/bin/sh -c 'head -c {size} /dev/urandom > big.bin'"
        await client.call("task_add", {"job_id": "bench", "id": "writer", "commandLine": command})
        while True:
            task = (await client.call("task_get", {"job_id": "bench", "task_id": "writer"})).data
            if task.get("state") == "completed":
                break
            await asyncio.sleep(0.2)
        if task["executionInfo"].get("exitCode") != 0:
            raise RuntimeError(f"the writer task failed: {task['executionInfo']}")
        node = task["nodeInfo"]
        return node["nodeId"], node["taskRootDirectory"]


async def download(http: httpx2.AsyncClient, url: str, expect: int) -> float:
    """Seconds to stream `url` to nowhere; checks the byte count."""
    received = 0
    started = time.perf_counter()
    async with http.stream("GET", url) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            received += len(chunk)
    elapsed = time.perf_counter() - started
    if received != expect:
        raise RuntimeError(f"{url}: {received} bytes instead of {expect}")
    return elapsed


async def ranged_reads(base: str, token: str, uri: str, size: int, reads: int) -> list[float]:
    import mcp
    from mcp.client.streamable_http import streamable_http_client

    window = 256 * 1024
    rng = random.Random(7)
    times: list[float] = []
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
        mcp.Client(streamable_http_client(base + "/mcp", http_client=http)) as client,
    ):
        await client.read_resource(f"{uri}?range=0-{window - 1}")  # warm up
        for _ in range(reads):
            start = rng.randrange(0, size - window)
            started = time.perf_counter()
            result = await client.read_resource(f"{uri}?range={start}-{start + window - 1}")
            times.append(time.perf_counter() - started)
            info = result.contents[0].meta["batch-mcp/file"]
            if (info["start"], info["end"], info["size"]) != (start, start + window - 1, size):
                raise RuntimeError(f"unexpected window {info}")
    return times


async def bench(args: argparse.Namespace, tmp: Path) -> None:
    size = args.size_mib * MIB
    emulator, endpoint = start_emulator(tmp / "emulator")
    server = None
    try:
        print(f"writing a {args.size_mib} MiB file on the emulator's node ...", flush=True)
        node, folder = await make_file(endpoint, size)
        path = f"{folder}/wd/big.bin"
        port, token = free_port(), secrets.token_urlsafe(16)
        server = start_server(endpoint, port, token, tmp)
        base = f"http://127.0.0.1:{port}"
        direct_url = f"{endpoint}/pools/local/nodes/{node}/files/{path}?api-version={API_VERSION}"
        served_url = f"{base}/files/pools/local/nodes/{node}/files/{path}"
        uri = f"batch://pools/local/nodes/{node}/files/{path}"
        direct: list[float] = []
        served: list[float] = []
        growth: list[float] = []
        cpu: list[float] = []
        read_times: list[float] = []
        read_growth: list[float] = []
        async with (
            httpx2.AsyncClient(timeout=300, headers={"Accept-Encoding": "identity"}) as plain,
            httpx2.AsyncClient(timeout=300, headers={"Authorization": f"Bearer {token}"}) as authed,
        ):
            await download(authed, f"{base}/files/pools/local/nodes/{node}/files/{folder}/stdout.txt", 0)  # warm-up
            for run in range(args.runs):
                order = ("direct", "served") if run % 2 == 0 else ("served", "direct")
                for name in order:
                    if name == "direct":
                        direct.append(await download(plain, direct_url, size))
                    else:
                        with PeakMemory(server.pid) as peak:
                            served.append(await download(authed, served_url, size))
                        growth.append(peak.growth_mib)
                        cpu.append(peak.cpu)
                with PeakMemory(server.pid) as peak:
                    read_times += await ranged_reads(base, token, uri, size, args.reads)
                read_growth.append(peak.growth_mib)
                print(f"run {run + 1}/{args.runs} done", flush=True)
    finally:
        for proc in (server, emulator):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=20)

    def rate(seconds: list[float]) -> float:
        return size / MIB / statistics.median(seconds)

    print(f"\n{args.size_mib} MiB node file, {args.runs} runs (medians); server peak RSS growth target <= 64 MB\n")
    print(f"{'transfer':<40} {'time':>10} {'MiB/s':>7} {'server peak RSS growth':>23}")
    print(
        f"{'direct download from the emulator':<40} {statistics.median(direct):>8.2f} s {rate(direct):>7.0f} {'-':>23}"
    )
    print(
        f"{'through /files/... on the MCP server':<40} {statistics.median(served):>8.2f} s {rate(served):>7.0f} "
        f"{statistics.median(growth):>20.1f} MB"
    )
    read_ms = statistics.median(read_times) * 1000
    print(
        f"{'resources/read of a 256 KiB ?range=':<40} {read_ms:>7.1f} ms {250 / read_ms:>7.1f} "
        f"{statistics.median(read_growth):>20.1f} MB"
    )
    print(
        f"\nthe endpoint ran at {rate(served) / rate(direct):.0%} of the direct download; largest peak growth in any "
        f"run: {max(growth):.1f} MB (endpoint), {max(read_growth):.1f} MB ({args.reads} reads)"
    )
    print(
        f"server CPU per GiB through the endpoint: {statistics.median(cpu) / (size / 1024 / MIB):.2f} s "
        f"(2 cores shared by the emulator, the server and this client)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reads", type=int, default=20, help="ranged resource reads per run")
    args = parser.parse_args()
    if not Path("/proc/self/clear_refs").exists():
        print("needs Linux /proc to measure peak memory", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        asyncio.run(bench(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
