"""How fast a Batch change reaches a subscribed MCP client, and what watching costs while idle.

    python bench/events.py [--resources 10] [--changes 5] [--max-gap 10] [--idle-seconds 120]

The server runs in this process on the embedded emulator, with a request-counting transport under
its Batch client, and an in-memory `mcp.Client` subscribes in each protocol era
(`resources/subscribe`, then `subscriptions/listen`). Latency: each of `--resources` jobs is
disabled and enabled in turn (`--changes` state changes each, after a random pause of up to
`--max-gap` seconds, so the watchers are caught at every point of their backoff), by a separate
client, as another user would; measured from the change's reply to the notification's arrival.
Idle cost: the same number of jobs and task stdout files watched with nothing changing; Batch
requests per watched resource per minute, in the first minute (backoff ramping up) and after.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import anyio
import httpx2
import mcp
import mcp_types as types
from mcp.shared.exceptions import MCPDeprecationWarning

from batch_mcp.batch import connect
from batch_mcp.catalog import Catalog
from batch_mcp.emulator import EmbeddedEmulator, EmulatorConfig
from batch_mcp.server import assemble
from batch_mcp.server.app import RuntimeRef, build_server
from batch_mcp.server.backend import Backend
from batch_mcp.server.events import DEFAULT_CONFIG
from batch_mcp.settings import Settings


class CountingTransport(httpx2.AsyncBaseTransport):
    """Counts the requests the server's Batch client sends."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.count = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.count += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Arrivals:
    """When each URI's notifications arrived, per URI, in order."""

    def __init__(self) -> None:
        self.streams: dict[str, tuple[Any, Any]] = {}

    def stream(self, uri: str) -> tuple[Any, Any]:
        if uri not in self.streams:
            self.streams[uri] = anyio.create_memory_object_stream[float](1000)
        return self.streams[uri]

    def record(self, uri: str) -> None:
        self.stream(uri)[0].send_nowait(time.perf_counter())

    async def handle(self, message: Any) -> None:  # a handshake-era client's message handler
        if isinstance(message, types.ResourceUpdatedNotification):
            self.record(message.params.uri)

    def drain(self, uri: str) -> None:
        receive = self.stream(uri)[1]
        while True:
            try:
                receive.receive_nowait()
            except anyio.WouldBlock:
                return

    async def next_after(self, uri: str, t0: float) -> float:
        receive = self.stream(uri)[1]
        while True:
            arrived = await receive.receive()
            if arrived >= t0:
                return arrived


@asynccontextmanager
async def served(era: str, tmp: Path, arrivals: Arrivals, counter: CountingTransport) -> AsyncIterator[Any]:
    settings = Settings(emulator_data_dir=":memory:", audit_log=tmp / "audit.jsonl", toolsets=["all"])
    parts = assemble(settings)

    @asynccontextmanager
    async def opener(settings: Settings, catalog: Catalog) -> AsyncIterator[Backend]:
        config = EmulatorConfig(data_dir=":memory:", seed_pool=True, transition_delay=0.05)
        async with (
            EmbeddedEmulator(config) as emulator,
            connect(catalog, emulator.url, auth_kind="none", transport=counter) as client,
        ):
            yield Backend(endpoint=emulator.url, kind="emulator", client=client)

    ref = RuntimeRef()
    server = build_server(settings, parts.catalog, parts.selection, parts.server_tools, runtime_ref=ref, opener=opener)
    handler = arrivals.handle if era == "legacy" else None
    async with mcp.Client(server, mode=era, message_handler=handler) as client:
        assert ref.runtime is not None
        live = await ref.runtime.ready()
        async with connect(parts.catalog, live.backend.endpoint, auth_kind="none") as other_user:
            yield client, other_user, live


@asynccontextmanager
async def watching(era: str, client: mcp.Client, uris: list[str], arrivals: Arrivals) -> AsyncIterator[None]:
    if era == "legacy":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            for uri in uris:
                await client.subscribe_resource(uri)
        yield
        return
    async with client.listen(resource_subscriptions=uris) as subscription, anyio.create_task_group() as group:

        async def pump() -> None:
            async for event in subscription:
                arrivals.record(event.uri)

        group.start_soon(pump)
        yield
        group.cancel_scope.cancel()


