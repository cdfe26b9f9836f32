"""The one policy every tool call passes, decided by the tool's guard class and effect rules.

- not enabled (read-only mode, excluded, outside an allow-list) → refuse;
- `--max-nodes`: any fixed pool size above it → refuse; every autoscale formula is sent with a
  clamp to it appended (`limits.py`), and one that cannot be bounded is refused;
- `scale` → a live plan; `dry_run` returns it; a scale-down that stops running work, or a scale
  tool marked destructive, needs the user's confirmation;
- `destructive` → the user's confirmation, with the impact computed from live state;
- the catalog's `asks` effect rules (a write whose field would stop work or remove data now, read
  from live state: `effect_checks.py`) → the user's confirmation, with that impact;
- new command lines for the local emulator with no sandbox in effect → the user's confirmation,
  showing them (`execution.py`), unless the execution policy is `unrestricted`;
- everything else proceeds.

Confirmation is asked by the MCP layer (elicitation or `InputRequiredResult`) or the terminal
(`batch-mcp call`); `--no-confirm` lifts it for destructive and scale calls and effect rules (not
for command lines: that is the execution policy's business). Nothing here trusts an argument as
consent. Several reasons to ask make one question.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from batch_mcp.batch.errors import BatchServiceError
from batch_mcp.catalog.effects import Effect
from batch_mcp.server.effect_checks import effect_impacts
from batch_mcp.server.errors import batch_error_text
from batch_mcp.server.execution import ExecPolicy, command_lines, run_context
from batch_mcp.server.impact import Lookups, Missing, NothingToDo, ScalePlan, describe_impact, scale_plan
from batch_mcp.server.limits import FORMULA_FIELD, bound
from batch_mcp.server.selection import ROUTER_TOOLS, Selection


class GuardedTool(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def guard(self) -> str: ...

    @property
    def destructive(self) -> bool: ...


@dataclass(frozen=True)
class Proceed:
    plan: ScalePlan | None = None
    args: Mapping[str, Any] | None = None  # what to send, when the guardrails changed it (a bounded formula)
    note: str | None = None  # said in the result: what the guardrails changed


@dataclass(frozen=True)
class Refuse:
    text: str


@dataclass(frozen=True)
class Confirm:
    question: str
    plan: ScalePlan | None = None
    args: Mapping[str, Any] | None = None
    note: str | None = None
    unasked: str = ""  # the refusal when the user cannot be asked
    bound: str = ""  # a digest of the command lines shown: a later answer must be about these same ones


@dataclass(frozen=True)
class DryRun:
    plan: dict[str, Any] = field(default_factory=dict)


Decision = Proceed | Refuse | Confirm | DryRun

CANNOT_ASK = (
    "{tool} needs the user's confirmation, and this client cannot ask for it (it does not support "
    "elicitation). Nothing was changed. To allow such calls without confirmation in unattended automation, "
    "an operator can start batch-mcp with --no-confirm."
)
CANNOT_ASK_EXEC = (
    "{tool} would run command lines on this computer with no sandbox, which needs the user's yes, and this client "
    "cannot ask for it (it does not support elicitation). Nothing was changed. An operator can run the emulator "
    "in a sandbox where bubblewrap or user namespaces work (--emulator-exec sandbox; for a `batch-mcp emulator` "
    "run on its own, its --sandbox on) or, for trusted setups only, allow it with --emulator-exec unrestricted."
)


class Guardrails:
    def __init__(
        self,
        *,
        lookups: Lookups,
        selection: Selection,
        max_nodes: int | None,
        no_confirm: bool,
        read_only: bool,
        exec_policy: ExecPolicy | None = None,
    ) -> None:
        self.lookups = lookups
        self.selection = selection
        self.max_nodes = max_nodes
        self.no_confirm = no_confirm
        self.read_only = read_only
        self.exec_policy = exec_policy

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
        if tool.name in ROUTER_TOOLS or tool.guard == "read":
            return Proceed()  # a routed call passes these same checks on its own
        try:
            sent, note = await self._bounded(tool, args)
        except _Refused as refused:
            return Refuse(refused.text)
        except Missing as gone:
            return Refuse(_not_found(tool.name, gone))
        questions: list[str] = []
        unasked = CANNOT_ASK.format(tool=tool.name)
        bound = ""
        plan: ScalePlan | None = None
        if tool.guard == "scale":
            try:
                plan = await scale_plan(self.lookups, tool.name, sent, self.max_nodes)
            except Missing as gone:
                return Refuse(_not_found(tool.name, gone))
            if FORMULA_FIELD in sent and note:
                plan.plan["formulaSent"] = sent[FORMULA_FIELD]
            if plan.refusal:
                return Refuse(plan.refusal + " Nothing was changed.")
            if args.get("dry_run"):
                return DryRun(plan.plan)
            if (tool.destructive or plan.stops_work) and not self.no_confirm:
                questions.append(plan.question(tool.name))
        elif tool.destructive and not self.no_confirm:
            try:
                questions.append(await describe_impact(self.lookups, tool.name, sent, tool.title))
            except Missing as gone:
                return Refuse(_not_found(tool.name, gone))
            except NothingToDo as done:
                return Refuse(f"{tool.name}: nothing to do: {done}. Nothing was changed.")
        if not self.no_confirm:
            effects: tuple[Effect, ...] = getattr(tool, "effects", ())
            questions.extend(await effect_impacts(self.lookups, effects, sent))
        if (
            self.exec_policy is not None
            and (next(command_lines(sent), None) is not None or next(run_context(sent), None) is not None)
            and await self.exec_policy.asks_now()
        ):
            # A template's command lines are shown filled in, and exactly those are sent (a file of
            # lines may change after the question).
            spell_out = getattr(tool, "spell_out", None)
            try:
                runs = await spell_out(self.lookups.client, sent, self.selection.enabled) if spell_out else sent
            except ValueError as exc:
                return Refuse(f"{exc} Nothing was sent to Batch.")
            found = list(command_lines(runs)) if runs is not None else []
            context = list(run_context(runs)) if runs is not None else []
            if found or context:
                questions.append(self.exec_policy.question(tool.name, found, context))
                unasked = CANNOT_ASK_EXEC.format(tool=tool.name)
                sent = runs or sent
                shown = [text for _, text in found] + context
                bound = hashlib.sha256("\0".join(shown).encode()).hexdigest()[:32]
        changed = sent if sent is not args else None
        if questions:
            return Confirm("\n\n".join(questions), plan, changed, note, unasked, bound)
        return Proceed(plan, changed, note)

    async def _bounded(self, tool: GuardedTool, args: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
        """The arguments with every autoscale formula bounded by --max-nodes, and a note saying so."""
        if self.max_nodes is None:
            return args, None
        given = dict(args)
        if tool.name == "pool_enable_auto_scale" and FORMULA_FIELD not in given:
            # Without a formula, enabling re-evaluates the pool's current one: bound that one.
            pool = await self.lookups.get("pool_get", {"pool_id": args["pool_id"], "select": "id,autoScaleFormula"})
            if isinstance(pool.get(FORMULA_FIELD), str):
                given[FORMULA_FIELD] = pool[FORMULA_FIELD]
        bounded = bound(tool.name, given, self.max_nodes)
        if bounded.refusal:
            raise _Refused(bounded.refusal + " Nothing was changed.")
        if not bounded.clamped:
            return args, None
        where = ", ".join(pointer.strip("/").replace("/", ".") for pointer in bounded.clamped)
        return bounded.args, (
            f"--max-nodes {self.max_nodes}: {where} was sent with a bound appended that keeps dedicated plus spot "
            f"nodes at or below {self.max_nodes}."
        )


class _Refused(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _not_found(tool_name: str, gone: Missing) -> str:
    """A target that a plan or question found missing, told as Batch's own 404 for the call."""
    cause = gone.__cause__
    said = batch_error_text(tool_name, cause) if isinstance(cause, BatchServiceError) else f"{tool_name}: {gone}"
    head, _, request_id = said.rpartition("\nrequest-id: ")
    if not head:
        return f"{said}\nNothing was changed."
    return f"{head}\nNothing was changed.\nrequest-id: {request_id}"
