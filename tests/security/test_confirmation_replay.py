"""A confirmation answers one question once (2026-07-28 clients).

The attacker holds a genuine sealed request state and the user's "yes" from an earlier round
trip (a client log, a proxy, a prompt-injected model that saw the exchange) and sends it again:
after the job was re-created under the same id, or simply a second time. Each replay must be
refused and change nothing, even well within the state's time to live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mcp
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from batch_mcp.server.confirmations import InMemoryUsedStates
from tests.server.conftest import answering, call, connect, make_settings, wait_until

pytestmark = pytest.mark.anyio

YES = {"confirm": types.ElicitResult(action="accept", content={"confirm": True})}
NO = {"confirm": types.ElicitResult(action="decline")}


async def ask(client: mcp.Client, tool: str, args: dict[str, Any]) -> str:
    first = await client.session.call_tool(tool, args, allow_input_required=True)
    assert isinstance(first, types.InputRequiredResult), first
    assert first.request_state
    return first.request_state


async def answer(client: mcp.Client, tool: str, args: dict[str, Any], state: str, responses: Any = YES) -> Any:
    return await client.session.call_tool(
        tool, args, input_responses=responses, request_state=state, allow_input_required=True
    )


async def job_state(client: mcp.Client, job_id: str) -> str | None:
    result = await call(client, "job_get", {"job_id": job_id})
    return None if result.is_error else result.structured_content["state"]


async def make_job(client: mcp.Client, job_id: str) -> None:
    result = await call(client, "job_add", {"id": job_id, "poolInfo": {"poolId": "local"}})
    assert not result.is_error, result


async def test_a_used_state_cannot_delete_a_recreated_job(tmp_path: Path) -> None:
    async with connect(make_settings(tmp_path), "2026-07-28", elicitation=answering(True)) as client:
        await make_job(client, "victim")
        state = await ask(client, "job_delete", {"job_id": "victim"})
        done = await answer(client, "job_delete", {"job_id": "victim"}, state)
        assert isinstance(done, types.CallToolResult) and not done.is_error, done

        # Once the job is gone, a new one takes its id.
        await wait_until(client, "job_list", {"filter": "id eq 'victim'"}, lambda data: not data["items"])
        await make_job(client, "victim")

        # Replaying the same yes, same state, same arguments: refused, the new job stays.
        with pytest.raises(MCPError):
            await answer(client, "job_delete", {"job_id": "victim"}, state)
        assert await job_state(client, "victim") == "active"


async def test_a_declined_state_cannot_be_turned_into_a_yes(tmp_path: Path) -> None:
    async with connect(make_settings(tmp_path), "2026-07-28", elicitation=answering(True)) as client:
        await make_job(client, "keep")
        state = await ask(client, "job_delete", {"job_id": "keep"})
        declined = await answer(client, "job_delete", {"job_id": "keep"}, state, NO)
        assert isinstance(declined, types.CallToolResult) and "declined" in declined.content[0].text
        with pytest.raises(MCPError):
            await answer(client, "job_delete", {"job_id": "keep"}, state, YES)
        assert await job_state(client, "keep") == "active"


async def test_a_fresh_question_still_works_after_a_refused_replay(tmp_path: Path) -> None:
    async with connect(make_settings(tmp_path), "2026-07-28", elicitation=answering(True)) as client:
        await make_job(client, "j1")
        state = await ask(client, "job_terminate", {"job_id": "j1"})
        declined = await answer(client, "job_terminate", {"job_id": "j1"}, state, NO)
        assert isinstance(declined, types.CallToolResult)
        with pytest.raises(MCPError):
            await answer(client, "job_terminate", {"job_id": "j1"}, state, YES)
        fresh = await ask(client, "job_terminate", {"job_id": "j1"})
        assert fresh != state
        done = await answer(client, "job_terminate", {"job_id": "j1"}, fresh, YES)
        assert isinstance(done, types.CallToolResult) and not done.is_error, done


def test_the_used_state_record_claims_each_id_once_and_forgets_expired_ones() -> None:
    now = [1000.0]
    used = InMemoryUsedStates(clock=lambda: now[0])
    assert used.claim("a", expires_at=1010.0)
    assert not used.claim("a", expires_at=1010.0)
    assert used.claim("b", expires_at=1005.0)
    now[0] = 1006.0
    assert not used.claim("a", expires_at=1010.0)  # still within its life: still used
    assert not used.claim("c", expires_at=1000.0)  # already expired: never accepted
    assert len(used) == 1  # "b" was forgotten once it could no longer be presented
