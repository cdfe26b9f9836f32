"""The 2026-07-28 confirmation round trip cannot be forged: the request state is sealed, bound to
the exact tool and arguments, and an answer without it is asked again rather than obeyed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mcp
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.server.conftest import answering, call, connect, make_settings, text

pytestmark = pytest.mark.anyio

YES = {"confirm": types.ElicitResult(action="accept", content={"confirm": True})}


async def first_round(client: mcp.Client, args: dict[str, Any]) -> types.InputRequiredResult:
    result = await client.session.call_tool("job_delete", args, allow_input_required=True)
    assert isinstance(result, types.InputRequiredResult)
    request = result.input_requests["confirm"]
    assert "victim" in request.params.message
    return result


async def job_state(client: mcp.Client) -> str | None:
    result = await call(client, "job_get", {"job_id": "victim"})
    return None if result.is_error else result.structured_content["state"]


async def test_a_forged_or_rebound_answer_changes_nothing(tmp_path: Path) -> None:
    async with connect(make_settings(tmp_path), "2026-07-28", elicitation=answering(True)) as client:
        await call(client, "job_add", {"id": "victim", "poolInfo": {"poolId": "local"}})
        await call(client, "job_add", {"id": "other", "poolInfo": {"poolId": "local"}})
        pending = await first_round(client, {"job_id": "victim"})

        # An answer with no state at all is not consent: the server asks again.
        again = await client.session.call_tool(
            "job_delete", {"job_id": "victim"}, input_responses=YES, allow_input_required=True
        )
        assert isinstance(again, types.InputRequiredResult)

        # A tampered state is refused by the SDK's boundary.
        tampered = pending.request_state[:-4] + ("AAAA" if not pending.request_state.endswith("AAAA") else "BBBB")
        with pytest.raises(MCPError):
            await client.session.call_tool(
                "job_delete",
                {"job_id": "victim"},
                input_responses=YES,
                request_state=tampered,
                allow_input_required=True,
            )

        # The state of one call does not authorise another: same tool, other arguments.
        with pytest.raises(MCPError):
            await client.session.call_tool(
                "job_delete",
                {"job_id": "other"},
                input_responses=YES,
                request_state=pending.request_state,
                allow_input_required=True,
            )
        assert await job_state(client) == "active"
        assert (await call(client, "job_get", {"job_id": "other"})).structured_content["state"] == "active"

        # The genuine round trip goes through.
        done = await client.session.call_tool(
            "job_delete",
            {"job_id": "victim"},
            input_responses=YES,
            request_state=pending.request_state,
            allow_input_required=True,
        )
        assert isinstance(done, types.CallToolResult) and not done.is_error, done
        assert await job_state(client) in (None, "deleting")


async def test_read_only_refuses_writes_even_through_the_router(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, read_only=True, toolsets=["default"])
    async with connect(settings, "legacy", elicitation=answering(True)) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "pool_delete" not in names and "job_add" not in names and "batch_call" not in names
        job = {"id": "x", "poolInfo": {"poolId": "local"}}
        routed = await call(client, "batch_call", {"name": "job_add", "arguments": job})
        read_router = await call(client, "batch_tools", {"name": "job_add", "arguments": job})
        direct = await call(client, "pool_delete", {"pool_id": "local"})
        for result in (routed, read_router, direct):
            assert result.is_error and ("read-only" in text(result) or "No enabled tool" in text(result)), text(result)
        assert (await call(client, "job_get", {"job_id": "x"})).is_error
        assert (await call(client, "pool_get", {"pool_id": "local"})).structured_content["state"] == "active"


def test_a_confirmation_state_carries_what_its_answer_is_about() -> None:
    from batch_mcp.server.confirmations import ConfirmState

    for state in (ConfirmState.new(300, bound="0123abcd"), ConfirmState.new(300)):
        parsed = ConfirmState.parse(state.encode())
        assert parsed is not None
        assert (parsed.state_id, parsed.bound) == (state.state_id, state.bound)
        assert parsed.expires_at == pytest.approx(state.expires_at, abs=0.001)
