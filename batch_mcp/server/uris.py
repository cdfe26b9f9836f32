"""`batch://` resource URIs: parsing, formatting, and what each one maps to in the catalog.

    batch://pools/{poolId}                                   a pool (JSON)
    batch://pools/{poolId}/nodes/{nodeId}                    a compute node (JSON)
    batch://pools/{poolId}/nodes/{nodeId}/files/{+path}      a file on a node (startup/, agent logs, ...)
    batch://jobs/{jobId}                                     a job (JSON)
    batch://jobs/{jobId}/tasks/{taskId}                      a task (JSON)
    batch://jobs/{jobId}/tasks/{taskId}/files/{+path}        a task file (stdout.txt, stderr.txt, wd/...)
    batch://jobs/{jobId}/tasks{?state}                       a job's task changes (completed, failed, running)

A job's tasks take `?state=completed` (the default), `failed` or `running`: which changes a
subscription hears of. File URIs take one optional query: `?range=START-END` (bytes, inclusive; `START-` for the rest,
`-N` for the last N bytes) or `?tail=N` (the last N lines). Ids and path segments are
percent-encoded; `/` separates path segments and is never encoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from batch_mcp.catalog.bounds import ARG_BOUNDS, PATTERN_TEXTS

SCHEME = "batch"
Kind = Literal["pool", "node", "job", "task", "node_file", "task_file", "job_tasks"]
TASK_STATES = ("completed", "failed", "running")
MAX_TAIL_LINES = 100_000


READERS: dict[Kind, str] = {
    "pool": "pool_get",
    "node": "node_get",
    "job": "job_get",
    "task": "task_get",
    "node_file": "node_file_get",
    "task_file": "task_file_get",
    "job_tasks": "task_list",
}


class UriError(ValueError):
    """Not a `batch://` URI this server serves, or a query it cannot honour."""


@dataclass(frozen=True)
class Template:
    kind: Kind
    uri_template: str
    name: str
    title: str
    description: str
    mime_type: str | None
    variables: tuple[str, ...]


TEMPLATES: tuple[Template, ...] = (
    Template(
        "pool",
        "batch://pools/{poolId}",
        "pool",
        "Pool",
        "A pool: state, allocation, size and settings.",
        "application/json",
        ("poolId",),
    ),
    Template(
        "node",
        "batch://pools/{poolId}/nodes/{nodeId}",
        "node",
        "Compute node",
        "A compute node: state, start task result, errors.",
        "application/json",
        ("poolId", "nodeId"),
    ),
    Template(
        "node_file",
        "batch://pools/{poolId}/nodes/{nodeId}/files/{+path}",
        "node-file",
        "Node file",
        "A file on a node, e.g. startup/stdout.txt of the start task. Add ?tail=N for the last N lines or "
        "?range=START-END for bytes; reads return one window at most.",
        None,
        ("poolId", "nodeId", "path"),
    ),
    Template(
        "job",
        "batch://jobs/{jobId}",
        "job",
        "Job",
        "A job: state, pool, constraints, statistics.",
        "application/json",
        ("jobId",),
    ),
    Template(
        "job_tasks",
        "batch://jobs/{jobId}/tasks{?state}",
        "job-tasks",
        "Job's task changes",
        "A job's task counts and the tasks that completed (or ?state=failed, running) in the last 10 minutes. "
        "Subscribe to hear of each change, at a cost that does not grow with the job.",
        "application/json",
        ("jobId",),
    ),
    Template(
        "task",
        "batch://jobs/{jobId}/tasks/{taskId}",
        "task",
        "Task",
        "A task: state, exit code, failure information, node it ran on.",
        "application/json",
        ("jobId", "taskId"),
    ),
    Template(
        "task_file",
        "batch://jobs/{jobId}/tasks/{taskId}/files/{+path}",
        "task-file",
        "Task file",
        "A task's file: stdout.txt, stderr.txt or wd/... Add ?tail=N for the last N lines or "
        "?range=START-END for bytes; reads return one window at most.",
        None,
        ("jobId", "taskId", "path"),
    ),
)
TEMPLATE_BY_URI = {t.uri_template: t for t in TEMPLATES}


@dataclass(frozen=True)
class FileQuery:
    """What part of a file a URI asks for. `start`/`end` are inclusive byte offsets (`end` None: to the
    end); `suffix` is a count of bytes from the end; `tail` is a count of lines from the end."""

    start: int | None = None
    end: int | None = None
    suffix: int | None = None
    tail: int | None = None

    @property
    def is_default(self) -> bool:
        return self.start is None and self.suffix is None and self.tail is None


@dataclass(frozen=True)
class BatchUri:
    kind: Kind
    ids: tuple[str, ...]  # (poolId,) (poolId, nodeId) (jobId,) (jobId, taskId)
    path: str | None = None  # file path inside the task folder or node root
    query: FileQuery = FileQuery()
    state: str | None = None  # job_tasks: which changes (one of TASK_STATES)

    @property
    def is_file(self) -> bool:
        return self.path is not None

    @property
    def key(self) -> str:
        """The resource without a file query: what a watcher watches."""
        uri = format_uri(self.kind, self.ids, self.path)
        return f"{uri}?state={self.state}" if self.kind == "job_tasks" else uri

    @property
    def reader(self) -> str:
        """The catalog operation that reads this resource: it must be enabled for the resource to be."""
        return READERS[self.kind]

    @property
    def args(self) -> dict[str, str]:
        """The catalog tool arguments that name this resource."""
        names = {
            "pool": ("pool_id",),
            "node": ("pool_id", "node_id"),
            "node_file": ("pool_id", "node_id"),
            "job": ("job_id",),
            "job_tasks": ("job_id",),
            "task": ("job_id", "task_id"),
            "task_file": ("job_id", "task_id"),
        }[self.kind]
        out = dict(zip(names, self.ids, strict=True))
        if self.path is not None:
            out["file_path"] = self.path
        return out

    def with_query(self, **query: int | None) -> str:
        """This resource's URI with another query (`range=(start, end)` or `tail=n`)."""
        return self.key + _format_query(FileQuery(**query))


