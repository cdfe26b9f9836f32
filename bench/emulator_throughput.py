"""Throughput of the local Batch emulator, over real HTTP on loopback.

    python bench/emulator_throughput.py [--tasks 2000] [--runs 3] [--versions V ...] [--data-dir DIR]

Figures, each the median of --runs fresh emulators:
- tasks completed per second: --tasks trivial tasks (`/bin/true`) on one node with 4 task slots,
  from the first add-collection request until the job's task counts show all completed; measured
  with real processes on the host, in each task sandbox that works on this machine (bubblewrap,
  the emulator's own namespace launcher), and, side by side, with the instant runner (the
  emulator's own overhead);
- the CPU time this process (emulator and client together) spends per task with the instant
  runner: the emulator's own cost, steadier than rates on a busy machine;
- add-collection requests per second: 100-task requests to a job whose pool does not exist, so
  nothing runs while adding;
- task list pages per second: 1,000-task pages of a completed job, read with each of --versions
  (answers are shaped per api-version, so this is the cost of that shaping, side by side).
State is in SQLite (WAL) under a temporary folder unless --data-dir is ':memory:'.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import httpx2

from batch_mcp.emulator import EmbeddedEmulator, EmulatorConfig, sandbox
from batch_mcp.emulator.runner import ProcessRunner
from batch_mcp.emulator.sandbox import Sandbox
from batch_mcp.emulator.sandbox_runner import SandboxRunner

API = {"api-version": "2024-02-01.19.0"}
POOL = {
    "id": "bench",
    "vmSize": "standard_d2s_v3",
    "virtualMachineConfiguration": {
        "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
    },
    "targetDedicatedNodes": 1,
    "taskSlotsPerNode": 4,
}


def config(runner: str, data_dir: str) -> EmulatorConfig:
    return EmulatorConfig(data_dir=data_dir, runner=runner, transition_delay=0.05, tick_interval=0.02)  # type: ignore[arg-type]


def process_runner(kind: str, data_dir: str) -> ProcessRunner | SandboxRunner | None:
    """Real processes through one agent per node, as the emulator runs them, on the host
    ("process") or in a sandbox ("sandbox:bwrap", "sandbox:unshare"); for comparison, started
    by the emulator process itself ("direct:none"), or in a sandbox built for every task
    ("per-task:bwrap", ...)."""
    if kind in ("process", "instant"):
        return None
    if kind == "direct:none":
        return ProcessRunner()
    how, sandbox_kind = kind.split(":")
    root = Path(tempfile.gettempdir()) if data_dir == ":memory:" else Path(data_dir)
    box = Sandbox(sandbox_kind, hide=(root,))  # type: ignore[arg-type]
    return SandboxRunner(box) if how == "sandbox" else ProcessRunner(sandbox=box)


async def wait(http: httpx2.AsyncClient, path: str, done, interval: float = 0.02):
    with anyio.fail_after(600):
        while True:
            body = (await http.get(path, params=API)).json()
            if done(body):
                return body
            await anyio.sleep(interval)


def collections(job: str, total: int) -> list[dict]:
    return [
        {"value": [{"id": f"{job}-{i:05d}", "commandLine": "/bin/true"} for i in range(start, min(start + 100, total))]}
        for start in range(0, total, 100)
    ]


CPU: dict[str, list[float]] = {}


async def tasks_per_second(kind: str, data_dir: str, total: int) -> float:
    runner = "instant" if kind == "instant" else "process"
    async with (
        EmbeddedEmulator(config(runner, data_dir), runner=process_runner(kind, data_dir)) as emu,
        httpx2.AsyncClient(base_url=emu.url, timeout=60) as http,
    ):
        assert (await http.post("/pools", params=API, json=POOL)).status_code == 201
        await wait(http, "/pools/bench/nodes", lambda b: b["value"] and b["value"][0]["state"] == "idle")
        assert (
            await http.post("/jobs", params=API, json={"id": "run", "poolInfo": {"poolId": "bench"}})
        ).status_code == 201
        begin, cpu = time.perf_counter(), time.process_time()
        for body in collections("run", total):
            r = await http.post("/jobs/run/addtaskcollection", params=API, json=body)
            assert r.status_code == 200, r.text
        counts = await wait(http, "/jobs/run/taskcounts", lambda b: b["taskCounts"]["completed"] == total, 0.05)
        elapsed = time.perf_counter() - begin
        CPU.setdefault(kind, []).append((time.process_time() - cpu) / total * 1000)
        assert counts["taskCounts"]["succeeded"] == total, counts
        return total / elapsed


async def add_collections_per_second(data_dir: str, total: int) -> float:
    async with (
        EmbeddedEmulator(config("instant", data_dir)) as emu,
        httpx2.AsyncClient(base_url=emu.url, timeout=60) as http,
    ):
        job = {"id": "adds", "poolInfo": {"poolId": "no-such-pool"}}
        assert (await http.post("/jobs", params=API, json=job)).status_code == 201
        bodies = collections("adds", total)
        begin = time.perf_counter()
        for body in bodies:
            r = await http.post("/jobs/adds/addtaskcollection", params=API, json=body)
            assert r.status_code == 200, r.text
        return len(bodies) / (time.perf_counter() - begin)


async def list_pages_per_second(data_dir: str, versions: list[str], reads: int = 20) -> dict[str, float]:
    async with (
        EmbeddedEmulator(config("instant", data_dir)) as emu,
        httpx2.AsyncClient(base_url=emu.url, timeout=60) as http,
    ):
        assert (await http.post("/pools", params=API, json=POOL)).status_code == 201
        await wait(http, "/pools/bench/nodes", lambda b: b["value"] and b["value"][0]["state"] == "idle")
        assert (
            await http.post("/jobs", params=API, json={"id": "done", "poolInfo": {"poolId": "bench"}})
        ).status_code == 201
        for body in collections("done", 1000):
            assert (await http.post("/jobs/done/addtaskcollection", params=API, json=body)).status_code == 200
        await wait(http, "/jobs/done/taskcounts", lambda b: b["taskCounts"]["completed"] == 1000, 0.05)
        out = {}
        for version in versions:
            begin = time.perf_counter()
            for _ in range(reads):
                r = await http.get("/jobs/done/tasks", params={"api-version": version})
                assert r.status_code == 200 and len(r.json()["value"]) == 1000, r.text[:200]
            out[version] = reads / (time.perf_counter() - begin)
        return out


def fresh_dir(base: str | None) -> tuple[str, tempfile.TemporaryDirectory[str] | None]:
    if base == ":memory:":
        return ":memory:", None
    holder = tempfile.TemporaryDirectory(prefix="emulator-bench-", dir=base)
    return holder.name, holder


async def main(args: argparse.Namespace) -> None:
    working = [kind for kind in ("bwrap", "unshare") if sandbox._probe(kind) is None]  # type: ignore[arg-type]
    sandboxes = ["direct:none", *(f"{how}:{kind}" for kind in working for how in ("sandbox", "per-task"))]
    kinds = ["process", *sandboxes, "instant"]
    results: dict[str, list[float]] = {kind: [] for kind in kinds} | {"adds": []}
    results.update({f"list {v}": [] for v in args.versions})
    for _ in range(args.runs):
        for kind in kinds:
            folder, holder = fresh_dir(args.data_dir)
            results[kind].append(await tasks_per_second(kind, folder, args.tasks))
            if holder:
                holder.cleanup()
        folder, holder = fresh_dir(args.data_dir)
        results["adds"].append(await add_collections_per_second(folder, args.tasks))
        if holder:
            holder.cleanup()
        folder, holder = fresh_dir(args.data_dir)
        for version, rate in (await list_pages_per_second(folder, args.versions)).items():
            results[f"list {version}"].append(rate)
        if holder:
            holder.cleanup()
    storage = "in memory" if args.data_dir == ":memory:" else "SQLite WAL on disk"
    print(f"emulator throughput: {args.tasks} trivial tasks, 1 node x 4 slots, {storage}, median of {args.runs} runs")
    print(f"  {'tasks completed / s (host)':<48} {statistics.median(results['process']):8.1f}")
    for kind in sandboxes:
        how, name = kind.split(":")
        label = {
            "direct": "tasks completed / s (host, forked by the emulator)",
            "sandbox": f"tasks completed / s (sandbox: {name})",
            "per-task": f"tasks completed / s ({name}, a sandbox per task)",
        }[how]
        print(f"  {label:<48} {statistics.median(results[kind]):8.1f}")
    print(f"  {'tasks completed / s (instant runner)':<48} {statistics.median(results['instant']):8.1f}")
    print(f"  {'add-collection requests / s (100 tasks)':<48} {statistics.median(results['adds']):8.1f}")
    label = "CPU ms a task (instant runner, in-process)"
    print(f"  {label:<48} {statistics.median(CPU['instant']):8.3f}")
    for version in args.versions:
        label = f"task list pages / s (1000 tasks, {version})"
        print(f"  {label:<48} {statistics.median(results[f'list {version}']):8.1f}")
    print("  runs: " + "; ".join(f"{k}=" + ",".join(f"{v:.1f}" for v in vals) for k, vals in results.items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--versions",
        nargs="+",
        default=["2018-08-01.7.0", "2024-02-01.19.0", "2025-06-01"],
        help="api-versions whose task list reads are timed side by side",
    )
    parser.add_argument(
        "--data-dir", default=None, help="parent folder for state (default: system temp); ':memory:' for none"
    )
    anyio.run(main, parser.parse_args())
