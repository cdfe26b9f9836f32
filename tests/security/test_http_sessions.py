"""Streamable HTTP under a client that opens session after session: a cap, and a clear refusal at it.

Each open session costs the server about 40 KB (measured: 3,000 sessions, 77 MB -> 201 MB RSS). One
token holder opening sessions without end must meet the configured cap (503, sessions already open
keep working) instead of the SDK's 10,000 (~0.5 GB).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.resources.conftest import http_serve

pytestmark = pytest.mark.anyio

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


async def test_sessions_past_the_cap_are_refused_and_the_open_ones_keep_working(tmp_path: Path) -> None:
    async with http_serve(tmp_path, http_max_sessions=3) as served, served.http(served.token) as http:
        opened = []
        for _ in range(3):
            reply = await http.post("/mcp", json=INIT, headers=ACCEPT)
            assert reply.status_code == 200, reply.text
            opened.append(reply.headers["mcp-session-id"])
        refused = await http.post("/mcp", json=INIT, headers=ACCEPT)
        still = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
            headers={**ACCEPT, "mcp-session-id": opened[0], "mcp-protocol-version": "2025-06-18"},
        )
    assert refused.status_code == 503, refused.text
    assert "session" in refused.text.lower()
    assert "Traceback" not in refused.text
    assert still.status_code == 200, still.text
