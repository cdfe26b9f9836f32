"""Fixtures for end-to-end server tests: a real server on the embedded emulator, real MCP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp
import mcp_types as types
import pytest

from batch_mcp.server import create_server
from batch_mcp.settings import Settings

ERAS = ("legacy", "2026-07-28")


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "emulator_data_dir": ":memory:",
        "emulator_transition_delay": 0.05,
        "audit_log": tmp_path / "audit.jsonl",
        "toolsets": ["all"],
        # These tests are about other things than the execution policy (tests/security covers it):
        # tasks run on the host without asking, as on a trusted setup.
        "emulator_exec": "unrestricted",
    }
    values.update(overrides)
    return Settings(**values)


def answering(accept: bool) -> Callable[..., Any]:
    """An elicitation callback that confirms (or declines) and records the questions."""
    questions: list[str] = []

    async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        questions.append(params.message)
        if accept:
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action="decline")

    callback.questions = questions  # type: ignore[attr-defined]
    return callback


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return request.param


async def call(client: mcp.Client, name: str, args: dict[str, Any] | None = None) -> types.CallToolResult:
    with anyio.fail_after(30):
        return await client.call_tool(name, args or {})


def text(result: types.CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def wait_until(
    client: mcp.Client, name: str, args: dict[str, Any], done: Callable[[dict[str, Any]], bool], limit: float = 30
) -> dict[str, Any]:
    with anyio.fail_after(limit):
        while True:
            result = await client.call_tool(name, args)
            data = result.structured_content or {}
            if not result.is_error and done(data):
                return data
            await anyio.sleep(0.05)


@asynccontextmanager
async def connect(
    settings: Settings, era: str, *, elicitation: Callable[..., Any] | None = None, no_confirm: bool = False
) -> AsyncIterator[mcp.Client]:
    server = create_server(settings, no_confirm=no_confirm)
    async with mcp.Client(server, mode=era, elicitation_callback=elicitation) as client:
        yield client
