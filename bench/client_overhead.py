"""Time added by the Batch client per call, against a bare httpx2 request to the same local server.

    python bench/client_overhead.py [--calls 2000] [--rounds 5]

A tiny JSON server (uvicorn, in a separate process so it does not share our interpreter) listens on
a free loopback port. Each round times, call by call and in alternating order: a bare
`httpx2.AsyncClient.get(...)` + `.json()`; our `BatchClient.call("job_get", ...)` without auth; and
the same with Shared Key signing. Printed: median and p99 per call across all rounds, the median of
the per-round medians, and the difference to the bare request (target: at most 0.3 ms at the median).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2

BODY = json.dumps(
    {
        "odata.metadata": "http://127.0.0.1/$metadata#jobs/@Element",
        "id": "job-1",
        "url": "http://127.0.0.1/jobs/job-1",
        "eTag": "0x8DDC0FFEE",
        "state": "active",
        "priority": 0,
        "poolInfo": {"poolId": "pool-1"},
        "executionInfo": {"startTime": "2026-11-25T17:14:36Z", "poolId": "pool-1"},
    }
).encode()
KEY = "YmVuY2htYXJrLWtleS1ub3QtYS1zZWNyZXQtMDEyMzQ1Njc4OQ=="


async def tiny_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """Any request → 200 with a small Batch-like job JSON."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"request-id", b"bench")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def serve(port: int) -> None:
    import uvicorn

    uvicorn.run(tiny_app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the stub server did not start on port {port}")


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def bench(base: str, calls: int, rounds: int) -> None:
    from batch_mcp.batch import BatchClient, RetryPolicy, SharedKeyAuth
    from batch_mcp.catalog import load_catalog

    catalog = load_catalog()
    bare = httpx2.AsyncClient()
    ours = BatchClient(catalog, base, retry=RetryPolicy())
    signed = BatchClient(catalog, base, auth=SharedKeyAuth("benchaccount", KEY))
    url = f"{base}/jobs/job-1"
    params = {"api-version": catalog.api_version}

    async def bare_call() -> None:
        response = await bare.get(url, params=params)
        response.json()

    async def our_call() -> None:
        await ours.call("job_get", {"job_id": "job-1"})

    async def signed_call() -> None:
        await signed.call("job_get", {"job_id": "job-1"})

    variants: dict[str, Callable[[], Awaitable[None]]] = {
        "bare httpx2 (get + json)": bare_call,
        "BatchClient.call, no auth": our_call,
        "BatchClient.call, Shared Key": signed_call,
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    round_medians: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():  # warm up connections, plans and caches
        for _ in range(200):
            await run()
    names = list(variants)
    for round_number in range(rounds):
        per_round: dict[str, list[float]] = {name: [] for name in names}
        for index in range(calls):
            order = names if (index + round_number) % 2 == 0 else names[::-1]
            for name in order:
                started = time.perf_counter()
                await variants[name]()
                per_round[name].append((time.perf_counter() - started) * 1000)
        for name in names:
            samples[name] += per_round[name]
            round_medians[name].append(statistics.median(per_round[name]))
    await bare.aclose()
    await ours.aclose()
    await signed.aclose()

    base_median, base_p99 = summary(samples[names[0]])
    base_round = statistics.median(round_medians[names[0]])
    print(f"\n{calls} calls x {rounds} rounds per variant, GET {url} (uvicorn stub, loopback)\n")
    print(f"{'variant':<30} {'median ms':>10} {'p99 ms':>8} {'median of rounds':>17} {'added (median)':>15}")
    for name in names:
        median, p99 = summary(samples[name])
        of_rounds = statistics.median(round_medians[name])
        added = "" if name == names[0] else f"{(of_rounds - base_round):+.3f} ms"
        print(f"{name:<30} {median:>10.3f} {p99:>8.3f} {of_rounds:>17.3f} {added:>15}")
    print(f"\nbare request: median {base_median:.3f} ms, p99 {base_p99:.3f} ms; target for added time: <= 0.300 ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    port = free_port()
    server = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", str(port)])
    try:
        wait_until_listening(port)
        asyncio.run(bench(f"http://127.0.0.1:{port}", args.calls, args.rounds))
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