def _enc(value: str) -> str:
    return quote(value, safe="")


def format_uri(kind: Kind, ids: tuple[str, ...], path: str | None = None) -> str:
    if kind in ("pool", "node", "node_file"):
        uri = f"{SCHEME}://pools/{_enc(ids[0])}"
        if kind != "pool":
            uri += f"/nodes/{_enc(ids[1])}"
    else:
        uri = f"{SCHEME}://jobs/{_enc(ids[0])}"
        if kind == "job_tasks":
            uri += "/tasks"
        elif kind != "job":
            uri += f"/tasks/{_enc(ids[1])}"
    if path is not None:
        uri += "/files/" + "/".join(_enc(part) for part in path.split("/"))
    return uri


def _format_query(query: FileQuery) -> str:
    if query.tail is not None:
        return f"?tail={query.tail}"
    if query.suffix is not None:
        return f"?range=-{query.suffix}"
    if query.start is not None:
        return f"?range={query.start}-{'' if query.end is None else query.end}"
    return ""


def file_uri(kind: Kind, ids: tuple[str, ...], path: str, *, start: int | None = None, end: int | None = None) -> str:
    return format_uri(kind, ids, path) + _format_query(FileQuery(start=start, end=end))


def not_served(target: BatchUri) -> str:
    """Why a resource is refused: the operation that reads it is not enabled on this server."""
    return (
        f"{target.reader} is not enabled on this server (--tools / --exclude-tools), so its resources are not "
        "served either."
    )


def parse_uri(uri: str) -> BatchUri:
    """Parse a `batch://` URI; raises UriError with a message a model can act on. Its ids and path
    obey the bounds every tool argument is checked against (no NUL or control characters, ids of
    1 to 64 letters, digits, hyphens and underscores, ...), so nothing outside them reaches Batch."""
    target = _parse(uri)
    for name, value in target.args.items():
        pattern = ARG_BOUNDS.get(name, {}).get("pattern")
        if pattern and not re.match(pattern, value):
            raise UriError(f"{name} {_shown(value)}: expected {PATTERN_TEXTS.get(pattern, pattern)}")
    return target


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:80] + "...")


