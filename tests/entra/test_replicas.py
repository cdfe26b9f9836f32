"""Several replicas behind one endpoint: a confirmation asked on one replica is answered on another
(shared sealing keys), once between them (a shared record of used states), and only by the user
it was asked of. A replica with other keys refuses it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack

import httpx2
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.entra.batch_gate import BatchGate
from tests.entra.conftest import EntraServer, entra_env, entra_process, free_port
from tests.entra.provider import ALICE, BOB, IdentityProvider
from tests.entra.test_server import INIT, YES, call, signed_in
from tests.entra.tls import LoopbackTls
from tests.server.conftest import answering, text

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def replicas(
    idp: IdentityProvider, batch: tuple[str, BatchGate], tls: LoopbackTls, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EntraServer, EntraServer]]:
    shared = tmp_path_factory.mktemp("replicas")
    keys = f"{secrets.token_hex(32)},{secrets.token_hex(32)}"
    with ExitStack() as stack:
        served = []
        for name in ("a", "b"):
            workdir = shared / name
            env = entra_env(idp, batch[0], tls, workdir, free_port()) | {
                "BATCH_MCP_STATE_KEYS": keys,
                "BATCH_MCP_CONFIRMATIONS_DB": str(shared / "confirmations.db"),
            }
            served.append(stack.enter_context(entra_process(env, workdir)))
        yield served[0], served[1]


async def test_a_question_asked_on_one_replica_is_answered_once_on_another(
    replicas: tuple[EntraServer, EntraServer], entra_server: EntraServer, idp: IdentityProvider
) -> None:
    a, b = replicas
    job = f"replicated-{secrets.token_hex(3)}"
    args = {"job_id": job}
    alice_token = idp.token(ALICE)
    async with (
        signed_in(a, alice_token, elicitation_callback=answering(True)) as on_a,
        signed_in(b, alice_token, elicitation_callback=answering(True)) as on_b,
        signed_in(b, idp.token(BOB), elicitation_callback=answering(True)) as bob_on_b,
        signed_in(entra_server, alice_token, elicitation_callback=answering(True)) as elsewhere,
    ):
        assert not (await call(on_a, "job_add", {"id": job, "poolInfo": {"poolId": "local"}})).is_error
        asked = await on_a.session.call_tool("job_terminate", args, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult) and asked.request_state
        state = asked.request_state

        for other in (bob_on_b, elsewhere):  # another user; a replica without the shared keys
            with pytest.raises(MCPError, match="requestState"):
                await other.session.call_tool(
                    "job_terminate", args, input_responses=YES, request_state=state, allow_input_required=True
                )

        done = await on_b.session.call_tool(
            "job_terminate", args, input_responses=YES, request_state=state, allow_input_required=True
        )
        assert isinstance(done, types.CallToolResult) and not done.is_error, text(done)

        with pytest.raises(MCPError, match="requestState"):  # the same yes, back on the first replica
            await on_a.session.call_tool(
                "job_terminate", args, input_responses=YES, request_state=state, allow_input_required=True
            )


async def test_stateless_requests_go_to_any_replica_and_a_handshake_session_to_its_own(
    replicas: tuple[EntraServer, EntraServer], idp: IdentityProvider
) -> None:
    """What the README's scale-out section says: 2026-07-28 requests need no affinity, sessions do."""
    envelope = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "pool_get", "arguments": {"pool_id": "local"}, "_meta": envelope},
    }
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {idp.token(ALICE)}",
    }
    stateless = {**headers, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "pool_get"}
    async with httpx2.AsyncClient(timeout=30) as http:
        for replica in (*replicas, *replicas):
            reply = await http.post(replica.url, json=body, headers=stateless)
            assert reply.status_code == 200 and '"isError":true' not in reply.text, reply.text[:500]
        opened = await http.post(replicas[0].url, json=INIT, headers=headers)
        session = {**headers, "Mcp-Session-Id": opened.headers["mcp-session-id"]}
        listing = {"jsonrpc": "2.0", "id": 8, "method": "tools/list"}
        on_other = await http.post(replicas[1].url, json=listing, headers=session)
    assert on_other.status_code == 404  # a handshake-era session lives in the replica that opened it
