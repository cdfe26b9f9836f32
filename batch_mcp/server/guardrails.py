"""The one policy every tool call passes, decided by the tool's guard class.

- not enabled (read-only mode, excluded, outside an allow-list) → refuse;
- any requested pool size above `--max-nodes` → refuse;
- `scale` → a live plan; `dry_run` returns it; a scale-down that stops running work, or a scale
  tool marked destructive, needs the user's confirmation;
- `destructive` → the user's confirmation, with the impact computed from live state;
- `read` and `write` → proceed.

Confirmation is asked by the MCP layer (elicitation or `InputRequiredResult`) or the terminal
(`batch-mcp call`); `--no-confirm` lifts it for unattended automation. Nothing here trusts an
argument as consent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from batch_mcp.server.impact import (
    Lookups,
    Missing,
    ScalePlan,
    describe_impact,
    formula_targets,
    scale_plan,
    target_sizes,
)
from batch_mcp.server.selection import ROUTER_TOOLS, Selection


class GuardedTool(Protocol):
    name: str
    title: str
    guard: str

    @property
    def destructive(self) -> bool: ...


@dataclass(frozen=True)
class Proceed:
    plan: ScalePlan | None = None


@dataclass(frozen=True)
class Refuse:
    text: str


@dataclass(frozen=True)
class Confirm:
    question: str
    plan: ScalePlan | None = None


@dataclass(frozen=True)
class DryRun:
    plan: dict[str, Any] = field(default_factory=dict)


Decision = Proceed | Refuse | Confirm | DryRun

CANNOT_ASK = (
    "{tool} needs the user's confirmation, and this client cannot ask for it (it does not support "
    "elicitation). Nothing was changed. To allow such calls without confirmation in unattended automation, "
    "an operator can start batch-mcp with --no-confirm."
)


class Guardrails:
    def __init__(
        self, *, lookups: Lookups, selection: Selection, max_nodes: int | None, no_confirm: bool, read_only: bool
    ) -> None:
        self.lookups = lookups
        self.selection = selection
        self.max_nodes = max_nodes
        self.no_confirm = no_confirm
        self.read_only = read_only

    def availability(self, tool: GuardedTool) -> Refuse | None:
        if tool.name in self.selection.enabled:
            return None
        if self.read_only and tool.guard != "read":
            return Refuse(
                f"{tool.name} can change Batch state, and this server runs read-only (--read-only). "
                "Nothing was changed."
            )
        return Refuse(f"{tool.name} is not enabled on this server (see --tools / --exclude-tools).")

    async def decide(self, tool: GuardedTool, args: Mapping[str, Any]) -> Decision:
        unavailable = self.availability(tool)
        if unavailable:
            return unavailable
        if tool.name in ROUTER_TOOLS:
            return Proceed()  # the routed call passes these same checks on its own
        if self.max_nodes is not None:
            too_big = [n for n in target_sizes(args) if n > self.max_nodes]
            if too_big:
                return Refuse(
                    f"{tool.name} asks for {max(too_big)} nodes; this server allows at most "
                    f"{self.max_nodes} (--max-nodes). Nothing was changed."
                )
        if tool.guard == "scale":
            try:
                plan = await scale_plan(self.lookups, tool.name, args, self.max_nodes)
            except Missing as gone:
                return Refuse(f"{tool.name}: the pool was not found ({gone}).")
            if plan.refusal:
                return Refuse(plan.refusal + " Nothing was changed.")
            if args.get("dry_run"):
                return DryRun(plan.plan)
            if (tool.destructive or plan.stops_work) and not self.no_confirm:
                return Confirm(plan.question(tool.name), plan)
            return Proceed(plan)
        if tool.destructive and not self.no_confirm:
            try:
                question = await describe_impact(self.lookups, tool.name, args, tool.title)
            except Missing as gone:
                return Refuse(f"{tool.name}: nothing to do, the target was not found ({gone}).")
            return Confirm(question)
        return Proceed()

    async def after(self, tool: GuardedTool, args: Mapping[str, Any], decision: Decision) -> str | None:
        """Checks that can only run once the call has happened. Returns a note for the result.

        Autoscale on a pool that had it off cannot be evaluated beforehand; with --max-nodes set,
        evaluate it now and turn it back off if the formula asks for too many nodes.
        """
        if tool.name != "pool_enable_auto_scale" or self.max_nodes is None:
            return None
        plan = decision.plan if isinstance(decision, Proceed | Confirm) else None
        if plan is None or "requested" in plan.plan:
            return None
        pool_id = args["pool_id"]
        pool = await self.lookups.get("pool_get", {"pool_id": pool_id, "select": "id,autoScaleRun"})
        targets = formula_targets((pool.get("autoScaleRun") or {}).get("results", ""))
        if targets is None or sum(targets) <= self.max_nodes:
            return None
        await self.lookups.client.call("pool_disable_auto_scale", {"pool_id": pool_id})
        if "pool_stop_resize" in self.lookups.catalog:
            await self.lookups.client.call("pool_stop_resize", {"pool_id": pool_id})
        return (
            f"The formula asked for {sum(targets)} nodes, above --max-nodes {self.max_nodes}: autoscale was "
            f"turned off again and the resize stopped."
        )
