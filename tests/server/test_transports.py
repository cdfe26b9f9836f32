"""The server over real transports: stdio (a subprocess) and Streamable HTTP (a real uvicorn),
in both protocol eras, with the HTTP protections a remote deployment needs."""

from __future__ import annotations

import json
import os
import secrets
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp
import pytest
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from batch_mcp.server.transports import TransportConfigError, plan_http
from tests.server.conftest import ERAS, answering, text

pytestmark = pytest.mark.anyio


def server_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATCH_MCP_", "AZURE_BATCH_"))}
    env.update(
        {
            "BATCH_MCP_EMULATOR_DATA_DIR": ":memory:",
            "BATCH_MCP_EMULATOR_TRANSITION_DELAY": "0.05",
            "BATCH_MCP_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
            "BATCH_MCP_EMULATOR_EXEC": "unrestricted",
        }
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("era", ERAS)
async def test_stdio_serves_tools_and_calls_in_both_eras(tmp_path: Path, era: str) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "batch_mcp"], env=server_env(tmp_path))
    with anyio.fail_after(60):
        async with mcp.Client(params, mode=era) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "pool_list" in names and len(names) <= 40
            result = await client.call_tool("pool_get", {"pool_id": "local"})
            assert not result.is_error, text(result)
            assert result.structured_content["id"] == "local"


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    port, token = free_port(), secrets.token_urlsafe(16)
    tmp = tmp_path_factory.mktemp("http")
    proc = subprocess.Popen(
        [sys.executable, "-m", "batch_mcp", "--transport", "http", "--port", str(port), "--token", token],
        env=server_env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        for _ in range(200):
            try:
                httpx2.get(url, timeout=0.5)
                break
            except httpx2.TransportError:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stderr.read().decode()) from None
                anyio.run(anyio.sleep, 0.05)
        yield url, token, tmp / "audit.jsonl"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def authed(token: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.mark.parametrize("era", ERAS)
async def test_http_serves_both_eras_with_a_token(http_server: tuple[str, str, Path], era: str) -> None:
    url, token, audit = http_server
    asker = answering(True)
    with anyio.fail_after(60):
        async with (
            authed(token) as http,
            mcp.Client(streamable_http_client(url, http_client=http), mode=era, elicitation_callback=asker) as client,
        ):
            assert "pool_list" in {tool.name for tool in (await client.list_tools()).tools}
            job = f"http-{era}"
            assert not (await client.call_tool("job_add", {"id": job, "poolInfo": {"poolId": "local"}})).is_error
            result = await client.call_tool("job_delete", {"job_id": job})
            assert not result.is_error, text(result)
            assert len(asker.questions) == 1 and job in asker.questions[0]
    entries = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    deleted = [e for e in entries if e["tool"] == "job_delete" and e["arguments"] == {"job_id": job}]
    assert deleted and deleted[-1]["outcome"] == "ok"
    assert deleted[-1]["principal"].startswith("bearer:") and token not in json.dumps(entries)


async def test_http_refuses_requests_without_the_token(http_server: tuple[str, str, Path]) -> None:
    url, token, _ = http_server
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with httpx2.AsyncClient(timeout=10) as http:
        missing = await http.post(url, json=body, headers=headers)
        wrong = await http.post(url, json=body, headers={**headers, "Authorization": "Bearer nope"})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert token not in missing.text + wrong.text


async def test_http_rejects_a_foreign_host_header(http_server: tuple[str, str, Path]) -> None:
    url, token, _ = http_server
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {
        "Accept": "application/json, text/event-stream",
        "Host": "evil.example:80",
        "Authorization": f"Bearer {token}",
    }
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await http.post(url, json=body, headers=headers)
    assert response.status_code in (403, 421)


def test_a_non_loopback_bind_needs_an_explicit_token() -> None:
    with pytest.raises(TransportConfigError, match="token"):
        plan_http("10.1.2.3", 8000, None, [])
    plan = plan_http("10.1.2.3", 8000, "secret-token", [])
    assert plan.security.enable_dns_rebinding_protection and "10.1.2.3:8000" in plan.security.allowed_hosts


def test_a_wildcard_bind_needs_allowed_host_names() -> None:
    with pytest.raises(TransportConfigError, match="allowed-hosts"):
        plan_http("0.0.0.0", 8000, "secret-token", [])
    plan = plan_http("0.0.0.0", 8000, "secret-token", ["batch.example.com"])
    assert "batch.example.com:*" in plan.security.allowed_hosts


def test_loopback_generates_a_token_when_none_is_given() -> None:
    plan = plan_http("127.0.0.1", 8000, None, [])
    assert plan.generated and len(plan.token) >= 32
    assert plan.security.enable_dns_rebinding_protection


def test_stdio_answers_a_malformed_request_instead_of_leaving_its_caller_waiting(tmp_path: Path) -> None:
    """A line with an id that is not a valid request (params not an object, no JSON at all) gets a
    JSON-RPC error, so a client waiting on that id does not hang; the session goes on serving."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "batch_mcp"],
        env=server_env(tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": 5},
        {"jsonrpc": "2.0", "id": "four", "method": 4},
        {"jsonrpc": "2.0", "id": 5},  # neither request nor reply: invalid, but its id is never echoed
    ]
    raw = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    raw += b"{not json\n[]\n" + json.dumps({"jsonrpc": "2.0", "id": 6, "method": "ping"}).encode() + b"\n"
    replies: list[dict[str, Any]] = []
    try:
        proc.stdin.write(raw)
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        while not any(reply.get("id") == 6 for reply in replies):  # the ping after the bad lines
            assert time.monotonic() < deadline, replies
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if ready:
                line = proc.stdout.readline()
                assert line, replies  # the server must not have gone away
                replies.append(json.loads(line))
    finally:
        proc.kill()
        proc.wait()
    by_id = {reply.get("id"): reply for reply in replies}
    assert by_id[3]["error"]["code"] == -32600 and "params" in by_id[3]["error"]["message"]
    assert by_id["four"]["error"]["code"] == -32600
    assert 5 not in by_id
    nameless = sorted(reply["error"]["code"] for reply in replies if reply.get("id") is None)
    assert nameless == [-32700, -32600, -32600]  # not JSON: parse error; not a message ({"id": 5}, []): invalid
    assert by_id[6]["result"] == {}  # still serving
    assert "Traceback" not in json.dumps(replies)
