"""What a model pays, in calls and tokens, for seven everyday Batch jobs.

    python bench/agent_tokens.py [--runs 3] [--json] [--show] [JOB ...]

Each job is the sequence of tool calls a capable agent makes with the default tool list, run
through a real in-memory MCP client against the embedded emulator (tasks are real processes).
Per job it reports the calls, the argument bytes the model writes (minified JSON of each call's
arguments) and the result bytes it reads (the text content of each reply, which is what clients
that forward `content` give the model), with o200k tokens of both from
../shared/tools/count-tokens. The setup each job needs (a failed task, a busy job, old jobs) is
made by the script through the same client and is not counted.

The jobs:
  diagnose   why did a task of job etl fail?
  pool       create a pool of 2 nodes and wait until it is ready
  fanout     run 1,000 tasks (one per frame) and read three of their outputs
  watch      watch a running job and tell me as soon as a task fails
  grow       grow a pool to 3 nodes safely (look, plan, resize, wait)
  cleanup    delete the jobs that have completed
  browse     list a job's failed tasks, all its tasks, the pool's nodes, the jobs and the pools

Figures vary a little between runs where a job waits on real processes (watch); the median of
`--runs` runs is printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import anyio
import mcp
import mcp_types as types

from batch_mcp.server import create_server
from batch_mcp.settings import Settings

COUNT_TOKENS = Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "count-tokens"
IMAGE = {
    "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
    "nodeAgentSKUId": "batch.node.ubuntu 22.04",
}
FANOUT = 1000


def count_tokens(text: str) -> int | None:
    if not text:
        return 0
    if not COUNT_TOKENS.exists() or not shutil.which("node"):
        return None
    done = subprocess.run(
        [str(COUNT_TOKENS)], input=text, capture_output=True, text=True, encoding="utf-8", check=False
    )
    return int(done.stdout.strip()) if done.returncode == 0 else None


def minified(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def reply_text(result: types.CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


@dataclass
class Tally:
    """What the model wrote and read during one job."""

    calls: int = 0
    arguments: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        args, replies = "\n".join(self.arguments), "\n".join(self.replies)
        return {
            "calls": self.calls,
            "argument_bytes": len(args.encode()),
            "argument_tokens": count_tokens(args),
            "result_bytes": len(replies.encode()),
            "result_tokens": count_tokens(replies),
        }


class Agent:
    """The model's side of the conversation: every call it makes is counted; `setup` calls are not."""

    def __init__(self, client: mcp.Client) -> None:
        self.client = client
        self.tally = Tally()

    async def __call__(self, name: str, args: dict[str, Any] | None = None) -> types.CallToolResult:
        args = args or {}
        self.tally.calls += 1
        self.tally.arguments.append(minified({"name": name, "arguments": args}))
        with anyio.fail_after(300):
            result = await self.client.call_tool(name, args)
        self.tally.replies.append(reply_text(result))
        return result

    async def setup(self, name: str, args: dict[str, Any]) -> types.CallToolResult:
        with anyio.fail_after(300):
            result = await self.client.call_tool(name, args)
        if result.is_error:
            raise RuntimeError(f"setup {name} failed: {reply_text(result)}")
        return result

    async def until(self, name: str, args: dict[str, Any], done: Callable[[dict[str, Any]], bool]) -> None:
        """Setup: poll a tool (uncounted) until its structured result satisfies `done`."""
        with anyio.fail_after(120):
            while True:
                result = await self.client.call_tool(name, args)
                if not result.is_error and done(result.structured_content or {}):
                    return
                await anyio.sleep(0.1)


def structured(result: types.CallToolResult) -> dict[str, Any]:
    return result.structured_content or {}


def items(result: types.CallToolResult) -> list[dict[str, Any]]:
    return list(structured(result).get("items") or [])


def task_counts(data: dict[str, Any]) -> dict[str, Any]:
    return data.get("taskCounts", data)


