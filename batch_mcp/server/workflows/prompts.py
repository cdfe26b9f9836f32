"""MCP prompts for the two workflows people ask for most: "why did my job fail?" and "is my pool the
right size?". Clients show prompts as slash commands; each one hands the model a short plan that
uses the workflow tools, so the common path takes a handful of calls instead of exploration.

Wire them with `Server(..., **prompt_handlers(workflow_prompts()))`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

from batch_mcp.batch.errors import BatchError, BatchServiceError
from batch_mcp.catalog.bounds import ARG_BOUNDS, PATTERN_TEXTS
from batch_mcp.server.runtime import BackendUnavailable


@dataclass(frozen=True)
class WorkflowPrompt:
    name: str
    title: str
    description: str
    arguments: tuple[tuple[str, str], ...]  # (name, description); all required
    template: str  # str.format() with the arguments

    def listing(self) -> types.Prompt:
        return types.Prompt(
            name=self.name,
            title=self.title,
            description=self.description,
            arguments=[types.PromptArgument(name=n, description=d, required=True) for n, d in self.arguments],
        )

    def render(self, arguments: Mapping[str, str] | None) -> types.GetPromptResult:
        values = dict(arguments or {})
        missing = [name for name, _ in self.arguments if not str(values.get(name, "")).strip()]
        if missing:
            raise MCPError(code=types.INVALID_PARAMS, message=f"Prompt {self.name} needs: {', '.join(missing)}")
        given = {name: str(values[name]).strip() for name, _ in self.arguments}
        for name, value in given.items():  # ids as Batch takes them: nothing else reaches the plan
            pattern = ARG_BOUNDS.get(name, {}).get("pattern")
            if pattern and not re.match(pattern, value):
                raise MCPError(
                    code=types.INVALID_PARAMS,
                    message=f"Prompt {self.name}: {name} must be {PATTERN_TEXTS.get(pattern, pattern)}",
                )
        text = self.template.format(**given)
        return types.GetPromptResult(
            description=self.description,
            messages=[types.PromptMessage(role="user", content=types.TextContent(text=text))],
        )


DIAGNOSE_JOB = WorkflowPrompt(
    name="diagnose_job",
    title="Diagnose a failed job",
    description="Find out why tasks of a Batch job failed and what to change.",
    arguments=(("job_id", "The job to look at"),),
    template=(
        "Find out why tasks of Azure Batch job {job_id} are failing, and tell me what to change.\n"
        "1. Call job_get_task_counts for job {job_id} to see how many tasks failed, then task_list with filter "
        "\"executionInfo/result eq 'failure'\", "
        'select "id,executionInfo" and max_results 20.\n'
        "2. Run task_diagnose on two or three failed tasks, choosing different exit codes or failure codes.\n"
        "3. If the verdicts point at a node (start task failed, node unusable), look at that node's "
        "startup/stderr.txt with file_tail.\n"
        "4. Group the failures by cause. For each cause give the evidence (exit code, the stderr line) and "
        "the fix (command line, resource files, pool image or start task). Change nothing without asking me."
    ),
)

RIGHT_SIZE_POOL = WorkflowPrompt(
    name="right_size_pool",
    title="Right-size a pool",
    description="Compare a pool's nodes with the work waiting for it and propose a size.",
    arguments=(("pool_id", "The pool to size"),),
    template=(
        "Check whether Azure Batch pool {pool_id} has the right number of nodes for its work.\n"
        '1. Call batch_overview, and pool_get for {pool_id} (select "id,vmSize,taskSlotsPerNode,'
        "allocationState,enableAutoScale,autoScaleFormula,currentDedicatedNodes,currentLowPriorityNodes,"
        'targetDedicatedNodes,targetLowPriorityNodes").\n'
        "2. For each active job on this pool, get job_get_task_counts: tasks waiting (active) and running.\n"
        "3. Work out the slots needed (waiting + running tasks) against the slots the pool has "
        "(nodes × taskSlotsPerNode), and count idle nodes.\n"
        "4. Propose a size, or an autoscale formula if the load varies; test a formula with "
        "pool_evaluate_auto_scale. Show the numbers behind the proposal.\n"
        "5. Ask me before resizing; when I agree, use pool_resize with dry_run first, then wait_for the pool."
    ),
)


def workflow_prompts() -> dict[str, WorkflowPrompt]:
    return {prompt.name: prompt for prompt in (DIAGNOSE_JOB, RIGHT_SIZE_POOL)}


def prompt_handlers(prompts: Mapping[str, WorkflowPrompt]) -> dict[str, Any]:
    """The `on_list_prompts` / `on_get_prompt` keyword arguments for `mcp.server.Server`."""
    listing = types.ListPromptsResult(prompts=[p.listing() for p in prompts.values()])

    async def list_prompts(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        return listing

    async def get_prompt(ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        prompt = prompts.get(params.name)
        if prompt is None:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"Unknown prompt: {params.name}; this server has {', '.join(prompts)}",
            )
        rendered = prompt.render(params.arguments)
        for name, _ in prompt.arguments:
            await _refuse_missing(ctx, prompt.name, name, str((params.arguments or {})[name]).strip())
        return rendered

    return {"on_list_prompts": list_prompts, "on_get_prompt": get_prompt}


# The entity each prompt argument names: (tool that reads it, what it is, tool that lists them).
READS = {"job_id": ("job_get", "job", "job_list"), "pool_id": ("pool_get", "pool", "pool_list")}


async def _refuse_missing(ctx: Any, prompt: str, argument: str, value: str) -> None:
    """Refuse a plan about a job or pool that does not exist (the model would follow it to a 404 at
    every step). Anything short of Batch's own 404 lets the prompt render: the plan's calls will say."""
    if argument not in READS:
        return
    tool, kind, lister = READS[argument]
    ready = getattr(ctx.lifespan_context, "ready", None)
    if ready is None:  # a server without a Batch backend (prompts alone) has no one to ask
        return
    try:
        live = await ready()
        await live.engine.client.call(tool, {argument: value, "select": "id"})
    except BatchServiceError as exc:
        if exc.status == 404:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"Prompt {prompt}: there is no {kind} {value} ({exc.code}); "
                f"{lister} or completion of {argument} gives the {kind} ids there are",
            ) from None
    except (BatchError, BackendUnavailable):
        return
