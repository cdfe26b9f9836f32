"""A job's task changes, at a Batch cost that does not grow with the job.

`TaskChanges` remembers the latest state transition it has seen (a watermark on the service's
clock) and asks Batch only for the tasks of one kind (completed, failed or running) whose state
changed after it: one filtered, `$select`-trimmed list request per poll, whether the job has ten
tasks or a hundred thousand. The first call sets the watermark from the service's own clock
(the `Date` of a one-field job read, which also tells whether the job exists), so nothing that
happened before the watch started is reported.

Used by the `batch://jobs/{jobId}/tasks` subscriptions (events) and by `wait_for` on a job.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batch_mcp.batch import BatchClient

# What each watched kind of change is, as a Batch filter on the job's tasks.
STATE_FILTERS = {
    "completed": "state eq 'completed'",
    "failed": "executionInfo/result eq 'failure'",
    "running": "state eq 'running'",
}
DEFAULT_STATE = "completed"
TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})?$")
CHANGED_SELECT = "id,state,stateTransitionTime,executionInfo"
PAGE = 1000  # tasks one poll reads at most (one request); more changes are still seen as a change
RECENT = timedelta(minutes=10)  # how far back a read of the resource looks
SHOWN = 100  # tasks a read of the resource lists


def time_key(text: str) -> str | None:
    """An ISO 8601 time as a sortable UTC key with Batch's 7 fractional digits
    (`2026-11-29T03:08:00.7052410`), kept to the last digit so a watermark never re-reports the
    task it came from; None when it is not a time."""
    found = TIME.match(text.strip())
    if not found:
        return None
    head, digits, zone = found.groups()
    try:
        moment = datetime.fromisoformat(head + ("+00:00" if zone in ("", "Z", "z") else zone))
    except ValueError:
        return None
    moment = moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{((digits or '') + '0000000')[:7]}"


def key_of(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0"


def changed_filter(state: str, since: str) -> str:
    """Tasks in `state` whose state changed after the time key `since`."""
    return f"({STATE_FILTERS[state]}) and stateTransitionTime gt datetime'{since}Z'"


def service_time(headers: Mapping[str, str]) -> datetime:
    """The service's clock from a reply's `Date` header (this machine's when there is none)."""
    date = next((v for k, v in headers.items() if k.lower() == "date"), None)
    if date:
        try:
            return email.utils.parsedate_to_datetime(date).astimezone(UTC)
        except (TypeError, ValueError):
            pass
    return datetime.now(UTC)


class TaskChanges:
    """The tasks of `job_id` that entered `state` since the last call of `poll`."""

    def __init__(self, client: BatchClient, job_id: str, state: str = DEFAULT_STATE) -> None:
        if state not in STATE_FILTERS:
            raise ValueError(f"state is one of {', '.join(STATE_FILTERS)}")
        self.client, self.job_id, self.state = client, job_id, state
        self.watermark: str | None = None  # a time key (see time_key)
        self.requests = 0

    async def start(self) -> str:
        """Set the watermark to the service's clock now (one small read; 404 if the job is gone)."""
        reply = await self.client.call("job_get", {"job_id": self.job_id, "select": "id"})
        self.requests += 1
        self.watermark = key_of(service_time(reply.headers))
        return self.watermark

    async def poll(self) -> list[dict[str, Any]]:
        """Tasks that entered the state since the watermark, which moves to the latest one seen.
        The first call only sets the watermark."""
        if self.watermark is None:
            await self.start()
            return []
        since = self.watermark
        page = await self.client.list(
            "task_list",
            {"job_id": self.job_id, "filter": changed_filter(self.state, since), "select": CHANGED_SELECT},
            max_items=PAGE,
        )
        self.requests += 1
        for task in page.items:
            key = time_key(str(task.get("stateTransitionTime") or ""))
            if key is not None and key > self.watermark:
                self.watermark = key
        return page.items


async def recent_task_changes(client: BatchClient, job_id: str, state: str = DEFAULT_STATE) -> dict[str, Any]:
    """What a read of `batch://jobs/{jobId}/tasks?state=...` returns: the job's task counts and the
    tasks that entered the state in the last RECENT (latest first, at most SHOWN), in two requests."""
    reply = await client.call("job_get_task_counts", {"job_id": job_id})
    counts = reply.data or {}
    since = key_of(service_time(reply.headers) - RECENT)
    query = {"job_id": job_id, "filter": changed_filter(state, since), "select": CHANGED_SELECT}
    page = await client.list("task_list", query, max_items=PAGE)
    tasks = sorted(page.items, key=lambda t: time_key(str(t.get("stateTransitionTime") or "")) or "", reverse=True)
    return {
        "jobId": job_id,
        "state": state,
        "since": since + "Z",
        "taskCounts": counts.get("taskCounts", counts),
        "tasks": [task_line(task) for task in tasks[:SHOWN]],
        "more": max(0, len(tasks) - SHOWN),
    }


def task_line(task: Mapping[str, Any]) -> dict[str, Any]:
    """What a change report says about one task."""
    info = task.get("executionInfo") or {}
    out: dict[str, Any] = {"id": task.get("id"), "state": task.get("state")}
    for key in ("exitCode", "result"):
        if info.get(key) is not None:
            out[key] = info[key]
    failure = info.get("failureInfo") or {}
    if failure.get("code"):
        out["failure"] = failure["code"]
    if task.get("stateTransitionTime"):
        out["at"] = task["stateTransitionTime"]
    return out