async def finished_job(agent: Agent, job_id: str, commands: list[str]) -> None:
    await agent.setup("job_add", {"id": job_id, "poolInfo": {"poolId": "local"}})
    tasks = [{"id": f"t{i:02d}", "commandLine": c} for i, c in enumerate(commands)]
    await agent.setup("tasks_submit", {"job_id": job_id, "tasks": tasks})
    await agent.until(
        "job_get_task_counts",
        {"job_id": job_id},
        lambda d: task_counts(d).get("completed") == len(tasks),
    )


# -- the jobs ----------------------------------------------------------------------------------


async def diagnose(agent: Agent) -> None:
    """Why did a task of job etl fail? Find the failed task, then ask for the diagnosis."""
    commands = ["/bin/sh -c 'echo loading; sleep 0.1'"] * 19
    commands.insert(7, "/bin/sh -c 'echo reading input.csv; echo \"KeyError: customer_id\" >&2; exit 3'")
    await finished_job(agent, "etl", commands)
    failed = items(await agent("task_list", {"job_id": "etl", "filter": "executionInfo/result eq 'failure'"}))
    await agent("task_diagnose", {"job_id": "etl", "task_id": failed[0]["id"]})


async def create_pool(agent: Agent) -> None:
    """Create a pool of two nodes and wait until it can run tasks."""
    await agent(
        "pool_add",
        {"id": "render", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 2, "virtualMachineConfiguration": IMAGE},
    )
    await agent("wait_for", {"pool_id": "render", "timeout": 120})


async def fan_out(agent: Agent) -> None:
    """Render 1,000 frames (one task each) from a template, wait for them, read three outputs."""
    await agent("job_add", {"id": "frames", "poolInfo": {"poolId": "local"}})
    template = {"id": "frame-{value:04d}", "commandLine": "/bin/sh -c 'echo rendered frame {value}'"}
    await agent("tasks_submit", {"job_id": "frames", "template": template, "range": [0, FANOUT - 1]})
    await agent("wait_for", {"job_id": "frames", "timeout": 600})
    for frame in (0, 500, 999):
        await agent("task_file_get", {"job_id": "frames", "task_id": f"frame-{frame:04d}", "file_path": "stdout.txt"})


async def watch(agent: Agent) -> None:
    """Watch a running job; report the first failure as soon as it happens, then diagnose it."""
    await agent.setup("job_add", {"id": "sweep", "poolInfo": {"poolId": "local"}})
    tasks = [{"id": f"p{i:02d}", "commandLine": "/bin/sleep 1"} for i in range(12)]
    tasks.append({"id": "p-bad", "commandLine": "/bin/sh -c 'sleep 3; echo diverged >&2; exit 2'"})
    await agent.setup("tasks_submit", {"job_id": "sweep", "tasks": tasks})
    stopped = structured(await agent("wait_for", {"job_id": "sweep", "stop_on_failure": True, "timeout": 120}))
    failed = stopped.get("state", {}).get("failedTasks") or [{"id": "p-bad"}]
    await agent("task_diagnose", {"job_id": "sweep", "task_id": failed[0]["id"]})


async def grow(agent: Agent) -> None:
    """Grow pool web from 1 to 3 nodes: look at it, plan the resize, resize, wait."""
    await agent.setup(
        "pool_add",
        {"id": "web", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 1, "virtualMachineConfiguration": IMAGE},
    )
    await agent.until("pool_get", {"pool_id": "web"}, lambda p: p.get("allocationState") == "steady")
    await agent("pool_get", {"pool_id": "web"})
    await agent("pool_resize", {"pool_id": "web", "targetDedicatedNodes": 3, "dry_run": True})
    await agent("pool_resize", {"pool_id": "web", "targetDedicatedNodes": 3})
    await agent("wait_for", {"pool_id": "web", "timeout": 120})


