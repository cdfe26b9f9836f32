"""Inputs carry Batch's documented bounds: bad ones fail here, with the field named, and never reach Batch.

The attacker (or a confused model) sends what Batch would reject or choke on: a 100,000-character
id or filter (which used to escape as an `httpx2.InvalidURL`, a JSON-RPC internal error in the
2026 era), a 2 MB command line, a NUL in an id, negative node counts, a deeply nested body, a
non-ASCII ETag. Each must come back as a tool error naming the JSON path, in both protocol eras,
directly and through the router, with nothing on the wire. (A 50,000-level body never gets this
far: the SDK refuses to parse or send it.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.security.conftest import scripted_server
from tests.server.conftest import ERAS, call, text

pytestmark = pytest.mark.anyio


def deep(levels: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return root


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("job_get", {"job_id": "j" * 100_000}, "$.job_id"),
    ("job_list", {"filter": "id eq '" + "x" * 100_000 + "'"}, "$.filter"),
    ("pool_get", {"pool_id": "p\x00ol"}, "$.pool_id"),
    ("task_add", {"job_id": "j", "id": "t", "commandLine": "echo " + "x" * 2_000_000}, "$.commandLine"),
    ("task_add", {"job_id": "j", "id": "t\x00", "commandLine": "true"}, "$.id"),
    ("task_add", {"job_id": "j", "id": "t" * 65, "commandLine": "true"}, "$.id"),
    ("pool_resize", {"pool_id": "p", "targetDedicatedNodes": -3}, "$.targetDedicatedNodes"),
    ("pool_add", {"id": "p", "vmSize": "s", "targetLowPriorityNodes": -1}, "$.targetLowPriorityNodes"),
    ("job_update", {"job_id": "j", "if_match": "\x80\x81"}, "$.if_match"),
    ("task_add", {"job_id": "j", "id": "t", "commandLine": "x", "environmentSettings": [deep(100)]}, "nested"),
    ("task_diagnose", {"job_id": "j" * 100_000, "task_id": "t"}, "$.job_id"),
    ("wait_for", {"job_id": "j", "timeout": -5}, "$.timeout"),
    ("file_tail", {"job_id": "j", "task_id": "t", "file_path": "stdout.txt", "lines": -1}, "$.lines"),
]


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize(("tool", "args", "named"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_bad_input_fails_locally_with_the_field_named(
    tmp_path: Path, era: str, tool: str, args: dict[str, Any], named: str
) -> None:
    sent: list[httpx2.Request] = []

    def batch(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(404, json={"code": "NotFound", "message": {"value": "no"}})

    async with scripted_server(tmp_path, batch, era=era) as client:
        direct = await call(client, tool, args)
    assert direct.is_error, text(direct)
    assert named in text(direct), text(direct)
    assert sent == []


async def test_the_router_checks_the_same_bounds(tmp_path: Path) -> None:
    sent: list[httpx2.Request] = []

    def batch(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(404)

    async with scripted_server(tmp_path, batch, toolsets=["default"], era="2026-07-28") as client:
        huge = {"job_schedule_id": "s" * 100_000}
        read = await call(client, "batch_tools", {"name": "job_schedule_get", "arguments": huge})
        change = await call(client, "batch_call", {"name": "job_schedule_disable", "arguments": huge})
    for result in (read, change):
        assert result.is_error and "$.job_schedule_id" in text(result)
    assert sent == []


@pytest.mark.parametrize("era", ERAS)
async def test_ten_thousand_unknown_arguments_get_a_short_error_not_one_line_each(tmp_path: Path, era: str) -> None:
    sent: list[httpx2.Request] = []

    def batch(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(404)

    args: dict[str, Any] = {f"a{i}": i for i in range(10_000)}
    async with scripted_server(tmp_path, batch, era=era) as client:
        result = await call(client, "pool_list", {**args, "maxresult": 5})
    shown = text(result)
    assert result.is_error and "$.a0: unknown field" in shown
    assert "$.maxresult: unknown field (did you mean 'max_results'?)" in shown  # the likely typo is not lost
    assert "9,9" in shown and "more unknown fields" in shown
    assert len(shown) < 2_000, len(shown)
    assert sent == []
