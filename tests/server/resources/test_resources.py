"""Reading Batch entities and files as MCP resources through `mcp.Client`, in both protocol eras
and both catalogs, against the embedded emulator."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from batch_mcp.server.resources import FILE_META_KEY
from tests.server.conftest import call, wait_until
from tests.server.resources.conftest import VM, run_task, serve

pytestmark = pytest.mark.anyio

STDOUT = "batch://jobs/j1/tasks/t1/files/stdout.txt"
COUNT_TO_500 = "/bin/sh -c 'for i in $(seq 1 500); do echo line $i; done'"


@pytest.mark.parametrize("api_version", ["2018-08-01.7.0", "2024-02-01.19.0"])
async def test_a_tasks_stdout_reads_whole_ranged_and_tailed(tmp_path: Path, era: str, api_version: str) -> None:
    async with serve(tmp_path, era, api_version=api_version) as served:
        client = served.client
        await run_task(client, "j1", "t1", COUNT_TO_500)
        expected = "".join(f"line {i}\n" for i in range(1, 501))

        whole = (await client.read_resource(STDOUT)).contents[0]
        assert isinstance(whole, types.TextResourceContents)
        assert whole.text == expected and whole.mime_type == "text/plain"
        assert whole.meta[FILE_META_KEY] == {
            "size": len(expected),
            "start": 0,
            "end": len(expected) - 1,
            "complete": True,
            "binary": False,
        }

        ranged = (await client.read_resource(STDOUT + "?range=7-20")).contents[0]
        assert ranged.text == expected[7:21]
        info = ranged.meta[FILE_META_KEY]
        assert (info["start"], info["end"], info["size"]) == (7, 20, len(expected))
        assert info["next"] == STDOUT + "?range=21-" and info["previous"] == STDOUT + "?range=0-6"

        tail = (await client.read_resource(STDOUT + "?tail=3")).contents[0]
        assert tail.text == "line 498\nline 499\nline 500\n"
        assert tail.meta[FILE_META_KEY]["lines"] == 3
        assert tail.meta[FILE_META_KEY]["end"] == len(expected) - 1


async def test_a_large_file_reads_one_window_at_a_time_with_the_next_uri(tmp_path: Path, era: str) -> None:
    async with serve(tmp_path, era) as served:
        client = served.client
        # 300,000 lines of "x\n": 600,000 bytes, more than two windows of 256 KiB
        await run_task(client, "j1", "t1", "/bin/sh -c 'yes x | head -n 300000'")
        first = (await client.read_resource(STDOUT)).contents[0]
        info = first.meta[FILE_META_KEY]
        assert (info["start"], info["end"], info["size"], info["complete"]) == (0, 256 * 1024 - 1, 600_000, False)
        second = (await client.read_resource(info["next"])).contents[0]
        assert second.meta[FILE_META_KEY]["start"] == 256 * 1024
        assert len(first.text) == len(second.text) == 256 * 1024


async def test_binary_files_come_as_a_blob_and_text_files_as_text(tmp_path: Path, era: str) -> None:
    async with serve(tmp_path, era) as served:
        client = served.client
        command = "/bin/sh -c \"printf 'PK\\\\003\\\\004\\\\000\\\\000\\\\377' > archive.zip; echo done\""
        await run_task(client, "j1", "t1", command)
        blob = (await client.read_resource("batch://jobs/j1/tasks/t1/files/wd/archive.zip")).contents[0]
        assert isinstance(blob, types.BlobResourceContents)
        assert base64.b64decode(blob.blob) == b"PK\x03\x04\x00\x00\xff"
        assert blob.mime_type == "application/zip" and blob.meta[FILE_META_KEY]["binary"] is True
        text = (await client.read_resource(STDOUT)).contents[0]
        assert isinstance(text, types.TextResourceContents) and text.text == "done\n"


async def test_entities_read_as_json_and_unknown_ones_are_invalid_params(tmp_path: Path, era: str) -> None:
    async with serve(tmp_path, era) as served:
        client = served.client
        await run_task(client, "j1", "t1", "/bin/true")
        task = (await client.read_resource("batch://jobs/j1/tasks/t1")).contents[0]
        assert task.mime_type == "application/json"
        body = json.loads(task.text)
        assert (body["id"], body["state"]) == ("t1", "completed")
        node_id = body["nodeInfo"]["nodeId"]
        node = json.loads((await client.read_resource(f"batch://pools/local/nodes/{node_id}")).contents[0].text)
        assert node["id"] == node_id
        assert json.loads((await client.read_resource("batch://pools/local")).contents[0].text)["id"] == "local"
        assert json.loads((await client.read_resource("batch://jobs/j1")).contents[0].text)["id"] == "j1"

        for uri in ("batch://jobs/nope", "batch://jobs/j1/tasks/t1/files/missing.txt", "batch://jobs/j1/oops"):
            with pytest.raises(MCPError) as caught:
                await client.read_resource(uri)
            assert caught.value.error.code == types.INVALID_PARAMS
            assert caught.value.error.data == {"uri": uri}
        with pytest.raises(MCPError) as caught:
            await client.read_resource("batch://jobs/nope")
        assert "JobNotFound" in caught.value.error.message


async def test_entities_read_in_the_get_tools_lean_shape_with_the_etag_in_meta(tmp_path: Path, era: str) -> None:
    """An agent reading batch://jobs/j1/tasks/t1 got Batch's raw body: its URL, the node's URL, the
    task folder's URL, affinityId, eTag, lastModified and every default (no retries, unlimited wall
    clock...), about twice what task_get shows. A resource now reads as the get tool's reply; the eTag
    (for conditional updates) and the names of what was left out travel in `_meta`."""
    async with serve(tmp_path, era) as served:
        client = served.client
        await run_task(client, "j1", "t1", "/bin/true")
        node_id = ((await call(client, "task_get", {"job_id": "j1", "task_id": "t1"})).structured_content or {})[
            "nodeInfo"
        ]["nodeId"]
        for uri, tool, args in (
            ("batch://jobs/j1/tasks/t1", "task_get", {"job_id": "j1", "task_id": "t1"}),
            ("batch://jobs/j1", "job_get", {"job_id": "j1"}),
            ("batch://pools/local", "pool_get", {"pool_id": "local"}),
            (f"batch://pools/local/nodes/{node_id}", "node_get", {"pool_id": "local", "node_id": node_id}),
        ):
            read = (await client.read_resource(uri)).contents[0]
            assert isinstance(read, types.TextResourceContents)
            for raw in ('"url"', "Url", '"eTag"', '"lastModified"', '"odata', "affinityId", "P10675199DT"):
                assert raw not in read.text, (uri, read.text)
            got = await call(client, tool, args)
            assert json.loads(read.text) == got.structured_content, uri
            etag = ((await call(client, tool, {**args, "select": "eTag"})).structured_content or {}).get("eTag")
            assert read.meta is not None and (read.meta["eTag"] == etag or tool == "node_get"), uri  # no body eTag
            assert "url" in read.meta["batch-mcp/entity"]["leftOut"], read.meta


async def test_a_start_task_log_and_a_task_folder_read_as_node_files(tmp_path: Path, era: str) -> None:
    async with serve(tmp_path, era) as served:
        client = served.client
        start_task = {"commandLine": "/bin/sh -c 'echo node is ready'", "waitForSuccess": True}
        pool = {
            "id": "booted",
            "vmSize": "standard_d2s_v3",
            "targetDedicatedNodes": 1,
            "startTask": start_task,
            "virtualMachineConfiguration": VM,
        }
        assert not (await call(client, "pool_add", pool)).is_error
        nodes = await wait_until(
            client,
            "node_list",
            {"pool_id": "booted"},
            lambda n: [x.get("state") for x in n.get("items", [])] == ["idle"],
        )
        node = nodes["items"][0]["id"]
        log = (await client.read_resource(f"batch://pools/booted/nodes/{node}/files/startup/stdout.txt")).contents[0]
        assert log.text == "node is ready\n"

        await run_task(client, "j1", "t1", "/bin/sh -c 'echo from the task'", pool_id="booted")
        task = json.loads((await client.read_resource("batch://jobs/j1/tasks/t1")).contents[0].text)
        folder = task["nodeInfo"]["taskRootDirectory"]
        out = await client.read_resource(f"batch://pools/booted/nodes/{node}/files/{folder}/stdout.txt")
        assert out.contents[0].text == "from the task\n"


async def test_templates_and_a_bounded_list_of_pools_and_active_jobs_are_offered(tmp_path: Path, era: str) -> None:
    async with serve(tmp_path, era) as served:
        client = served.client
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert "batch://jobs/{jobId}/tasks/{taskId}/files/{+path}" in templates and len(templates) == 7
        assert "batch://jobs/{jobId}/tasks{?state}" in templates
        await run_task(client, "j1", "t1", "/bin/true")
        listed = {r.uri: r for r in (await client.list_resources()).resources}
        assert set(listed) == {"batch://pools/local", "batch://jobs/j1"}
        assert listed["batch://jobs/j1"].mime_type == "application/json"


async def test_ids_and_file_paths_complete_from_what_exists(tmp_path: Path, era: str) -> None:
    async with serve(tmp_path, era) as served:
        client = served.client
        await run_task(client, "alpha", "t1", "/bin/sh -c 'mkdir -p out && echo x > out/a.txt'")
        await run_task(client, "beta", "t2", "/bin/true")

        async def complete(template: str, name: str, value: str, **context: str) -> list[str]:
            ref = types.ResourceTemplateReference(uri=template)
            result = await client.complete(ref, {"name": name, "value": value}, context or None)
            return result.completion.values

        assert await complete("batch://jobs/{jobId}", "jobId", "") == ["alpha", "beta"]
        assert await complete("batch://jobs/{jobId}", "jobId", "al") == ["alpha"]
        assert await complete("batch://pools/{poolId}", "poolId", "lo") == ["local"]
        tasks = "batch://jobs/{jobId}/tasks/{taskId}"
        assert await complete(tasks, "taskId", "", jobId="alpha") == ["t1"]
        assert await complete(tasks, "taskId", "") == []  # no job chosen yet
        files = "batch://jobs/{jobId}/tasks/{taskId}/files/{+path}"
        assert await complete(files, "path", "", jobId="alpha", taskId="t1") == ["stderr.txt", "stdout.txt", "wd/"]
        assert await complete(files, "path", "wd/", jobId="alpha", taskId="t1") == ["wd/out/"]
        assert await complete(files, "path", "wd/out/", jobId="alpha", taskId="t1") == ["wd/out/a.txt"]
        nodes = await complete("batch://pools/{poolId}/nodes/{nodeId}", "nodeId", "", poolId="local")
        assert len(nodes) == 1
        node_files = "batch://pools/{poolId}/nodes/{nodeId}/files/{+path}"
        assert "startup/" in await complete(node_files, "path", "", poolId="local", nodeId=nodes[0])
        assert await complete("batch://jobs/{jobId}", "nope", "") == []
