"""The README tells the truth: every `batch-mcp` command line it shows parses (flags, values and
settings), every URL pattern it documents answers on a running server, and its test command is the
one CI runs."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp
import pytest
from mcp.client.streamable_http import streamable_http_client

from batch_mcp import cli
from batch_mcp.flags import given_settings
from batch_mcp.settings import Settings
from tests.server.resources.conftest import HttpServed, http_serve

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL)


def command_lines() -> list[list[str]]:
    """Every batch-mcp command line the README shows: in shell blocks, in inline code, after `--` in a
    `claude mcp add`, and as `command` + `args` in client configurations."""
    found: list[str] = []
    for block in code_blocks(README):
        block = block.replace("\\\n", " ")  # a command continued on the next line
        for line in block.splitlines():
            line = line.split(" # ", 1)[0].strip()
            if line.startswith("batch-mcp"):
                found.append(line)
            elif " -- batch-mcp" in line:
                found.append("batch-mcp" + line.split(" -- batch-mcp", 1)[1])
        stripped = block.strip()
        if stripped.startswith("{") and '"command": "batch-mcp"' in stripped:
            for server in _servers(json.loads(stripped)):
                if server.get("command") == "batch-mcp":
                    found.append(shlex.join(["batch-mcp", *server.get("args", [])]))
    # inline code with an option is a command line; "`batch-mcp call`" alone names a command
    found += [m for m in re.findall(r"`(batch-mcp [^`]*--[^`]*)`", README) if "\n" not in m]
    lines = []
    for line in found:
        words = shlex.split(line.replace("[", "").replace("]", ""))  # [--optional parts] as if given
        lines.append(words[1:])
    return lines


def _servers(config: dict[str, Any]) -> list[dict[str, Any]]:
    return list((config.get("mcpServers") or config.get("servers") or {}).values())


COMMANDS = command_lines()


def test_the_readme_shows_the_commands_we_expect_to_check() -> None:
    shown = {" ".join(words[:1]) for words in COMMANDS}
    assert {"doctor", "tools", "call", "emulator", "catalog", "--transport", "--max-nodes"} <= shown


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(w) or "(serve)" for w in COMMANDS])
def test_every_command_line_in_the_readme_parses(words: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCH_MCP_TOKEN", raising=False)
    if words in (["COMMAND", "--help"], ["--version"]):
        return
    args = cli.parse(words)
    if getattr(args, "uses_settings", False):
        Settings(**given_settings(args))  # the values are valid settings too


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    command = script[script.index("# The README's test command, verbatim:") + 1]
    assert any(command in block.splitlines() for block in code_blocks(README))


# -- URL patterns, against a running server --------------------------------------------------------


def url_patterns() -> tuple[list[str], list[str]]:
    """(HTTP paths, batch:// URI templates) the README documents."""
    paths = sorted(set(re.findall(r"`(?:GET )?(/files/[^`\s]+)`", README)))
    uris = sorted({u for u in re.findall(r"`(batch://[^`\s]+)`", README)})
    return paths, uris


def fill(pattern: str, ids: dict[str, str]) -> str:
    pattern = re.sub(r"\{\?\w+\}", "", pattern)  # an optional query expression ({?state}) left out
    return re.sub(r"\{\+?(\w+)\}", lambda m: ids[m.group(1)], pattern)


async def make_files(served: HttpServed) -> dict[str, str]:
    from batch_mcp.server.server_tools import CallContext

    assert served.ref.runtime is not None and served.ref.runtime.live is not None
    engine = served.ref.runtime.live.engine
    ctx = CallContext(engine=engine)
    await engine.call("job_add", {"id": "readme", "poolInfo": {"poolId": "local"}}, ctx)
    await engine.call("task_add", {"job_id": "readme", "id": "t1", "commandLine": "/bin/echo readme-says"}, ctx)
    with anyio.fail_after(30):
        while True:
            task = (await engine.call("task_get", {"job_id": "readme", "task_id": "t1"}, ctx)).structured_content
            if task and task.get("state") == "completed":
                break
            await anyio.sleep(0.05)
    node = task["nodeInfo"]["nodeId"]
    listing = await engine.call("node_file_list", {"pool_id": "local", "node_id": node, "recursive": True}, ctx)
    assert listing.structured_content is not None
    node_file = next(f["name"] for f in listing.structured_content["items"] if not f.get("isDirectory"))
    return {"poolId": "local", "nodeId": node, "jobId": "readme", "taskId": "t1", "node_file": node_file}


def test_the_readme_documents_both_kinds_of_url() -> None:
    paths, uris = url_patterns()
    assert len(paths) >= 2 and len(uris) >= 6


@pytest.mark.anyio
async def test_every_documented_url_answers_on_a_running_server(tmp_path: Path) -> None:
    paths, uris = url_patterns()
    async with http_serve(tmp_path) as served:
        ids = await make_files(served)
        file_for = {"jobs": "stdout.txt", "pools": ids["node_file"]}
        async with served.http(served.token) as http:
            for pattern in paths:
                kind = pattern.split("/")[2]
                url = fill(pattern, ids | {"path": file_for[kind]})
                reply = await http.get(url)
                assert reply.status_code == 200, (pattern, reply.status_code, reply.text[:200])
            reply = await http.get(fill(paths[0], ids | {"path": "stdout.txt"}), headers={"Range": "bytes=0-3"})
            assert reply.status_code == 206 and reply.content == b"read"  # `Range` honoured
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {served.token}"}) as http:
            url = f"{served.base}/mcp"  # the README's http://127.0.0.1:8000/mcp, on this port
            async with mcp.Client(streamable_http_client(url, http_client=http)) as client:
                assert (await client.list_tools()).tools
                for template in uris:
                    path = "stdout.txt" if "/jobs/" in template else ids["node_file"]
                    uri = fill(template, ids | {"path": path})
                    result = await client.read_resource(uri)
                    assert result.contents, uri
                    if "/files/" in template:
                        meta = result.contents[0].meta or {}
                        assert "batch-mcp/file" in meta  # on the content item, as the README says
                task_file = next(t for t in uris if "/tasks/{taskId}/files/" in t)
                tail = await client.read_resource(fill(task_file, ids | {"path": "stdout.txt"}) + "?tail=1")
                assert "readme-says" in getattr(tail.contents[0], "text", "")
