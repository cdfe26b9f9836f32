"""Submitting many tasks: our `tasks_submit` tool against the official SDK's `create_tasks`.

    python bench/submit.py [--tasks 10000] [--runs 7]

One emulator (a separate process on a free loopback port, Shared Key with the published dev
account) serves both sides. Each run submits the same number of small tasks to a fresh job on a
pool without nodes (so nothing runs and the emulator only stores them), alternating which side
goes first:

- ours: `tasks_submit` called through an in-memory MCP client, so the time includes the MCP
  round trip, argument validation against the full task model, and the audit log line;
- SDK: `azure.batch.BatchClient.create_tasks(job_id, tasks, max_concurrency=8)` (azure-batch
  15.1.0, api-version 2025-06-01), tasks built as `BatchTaskCreateOptions`;
  the time to build those models from the same dicts is shown on its own line too;
- for reference, our REST client alone: `BatchClient.add_tasks(job_id, tasks)`, which the tool
  calls after validation; the difference to the first line is what MCP, validation and audit cost.

Each run is checked (every task added, task counts equal to the number sent). Printed: each run's
seconds, the median per side, and tasks per second.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from batch_mcp.emulator import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME

POOL = "bench-empty"
IMAGE = {
    "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
    "nodeAgentSKUId": "batch.node.ubuntu 22.04",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_emulator(port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "batch_mcp.emulator",
        "--port",
        str(port),
        "--data-dir",
        ":memory:",
        "--dev-account",
        "--runner",
        "instant",
        "--transition-delay",
        "0.05",
        "--no-seed-pool",
    ]
    return subprocess.Popen(command)


def wait_until_listening(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx2.get(f"{url}/pools", params={"api-version": "2024-02-01.19.0"}, timeout=1.0)
            return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the emulator did not start at {url}")


def make_tasks(count: int, prefix: str) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}-{i:06d}", "commandLine": f"/bin/sh -c 'echo task {i}'"} for i in range(count)]


class Ours:
    """An MCP server pointed at the emulator, and an in-memory MCP client calling it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.folder = tempfile.TemporaryDirectory()

    async def __aenter__(self) -> Ours:
        import mcp

        from batch_mcp.server import create_server
        from batch_mcp.settings import Settings

        settings = Settings(
            endpoint=self.url,
            account=DEV_ACCOUNT_NAME,
            access_key=DEV_ACCOUNT_KEY,
            auth="shared_key",
            audit_log=Path(self.folder.name) / "audit.jsonl",
            emulator_exec="unrestricted",  # the endpoint is the local emulator; the bench runs its own command lines
        )
        self.client = mcp.Client(create_server(settings))
        await self.client.__aenter__()
        await self.ok(
            "pool_add",
            {"id": POOL, "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 0, "virtualMachineConfiguration": IMAGE},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.__aexit__(*exc)
        self.folder.cleanup()

    async def ok(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(name, args)
        if result.is_error:
            raise RuntimeError(f"{name}: {result.content}")
        return result.structured_content or {}

    async def new_job(self, job_id: str) -> None:
        await self.ok("job_add", {"id": job_id, "poolInfo": {"poolId": POOL}})

    async def submit(self, job_id: str, tasks: list[dict[str, Any]]) -> float:
        started = time.perf_counter()
        data = await self.ok("tasks_submit", {"job_id": job_id, "tasks": tasks})
        elapsed = time.perf_counter() - started
        if data["added"] != len(tasks):
            raise RuntimeError(f"ours added {data['added']} of {len(tasks)}")
        return elapsed

    async def raw_submit(self, job_id: str, tasks: list[dict[str, Any]]) -> float:
        from batch_mcp.batch import connect
        from batch_mcp.catalog import load_catalog

        async with connect(load_catalog(), self.url, account=DEV_ACCOUNT_NAME, key=DEV_ACCOUNT_KEY) as client:
            await client.call("job_get", {"job_id": job_id})  # open the connection outside the timing
            started = time.perf_counter()
            result = await client.add_tasks(job_id, tasks)
            elapsed = time.perf_counter() - started
        if result.added != len(tasks):
            raise RuntimeError(f"add_tasks added {result.added} of {len(tasks)}")
        return elapsed

    async def active(self, job_id: str) -> int:
        counts = await self.ok("job_get_task_counts", {"job_id": job_id})
        return counts.get("taskCounts", counts)["active"]


def sdk_submit(url: str, job_id: str, tasks: list[dict[str, Any]]) -> tuple[float, float]:
    """(seconds to build the SDK's task models from the dicts, seconds in create_tasks)."""
    from azure.batch import BatchClient
    from azure.batch.models import BatchTaskCreateOptions
    from azure.core.credentials import AzureNamedKeyCredential

    client = BatchClient(endpoint=url, credential=AzureNamedKeyCredential(DEV_ACCOUNT_NAME, DEV_ACCOUNT_KEY))
    try:
        started = time.perf_counter()
        models = [BatchTaskCreateOptions(id=t["id"], command_line=t["commandLine"]) for t in tasks]
        built = time.perf_counter()
        client.create_tasks(job_id, models, max_concurrency=8)
        return built - started, time.perf_counter() - built
    finally:
        client.close()


async def bench(url: str, count: int, runs: int) -> None:
    names = {"ours": "ours: tasks_submit (MCP)", "sdk": "SDK: create_tasks", "raw": "(ours: add_tasks, no MCP)"}
    with_models = "(SDK: build models + create)"
    times: dict[str, list[float]] = {name: [] for name in [*names.values(), with_models]}
    sides = list(names)
    async with Ours(url) as ours:
        for run in range(runs):
            order = sides[run % 3 :] + sides[: run % 3]  # each side goes first in turn
            for side in order:
                job_id = f"{side}-run{run}"
                await ours.new_job(job_id)
                tasks = make_tasks(count, job_id)
                if side == "ours":
                    seconds = await ours.submit(job_id, tasks)
                elif side == "raw":
                    seconds = await ours.raw_submit(job_id, tasks)
                else:
                    building, seconds = await asyncio.to_thread(sdk_submit, url, job_id, tasks)
                    times[with_models].append(building + seconds)
                times[names[side]].append(seconds)
                if await ours.active(job_id) != count:
                    raise RuntimeError(f"{job_id}: the job does not hold exactly {count} tasks")
                print(f"run {run + 1}/{runs} {side:<4} {seconds:6.2f} s", flush=True)
    print(f"\n{count:,} tasks per run, {runs} runs per side, emulator at {url} (Shared Key)\n")
    print(f"{'side':<28} {'median s':>9} {'tasks/s':>9}   runs")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<28} {median:>9.2f} {count / median:>9,.0f}   {' '.join(f'{s:.2f}' for s in samples)}")
    ours_median, sdk_median = (statistics.median(times[names[side]]) for side in ("ours", "sdk"))
    verdict = "at least as fast" if ours_median <= sdk_median else "SLOWER"
    with_models_median = statistics.median(times[with_models])
    print(
        f"\nours / SDK create_tasks = {ours_median / sdk_median:.2f} ({verdict}); "
        f"ours / SDK incl. building its models = {ours_median / with_models_median:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    emulator = start_emulator(port)
    try:
        wait_until_listening(url)
        asyncio.run(bench(url, args.tasks, args.runs))
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
