"""Results carry what a model decides on: lists return each item's default fields and say what they
left out, entities come without links, bookkeeping and defaults, creates and actions without eTag
and request id (the audit log keeps those), and `select` returns anything as Batch sends it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from batch_mcp.catalog import load_catalog
from batch_mcp.server.lean import lean, left_out_note, project, projection_tree
from tests.server.conftest import text
from tests.server.workflows.conftest import ERA_VERSIONS, ok, run_task, workflow_client

pytestmark = pytest.mark.anyio


class BodyRecorder(httpx2.AsyncBaseTransport):
    """Sends every request to the emulator and keeps the last body Batch sent for each path."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.bodies: dict[str, bytes] = {}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.bodies[request.url.path] = body
        return httpx2.Response(response.status_code, headers=response.headers, content=body)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize(("era", "version"), ERA_VERSIONS)
async def test_a_task_list_returns_the_fields_that_matter_and_names_the_rest(
    tmp_path: Path, era: str, version: str
) -> None:
    async with workflow_client(tmp_path, era, api_version=version) as client:
        await ok(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        await run_task(client, "j", "bad", "/bin/sh -c 'exit 3'")
        result = await ok(client, "task_list", {"job_id": "j"})
        item = (result.structured_content or {})["items"][0]
        assert item["id"] == "bad" and item["state"] == "completed"
        assert item["executionInfo"]["exitCode"] == 3 and item["executionInfo"]["result"] == "failure"
        assert set(item) <= {"id", "state", "stateTransitionTime", "executionInfo"}
        assert "url" not in text(result) and "eTag" not in json.dumps(item)
        note = text(result).splitlines()[-1]
        assert note.startswith("Left out: ") and "commandLine" in note and "select" in note

        selected = await ok(client, "task_list", {"job_id": "j", "select": "id,url,eTag,commandLine"})
        raw = (selected.structured_content or {})["items"][0]
        assert raw["url"].endswith("/jobs/j/tasks/bad") and raw["eTag"] and raw["commandLine"]
        assert "Left out" not in text(selected)


@pytest.mark.parametrize("tool", ["task_get", "pool_get"])
async def test_a_get_is_at_least_forty_percent_smaller_than_the_body_batch_sent(tmp_path: Path, tool: str) -> None:
    recorder = BodyRecorder()
    async with workflow_client(tmp_path, transport=recorder) as client:
        await ok(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        await run_task(client, "j", "t", "/bin/sh -c 'echo hi; exit 2'")
        args: dict[str, Any] = {"job_id": "j", "task_id": "t"} if tool == "task_get" else {"pool_id": "local"}
        path = "/jobs/j/tasks/t" if tool == "task_get" else "/pools/local"
        result = await ok(client, tool, args)
        raw = recorder.bodies[path]
        reply = text(result).encode()
        assert len(reply) <= 0.6 * len(raw), (len(reply), len(raw))
        assert b"url" not in reply and b"eTag" not in reply.splitlines()[-1]
        assert text(result).startswith("Left out: links, eTag, lastModified")

        selected = await ok(client, tool, {**args, "select": "id,url,eTag"})
        assert set(selected.structured_content or {}) == {"id", "url", "eTag"}


async def test_creates_and_actions_reply_in_a_few_words_and_the_audit_keeps_the_etag(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        created = await ok(client, "job_add", {"id": "quiet", "poolInfo": {"poolId": "local"}})
        assert text(created) == "job_add done."
        action = await ok(client, "pool_resize", {"pool_id": "local", "targetDedicatedNodes": 2})
        assert text(action) == "pool_resize accepted; Batch completes it in the background."
    entries = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    by_tool = {entry["tool"]: entry for entry in entries}
    for name in ("job_add", "pool_resize"):
        assert by_tool[name]["outcome"] == "ok"
        assert by_tool[name]["response"]["eTag"] and by_tool[name]["requestId"]


def test_every_projection_is_a_lists_and_its_output_schema_describes_exactly_its_fields() -> None:
    for version in ("2018-08-01.7.0", "2024-02-01.19.0"):
        for tool in load_catalog(version):
            if not tool.projection:
                continue
            assert tool.http.result == "list", tool.name
            item_schema = tool.output_schema["properties"]["items"]["items"]  # type: ignore[index]
            top = {path.split("/")[0] for path in tool.projection}
            assert top == set(item_schema["properties"]), tool.name


def test_lean_drops_links_bookkeeping_defaults_and_says_so_by_kind() -> None:
    task = {
        "id": "t",
        "url": "https://a.b/jobs/j/tasks/t",
        "eTag": "0x1",
        "lastModified": "2026-01-01T00:00:00Z",
        "creationTime": "2026-01-01T00:00:00Z",
        "stateTransitionTime": "2026-01-01T00:00:00Z",
        "requiredSlots": 1,
        "constraints": {"maxTaskRetryCount": 0, "retentionTime": "P7D", "maxWallClockTime": "PT1H"},
        "executionInfo": {"exitCode": 0, "retryCount": 0, "result": "success"},
        "nodeInfo": {"nodeId": "n1", "nodeUrl": "https://a.b/pools/p/nodes/n1"},
    }
    slim, left_out = lean(task)
    assert slim == {
        "id": "t",
        "creationTime": "2026-01-01T00:00:00Z",
        "constraints": {"maxWallClockTime": "PT1H"},
        "executionInfo": {"exitCode": 0, "result": "success"},
        "nodeInfo": {"nodeId": "n1"},
    }
    note = left_out_note(left_out)
    assert note.startswith("Left out: links, eTag, lastModified, 5 default values")
    assert lean({"id": "t", "executionInfo": {"exitCode": 0}})[1] == []  # an exit code of 0 is never a default


def test_a_projection_keeps_named_fields_through_lists() -> None:
    tree = projection_tree(["id", "resizeErrors/code", "executionInfo/failureInfo/message"])
    pool = {
        "id": "p",
        "vmSize": "x",
        "resizeErrors": [{"code": "Quota", "message": "m", "values": []}],
        "executionInfo": {"exitCode": 1, "failureInfo": {"code": "c", "message": "boom"}},
    }
    assert project(pool, tree) == {
        "id": "p",
        "resizeErrors": [{"code": "Quota"}],
        "executionInfo": {"failureInfo": {"message": "boom"}},
    }