def _parse(uri: str) -> BatchUri:
    parts = urlsplit(uri)
    if parts.scheme != SCHEME:
        raise UriError(f"not a {SCHEME}:// URI: {uri!r}")
    if parts.fragment:
        raise UriError("batch:// URIs take no fragment")
    segments = parts.path.split("/")[1:] if parts.path else []
    root = parts.netloc
    if root not in ("pools", "jobs") or not segments or not segments[0]:
        raise UriError(f"unknown resource {uri!r}: expected batch://pools/{{poolId}}... or batch://jobs/{{jobId}}...")
    child = "nodes" if root == "pools" else "tasks"
    first = _id(segments[0])
    if len(segments) == 1:
        return _no_query(BatchUri("pool" if root == "pools" else "job", (first,)), parts.query)
    if root == "jobs" and segments[1:] in (["tasks"], ["tasks", ""]):
        return BatchUri("job_tasks", (first,), state=_task_state(parts.query))
    if segments[1] != child or len(segments) < 3 or not segments[2]:
        raise UriError(f"unknown resource {uri!r}: after the {root[:-1]} id comes /{child}/{{id}}")
    second = _id(segments[2])
    ids = (first, second)
    if len(segments) == 3:
        return _no_query(BatchUri("node" if root == "pools" else "task", ids), parts.query)
    if segments[3] != "files" or len(segments) < 5:
        raise UriError(f"unknown resource {uri!r}: after the {child[:-1]} id comes /files/{{path}}")
    path = _file_path(segments[4:])
    kind: Kind = "node_file" if root == "pools" else "task_file"
    return BatchUri(kind, ids, path, _parse_query(parts.query))


def _id(segment: str) -> str:
    value = unquote(segment)
    if not value or "/" in value or value in (".", ".."):
        raise UriError(f"invalid id {value!r}")
    return value


def _file_path(segments: list[str]) -> str:
    parts = [unquote(s) for s in segments]
    if not parts[-1]:
        parts = parts[:-1]  # a trailing slash names the same file
    if not parts or any(p in ("", ".", "..") for p in parts):
        raise UriError("a file path needs non-empty segments and no '.' or '..'")
    return "/".join(parts)


def _task_state(text: str) -> str:
    pairs = parse_qsl(text, keep_blank_values=True)
    if not pairs:
        return TASK_STATES[0]
    if len(pairs) != 1 or pairs[0][0] != "state" or pairs[0][1] not in TASK_STATES:
        raise UriError(f"a job's tasks take one query: ?state= and one of {', '.join(TASK_STATES)}")
    return pairs[0][1]


def _no_query(target: BatchUri, query: str) -> BatchUri:
    if query:
        raise UriError("only file resources take ?range= or ?tail=")
    return target


def _parse_query(text: str) -> FileQuery:
    if not text:
        return FileQuery()
    pairs = parse_qsl(text, keep_blank_values=True)
    names = [name for name, _ in pairs]
    if len(pairs) != 1 or names[0] not in ("range", "tail"):
        raise UriError(
            "a file URI takes one query: ?range=START-END, ?range=-N (last N bytes) or ?tail=N (last N lines)"
        )
    name, value = pairs[0]
    value = value.strip()
    if name == "tail":
        if not value.isdigit() or not 1 <= int(value) <= MAX_TAIL_LINES:
            raise UriError(f"?tail= takes a number of lines from 1 to {MAX_TAIL_LINES}")
        return FileQuery(tail=int(value))
    first, dash, last = value.removeprefix("bytes=").partition("-")
    if not dash or (first and not first.isdigit()) or (last and not last.isdigit()) or not (first or last):
        raise UriError("?range= takes START-END, START- or -N (bytes, inclusive)")
    if not first:
        if int(last) < 1:
            raise UriError("?range=-N needs N of at least 1")
        return FileQuery(suffix=int(last))
    start, end = int(first), (int(last) if last else None)
    if end is not None and end < start:
        raise UriError("?range=START-END needs END at or after START")
    return FileQuery(start=start, end=end)
