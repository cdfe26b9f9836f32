"""The live-state conditions behind the catalog's `asks` effect rules (see catalog/effects.py).

Which tool and field a rule covers is catalog data (`texts.toml`); this module only knows how to
tell whether a condition holds now, and how to say what would happen: "job render has existed for
2 h 05 min; constraints.maxWallClockTime=PT1S ends it at once: 3 running task(s) are killed". A
condition that cannot be read (a lookup fails) is reported as such and still asked, never skipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from batch_mcp.batch.errors import BatchError
from batch_mcp.catalog.durations import parse_duration
from batch_mcp.catalog.effects import Effect
from batch_mcp.redaction import redact_text
from batch_mcp.server.impact import Lookups, Missing

MARGIN_SECONDS = 60.0  # a limit that expires within this much from now counts as "at once"
JOB_RUNNING_STATES = frozenset({"active", "enabling", "disabling", "disabled"})

Check = Callable[["Probe"], Awaitable[str | None]]


def duration_seconds(text: Any) -> float | None:
    try:
        return parse_duration(text).total_seconds()
    except (ValueError, OverflowError):
        return None


def _when(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


class Probe:
    """One rule, one value, one call: what the condition checks read."""

    def __init__(
        self, look: Lookups, effect: Effect, args: Mapping[str, Any], value: Any, now: Callable[[], datetime]
    ) -> None:
        self.look, self.effect, self.args, self.value, self._now = look, effect, args, value, now
        self.field = effect.field.strip("/").replace("/", ".")

    @property
    def setting(self) -> str:
        return f"{self.field}={_shown(self.value)}"

    def now(self) -> datetime:
        return self._now()

    async def job(self) -> dict[str, Any]:
        return await self.look.get(
            "job_get", {"job_id": self.args["job_id"], "select": "id,state,creationTime,executionInfo"}
        )

    async def task(self) -> dict[str, Any]:
        return await self.look.get(
            "task_get",
            {
                "job_id": self.args["job_id"],
                "task_id": self.args["task_id"],
                "select": "id,state,executionInfo,nodeInfo",
            },
        )


def _shown(value: Any) -> str:
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"  # the query (a SAS) is never shown
    return redact_text(str(value))[:200]


async def _always(p: Probe) -> str | None:
    return f"{p.setting}: {p.effect.effect}."


async def _elapsed(p: Probe) -> str | None:
    limit = duration_seconds(p.value)
    if limit is None:
        return None
    if p.effect.on == "job":
        job = await p.job()
        started = _when(job.get("creationTime"))
        if job.get("state") not in JOB_RUNNING_STATES or started is None:
            return None
        ran = (p.now() - started).total_seconds()
        if ran + MARGIN_SECONDS < limit:
            return None
        counts = await p.look.task_counts(p.args["job_id"])
        return (
            f"Job {p.args['job_id']} has existed for {_span(ran)}; {p.setting} ends it at once: "
            f"{counts['running']} running task(s) are killed and {counts['active']} waiting task(s) never run."
        )
    task = await p.task()
    started = _when((task.get("executionInfo") or {}).get("startTime"))
    if task.get("state") != "running" or started is None:
        return None
    ran = (p.now() - started).total_seconds()
    if ran + MARGIN_SECONDS < limit:
        return None
    node = (task.get("nodeInfo") or {}).get("nodeId")
    where = f" on node {node}" if node else ""
    return (
        f"Task {p.args['task_id']} of job {p.args['job_id']} has been running{where} for {_span(ran)}; "
        f"{p.setting} kills it at once."
    )


async def _retention(p: Probe) -> str | None:
    limit = duration_seconds(p.value)
    if limit is None:
        return None
    task = await p.task()
    ended = _when((task.get("executionInfo") or {}).get("endTime"))
    if task.get("state") != "completed" or ended is None:
        if limit > MARGIN_SECONDS:
            return None
        return (
            f"Task {p.args['task_id']} of job {p.args['job_id']} is {task.get('state', 'not completed')}; "
            f"{p.setting} deletes its folder on the node as soon as it completes, before its output can be read."
        )
    ago = (p.now() - ended).total_seconds()
    if ago + MARGIN_SECONDS < limit:
        return None
    return (
        f"Task {p.args['task_id']} of job {p.args['job_id']} completed {_span(ago)} ago; {p.setting} deletes its "
        "folder on the node at once, with every output file in it."
    )


async def _idle(p: Probe) -> str | None:
    job = await p.job()
    if job.get("state") not in JOB_RUNNING_STATES:
        return None
    counts = await p.look.task_counts(p.args["job_id"])
    if counts["active"] or counts["running"]:
        return None
    return (
        f"Job {p.args['job_id']} has no active or running tasks; {p.setting} ends it at once, and it accepts no "
        "more tasks."
    )


CHECKS: dict[str, Check] = {"always": _always, "elapsed": _elapsed, "retention": _retention, "idle": _idle}


async def effect_impacts(
    look: Lookups,
    effects: tuple[Effect, ...],
    args: Mapping[str, Any],
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[str]:
    """A sentence for every `asks` rule whose condition holds now; a failed lookup still asks."""
    out: list[str] = []
    for effect in effects:
        if effect.guard != "asks":
            continue
        for _, value in effect.values(args):
            if effect.equals is not None and value != effect.equals:
                continue
            probe = Probe(look, effect, args, value, now)
            try:
                sentence = await CHECKS[effect.when or "always"](probe)
            except Missing:
                sentence = None  # the call itself will answer that the target does not exist
            except BatchError as exc:
                sentence = f"{probe.setting} {effect.effect}; whether it does now could not be read ({exc})."
            if sentence:
                out.append(sentence)
    return out
