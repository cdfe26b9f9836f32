"""Links out of a node's folder, through every file route: a task (code the agent was asked to run,
or that a prompt-injected model wrote) plants symlinks in its working folder; no route may then
read, describe, list or delete anything outside the node's folder by following them.

Routes: the emulator's REST API (task and node files: GET, HEAD, list, DELETE, recursive too),
the MCP tools (`task_file_get`, `node_file_get`, `task_file_delete`, ...), `batch://` resources,
the server's HTTP `/files/` endpoint, and resource files written into a task folder."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.conftest import Api, make_pool, running
from tests.server.conftest import call, text
from tests.server.resources.conftest import http_serve, run_task, serve

pytestmark = pytest.mark.anyio

SECRET = "the neighbour's secret"


@dataclass
class Outside:
    """Files outside any node folder that an attacker wants to read or destroy."""

    root: Path

    @classmethod
    def make(cls, tmp_path: Path) -> Outside:
        root = tmp_path / "outside"
        (root / "dir").mkdir(parents=True)
        (root / "secret.txt").write_text(SECRET, encoding="utf-8")
        (root / "victim.txt").write_text("keep me", encoding="utf-8")
        (root / "dir" / "victim.txt").write_text("keep me too", encoding="utf-8")
        return cls(root)

    def intact(self) -> bool:
        return (
            (self.root / "secret.txt").read_text(encoding="utf-8") == SECRET
            and (self.root / "victim.txt").read_text(encoding="utf-8") == "keep me"
            and (self.root / "dir" / "victim.txt").read_text(encoding="utf-8") == "keep me too"
        )


def planting(outside: Outside) -> str:
    """A command line that plants links to outside (absolute, relative, to /) and one inside."""
    o = outside.root
    return (
        "/bin/sh -c '"
        f"ln -s {o}/secret.txt secret; ln -s {o} outdir; ln -s / root; ln -s {o}/victim.txt victim; "
        "ln -s ../../../../../../../../../../../../../../.. up; ln -s ../stdout.txt inner; "
        "mkdir -p real/deep; echo inside > real/deep/file.txt; ln -s real/deep deeplink; echo planted'"
    )


READ_ATTEMPTS = [
    "wd/secret",
    "wd/outdir/secret.txt",
    "wd/root/etc/passwd",
    "wd/up/etc/passwd",
    "wd/victim",
]


def outside_paths(outside: Outside) -> list[str]:
    """Paths through the planted links to the secret, including absolute ones via `root`."""
    return [*READ_ATTEMPTS, f"wd/root{outside.root}/secret.txt"]


# -- the emulator's REST API ------------------------------------------------------------------


@asynccontextmanager
async def planted_task(tmp_path: Path) -> AsyncIterator[tuple[Api, Outside, str]]:
    outside = Outside.make(tmp_path)
    async with running() as (_, api):
        nodes = await make_pool(api, "p1")
        assert (await api.post("/jobs", {"id": "j1", "poolInfo": {"poolId": "p1"}})).status_code == 201
        assert (await api.post("/jobs/j1/tasks", {"id": "t1", "commandLine": planting(outside)})).status_code == 201
        task = await api.wait("/jobs/j1/tasks/t1", lambda t: t["state"] == "completed")
        assert task["executionInfo"]["exitCode"] == 0, task
        yield api, outside, nodes[0]["id"]


async def test_task_and_node_file_reads_never_follow_a_link_out(tmp_path: Path) -> None:
    async with planted_task(tmp_path) as (api, outside, node):
        for path in outside_paths(outside):
            for url in (
                f"/jobs/j1/tasks/t1/files/{path}",
                f"/pools/p1/nodes/{node}/files/workitems/j1/job-1/t1/{path}",
            ):
                got = await api.get(url)
                assert got.status_code in (400, 404), (url, got.status_code)
                assert SECRET not in got.text and "root:" not in got.text, url
                head = await api.call("HEAD", url)
                assert head.status_code in (400, 404), (url, head.status_code)
        assert outside.intact()


async def test_links_that_stay_inside_the_node_folder_work(tmp_path: Path) -> None:
    async with planted_task(tmp_path) as (api, _, _):
        inner = await api.get("/jobs/j1/tasks/t1/files/wd/inner")
        assert (inner.status_code, inner.text) == (200, "planted\n")
        deep = await api.get("/jobs/j1/tasks/t1/files/wd/deeplink/file.txt")
        assert (deep.status_code, deep.text) == (200, "inside\n")


async def test_listings_never_descend_through_a_link_out(tmp_path: Path) -> None:
    async with planted_task(tmp_path) as (api, outside, node):
        for url in ("/jobs/j1/tasks/t1/files", f"/pools/p1/nodes/{node}/files"):
            listed = await api.get(url, params={"recursive": "true"})
            assert listed.status_code == 200, listed.text
            names = [f["name"] for f in listed.json()["value"]]
            assert not [n for n in names if "secret.txt" in n or "/etc" in n or n.endswith("passwd")], names
            sizes = {
                f["name"].rsplit("/", 1)[-1]: f.get("properties", {}).get("contentLength")
                for f in listed.json()["value"]
            }
            assert str(sizes.get("secret")) != str(len(SECRET))  # a link out is shown as itself, not the file it names
        assert outside.intact()


@pytest.mark.parametrize("recursive", [False, True])
async def test_deletes_through_links_never_touch_anything_outside(tmp_path: Path, recursive: bool) -> None:
    async with planted_task(tmp_path) as (api, outside, node):
        targets = [
            "wd/outdir/victim.txt",
            "wd/outdir/dir",
            f"wd/root{outside.root}/victim.txt",
            f"wd/root{outside.root}/dir",
            "wd/up" + str(outside.root / "dir"),
        ]
        for path in targets:
            for url in (
                f"/jobs/j1/tasks/t1/files/{path}",
                f"/pools/p1/nodes/{node}/files/workitems/j1/job-1/t1/{path}",
            ):
                r = await api.call("DELETE", url, params={"recursive": str(recursive).lower()})
                assert r.status_code in (400, 404, 409), (url, r.status_code)
        assert outside.intact()
        # deleting the link itself removes the link, never what it names
        for link in ("wd/victim", "wd/outdir", "wd/root"):
            r = await api.call(
                "DELETE", f"/jobs/j1/tasks/t1/files/{link}", params={"recursive": str(recursive).lower()}
            )
            assert r.status_code == 200, (link, r.text)
        assert outside.intact()
        assert (await api.get("/jobs/j1/tasks/t1/files/wd/victim")).status_code == 404


async def test_paths_with_nul_or_climbing_out_are_client_errors(tmp_path: Path) -> None:
    async with planted_task(tmp_path) as (api, _, node):
        for path in ("wd/a%00b", "wd/%2e%2e/%2e%2e/%2e%2e/%2e%2e", "..%2f..%2fstdout.txt"):
            for url in (f"/jobs/j1/tasks/t1/files/{path}", f"/pools/p1/nodes/{node}/files/{path}"):
                r = await api.get(url)
                assert r.status_code in (400, 404), (url, r.status_code, r.text)
        r = await api.call("DELETE", f"/pools/p1/nodes/{node}/files/%2E", params={"recursive": "true"})
        assert r.status_code == 400, r.text  # the node's folder itself is not a file to delete


async def test_resource_files_are_never_written_through_a_planted_link(tmp_path: Path) -> None:
    """A first attempt replaces its downloaded file with a link out; the retry downloads again and
    must replace the link, not write through it."""
    outside = Outside.make(tmp_path)
    source = tmp_path / "payload.txt"
    source.write_text("overwritten!", encoding="utf-8")
    command = (
        f"/bin/sh -c 'if [ -L payload ]; then exit 0; fi; rm payload; ln -s {outside.root}/victim.txt payload; exit 1'"
    )
    async with running() as (_, api):
        await make_pool(api, "p1")
        assert (await api.post("/jobs", {"id": "j1", "poolInfo": {"poolId": "p1"}})).status_code == 201
        task = {
            "id": "t1",
            "commandLine": command,
            "resourceFiles": [{"httpUrl": source.as_uri(), "filePath": "payload"}],
            "constraints": {"maxTaskRetryCount": 1},
        }
        assert (await api.post("/jobs/j1/tasks", task)).status_code == 201
        await api.wait("/jobs/j1/tasks/t1", lambda t: t["state"] == "completed")
    assert outside.intact()


# -- through the MCP server --------------------------------------------------------------------


async def test_no_tool_or_resource_of_the_server_reads_or_deletes_outside(tmp_path: Path) -> None:
    outside = Outside.make(tmp_path)
    async with serve(tmp_path, "legacy", emulator_exec="unrestricted") as served:
        client = served.client
        await run_task(client, "j1", "t1", planting(outside))
        task = await call(client, "task_get", {"job_id": "j1", "task_id": "t1"})
        node = task.structured_content["nodeInfo"]["nodeId"]
        for path in outside_paths(outside):
            calls: list[tuple[str, dict[str, Any]]] = [
                ("task_file_get", {"job_id": "j1", "task_id": "t1", "file_path": path}),
                ("task_file_get_properties", {"job_id": "j1", "task_id": "t1", "file_path": path}),
                ("node_file_get", {"pool_id": "local", "node_id": node, "file_path": f"workitems/j1/job-1/t1/{path}"}),
            ]
            for name, args in calls:
                result = await call(client, name, args)
                assert SECRET not in text(result) and "root:x" not in text(result), (name, path)
                assert SECRET not in json.dumps(result.structured_content or {}), (name, path)
            for uri in (
                f"batch://jobs/j1/tasks/t1/files/{path}",
                f"batch://pools/local/nodes/{node}/files/workitems/j1/job-1/t1/{path}",
            ):
                try:
                    read = await client.read_resource(uri)
                except Exception as exc:  # an MCP error is a refusal too
                    assert SECRET not in str(exc)
                    continue
                assert SECRET not in str(read.contents), uri
        for path in ("wd/outdir/victim.txt", f"wd/root{outside.root}/dir"):
            await call(
                client, "task_file_delete", {"job_id": "j1", "task_id": "t1", "file_path": path, "recursive": True}
            )
        assert outside.intact()


async def test_the_http_files_endpoint_never_follows_a_link_out(tmp_path: Path) -> None:
    import mcp
    from mcp.client.streamable_http import streamable_http_client

    outside = Outside.make(tmp_path)
    async with http_serve(tmp_path) as served:
        async with (
            served.http(served.token) as http,
            mcp.Client(streamable_http_client(served.base + "/mcp", http_client=http)) as client,
        ):
            await run_task(client, "j1", "t1", planting(outside))
        async with served.http(served.token) as http:
            for path in outside_paths(outside):
                got = await http.get(f"/files/jobs/j1/tasks/t1/files/{path}")
                assert got.status_code >= 400, (path, got.status_code)
                assert SECRET not in got.text
            inner = await http.get("/files/jobs/j1/tasks/t1/files/wd/inner")
            assert (inner.status_code, inner.text) == (200, "planted\n")
    assert outside.intact()
