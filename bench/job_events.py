"""Watching a big job's tasks: Batch requests per check, and how soon a failure is told.

    python bench/job_events.py [--tasks 10000] [--failures 5] [--max-gap 8]

The server runs in this process on the embedded emulator; an in-memory `mcp.Client` (handshake
era) subscribes to `batch://jobs/big/tasks?state=failed` on a job of `--tasks` tasks that wait on
a pool without nodes. Then, `--failures` times after a random pause of up to `--max-gap` seconds
(so the watcher is caught at every point of its backoff), one task is ended by `task_terminate`,
which fails it. For each failure: the time from the terminate reply to the notification, and the
watcher's check interval at that moment (the goal: within the interval + 1 s). Cost: Batch
requests the watcher sent per check while it watched.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import warnings
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import anyio
import httpx2
import mcp
import mcp_types as types
from mcp.shared.exceptions import MCPDeprecationWarning

from batch_mcp.server import assemble
from batch_mcp.server.app import RuntimeRef, build_server
from batch_mcp.settings import Settings

URI = "batch://jobs/big/tasks?state=failed"
VM = {
    "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
    "nodeAgentSKUId": "batch.node.ubuntu 22.04",
}


async def main(tasks: int, failures: int, max_gap: float) -> None:
    arrivals = anyio.create_memory_object_stream[float](100)

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification) and message.params.uri == URI:
            arrivals[0].send_nowait(time.perf_counter())

    with TemporaryDirectory() as tmp:
        settings = Settings(
            emulator_data_dir=":memory:",
            audit_log=Path(tmp) / "audit.jsonl",
            toolsets=["all"],
            emulator_exec="unrestricted",  # the bench runs its own command lines
        )
        parts = assemble(settings)
        ref = RuntimeRef()
        server = build_server(
            settings, parts.catalog, parts.selection, parts.server_tools, runtime_ref=ref, no_confirm=True
        )
        async with mcp.Client(server, mode="legacy", message_handler=on_message) as client:
            assert ref.runtime is not None
            live = await ref.runtime.ready()
            await client.call_tool(
                "pool_add",
                {
                    "id": "idle",
                    "vmSize": "standard_d2s_v3",
                    "targetDedicatedNodes": 0,
                    "virtualMachineConfiguration": VM,
                },
            )
            await client.call_tool("job_add", {"id": "big", "poolInfo": {"poolId": "idle"}})
            template = {"id": "t{value:06d}", "commandLine": "/bin/true"}
            await client.call_tool("tasks_submit", {"job_id": "big", "template": template, "range": [1, tasks]})
            sent: list[httpx2.Request] = []

            async def record(request: httpx2.Request) -> None:
                sent.append(request)

            live.events.client._http.event_hooks["request"].append(record)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await client.subscribe_resource(URI)
            watcher = next(iter(live.events.pool.watchers.values()))
            first_probe, first_sent = watcher.probes, len(sent)
            latencies: list[tuple[float, float]] = []
            for n in range(failures):
                await anyio.sleep(random.uniform(0, max_gap))
                interval = watcher.schedule.interval
                await client.call_tool("task_terminate", {"job_id": "big", "task_id": f"t{n + 1:06d}"})
                done = time.perf_counter()
                with anyio.fail_after(60):
                    arrived = await arrivals[1].receive()
                latencies.append((arrived - done, interval))
            probes = watcher.probes - first_probe
            # the engine shares the client: count the watcher's own requests (its filtered lists)
            requests = sum(
                1
                for r in sent[first_sent:]
                if r.url.path == "/jobs/big/tasks" and "stateTransitionTime gt" in r.url.params.get("$filter", "")
            )
    print(f"job of {tasks:,} tasks, {failures} failures, watched with {probes} checks")
    print(f"Batch requests per check: {requests / max(probes, 1):.2f} ({requests} requests)")
    print(
        f"failure to notification: median {statistics.median(lat for lat, _ in latencies):.2f} s, "
        f"max {max(lat for lat, _ in latencies):.2f} s"
    )
    late = [(latency, interval) for latency, interval in latencies if latency > interval + 1.0]
    print(
        f"within the check interval + 1 s: {len(latencies) - len(late)} of {len(latencies)}"
        + (f" (late: {', '.join(f'{a:.1f}s at {b:.1f}s' for a, b in late)})" if late else "")
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--failures", type=int, default=5)
    parser.add_argument("--max-gap", type=float, default=8.0)
    args = parser.parse_args()
    anyio.run(main, args.tasks, args.failures, args.max_gap)