async def latency(era: str, args: argparse.Namespace, tmp: Path) -> list[float]:
    arrivals, counter = Arrivals(), CountingTransport()
    samples: list[float] = []
    rng = random.Random(11)
    async with served(era, tmp, arrivals, counter) as (client, other_user, _):
        jobs = [f"latency-{i}" for i in range(args.resources)]
        for job in jobs:
            await other_user.call("job_add", {"id": job, "poolInfo": {"poolId": "local"}})
        uris = [f"batch://jobs/{job}" for job in jobs]
        async with watching(era, client, uris, arrivals), anyio.create_task_group() as group:

            async def toggle(job: str, uri: str) -> None:
                for change in range(args.changes):
                    await anyio.sleep(rng.uniform(0, args.max_gap))
                    arrivals.drain(uri)  # a disable/enable moves through two states: drop the second's echo
                    tool = "job_disable" if change % 2 == 0 else "job_enable"
                    body = {"disableTasks": "requeue"} if tool == "job_disable" else {}
                    await other_user.call(tool, {"job_id": job, **body})
                    t0 = time.perf_counter()
                    with anyio.fail_after(120):
                        samples.append(await arrivals.next_after(uri, t0) - t0)

            for job, uri in zip(jobs, uris, strict=True):
                group.start_soon(toggle, job, uri)
    return samples


async def idle_cost(args: argparse.Namespace, tmp: Path) -> tuple[float, float]:
    arrivals, counter = Arrivals(), CountingTransport()
    half = max(1, args.resources // 2)
    async with served("2026-07-28", tmp, arrivals, counter) as (client, other_user, live):
        await other_user.call("job_add", {"id": "idle", "poolInfo": {"poolId": "local"}})
        for i in range(half):
            await other_user.call("task_add", {"job_id": "idle", "id": f"t{i}", "commandLine": "/bin/true"})
        while True:
            tasks = (await other_user.list("task_list", {"job_id": "idle", "select": "id,state"}, max_items=100)).items
            if all(t["state"] == "completed" for t in tasks):
                break
            await anyio.sleep(0.1)
        for i in range(args.resources - half):
            await other_user.call("job_add", {"id": f"idle-{i}", "poolInfo": {"poolId": "local"}})
        uris = [f"batch://jobs/idle-{i}" for i in range(args.resources - half)]
        uris += [f"batch://jobs/idle/tasks/t{i}/files/stdout.txt" for i in range(half)]
        async with watching("2026-07-28", client, uris, arrivals):
            started, first = counter.count, None
            minute = min(60.0, args.idle_seconds)
            await anyio.sleep(minute)
            first = counter.count - started
            await anyio.sleep(args.idle_seconds - minute)
            rest = counter.count - started - first
            assert len(live.events.pool) == len(uris)
    per_minute_first = first / len(uris) / (minute / 60)
    later = args.idle_seconds - minute
    per_minute_later = rest / len(uris) / (later / 60) if later > 0 else float("nan")
    return per_minute_first, per_minute_later


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def bench(args: argparse.Namespace) -> None:
    policy = DEFAULT_CONFIG.backoff
    with TemporaryDirectory(prefix="bench-events-") as tmp:
        results = {era: await latency(era, args, Path(tmp)) for era in ("legacy", "2026-07-28")}
        first, later = await idle_cost(args, Path(tmp))
    print(
        f"\nwatcher backoff: {policy.initial:g} s after a change, x{policy.factor:g} per quiet probe, "
        f"at most {policy.maximum:g} s\n"
    )
    print(f"{'era':<36} {'changes':>7} {'median s':>9} {'p95 s':>7} {'max s':>7}")
    for era, samples in results.items():
        way = "resources/subscribe" if era == "legacy" else "subscriptions/listen"
        print(
            f"{era + ' (' + way + ')':<36} {len(samples):>7} {statistics.median(samples):>9.2f} "
            f"{percentile(samples, 0.95):>7.2f} {max(samples):>7.2f}"
        )
    print(
        f"\nidle: {args.resources} watched resources ({args.resources - args.resources // 2} jobs, "
        f"{args.resources // 2} stdout files), Batch requests per resource per minute: "
        f"{first:.1f} in the first minute, {later:.1f} after it"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=10, help="watched resources")
    parser.add_argument("--changes", type=int, default=5, help="state changes per watched job")
    parser.add_argument("--max-gap", type=float, default=10.0, help="longest random pause before a change (s)")
    parser.add_argument("--idle-seconds", type=float, default=120.0, help="how long to watch idle resources")
    args = parser.parse_args()
    anyio.run(bench, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
