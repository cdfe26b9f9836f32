"""What the MCP server adds to a Batch call, beside the bare MCP SDK as the floor.

    python bench/server_overhead.py [--calls 300] [--starts 10]

One local stub Batch endpoint (uvicorn on loopback, a fixed pool JSON) serves every variant:
- bare:   our REST client's `call("pool_get")`, no MCP at all;
- floor:  a one-tool server on the bare MCP SDK whose tool makes that same client call;
- ours:   batch-mcp's `pool_get` (validation, guardrails, rendering, audit off for reads);
each through `mcp.Client` in memory (both protocol eras) and over stdio (a subprocess).
Per-call figures are median and p99 over --calls calls after a warm-up; "added" is the variant
minus bare. Cold start is process spawn to the `tools/list` reply over stdio, median of --starts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import mcp
import uvicorn
from _floor_server import floor_server
from mcp.client.stdio import StdioServerParameters
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from batch_mcp.batch import BatchClient
from batch_mcp.catalog import load_catalog
from batch_mcp.server import create_server
from batch_mcp.settings import Settings

POOL = {
    "id": "p1",
    "state": "active",
    "allocationState": "steady",
    "vmSize": "standard_d2s_v3",
    "currentDedicatedNodes": 2,
    "targetDedicatedNodes": 2,
    "eTag": "0x1",
    "lastModified": "2026-01-01T00:00:00Z",
}
FLOOR_SCRIPT = Path(__file__).with_name("_floor_server.py")


def start_stub() -> str:
    async def pool(request: Any) -> JSONResponse:
        return JSONResponse(POOL, headers={"ETag": "0x1", "request-id": "r"})

    app = Starlette(routes=[Route("/pools/{pool_id}", pool)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}"


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


async def time_calls(call: Any, n: int) -> list[float]:
    for _ in range(20):
        await call()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        out.append(time.perf_counter() - start)
    return out


def settings_for(endpoint: str) -> Settings:
    return Settings(endpoint=endpoint, auth="none", audit_log="off", toolsets=["default"])


def server_env(endpoint: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATCH_MCP_", "AZURE_BATCH_"))}
    env.update({"BATCH_MCP_AUDIT_LOG": "off", "BATCH_MCP_EMULATOR_DATA_DIR": ":memory:"})
    if endpoint:
        env.update({"AZURE_BATCH_ENDPOINT": endpoint, "BATCH_MCP_AUTH": "none"})
    return env


async def per_call(endpoint: str, n: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    async with BatchClient(load_catalog(), endpoint) as client:
        results["bare client"] = await time_calls(lambda: client.call("pool_get", {"pool_id": "p1"}), n)
    for era in ("legacy", "2026-07-28"):
        for label, server in (("floor", floor_server(endpoint)), ("batch-mcp", create_server(settings_for(endpoint)))):
            async with mcp.Client(server, mode=era) as c:
                results[f"{label} in-memory {era}"] = await time_calls(
                    lambda c=c: c.call_tool("pool_get", {"pool_id": "p1"}), n
                )
    for label, args in (("floor", [str(FLOOR_SCRIPT), endpoint]), ("batch-mcp", ["-m", "batch_mcp"])):
        params = StdioServerParameters(command=sys.executable, args=args, env=server_env(endpoint))
        async with mcp.Client(params, mode="legacy") as c:
            results[f"{label} stdio"] = await time_calls(lambda c=c: c.call_tool("pool_get", {"pool_id": "p1"}), n)
    return results


async def cold_start(args: list[str], env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        params = StdioServerParameters(command=sys.executable, args=args, env=env)
        async with mcp.Client(params, mode="legacy") as c:
            await c.list_tools()
            out.append(time.perf_counter() - start)
    return out


async def main_async(calls: int, starts: int) -> None:
    endpoint = start_stub()
    results = await per_call(endpoint, calls)
    bare = statistics.median(results["bare client"]) * 1000
    print(f"per call, {calls} calls each (ms)            median     p99   added at median")
    for label, samples in results.items():
        median, p99 = stats(samples)
        added = "" if label == "bare client" else f"{median - bare:8.2f}"
        print(f"  {label:<38} {median:7.2f} {p99:7.2f}   {added}")
    for mode in ("in-memory legacy", "in-memory 2026-07-28", "stdio"):
        ours = statistics.median(results[f"batch-mcp {mode}"]) * 1000 - bare
        floor = statistics.median(results[f"floor {mode}"]) * 1000 - bare
        print(f"  {mode:<22} batch-mcp adds {ours:.2f} ms, the SDK floor {floor:.2f} ms: {ours / floor:.2f}x")

    print(f"\ncold start, spawn to tools/list over stdio, median of {starts} (s)")
    floor = await cold_start([str(FLOOR_SCRIPT), endpoint], server_env(endpoint), starts)
    ours_azure = await cold_start(["-m", "batch_mcp"], server_env(endpoint), starts)
    ours_emulator = await cold_start(["-m", "batch_mcp"], server_env(None), starts)
    f = statistics.median(floor)
    for label, samples in (
        ("SDK floor (one tool)", floor),
        ("batch-mcp, Batch endpoint", ours_azure),
        ("batch-mcp, embedded emulator", ours_emulator),
    ):
        m = statistics.median(samples)
        print(f"  {label:<30} {m:6.3f}   {m / f:5.2f}x floor")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--starts", type=int, default=10)
    args = parser.parse_args()
    anyio.run(main_async, args.calls, args.starts)


if __name__ == "__main__":
    main()