async def cleanup(agent: Agent) -> None:
    """Delete the jobs that have completed (the user confirms each delete)."""
    for n in range(4):
        await agent.setup("job_add", {"id": f"old-{n}", "poolInfo": {"poolId": "local"}})
        await agent.setup("job_terminate", {"job_id": f"old-{n}"})
    for n in range(3):
        await agent.setup("job_add", {"id": f"live-{n}", "poolInfo": {"poolId": "local"}})
    await agent.until("job_list", {"filter": "state eq 'completed'"}, lambda d: len(d.get("items") or []) == 4)
    old = items(await agent("job_list", {"filter": "state eq 'completed'"}))
    for job in old:
        await agent("job_delete", {"job_id": job["id"]})


PER_ITEM: dict[str, list[int]] = {}  # list tool -> tokens of each item line a reply carried


async def browse(agent: Agent) -> None:
    """Look around with the list tools and their default arguments: a job of 40 tasks (one failed),
    a pool, the account."""
    commands = [f"/bin/sh -c 'echo part {i}'" for i in range(39)] + ["/bin/sh -c 'exit 3'"]
    await finished_job(agent, "report", commands)
    for name, args in (
        ("task_list", {"job_id": "report", "filter": "executionInfo/result eq 'failure'"}),
        ("task_list", {"job_id": "report"}),
        ("node_list", {"pool_id": "local"}),
        ("job_list", {}),
        ("pool_list", {}),
    ):
        result = await agent(name, args)
        for item in items(result):
            tokens = count_tokens(minified(item))
            if tokens is not None:
                PER_ITEM.setdefault(name, []).append(tokens)


JOBS: dict[str, Callable[[Agent], Awaitable[None]]] = {
    "diagnose": diagnose,
    "pool": create_pool,
    "fanout": fan_out,
    "watch": watch,
    "grow": grow,
    "cleanup": cleanup,
    "browse": browse,
}


async def confirm(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"confirm": True})


async def run_job(name: str, show: bool = False) -> dict[str, Any]:
    with TemporaryDirectory() as tmp:
        settings = Settings(
            emulator_data_dir=":memory:",
            emulator_transition_delay=0.2,
            audit_log=Path(tmp) / "audit.jsonl",
        )
        async with mcp.Client(create_server(settings), mode="legacy", elicitation_callback=confirm) as client:
            agent = Agent(client)
            await JOBS[name](agent)
            if show:
                for call, reply in zip(agent.tally.arguments, agent.tally.replies, strict=True):
                    print(f"--- {name}: {call[:300]}\n{reply}\n", file=sys.stderr)
            return agent.tally.figures()


def median_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in runs[0]:
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = round(statistics.median(values)) if values else None
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="runs per job (median printed)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--show", action="store_true", help="print every call and reply of the last run")
    parser.add_argument("jobs", nargs="*", help=f"jobs to run (default: all of {', '.join(JOBS)})")
    args = parser.parse_args()
    names = args.jobs or list(JOBS)
    unknown = set(names) - set(JOBS)
    if unknown:
        parser.error(f"unknown job(s): {', '.join(sorted(unknown))}")
    results = {
        name: median_figures([anyio.run(run_job, name, args.show and n == args.runs - 1) for n in range(args.runs)])
        for name in names
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'job':<10} {'calls':>5} {'arg bytes':>10} {'arg tokens':>10} {'result bytes':>12} {'result tokens':>13}")
    for name, f in results.items():
        print(
            f"{name:<10} {f['calls']:>5} {f['argument_bytes']:>10,} {_n(f['argument_tokens']):>10} "
            f"{f['result_bytes']:>12,} {_n(f['result_tokens']):>13}"
        )
    if PER_ITEM:
        print("\ntokens per list item (browse; the largest seen):")
        for name, counts in PER_ITEM.items():
            print(f"  {name:<10} max {max(counts)}, median {statistics.median(counts):g} over {len(counts)} items")
    return 0


def _n(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


if __name__ == "__main__":
    sys.exit(main())
